// The TLS policy's input checks and decisions, without a network: CA files, pins, --insecure.
#include "client/clientoptions.h"
#include "client/tlspolicy.h"

#include <QTemporaryFile>
#include <QTest>

class TestTlsPolicy : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void createErrors_data();
    void createErrors();
    void decisions();
};

void TestTlsPolicy::createErrors_data()
{
    QTest::addColumn<QString>("caFile"); // NOTPEM: a file that holds no certificate
    QTest::addColumn<QStringList>("pins");
    QTest::addColumn<QString>("expected");
    QTest::newRow("missing CA file")
        << "/nonexistent/ca.pem" << QStringList {} << "cannot read the CA file /nonexistent/ca.pem";
    QTest::newRow("not PEM") << "NOTPEM" << QStringList {} << "holds no PEM certificate";
    QTest::newRow("pin not base64") << "" << QStringList {"not base64!"} << "is not a SHA-256 pin";
    QTest::newRow("pin too short") << "" << QStringList {"AAAA"} << "is not a SHA-256 pin";
}

void TestTlsPolicy::createErrors()
{
    QFETCH(QString, caFile);
    QFETCH(QStringList, pins);
    QFETCH(QString, expected);
    QTemporaryFile notPem;
    if (caFile == QLatin1String("NOTPEM")) {
        QVERIFY(notPem.open());
        notPem.write("just text\n");
        notPem.flush();
        caFile = notPem.fileName();
    }
    ClientOptions options;
    options.caFile = caFile;
    options.pinsSha256 = pins;
    QString error;
    QVERIFY(!TlsPolicy::create(options, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
}

void TestTlsPolicy::decisions()
{
    const QSslCertificate none;
    const QList<QSslError> errors {QSslError(QSslError::SelfSignedCertificate)};
    QString error;
    ClientOptions options;
    auto policy = TlsPolicy::create(options, &error);
    QVERIFY(policy);
    QString reason;
    QVERIFY(!policy->acceptsErrors(errors, none, &reason));
    QVERIFY2(reason.contains(QLatin1String("issuer is unknown")), qPrintable(reason));
    QVERIFY(policy->acceptsPeer(none, &reason)); // no pins: the CA decides

    options.insecure = true;
    policy = TlsPolicy::create(options, &error);
    QVERIFY(policy);
    QVERIFY(policy->acceptsErrors(errors, none, &reason));

    options.insecure = false;
    options.pinsSha256 = {QString::fromLatin1(QByteArray(32, 'a').toBase64())};
    policy = TlsPolicy::create(options, &error);
    QVERIFY(policy);
    QVERIFY(policy->pinned());
    // Pinned: the system store is not consulted, so every certificate goes through the pin check.
    QVERIFY(policy->sslConfiguration().caCertificates().isEmpty());
    QVERIFY(!policy->acceptsErrors(errors, none, &reason));
    QVERIFY2(reason.contains(QLatin1String("matches no --pin-sha256")), qPrintable(reason));
}

QTEST_GUILESS_MAIN(TestTlsPolicy)
#include "tst_tlspolicy.moc"

// The server's TLS identity: certificate chains and RSA and EC keys in their PEM forms, made by
// openssl, load into a configuration that allows TLS 1.2 or later only and asks no client for a
// certificate. (The error messages are checked through the real server in tst_servertls.)
#include "server/tlsidentity.h"
#include "testcertificates.h"

#include <QFile>
#include <QProcess>
#include <QSslKey>
#include <QTemporaryDir>
#include <QTest>

namespace {

QByteArray firstLine(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readLine().trimmed() : QByteArray();
}

} // namespace

class TestTlsIdentity : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void loads_data();
    void loads();
    void chainKeepsOrder();

private:
    QTemporaryDir m_dir;
    TestCertificates m_certificates;
};

void TestTlsIdentity::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString output;
    QVERIFY2(m_certificates.create(m_dir.path(), &output), qPrintable(output));
    const QString dir = m_dir.path();
    // An RSA certificate, and each key in its other PEM form (PKCS#1 and SEC1).
    QVERIFY2(TestCertificates::runOpenssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                                           "2", "-subj", "/CN=localhost", "-keyout", "rsa.key",
                                           "-out", "rsa.pem"},
                                          dir, &output),
             qPrintable(output));
    QVERIFY2(TestCertificates::runOpenssl(
                 {"rsa", "-in", "rsa.key", "-traditional", "-out", "rsa-pkcs1.key"}, dir, &output),
             qPrintable(output));
    QVERIFY2(TestCertificates::runOpenssl({"ec", "-in", "server.key", "-out", "ec-sec1.key"}, dir,
                                          &output),
             qPrintable(output));
}

void TestTlsIdentity::loads_data()
{
    QTest::addColumn<QString>("certificate");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QByteArray>("keyHeader"); // the form really tested
    QTest::addColumn<QSsl::KeyAlgorithm>("algorithm");

    QTest::newRow("EC, PKCS#8") << "server.pem"
                                << "server.key" << QByteArray("-----BEGIN PRIVATE KEY-----")
                                << QSsl::Ec;
    QTest::newRow("EC, SEC1") << "server.pem"
                              << "ec-sec1.key" << QByteArray("-----BEGIN EC PRIVATE KEY-----")
                              << QSsl::Ec;
    QTest::newRow("RSA, PKCS#8") << "rsa.pem"
                                 << "rsa.key" << QByteArray("-----BEGIN PRIVATE KEY-----")
                                 << QSsl::Rsa;
    QTest::newRow("RSA, PKCS#1") << "rsa.pem"
                                 << "rsa-pkcs1.key" << QByteArray("-----BEGIN RSA PRIVATE KEY-----")
                                 << QSsl::Rsa;
}

void TestTlsIdentity::loads()
{
    QFETCH(QString, certificate);
    QFETCH(QString, key);
    QFETCH(QByteArray, keyHeader);
    QFETCH(QSsl::KeyAlgorithm, algorithm);
    const QString certificatePath = m_dir.filePath(certificate);
    const QString keyPath = m_dir.filePath(key);
    QCOMPARE(firstLine(keyPath), keyHeader);

    QString error;
    const auto identity = TlsIdentity::load(certificatePath, keyPath, &error);
    QVERIFY2(identity, qPrintable(error));
    const QSslConfiguration configuration = identity->configuration();
    QCOMPARE(configuration.protocol(), QSsl::TlsV1_2OrLater);
    QCOMPARE(configuration.peerVerifyMode(), QSslSocket::VerifyNone);
    QCOMPARE(configuration.privateKey().algorithm(), algorithm);
    QCOMPARE(configuration.privateKey().type(), QSsl::PrivateKey);
    const QSslCertificate expected = QSslCertificate::fromPath(certificatePath).value(0);
    QCOMPARE(identity->certificate(), expected);
    QVERIFY2(identity->description().startsWith("localhost, serial "
                                                + QString::fromLatin1(expected.serialNumber())
                                                + ", valid until "),
             qPrintable(identity->description()));
}

// A full chain file (server certificate, then the CA) is served whole, the server's first.
void TestTlsIdentity::chainKeepsOrder()
{
    const QString chainPath = m_dir.filePath("fullchain.pem");
    QFile chain(chainPath);
    QVERIFY(chain.open(QIODevice::WriteOnly));
    for (const QString &part : {m_certificates.certificateFile(), m_certificates.caFile()}) {
        QFile file(part);
        QVERIFY(file.open(QIODevice::ReadOnly));
        chain.write(file.readAll());
    }
    chain.close();
    QString error;
    const auto identity = TlsIdentity::load(chainPath, m_certificates.keyFile(), &error);
    QVERIFY2(identity, qPrintable(error));
    const QList<QSslCertificate> served = identity->configuration().localCertificateChain();
    QCOMPARE(served.size(), 2);
    QCOMPARE(served[0], QSslCertificate::fromPath(m_certificates.certificateFile()).value(0));
    QCOMPARE(served[1], QSslCertificate::fromPath(m_certificates.caFile()).value(0));

    // The CA first is a chain whose first certificate does not belong to the key.
    const QString reversedPath = m_dir.filePath("reversed.pem");
    QFile reversed(reversedPath);
    QVERIFY(reversed.open(QIODevice::WriteOnly));
    for (const QString &part : {m_certificates.caFile(), m_certificates.certificateFile()}) {
        QFile file(part);
        QVERIFY(file.open(QIODevice::ReadOnly));
        reversed.write(file.readAll());
    }
    reversed.close();
    QVERIFY(!TlsIdentity::load(reversedPath, m_certificates.keyFile(), &error));
    QVERIFY2(error.contains("does not match the certificate"), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestTlsIdentity)
#include "tst_tlsidentity.moc"

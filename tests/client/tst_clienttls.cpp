// TLS done right, against a real nginx in front of our server (the README's configuration at a
// sub-path) with a test CA made by openssl: CA file, pins, server name, host name mismatch and
// --insecure, each judged by whether bytes really cross the tunnel; and TLS sessions resumed.
#include "echoprobe.h"
#include "endpoints.h"
#include "nginxprocess.h"
#include "testcertificates.h"
#include "towprocess.h"

#include <QTemporaryDir>
#include <QTest>

class TestClientTls : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void verification_data();
    void verification();
    void expiredCertificate();
    void badCaFileIsAUsageError();
    void sessionIsResumed();

private:
    QTemporaryDir m_pki;
    TestCertificates m_certificates;
    EchoServer m_echo;
    TowProcess m_server;
    NginxProcess m_nginx;
};

void TestClientTls::initTestCase()
{
    QVERIFY(m_pki.isValid());
    QString error;
    QVERIFY2(m_certificates.create(m_pki.path(), &error), qPrintable(error));
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY2(m_server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                             QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())}),
             qPrintable(m_server.log()));
    NginxProcess::Config config;
    config.upstreamPort = m_server.port();
    config.certificateFile = m_certificates.certificateFile();
    config.keyFile = m_certificates.keyFile();
    // /named/ answers only a request whose Host header is localhost: proves --server-name.
    config.serverExtra =
        QStringLiteral("        location /named/ {\n"
                       "            if ($host != \"localhost\") { return 421; }\n"
                       "            proxy_pass http://127.0.0.1:%1/;\n"
                       "            proxy_http_version 1.1;\n"
                       "            proxy_set_header Upgrade $http_upgrade;\n"
                       "            proxy_set_header Connection \"upgrade\";\n"
                       "        }\n"
                       // /resumed/ answers only on a resumed TLS session.
                       "        location /resumed/ {\n"
                       "            if ($ssl_session_reused != \"r\") { return 403; }\n"
                       "            proxy_pass http://127.0.0.1:%1/;\n"
                       "            proxy_http_version 1.1;\n"
                       "            proxy_set_header Upgrade $http_upgrade;\n"
                       "            proxy_set_header Connection \"upgrade\";\n"
                       "        }\n")
            .arg(m_server.port());
    QVERIFY2(m_nginx.start(config, &error), qPrintable(error));
}

void TestClientTls::cleanupTestCase()
{
    m_nginx.stop();
    QCOMPARE(m_server.stop(), 0);
}

void TestClientTls::verification_data()
{
    QTest::addColumn<QString>("host"); // the URL's host [/location, default tunnel]
    QTest::addColumn<QStringList>("options"); // "PIN" and "CA" are replaced at run time
    QTest::addColumn<bool>("works");
    QTest::addColumn<QString>("logged"); // must appear in the client's log ("PIN" replaced)

    const QString wrongPin = QString::fromLatin1(QByteArray(32, 'x').toBase64());
    QTest::newRow("system store does not know the test CA")
        << "localhost" << QStringList {} << false << "issuer is unknown";
    QTest::newRow("unknown issuer error names the pin")
        << "localhost" << QStringList {} << false << "pin PIN";
    QTest::newRow("CA file") << "localhost" << QStringList {"--ca-file", "CA"} << true
                             << "listening on";
    QTest::newRow("right pin, no CA")
        << "localhost" << QStringList {"--pin-sha256", "PIN"} << true << "listening on";
    QTest::newRow("one of several pins")
        << "localhost" << QStringList {"--pin-sha256", wrongPin, "--pin-sha256", "PIN"} << true
        << "listening on";
    QTest::newRow("wrong pin") << "localhost" << QStringList {"--pin-sha256", wrongPin} << false
                               << "matches no --pin-sha256 (its pin is PIN)";
    QTest::newRow("wrong pin even with the CA")
        << "localhost" << QStringList {"--ca-file", "CA", "--pin-sha256", wrongPin} << false
        << "its pin is PIN";
    QTest::newRow("wrong host name") << "127.0.0.1" << QStringList {"--ca-file", "CA"} << false
                                     << "the certificate is for another host name";
    QTest::newRow("server name override")
        << "127.0.0.1" << QStringList {"--ca-file", "CA", "--server-name", "localhost"} << true
        << "listening on";
    QTest::newRow("server name sets the Host header")
        << "127.0.0.1/named" << QStringList {"--ca-file", "CA", "--server-name", "localhost"}
        << true << "listening on";
    QTest::newRow("Host header without server name")
        << "127.0.0.1/named" << QStringList {"-insecure"} << false << "HTTP 421";
    QTest::newRow("insecure") << "localhost" << QStringList {"-insecure"} << true
                              << "WITHOUT verifying its TLS certificate";
    QTest::newRow("insecure warns at start") << "127.0.0.1" << QStringList {"-insecure"} << true
                                             << "TLS certificate verification is disabled";
}

void TestClientTls::verification()
{
    QFETCH(QString, host);
    QFETCH(QStringList, options);
    QFETCH(bool, works);
    QFETCH(QString, logged);
    for (QString &option : options) {
        if (option == QLatin1String("PIN"))
            option = m_certificates.serverPin();
        else if (option == QLatin1String("CA"))
            option = m_certificates.caFile();
    }
    logged.replace(QLatin1String("PIN"), m_certificates.serverPin());

    TowProcess client;
    QVERIFY2(client.start(QStringList {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                                       QStringLiteral("wss://%1:%2/%3/")
                                           .arg(host.section(QLatin1Char('/'), 0, 0))
                                           .arg(m_nginx.port())
                                           .arg(host.contains(QLatin1Char('/'))
                                                    ? host.section(QLatin1Char('/'), 1)
                                                    : QStringLiteral("tunnel"))}
                          + options),
             qPrintable(client.log()));
    QString why;
    const bool echoed = echoThrough(client.port(), &why);
    QVERIFY2(echoed == works,
             qPrintable(echoed ? QStringLiteral("the tunnel worked")
                               : why + QLatin1Char('\n') + client.log()));
    QTRY_VERIFY2_WITH_TIMEOUT(client.log().contains(logged), qPrintable(client.log()), 10000);
    QCOMPARE(client.stop(), 0);
}

void TestClientTls::expiredCertificate()
{
    NginxProcess expired;
    NginxProcess::Config config;
    config.upstreamPort = m_server.port();
    config.certificateFile = m_certificates.expiredCertificateFile();
    config.keyFile = m_certificates.keyFile();
    QString error;
    QVERIFY2(expired.start(config, &error), qPrintable(error));
    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("wss://localhost:%1/tunnel/").arg(expired.port()),
                           "--ca-file", m_certificates.caFile()}),
             qPrintable(client.log()));
    QString why;
    QVERIFY2(!echoThrough(client.port(), &why), "an expired certificate was accepted");
    QTRY_VERIFY2_WITH_TIMEOUT(
        client.log().contains(QLatin1String("the certificate has expired (2020-01-02")),
        qPrintable(client.log()), 10000);
    QVERIFY2(client.log().contains(m_certificates.serverPin()), qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
}

void TestClientTls::badCaFileIsAUsageError()
{
    const ProcessResult result =
        runTow({"client", "-remote_ws", "wss://localhost/", "--ca-file", "/nonexistent/ca.pem"});
    QCOMPARE(result.exitCode, 1);
    QVERIFY2(result.standardError.contains("cannot read the CA file /nonexistent/ca.pem"),
             qPrintable(result.standardError));
}

// The client offers the session its last connection to the same server got: through /resumed/,
// which nginx forwards only on a resumed session, the first connection (a full handshake) is
// refused and the next one works. Verification is not skipped to get there: the session came
// from a handshake verified against the CA file.
void TestClientTls::sessionIsResumed()
{
    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("wss://localhost:%1/resumed/").arg(m_nginx.port()),
                           "--ca-file", m_certificates.caFile()}),
             qPrintable(client.log()));
    QString why;
    QVERIFY2(!echoThrough(client.port(), &why), qPrintable(client.log()));
    QTRY_VERIFY2_WITH_TIMEOUT(client.log().contains("HTTP 403"), qPrintable(client.log()), 10000);
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + QLatin1Char('\n') + client.log()));
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + QLatin1Char('\n') + client.log()));
    QCOMPARE(client.stop(), 0);
}

QTEST_GUILESS_MAIN(TestClientTls)
#include "tst_clienttls.moc"

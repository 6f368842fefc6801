// The check command against each failure a user meets, set up for real: nginx with TLS in front
// of our server (README configuration) plus locations that answer 400, 401, 404, 502, a
// redirect, a location that drops the Upgrade headers, tinyproxy asking for credentials, and a
// wrong pin. The output must name the cause; the exit code is 0 only when a tunnel would work.
// Dynamic routes: a route that takes named destinations only, one with a fixed remote, and
// destinations allowed, not allowed and refused, named with --destination.
#include "droppingwebsocketserver.h"
#include "endpoints.h"
#include "nginxprocess.h"
#include "proxyprocess.h"
#include "testcertificates.h"
#include "towprocess.h"

#include <QFile>
#include <QProcess>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

class TestCheck : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void diagnosis_data();
    void diagnosis();
    void proxyAuthentication();
    void remoteUnreachable();
    void droppedWithoutCloseFrame();
    void dynamicRoute_data();
    void dynamicRoute();

private:
    QString url(const QString &path) const
    {
        return QStringLiteral("wss://localhost:%1%2").arg(m_nginx.port()).arg(path);
    }

    QTemporaryDir m_pki;
    TestCertificates m_certificates;
    EchoServer m_echo;
    TowProcess m_server;
    NginxProcess m_nginx;
    TowProcess m_dynamic; // routes /dyn (named destinations only, with a token) and /fixed
    quint16 m_closedPort = 0;
};

void TestCheck::initTestCase()
{
    QVERIFY(m_pki.isValid());
    QString error;
    QVERIFY2(m_certificates.create(m_pki.path(), &error), qPrintable(error));
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY2(m_server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                             QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())}),
             qPrintable(m_server.log()));
    quint16 closedPort = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost));
        closedPort = probe.serverPort();
    }
    NginxProcess::Config config;
    config.upstreamPort = m_server.port();
    config.certificateFile = m_certificates.certificateFile();
    config.keyFile = m_certificates.keyFile();
    config.serverExtra = QStringLiteral("        location /bad/ { return 400; }\n"
                                        "        location /needs-token/ { return 401; }\n"
                                        "        location /old/ { return 301 /tunnel/; }\n"
                                        "        location /down/ {\n"
                                        "            proxy_pass http://127.0.0.1:%1/;\n"
                                        "        }\n"
                                        "        location /no-upgrade/ {\n"
                                        "            proxy_pass http://127.0.0.1:%2/;\n"
                                        "            proxy_http_version 1.1;\n"
                                        "        }\n")
                             .arg(closedPort)
                             .arg(m_server.port());
    QVERIFY2(m_nginx.start(config, &error), qPrintable(error));

    // The echo endpoint is allowed by TCP and UDP, the closed port by TCP: it refuses.
    m_closedPort = closedPort;
    const QString echo = QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort());
    for (const auto &[name, content] :
         {std::pair {QStringLiteral("dyn-token"), QByteArray("dyn-secret\n")},
          std::pair {QStringLiteral("wrong-token"), QByteArray("not-the-secret\n")},
          std::pair {QStringLiteral("routes.json"),
                     QStringLiteral(R"({"listen": "127.0.0.1:0", "routes": [
    {"path": "/dyn", "token": "dyn-secret", "allow": ["%1", "udp/%1", "127.0.0.1:%2"]},
    {"path": "/fixed", "remote": "%1"}]})")
                         .arg(echo)
                         .arg(closedPort)
                         .toUtf8()}}) {
        QFile file(m_pki.filePath(name));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(content);
    }
    QVERIFY2(m_dynamic.start({"server", "--config", m_pki.filePath("routes.json")}),
             qPrintable(m_dynamic.log()));
}

void TestCheck::cleanupTestCase()
{
    m_nginx.stop();
    QCOMPARE(m_server.stop(), 0);
    QCOMPARE(m_dynamic.stop(), 0);
}

void TestCheck::diagnosis_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QStringList>("options"); // CA and PIN replaced at run time
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QStringList>("expected"); // lines or parts of lines, PIN replaced

    const QString wrongPin = QString::fromLatin1(QByteArray(32, 'w').toBase64());
    QTest::newRow("works") << "/tunnel/" << QStringList {"--ca-file", "CA"} << 0
                           << QStringList {"[ok]   Proxy: no proxy (direct connection)",
                                           "[ok]   DNS: localhost is",
                                           "[ok]   TCP: connected to",
                                           "[ok]   TLS:",
                                           "certificate \"localhost\" verified, pin PIN",
                                           "[ok]   HTTP upgrade: HTTP 101",
                                           "[ok]   Round trip: WebSocket ping answered in",
                                           "the tunnel stayed open",
                                           "Result: a tunnel would work."};
    QTest::newRow("pinned") << "/tunnel/" << QStringList {"--pin-sha256", "PIN"} << 0
                            << QStringList {"matches --pin-sha256, pin PIN",
                                            "Result: a tunnel would work."};
    QTest::newRow("400") << "/bad/" << QStringList {"--ca-file", "CA"} << 1
                         << QStringList {"[FAIL] HTTP upgrade: HTTP 400 Bad Request: the reverse "
                                         "proxy does not pass the Upgrade/Connection headers",
                                         "Result: a tunnel would NOT work."};
    QTest::newRow("426 behind a proxy dropping Upgrade")
        << "/no-upgrade/" << QStringList {"--ca-file", "CA"} << 1
        << QStringList {"[FAIL] HTTP upgrade: HTTP 426 Upgrade Required",
                        "the reverse proxy does not pass the Upgrade/Connection headers"};
    QTest::newRow("401") << "/needs-token/" << QStringList {"--ca-file", "CA"} << 1
                         << QStringList {"[FAIL] HTTP upgrade: HTTP 401 Unauthorized",
                                         "--token-file"};
    QTest::newRow("404") << "/nowhere/" << QStringList {"--ca-file", "CA"} << 1
                         << QStringList {"[FAIL] HTTP upgrade: HTTP 404 Not Found: nothing "
                                         "answers at the path /nowhere/"};
    QTest::newRow("502") << "/down/" << QStringList {"--ca-file", "CA"} << 1
                         << QStringList {"[FAIL] HTTP upgrade: HTTP 502: the reverse proxy "
                                         "cannot reach the tunnel server"};
    QTest::newRow("redirect followed")
        << "/old/" << QStringList {"--ca-file", "CA"} << 0
        << QStringList {"[ok]   HTTP upgrade: redirected from wss://localhost:",
                        "/old/ to wss://localhost:", "(HTTP 301, followed)",
                        "Result: a tunnel would work."};
    QTest::newRow("redirect with server name")
        << "SERVERNAME/old/" << QStringList {"--ca-file", "CA", "--server-name", "localhost"} << 0
        << QStringList {"(HTTP 301, followed)", "Result: a tunnel would work."};
    // Through nginx, which passes Sec-WebSocket-Protocol both ways; our server selects binary.
    QTest::newRow("binary subprotocol")
        << "/tunnel/" << QStringList {"--ca-file", "CA", "--subprotocol", "binary"} << 0
        << QStringList {"headers: Sec-WebSocket-Protocol: binary",
                        "accepted the WebSocket upgrade with the subprotocol binary",
                        "Result: a tunnel would work."};
    QTest::newRow("unknown issuer")
        << "/tunnel/" << QStringList {} << 1
        << QStringList {"[FAIL] TLS: TLS verification failed: the certificate's issuer is unknown",
                        "pin PIN"};
    QTest::newRow("wrong pin") << "/tunnel/" << QStringList {"--pin-sha256", wrongPin} << 1
                               << QStringList {"[FAIL] TLS: the server's key matches no "
                                               "--pin-sha256 (its pin is PIN)"};
    QTest::newRow("token hidden") << "/tunnel/"
                                  << QStringList {"--ca-file", "CA", "-H",
                                                  "Authorization: Bearer xyz"}
                                  << 0 << QStringList {"headers: Authorization: <hidden>"};
}

void TestCheck::diagnosis()
{
    QFETCH(QString, path);
    QFETCH(QStringList, options);
    QFETCH(int, exitCode);
    QFETCH(QStringList, expected);
    for (QString &option : options) {
        if (option == QLatin1String("CA"))
            option = m_certificates.caFile();
        else if (option == QLatin1String("PIN"))
            option = m_certificates.serverPin();
    }
    const QString target = path.startsWith(QLatin1String("SERVERNAME"))
        ? QStringLiteral("wss://127.0.0.1:%1%2").arg(m_nginx.port()).arg(path.mid(10))
        : url(path);
    const ProcessResult result = runTow(QStringList {"check", target} + options, 60000);
    const QString output = result.standardOutput;
    for (QString part : expected) {
        part.replace(QLatin1String("PIN"), m_certificates.serverPin());
        QVERIFY2(output.contains(part),
                 qPrintable(QStringLiteral("missing \"%1\" in:\n%2%3")
                                .arg(part, output, result.standardError)));
    }
    QVERIFY2(!output.contains(QLatin1String("xyz")), qPrintable(output));
    QCOMPARE(result.exitCode, exitCode);
}

void TestCheck::proxyAuthentication()
{
    ProxyProcess proxy;
    QString error;
    QVERIFY2(proxy.start(ProxyProcess::Kind::HttpConnect, QStringLiteral("u"),
                         QStringLiteral("right"), &error),
             qPrintable(error));
    const auto proxyUrl = [&proxy](const QString &credentials) -> QString {
        return QStringLiteral("http://") + credentials + QStringLiteral("127.0.0.1:")
            + QString::number(proxy.port());
    };
    ProcessResult result = runTow({"check", url(QStringLiteral("/tunnel/")), "--ca-file",
                                   m_certificates.caFile(), "--proxy", proxyUrl(QString())},
                                  60000);
    QVERIFY2(result.standardOutput.contains(QLatin1String("[ok]   Proxy: through the HTTP proxy")),
             qPrintable(result.standardOutput));
    QVERIFY2(result.standardOutput.contains(
                 QLatin1String("requires authentication (HTTP 407 Proxy Authentication Required)")),
             qPrintable(result.standardOutput));
    QCOMPARE(result.exitCode, 1);

    result = runTow({"check", url(QStringLiteral("/tunnel/")), "--ca-file", m_certificates.caFile(),
                     "--proxy", proxyUrl(QStringLiteral("u:wrong@"))},
                    60000);
    QVERIFY2(
        result.standardOutput.contains(QLatin1String("[FAIL] Proxy: the HTTP proxy 127.0.0.1:")),
        qPrintable(result.standardOutput));
    QVERIFY2(result.standardOutput.contains(QLatin1String("refused the credentials (HTTP 407")),
             qPrintable(result.standardOutput));
    QVERIFY(!result.standardOutput.contains(QLatin1String("wrong")));
    QCOMPARE(result.exitCode, 1);

    result = runTow({"check", url(QStringLiteral("/tunnel/")), "--ca-file", m_certificates.caFile(),
                     "--proxy", proxyUrl(QStringLiteral("u:right@"))},
                    60000);
    QVERIFY2(result.standardOutput.contains(QLatin1String("Result: a tunnel would work.")),
             qPrintable(result.standardOutput + proxy.log()));
    QCOMPARE(result.exitCode, 0);
}

// The WebSocket opens but the server cannot reach its TCP service: not a working tunnel.
void TestCheck::remoteUnreachable()
{
    quint16 closedPort = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost));
        closedPort = probe.serverPort();
    }
    TowProcess server;
    QVERIFY2(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                           QStringLiteral("127.0.0.1:%1").arg(closedPort)}),
             qPrintable(server.log()));
    const ProcessResult result =
        runTow({"check", QStringLiteral("ws://127.0.0.1:%1/").arg(server.port())}, 60000);
    QVERIFY2(result.standardOutput.contains(
                 QLatin1String("[FAIL] Round trip: the server accepted the tunnel but cannot "
                               "reach the TCP service behind it (close code 1011")),
             qPrintable(result.standardOutput));
    QCOMPARE(result.exitCode, 1);
    QCOMPARE(server.stop(), 0);
}

// The original Go server, when its remote is down, accepts the upgrade and drops the connection
// without a close frame: that is 1006, whatever QWebSocket's closeCode() says.
void TestCheck::droppedWithoutCloseFrame()
{
    DroppingWebSocketServer server(0);
    QVERIFY(server.listen(QHostAddress::LocalHost));
    // Started without waiting, so that this thread's event loop serves the server meanwhile.
    QProcess check;
    check.start(
        TowProcess::executable(),
        {QStringLiteral("check"), QStringLiteral("ws://127.0.0.1:%1/").arg(server.serverPort())});
    QVERIFY(check.waitForStarted());
    QTRY_COMPARE_WITH_TIMEOUT(check.state(), QProcess::NotRunning, 60000);
    const QString output = QString::fromUtf8(check.readAllStandardOutput());
    QVERIFY2(output.contains(QLatin1String("[ok]   HTTP upgrade: HTTP 101")), qPrintable(output));
    QVERIFY2(output.contains(QLatin1String(
                 "[FAIL] Round trip: the connection was dropped without a WebSocket close frame "
                 "(close code 1006, abnormal closure): usually the server cannot reach the TCP "
                 "service behind it")),
             qPrintable(output));
    QVERIFY2(!output.contains(QLatin1String("close code 1000")), qPrintable(output));
    QVERIFY(output.contains(QLatin1String("Result: a tunnel would NOT work.")));
    QCOMPARE(check.exitStatus(), QProcess::NormalExit);
    QCOMPARE(check.exitCode(), 1);
}

void TestCheck::dynamicRoute_data()
{
    QTest::addColumn<QString>("path");
    // ECHO and CLOSED are replaced by the ports, TOKEN and WRONG by the token files.
    QTest::addColumn<QStringList>("options");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QStringList>("expected");

    QTest::newRow("named destinations only, none named")
        << "/dyn" << QStringList {"--token-file", "TOKEN"} << 0
        << QStringList {"[ok]   HTTP upgrade: ws://127.0.0.1:",
                        "took the request (path and credentials accepted) and answered for the "
                        "destination: HTTP 403, Tow-Error: not-allowed",
                        "[ok]   Destination: none named, and the route takes named destinations "
                        "only (HTTP 403, Tow-Error: not-allowed)",
                        "Result: the server and the route work; the route takes named "
                        "destinations only",
                        "a port forward through it would be refused."};
    QTest::newRow("named destinations only, wrong token")
        << "/dyn" << QStringList {"--token-file", "WRONG"} << 1
        << QStringList {"[FAIL] HTTP upgrade: HTTP 401 Unauthorized",
                        "Result: a tunnel would NOT work."};
    QTest::newRow("allowed destination")
        << "/dyn" << QStringList {"--token-file", "TOKEN", "--destination", "127.0.0.1:ECHO"} << 0
        << QStringList {"  destination: 127.0.0.1:ECHO", "[ok]   HTTP upgrade: HTTP 101",
                        "[ok]   Destination: the server accepted the upgrade for 127.0.0.1:ECHO",
                        "[ok]   Round trip: WebSocket ping answered in",
                        "Result: a tunnel to 127.0.0.1:ECHO would work."};
    QTest::newRow("allowed UDP destination")
        << "/dyn" << QStringList {"--token-file", "TOKEN", "--destination", "udp/127.0.0.1:ECHO"}
        << 0
        << QStringList {"[ok]   Destination: the server allows udp/127.0.0.1:ECHO and is ready to "
                        "send its datagrams there (the check sends none)",
                        "Result: a tunnel to udp/127.0.0.1:ECHO would work."};
    QTest::newRow("destination not allowed")
        << "/dyn" << QStringList {"--token-file", "TOKEN", "--destination", "192.0.2.1:22"} << 1
        << QStringList {"[ok]   HTTP upgrade:", "HTTP 403, Tow-Error: not-allowed",
                        "[FAIL] Destination: the server refused the destination 192.0.2.1:22: "
                        "not allowed by the route's rules (403 not-allowed)",
                        "Result: a tunnel to 192.0.2.1:22 would NOT work."};
    QTest::newRow("UDP on a TCP rule")
        << "/dyn" << QStringList {"--token-file", "TOKEN", "--destination", "udp/127.0.0.1:CLOSED"}
        << 1
        << QStringList {"[FAIL] Destination: the server refused the destination "
                        "udp/127.0.0.1:CLOSED: not allowed by the route's rules (403 not-allowed)"};
    QTest::newRow("destination refuses")
        << "/dyn" << QStringList {"--token-file", "TOKEN", "--destination", "127.0.0.1:CLOSED"} << 1
        << QStringList {"HTTP 502, Tow-Error: refused",
                        "[FAIL] Destination: the server could not reach the destination "
                        "127.0.0.1:CLOSED: it refused the server's connection (502 refused)",
                        "Result: a tunnel to 127.0.0.1:CLOSED would NOT work."};
    QTest::newRow("destination with a wrong token")
        << "/dyn" << QStringList {"--token-file", "WRONG", "--destination", "127.0.0.1:ECHO"} << 1
        << QStringList {"[FAIL] HTTP upgrade: HTTP 401 Unauthorized"};
    QTest::newRow("fixed remote") << "/fixed" << QStringList {} << 0
                                  << QStringList {"[ok]   HTTP upgrade: HTTP 101",
                                                  "Result: a tunnel would work."};
    QTest::newRow("fixed remote, destination named")
        << "/fixed" << QStringList {"--destination", "127.0.0.1:ECHO"} << 1
        << QStringList {"[FAIL] Destination: the server refused the destination 127.0.0.1:ECHO: "
                        "not allowed by the route's rules (403 not-allowed)",
                        "or the route takes no named destination"};
    // The same header given with -H is a named destination too.
    QTest::newRow("destination in -H")
        << "/dyn" << QStringList {"--token-file", "TOKEN", "-H", "Tow-Destination: 192.0.2.1:22"}
        << 1 << QStringList {"[FAIL] Destination: the server refused the destination 192.0.2.1:22"};
}

void TestCheck::dynamicRoute()
{
    QFETCH(QString, path);
    QFETCH(QStringList, options);
    QFETCH(int, exitCode);
    QFETCH(QStringList, expected);
    const auto substitute = [this](QString text) {
        return text.replace(QLatin1String("ECHO"), QString::number(m_echo.serverPort()))
            .replace(QLatin1String("CLOSED"), QString::number(m_closedPort));
    };
    for (QString &option : options) {
        if (option == QLatin1String("TOKEN"))
            option = m_pki.filePath(QStringLiteral("dyn-token"));
        else if (option == QLatin1String("WRONG"))
            option = m_pki.filePath(QStringLiteral("wrong-token"));
        else
            option = substitute(option);
    }
    const ProcessResult result = runTow(
        QStringList {"check", QStringLiteral("ws://127.0.0.1:%1%2").arg(m_dynamic.port()).arg(path)}
            + options,
        60000);
    const QString output = result.standardOutput;
    for (const QString &part : std::as_const(expected)) {
        QVERIFY2(output.contains(substitute(part)),
                 qPrintable(QStringLiteral("missing \"%1\" in:\n%2%3")
                                .arg(substitute(part), output, result.standardError)));
    }
    QVERIFY2(!output.contains(QLatin1String("secret")), qPrintable(output));
    QCOMPARE(result.exitCode, exitCode);
}

QTEST_GUILESS_MAIN(TestCheck)
#include "tst_check.moc"

// Interoperability with a WebSocket implementation we did not write: Debian's python3-websockets
// as a client of our server and as a server for our client.
#include "endpoints.h"
#include "testcertificates.h"
#include "towprocess.h"

#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

namespace {

// Debian's interpreter: the one python3-websockets is installed for (not a pyenv one on PATH).
const QString kPython = QStringLiteral("/usr/bin/python3");

QString script(const char *name)
{
    return QStringLiteral(TOW_INTEROP_DIR "/") + QLatin1String(name);
}

// Starts ws_echo_server.py with arguments; returns its port once it says it listens, empty if
// it did not within 15 s. What it has logged so far is added to log.
QString startPythonServer(QProcess &server, const QStringList &arguments, QString *log)
{
    server.start(kPython, QStringList {script("ws_echo_server.py")} + arguments);
    if (!server.waitForStarted())
        return {};
    static const QRegularExpression listening(QStringLiteral("listening on \\S+:(\\d+)"));
    if (!QTest::qWaitFor(
            [&] {
                *log += QString::fromUtf8(server.readAllStandardError());
                return listening.match(*log).hasMatch();
            },
            15000))
        return {};
    return listening.match(*log).captured(1);
}

} // namespace

class TestInterop : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void pythonClientThroughOurServer_data();
    void pythonClientThroughOurServer();
    void pythonClientTextMessageGets1003();
    void pythonClientOverNativeTls();
    void ourClientWithPythonServer();
    void ourClientOffersBinarySubprotocol_data();
    void ourClientOffersBinarySubprotocol();
    void pythonClientSeesTokenRefusal_data();
    void pythonClientSeesTokenRefusal();
};

void TestInterop::initTestCase()
{
    QVERIFY2(QFileInfo::exists(kPython),
             "/usr/bin/python3 is missing (scripts/test.sh installs "
             "python3-websockets)");
    const int status =
        QProcess::execute(kPython, {QStringLiteral("-c"), QStringLiteral("import websockets")});
    QVERIFY2(status == 0, "python3-websockets is missing (scripts/test.sh installs it)");
}

void TestInterop::pythonClientThroughOurServer_data()
{
    QTest::addColumn<int>("size");
    QTest::newRow("small") << 1000;
    QTest::newRow("8 MiB") << 8 * 1024 * 1024;
}

void TestInterop::pythonClientThroughOurServer()
{
    QFETCH(int, size);
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                          QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())}));
    QProcess client;
    client.start(kPython,
                 {script("ws_client.py"), QStringLiteral("echo"),
                  QStringLiteral("ws://127.0.0.1:%1/").arg(server.port()), QString::number(size)});
    // Our echo endpoint lives in this process: keep its event loop running while Python works.
    QTRY_VERIFY_WITH_TIMEOUT(client.state() == QProcess::NotRunning, 60000);
    QVERIFY2(client.exitCode() == 0, client.readAllStandardError().constData());
}

void TestInterop::pythonClientSeesTokenRefusal_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("header");
    QTest::addColumn<QString>("status");
    QTest::newRow("no token") << "/"
                              << ""
                              << "401";
    QTest::newRow("wrong token") << "/"
                                 << "Authorization: Bearer wrong"
                                 << "401";
    QTest::newRow("header token") << "/"
                                  << "Authorization: Bearer py-token"
                                  << "101";
    QTest::newRow("query token") << "/?token=py-token"
                                 << ""
                                 << "101";
}

void TestInterop::pythonClientSeesTokenRefusal()
{
    // A standard client sees the refusal as an HTTP status before any upgrade.
    QFETCH(QString, target);
    QFETCH(QString, header);
    QFETCH(QString, status);
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    server.process().setProcessEnvironment([] {
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("TOW_TOKEN"), QStringLiteral("py-token"));
        return environment;
    }());
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                          QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())}));
    QStringList arguments = {script("ws_client.py"), QStringLiteral("status"),
                             QStringLiteral("ws://127.0.0.1:%1%2").arg(server.port()).arg(target)};
    if (!header.isEmpty())
        arguments.append(header);
    QProcess client;
    client.start(kPython, arguments);
    QTRY_VERIFY_WITH_TIMEOUT(client.state() == QProcess::NotRunning, 30000);
    QVERIFY2(client.exitCode() == 0, client.readAllStandardError().constData());
    QCOMPARE(QString::fromLatin1(client.readAllStandardOutput().trimmed()), status);
}

void TestInterop::pythonClientTextMessageGets1003()
{
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                          QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())}));
    QProcess client;
    client.start(kPython,
                 {script("ws_client.py"), QStringLiteral("text"),
                  QStringLiteral("ws://127.0.0.1:%1/").arg(server.port())});
    QTRY_VERIFY_WITH_TIMEOUT(client.state() == QProcess::NotRunning, 30000);
    QVERIFY2(client.exitCode() == 0, client.readAllStandardError().constData());
}

// Our server's native TLS with a TLS stack we did not write: Python's ssl module (OpenSSL)
// verifying our certificate against the test CA, websockets on top.
void TestInterop::pythonClientOverNativeTls()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    TestCertificates certificates;
    QString error;
    QVERIFY2(certificates.create(dir.path(), &error), qPrintable(error));
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                          QStringLiteral("127.0.0.1:%1").arg(echo.serverPort()), "--tls-cert",
                          certificates.certificateFile(), "--tls-key", certificates.keyFile()}));
    const QString url = QStringLiteral("wss://localhost:%1/").arg(server.port());
    QProcess client;
    client.start(kPython,
                 {script("ws_client.py"), QStringLiteral("echo"), url,
                  QString::number(4 * 1024 * 1024), certificates.caFile()});
    QTRY_VERIFY_WITH_TIMEOUT(client.state() == QProcess::NotRunning, 60000);
    QVERIFY2(client.exitCode() == 0, client.readAllStandardError().constData());

    // Without the CA, Python refuses the certificate: it was verified, not just accepted.
    QProcess untrusting;
    untrusting.start(kPython,
                     {script("ws_client.py"), QStringLiteral("echo"), url, QStringLiteral("1000")});
    QTRY_VERIFY_WITH_TIMEOUT(untrusting.state() == QProcess::NotRunning, 30000);
    QVERIFY(untrusting.exitCode() != 0);
    QVERIFY2(untrusting.readAllStandardError().contains("CERTIFICATE_VERIFY_FAILED"),
             "Python accepted a certificate from an unknown CA");
}

void TestInterop::ourClientWithPythonServer()
{
    QProcess pythonServer;
    QString log;
    const QString port = startPythonServer(pythonServer, {}, &log);
    QVERIFY2(!port.isEmpty(), qPrintable(log));

    TowProcess client;
    QVERIFY(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                          QStringLiteral("ws://127.0.0.1:%1/").arg(port)}));
    const QByteArray data = patternBytes(41, 8 * 1024 * 1024 + 5);
    StreamClient stream;
    stream.keepData = true;
    stream.start(client.port(), data, false);
    QTRY_COMPARE_WITH_TIMEOUT(stream.received.size(), data.size(), 60000);
    QVERIFY(stream.received == data);
    pythonServer.kill();
    pythonServer.waitForFinished();
}

void TestInterop::ourClientOffersBinarySubprotocol_data()
{
    QTest::addColumn<QStringList>("serverArguments");
    QTest::addColumn<QString>("selected");
    QTest::newRow("server supports binary") << QStringList {"binary"} << "subprotocol: binary";
    // RFC 6455 lets a server answer without one: offered, not required, the tunnel works.
    QTest::newRow("server supports none") << QStringList {} << "subprotocol: none";
}

void TestInterop::ourClientOffersBinarySubprotocol()
{
    QFETCH(QStringList, serverArguments);
    QFETCH(QString, selected);
    QProcess pythonServer;
    QString log;
    const QString port = startPythonServer(pythonServer, serverArguments, &log);
    QVERIFY2(!port.isEmpty(), qPrintable(log));

    TowProcess client;
    QVERIFY(
        client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                      QStringLiteral("ws://127.0.0.1:%1/").arg(port), "--subprotocol", "binary"}));
    const QByteArray data = patternBytes(43, 100 * 1024);
    StreamClient stream;
    stream.keepData = true;
    stream.start(client.port(), data, false);
    QTRY_COMPARE_WITH_TIMEOUT(stream.received.size(), data.size(), 30000);
    QVERIFY(stream.received == data);
    QTRY_VERIFY2_WITH_TIMEOUT(
        (log += QString::fromUtf8(pythonServer.readAllStandardError()), log.contains(selected)),
        qPrintable(log), 15000);
    pythonServer.kill();
    pythonServer.waitForFinished();
    QCOMPARE(client.stop(), 0);
}

QTEST_GUILESS_MAIN(TestInterop)
#include "tst_interop.moc"

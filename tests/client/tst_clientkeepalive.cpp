// Keep-alive and timeouts. Against a real nginx with proxy_read_timeout 3s: an idle tunnel survives
// 10 s with keep-alive (empty messages or pings) and is cut without; ping mode detects a server
// that stops answering (SIGSTOP) and closes the local connection; --connect-timeout gives up on a
// server that accepts but never answers the upgrade.
#include "endpoints.h"
#include "nginxprocess.h"
#include "towprocess.h"

#include <QTcpServer>
#include <QTest>
#include <csignal>
#include <sys/types.h>

namespace {

constexpr int kIdleMs = 10000;

// Sends a line on an open connection and waits for it to come back; false if it does not or the
// connection closes.
bool echoOn(QTcpSocket &socket, const QByteArray &line)
{
    QByteArray received;
    const auto connection = QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                                             [&] { received += socket.readAll(); });
    socket.write(line);
    const bool ok = QTest::qWaitFor(
        [&] {
            return received.size() >= line.size()
                || socket.state() != QAbstractSocket::ConnectedState;
        },
        20000);
    QObject::disconnect(connection);
    return ok && received == line;
}

} // namespace

class TestClientKeepAlive : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void idleBehindNginx_data();
    void idleBehindNginx();
    void pingDetectsStoppedServer();
    void connectTimeout();
};

void TestClientKeepAlive::idleBehindNginx_data()
{
    QTest::addColumn<QString>("serverKeepAlive");
    QTest::addColumn<QStringList>("clientOptions");
    QTest::addColumn<bool>("survives");

    QTest::newRow("empty messages both ways") << "1" << QStringList {"-keepalive", "1"} << true;
    QTest::newRow("client pings, server silent")
        << "0" << QStringList {"-keepalive", "1", "--keepalive-mode", "ping"} << true;
    QTest::newRow("no keep-alive") << "0" << QStringList {"-keepalive", "0"} << false;
}

void TestClientKeepAlive::idleBehindNginx()
{
    QFETCH(QString, serverKeepAlive);
    QFETCH(QStringList, clientOptions);
    QFETCH(bool, survives);

    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY2(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                           QStringLiteral("127.0.0.1:%1").arg(echo.serverPort()), "-keepalive",
                           serverKeepAlive}),
             qPrintable(server.log()));
    NginxProcess nginx;
    NginxProcess::Config config;
    config.tls = false;
    config.upstreamPort = server.port();
    config.proxyReadTimeoutSeconds = 3;
    QString error;
    QVERIFY2(nginx.start(config, &error), qPrintable(error));
    TowProcess client;
    QVERIFY2(
        client.start(QStringList {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                                  QStringLiteral("ws://127.0.0.1:%1/tunnel/").arg(nginx.port())}
                     + clientOptions),
        qPrintable(client.log()));

    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, client.port());
    QVERIFY(socket.waitForConnected(10000));
    QVERIFY2(echoOn(socket, "before the pause\n"), qPrintable(client.log()));
    QTest::qWait(kIdleMs);
    const bool alive =
        socket.state() == QAbstractSocket::ConnectedState && echoOn(socket, "after the pause\n");
    QVERIFY2(alive == survives, qPrintable(client.log() + nginx.errorLog()));
    socket.close();
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

void TestClientKeepAlive::pingDetectsStoppedServer()
{
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY2(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                           QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())}),
             qPrintable(server.log()));
    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(server.port()), "-keepalive",
                           "1", "--keepalive-mode", "ping", "--pong-timeout", "5"}),
             qPrintable(client.log()));
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, client.port());
    QVERIFY(socket.waitForConnected(10000));
    QVERIFY2(echoOn(socket, "hello\n"), qPrintable(client.log()));
    QTest::qWait(6000); // pings are answered: the tunnel outlives the pong timeout
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);

    const auto pid = pid_t(server.process().processId());
    QCOMPARE(::kill(pid, SIGSTOP), 0);
    QTRY_VERIFY_WITH_TIMEOUT(socket.state() == QAbstractSocket::UnconnectedState, 40000);
    QCOMPARE(::kill(pid, SIGCONT), 0);
    QVERIFY2(client.log().contains(QLatin1String("no pong within 5 s: closing the tunnel")),
             qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
    server.stop();
}

void TestClientKeepAlive::connectTimeout()
{
    QTcpServer silent; // accepts, reads nothing, answers nothing
    QVERIFY(silent.listen(QHostAddress::LocalHost));
    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(silent.serverPort()),
                           "--connect-timeout", "1.5"}),
             qPrintable(client.log()));
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, client.port());
    QVERIFY(socket.waitForConnected(10000));
    QTRY_VERIFY_WITH_TIMEOUT(socket.state() == QAbstractSocket::UnconnectedState, 20000);
    QVERIFY2(client.log().contains(
                 QLatin1String("the server did not answer the WebSocket upgrade within 1.5 s")),
             qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
}

QTEST_GUILESS_MAIN(TestClientKeepAlive)
#include "tst_clientkeepalive.moc"

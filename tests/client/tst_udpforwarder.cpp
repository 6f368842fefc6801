// UdpForwarder with our server in the same process, on loopback: the least recently used flow is
// closed beyond the flow limit, datagrams waiting for a WebSocket that opens stay bounded, and a
// server that is down gets one upgrade attempt per pause, however many datagrams arrive.
#include "client/udpforwarder.h"
#include "loopbackport.h"
#include "server/tunnelserver.h"
#include "testmain.h"

#include <QNetworkDatagram>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>
#include <QUdpSocket>
#include <functional>
#include <memory>
#include <vector>

namespace {

bool waitFor(const std::function<bool()> &predicate, int timeoutMs = 20000)
{
    return QTest::qWaitFor(predicate, timeoutMs);
}

// A UDP echo on loopback: every datagram goes back to its sender.
class UdpEcho : public QUdpSocket
{
public:
    UdpEcho()
    {
        bind(QHostAddress::LocalHost, 0);
        connect(this, &QUdpSocket::readyRead, this, [this] {
            while (hasPendingDatagrams()) {
                const QNetworkDatagram datagram = receiveDatagram();
                writeDatagram(datagram.makeReply(datagram.data()));
            }
        });
    }
};

// A server that is down: it takes each connection (counting it: an upgrade attempt) and closes
// it at once.
class DownServer : public QTcpServer
{
public:
    DownServer()
    {
        connect(this, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = nextPendingConnection()) {
                ++attempts;
                socket->abort();
                socket->deleteLater();
            }
        });
    }
    int attempts = 0;
};

ServerOptions udpServerOptions(quint16 port, quint16 echoPort)
{
    ServerOptions options;
    options.listen = HostPort {QStringLiteral("127.0.0.1"), port};
    ServerRoute route;
    QString error;
    const auto rule =
        DestinationRule::parse(QStringLiteral("udp/127.0.0.1:%1").arg(echoPort), &error);
    if (rule)
        route.allow = {*rule};
    options.routes = {route};
    return options;
}

} // namespace

class TestUdpForwarder : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void leastRecentlyUsedFlowClosedBeyondLimit();
    void datagramsWaitingForTheWebSocketAreBounded();
    void serverDownGetsOneAttemptPerPause();
};

void TestUdpForwarder::leastRecentlyUsedFlowClosedBeyondLimit()
{
    QUdpSocket echo;
    QVERIFY(echo.bind(QHostAddress::LocalHost, 0));
    connect(&echo, &QUdpSocket::readyRead, &echo, [&echo] {
        while (echo.hasPendingDatagrams()) {
            const QNetworkDatagram datagram = echo.receiveDatagram();
            echo.writeDatagram(datagram.makeReply(datagram.data()));
        }
    });
    ServerOptions serverOptions;
    serverOptions.listen = HostPort {QStringLiteral("127.0.0.1"), 0};
    ServerRoute route;
    QString error;
    const auto rule =
        DestinationRule::parse(QStringLiteral("udp/127.0.0.1:%1").arg(echo.localPort()), &error);
    QVERIFY2(rule, qPrintable(error));
    route.allow = {*rule};
    serverOptions.routes = {route};
    TunnelServer server(serverOptions);
    QVERIFY2(server.listen(&error), qPrintable(error));

    ClientOptions options;
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(server.serverPort()));
    options.proxy = QStringLiteral("none");
    options.udpListen = HostPort {QStringLiteral("127.0.0.1"), 0};
    options.udpRemote = HostPort {QStringLiteral("127.0.0.1"), echo.localPort()};
    UdpForwarder forwarder(options);
    forwarder.setMaxFlows(2);
    QVERIFY2(forwarder.listen(&error), qPrintable(error));

    QUdpSocket a, b, c;
    for (QUdpSocket *socket : {&a, &b, &c})
        QVERIFY(socket->bind(QHostAddress::LocalHost, 0));
    const auto roundTrip = [&](QUdpSocket &socket, const QByteArray &data) {
        socket.writeDatagram(data, QHostAddress::LocalHost, forwarder.localPort());
        return waitFor([&socket] { return socket.hasPendingDatagrams(); })
            && socket.receiveDatagram().data() == data;
    };
    const auto opened = [&server] {
        return server.metrics().value(QStringLiteral("tcp_over_websocket_tunnels_total"),
                                      {{QStringLiteral("route"), QStringLiteral("/")}});
    };
    QVERIFY(roundTrip(a, "a1"));
    QVERIFY(roundTrip(b, "b1"));
    QVERIFY(roundTrip(a, "a2")); // a is now the most recently used
    QCOMPARE(opened(), 2.0);
    QVERIFY(roundTrip(c, "c1")); // a third flow: b, the least recently used, is closed
    QCOMPARE(opened(), 3.0);
    QCOMPARE(forwarder.activeFlows(), 2);
    QVERIFY(waitFor([&server] { return server.activeTunnels() == 2; }));
    QVERIFY(roundTrip(a, "a3")); // a's flow is still open
    QCOMPARE(opened(), 3.0);
    QVERIFY(roundTrip(b, "b2")); // b gets a new one
    QCOMPARE(opened(), 4.0);
    QCOMPARE(forwarder.activeFlows(), 2);
}

void TestUdpForwarder::datagramsWaitingForTheWebSocketAreBounded()
{
    // A server that accepts and never answers the upgrade: the flow's WebSocket keeps opening.
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost));
    ClientOptions options;
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(silent.serverPort()));
    options.proxy = QStringLiteral("none");
    options.handshakeTimeoutMs = 600000;
    options.udpListen = HostPort {QStringLiteral("127.0.0.1"), 0};
    options.udpRemote = HostPort {QStringLiteral("10.0.0.5"), 51820};
    UdpForwarder forwarder(options);
    QString error;
    QVERIFY2(forwarder.listen(&error), qPrintable(error));
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    constexpr int kSize = 1200;
    qint64 sent = 0;
    // Batches well within the forwarder's receive buffer, each once it has taken the last.
    while (forwarder.droppedWhileOpening() == 0 && sent < 100000) {
        for (int i = 0; i < 32; ++i, ++sent)
            local.writeDatagram(QByteArray(kSize, 'x'), QHostAddress::LocalHost,
                                forwarder.localPort());
        QVERIFY(waitFor([&] {
            return forwarder.pendingBytes() + forwarder.droppedWhileOpening() * kSize
                == sent * kSize;
        }));
    }
    QVERIFY(forwarder.droppedWhileOpening() > 0);
    QCOMPARE(forwarder.drops().queueFull, forwarder.droppedWhileOpening());
    QCOMPARE(forwarder.drops().backingOff, qint64(0));
    QVERIFY(forwarder.pendingBytes() <= UdpForwarder::kPendingBytes);
    QVERIFY(forwarder.pendingBytes() > UdpForwarder::kPendingBytes - kSize);
    QCOMPARE(forwarder.activeFlows(), 1);
}

void TestUdpForwarder::serverDownGetsOneAttemptPerPause()
{
    UdpEcho echo;
    QVERIFY(echo.state() == QAbstractSocket::BoundState);
    // A port the system hands out to no one else meanwhile: the server starts on it later.
    auto down = std::make_unique<DownServer>();
    QVERIFY(down->listen(QHostAddress::LocalHost, reserveLoopbackPort()));
    const quint16 serverPort = down->serverPort();

    ClientOptions options;
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(serverPort));
    options.proxy = QStringLiteral("none");
    options.udpListen = HostPort {QStringLiteral("127.0.0.1"), 0};
    options.udpRemote = HostPort {QStringLiteral("127.0.0.1"), echo.localPort()};
    UdpForwarder forwarder(options);
    // The pause outlasts the test: it ends only when the test says so (retryNow()).
    forwarder.setRetryPauses(3600 * 1000, 3600 * 1000);
    QString error;
    QVERIFY2(forwarder.listen(&error), qPrintable(error));
    QSignalSpy failures(&forwarder, &UdpForwarder::connectionFailed);
    QSignalSpy dropped(&forwarder, &UdpForwarder::datagramsDropped);

    constexpr int kSources = 10;
    std::vector<std::unique_ptr<QUdpSocket>> sources;
    for (int i = 0; i < kSources; ++i) {
        sources.push_back(std::make_unique<QUdpSocket>());
        QVERIFY(sources.back()->bind(QHostAddress::LocalHost, 0));
    }
    const auto send = [&](int source, const QByteArray &data) {
        sources.at(size_t(source))
            ->writeDatagram(data, QHostAddress::LocalHost, forwarder.localPort());
    };

    // The first datagram tries the server, which is down: new flows then wait.
    send(0, "first");
    QVERIFY(waitFor([&] { return failures.size() == 1; }));
    QCOMPARE(down->attempts, 1);
    QVERIFY(forwarder.isBackingOff());
    QCOMPARE(forwarder.activeFlows(), 0);

    // Many datagrams from many sources meanwhile: dropped and counted, no attempt.
    constexpr int kDatagrams = 200;
    for (int i = 0; i < kDatagrams; ++i)
        send(i % kSources, QByteArray("keepalive ") + QByteArray::number(i));
    QVERIFY(waitFor([&] { return forwarder.droppedWhileBackingOff() == kDatagrams; }));
    QCOMPARE(down->attempts, 1);
    QCOMPARE(forwarder.drops().backingOff, qint64(kDatagrams));
    QCOMPARE(forwarder.drops().total(), qint64(kDatagrams + 1)); // and "first", never sent
    QVERIFY(!dropped.isEmpty());
    QCOMPARE(forwarder.activeFlows(), 0);
    QCOMPARE(forwarder.pendingBytes(), 0);

    // The pause is over: one flow tries (the others' datagrams are dropped while it opens), fails,
    // and new flows wait again.
    forwarder.retryNow();
    QVERIFY(!forwarder.isBackingOff());
    for (int i = 0; i < kSources; ++i)
        send(i, "retry");
    QVERIFY(waitFor([&] {
        return failures.size() == 2
            && forwarder.droppedWhileBackingOff() == kDatagrams + kSources - 1;
    }));
    QCOMPARE(down->attempts, 2);
    QVERIFY(forwarder.isBackingOff());

    // The server starts on the same port; after the pause, traffic flows for every source.
    down.reset();
    TunnelServer server(udpServerOptions(serverPort, echo.localPort()));
    QVERIFY2(server.listen(&error), qPrintable(error));
    forwarder.retryNow();
    for (int i = 0; i < kSources; ++i) {
        const QByteArray data = "up " + QByteArray::number(i);
        send(i, data);
        QUdpSocket &source = *sources.at(size_t(i));
        QVERIFY2(waitFor([&source] { return source.hasPendingDatagrams(); }),
                 qPrintable(QStringLiteral("no echo for source %1").arg(i)));
        QCOMPARE(source.receiveDatagram().data(), data);
    }
    QCOMPARE(failures.size(), 2);
    QVERIFY(!forwarder.isBackingOff());
    QCOMPARE(forwarder.activeFlows(), kSources);
    QCOMPARE(server.metrics().value(QStringLiteral("tcp_over_websocket_tunnels_total"),
                                    {{QStringLiteral("route"), QStringLiteral("/")}}),
             double(kSources));
}

TOW_TEST_MAIN(TestUdpForwarder)
#include "tst_udpforwarder.moc"

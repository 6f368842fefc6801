// UdpForwarder with our server in the same process, on loopback: the least recently used flow is
// closed beyond the flow limit, and datagrams waiting for a WebSocket that opens stay bounded.
#include "client/udpforwarder.h"
#include "server/tunnelserver.h"
#include "testmain.h"

#include <QNetworkDatagram>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>
#include <QUdpSocket>
#include <functional>
#include <memory>

namespace {

bool waitFor(const std::function<bool()> &predicate, int timeoutMs = 20000)
{
    return QTest::qWaitFor(predicate, timeoutMs);
}

} // namespace

class TestUdpForwarder : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void leastRecentlyUsedFlowClosedBeyondLimit();
    void datagramsWaitingForTheWebSocketAreBounded();
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
    QVERIFY(forwarder.pendingBytes() <= UdpForwarder::kPendingBytes);
    QVERIFY(forwarder.pendingBytes() > UdpForwarder::kPendingBytes - kSize);
    QCOMPARE(forwarder.activeFlows(), 1);
}

TOW_TEST_MAIN(TestUdpForwarder)
#include "tst_udpforwarder.moc"

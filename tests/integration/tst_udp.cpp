// UDP through our client (--udp) and our server (a udp/ allow entry), real processes on
// loopback, to a UDP echo server: every datagram arrives once and in order when the sender keeps
// a window, each local source is its own flow, an idle flow closes, a destination the server does
// not allow is refused (403), and a client that stops reading leaves the server's queue bounded
// (the oldest dropped and counted).
#include "towprocess.h"

#include <QAtomicInt>
#include <QElapsedTimer>
#include <QNetworkDatagram>
#include <QScopeGuard>
#include <QSemaphore>
#include <QTcpSocket>
#include <QTest>
#include <QThread>
#include <QUdpSocket>
#include <QtEndian>
#ifdef Q_OS_UNIX
#include <csignal>
#endif
#include <functional>

namespace {

constexpr int kDatagramBytes = 1200;

QByteArray numbered(quint32 number, int size = kDatagramBytes)
{
    QByteArray datagram(size, char('a' + number % 26));
    qToBigEndian<quint32>(number, datagram.data());
    return datagram;
}

quint32 numberOf(const QByteArray &datagram)
{
    return qFromBigEndian<quint32>(datagram.constData());
}

QByteArray httpGet(quint16 port, const QByteArray &path)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!socket.waitForConnected(5000))
        return QByteArray();
    socket.write("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    QByteArray answer;
    while (socket.waitForReadyRead(5000))
        answer += socket.readAll();
    return answer + socket.readAll();
}

double metric(quint16 port, const QByteArray &sample)
{
    const QByteArray body = httpGet(port, "/metrics");
    for (const QByteArray &line : body.split('\n')) {
        if (line.startsWith(QByteArray(sample + ' ')))
            return line.mid(sample.size() + 1).toDouble();
    }
    return -1;
}

// A UDP echo server on its own thread. A datagram "FLOOD n" (from any address) makes it send n
// numbered datagrams to the last address it echoed to, as fast as its socket takes them.
class UdpEchoThread : public QThread
{
public:
    quint16 start()
    {
        QThread::start();
        m_ready.acquire();
        return quint16(m_port.loadAcquire());
    }
    ~UdpEchoThread() override
    {
        quit();
        wait();
    }
    int echoed() const { return m_echoed.loadAcquire(); }

protected:
    void run() override
    {
        QUdpSocket socket;
        socket.bind(QHostAddress::LocalHost, 0);
        QHostAddress lastAddress;
        quint16 lastPort = 0;
        QObject::connect(&socket, &QUdpSocket::readyRead, &socket, [&] {
            while (socket.hasPendingDatagrams()) {
                const QNetworkDatagram datagram = socket.receiveDatagram();
                if (datagram.data().startsWith("FLOOD ")) {
                    const int count = datagram.data().mid(6).toInt();
                    for (int i = 0; i < count; ++i)
                        socket.writeDatagram(numbered(quint32(i)), lastAddress, lastPort);
                    continue;
                }
                lastAddress = datagram.senderAddress();
                lastPort = quint16(datagram.senderPort());
                socket.writeDatagram(datagram.data(), lastAddress, lastPort);
                m_echoed.fetchAndAddRelease(1);
            }
        });
        m_port.storeRelease(socket.localPort());
        m_ready.release();
        exec();
    }

private:
    QSemaphore m_ready;
    QAtomicInt m_port;
    QAtomicInt m_echoed;
};

bool waitFor(const std::function<bool()> &predicate, int timeoutMs = 30000)
{
    return QTest::qWaitFor(predicate, timeoutMs);
}

} // namespace

class TestUdp : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void echoHundredThousandDatagramsNoLossNoReordering();
    void eachLocalSourceIsItsOwnFlow();
    void idleFlowIsClosed();
    void destinationNotAllowedIs403();
    void destinationThatStartsLateIsHeard();
#ifdef Q_OS_UNIX
    void clientThatStopsReadingLeavesServerQueueBounded(); // SIGSTOP
#endif

private:
    // The server allowing UDP to allowRule (default: the echo server), and a client sending to
    // udpRemote (default: the echo server).
    bool startPair(const QStringList &clientExtra = {}, const QString &allowRule = QString(),
                   const QString &udpRemote = QString());
    QString echoAddress() const
    {
        return QStringLiteral("127.0.0.1:%1").arg(m_echoPort);
    }

    std::unique_ptr<UdpEchoThread> m_echo;
    quint16 m_echoPort = 0;
    std::unique_ptr<TowProcess> m_server;
    std::unique_ptr<TowProcess> m_client;
};

void TestUdp::init()
{
    m_echo = std::make_unique<UdpEchoThread>();
    m_echoPort = m_echo->start();
    QVERIFY(m_echoPort != 0);
}

void TestUdp::cleanup()
{
    if (QTest::currentTestFailed()) {
        if (m_server)
            qWarning().noquote() << "server log:\n" << m_server->log().right(4000);
        if (m_client)
            qWarning().noquote() << "client log:\n" << m_client->log().right(4000);
    }
    m_client.reset();
    m_server.reset();
    m_echo.reset();
}

bool TestUdp::startPair(const QStringList &clientExtra, const QString &allowRule,
                        const QString &udpRemote)
{
    m_server = std::make_unique<TowProcess>();
    const QString rule =
        allowRule.isEmpty() ? QStringLiteral("udp/%1").arg(echoAddress()) : allowRule;
    if (!m_server->start({"server", "-listen_ws", "127.0.0.1:0", "--allow-destination", rule}))
        return false;
    m_client = std::make_unique<TowProcess>();
    return m_client->start(QStringList {"client", "--udp", "127.0.0.1:0", "--udp-remote",
                                        udpRemote.isEmpty() ? echoAddress() : udpRemote,
                                        "-remote_ws",
                                        QStringLiteral("ws://127.0.0.1:%1/").arg(m_server->port())}
                           + clientExtra);
}

void TestUdp::echoHundredThousandDatagramsNoLossNoReordering()
{
    QVERIFY(startPair());
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    constexpr quint32 kCount = 100000;
    constexpr quint32 kWindow = 64; // at most this many unanswered: no buffer on the way overflows
    quint32 sent = 0;
    quint32 received = 0;
    quint32 reordered = 0;
    quint32 corrupt = 0;
    quint32 expected = 0;
    const auto send = [&] {
        while (sent < kCount && sent - received < kWindow)
            local.writeDatagram(numbered(sent++), QHostAddress::LocalHost, m_client->port());
    };
    connect(&local, &QUdpSocket::readyRead, this, [&] {
        while (local.hasPendingDatagrams()) {
            const QByteArray data = local.receiveDatagram().data();
            const quint32 number = numberOf(data);
            if (data != numbered(number))
                ++corrupt;
            if (number != expected)
                ++reordered;
            expected = number + 1;
            ++received;
        }
        send();
    });
    send();
    // No timing: the window only moves on answers; a lost datagram stops it, and the wait ends.
    QElapsedTimer elapsed;
    elapsed.start();
    const bool done = waitFor([&] { return received == kCount; }, 240000);
    qInfo() << "sent" << sent << "received" << received << "lost" << sent - received
            << "out of order" << reordered << "corrupt" << corrupt << "in" << elapsed.elapsed()
            << "ms";
    QVERIFY2(done, "a datagram was lost: the window stopped");
    QCOMPARE(reordered, 0u);
    QCOMPARE(corrupt, 0u);
    QCOMPARE(metric(m_server->port(),
                    "tcp_over_websocket_udp_datagrams_total{route=\"/\",direction=\"ws_to_udp\"}"),
             double(kCount));
    QCOMPARE(metric(m_server->port(),
                    "tcp_over_websocket_udp_datagrams_total{route=\"/\",direction=\"udp_to_ws\"}"),
             double(kCount));
    QCOMPARE(metric(m_server->port(),
                    "tcp_over_websocket_udp_datagrams_dropped_total{route=\"/\","
                    "direction=\"udp_to_ws\",reason=\"queue_full\"}"),
             0.0);
}

void TestUdp::eachLocalSourceIsItsOwnFlow()
{
    QVERIFY(startPair());
    QUdpSocket first;
    QUdpSocket second;
    QVERIFY(first.bind(QHostAddress::LocalHost, 0));
    QVERIFY(second.bind(QHostAddress::LocalHost, 0));
    first.writeDatagram("from first", QHostAddress::LocalHost, m_client->port());
    second.writeDatagram("from second", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return first.hasPendingDatagrams() && second.hasPendingDatagrams(); }));
    QCOMPARE(first.receiveDatagram().data(), QByteArray("from first"));
    QCOMPARE(second.receiveDatagram().data(), QByteArray("from second"));
    // Again from both: still two flows, each answered alone.
    first.writeDatagram("first again", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return first.hasPendingDatagrams(); }));
    QCOMPARE(first.receiveDatagram().data(), QByteArray("first again"));
    QVERIFY(!second.hasPendingDatagrams());
    QCOMPARE(metric(m_server->port(), "tcp_over_websocket_tunnels_total{route=\"/\"}"), 2.0);
    QCOMPARE(metric(m_server->port(), "http_to_tcp_active_connections"), 2.0);
}

void TestUdp::idleFlowIsClosed()
{
    QVERIFY(startPair({"--udp-idle-timeout", "0.5"}));
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    local.writeDatagram("one", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return local.hasPendingDatagrams(); }));
    QCOMPARE(local.receiveDatagram().data(), QByteArray("one"));
    // The client closes the silent flow (1000 "idle"), and the server sees it end.
    QVERIFY(waitFor([&] { return m_client->log().contains("udp flow closed: idle timeout"); }));
    QVERIFY(
        waitFor([&] { return metric(m_server->port(), "http_to_tcp_active_connections") == 0.0; }));
    // The server's log arrives through a pipe, read when the test's loop runs.
    QVERIFY(waitFor([&] { return m_server->log().contains("websocket closed (1000 idle)"); }));
    // The same source again: a new flow.
    local.writeDatagram("two", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return local.hasPendingDatagrams(); }));
    QCOMPARE(local.receiveDatagram().data(), QByteArray("two"));
    QCOMPARE(metric(m_server->port(), "tcp_over_websocket_tunnels_total{route=\"/\"}"), 2.0);
}

void TestUdp::destinationNotAllowedIs403()
{
    // The server allows UDP to the echo server only; the client asks for another port, then for
    // the echo server's port over TCP-only rules.
    QUdpSocket other;
    QVERIFY(other.bind(QHostAddress::LocalHost, 0));
    const QString otherAddress = QStringLiteral("127.0.0.1:%1").arg(other.localPort());
    QVERIFY(startPair({}, QString(), otherAddress));
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    local.writeDatagram("refused", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return m_client->log().contains("403"); }));
    // The server's log arrives through a pipe, read when the test's loop runs.
    QVERIFY(waitFor([&] { return m_server->log().contains("403 not-allowed"); }));
    QVERIFY(!other.hasPendingDatagrams());
    QCOMPARE(metric(m_server->port(), "tcp_over_websocket_destination_refusals_total{route=\"/\"}"),
             1.0);

    // A TCP entry for the echo server's address does not allow UDP to it.
    m_client.reset();
    m_server.reset();
    QVERIFY(startPair({}, echoAddress()));
    local.writeDatagram("tcp only", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return m_client->log().contains("403"); }));
    QCOMPARE(m_echo->echoed(), 0);
}

void TestUdp::destinationThatStartsLateIsHeard()
{
    // Nothing listens on the destination's port at first: the server's socket gets ICMP port
    // unreachable answers. Once a program listens there, its answers come through.
    quint16 port = 0;
    {
        QUdpSocket probe;
        QVERIFY(probe.bind(QHostAddress::LocalHost, 0));
        port = probe.localPort();
    }
    const QString destination = QStringLiteral("127.0.0.1:%1").arg(port);
    QVERIFY(startPair({}, QStringLiteral("udp/") + destination, destination));
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    const QByteArray relayed =
        "tcp_over_websocket_udp_datagrams_total{route=\"/\",direction=\"ws_to_udp\"}";
    for (int i = 0; i < 3; ++i) {
        local.writeDatagram("nobody", QHostAddress::LocalHost, m_client->port());
        QVERIFY(waitFor([&] { return metric(m_server->port(), relayed) >= i + 1; }));
    }
    QUdpSocket late;
    QVERIFY(late.bind(QHostAddress::LocalHost, port));
    connect(&late, &QUdpSocket::readyRead, &late, [&late] {
        while (late.hasPendingDatagrams()) {
            const QNetworkDatagram datagram = late.receiveDatagram();
            late.writeDatagram(datagram.makeReply(datagram.data()));
        }
    });
    local.writeDatagram("now", QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return local.hasPendingDatagrams(); }));
    QCOMPARE(local.receiveDatagram().data(), QByteArray("now"));
}

#ifdef Q_OS_UNIX
void TestUdp::clientThatStopsReadingLeavesServerQueueBounded()
{
    QVERIFY(startPair());
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    local.writeDatagram(numbered(0), QHostAddress::LocalHost, m_client->port());
    QVERIFY(waitFor([&] { return local.hasPendingDatagrams(); }));
    local.receiveDatagram();
    // The client stops: it reads nothing from its WebSocket any more. The echo server then
    // floods the flow's server side until the server's queue towards the client drops.
    const qint64 clientPid = m_client->process().processId();
    QCOMPARE(::kill(pid_t(clientPid), SIGSTOP), 0);
    auto resume = qScopeGuard([clientPid] { ::kill(pid_t(clientPid), SIGCONT); });
    QUdpSocket control;
    const QByteArray dropped = "tcp_over_websocket_udp_datagrams_dropped_total{route=\"/\","
                               "direction=\"udp_to_ws\",reason=\"queue_full\"}";
    const QByteArray relayed =
        "tcp_over_websocket_udp_datagrams_total{route=\"/\",direction=\"udp_to_ws\"}";
    // Floods of 100 datagrams (within the server's socket buffer), each once the server has
    // taken the last: its WebSocket transport, then its queue fill, whatever the speed.
    double taken = metric(m_server->port(), relayed);
    int floods = 0;
    while (metric(m_server->port(), dropped) <= 0 && floods < 2000) {
        control.writeDatagram("FLOOD 100", QHostAddress::LocalHost, m_echoPort);
        ++floods;
        const double before = taken;
        // Most of each flood reaches the server; loopback may drop a few when the threads race.
        waitFor([&] { return (taken = metric(m_server->port(), relayed)) >= before + 90; }, 5000);
    }
    const double droppedCount = metric(m_server->port(), dropped);
    qInfo() << "floods" << floods << "relayed" << taken << "dropped" << droppedCount;
    QVERIFY(droppedCount > 0);
    resume.dismiss();
    QCOMPARE(::kill(pid_t(clientPid), SIGCONT), 0);
    // The flow ends; the server records the most its queue and transport held.
    QCOMPARE(m_client->stop(), 0);
    QVERIFY(
        waitFor([&] { return metric(m_server->port(), "http_to_tcp_active_connections") == 0.0; }));
    const double peak = metric(m_server->port(), "tcp_over_websocket_relay_peak_queued_bytes");
    qInfo() << "peak queued bytes" << peak;
    QVERIFY(peak >= 128 * 1024); // it did fill
    QVERIFY(peak <= 256 * 1024 + kDatagramBytes + 16);
}
#endif

QTEST_GUILESS_MAIN(TestUdp)
#include "tst_udp.moc"

// DatagramRelay on real loopback sockets: a QWebSocketServer's WebSocket joined to a connected
// QUdpSocket, a WebSocket client on one side and a UDP peer on the other. Covers one message per
// datagram both ways, keep-alives, text and oversized messages, the bounded queue towards a
// WebSocket peer that reads nothing (the oldest dropped), and the idle timeout.
#include "relay/datagramrelay.h"
#include "testmain.h"

#include <QNetworkDatagram>
#include <QNetworkProxy>
#include <QPointer>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>
#include <QTimer>
#include <QUdpSocket>
#include <QWebSocket>
#include <QWebSocketServer>
#include <QtEndian>
#include <algorithm>
#include <cstring>
#include <memory>

namespace {

// A datagram of size bytes that starts with its number, big-endian (only the number's first
// bytes in a datagram shorter than four).
QByteArray numbered(quint32 number, int size)
{
    QByteArray datagram(size, char(number & 0x7F));
    uchar bytes[sizeof(number)];
    qToBigEndian<quint32>(number, bytes);
    std::memcpy(datagram.data(), bytes, std::min(sizeof(bytes), size_t(size)));
    return datagram;
}

quint32 numberOf(const QByteArray &datagram)
{
    return qFromBigEndian<quint32>(datagram.constData());
}

bool waitFor(const std::function<bool()> &predicate, int timeoutMs = 20000)
{
    return QTest::qWaitFor(predicate, timeoutMs);
}

} // namespace

class TestDatagramRelay : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void oneMessageIsOneDatagramBothWays();
    void emptyMessageIsKeepAliveNeverADatagram();
    void textMessageClosesWith1003();
    void tooBigMessageIsDroppedAndCounted();
    void slowWebSocketPeerKeepsQueueBoundedDroppingOldest();
    void idleFlowClosesWith1000Idle();
    void keepAliveIsSentWhenSilent();

private:
    // The relay on the server's WebSocket; the client is `client` (a QWebSocket) unless
    // rawClient is set (a TCP socket that did the upgrade by hand and reads only when told).
    bool open(const DatagramRelay::Options &options, bool rawClient = false);

    std::unique_ptr<QWebSocketServer> m_server;
    std::unique_ptr<QWebSocket> m_client;
    std::unique_ptr<QTcpSocket> m_raw;
    std::unique_ptr<QUdpSocket> m_far; // the UDP peer
    QPointer<DatagramRelay> m_relay;
};

void TestDatagramRelay::init()
{
    m_server =
        std::make_unique<QWebSocketServer>(QStringLiteral("t"), QWebSocketServer::NonSecureMode);
    QVERIFY(m_server->listen(QHostAddress::LocalHost));
    m_far = std::make_unique<QUdpSocket>();
    QVERIFY(m_far->bind(QHostAddress::LocalHost, 0));
}

void TestDatagramRelay::cleanup()
{
    delete m_relay.data();
    m_client.reset();
    m_raw.reset();
    m_far.reset();
    m_server.reset();
}

bool TestDatagramRelay::open(const DatagramRelay::Options &options, bool rawClient)
{
    const QUrl url(QStringLiteral("ws://127.0.0.1:%1/").arg(m_server->serverPort()));
    if (rawClient) {
        m_raw = std::make_unique<QTcpSocket>();
        m_raw->setProxy(QNetworkProxy::NoProxy);
        m_raw->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
        if (!m_raw->waitForConnected(5000))
            return false;
        m_raw->write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n");
    } else {
        m_client = std::make_unique<QWebSocket>();
        m_client->setProxy(QNetworkProxy::NoProxy);
        m_client->open(url);
    }
    if (!waitFor([this] { return m_server->hasPendingConnections(); }))
        return false;
    QWebSocket *ws = m_server->nextPendingConnection();
    auto *udp = new QUdpSocket;
    udp->connectToHost(QHostAddress::LocalHost, m_far->localPort());
    if (!udp->waitForConnected(5000))
        return false;
    m_relay = new DatagramRelay(ws, udp, options, QStringLiteral("test flow"));
    if (rawClient) {
        if (!waitFor([this] { return m_raw->bytesAvailable() > 0 && m_raw->canReadLine(); }))
            return false;
        const QByteArray status = m_raw->readLine();
        if (!status.startsWith("HTTP/1.1 101"))
            return false;
        while (true) { // the rest of the head; nothing else comes before we send
            if (!m_raw->canReadLine() && !waitFor([this] { return m_raw->canReadLine(); }))
                return false;
            if (m_raw->readLine() == "\r\n")
                break;
        }
        return true;
    }
    return waitFor([this] { return m_client->state() == QAbstractSocket::ConnectedState; });
}

void TestDatagramRelay::oneMessageIsOneDatagramBothWays()
{
    QVERIFY(open({}));
    // WebSocket -> UDP: sizes around the frame length encodings, each its own datagram.
    const QList<int> sizes {1, 125, 126, 127, 1200, 65535 - 28, 2000};
    for (int i = 0; i < sizes.size(); ++i)
        m_client->sendBinaryMessage(numbered(quint32(i), sizes.at(i)));
    for (int i = 0; i < sizes.size(); ++i) {
        QVERIFY(waitFor([this] { return m_far->hasPendingDatagrams(); }));
        const QNetworkDatagram datagram = m_far->receiveDatagram();
        QCOMPARE(datagram.data(), numbered(quint32(i), sizes.at(i)));
    }
    QCOMPARE(m_relay->counters().wsToUdp, sizes.size());

    // UDP -> WebSocket: each datagram one binary message, to the relay's own address.
    QList<QByteArray> received;
    connect(m_client.get(), &QWebSocket::binaryMessageReceived, this,
            [&received](const QByteArray &message) { received.append(message); });
    const QHostAddress relayAddress = QHostAddress::LocalHost;
    QVERIFY(waitFor([this] { return m_relay->counters().wsToUdp > 0; }));
    const auto udp = m_relay->findChild<QUdpSocket *>();
    QVERIFY(udp);
    for (int i = 0; i < sizes.size(); ++i)
        m_far->writeDatagram(numbered(quint32(100 + i), sizes.at(i)), relayAddress,
                             udp->localPort());
    QVERIFY(waitFor([&] { return received.size() == sizes.size(); }));
    for (int i = 0; i < sizes.size(); ++i)
        QCOMPARE(received.at(i), numbered(quint32(100 + i), sizes.at(i)));
    QCOMPARE(m_relay->counters().udpToWs, sizes.size());
    QCOMPARE(m_relay->counters().droppedQueueFull, 0);
}

void TestDatagramRelay::emptyMessageIsKeepAliveNeverADatagram()
{
    QVERIFY(open({}));
    m_client->sendBinaryMessage(QByteArray());
    m_client->sendBinaryMessage(QByteArray());
    m_client->sendBinaryMessage("after");
    QVERIFY(waitFor([this] { return m_far->hasPendingDatagrams(); }));
    QCOMPARE(m_far->receiveDatagram().data(), QByteArray("after"));
    // Messages are handled in order: the keep-alives came first, and made nothing.
    QVERIFY(!m_far->hasPendingDatagrams());
    QCOMPARE(m_relay->counters().wsToUdp, 1);
}

void TestDatagramRelay::textMessageClosesWith1003()
{
    QVERIFY(open({}));
    QSignalSpy closed(m_client.get(), &QWebSocket::disconnected);
    QSignalSpy finished(m_relay.data(), &DatagramRelay::finished);
    m_client->sendTextMessage(QStringLiteral("hello"));
    QVERIFY(waitFor([&] { return closed.size() == 1 && finished.size() == 1; }));
    QCOMPARE(int(m_client->closeCode()), int(QWebSocketProtocol::CloseCodeDatatypeNotSupported));
    QVERIFY(m_relay->closeReason().contains(QStringLiteral("text message")));
    QVERIFY(!m_far->hasPendingDatagrams());
}

void TestDatagramRelay::tooBigMessageIsDroppedAndCounted()
{
    QVERIFY(open({}));
    QSignalSpy dropped(m_relay.data(), &DatagramRelay::dropped);
    m_client->sendBinaryMessage(numbered(1, int(DatagramRelay::kMaxDatagramBytes) + 1));
    m_client->sendBinaryMessage(numbered(2, 3000));
    QVERIFY(waitFor([this] { return m_far->hasPendingDatagrams(); }));
    QCOMPARE(m_far->receiveDatagram().data(), numbered(2, 3000));
    QCOMPARE(m_relay->counters().droppedTooBig, 1);
    QCOMPARE(m_relay->counters().wsToUdp, 1);
    QCOMPARE(dropped.size(), 1);
    QCOMPARE(dropped.at(0).at(0).value<DatagramRelay::Direction>(),
             DatagramRelay::Direction::WsToUdp);
    QCOMPARE(dropped.at(0).at(1).value<DatagramRelay::DropReason>(),
             DatagramRelay::DropReason::TooBig);
    // The flow goes on.
    QCOMPARE(m_client->state(), QAbstractSocket::ConnectedState);
}

void TestDatagramRelay::slowWebSocketPeerKeepsQueueBoundedDroppingOldest()
{
    DatagramRelay::Options options;
    options.keepAliveIntervalMs = 0;
    QVERIFY(open(options, true));
    // The WebSocket peer reads nothing: Qt takes at most one byte from the kernel, whose buffers
    // fill (a few MiB on loopback), then the server's transport and the relay's queue. (A tiny
    // SO_RCVBUF would fill them sooner, but Linux then prunes loopback segments and retransmits
    // with back-off: reading again would crawl.)
    m_raw->setReadBufferSize(1);
    const auto udp = m_relay->findChild<QUdpSocket *>();
    QVERIFY(udp);
    constexpr int kSize = 1200;
    constexpr int kBatch = 32; // well within the relay's UDP receive buffer: none lost there
    quint32 sent = 0;
    // Sends until the queue drops; the kernel's buffers on loopback are a few MiB at most.
    while (m_relay->counters().droppedQueueFull == 0 && sent < 100000) {
        for (int i = 0; i < kBatch; ++i)
            m_far->writeDatagram(numbered(sent++, kSize), QHostAddress::LocalHost,
                                 udp->localPort());
        QVERIFY(waitFor([&] { return m_relay->counters().udpToWs == sent; }));
    }
    QVERIFY(m_relay->counters().droppedQueueFull > 0);
    // Then more: the oldest keep going, the newest stay queued.
    for (int i = 0; i < 4 * kBatch; ++i) {
        m_far->writeDatagram(numbered(sent++, kSize), QHostAddress::LocalHost, udp->localPort());
        if (i % kBatch == kBatch - 1)
            QVERIFY(waitFor([&] { return m_relay->counters().udpToWs == sent; }));
    }
    const DatagramRelay::Counters counters = m_relay->counters();
    QVERIFY2(counters.peakQueuedBytes <= options.queueBytes + kSize,
             qPrintable(QString::number(counters.peakQueuedBytes)));
    // Most of the bound is the queue, where the oldest go: the transport holds a quarter.
    QVERIFY(m_relay->queuedBytes() <= options.queueBytes);
    QVERIFY(m_relay->queuedBytes() >= options.queueBytes / 2);
    QVERIFY(counters.peakQueuedBytes >= options.queueBytes - kSize); // it did fill
    QCOMPARE(m_relay->queuedBytes(), qint64(m_relay->queuedDatagrams()) * kSize);
    const int queuedAtEnd = m_relay->queuedDatagrams();
    QVERIFY(queuedAtEnd > 0);

    // The peer reads again: every datagram not dropped arrives, in order, the newest last.
    m_raw->setReadBufferSize(0);
    QByteArray stream;
    QList<quint32> numbers;
    const auto parse = [&] {
        stream += m_raw->readAll();
        while (stream.size() >= 2) {
            const quint8 opcode = quint8(stream.at(0)) & 0x0F;
            qint64 length = quint8(stream.at(1)) & 0x7F;
            int header = 2;
            if (length == 126) {
                if (stream.size() < 4)
                    return;
                length = qFromBigEndian<quint16>(stream.constData() + 2);
                header = 4;
            } else if (length == 127) {
                return; // never for 1,200 bytes
            }
            if (stream.size() < header + length)
                return;
            if (opcode == 0x2 && length > 0)
                numbers.append(numberOf(stream.mid(header, int(length))));
            stream.remove(0, int(header + length));
        }
    };
    const bool got = waitFor([&] {
        parse();
        return !numbers.isEmpty() && numbers.last() == sent - 1;
    });
    QVERIFY2(got, qPrintable(QStringLiteral("%1 of %2 arrived").arg(numbers.size()).arg(sent)));
    QCOMPARE(qint64(numbers.size()) + counters.droppedQueueFull, qint64(sent));
    for (int i = 1; i < numbers.size(); ++i)
        QVERIFY(numbers.at(i) > numbers.at(i - 1));
    // What was dropped is the oldest of the queue: the newest, queued at the end, all arrived.
    for (int i = 0; i < queuedAtEnd; ++i)
        QCOMPARE(numbers.at(numbers.size() - 1 - int(i)), sent - 1 - quint32(i));
}

void TestDatagramRelay::idleFlowClosesWith1000Idle()
{
    DatagramRelay::Options options;
    options.idleTimeoutMs = 300;
    options.keepAliveIntervalMs = 50; // keep-alives do not keep a flow open
    QVERIFY(open(options));
    QSignalSpy finished(m_relay.data(), &DatagramRelay::finished);
    QSignalSpy closed(m_client.get(), &QWebSocket::disconnected);
    m_client->sendBinaryMessage("one");
    QVERIFY(waitFor([this] { return m_far->hasPendingDatagrams(); }));
    // The client sends keep-alives too: they do not count either.
    QTimer keepAlive;
    connect(&keepAlive, &QTimer::timeout, m_client.get(),
            [this] { m_client->sendBinaryMessage(QByteArray()); });
    keepAlive.start(20);
    QVERIFY(waitFor([&] { return finished.size() == 1 && closed.size() == 1; }));
    QCOMPARE(int(m_client->closeCode()), int(QWebSocketProtocol::CloseCodeNormal));
    QCOMPARE(m_client->closeReason(), QStringLiteral("idle"));
    QCOMPARE(m_relay->closeReason(), QStringLiteral("idle timeout"));
}

void TestDatagramRelay::keepAliveIsSentWhenSilent()
{
    DatagramRelay::Options options;
    options.keepAliveIntervalMs = 50;
    QVERIFY(open(options));
    QList<QByteArray> received;
    connect(m_client.get(), &QWebSocket::binaryMessageReceived, this,
            [&received](const QByteArray &message) { received.append(message); });
    QVERIFY(waitFor([&] { return received.size() >= 2; }));
    QVERIFY(received.at(0).isEmpty());
    QCOMPARE(m_relay->counters().udpToWs, 0);
}

TOW_TEST_MAIN(TestDatagramRelay)
#include "tst_datagramrelay.moc"

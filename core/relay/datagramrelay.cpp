#include "datagramrelay.h"

#include "logcategories.h"
#include "relaystate.h"

#include <QNetworkDatagram>
#include <QTimerEvent>
#include <QUdpSocket>
#include <QWebSocket>

DatagramRelay::DatagramRelay(QWebSocket *ws, QUdpSocket *udp, const Options &options,
                             const QString &description, QObject *parent)
    : QObject(parent), m_ws(ws), m_udp(udp), m_options(options), m_description(description)
{
    ws->setParent(this);
    // A longer message is refused (1009) while it arrives, never assembled: it could not be one
    // datagram anyway. Between kMaxDatagramBytes and this, it is assembled and dropped.
    ws->setMaxAllowedIncomingMessageSize(
        quint64(qMax(m_options.maxIncomingMessageBytes, kMaxDatagramBytes + 1)));
    ws->setMaxAllowedIncomingFrameSize(
        quint64(qMax(m_options.maxIncomingMessageBytes, kMaxDatagramBytes + 1)));
    connect(ws, &QWebSocket::binaryMessageReceived, this, &DatagramRelay::onBinaryMessage);
    connect(ws, &QWebSocket::textMessageReceived, this, &DatagramRelay::onTextMessage);
    connect(ws, &QWebSocket::bytesWritten, this, &DatagramRelay::pump);
    connect(ws, &QWebSocket::disconnected, this, &DatagramRelay::onWsDisconnected);
    if (m_udp) {
        m_udp->setParent(this);
        connect(m_udp, &QUdpSocket::readyRead, this, &DatagramRelay::onUdpReadyRead);
    }
    if (m_options.idleTimeoutMs > 0)
        m_idleTimer.start(m_options.idleTimeoutMs, this);
    if (m_options.keepAliveIntervalMs > 0)
        m_keepAliveTimer.start(m_options.keepAliveIntervalMs, this);
    qCDebug(lcRelay).noquote() << m_description << "- udp flow opened";
    if (ws->state() != QAbstractSocket::ConnectedState)
        QMetaObject::invokeMethod(this, &DatagramRelay::onWsDisconnected, Qt::QueuedConnection);
    else if (m_udp && m_udp->hasPendingDatagrams())
        QMetaObject::invokeMethod(this, &DatagramRelay::onUdpReadyRead, Qt::QueuedConnection);
}

DatagramRelay::~DatagramRelay()
{
    if (m_ws)
        m_ws->disconnect(this);
}

void DatagramRelay::setUdpPeer(const QHostAddress &address, quint16 port)
{
    m_peerAddress = address;
    m_peerPort = port;
}

void DatagramRelay::sendToWebSocket(const QByteArray &datagram)
{
    if (m_closing || m_finished)
        return;
    ++m_counters.udpToWs;
    Q_EMIT relayed(Direction::UdpToWs, 1, datagram.size());
    m_queue.push_back(datagram);
    m_queuedBytes += datagram.size();
    dataMoved();
    dropOldestToFit();
    pump();
}

void DatagramRelay::shutdown(const QString &reason)
{
    const auto frame = RelayState::shutdownClose();
    closeWs(frame.code, frame.reason, reason.isEmpty() ? RelayState::shutdownReason() : reason);
}

void DatagramRelay::closeIdle()
{
    closeWs(QWebSocketProtocol::CloseCodeNormal, QStringLiteral("idle"), RelayState::idleReason());
}

void DatagramRelay::timerEvent(QTimerEvent *event)
{
    if (event->timerId() == m_idleTimer.timerId()) {
        m_idleTimer.stop();
        closeIdle();
    } else if (event->timerId() == m_keepAliveTimer.timerId()) {
        // Restarted by every message we send: this fires only after an interval of silence.
        if (!m_closing && m_ws && m_ws->state() == QAbstractSocket::ConnectedState)
            m_ws->sendBinaryMessage(QByteArray());
    } else if (event->timerId() == m_closeTimer.timerId()) {
        m_closeTimer.stop();
        qCDebug(lcRelay).noquote() << m_description << "- no answer to our close: aborted";
        if (m_ws)
            m_ws->abort();
        onWsDisconnected();
    } else {
        QObject::timerEvent(event);
    }
}

void DatagramRelay::onBinaryMessage(const QByteArray &message)
{
    if (m_closing)
        return;
    if (message.isEmpty())
        return; // a keep-alive, never a datagram
    if (message.size() > kMaxDatagramBytes) {
        ++m_counters.droppedTooBig;
        Q_EMIT dropped(Direction::WsToUdp, DropReason::TooBig, 1);
        return;
    }
    if (m_udp) {
        // A UDP socket never holds datagrams back: the kernel takes one or, its buffer full,
        // refuses it, which is what a UDP sender expects; counted as a full queue.
        const qint64 written = m_peerPort != 0
            ? m_udp->writeDatagram(message, m_peerAddress, m_peerPort)
            : m_udp->write(message);
        if (written != message.size()) {
            ++m_counters.droppedSendFailed;
            Q_EMIT dropped(Direction::WsToUdp, DropReason::QueueFull, 1);
            return;
        }
    } else {
        Q_EMIT datagramForUdp(message);
    }
    ++m_counters.wsToUdp;
    Q_EMIT relayed(Direction::WsToUdp, 1, message.size());
    dataMoved();
}

void DatagramRelay::onTextMessage()
{
    const auto frame = RelayState::textMessageClose();
    closeWs(frame.code, frame.reason, RelayState::textMessageReason());
}

void DatagramRelay::onUdpReadyRead()
{
    if (!m_udp)
        return;
    qint64 count = 0;
    qint64 bytes = 0;
    while (m_udp->hasPendingDatagrams()) {
        const qint64 size = m_udp->pendingDatagramSize();
        QByteArray datagram(qMax<qint64>(size, 0), Qt::Uninitialized);
        QHostAddress sender;
        quint16 senderPort = 0;
        const qint64 read =
            m_udp->readDatagram(datagram.data(), datagram.size(), &sender, &senderPort);
        if (read < 0)
            break; // an error (e.g. the peer's port unreachable): reported, nothing to relay
        if (m_peerPort != 0 && (senderPort != m_peerPort || !sender.isEqual(m_peerAddress)))
            continue; // not from the destination: never relayed
        if (read == 0)
            continue; // no zero-length datagrams on the wire: an empty message is a keep-alive
        datagram.truncate(int(read));
        if (m_closing || m_finished)
            continue;
        ++count;
        bytes += read;
        m_queue.push_back(datagram);
        m_queuedBytes += read;
        dropOldestToFit();
    }
    if (count == 0)
        return;
    m_counters.udpToWs += count;
    Q_EMIT relayed(Direction::UdpToWs, count, bytes);
    dataMoved();
    pump();
}

qint64 DatagramRelay::transportUnsent() const
{
    return m_ws ? m_ws->bytesToWrite() : 0;
}

void DatagramRelay::dropOldestToFit()
{
    const qint64 room = m_options.queueBytes - transportUnsent();
    qint64 droppedNow = 0;
    while (!m_queue.empty() && m_queuedBytes > room) {
        m_queuedBytes -= m_queue.front().size();
        m_queue.pop_front();
        ++droppedNow;
    }
    m_counters.peakQueuedBytes =
        qMax(m_counters.peakQueuedBytes, m_queuedBytes + transportUnsent());
    if (droppedNow > 0) {
        m_counters.droppedQueueFull += droppedNow;
        Q_EMIT dropped(Direction::UdpToWs, DropReason::QueueFull, droppedNow);
    }
}

void DatagramRelay::pump()
{
    if (m_pumping || !m_ws || m_closing)
        return;
    m_pumping = true;
    // The transport takes datagrams only while it holds less than a quarter of the bound: the
    // rest waits here, where the oldest can still be dropped. (Handed to the transport, a
    // datagram can only be sent; a full transport would leave no room here, and every new
    // datagram would be dropped instead of the oldest.)
    while (!m_queue.empty() && m_ws->state() == QAbstractSocket::ConnectedState) {
        if (transportUnsent() >= m_options.queueBytes / 4)
            break;
        const QByteArray &front = m_queue.front();
        m_ws->sendBinaryMessage(front);
        m_queuedBytes -= front.size();
        m_queue.pop_front();
        m_counters.peakQueuedBytes =
            qMax(m_counters.peakQueuedBytes, m_queuedBytes + transportUnsent());
        if (m_options.keepAliveIntervalMs > 0)
            m_keepAliveTimer.start(m_options.keepAliveIntervalMs, this);
    }
    m_pumping = false;
}

void DatagramRelay::dataMoved()
{
    if (m_options.idleTimeoutMs > 0 && !m_closing)
        m_idleTimer.start(m_options.idleTimeoutMs, this);
}

void DatagramRelay::closeWs(int code, const QString &text, const QString &reason)
{
    if (m_closing || m_finished)
        return;
    m_closing = true;
    if (m_reason.isEmpty())
        m_reason = reason;
    m_idleTimer.stop();
    m_keepAliveTimer.stop();
    m_queuedBytes = 0;
    m_queue.clear();
    if (m_udp)
        m_udp->close();
    if (!m_ws || m_ws->state() != QAbstractSocket::ConnectedState) {
        onWsDisconnected();
        return;
    }
    m_ws->close(QWebSocketProtocol::CloseCode(code), text);
    if (m_options.closeTimeoutMs > 0)
        m_closeTimer.start(m_options.closeTimeoutMs, this);
}

void DatagramRelay::onWsDisconnected()
{
    if (m_finished)
        return;
    m_finished = true;
    m_closing = true;
    m_idleTimer.stop();
    m_keepAliveTimer.stop();
    m_closeTimer.stop();
    if (m_reason.isEmpty() && m_ws)
        m_reason = RelayState::peerCloseReason(int(m_ws->closeCode()), m_ws->closeReason());
    m_queue.clear();
    m_queuedBytes = 0;
    if (m_udp)
        m_udp->close();
    qCInfo(lcRelay).noquote() << m_description << "- udp flow closed:" << m_reason << "("
                              << m_counters.wsToUdp << "datagrams out," << m_counters.udpToWs
                              << "in,"
                              << m_counters.droppedQueueFull + m_counters.droppedTooBig
            + m_counters.droppedSendFailed
                              << "dropped)";
    Q_EMIT finished();
}

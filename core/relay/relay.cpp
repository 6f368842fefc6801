#include "relay.h"

#include "binaryframe.h"
#include "eventloop/socketerrorwatch.h"
#include "idlebuffers.h"
#include "logcategories.h"
#include "net/tcpkeepalive.h"
#include "websocketinternals.h"
#include "writethrough.h"

#include <QRandomGenerator>
#include <QScopedValueRollback>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTimerEvent>
#include <QWebSocket>
#include <cerrno>

namespace {

// Most payload bytes handed to TCP in one write: the frame reader's chunks.
constexpr qint64 kMaxWsReadChunkBytes = 1024 * 1024;

// Qt 6.4 to 6.8 (TlsCryptographOpenSSL::transmit) decrypt in pieces of this size and emit
// readyRead() for each, all in one pass over what the socket read.
constexpr qint64 kTlsDecryptPieceBytes = 4096;

// From this many bytes read from TCP on, a frame's payload is passed on without a copy
// (BinaryFrame::relay); below, one buffer and one write per frame keep small messages fast.
constexpr qint64 kLargeFrameBytes = 64 * 1024;

// Qt 6.4 defect: with a limited read buffer, a full buffer disables the read notifier until the
// buffer is read empty, which may never happen -> permanent stall. Changing the buffer size
// re-enables the notifier when there is room (alternating size and size - 1 forces the re-check);
// harmless when it is already enabled. Below the size, not above: a buffer that never holds more
// than the size is read whole, and QIODevice hands over a whole chunk without copying it (a
// buffer of size + 1 was read as size, copied, and left 1 byte to straddle the next chunk).
void restartReading(QAbstractSocket *socket, qint64 bufferBytes)
{
    if (socket->state() != QAbstractSocket::ConnectedState)
        return;
    const qint64 other = bufferBytes > 1 ? bufferBytes - 1 : bufferBytes + 1;
    socket->setReadBufferSize(socket->readBufferSize() == bufferBytes ? other : bufferBytes);
}

// Where the TCP side starts: connected, connecting (server side), or already gone (client side:
// the local peer left during the handshake; server side: not yet asked to connect).
RelayState::Tcp initialTcpState(const QTcpSocket *tcp)
{
    switch (tcp->state()) {
    case QAbstractSocket::ConnectedState:
        return RelayState::Tcp::Open;
    case QAbstractSocket::UnconnectedState:
        return RelayState::Tcp::Ended;
    default:
        return RelayState::Tcp::Connecting;
    }
}

} // namespace

Relay::Relay(QTcpSocket *tcp, QWebSocket *ws, QTcpSocket *serverTransport,
             const RelayOptions &options, const QString &description, QObject *parent)
    : QObject(parent),
      m_tcp(tcp),
      m_ws(ws),
      m_maskFrames(serverTransport == nullptr),
      m_options(options),
      m_description(description),
      m_reader(serverTransport ? FrameReader::Role::Server : FrameReader::Role::Client,
               options.maxIncomingFrameBytes, options.maxIncomingFrameBytes),
      m_state(initialTcpState(tcp))
{
    m_tcp->setParent(this);
    m_ws->setParent(this);
    m_age.start();

    // On the server side our server made the socket; on the client side QWebSocket did.
    m_transport = serverTransport ? static_cast<QAbstractSocket *>(serverTransport)
                                  : WebSocketInternals::transportOf(m_ws);
    // From here on frames are ours to read. If QWebSocket cannot be stopped from reading, the
    // tunnel is not relayed at all (it ends as if the WebSocket had closed).
    if (m_transport && !WebSocketInternals::stopReading(m_transport, m_ws))
        m_transport = nullptr;

    if (m_transport) {
        // What QWebSocket left in the buffer (on the client, frames that came right behind the
        // handshake, which it would parse as soon as its connected() returns) is taken now.
        if (m_transport->bytesAvailable() > 0)
            m_reader.prepend(m_transport->readAll());
        connect(m_transport, &QAbstractSocket::readyRead, this, &Relay::onTransportReadyRead);
        m_transport->setReadBufferSize(m_options.wsReadBufferBytes);
        // No delay and keep-alive with its timing, once per socket. The client's was opened by
        // QWebSocket, which switched on both (Qt 6.4 to 6.8, QWebSocketPrivate::open()); the
        // server's may have them from its listening socket.
        if (!serverTransport) {
            TcpKeepAlive::setTiming(m_transport);
        } else if (!m_options.acceptedSocketTuned) {
            m_transport->setSocketOption(QAbstractSocket::LowDelayOption, 1);
            TcpKeepAlive::enable(m_transport);
        }
        // Our server's answer to the upgrade waits in the write buffer: out now rather than when
        // the loop next finds the socket writable, which switches the write notifier on and off
        // again (two epoll_ctl calls and a pass per tunnel). Not TLS: QSslSocket::flush() also
        // decrypts, and frames would be read from inside this constructor.
        if (!qobject_cast<QSslSocket *>(m_transport.data()) && m_transport->bytesToWrite() > 0)
            m_transport->flush();
    }
    // TLS: QSslSocket (Qt 6.4) counts only bytes not yet encrypted in bytesToWrite(); encrypted
    // ones wait in its inner socket, unbounded, and only encryptedBytesWritten() reports them
    // leaving (QWebSocket passes that on as its bytesWritten()). Flow control and the close
    // timeout must see both.
    m_sslTransport = qobject_cast<QSslSocket *>(m_transport.data());
    m_reader.setAskPastBuffer(m_sslTransport != nullptr);
    // isPossible() refuses TLS sockets.
    m_wsWriteThrough = m_transport && WriteThrough::isPossible(m_transport);
    m_tcp->setReadBufferSize(m_options.tcpReadBufferBytes);

    if (m_tcp->state() != QAbstractSocket::ConnectedState)
        connect(m_tcp, &QTcpSocket::connected, this, &Relay::onTcpConnected);
    connect(m_tcp, &QTcpSocket::readyRead, this, &Relay::pumpTcpToWs);
    // channelBytesWritten(), not bytesWritten(): QAbstractSocket (Qt 6.4 to 6.8) leaves out of
    // bytesWritten() what it writes while a handler of it runs; this one reports every write,
    // which counts what reached the kernel.
    connect(m_tcp, &QTcpSocket::channelBytesWritten, this, &Relay::onTcpBytesWritten);
    connect(m_tcp, &QTcpSocket::disconnected, this, &Relay::onTcpDisconnected);
    connect(m_tcp, &QTcpSocket::errorOccurred, this, &Relay::onTcpError);

    // The transport's own signals, not QWebSocket's relays of them: each object with connections
    // costs memory, for every tunnel. TLS: what counts as written is what left encrypted (as
    // QWebSocket reports it too).
    if (m_sslTransport)
        connect(m_sslTransport, &QSslSocket::encryptedBytesWritten, this, &Relay::onWsBytesWritten);
    else if (m_transport)
        connect(m_transport, &QAbstractSocket::bytesWritten, this, &Relay::onWsBytesWritten);
    if (m_transport) {
        connect(m_transport, &QAbstractSocket::disconnected, this, &Relay::onTransportDisconnected);
        // The flush of the upgrade's answer above aborts a socket the client reset before it
        // went out, and said so before anyone listened: told later, from the loop, not from
        // inside this constructor.
        if (m_transport->state() == QAbstractSocket::UnconnectedState)
            QMetaObject::invokeMethod(this, &Relay::onTransportDisconnected, Qt::QueuedConnection);
    }

    qCInfo(lcRelay).noquote() << "tunnel opened" << m_description;

    if (m_state.tcp() == RelayState::Tcp::Open) {
        // The client's TCP socket was accepted, maybe with them already; the server's was
        // connected (a dynamic route's destination).
        if (!(m_maskFrames && m_options.acceptedSocketTuned)) {
            m_tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
            TcpKeepAlive::enable(m_tcp);
        }
        m_tcpWriteThrough = WriteThrough::isPossible(m_tcp);
        watchTcpErrors();
    }
    m_sinceData.start();
    m_tcpProgress.start();
    m_wsProgress.start();
    if (RelayState::watchIntervalMs(m_options) > 0)
        m_watchTimer.start(RelayState::watchIntervalMs(m_options), this);
    if (m_options.idleTimeoutMs > 0)
        m_idleTimer.start(m_options.idleTimeoutMs, this);
    scheduleBufferRelease(); // the handshake used the transport's

    // Bytes may already wait on either side (client side: sent during the handshake).
    QMetaObject::invokeMethod(
        this,
        [this] {
            // Client side: the local peer may have sent everything and left during the handshake.
            if (m_state.tcpEnded())
                onTcpDisconnected();
            else
                pumpTcpToWs();
            readWsFrames();
            if (!m_transport || m_ws->state() == QAbstractSocket::UnconnectedState)
                onWsDisconnected();
        },
        Qt::QueuedConnection);
}

void Relay::timerEvent(QTimerEvent *event)
{
    const int id = event->timerId();
    if (id == m_watchTimer.timerId()) {
        m_watchTimer.stop();
        watch();
    } else if (id == m_idleTimer.timerId()) {
        m_idleTimer.stop();
        checkIdle();
    } else if (id == m_releaseTimer.timerId()) {
        m_releaseTimer.stop();
        releaseIdleBuffers();
    } else if (id == m_closeTimer.timerId()) {
        // While closing, a side is given up only when it makes no progress: a slow peer still
        // reading its last bytes must get them all (aborting would drop what is still queued).
        checkCloseProgress();
    } else {
        QObject::timerEvent(event);
    }
}

Relay::~Relay()
{
    // Sockets are children; make sure none of their signals reach us half-destroyed.
    m_tcp->disconnect(this);
    m_ws->disconnect(this);
    if (m_transport)
        m_transport->disconnect(this);
    takeTcpError(); // stop watching, if the socket never reported its close
}

qint64 Relay::wsQueuedBytes() const
{
    if (!m_transport)
        return 0;
    return m_transport->bytesToWrite()
        + (m_sslTransport ? m_sslTransport->encryptedBytesToWrite() : 0);
}

void Relay::connectTcp(const QString &host, quint16 port)
{
    m_state.tcpConnecting();
    m_tcp->connectToHost(host, port);
}

void Relay::shutdown(const QString &reason)
{
    if (m_state.isFinished())
        return;
    m_state.setReason(reason.isEmpty() ? RelayState::shutdownReason() : reason);
    closeWs(RelayState::shutdownClose());
    closeTcpAfterFlush();
}

void Relay::onTcpConnected()
{
    m_state.tcpConnected();
    m_tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    TcpKeepAlive::enable(m_tcp);
    m_tcpWriteThrough = WriteThrough::isPossible(m_tcp);
    watchTcpErrors();
    if (m_state.wsEnded())
        closeTcpAfterFlush();
    pumpTcpToWs();
}

// ---- TCP -> WebSocket ----------------------------------------------------------------------

void Relay::pumpTcpToWs()
{
    // Writing may report bytes written at once (flush), which comes back here: the loop below
    // goes on anyway.
    if (m_pumping)
        return;
    const QScopedValueRollback<bool> pumping(m_pumping, true);
    if (m_state.wsClosing() || m_state.wsEnded()) {
        // Nobody to deliver to any more: discard, so the TCP peer is not stuck on a full buffer.
        if (m_tcp->bytesAvailable() > 0)
            m_tcp->skip(m_tcp->bytesAvailable());
        return;
    }
    const bool bufferWasFull = m_tcp->bytesAvailable() >= m_tcp->readBufferSize();
    if (wsQueuedBytes() == 0)
        m_wsProgress.restart(); // a stall counts from when bytes wait
    qint64 moved = 0;
    while (m_tcp->bytesAvailable() > 0) {
        // Stop reading while the WebSocket peer is slow: the TCP read buffer fills up and the
        // kernel pushes back on the sender. After TCP has ended too: its tail then waits in the
        // read buffer (bounded) until the peer takes it, and the close frame waits behind it.
        if (wsQueuedBytes() >= m_options.highWatermarkBytes)
            break;
        // Reading the buffer empty makes QAbstractSocket re-enable its read notifier.
        const qint64 payload = sendToWs();
        if (payload <= 0)
            break;
        moved += payload;
    }
    if (bufferWasFull)
        restartReading(m_tcp, m_options.tcpReadBufferBytes);
    if (moved > 0) {
        scheduleBufferRelease();
        Q_EMIT transferred(moved, 0);
    }
    if (m_state.wsCloseAfterTail() && m_tcp->bytesAvailable() == 0) {
        closeWs(m_state.tailClose());
        checkFinished();
    }
}

qint64 Relay::sendToWs()
{
    if (!m_transport || m_transport->state() != QAbstractSocket::ConnectedState)
        return 0;
    // One final binary frame per chunk (see BinaryFrame). A client masks every frame with a
    // fresh key, as RFC 6455 5.3 requires.
    const quint32 key = nextMaskingKey();
    qint64 payload = 0;
    bool inKernel = false; // written to the kernel at once: nothing to flush
    if (m_tcp->bytesAvailable() >= kLargeFrameBytes) {
        // Large: the payload is not copied, the header goes ahead of it in a write of its own.
        payload = BinaryFrame::relay(m_tcp, m_transport, m_options.maxOutgoingFrameBytes,
                                     m_maskFrames, key);
    } else {
        // Small (an echo, a keystroke): header and payload in one buffer, one write.
        const QByteArray frame = BinaryFrame::readFrom(m_tcp, m_options.maxOutgoingFrameBytes,
                                                       m_maskFrames, key, &payload);
        // Straight to the kernel while nothing is queued (plain ws://): no copy, no chunk kept.
        if (payload > 0 && m_wsWriteThrough)
            inKernel = WriteThrough::write(m_transport, frame);
        else if (payload > 0)
            m_transport->write(frame);
    }
    if (payload <= 0)
        return 0;
    // Now rather than on the next turn of the event loop, when the socket would be found
    // writable: one poll round less per message, which is much of an echo's latency. Not for
    // TLS: QSslSocket::flush() also decrypts, and the readyRead() that follows would read frames
    // inside whatever called us.
    if (!m_sslTransport && !inKernel)
        m_transport->flush();
    // Counted as queued towards the peer, not as written to the kernel (as the other direction
    // is): the transport's bytesWritten() counts frame bytes, headers and our control frames
    // among them, so telling payload apart would take a record per frame queued. A tunnel that
    // ends with bytes queued towards a peer that took none for the stall timeout counts up to the
    // high watermark more than reached it.
    m_bytesTcpToWs += payload;
    m_sinceData.restart();
    m_peakWsQueued = qMax(m_peakWsQueued, wsQueuedBytes());
    return payload;
}

quint32 Relay::nextMaskingKey() const
{
    // A client masks every frame with a fresh key (RFC 6455 5.3); a server does not mask.
    return m_maskFrames ? QRandomGenerator::global()->generate() : 0;
}

void Relay::writeWsFrame(quint8 opcode, const QByteArray &payload)
{
    if (!m_transport || m_transport->state() != QAbstractSocket::ConnectedState)
        return;
    const QByteArray frame = BinaryFrame::frame(opcode, payload, m_maskFrames, nextMaskingKey());
    if (wsQueuedBytes() == 0)
        m_wsProgress.restart();
    // Keep-alives, pongs and close frames are small: straight to the kernel when nothing waits.
    if (m_wsWriteThrough)
        WriteThrough::write(m_transport, frame);
    else
        m_transport->write(frame);
    scheduleBufferRelease();
}

void Relay::watch()
{
    // Closing has its own watch (checkCloseProgress).
    if (m_state.wsClosing() || m_state.wsEnded() || m_state.isFinished())
        return;
    RelayState::Clocks clocks;
    clocks.tcpQueuedBytes = m_state.tcpIsConnecting() ? 0 : m_tcp->bytesToWrite();
    clocks.tcpSinceProgressMs = m_tcpProgress.elapsed();
    clocks.wsQueuedBytes = wsQueuedBytes();
    clocks.wsSinceProgressMs = m_wsProgress.elapsed();
    clocks.sinceDataMs = m_sinceData.elapsed();
    const RelayState::Watch watch = RelayState::watch(clocks, m_state.wsReadPaused(), m_options);
    switch (watch.action) {
    case RelayState::WatchAction::CloseTcpStalled:
    case RelayState::WatchAction::CloseWsStalled:
        closeStalled(watch.action);
        return;
    case RelayState::WatchAction::Ping:
        qCDebug(lcRelay).noquote() << m_description << "tcp side stalled for"
                                   << clocks.tcpSinceProgressMs << "ms, ping the peer";
        writeWsFrame(BinaryFrame::kPing, QByteArray());
        break;
    case RelayState::WatchAction::KeepAlive:
        writeWsFrame(BinaryFrame::kBinary, QByteArray());
        break;
    case RelayState::WatchAction::None:
        break;
    }
    if (watch.nextMs > 0)
        m_watchTimer.start(watch.nextMs, this);
}

void Relay::closeStalled(RelayState::WatchAction stall)
{
    const bool tcpStalled = stall == RelayState::WatchAction::CloseTcpStalled;
    const QString side = tcpStalled ? QStringLiteral("tcp") : QStringLiteral("websocket");
    const qint64 queued = tcpStalled ? m_tcp->bytesToWrite() : wsQueuedBytes();
    m_state.setReason(RelayState::stallReason(stall, m_options));
    qCWarning(lcRelay).noquote() << m_description << "- the" << side << "peer took none of the"
                                 << queued << "bytes queued for it for"
                                 << m_options.stallTimeoutMs / 1000 << "s - closing the tunnel";
    if (tcpStalled) {
        // The WebSocket peer is told why; what TCP did not take is dropped with its socket.
        closeWs(RelayState::tcpStalledClose());
        m_tcp->abort();
    } else {
        // A close frame would wait behind what the peer does not read: the socket goes now,
        // TCP gets what it was sent before.
        m_ws->abort();
        if (m_transport)
            m_transport->abort();
    }
    checkFinished();
}

void Relay::checkIdle()
{
    // Data only restarts a clock (cheap on every chunk); the timer checks it when it fires.
    const qint64 remainingMs = m_options.idleTimeoutMs - m_sinceData.elapsed();
    if (remainingMs > 0) {
        m_idleTimer.start(int(remainingMs), this);
        return;
    }
    if (m_state.wsClosing() || m_state.tcpClosing() || m_state.isFinished())
        return;
    m_state.setReason(RelayState::idleReason());
    qCInfo(lcRelay).noquote() << m_description << "closed: no data for"
                              << m_options.idleTimeoutMs / 1000 << "s";
    closeWs(RelayState::idleClose());
    closeTcpAfterFlush();
}

void Relay::scheduleBufferRelease()
{
    // Not restarted on every use, which would cost a timer registration per message: when it
    // fires, a tunnel whose data still moves looks again later (releaseIdleBuffers).
    if (!m_releaseTimer.isActive() && !m_state.isFinished() && m_options.bufferReleaseDelayMs > 0)
        m_releaseTimer.start(m_options.bufferReleaseDelayMs, this);
}

void Relay::releaseIdleBuffers()
{
    // As checkIdle(): data restarts a clock, the timer reads it. Keep-alives and pongs do not
    // count: buffers they used are given back at once.
    const qint64 remainingMs = m_options.bufferReleaseDelayMs - m_sinceData.elapsed();
    if (remainingMs > 0) {
        m_releaseTimer.start(int(remainingMs), this);
        return;
    }
    // While paused or closing, buffers are in use, and soon gone anyway.
    if (m_state.wsReadPaused() || m_state.wsClosing() || m_state.tcpClosing()
        || m_state.isFinished())
        return;
    const bool tcpReleased = IdleBuffers::release(m_tcp);
    const bool wsReleased = IdleBuffers::release(m_transport);
    if (tcpReleased || wsReleased) {
        ++m_bufferReleases;
        IdleBuffers::returnFreedPages();
    }
}

void Relay::onWsBytesWritten()
{
    m_wsProgress.restart();
    if (m_state.wsClosesWhenWritten())
        closeTransportAfterWrite();
    resumeWsReading();
    if (wsQueuedBytes() <= m_options.lowWatermarkBytes && m_tcp->bytesAvailable() > 0)
        pumpTcpToWs();
}

// ---- WebSocket -> TCP ----------------------------------------------------------------------

void Relay::onTransportReadyRead()
{
    // Less than a piece waiting is a whole small message (an echo, a keystroke): read now. A full
    // piece means more may follow in the same pass: reading each piece as it is signalled made
    // one TCP write and one turn of the frame reader per 4 KiB, most of the CPU a bulk download
    // took. Read once the pass is over instead, all of it in one batch. Memory stays bounded:
    // QSslSocket stops feeding its decrypter once its buffer holds the read buffer size.
    if (!m_sslTransport || m_sslTransport->bytesAvailable() < kTlsDecryptPieceBytes) {
        readWsFrames();
        return;
    }
    if (m_tlsReadQueued)
        return;
    m_tlsReadQueued = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_tlsReadQueued = false;
            readWsFrames();
        },
        Qt::QueuedConnection);
}

void Relay::readWsFrames()
{
    if (m_reading || !m_transport || m_reader.isFinished())
        return;
    const QScopedValueRollback<bool> reading(m_reading, true);
    const bool bufferWasFull = m_transport->bytesAvailable() >= m_transport->readBufferSize();
    if (m_tcp->bytesToWrite() == 0)
        m_tcpProgress.restart(); // a stall counts from when bytes wait
    qint64 accepted = 0;
    qint64 written = 0; // to the kernel at once (WriteThrough); what Qt writes: onTcpBytesWritten
    bool anyFrame = false;
    while (!m_reader.isFinished()) {
        // Held back while TCP is slow: the transport's read buffer fills up and the kernel pushes
        // back on the peer. And while our answers (pongs) pile up unread: a ping flood from a
        // peer that reads nothing must not grow the write queue. Once the transport is closed
        // its last frames are read in one go (bounded by its read buffer).
        if (m_state.wsReadPaused())
            break;
        if (m_state.wsReadMayHoldBack()) {
            if (m_tcp->bytesToWrite() >= m_options.highWatermarkBytes
                || wsQueuedBytes()
                    > m_options.highWatermarkBytes + m_options.maxOutgoingFrameBytes) {
                pauseWsReading();
                break;
            }
        }
        const qint64 room = !m_state.wsReadMayHoldBack()
            ? kMaxWsReadChunkBytes
            : qMin(kMaxWsReadChunkBytes, m_options.highWatermarkBytes - m_tcp->bytesToWrite());
        FrameReader::Event event = m_reader.next(m_transport, room);
        if (event.kind == FrameReader::Event::Kind::NeedMore)
            break;
        anyFrame = true;
        if (!handleWsEvent(event, &accepted, &written))
            break;
    }
    // Written once per batch, not per frame: peers like the original send 1 KiB frames.
    // Re-entry is harmless here: flush() may report bytes written, and a nested read returns at
    // once (m_reading) while resuming only schedules one.
    if (accepted > written && m_tcp->state() == QAbstractSocket::ConnectedState)
        m_tcp->flush();
    if (written > 0)
        Q_EMIT transferred(0, written);
    if (anyFrame) {
        scheduleBufferRelease();
        Q_EMIT wsFramesReceived();
    }
    if (bufferWasFull && m_transport)
        restartReading(m_transport, m_options.wsReadBufferBytes);
    if (m_endWsAfterRead) {
        m_endWsAfterRead = false;
        endWs();
    }
}

bool Relay::handleWsEvent(FrameReader::Event &event, qint64 *accepted, qint64 *written)
{
    using Kind = FrameReader::Event::Kind;
    // A close or a broken frame read after the transport closed was sent before it: that, not
    // the 1006 set at the close, is why the tunnel ends.
    const bool endsWithFrame =
        event.kind == Kind::Close || event.kind == Kind::Text || event.kind == Kind::Error;
    const bool replacesReason = endsWithFrame && m_state.frameEndsWs();
    switch (event.kind) {
    case Kind::NeedMore:
        return false;
    case Kind::Data:
        // An empty message is a keep-alive. After TCP is gone nothing can be delivered any more
        // (the WebSocket is being closed).
        if (!event.payload.isEmpty() && m_state.tcpTakesData()) {
            const qint64 size = event.payload.size();
            // The last frame there is (a keystroke, an answer) goes straight to the kernel when
            // it is small and nothing is queued; inside a batch frames are queued and written
            // together. 4 KiB and more are queued as they are: no copy.
            // What is relayed is what the kernel takes: here at once, or as Qt writes it
            // (onTcpBytesWritten); not what a remote that stopped reading never gets.
            if (m_tcpWriteThrough && m_transport->bytesAvailable() == 0
                && m_reader.bufferedBytes() == 0) {
                WriteThrough::Outcome outcome;
                WriteThrough::write(m_tcp, event.payload, &outcome);
                m_bytesWsToTcp += outcome.bytesInKernel;
                *written += outcome.bytesInKernel;
                // Our own write met the reset (and took the error from the kernel): Qt's next
                // one reports a close.
                if (outcome.error == ECONNRESET && m_tcpSocketError == 0)
                    m_tcpSocketError = ECONNRESET;
            } else {
                m_tcp->write(event.payload);
            }
            m_bytesWsAccepted += size;
            *accepted += size;
            m_sinceData.restart();
            m_peakTcpQueued = qMax(m_peakTcpQueued, m_tcp->bytesToWrite());
        }
        return true;
    case Kind::Ping:
        if (!m_state.wsClosing())
            writeWsFrame(BinaryFrame::kPong, event.payload);
        return true;
    case Kind::Pong:
        Q_EMIT pongReceived();
        return true;
    case Kind::Close: {
        RelayState::CloseFrame answer;
        if (m_state.peerClosed(event.closeCode, event.closeReason, replacesReason, &answer))
            closeWs(answer);
        closeTransportAfterWrite();
        endWs();
        return false;
    }
    case Kind::Text:
        m_state.setReason(RelayState::textMessageReason());
        failWs(RelayState::textMessageClose(),
               QStringLiteral("received a text message; only binary messages carry data"));
        return false;
    case Kind::Error:
        failWs(RelayState::brokenFrameClose(event.closeCode), event.errorText);
        return false;
    }
    return false;
}

void Relay::failWs(const RelayState::CloseFrame &frame, const QString &logText)
{
    // RFC 6455 7.1.7: the peer broke the protocol; close at once, read nothing more.
    m_state.setReason(RelayState::brokenFrameReason(logText));
    qCWarning(lcRelay).noquote() << m_description << "-" << logText << "- closing with"
                                 << frame.code;
    closeWs(frame);
    closeTransportAfterWrite();
    endWs();
}

void Relay::pauseWsReading()
{
    if (!m_state.pauseWsRead())
        return;
    qCDebug(lcRelay).noquote() << m_description << "pause reading the websocket at"
                               << m_tcp->bytesToWrite() << "bytes queued to tcp," << wsQueuedBytes()
                               << "to the websocket";
}

void Relay::resumeWsReading()
{
    // Once TCP has taken its queue down to the low watermark, and our own answers (pongs) are
    // below the high one.
    if (!m_state.wsReadPaused() || m_tcp->bytesToWrite() > m_options.lowWatermarkBytes
        || wsQueuedBytes() > m_options.highWatermarkBytes)
        return;
    m_state.resumeWsRead();
    qCDebug(lcRelay).noquote() << m_description << "resume reading the websocket at"
                               << m_tcp->bytesToWrite() << "bytes queued to tcp";
    // Queued: resuming is asked from inside bytesWritten() reports, which may come from our own
    // flush() while frames are read.
    scheduleWsRead();
}

void Relay::scheduleWsRead()
{
    if (m_wsReadPending)
        return;
    m_wsReadPending = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_wsReadPending = false;
            if (m_state.wsReadPaused())
                return;
            readWsFrames();
            kickTransport();
        },
        Qt::QueuedConnection);
}

void Relay::kickTransport()
{
    if (!m_transport || m_transport->state() != QAbstractSocket::ConnectedState)
        return;
    // TLS (Qt 6.4): QSslSocket decrypts from its inner TCP socket only in transmit(), which runs
    // when that socket reads or when we read its decrypted buffer. While we were paused the
    // inner socket's buffer may have filled up, and then nothing runs transmit() again. flush()
    // runs it.
    if (m_sslTransport)
        m_sslTransport->flush();
    // A buffer left full while paused keeps its read notifier off (see restartReading); for TLS
    // this also re-enables the inner socket (QSslSocket passes the size on).
    restartReading(m_transport, m_options.wsReadBufferBytes);
}

// ---- Closing -------------------------------------------------------------------------------

void Relay::onTcpBytesWritten(int channel, qint64 bytes)
{
    Q_UNUSED(channel); // TCP has one
    m_bytesWsToTcp += bytes;
    Q_EMIT transferred(0, bytes);
    m_tcpProgress.restart();
    resumeWsReading();
    checkFinished();
}

void Relay::watchTcpErrors()
{
    const qintptr descriptor = m_tcp->socketDescriptor();
    if (SocketErrorWatch::start(descriptor, this))
        m_tcpWatchedDescriptor = descriptor;
}

void Relay::takeTcpError()
{
    if (m_tcpWatchedDescriptor < 0)
        return;
    const int error = SocketErrorWatch::take(m_tcpWatchedDescriptor, this);
    m_tcpWatchedDescriptor = -1;
    if (m_tcpSocketError == 0)
        m_tcpSocketError = error;
}

bool Relay::tcpWasReset() const
{
    return m_tcpSocketError == ECONNRESET;
}

void Relay::onTcpDisconnected()
{
    // Qt reports a reset as RemoteHostClosedError, as a normal close (see SocketErrorWatch); the
    // error the event loop recorded tells them apart, where it can (RelayState::tcpDisconnected).
    takeTcpError();
    RelayState::TcpEnd how;
    how.socketError = m_tcpSocketError;
    how.closedByPeer = m_tcp->error() == QAbstractSocket::RemoteHostClosedError
        || m_tcp->error() == QAbstractSocket::UnknownSocketError;
    if (!how.closedByPeer)
        how.errorText = m_tcp->errorString();
    if (!m_state.tcpDisconnected(how))
        return; // already handled (onTcpError and disconnected() both come here)
    // Every byte TCP delivered goes to the WebSocket before it is closed: the close frame
    // follows once pumpTcpToWs() has queued the tail, as the peer takes it.
    if (m_transport && m_transport->state() == QAbstractSocket::ConnectedState
        && m_state.wsCloseAfterTail() && !m_state.wsEnded())
        m_closeTimer.start(m_options.closeTimeoutMs, this);
    pumpTcpToWs();
    checkFinished();
}

void Relay::onTcpError()
{
    const auto error = m_tcp->error();
    if (m_state.tcpIsConnecting()) {
        // Server side: the remote could not be reached.
        const QString text = m_tcp->errorString();
        const RelayState::CloseFrame close = m_state.tcpUnreachable(text);
        qCWarning(lcRelay).noquote() << m_description << "cannot connect to the remote:" << text;
        Q_EMIT tcpConnectFailed(text);
        closeWs(close);
        checkFinished();
        return;
    }
    if (error != QAbstractSocket::RemoteHostClosedError)
        m_state.setReason(QStringLiteral("tcp error: %1").arg(m_tcp->errorString()));
    // disconnected() follows for a connected socket.
    if (m_tcp->state() == QAbstractSocket::UnconnectedState && !m_state.tcpEnded())
        onTcpDisconnected();
}

void Relay::onWsDisconnected()
{
    const bool paused = m_state.wsReadPaused();
    // Unless the peer's close frame (or a broken one) is among the frames still to read, held
    // back for a slow TCP reader, the reason is 1006 (see RelayState::wsTransportClosed).
    if (!m_state.wsTransportClosed())
        return;
    qCDebug(lcRelay).noquote() << m_description << "websocket disconnected, paused" << paused
                               << "buffered" << (m_transport ? m_transport->bytesAvailable() : -1)
                               << "error" << (m_transport ? m_transport->errorString() : QString());
    m_watchTimer.stop();
    // The transport may still hold frames (read while paused, or just decrypted). They are read
    // now, not in a queued call: QWebSocketServer deletes the socket behind a disconnect
    // (deleteLater), which may come first, and takes the bytes with it. Then the TCP side gets
    // every byte before it is closed. Inside a read (our own write found the socket gone) that
    // read goes on with the rest and ends the WebSocket side after.
    if (m_sslTransport && !m_reading) {
        // TLS (Qt 6.4): QSslSocket may still be decrypting what its inner socket holds as it
        // reports the disconnect. What it has decrypted is read now; the WebSocket side ends in
        // a queued call (onTransportDisconnected), after whatever QSslSocket delivers with it.
        readWsFrames();
        QMetaObject::invokeMethod(this, &Relay::onTransportDisconnected, Qt::QueuedConnection);
        return;
    }
    readRestAndEndWs();
}

void Relay::readRestAndEndWs()
{
    if (m_reading) {
        m_endWsAfterRead = true; // the read in progress goes on with the rest, then ends
        return;
    }
    readWsFrames();
    endWs();
}

void Relay::onTransportDisconnected()
{
    if (m_state.wsEnded()) {
        checkFinished(); // the close frame ended the WebSocket side; now its socket is gone too
        return;
    }
    if (m_state.wsRead() != RelayState::WsRead::Draining) {
        onWsDisconnected(); // QWebSocket did not report it (first)
        return;
    }
    readRestAndEndWs();
}

void Relay::endWs()
{
    // Also when the close frame ended the WebSocket side before its socket closed: the tunnel
    // finishes with the socket, not at the close timeout.
    if (m_state.endWsRead())
        closeTcpAfterFlush();
    checkFinished();
}

void Relay::closeWs(const RelayState::CloseFrame &frame)
{
    if (!m_state.closeWs())
        return;
    m_watchTimer.stop();
    if (!m_transport || m_transport->state() != QAbstractSocket::ConnectedState)
        return;
    // Behind the frames already queued; its closing clock is m_wsProgress, as for data.
    writeWsFrame(BinaryFrame::kClose, RelayState::closePayload(frame));
    m_closeTimer.start(m_options.closeTimeoutMs, this);
}

void Relay::closeTransportAfterWrite()
{
    // The closing handshake is over (or the peer broke the protocol): the transport closes once
    // everything queued, encrypted bytes included, has gone out.
    m_state.wsCloseDone();
    if (!m_transport || m_transport->state() != QAbstractSocket::ConnectedState
        || wsQueuedBytes() > 0)
        return;
    m_state.wsTransportClosing();
    m_transport->disconnectFromHost();
}

void Relay::closeTcpAfterFlush()
{
    if (!m_state.closeTcp())
        return; // already closing, or onTcpConnected() comes back here
    if (m_tcp->state() != QAbstractSocket::UnconnectedState) {
        if (m_tcp->bytesToWrite() == 0)
            m_tcpProgress.restart(); // nothing waits: no stall so far
        // disconnectFromHost() waits until the write buffer is empty.
        m_tcp->disconnectFromHost();
        if (!m_closeTimer.isActive() && m_tcp->state() != QAbstractSocket::UnconnectedState)
            m_closeTimer.start(m_options.closeTimeoutMs, this);
    }
}

void Relay::checkCloseProgress()
{
    if (m_state.wsClosesWhenWritten())
        closeTransportAfterWrite();
    // Both sides are judged alike (RelayState::closeTimedOut), each by the clock of the last
    // bytes it took. The WebSocket: the close frame sits behind the queued data (and, after TCP
    // ended, behind TCP's tail); once all is written the peer has closeTimeoutMs to answer it.
    if ((m_state.wsClosing() || m_state.wsCloseAfterTail())
        && m_ws->state() != QAbstractSocket::UnconnectedState) {
        const qint64 pending =
            wsQueuedBytes() + (m_state.wsCloseAfterTail() ? m_tcp->bytesAvailable() : 0);
        if (RelayState::closeTimedOut(pending, m_wsProgress.elapsed(), m_options)) {
            m_state.setReason(RelayState::wsCloseTimedOutReason());
            m_ws->abort();
        }
    }
    // TCP: disconnectFromHost() closes once the queue is written; a reader that has taken
    // nothing for closeStallTimeoutMs is gone, counted from before the close when it stalled
    // then.
    if (m_state.tcpClosing() && m_tcp->state() != QAbstractSocket::UnconnectedState) {
        if (RelayState::closeTimedOut(m_tcp->bytesToWrite(), m_tcpProgress.elapsed(), m_options)) {
            m_state.setReason(RelayState::tcpCloseTimedOutReason());
            m_tcp->abort();
        }
    }
    if (m_ws->state() == QAbstractSocket::UnconnectedState
        && m_tcp->state() == QAbstractSocket::UnconnectedState)
        m_closeTimer.stop();
    checkFinished();
}

void Relay::checkFinished()
{
    if (m_state.isFinished())
        return;
    if (m_ws->state() != QAbstractSocket::UnconnectedState
        || m_tcp->state() != QAbstractSocket::UnconnectedState)
        return;
    if (!m_state.wsEnded()) {
        // Both sockets are closed: deliver whatever the WebSocket still holds, then finish.
        if (m_reading)
            return; // the read in progress ends the WebSocket side, which comes back here
        m_state.drainWs();
        readWsFrames();
        if (m_state.isFinished())
            return; // a close or bad frame in there ended the WebSocket side, and so the tunnel
        m_state.endWsRead();
    }
    m_state.finish();
    m_watchTimer.stop();
    m_closeTimer.stop();
    m_idleTimer.stop();
    m_releaseTimer.stop();
    // The tunnel is deleted next. What it freed (its queues of up to a few MiB towards a slow
    // reader as they were written, then its objects) goes back to the system a second later,
    // with what other tunnels freed meanwhile. Otherwise glibc keeps the pages, and a process
    // stays at the peak of a burst for good.
    IdleBuffers::returnFreedPages();
    // Bytes the WebSocket peer sent that never reached the TCP side's kernel (a remote that
    // stopped reading, or that went away), said only when there are any.
    const qint64 notWritten = m_bytesWsAccepted - m_bytesWsToTcp;
    const QString unwritten = notWritten > 0
        ? QStringLiteral(" (%1 more received, not written)").arg(notWritten)
        : QString();
    qCInfo(lcRelay).noquote().nospace()
        << "tunnel closed " << m_description << ": " << m_bytesTcpToWs << " bytes tcp->ws, "
        << m_bytesWsToTcp << " bytes ws->tcp" << unwritten << ", " << m_age.elapsed()
        << " ms, peak queued " << m_peakWsQueued << " to ws / " << m_peakTcpQueued << " to tcp, "
        << (m_state.reason().isEmpty() ? QStringLiteral("closed") : m_state.reason());
    QMetaObject::invokeMethod(this, &Relay::finished, Qt::QueuedConnection);
}

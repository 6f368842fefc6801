#include "relay.h"

#include "binaryframe.h"
#include "logcategories.h"
#include "pausabletransport.h"

#include <QRandomGenerator>
#include <QScopedValueRollback>
#include <QSslSocket>
#include <QTcpSocket>
#include <QWebSocket>

namespace {

// A peer that reads nothing of the last bytes for this long while we close is given up.
constexpr qint64 kStalledCloseMs = 60000;

// While a client-side relay is paused, how often the TCP -> WebSocket direction is re-checked.
constexpr int kPausePollMs = 20;

QString closeCodeText(QWebSocketProtocol::CloseCode code)
{
    return QString::number(int(code));
}

// Qt 6.4 defect: with a limited read buffer, a full buffer disables the read notifier until the
// buffer is read empty, which may never happen -> permanent stall. Changing the buffer size
// re-enables the notifier when there is room (alternating size and size + 1 forces the re-check);
// harmless when it is already enabled.
void restartReading(QAbstractSocket *socket, qint64 bufferBytes)
{
    if (socket->state() != QAbstractSocket::ConnectedState)
        return;
    socket->setReadBufferSize(socket->readBufferSize() == bufferBytes ? bufferBytes + 1
                                                                      : bufferBytes);
}

} // namespace

Relay::Relay(QTcpSocket *tcp, QWebSocket *ws, QTcpSocket *serverTransport,
             const RelayOptions &options, const QString &description, QObject *parent)
    : QObject(parent),
      m_tcp(tcp),
      m_ws(ws),
      m_serverTransport(serverTransport),
      m_pausable(dynamic_cast<PausableTransport *>(serverTransport)),
      m_serverSide(m_pausable != nullptr),
      m_maskFrames(serverTransport == nullptr),
      m_options(options),
      m_description(description),
      m_transportReadBufferBytes(options.transportReadBufferBytes())
{
    m_tcp->setParent(this);
    m_ws->setParent(this);
    m_age.start();

    // QWebSocket (Qt 6.4) creates its own socket on the client side and keeps no accessor for
    // it; it is its only QAbstractSocket child. On the server side our server made it.
    if (serverTransport)
        m_transport = serverTransport;
    else
        m_transport = m_ws->findChild<QAbstractSocket *>();

    m_ws->setMaxAllowedIncomingFrameSize(quint64(m_options.maxIncomingFrameBytes));
    m_ws->setMaxAllowedIncomingMessageSize(quint64(m_options.maxIncomingFrameBytes));
    m_ws->setOutgoingFrameSize(quint64(m_options.maxOutgoingFrameBytes));
    // TLS: QSslSocket (Qt 6.4) counts only bytes not yet encrypted in bytesToWrite(); encrypted
    // ones wait in its inner socket, unbounded, and only encryptedBytesWritten() reports them
    // leaving. Flow control and the close timeout must see both.
    m_sslTransport = qobject_cast<QSslSocket *>(m_transport.data());
    if (m_sslTransport) {
        connect(m_sslTransport, &QSslSocket::encryptedBytesWritten, this, &Relay::onWsBytesWritten);
        // Each decrypt may have emptied the inner socket's full buffer: see kickTransport().
        connect(m_sslTransport, &QSslSocket::readyRead, this, &Relay::scheduleTransportKick);
    }
    if (m_transport) {
        // Bounded read-ahead from the WebSocket peer. Qt 6.4 only reads a frame once it is
        // wholly buffered, so the buffer must hold the largest frame we accept.
        m_transport->setReadBufferSize(m_transportReadBufferBytes);
        m_transport->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    }
    m_tcp->setReadBufferSize(m_options.tcpReadBufferBytes);

    connect(m_tcp, &QTcpSocket::connected, this, &Relay::onTcpConnected);
    connect(m_tcp, &QTcpSocket::readyRead, this, &Relay::onTcpReadyRead);
    connect(m_tcp, &QTcpSocket::bytesWritten, this, &Relay::onTcpBytesWritten);
    connect(m_tcp, &QTcpSocket::disconnected, this, &Relay::onTcpDisconnected);
    connect(m_tcp, &QTcpSocket::errorOccurred, this, &Relay::onTcpError);

    connect(m_ws, &QWebSocket::binaryFrameReceived, this, &Relay::onWsFrame);
    connect(m_ws, &QWebSocket::textFrameReceived, this, &Relay::onWsText);
    connect(m_ws, &QWebSocket::disconnected, this, &Relay::onWsDisconnected);
    connect(m_ws, &QWebSocket::bytesWritten, this, &Relay::onWsBytesWritten);

    m_keepAliveTimer.setSingleShot(true);
    connect(&m_keepAliveTimer, &QTimer::timeout, this, &Relay::sendKeepAlive);
    // While closing, a side is given up only when it makes no progress: a slow peer still
    // reading its last bytes must get them all (aborting would drop what is still queued).
    m_closeTimer.setInterval(m_options.closeTimeoutMs);
    connect(&m_closeTimer, &QTimer::timeout, this, &Relay::checkCloseProgress);
    m_idleTimer.setSingleShot(true);
    connect(&m_idleTimer, &QTimer::timeout, this, &Relay::checkIdle);
    m_pausePollTimer.setInterval(kPausePollMs);
    connect(&m_pausePollTimer, &QTimer::timeout, this, [this] {
        if (wsQueuedBytes() <= m_options.lowWatermarkBytes)
            pumpTcpToWs();
    });

    qCInfo(lcRelay).noquote() << "tunnel opened" << m_description;

    if (m_tcp->state() == QAbstractSocket::ConnectedState) {
        m_tcpConnected = true;
        m_tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    } else if (m_tcp->state() == QAbstractSocket::UnconnectedState) {
        // Client side: the local peer may have sent everything and left during the handshake.
        m_tcpEnded = true;
    }
    if (m_options.keepAliveIntervalMs > 0)
        m_keepAliveTimer.start(m_options.keepAliveIntervalMs);
    m_sinceData.start();
    if (m_options.idleTimeoutMs > 0)
        m_idleTimer.start(m_options.idleTimeoutMs);

    // Bytes may already wait on either side (client side: sent during the handshake).
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (m_tcpEnded)
                onTcpDisconnected();
            else
                pumpTcpToWs();
            if (m_transport && m_transport->bytesAvailable() > 0)
                Q_EMIT m_transport->readyRead();
            if (m_ws->state() == QAbstractSocket::UnconnectedState)
                onWsDisconnected();
        },
        Qt::QueuedConnection);
}

Relay::~Relay()
{
    // Sockets are children; make sure none of their signals reach us half-destroyed.
    m_tcp->disconnect(this);
    m_ws->disconnect(this);
}

qint64 Relay::wsQueuedBytes() const
{
    return m_ws->bytesToWrite() + (m_sslTransport ? m_sslTransport->encryptedBytesToWrite() : 0);
}

void Relay::connectTcp(const QString &host, quint16 port)
{
    m_tcpEnded = false;
    m_tcp->connectToHost(host, port);
}

void Relay::shutdown()
{
    if (m_finished)
        return;
    setReason(QStringLiteral("server shutting down"));
    closeWs(QWebSocketProtocol::CloseCodeGoingAway, QStringLiteral("going away"));
    closeTcpAfterFlush();
}

void Relay::onTcpConnected()
{
    m_tcpConnected = true;
    m_tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    if (m_wsEnded)
        closeTcpAfterFlush();
    pumpTcpToWs();
}

void Relay::onTcpReadyRead()
{
    pumpTcpToWs();
}

void Relay::pumpTcpToWs()
{
    // Writing may report bytes written at once (flush), which comes back here: the loop below
    // goes on anyway.
    if (m_pumping)
        return;
    const QScopedValueRollback<bool> pumping(m_pumping, true);
    if (m_wsClosing || m_wsEnded) {
        // Nobody to deliver to any more: discard, so the TCP peer is not stuck on a full buffer.
        if (m_tcp->bytesAvailable() > 0)
            m_tcp->skip(m_tcp->bytesAvailable());
        return;
    }
    const bool bufferWasFull = m_tcp->bytesAvailable() >= m_options.tcpReadBufferBytes;
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
    if (moved > 0)
        Q_EMIT transferred(moved, 0);
    if (m_closeAfterTail && m_tcp->bytesAvailable() == 0) {
        m_closeAfterTail = false;
        closeWs(m_tailCloseCode, m_tailCloseReason);
        checkFinished();
    }
}

qint64 Relay::sendToWs()
{
    if (!m_transport || m_ws->state() != QAbstractSocket::ConnectedState)
        return 0;
    // Straight onto the socket QWebSocket writes to (see BinaryFrame). A client masks every
    // frame with a fresh key, as RFC 6455 5.3 requires and as QWebSocket does.
    qint64 payload = 0;
    const QByteArray frame =
        BinaryFrame::readFrom(m_tcp, m_options.maxOutgoingFrameBytes, m_maskFrames,
                              m_maskFrames ? QRandomGenerator::global()->generate() : 0, &payload);
    if (payload <= 0)
        return 0;
    m_transport->write(frame);
    // Now rather than on the next turn of the event loop, when the socket would be found
    // writable: one poll round less per message, which is much of an echo's latency. Not for
    // TLS: QSslSocket::flush() also decrypts, and the readyRead() that follows would make
    // QWebSocket parse frames inside whatever called us.
    if (!m_sslTransport)
        m_transport->flush();
    m_bytesTcpToWs += payload;
    m_sinceData.restart();
    m_peakWsQueued = qMax(m_peakWsQueued, wsQueuedBytes());
    return payload;
}

void Relay::sendKeepAlive()
{
    if (m_wsClosing || m_wsEnded || m_ws->state() != QAbstractSocket::ConnectedState)
        return;
    // The wire's keep-alive: an empty binary message, which the original ignores too. It keeps
    // reverse proxies (nginx proxy_read_timeout) from cutting an idle tunnel, so it is sent
    // only when no data moved either way for a whole interval (data resets their timers too),
    // and never while paused (the peer is sending more than we deliver).
    // Sending more than needed is not harmless: the peer may already have closed its socket
    // behind its last bytes (QWebSocket closes at once after its close frame), and a message
    // arriving there makes its kernel answer with a reset, which makes ours discard the bytes
    // we have not read yet.
    const qint64 idleMs = m_sinceData.elapsed();
    if (!m_paused && idleMs >= m_options.keepAliveIntervalMs)
        m_ws->sendBinaryMessage(QByteArray());
    const qint64 untilIdle = m_options.keepAliveIntervalMs - idleMs;
    m_keepAliveTimer.start(m_paused || untilIdle <= 0 ? m_options.keepAliveIntervalMs
                                                      : int(untilIdle));
}

void Relay::checkIdle()
{
    // Data only restarts a clock (cheap on every chunk); the timer checks it when it fires.
    const qint64 remainingMs = m_options.idleTimeoutMs - m_sinceData.elapsed();
    if (remainingMs > 0) {
        m_idleTimer.start(int(remainingMs));
        return;
    }
    if (m_wsClosing || m_tcpClosing || m_finished)
        return;
    setReason(QStringLiteral("idle timeout"));
    qCInfo(lcRelay).noquote() << m_description << "closed: no data for"
                              << m_options.idleTimeoutMs / 1000 << "s";
    closeWs(QWebSocketProtocol::CloseCodeNormal, QStringLiteral("idle timeout"));
    closeTcpAfterFlush();
}

void Relay::onWsBytesWritten()
{
    sendDeferredClose();
    if (wsQueuedBytes() <= m_options.lowWatermarkBytes && m_tcp->bytesAvailable() > 0)
        pumpTcpToWs();
}

void Relay::sendDeferredClose()
{
    if (!m_closeDeferred || wsQueuedBytes() > 0)
        return;
    m_closeDeferred = false;
    if (m_ws->state() != QAbstractSocket::UnconnectedState)
        m_ws->close(QWebSocketProtocol::CloseCode(m_deferredCloseCode), m_deferredCloseReason);
}

void Relay::onWsFrame(const QByteArray &frame, bool isLastFrame)
{
    if (m_tcpEnded || m_tcpClosing) {
        // TCP is gone: nothing can be delivered any more (the WebSocket is being closed).
        return;
    }
    if (!frame.isEmpty()) { // an empty message is a keep-alive
        m_tcp->write(frame);
        // Soon, but not here: flush() reports the bytes written at once, and what that sets off
        // (resuming, pumping) must not run inside QWebSocket's parsing.
        scheduleTcpFlush();
        m_bytesWsToTcp += frame.size();
        m_sinceData.restart();
        m_peakTcpQueued = qMax(m_peakTcpQueued, m_tcp->bytesToWrite());
        Q_EMIT transferred(0, frame.size());
    }
    // Pause only at the end of a message: QWebSocket (Qt 6.4) drops a connection whose frame
    // stays incomplete for 5 s, and it only looks at bytesAvailable() between messages.
    if (isLastFrame && m_tcp->bytesToWrite() > m_options.highWatermarkBytes)
        pauseWsReading();
    scheduleTransportKick();
}

void Relay::onWsText()
{
    if (m_wsClosing)
        return;
    setReason(QStringLiteral("protocol error: text message received"));
    qCWarning(lcRelay).noquote() << m_description
                                 << "received a text message; only binary messages carry data";
    closeWs(QWebSocketProtocol::CloseCodeDatatypeNotSupported,
            QStringLiteral("text messages are not supported"));
    m_wsEnded = true;
    closeTcpAfterFlush();
}

void Relay::onTcpBytesWritten()
{
    if (m_paused && m_tcp->bytesToWrite() <= m_options.lowWatermarkBytes)
        resumeWsReading();
    checkFinished();
}

void Relay::onTcpDisconnected()
{
    if (!m_tcpEnded)
        setReason(m_tcp->error() == QAbstractSocket::RemoteHostClosedError
                          || m_tcp->error() == QAbstractSocket::UnknownSocketError
                      ? QStringLiteral("tcp closed")
                      : QStringLiteral("tcp error: %1").arg(m_tcp->errorString()));
    if (m_tcpEnded && (m_closeAfterTail || m_wsClosing))
        return; // already handled (onTcpError and disconnected() both come here)
    m_tcpEnded = true;
    const bool tcpFailed = m_tcp->error() != QAbstractSocket::RemoteHostClosedError
        && m_tcp->error() != QAbstractSocket::UnknownSocketError && !m_tcpClosing;
    // 1011: RFC 6455 forbids sending 1006 (Qt's CloseCodeAbnormalDisconnection).
    m_tailCloseCode =
        tcpFailed ? QWebSocketProtocol::CloseCodeBadOperation : QWebSocketProtocol::CloseCodeNormal;
    m_tailCloseReason = tcpFailed ? QStringLiteral("tcp error") : QString();
    // Every byte TCP delivered goes to the WebSocket before it is closed: the close frame
    // follows once pumpTcpToWs() has queued the tail, as the peer takes it.
    m_closeAfterTail = true;
    if (m_ws->state() == QAbstractSocket::ConnectedState && !m_wsClosing && !m_wsEnded) {
        m_wsClosingSince.start();
        m_closeTimer.start();
    }
    pumpTcpToWs();
    checkFinished();
}

void Relay::onTcpError()
{
    const auto error = m_tcp->error();
    if (!m_tcpConnected && !m_tcpEnded) {
        // Server side: the remote could not be reached.
        m_tcpEnded = true;
        const QString text = m_tcp->errorString();
        setReason(QStringLiteral("remote unreachable: %1").arg(text));
        qCWarning(lcRelay).noquote() << m_description << "cannot connect to the remote:" << text;
        Q_EMIT tcpConnectFailed(text);
        m_wsEnded = true;
        closeWs(QWebSocketProtocol::CloseCodeBadOperation, QStringLiteral("remote unreachable"));
        checkFinished();
        return;
    }
    if (error != QAbstractSocket::RemoteHostClosedError && m_closeReason.isEmpty())
        setReason(QStringLiteral("tcp error: %1").arg(m_tcp->errorString()));
    // disconnected() follows for a connected socket.
    if (m_tcp->state() == QAbstractSocket::UnconnectedState && !m_tcpEnded)
        onTcpDisconnected();
}

void Relay::onWsDisconnected()
{
    if (m_wsEnded && m_ws->state() == QAbstractSocket::UnconnectedState && m_finished)
        return;
    if (!m_wsClosing) {
        const auto code = m_ws->closeCode();
        setReason(QStringLiteral("websocket closed (%1%2)")
                      .arg(closeCodeText(code),
                           m_ws->closeReason().isEmpty()
                               ? QString()
                               : QStringLiteral(" ") + m_ws->closeReason()));
    }
    qCDebug(lcRelay).noquote() << m_description << "websocket disconnected, paused" << m_paused
                               << "buffered"
                               << (pausable()        ? pausable()->bufferedBytes()
                                       : m_transport ? m_transport->bytesAvailable()
                                                     : -1)
                               << "transport state"
                               << (m_transport ? int(m_transport->state()) : -1) << "error"
                               << (m_transport ? m_transport->errorString() : QString());
    m_wsDisconnected = true;
    m_keepAliveTimer.stop();
    // Qt 6.4 reports the disconnect while frames may still sit unread in the transport (paused,
    // or just decrypted). They are parsed now, not in a queued call: QWebSocketServer deletes
    // the socket behind a disconnect (deleteLater), which may come first, and takes the bytes
    // with it. Then the TCP side gets every byte before it is closed.
    drainWsTransport();
    endWs();
}

void Relay::endWs()
{
    if (m_wsEnded)
        return;
    m_wsEnded = true;
    closeTcpAfterFlush();
    checkFinished();
}

void Relay::drainWsTransport()
{
    if (!m_transport)
        return;
    if (m_paused) {
        m_paused = false;
        m_pausePollTimer.stop();
        if (m_serverSide) {
            if (pausable())
                pausable()->setPaused(false);
        } else {
            m_transport->blockSignals(false);
        }
    }
    if (m_wsEnded || m_draining)
        return;
    // QWebSocket (Qt 6.4) parses in its readyRead() slot. A close frame among the last frames
    // makes it report the disconnect again, which comes back here.
    const QScopedValueRollback<bool> draining(m_draining, true);
    for (qint64 before = m_transport->bytesAvailable(); before > 0;) {
        Q_EMIT m_transport->readyRead();
        const qint64 after = m_transport ? m_transport->bytesAvailable() : 0;
        if (after >= before)
            break; // an incomplete frame is left, and nothing more can come
        before = after;
    }
}

void Relay::scheduleTransportRead()
{
    // Queued: QWebSocket (Qt 6.4) parses directly in its readyRead() slot, and it must never
    // parse inside a call that came from its own parsing (onWsFrame and what follows).
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (m_transport && !m_paused && m_transport->bytesAvailable() > 0)
                Q_EMIT m_transport->readyRead();
        },
        Qt::QueuedConnection);
}

void Relay::scheduleTcpFlush()
{
    if (m_tcpFlushPending)
        return;
    m_tcpFlushPending = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_tcpFlushPending = false;
            if (m_tcp->state() == QAbstractSocket::ConnectedState && m_tcp->bytesToWrite() > 0)
                m_tcp->flush();
        },
        Qt::QueuedConnection);
}

void Relay::closeWs(int code, const QString &reason)
{
    if (m_wsClosing)
        return;
    m_wsClosing = true;
    m_keepAliveTimer.stop();
    // A paused client-side relay hides its socket's signals from QWebSocket, which would then
    // never see the end of the closing handshake. Nothing more is written to TCP now anyway.
    if (m_paused)
        resumeWsReading();
    if (m_ws->state() != QAbstractSocket::UnconnectedState) {
        m_wsClosingSince.start();
        m_closeTimer.start();
        if (m_sslTransport && wsQueuedBytes() > 0) {
            // Qt 6.4's QSslSocket::close() reports the socket disconnected at once while its
            // inner socket still has encrypted bytes to send; the relay would then be deleted
            // and those bytes with it. Close once everything queued is in the kernel.
            m_closeDeferred = true;
            m_deferredCloseCode = code;
            m_deferredCloseReason = reason;
            return;
        }
        // Frames already queued go first: close() appends the close frame behind them.
        m_ws->close(QWebSocketProtocol::CloseCode(code), reason);
    }
}

void Relay::closeTcpAfterFlush()
{
    if (m_tcpClosing)
        return;
    if (!m_tcpConnected && !m_tcpEnded)
        return; // onTcpConnected() comes back here
    m_tcpClosing = true;
    if (m_tcp->state() != QAbstractSocket::UnconnectedState) {
        // disconnectFromHost() waits until the write buffer is empty.
        m_tcp->disconnectFromHost();
        m_tcpClosingSince.start();
        if (!m_closeTimer.isActive() && m_tcp->state() != QAbstractSocket::UnconnectedState)
            m_closeTimer.start();
    }
}

void Relay::checkCloseProgress()
{
    // The WebSocket: the close frame sits behind the queued data; once that is written the peer
    // has closeTimeoutMs to answer it.
    sendDeferredClose();
    if ((m_wsClosing || m_closeAfterTail) && m_ws->state() != QAbstractSocket::UnconnectedState) {
        // Waiting to send the tail counts as closing: the peer must take it to make progress.
        const qint64 pending = wsQueuedBytes() + (m_closeAfterTail ? m_tcp->bytesAvailable() : 0);
        if (pending > 0 ? pending < m_wsPendingAtLastCheck : m_wsPendingAtLastCheck > 0)
            m_wsClosingSince.restart(); // progress, or the close frame has just been written
        m_wsPendingAtLastCheck = pending;
        // Data still queued: the peer is slow, give it as long as a TCP reader. All written:
        // the peer has closeTimeoutMs to answer the close frame.
        if (m_wsClosingSince.hasExpired(pending > 0 ? kStalledCloseMs
                                                    : qint64(m_options.closeTimeoutMs))) {
            setReason(QStringLiteral("websocket close timed out"));
            m_ws->abort();
        }
    }
    // TCP: disconnectFromHost() closes once the queue is written; a reader that takes nothing
    // for kStalledCloseMs is gone.
    if (m_tcpClosing && m_tcp->state() != QAbstractSocket::UnconnectedState) {
        const qint64 pending = m_tcp->bytesToWrite();
        if (pending < m_tcpPendingAtLastCheck)
            m_tcpClosingSince.restart();
        m_tcpPendingAtLastCheck = pending;
        if (m_tcpClosingSince.hasExpired(kStalledCloseMs)) {
            setReason(QStringLiteral("tcp peer stopped reading while closing"));
            m_tcp->abort();
        }
    }
    if (m_ws->state() == QAbstractSocket::UnconnectedState
        && m_tcp->state() == QAbstractSocket::UnconnectedState)
        m_closeTimer.stop();
    checkFinished();
}

void Relay::pauseWsReading()
{
    // Once the WebSocket is gone its last frames are drained in one go (bounded by the read
    // buffer): pausing then would lose them.
    if (m_paused || !m_transport || m_wsDisconnected)
        return;
    m_paused = true;
    qCDebug(lcRelay).noquote() << m_description << "pause reading the websocket at"
                               << m_tcp->bytesToWrite() << "bytes queued to tcp";
    if (m_serverSide) {
        pausable()->setPaused(true);
    } else {
        // Client side, no subclass possible: hide the socket's readyRead from QWebSocket.
        m_transport->blockSignals(true);
        // That hides bytesWritten too: keep the other direction moving by polling.
        m_pausePollTimer.start();
        // QWebSocket may have started its 5 s "incomplete frame" timer on a partial frame that
        // cannot complete while readyRead is hidden. Stop it once the current parse returns.
        QMetaObject::invokeMethod(this, &Relay::stopFrameWaitTimers, Qt::QueuedConnection);
    }
}

void Relay::stopFrameWaitTimers()
{
    if (!m_paused)
        return;
    const auto timers = m_ws->findChildren<QTimer *>();
    for (QTimer *timer : timers) {
        if (timer->isActive())
            timer->stop();
    }
}

void Relay::resumeWsReading()
{
    if (!m_paused || !m_transport)
        return;
    m_paused = false;
    qCDebug(lcRelay).noquote() << m_description << "resume reading the websocket at"
                               << m_tcp->bytesToWrite() << "bytes queued to tcp";
    if (m_serverSide) {
        pausable()->setPaused(false);
    } else {
        m_transport->blockSignals(false);
        m_pausePollTimer.stop();
    }
    // Both queued: resuming may be called from inside QWebSocket's parsing (see
    // scheduleTransportRead()). The kick runs first.
    scheduleTransportKick();
    scheduleTransportRead();
    if (!m_serverSide) {
        // Signals hidden while paused: a disconnect or written bytes may have gone unnoticed.
        if (m_transport->state() == QAbstractSocket::UnconnectedState
            && m_ws->state() != QAbstractSocket::UnconnectedState) {
            Q_EMIT m_transport->stateChanged(QAbstractSocket::UnconnectedState);
            Q_EMIT m_transport->disconnected();
        }
        pumpTcpToWs();
    }
}

void Relay::scheduleTransportKick()
{
    if (m_kickPending || !m_transport)
        return;
    m_kickPending = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_kickPending = false;
            if (!m_paused)
                kickTransport();
        },
        Qt::QueuedConnection);
}

void Relay::kickTransport()
{
    if (!m_transport)
        return;
    // TLS (Qt 6.4): QSslSocket decrypts from its inner TCP socket only in transmit(), which runs
    // when that socket reads, or when we read past the decrypted buffer, which QWebSocket never
    // does (it waits for whole frames). Once the inner socket's buffer is full it stops reading
    // and nothing runs transmit() again: the tunnel stalls until the next write, with the
    // peer's bytes waiting in our kernel, where a reset after the peer closes discards them.
    // flush() runs transmit(): it moves the inner buffer into the decrypter while there is room.
    if (m_sslTransport && m_sslTransport->state() == QAbstractSocket::ConnectedState)
        m_sslTransport->flush();
    // QWebSocket leaves a partial frame behind in the buffer, so it is never read empty; for
    // TLS this also re-enables the inner socket (QSslSocket passes the size on).
    restartReading(m_transport, m_transportReadBufferBytes);
}

void Relay::setReason(const QString &reason)
{
    if (m_closeReason.isEmpty())
        m_closeReason = reason;
}

void Relay::checkFinished()
{
    if (m_finished)
        return;
    if (m_ws->state() != QAbstractSocket::UnconnectedState
        || m_tcp->state() != QAbstractSocket::UnconnectedState)
        return;
    if (!m_wsEnded) {
        // Both sockets are closed: deliver whatever the WebSocket still holds, then finish.
        drainWsTransport();
        m_wsEnded = true;
    }
    m_finished = true;
    m_keepAliveTimer.stop();
    m_closeTimer.stop();
    m_idleTimer.stop();
    qCInfo(lcRelay).noquote().nospace()
        << "tunnel closed " << m_description << ": " << m_bytesTcpToWs << " bytes tcp->ws, "
        << m_bytesWsToTcp << " bytes ws->tcp, " << m_age.elapsed() << " ms, peak queued "
        << m_peakWsQueued << " to ws / " << m_peakTcpQueued << " to tcp, "
        << (m_closeReason.isEmpty() ? QStringLiteral("closed") : m_closeReason);
    QMetaObject::invokeMethod(this, &Relay::finished, Qt::QueuedConnection);
}

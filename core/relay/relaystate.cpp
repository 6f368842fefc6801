#include "relaystate.h"

#include "relayoptions.h"

#include <QWebSocketProtocol>
#include <QtEndian>
#include <cerrno>
#include <cstring>

namespace {

// How often watch() runs when keep-alives are off.
constexpr int kWatchIntervalMs = 10000;

} // namespace

void RelayState::tcpConnected()
{
    if (m_tcp == Tcp::Connecting)
        m_tcp = Tcp::Open;
}

bool RelayState::closeTcp()
{
    switch (m_tcp) {
    case Tcp::Open:
        m_tcp = Tcp::Closing;
        return true;
    case Tcp::Ended:
        m_tcp = Tcp::Closed;
        return true;
    case Tcp::Connecting: // closed once connected
    case Tcp::Closing:
    case Tcp::Closed:
        return false;
    }
    return false;
}

RelayState::CloseFrame RelayState::tcpUnreachable(const QString &errorText)
{
    m_tcp = Tcp::Ended;
    setReason(QStringLiteral("remote unreachable: %1").arg(errorText));
    // Nothing will be relayed: the WebSocket side ends with the close frame.
    m_wsRead = WsRead::Ended;
    return {QWebSocketProtocol::CloseCodeBadOperation, QStringLiteral("remote unreachable")};
}

bool RelayState::tcpDisconnected(const TcpEnd &how)
{
    const bool reset = how.socketError == ECONNRESET;
    const bool kernelError = how.socketError != 0 && !reset && how.socketError != EPIPE;
    if (!tcpEnded()) {
        if (reset)
            setReason(QStringLiteral("tcp reset"));
        else if (kernelError)
            setReason(QStringLiteral("tcp error: %1")
                          .arg(QString::fromLocal8Bit(std::strerror(how.socketError))));
        else
            setReason(how.closedByPeer ? QStringLiteral("tcp closed")
                                       : QStringLiteral("tcp error: %1").arg(how.errorText));
    }
    if (tcpEnded() && m_wsWrite != WsWrite::Open)
        return false; // already handled (Qt reports an error and then the disconnect)
    // An error while we were closing it is no news to the peer.
    const bool failed = (reset || kernelError || !how.closedByPeer) && !tcpClosing();
    m_tcp = tcpClosing() ? Tcp::Closed : Tcp::Ended;
    // 1011: RFC 6455 forbids sending 1006 (Qt's CloseCodeAbnormalDisconnection).
    m_tailClose = !failed ? CloseFrame {QWebSocketProtocol::CloseCodeNormal, QString()}
        : reset
        ? CloseFrame {QWebSocketProtocol::CloseCodeBadOperation, QStringLiteral("remote reset")}
        : CloseFrame {QWebSocketProtocol::CloseCodeBadOperation, QStringLiteral("tcp error")};
    // Every byte TCP delivered goes to the WebSocket before it is closed.
    if (m_wsWrite == WsWrite::Open)
        m_wsWrite = WsWrite::CloseAfterTail;
    return true;
}

bool RelayState::pauseWsRead()
{
    if (m_wsRead != WsRead::Open)
        return false;
    m_wsRead = WsRead::Paused;
    return true;
}

bool RelayState::resumeWsRead()
{
    if (m_wsRead != WsRead::Paused)
        return false;
    m_wsRead = WsRead::Open;
    return true;
}

bool RelayState::wsTransportClosed()
{
    if (m_wsRead == WsRead::Draining)
        return false;
    if (!wsClosing() && m_reason.isEmpty()) {
        // Unless the peer's close frame (or a broken one) is among the frames still to read,
        // held back for a slow TCP reader: frameEndsWs() then gives way to its reason.
        m_reason = QStringLiteral("websocket closed (%1)")
                       .arg(int(QWebSocketProtocol::CloseCodeAbnormalDisconnection));
        m_reasonIsProvisional = true;
    }
    drainWs();
    return true;
}

void RelayState::drainWs()
{
    if (m_wsRead != WsRead::Ended)
        m_wsRead = WsRead::Draining;
}

bool RelayState::frameEndsWs()
{
    if (!m_reasonIsProvisional)
        return false;
    m_reason.clear();
    m_reasonIsProvisional = false;
    return true;
}

bool RelayState::endWsRead()
{
    if (m_wsRead == WsRead::Ended)
        return false;
    m_wsRead = WsRead::Ended;
    return true;
}

bool RelayState::closeWs()
{
    if (wsClosing())
        return false;
    m_wsWrite = WsWrite::CloseSent;
    return true;
}

bool RelayState::peerClosed(int code, const QString &text, bool replacesReason, CloseFrame *answer)
{
    if (!wsClosing() || replacesReason)
        setReason(peerCloseReason(code, text));
    if (wsClosing())
        return false;
    // The answer echoes the code (RFC 6455 5.5.1); a close without one gets none.
    *answer = {code == QWebSocketProtocol::CloseCodeMissingStatusCode ? 0 : code, QString()};
    return true;
}

void RelayState::setReason(const QString &reason)
{
    if (m_reason.isEmpty())
        m_reason = reason;
}

bool RelayState::finish()
{
    if (m_finished)
        return false;
    m_finished = true;
    return true;
}

RelayState::CloseFrame RelayState::textMessageClose()
{
    return {QWebSocketProtocol::CloseCodeDatatypeNotSupported,
            QStringLiteral("text messages are not supported")};
}

QString RelayState::textMessageReason()
{
    return QStringLiteral("protocol error: text message received");
}

RelayState::CloseFrame RelayState::brokenFrameClose(int code)
{
    return {code,
            code == QWebSocketProtocol::CloseCodeTooMuchData ? QStringLiteral("message too big")
                                                             : QStringLiteral("protocol error")};
}

QString RelayState::brokenFrameReason(const QString &errorText)
{
    return QStringLiteral("protocol error: %1").arg(errorText);
}

RelayState::CloseFrame RelayState::shutdownClose()
{
    return {QWebSocketProtocol::CloseCodeGoingAway, QStringLiteral("going away")};
}

QString RelayState::shutdownReason()
{
    return QStringLiteral("server shutting down");
}

RelayState::CloseFrame RelayState::idleClose()
{
    return {QWebSocketProtocol::CloseCodeNormal, QStringLiteral("idle timeout")};
}

QString RelayState::idleReason()
{
    return QStringLiteral("idle timeout");
}

QString RelayState::peerCloseReason(int code, const QString &text)
{
    return QStringLiteral("websocket closed (%1%2)")
        .arg(code)
        .arg(text.isEmpty() ? QString() : QStringLiteral(" ") + text);
}

QByteArray RelayState::closePayload(const CloseFrame &frame)
{
    QByteArray payload;
    if (frame.code != 0) {
        payload.resize(2);
        qToBigEndian<quint16>(quint16(frame.code), payload.data());
        payload += frame.reason.toUtf8().left(123); // a control frame carries at most 125 bytes
    }
    return payload;
}

int RelayState::watchIntervalMs(const RelayOptions &options)
{
    int interval = options.keepAliveIntervalMs > 0 ? options.keepAliveIntervalMs : 0;
    if (options.stallTimeoutMs > 0)
        interval = qMin(interval > 0 ? interval : kWatchIntervalMs, options.stallTimeoutMs);
    return interval;
}

RelayState::Watch RelayState::watch(const Clocks &clocks, bool wsReadPaused,
                                    const RelayOptions &options)
{
    // A side has stalled when bytes wait for it and it took none for that long.
    const auto tcpStalledFor = [&clocks](qint64 ms) {
        return clocks.tcpQueuedBytes > 0 && clocks.tcpSinceProgressMs > ms;
    };
    const qint64 stallMs = options.stallTimeoutMs;
    if (stallMs > 0) {
        if (tcpStalledFor(stallMs))
            return {WatchAction::CloseTcpStalled, 0};
        if (clocks.wsQueuedBytes > 0 && clocks.wsSinceProgressMs > stallMs)
            return {WatchAction::CloseWsStalled, 0};
    }
    Watch watch {WatchAction::None, watchIntervalMs(options)};
    const int keepAliveMs = options.keepAliveIntervalMs;
    if (keepAliveMs <= 0)
        return watch;
    if (wsReadPaused) {
        // Held back for a TCP side that has taken nothing for a whole interval: nothing moves,
        // so nothing would tell us that the WebSocket peer is gone (its kernel keeps probing our
        // full window long after its socket was closed). A ping, a control frame that is not
        // data, goes out anyway: a peer that is gone answers with a reset, and the tunnel ends.
        // Not while the peer is slow to read itself (our queue is long).
        if (tcpStalledFor(keepAliveMs) && clocks.wsQueuedBytes <= options.lowWatermarkBytes)
            watch.action = WatchAction::Ping;
    } else if (clocks.sinceDataMs >= keepAliveMs) {
        // The wire's keep-alive: an empty binary message, which the original ignores too. It
        // keeps reverse proxies (nginx proxy_read_timeout) from cutting an idle tunnel, so it is
        // sent only when no data moved either way for a whole interval (data resets their timers
        // too). Sending more than needed is not harmless: the peer may already have closed its
        // socket behind its last bytes (QWebSocket closes at once after its close frame), and a
        // message arriving there makes its kernel answer with a reset.
        watch.action = WatchAction::KeepAlive;
    } else {
        watch.nextMs = qMin(watch.nextMs, int(keepAliveMs - clocks.sinceDataMs));
    }
    return watch;
}

RelayState::CloseFrame RelayState::tcpStalledClose()
{
    return {QWebSocketProtocol::CloseCodeBadOperation, QStringLiteral("remote not reading")};
}

QString RelayState::stallReason(WatchAction stall, const RelayOptions &options)
{
    const QString side =
        stall == WatchAction::CloseTcpStalled ? QStringLiteral("tcp") : QStringLiteral("websocket");
    return QStringLiteral("%1 peer took no data for %2 s")
        .arg(side)
        .arg(options.stallTimeoutMs / 1000);
}

bool RelayState::closeTimedOut(qint64 pendingBytes, qint64 sinceProgressMs,
                               const RelayOptions &options)
{
    // A slow peer still reading its last bytes must get them all (aborting would drop what is
    // still queued): given up only when it makes no progress, as long as a stalled reader.
    return sinceProgressMs
        > (pendingBytes > 0 ? qint64(options.closeStallTimeoutMs) : qint64(options.closeTimeoutMs));
}

QString RelayState::wsCloseTimedOutReason()
{
    return QStringLiteral("websocket close timed out");
}

QString RelayState::tcpCloseTimedOutReason()
{
    return QStringLiteral("tcp peer stopped reading while closing");
}

// The state of a tunnel's two sides and the close rules that read it, without sockets: which
// side closes which, with what close code and reason, and when a stalled or closing side is given
// up. Relay tells it what its sockets report and does what it decides; tst_relaystate checks it.
#pragma once

#include <QByteArray>
#include <QString>

struct RelayOptions;

class RelayState
{
public:
    // The TCP side.
    enum class Tcp : quint8 {
        Connecting, // server side: connecting to the remote; what it is sent waits in its queue
        Open,
        Closing, // we asked it to close once its queue is written
        Ended, // it closed or failed by itself: no more bytes come from it
        Closed, // ended, and we asked it to close (before or after it ended)
    };
    // Frames from the WebSocket peer.
    enum class WsRead : quint8 {
        Open,
        Paused, // held back while the TCP side is slow to take what it was sent
        Draining, // the transport is closed: what it still holds is read, without holding back
        Ended, // no more frames are taken (a close or a broken frame, or the transport is gone)
    };
    // Frames to the WebSocket peer. In this order: each state only moves forward.
    enum class WsWrite : quint8 {
        Open,
        CloseAfterTail, // TCP ended: the close frame follows the last bytes it sent
        CloseSent, // our close frame is queued (or could not be: the transport was gone)
        CloseDone, // the closing handshake is over: the transport closes once its queue is written
        TransportClosing, // the transport was asked to close
    };

    // A close frame: code 0 is a close frame without a body.
    struct CloseFrame
    {
        int code = 0;
        QString reason;
        bool operator==(const CloseFrame &other) const
        {
            return code == other.code && reason == other.reason;
        }
    };

    // How the TCP socket ended, as the event loop and Qt report it.
    struct TcpEnd
    {
        // The errno SocketErrorWatch recorded (0: none, or not known here). ECONNRESET is a
        // reset; EPIPE (our writes met a peer that had closed) a close.
        int socketError = 0;
        bool closedByPeer = true; // Qt's error is RemoteHostClosedError (or none)
        QString errorText; // Qt's error string, when !closedByPeer
    };

    // What watch() does at a keep-alive tick while neither side is closing.
    enum class WatchAction : quint8 {
        None,
        CloseTcpStalled, // 1011 "remote not reading" to the peer, the TCP side aborted
        CloseWsStalled, // the WebSocket aborted (a close frame would wait behind its queue)
        Ping, // reading is held back for a TCP side that takes nothing: is the peer still there?
        KeepAlive, // an empty binary message after an idle interval
    };
    // What watch() sees: bytes queued towards each side and how long since each took some
    // (tcpQueuedBytes is 0 while it connects), and since data last moved either way.
    struct Clocks
    {
        qint64 tcpQueuedBytes = 0;
        qint64 tcpSinceProgressMs = 0;
        qint64 wsQueuedBytes = 0;
        qint64 wsSinceProgressMs = 0;
        qint64 sinceDataMs = 0;
    };
    struct Watch
    {
        WatchAction action = WatchAction::None;
        int nextMs = 0; // when to look again (0: never)
    };

    // The start: the TCP socket is connected, connecting, or already gone (a local peer that left
    // during the client's handshake, or a server side socket not yet asked to connect).
    explicit RelayState(Tcp tcp) : m_tcp(tcp) { }

    Tcp tcp() const { return m_tcp; }
    WsRead wsRead() const { return m_wsRead; }
    WsWrite wsWrite() const { return m_wsWrite; }
    bool isFinished() const { return m_finished; }

    // ---- TCP side
    bool tcpIsConnecting() const { return m_tcp == Tcp::Connecting; }
    // Data from the peer is written to TCP: not once it ended or we close it.
    bool tcpTakesData() const { return m_tcp == Tcp::Connecting || m_tcp == Tcp::Open; }
    bool tcpEnded() const { return m_tcp == Tcp::Ended || m_tcp == Tcp::Closed; }
    bool tcpClosing() const { return m_tcp == Tcp::Closing || m_tcp == Tcp::Closed; }
    void tcpConnecting() { m_tcp = Tcp::Connecting; }
    void tcpConnected();
    // We ask TCP to close once its queue is written. false: nothing to do now (already asked,
    // or still connecting: asked again once connected).
    bool closeTcp();
    // The TCP socket could not connect: its reason, and the close frame the peer gets at once
    // (the WebSocket side takes no more frames).
    CloseFrame tcpUnreachable(const QString &errorText);
    // The TCP socket closed (its peer, an error, or our close). Sets the reason, and the close
    // frame that follows its last bytes (WsWrite::CloseAfterTail). false: already handled.
    bool tcpDisconnected(const TcpEnd &how);
    // The close frame owed once TCP's last bytes are queued (WsWrite::CloseAfterTail).
    CloseFrame tailClose() const { return m_tailClose; }

    // ---- WebSocket side
    bool wsClosing() const { return m_wsWrite >= WsWrite::CloseSent; }
    bool wsCloseAfterTail() const { return m_wsWrite == WsWrite::CloseAfterTail; }
    bool wsEnded() const { return m_wsRead == WsRead::Ended; }
    bool wsReadPaused() const { return m_wsRead == WsRead::Paused; }
    // Reading may be held back (flow control) only while the transport is open.
    bool wsReadMayHoldBack() const { return m_wsRead == WsRead::Open; }
    bool pauseWsRead(); // Open -> Paused
    bool resumeWsRead(); // Paused -> Open
    // The transport closed: what it holds is read without holding back. false: already known.
    // Sets the provisional reason (1006) unless we are closing or a reason is known: a close or
    // broken frame still to read replaces it (frameEndsWs()).
    bool wsTransportClosed();
    // Both sockets are closed: what the transport holds is read before the WebSocket side ends.
    void drainWs();
    // A close, text or broken frame arrived: it, not a provisional 1006, is why the tunnel ends.
    // Returns whether it replaced that reason.
    bool frameEndsWs();
    // Nothing more is read from the WebSocket. false: it had already ended.
    bool endWsRead();
    // Our close frame goes out now. false: one was sent already.
    bool closeWs();
    // The closing handshake is over: the transport closes once its queue is written.
    void wsCloseDone() { m_wsWrite = WsWrite::CloseDone; }
    bool wsClosesWhenWritten() const { return m_wsWrite == WsWrite::CloseDone; }
    void wsTransportClosing() { m_wsWrite = WsWrite::TransportClosing; }
    // The peer's close frame arrived. Sets its reason; answer: the close frame to send back,
    // when ours is not sent yet (returns false when it is).
    bool peerClosed(int code, const QString &text, bool replacesReason, CloseFrame *answer);

    // ---- The tunnel
    // Why the tunnel ended: the first reason given wins.
    QString reason() const { return m_reason; }
    void setReason(const QString &reason);
    // Both sides are done (once).
    bool finish();

    // ---- Rules without state
    static CloseFrame textMessageClose();
    static QString textMessageReason();
    // A broken frame (FrameReader's error) with its close code.
    static CloseFrame brokenFrameClose(int code);
    static QString brokenFrameReason(const QString &errorText);
    static CloseFrame shutdownClose();
    static QString shutdownReason();
    static CloseFrame idleClose();
    static QString idleReason();
    static QString peerCloseReason(int code, const QString &text);
    // The close frame's payload: the code (big endian) and the reason, at most 125 bytes.
    static QByteArray closePayload(const CloseFrame &frame);

    // How often watch() runs (0: never).
    static int watchIntervalMs(const RelayOptions &options);
    static Watch watch(const Clocks &clocks, bool wsReadPaused, const RelayOptions &options);
    static CloseFrame tcpStalledClose();
    static QString stallReason(WatchAction stall, const RelayOptions &options);
    // A closing side (either) is given up when it takes nothing: closeStallTimeoutMs from the
    // last byte it took while bytes wait for it; once all is written, closeTimeoutMs for the
    // peer's answer.
    static bool closeTimedOut(qint64 pendingBytes, qint64 sinceProgressMs,
                              const RelayOptions &options);
    static QString wsCloseTimedOutReason();
    static QString tcpCloseTimedOutReason();

private:
    QString m_reason;
    CloseFrame m_tailClose;
    Tcp m_tcp;
    WsRead m_wsRead = WsRead::Open;
    WsWrite m_wsWrite = WsWrite::Open;
    bool m_reasonIsProvisional = false; // the 1006 of a transport closed first
    bool m_finished = false;
};

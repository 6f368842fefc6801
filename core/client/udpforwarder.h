// The client's UDP face: one local UDP socket; each local source (address and port) is its own
// flow, carried by its own WebSocket to the server, which sends its datagrams to one destination
// (Tow-Destination: udp/HOST:PORT) and the answers come back to that source.
#pragma once

#include "clientoptions.h"
#include "net/backoff.h"
#include "tlspolicy.h"

#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <deque>

class DatagramRelay;
class QUdpSocket;
class WebSocketConnector;

class UdpForwarder : public QObject
{
    Q_OBJECT
public:
    // Flows at once; a new source beyond it closes the least recently used flow.
    static constexpr int kDefaultMaxFlows = 1024;
    // Datagrams of a flow whose WebSocket is still opening wait, up to this many bytes (the
    // oldest dropped beyond).
    static constexpr qint64 kPendingBytes = 256 * 1024;
    // After a flow's WebSocket could not be opened, new flows wait this long before the server
    // is tried again (doubling while it keeps failing, up to the maximum); their datagrams are
    // dropped meanwhile. Then one flow tries; its success lets every flow open again.
    static constexpr int kFirstRetryPauseMs = 500;
    static constexpr int kMaxRetryPauseMs = 30000;

    explicit UdpForwarder(const ClientOptions &options, QObject *parent = nullptr);
    ~UdpForwarder() override;

    // Binds options.udpListen. On failure (port in use, bad CA file, pin or proxy) returns false
    // with a readable reason.
    bool listen(QString *error);
    // Closes every flow (1001 going away) and the local socket; drained() follows when none is
    // left (at once, queued, when there was none).
    void shutdown();

    QHostAddress localAddress() const;
    quint16 localPort() const;
    int activeFlows() const { return int(m_flows.size()); }
    void setMaxFlows(int count) { m_maxFlows = qMax(1, count); }
    void setRetryPauses(int firstPauseMs, int maxPauseMs)
    {
        m_backoff.setPauses(firstPauseMs, maxPauseMs);
    }

    // After a failed connection: true while new flows wait before the server is tried again.
    bool isBackingOff() const { return m_retryTimer.isActive(); }
    // Ends the wait at once: the next datagram of a new flow tries the server (e.g. when the
    // network changed).
    void retryNow();

    // Datagrams dropped on this side since it started, by why.
    struct Drops
    {
        // From local sources of new flows, while the server was not tried again after a failure.
        qint64 backingOff = 0;
        // From local sources: waiting for a WebSocket that opens (oldest first) or before a flow
        // that could not open, or the oldest of a flow's full queue towards its WebSocket. To
        // local sources: the local socket took none.
        qint64 queueFull = 0;
        // From the server: messages longer than a UDP datagram can be.
        qint64 tooBig = 0;

        qint64 total() const { return backingOff + queueFull + tooBig; }
    };
    Drops drops() const;

    // Datagrams dropped on this side: waiting for a WebSocket that opens (oldest first), or
    // before a flow that could not open.
    qint64 droppedWhileOpening() const { return m_droppedWhileOpening; }
    // Datagrams of new flows dropped while the server was not tried (isBackingOff()), or while
    // the one flow that tries it again was opening.
    qint64 droppedWhileBackingOff() const { return m_droppedWhileBackingOff; }
    // Bytes of datagrams waiting for their flows' WebSockets to open.
    qint64 pendingBytes() const;

Q_SIGNALS:
    // A flow's WebSocket could not be opened (server unreachable, refused, 403...). httpStatus:
    // the server's answer to the upgrade request, else 0.
    void connectionFailed(const QString &reason, int httpStatus);
    // Payload bytes of datagrams sent and received.
    void transferred(qint64 sentBytes, qint64 receivedBytes);
    void activeConnectionsChanged(int count);
    // drops() grew.
    void datagramsDropped();
    void drained(); // after shutdown(), the last flow has closed

private:
    struct Flow
    {
        QHostAddress address;
        quint16 port = 0;
        QPointer<WebSocketConnector> connector; // while the WebSocket opens
        QPointer<DatagramRelay> relay; // once it is open
        std::deque<QByteArray> pending; // datagrams waiting for the WebSocket
        qint64 pendingBytes = 0;
        quint64 lastUsed = 0; // m_tick when a datagram last went either way
    };

    void onReadyRead();
    bool mayOpenFlow(const QString &key);
    Flow *openFlow(const QHostAddress &address, quint16 port);
    void onOpened(const QString &key);
    void onFailed(const QString &key, const QString &reason, int httpStatus);
    void closeLeastRecentlyUsed();
    void removeFlow(const QString &key);
    void checkDrained();
    void reportDrops(); // emits datagramsDropped() when drops() grew
    void logDrops(); // once, when the forwarder stops

    ClientOptions m_options; // with the Tow-Destination header of every flow
    TlsPolicy m_tls;
    QUdpSocket *m_socket = nullptr;
    QUrl m_effectiveUrl;
    QHash<QString, Flow> m_flows; // by "address:port" of the local source
    int m_relays = 0; // open flows' relays, closing ones included
    int m_maxFlows = kDefaultMaxFlows;
    quint64 m_tick = 0;
    qint64 m_droppedWhileOpening = 0;
    qint64 m_droppedWhileBackingOff = 0;
    qint64 m_droppedQueueFull = 0; // by the flows' relays, and by the local socket
    qint64 m_droppedTooBig = 0;
    qint64 m_droppedReported = 0; // drops().total() when datagramsDropped() was last emitted
    bool m_dropsLogged = false;
    qint64 m_droppedAtEpisodeStart = 0; // m_droppedWhileBackingOff when the server last failed
    Backoff m_backoff {kFirstRetryPauseMs, kMaxRetryPauseMs};
    QTimer m_retryTimer; // runs while new flows wait after a failure
    QString m_probeKey; // the flow that tries the server again after a failure, while it opens
    bool m_shuttingDown = false;
};

// One UDP flow: joins a WebSocket and a UDP peer, one binary message per datagram both ways,
// with a bounded queue towards the WebSocket (the oldest datagrams dropped), keep-alive, an idle
// timeout and counters of what was relayed and dropped.
#pragma once

#include <QBasicTimer>
#include <QByteArray>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QString>
#include <deque>

class QUdpSocket;
class QWebSocket;

class DatagramRelay : public QObject
{
    Q_OBJECT
public:
    // The largest payload of a UDP datagram over IPv4 (65,535 - 8 - 20). A message longer than
    // this cannot be one datagram: it is dropped and counted.
    static constexpr qint64 kMaxDatagramBytes = 65507;

    struct Options
    {
        // Bytes towards the WebSocket peer, queued here and unsent in its transport together,
        // beyond which the oldest queued datagrams are dropped. The transport is given at most a
        // quarter of it (and one datagram); the rest is the queue. Bounds a flow's memory
        // whatever the speed of the WebSocket peer.
        qint64 queueBytes = 256 * 1024;
        // A flow that relays no datagram either way for this long is closed (1000 "idle");
        // keep-alives do not count (0: never).
        int idleTimeoutMs = 60000;
        // An empty binary message after this long without sending anything (0: never).
        int keepAliveIntervalMs = 10000;
        // Largest message QWebSocket assembles; a longer one closes the WebSocket with 1009
        // (it would be dropped anyway), so that a peer cannot make us buffer more.
        qint64 maxIncomingMessageBytes = 1024 * 1024;
        // How long our close may wait for the peer's answer before the WebSocket is aborted.
        int closeTimeoutMs = 5000;
    };

    enum class Direction { WsToUdp, UdpToWs };
    enum class DropReason { QueueFull, TooBig };

    struct Counters
    {
        qint64 wsToUdp = 0; // datagrams sent to the UDP peer
        qint64 udpToWs = 0; // datagrams given to the WebSocket
        qint64 droppedTooBig = 0; // messages from the WebSocket longer than kMaxDatagramBytes
        qint64 droppedQueueFull = 0; // from UDP: the oldest, when the queue was full
        qint64 droppedSendFailed = 0; // to UDP: the kernel took none (its buffer was full)
        qint64 peakQueuedBytes = 0; // most bytes ever queued here and unsent in the transport
    };

    // Takes ownership of both. The WebSocket must be open; udp, when given, is connected to its
    // one peer, or bound and given its peer by setUdpPeer(): the relay reads and writes it.
    // Without udp (a client's flows share one local
    // socket) the owner hands in what the local peer sends (sendToWebSocket()) and sends what
    // datagramForUdp() gives it.
    DatagramRelay(QWebSocket *ws, QUdpSocket *udp, const Options &options,
                  const QString &description, QObject *parent = nullptr);
    ~DatagramRelay() override;

    // The relay's own udp socket is not connected but sends to this peer and takes datagrams
    // from it only. (A connected UDP socket learns of ICMP port-unreachable answers, and Qt 6.4
    // then stops reading it: a peer that restarts would never be heard again.)
    void setUdpPeer(const QHostAddress &address, quint16 port);

    // A datagram from the UDP side, queued towards the WebSocket (the oldest dropped when full).
    void sendToWebSocket(const QByteArray &datagram);

    const Counters &counters() const { return m_counters; }
    // Bytes queued here, not yet given to the WebSocket.
    qint64 queuedBytes() const { return m_queuedBytes; }
    int queuedDatagrams() const { return int(m_queue.size()); }
    bool isFinished() const { return m_finished; }
    QString closeReason() const { return m_reason; }

    // Closes the flow (WebSocket close 1001 "going away"); finished() follows.
    void shutdown(const QString &reason = QString());
    // Closes the flow as idle now (1000 "idle"), as the idle timeout does.
    void closeIdle();

Q_SIGNALS:
    // Without a UDP socket of its own: a datagram from the WebSocket peer for the local peer.
    void datagramForUdp(const QByteArray &datagram);
    // Datagrams relayed (counted once each), for metrics and live counters.
    void relayed(DatagramRelay::Direction direction, qint64 datagrams, qint64 bytes);
    void dropped(DatagramRelay::Direction direction, DatagramRelay::DropReason reason,
                 qint64 datagrams);
    // The WebSocket is closed; the relay can be deleted (deleteLater).
    void finished();

protected:
    void timerEvent(QTimerEvent *event) override;

private:
    void onBinaryMessage(const QByteArray &message);
    void onTextMessage();
    void onUdpReadyRead();
    void pump();
    void dropOldestToFit();
    qint64 transportUnsent() const;
    void dataMoved();
    void closeWs(int code, const QString &text, const QString &reason);
    void onWsDisconnected();

    QPointer<QWebSocket> m_ws;
    QUdpSocket *m_udp;
    QHostAddress m_peerAddress; // with a port: the peer of an unconnected m_udp
    quint16 m_peerPort = 0;
    Options m_options;
    QString m_description;
    std::deque<QByteArray> m_queue; // towards the WebSocket, oldest first
    qint64 m_queuedBytes = 0;
    Counters m_counters;
    QString m_reason;
    QBasicTimer m_idleTimer;
    QBasicTimer m_keepAliveTimer;
    QBasicTimer m_closeTimer;
    bool m_closing = false;
    bool m_finished = false;
    bool m_pumping = false;
};

Q_DECLARE_METATYPE(DatagramRelay::Direction)
Q_DECLARE_METATYPE(DatagramRelay::DropReason)

// The server's connections that are not tunnels (yet): each has the handshake timeout to become
// one (a keep-alive HTTP connection, e.g. Prometheus', gets it afresh after each answer), and
// beyond the limit of waiting connections the oldest is closed, a flooding client's own first.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QString>
#include <deque>

class QTcpSocket;

class PendingConnections : public QObject
{
    Q_OBJECT
public:
    explicit PendingConnections(QObject *parent = nullptr);

    void setLimits(int handshakeTimeoutMs, int maxPendingConnections);

    // An accepted connection (before any TLS handshake).
    void add(QTcpSocket *socket);
    // The connection became a tunnel: no timeout, never evicted.
    static void markTunnel(QTcpSocket *socket);
    // While the server reaches the destination a client named (up to the connect timeout), the
    // connection's handshake timeout waits; it starts afresh when the waiting ends.
    void markWaiting(QTcpSocket *socket, bool waiting);
    // A plain request on the connection was answered just now.
    void markAnswered(QTcpSocket *socket);

    // Closes the connections whose time is up; for a periodic timer.
    void sweep();

    int count() const { return int(m_pending.size()); }

Q_SIGNALS:
    // A connection was closed: reason "timeout" (no upgrade in time) or "evicted" (too many).
    void closed(const QString &reason);

private:
    struct Entry
    {
        QPointer<QTcpSocket> socket;
        qint64 acceptedAtMs = 0;
        QString clientKey; // TunnelAdmission::limitKeyOf() the peer: who to evict first
    };

    void evict();

    int m_handshakeTimeoutMs = 10000;
    int m_maxPending = 1024;
    QElapsedTimer m_clock;
    std::deque<Entry> m_pending; // oldest first
};

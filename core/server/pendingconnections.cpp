#include "pendingconnections.h"

#include "logcategories.h"
#include "tunneladmission.h"

#include <QHash>
#include <QTcpSocket>
#include <vector>

namespace {

const char kTunnelProperty[] = "tow_tunnel";
const char kAnsweredProperty[] = "tow_answered_ms";
const char kWaitingProperty[] = "tow_waiting";

bool isTunnel(const QTcpSocket *socket)
{
    return socket->property(kTunnelProperty).toBool();
}

} // namespace

PendingConnections::PendingConnections(QObject *parent) : QObject(parent)
{
    m_clock.start();
}

void PendingConnections::setLimits(int handshakeTimeoutMs, int maxPendingConnections)
{
    m_handshakeTimeoutMs = handshakeTimeoutMs;
    m_maxPending = maxPendingConnections;
}

void PendingConnections::add(QTcpSocket *socket)
{
    m_pending.push_back(
        {socket, m_clock.elapsed(), TunnelAdmission::limitKeyOf(socket->peerAddress())});
    if (qsizetype(m_pending.size()) > m_maxPending)
        evict();
}

void PendingConnections::markTunnel(QTcpSocket *socket)
{
    socket->setProperty(kTunnelProperty, true);
}

void PendingConnections::markWaiting(QTcpSocket *socket, bool waiting)
{
    socket->setProperty(kWaitingProperty, waiting);
    if (!waiting)
        markAnswered(socket);
}

void PendingConnections::markAnswered(QTcpSocket *socket)
{
    socket->setProperty(kAnsweredProperty, m_clock.elapsed());
}

void PendingConnections::evict()
{
    // Forget what needs no action first; if still over the limit, close a waiting connection:
    // the oldest of the client (address, or IPv6 /64) with the most of them when that client
    // holds clearly more than its share (an eighth of the limit), so that a flood of idle
    // sockets from one place pushes out its own and not those of everyone else; otherwise the
    // oldest of all (a flood spread over many addresses must not single out a browser that
    // happens to have two). Behind a reverse proxy every connection comes from the proxy.
    std::deque<Entry> live;
    QHash<QString, int> perClient;
    for (Entry &entry : m_pending) {
        if (entry.socket && !isTunnel(entry.socket)) {
            ++perClient[entry.clientKey];
            live.push_back(std::move(entry));
        }
    }
    m_pending.swap(live);
    while (qsizetype(m_pending.size()) > m_maxPending) {
        int most = 0;
        for (auto it = perClient.cbegin(); it != perClient.cend(); ++it)
            most = qMax(most, it.value());
        const bool oneClientFloods = most > qMax(2, m_maxPending / 8);
        const auto victim = std::find_if(m_pending.begin(), m_pending.end(), [&](const Entry &e) {
            return !oneClientFloods || perClient.value(e.clientKey) == most;
        });
        const QPointer<QTcpSocket> socket = victim->socket;
        --perClient[victim->clientKey];
        m_pending.erase(victim);
        Q_EMIT closed(QStringLiteral("evicted"));
        qCDebug(lcServer) << "too many connections waiting to become tunnels; closing"
                          << socket->peerAddress().toString();
        socket->abort();
    }
}

void PendingConnections::sweep()
{
    const qint64 now = m_clock.elapsed();
    const qint64 deadline = now - m_handshakeTimeoutMs;
    std::vector<Entry> kept;
    while (!m_pending.empty() && m_pending.front().acceptedAtMs <= deadline) {
        const QPointer<QTcpSocket> socket = m_pending.front().socket;
        QString clientKey = std::move(m_pending.front().clientKey);
        m_pending.pop_front();
        if (!socket || isTunnel(socket))
            continue;
        // The timeout is for a request: a keep-alive connection gets it afresh after each
        // answer, and is never cut while its answer is still being sent.
        const qint64 answeredAt = socket->property(kAnsweredProperty).toLongLong();
        if (socket->property(kWaitingProperty).toBool()) {
            kept.push_back({socket, now, std::move(clientKey)});
            continue;
        }
        if (answeredAt > deadline || socket->bytesToWrite() > 0) {
            kept.push_back(
                {socket, answeredAt > deadline ? answeredAt : now, std::move(clientKey)});
            continue;
        }
        Q_EMIT closed(QStringLiteral("timeout"));
        qCDebug(lcServer).noquote()
            << socket->peerAddress().toString() << "closed: no WebSocket upgrade within"
            << m_handshakeTimeoutMs << "ms";
        socket->abort();
    }
    for (Entry &entry : kept)
        m_pending.push_back(std::move(entry));
}

#include "udpforwarder.h"

#include "connectionsettings.h"
#include "logcategories.h"
#include "net/destination.h"
#include "net/websocketurl.h"
#include "relay/datagramrelay.h"
#include "websocketconnector.h"

#include <QNetworkDatagram>
#include <QUdpSocket>
#include <QWebSocket>
#include <limits>

namespace {

QString keyOf(const QHostAddress &address, quint16 port)
{
    return HostPort {address.toString(), port}.toString();
}

} // namespace

UdpForwarder::UdpForwarder(const ClientOptions &options, QObject *parent)
    : QObject(parent), m_options(options), m_effectiveUrl(options.serverUrl)
{
    Destination destination;
    destination.udp = true;
    destination.target = m_options.udpRemote;
    m_options.headers.append({QByteArray(Destination::kHeader), destination.headerValue()});
    m_retryTimer.setSingleShot(true);
    connect(&m_retryTimer, &QTimer::timeout, this, [this] {
        qCDebug(lcClient).noquote() << "udp: the next new flow tries the server again";
    });
}

UdpForwarder::~UdpForwarder()
{
    if (m_socket)
        logDrops();
    for (auto it = m_flows.begin(); it != m_flows.end(); ++it) {
        delete it->connector.data();
        delete it->relay.data();
    }
    const auto relays = findChildren<DatagramRelay *>(QString(), Qt::FindDirectChildrenOnly);
    qDeleteAll(relays);
}

bool UdpForwarder::listen(QString *error)
{
    const auto settings = ConnectionSettings::prepare(m_options, error);
    if (!settings)
        return false;
    m_tls = settings->tls;
    QHostAddress address = m_options.udpListen.listenAddress();
    if (address.isNull()) {
        *error = QStringLiteral("--udp: %1 is not an IP address").arg(m_options.udpListen.host);
        return false;
    }
    m_socket = new QUdpSocket(this);
    if (!m_socket->bind(address, m_options.udpListen.port)) {
        *error = QStringLiteral("cannot receive UDP on %1: %2")
                     .arg(m_options.udpListen.toString(), m_socket->errorString());
        delete m_socket;
        m_socket = nullptr;
        return false;
    }
    connect(m_socket, &QUdpSocket::readyRead, this, &UdpForwarder::onReadyRead);
    settings->logListening(HostPort {localAddress().toString(), localPort()}.toString()
                               + QLatin1String(" (UDP) for ") + m_options.udpRemote.toString(),
                           m_options);
    return true;
}

void UdpForwarder::shutdown()
{
    m_shuttingDown = true;
    if (m_socket) {
        m_socket->close();
        logDrops();
    }
    const QStringList keys = m_flows.keys();
    for (const QString &key : keys) {
        DatagramRelay *relay = m_flows.value(key).relay;
        removeFlow(key);
        if (relay)
            relay->shutdown(QStringLiteral("tunnel stopped"));
    }
    checkDrained();
}

QHostAddress UdpForwarder::localAddress() const
{
    return m_socket ? m_socket->localAddress() : QHostAddress();
}

quint16 UdpForwarder::localPort() const
{
    return m_socket ? m_socket->localPort() : 0;
}

qint64 UdpForwarder::pendingBytes() const
{
    qint64 bytes = 0;
    for (const Flow &flow : m_flows)
        bytes += flow.pendingBytes;
    return bytes;
}

UdpForwarder::Drops UdpForwarder::drops() const
{
    Drops drops;
    drops.backingOff = m_droppedWhileBackingOff;
    drops.queueFull = m_droppedWhileOpening + m_droppedQueueFull;
    drops.tooBig = m_droppedTooBig;
    return drops;
}

void UdpForwarder::reportDrops()
{
    const qint64 total = drops().total();
    if (total == m_droppedReported)
        return;
    m_droppedReported = total;
    Q_EMIT datagramsDropped();
}

void UdpForwarder::logDrops()
{
    if (m_dropsLogged)
        return;
    m_dropsLogged = true;
    const Drops dropped = drops();
    if (dropped.total() == 0)
        return;
    qCInfo(lcClient).noquote() << "udp" << m_options.udpListen.toString() << "->"
                               << m_options.udpRemote.toString() << "-" << dropped.total()
                               << "datagram(s) dropped here:" << dropped.backingOff
                               << "while the server was not tried again," << dropped.queueFull
                               << "with a full queue," << dropped.tooBig << "too big";
}

void UdpForwarder::onReadyRead()
{
    qint64 sent = 0;
    while (m_socket && m_socket->hasPendingDatagrams()) {
        const QNetworkDatagram datagram = m_socket->receiveDatagram();
        if (!datagram.isValid())
            break;
        if (datagram.data().isEmpty())
            continue; // an empty message is a keep-alive on the wire: cannot be carried
        const QHostAddress address = datagram.senderAddress();
        const quint16 port = quint16(datagram.senderPort());
        const QString key = keyOf(address, port);
        auto it = m_flows.find(key);
        if (it == m_flows.end()) {
            if (m_shuttingDown)
                continue;
            if (!mayOpenFlow(key)) {
                ++m_droppedWhileBackingOff;
                continue;
            }
            if (m_flows.size() >= m_maxFlows)
                closeLeastRecentlyUsed();
            openFlow(address, port);
            it = m_flows.find(key);
        }
        it->lastUsed = ++m_tick;
        if (it->relay) {
            it->relay->sendToWebSocket(datagram.data());
            sent += datagram.data().size();
            continue;
        }
        it->pending.push_back(datagram.data());
        it->pendingBytes += datagram.data().size();
        while (it->pendingBytes > kPendingBytes) {
            it->pendingBytes -= it->pending.front().size();
            it->pending.pop_front();
            ++m_droppedWhileOpening;
        }
    }
    if (sent > 0)
        Q_EMIT transferred(sent, 0);
    reportDrops();
}

void UdpForwarder::retryNow()
{
    m_retryTimer.stop();
}

// Whether a new flow may open its WebSocket now. After a failure, none may until the pause is
// over; then one tries (key becomes the probe), and the others wait until it has opened: a
// server that is down gets one upgrade attempt per pause, however many datagrams arrive.
bool UdpForwarder::mayOpenFlow(const QString &key)
{
    if (m_backoff.episodeFailures() == 0)
        return true;
    if (m_retryTimer.isActive() || !m_probeKey.isEmpty())
        return false;
    m_probeKey = key;
    return true;
}

UdpForwarder::Flow *UdpForwarder::openFlow(const QHostAddress &address, quint16 port)
{
    const QString key = keyOf(address, port);
    Flow &flow = m_flows[key];
    flow.address = address;
    flow.port = port;
    auto *connector = new WebSocketConnector(m_options, m_tls, this);
    flow.connector = connector;
    connect(connector, &WebSocketConnector::failed, this,
            [this, key](const WebSocketConnector::Failure &failure) {
                onFailed(key, failure.reason, failure.httpStatus);
            });
    connect(connector, &WebSocketConnector::opened, this, [this, key] { onOpened(key); });
    connector->open(m_effectiveUrl);
    return &flow;
}

void UdpForwarder::onFailed(const QString &key, const QString &reason, int httpStatus)
{
    auto *connector = qobject_cast<WebSocketConnector *>(sender());
    if (connector)
        connector->deleteLater();
    auto it = m_flows.find(key);
    // A late failure of a flow that was replaced since (same source): the new flow's attempt is
    // still running and decides.
    if (it != m_flows.end() && it->connector != connector)
        return;
    if (it != m_flows.end()) {
        m_droppedWhileOpening += qint64(it->pending.size());
        m_flows.erase(it);
    }
    if (m_probeKey == key)
        m_probeKey.clear();
    // Flows that were opening together fail together: one pause for all of them.
    if (!m_retryTimer.isActive() && !m_shuttingDown) {
        const int pauseMs = m_backoff.failed();
        m_retryTimer.start(pauseMs);
        if (m_backoff.episodeFailures() == 1) {
            m_droppedAtEpisodeStart = m_droppedWhileBackingOff;
            qCWarning(lcClient).noquote()
                << key << "- cannot open" << WebSocketUrl::redacted(m_effectiveUrl) << "for"
                << QLatin1String("udp/") + m_options.udpRemote.toString() << "-" << reason
                << "- new flows wait" << pauseMs << "to" << m_backoff.maxPauseMs()
                << "ms between attempts; their datagrams are dropped meanwhile";
        } else {
            qCDebug(lcClient).noquote()
                << key << "- still cannot open" << WebSocketUrl::redacted(m_effectiveUrl) << "-"
                << reason << "- next attempt in" << pauseMs << "ms";
        }
    } else {
        qCDebug(lcClient).noquote()
            << key << "- cannot open" << WebSocketUrl::redacted(m_effectiveUrl) << "-" << reason;
    }
    if (m_effectiveUrl != m_options.serverUrl)
        m_effectiveUrl = m_options.serverUrl; // the redirect target failed: start over
    Q_EMIT connectionFailed(reason, httpStatus);
    reportDrops();
    checkDrained();
}

void UdpForwarder::onOpened(const QString &key)
{
    auto *connector = qobject_cast<WebSocketConnector *>(sender());
    if (!connector)
        return;
    QWebSocket *ws = connector->takeWebSocket();
    m_effectiveUrl = connector->rememberedUrl();
    const QUrl finalUrl = connector->finalUrl();
    connector->deleteLater();
    if (m_probeKey == key)
        m_probeKey.clear();
    const qint64 outageMs = m_backoff.episodeElapsedMs();
    if (const int failures = m_backoff.succeeded(); failures > 0) {
        m_retryTimer.stop();
        qCInfo(lcClient).noquote()
            << "udp: the server is reachable again after" << failures << "failed attempt(s) in"
            << QString::number(outageMs / 1000.0, 'f', 1) << "s;"
            << m_droppedWhileBackingOff - m_droppedAtEpisodeStart
            << "datagram(s) of new flows dropped meanwhile";
    }
    auto it = m_flows.find(key);
    if (it == m_flows.end() || it->connector != connector || m_shuttingDown) {
        // Closed meanwhile (least recently used, or shutting down): nothing was carried yet.
        ws->close(QWebSocketProtocol::CloseCodeGoingAway);
        ws->deleteLater();
        return;
    }
    DatagramRelay::Options relayOptions;
    relayOptions.idleTimeoutMs = m_options.udpIdleTimeoutMs;
    relayOptions.keepAliveIntervalMs = m_options.relay.keepAliveIntervalMs;
    relayOptions.closeTimeoutMs = m_options.relay.closeTimeoutMs;
    const QString description = key + QLatin1String(" -> ") + WebSocketUrl::redacted(finalUrl)
        + QLatin1String(" udp/") + m_options.udpRemote.toString();
    auto *relay = new DatagramRelay(ws, nullptr, relayOptions, description, this);
    it->relay = relay;
    it->connector = nullptr;
    ++m_relays;
    Q_EMIT activeConnectionsChanged(m_relays);
    const QHostAddress address = it->address;
    const quint16 port = it->port;
    connect(relay, &DatagramRelay::datagramForUdp, this,
            [this, key, address, port](const QByteArray &datagram) {
                // Not isOpen(): a bound QUdpSocket is not an open QIODevice (Qt 6.4).
                if (!m_socket || m_socket->state() != QAbstractSocket::BoundState)
                    return;
                auto flow = m_flows.find(key);
                if (flow != m_flows.end())
                    flow->lastUsed = ++m_tick;
                // A local peer that reads nothing loses datagrams in its kernel, not here; but
                // when our socket's own buffer is full the kernel takes none.
                if (m_socket->writeDatagram(datagram, address, port) != datagram.size()) {
                    ++m_droppedQueueFull;
                    reportDrops();
                    return;
                }
                Q_EMIT transferred(0, datagram.size());
            });
    connect(relay, &DatagramRelay::dropped, this,
            [this](DatagramRelay::Direction, DatagramRelay::DropReason reason, qint64 datagrams) {
                if (reason == DatagramRelay::DropReason::TooBig)
                    m_droppedTooBig += datagrams;
                else
                    m_droppedQueueFull += datagrams;
                reportDrops();
            });
    connect(relay, &DatagramRelay::finished, this, [this, key, relay] {
        auto flow = m_flows.find(key);
        if (flow != m_flows.end() && flow->relay == relay)
            m_flows.erase(flow);
        --m_relays;
        Q_EMIT activeConnectionsChanged(m_relays);
        relay->deleteLater();
        checkDrained();
    });
    std::deque<QByteArray> pending;
    pending.swap(it->pending);
    it->pendingBytes = 0;
    qint64 sent = 0;
    for (const QByteArray &datagram : pending) {
        relay->sendToWebSocket(datagram);
        sent += datagram.size();
    }
    if (sent > 0)
        Q_EMIT transferred(sent, 0);
}

void UdpForwarder::closeLeastRecentlyUsed()
{
    QString oldest;
    quint64 oldestTick = std::numeric_limits<quint64>::max();
    for (auto it = m_flows.cbegin(); it != m_flows.cend(); ++it) {
        if (it->lastUsed < oldestTick) {
            oldestTick = it->lastUsed;
            oldest = it.key();
        }
    }
    if (oldest.isEmpty())
        return;
    qCInfo(lcClient).noquote() << oldest << "- udp flow closed: more than" << m_maxFlows
                               << "flows, this one used least recently";
    DatagramRelay *relay = m_flows.value(oldest).relay;
    removeFlow(oldest);
    if (relay)
        relay->shutdown(QStringLiteral("too many flows"));
}

void UdpForwarder::removeFlow(const QString &key)
{
    auto it = m_flows.find(key);
    if (it == m_flows.end())
        return;
    if (it->connector)
        it->connector->deleteLater(); // its signals are not delivered any more
    if (m_probeKey == key)
        m_probeKey.clear(); // another flow may try the server
    m_droppedWhileOpening += qint64(it->pending.size());
    m_flows.erase(it);
}

void UdpForwarder::checkDrained()
{
    if (m_shuttingDown && m_relays == 0)
        QMetaObject::invokeMethod(this, &UdpForwarder::drained, Qt::QueuedConnection);
}

#include "servermetrics.h"

#include "metrics/processmetrics.h"

namespace {

// The original Go server's metrics, names and labels unchanged.
const QString kConnections = QStringLiteral("http_to_tcp_connections");
const QString kActive = QStringLiteral("http_to_tcp_active_connections");
const QString kErrors = QStringLiteral("http_to_tcp_error");
// Ours.
const QString kBytes = QStringLiteral("tcp_over_websocket_relayed_bytes_total");
const QString kRouteTunnels = QStringLiteral("tcp_over_websocket_tunnels_total");
const QString kRouteActive = QStringLiteral("tcp_over_websocket_active_tunnels");
const QString kDuration = QStringLiteral("tcp_over_websocket_tunnel_duration_seconds");
const QString kHandshakeFailures = QStringLiteral("tcp_over_websocket_handshake_failures_total");
const QString kLimitRejections = QStringLiteral("tcp_over_websocket_limit_rejections_total");
const QString kPeakQueued = QStringLiteral("tcp_over_websocket_relay_peak_queued_bytes");
const QString kHttpRequests = QStringLiteral("tcp_over_websocket_http_requests_total");
const QString kReloads = QStringLiteral("tcp_over_websocket_config_reloads_total");
const QString kDraining = QStringLiteral("tcp_over_websocket_draining");
const QString kDestinationRefusals =
    QStringLiteral("tcp_over_websocket_destination_refusals_total");
const QString kAcceptErrors = QStringLiteral("tcp_over_websocket_accept_errors_total");
// UDP flows.
const QString kUdpDatagrams = QStringLiteral("tcp_over_websocket_udp_datagrams_total");
const QString kUdpDropped = QStringLiteral("tcp_over_websocket_udp_datagrams_dropped_total");

MetricsRegistry::Labels label(const char *name, const QString &value)
{
    return {{QString::fromLatin1(name), value}};
}

QStringList labelNames(const char *name)
{
    return {QString::fromLatin1(name)};
}

// Every reason countHandshakeFailure() is given, each shown from the start at 0, so that a scrape
// has the same series before and after the first failure and rate() sees the first one.
const char *const kHandshakeFailureReasons[] = {
    "not_found",   "not_websocket", "unauthorized", "origin",    "draining",
    "bad_request", "timeout",       "evicted",      "websocket", "tls",
};

} // namespace

ServerMetrics::ServerMetrics()
{
    using Type = MetricsRegistry::Type;
    m_registry.declare(kConnections, Type::Counter,
                       QStringLiteral("The total number of connections open"), labelNames("type"));
    m_registry.declare(kActive, Type::Gauge, QStringLiteral("The number of active connections"));
    m_registry.declare(kErrors, Type::Counter, QStringLiteral("The total number of errors"),
                       labelNames("type"));
    for (const char *type : {"http", "tcp"})
        m_registry.add(kConnections, label("type", QString::fromLatin1(type)), 0);
    for (const char *type : {"upgrade", "dial_tcp", "tcp_reset"})
        m_registry.add(kErrors, label("type", QString::fromLatin1(type)), 0);
    m_registry.set(kActive, 0);

    m_registry.declare(kBytes, Type::Counter,
                       QStringLiteral("Bytes relayed, by route and direction (ws_to_tcp: from the "
                                      "WebSocket clients to the remote; tcp_to_ws: back)."),
                       {QStringLiteral("route"), QStringLiteral("direction")});
    m_registry.declare(kRouteTunnels, Type::Counter,
                       QStringLiteral("Tunnels opened, by route (tunnel path)."),
                       labelNames("route"));
    m_registry.declare(kRouteActive, Type::Gauge, QStringLiteral("Tunnels open now, by route."),
                       labelNames("route"));
    m_registry.declareHistogram(kDuration, QStringLiteral("How long tunnels lasted, by route."),
                                {0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600});
    m_registry.declare(kHandshakeFailures, Type::Counter,
                       QStringLiteral("Connections that did not become a tunnel, by reason "
                                      "(not_found, not_websocket, unauthorized, origin, draining, "
                                      "bad_request, timeout, evicted, websocket, tls)."),
                       labelNames("reason"));
    for (const char *reason : kHandshakeFailureReasons)
        m_registry.add(kHandshakeFailures, label("reason", QString::fromLatin1(reason)), 0);
    m_registry.declare(kLimitRejections, Type::Counter,
                       QStringLiteral("Upgrades refused by a concurrency limit (server_limit, "
                                      "route_limit, client_limit, lookup_limit: too many name "
                                      "lookups of dynamic routes in progress or waiting)."),
                       labelNames("limit"));
    for (const char *limit : {"server_limit", "route_limit", "client_limit", "lookup_limit"})
        m_registry.add(kLimitRejections, label("limit", QString::fromLatin1(limit)), 0);
    m_registry.declare(kPeakQueued, Type::Gauge,
                       QStringLiteral("Largest number of bytes any finished tunnel queued towards "
                                      "one side (bounded by the relay's flow control)."));
    m_registry.declare(kHttpRequests, Type::Counter,
                       QStringLiteral("Plain HTTP requests answered, by path class."),
                       labelNames("path"));
    for (const char *path : {"/metrics", "/healthz", "/readyz", "other"})
        m_registry.add(kHttpRequests, label("path", QString::fromLatin1(path)), 0);
    m_registry.declare(kReloads, Type::Counter,
                       QStringLiteral("Configuration reloads (SIGHUP), by result."),
                       labelNames("result"));
    for (const char *result : {"success", "failure"})
        m_registry.add(kReloads, label("result", QString::fromLatin1(result)), 0);
    m_registry.declare(kDraining, Type::Gauge,
                       QStringLiteral("1 while the server drains before exiting."));
    m_registry.declare(kAcceptErrors, Type::Counter,
                       QStringLiteral("Connections the listener could not accept (out of file "
                                      "descriptors or memory); each pauses accepting for 0.1 to "
                                      "1 s."));
    m_registry.set(kAcceptErrors, 0);
    m_registry.declare(kDestinationRefusals, Type::Counter,
                       QStringLiteral("Destinations refused on dynamic routes (not in the allow "
                                      "list, denied by default, malformed), by route."),
                       labelNames("route"));
    ProcessMetrics::declare(m_registry);
}

ServerMetrics::RouteBytes *ServerMetrics::routeBytes(const QString &routePath)
{
    std::shared_ptr<RouteBytes> &bytes = m_routeBytes[routePath];
    if (!bytes)
        bytes = std::make_shared<RouteBytes>();
    return bytes.get();
}

void ServerMetrics::countHttpRequest(const QString &pathClass)
{
    m_registry.add(kHttpRequests, label("path", pathClass), 1);
}

void ServerMetrics::countUpgradeError()
{
    m_registry.add(kErrors, label("type", QStringLiteral("upgrade")), 1);
}

void ServerMetrics::countHandshakeFailure(const QString &reason)
{
    m_registry.add(kHandshakeFailures, label("reason", reason), 1);
}

void ServerMetrics::countLimitRejection(const QString &limit)
{
    m_registry.add(kLimitRejections, label("limit", limit), 1);
}

void ServerMetrics::countReload(bool success)
{
    m_registry.add(kReloads,
                   label("result", success ? QStringLiteral("success") : QStringLiteral("failure")),
                   1);
}

void ServerMetrics::countAcceptError()
{
    m_registry.add(kAcceptErrors, 1);
}

void ServerMetrics::countTunnelOpened(const QString &routePath)
{
    m_registry.add(kConnections, label("type", QStringLiteral("http")), 1);
    m_registry.add(kRouteTunnels, label("route", routePath), 1);
}

void ServerMetrics::countRemoteConnected()
{
    m_registry.add(kConnections, label("type", QStringLiteral("tcp")), 1);
}

void ServerMetrics::countRemoteUnreachable()
{
    m_registry.add(kErrors, label("type", QStringLiteral("dial_tcp")), 1);
}

void ServerMetrics::countDestinationRefusal(const QString &routePath)
{
    m_registry.add(kDestinationRefusals, label("route", routePath), 1);
}

void ServerMetrics::showDestinationRefusals(const QString &routePath)
{
    m_registry.add(kDestinationRefusals, label("route", routePath), 0);
}

void ServerMetrics::countRemoteReset()
{
    m_registry.add(kErrors, label("type", QStringLiteral("tcp_reset")), 1);
}

void ServerMetrics::tunnelFinished(const QString &routePath, double seconds, qint64 peakQueuedBytes)
{
    m_registry.setMax(kPeakQueued, double(peakQueuedBytes));
    m_registry.observe(kDuration, label("route", routePath), seconds);
}

void ServerMetrics::declareUdp()
{
    if (m_udpDeclared)
        return;
    m_udpDeclared = true;
    m_registry.declare(kUdpDatagrams, MetricsRegistry::Type::Counter,
                       QStringLiteral("UDP datagrams relayed, by route and direction (ws_to_udp: "
                                      "from the WebSocket clients to the destination; udp_to_ws: "
                                      "back)."),
                       {QStringLiteral("route"), QStringLiteral("direction")});
    m_registry.declare(
        kUdpDropped, MetricsRegistry::Type::Counter,
        QStringLiteral("UDP datagrams dropped, by route, direction and reason "
                       "(queue_full: the oldest of a full queue, or refused by a "
                       "full socket buffer; too_big: a message longer than 65507 "
                       "bytes)."),
        {QStringLiteral("route"), QStringLiteral("direction"), QStringLiteral("reason")});
}

void ServerMetrics::countUdpDatagrams(const QString &routePath, bool wsToUdp, qint64 count)
{
    declareUdp();
    m_registry.add(kUdpDatagrams,
                   {{QStringLiteral("route"), routePath},
                    {QStringLiteral("direction"),
                     wsToUdp ? QStringLiteral("ws_to_udp") : QStringLiteral("udp_to_ws")}},
                   double(count));
}

void ServerMetrics::countUdpDropped(const QString &routePath, bool wsToUdp, bool tooBig,
                                    qint64 count)
{
    declareUdp();
    m_registry.add(kUdpDropped,
                   {{QStringLiteral("route"), routePath},
                    {QStringLiteral("direction"),
                     wsToUdp ? QStringLiteral("ws_to_udp") : QStringLiteral("udp_to_ws")},
                    {QStringLiteral("reason"),
                     tooBig ? QStringLiteral("too_big") : QStringLiteral("queue_full")}},
                   double(count));
}

void ServerMetrics::countUdpFlowOpened(const QString &routePath)
{
    // Every series of a route that carries UDP shown from its first flow, at 0.
    for (bool wsToUdp : {true, false}) {
        countUdpDatagrams(routePath, wsToUdp, 0);
        countUdpDropped(routePath, wsToUdp, false, 0);
    }
    countUdpDropped(routePath, true, true, 0);
}

void ServerMetrics::setActiveTunnels(int count)
{
    m_registry.set(kActive, count);
}

void ServerMetrics::updateProcessAndDraining(bool draining, int active)
{
    ProcessMetrics::update(m_registry);
    m_registry.set(kDraining, draining ? 1 : 0);
    m_registry.set(kActive, active);
}

void ServerMetrics::setRoute(const QString &route, const RouteBytes &bytes, int active)
{
    m_registry.set(kBytes,
                   {{QStringLiteral("route"), route},
                    {QStringLiteral("direction"), QStringLiteral("tcp_to_ws")}},
                   double(bytes.tcpToWs));
    m_registry.set(kBytes,
                   {{QStringLiteral("route"), route},
                    {QStringLiteral("direction"), QStringLiteral("ws_to_tcp")}},
                   double(bytes.wsToTcp));
    m_registry.set(kRouteActive, label("route", route), active);
    m_registry.add(kRouteTunnels, label("route", route), 0); // shown at 0 before the first
}

#include "tunneladmission.h"

#include <QList>

namespace {

QString routeClientKey(const QString &path, const QString &client)
{
    return path + QLatin1Char('\n') + client;
}

void decrement(QHash<QString, int> &counts, const QString &key)
{
    auto it = counts.find(key);
    if (it == counts.end())
        return;
    if (--it.value() <= 0)
        counts.erase(it);
}

QString normalised(const QHostAddress &address)
{
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; count it as a.b.c.d.
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    return isV4 ? QHostAddress(v4).toString() : address.toString();
}

// What the per-client limits count: an IPv4 address, or the /64 of an IPv6 one (one site or
// host typically holds a whole /64, so counting single addresses would not limit it at all).
QString limitKey(const QString &client)
{
    const QHostAddress address(client);
    if (address.protocol() != QAbstractSocket::IPv6Protocol)
        return client;
    Q_IPV6ADDR bytes = address.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        bytes[i] = 0;
    return QHostAddress(bytes).toString() + QStringLiteral("/64");
}

} // namespace

TunnelAdmission::TunnelAdmission(const ServerOptions &options) : m_options(options) { }

QString TunnelAdmission::limitKeyOf(const QHostAddress &peer)
{
    return limitKey(normalised(peer));
}

void TunnelAdmission::setOptions(const ServerOptions &options)
{
    m_options = options;
}

int TunnelAdmission::routeIndex(const QString &path) const
{
    // An exact path first; else the longest prefix route that takes the path.
    int best = -1;
    for (qsizetype i = 0; i < m_options.routes.size(); ++i) {
        const ServerRoute &route = m_options.routes.at(i);
        if (route.path == path)
            return int(i);
        if (!route.prefix || isServerPage(path) || !path.startsWith(route.path))
            continue;
        const bool atBoundary =
            route.path.endsWith(QLatin1Char('/')) || path.at(route.path.size()) == QLatin1Char('/');
        if (atBoundary && (best < 0 || m_options.routes.at(best).path.size() < route.path.size()))
            best = int(i);
    }
    return best;
}

bool TunnelAdmission::isServerPage(const QString &path)
{
    return path == QLatin1String("/metrics") || path == QLatin1String("/healthz")
        || path == QLatin1String("/readyz");
}

bool TunnelAdmission::secretsEqual(const QByteArray &a, const QByteArray &b)
{
    // Every byte of the longer input is looked at whatever the content, so the time taken only
    // tells the lengths.
    const qsizetype length = qMax(a.size(), b.size());
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    for (qsizetype i = 0; i < length; ++i) {
        const unsigned char x = i < a.size() ? uchar(a.at(i)) : 0;
        const unsigned char y = i < b.size() ? uchar(b.at(i)) : 0;
        difference |= x ^ y;
    }
    return difference == 0;
}

bool TunnelAdmission::tokenMatches(const ServerRoute &route, const AdmissionRequest &request) const
{
    const QByteArray expected = route.token.toUtf8();
    static const QByteArray bearer = QByteArrayLiteral("bearer ");
    const QByteArray authorization = request.authorization.trimmed();
    bool matched = false;
    if (authorization.size() > bearer.size()
        && authorization.left(bearer.size()).toLower() == bearer)
        matched = secretsEqual(authorization.mid(bearer.size()).trimmed(), expected);
    // Both are compared, so the time does not tell which one was given.
    const bool queryMatched =
        !request.queryToken.isEmpty() && secretsEqual(request.queryToken.toUtf8(), expected);
    return matched || queryMatched;
}

bool TunnelAdmission::isTrustedProxy(const QHostAddress &address) const
{
    for (const auto &[subnet, prefix] : m_options.trustedProxies) {
        if (address.isInSubnet(subnet, prefix))
            return true;
        bool isV4 = false;
        const quint32 v4 = address.toIPv4Address(&isV4);
        if (isV4 && QHostAddress(v4).isInSubnet(subnet, prefix))
            return true;
    }
    return false;
}

namespace {

// One X-Forwarded-For entry: an address, also with a port as some proxies write it
// ("203.0.113.9:41234", "[2001:db8::7]:443") or quoted ("\"[2001:db8::7]\""). Null if none.
QHostAddress parseHop(const QByteArray &entry)
{
    QByteArray text = entry.trimmed();
    if (text.size() >= 2 && text.startsWith('"') && text.endsWith('"'))
        text = text.mid(1, text.size() - 2);
    if (text.startsWith('[')) {
        const qsizetype end = text.indexOf(']');
        if (end < 0)
            return {};
        const QByteArray rest = text.mid(end + 1);
        if (!rest.isEmpty() && !rest.startsWith(':'))
            return {};
        text = text.mid(1, end - 1);
    } else if (text.count(':') == 1) {
        text.truncate(text.indexOf(':')); // IPv4 with a port; bare IPv6 has several colons
    }
    return QHostAddress(QString::fromLatin1(text));
}

} // namespace

QString TunnelAdmission::clientAddress(const QHostAddress &peer,
                                       const QByteArray &headerValue) const
{
    if (m_options.realIpHeader.isEmpty() || headerValue.isEmpty() || !isTrustedProxy(peer))
        return normalised(peer);
    // X-Forwarded-For lists every hop, each proxy appending the one it saw: walk from the right
    // past our own proxies; anything further left could be forged by the client.
    const QList<QByteArray> hops = headerValue.split(',');
    for (auto it = hops.crbegin(); it != hops.crend(); ++it) {
        const QHostAddress hop = parseHop(*it);
        if (hop.isNull())
            break; // garbage: do not trust anything to the left of it either
        if (!isTrustedProxy(hop) || it + 1 == hops.crend())
            return normalised(hop);
    }
    return normalised(peer);
}

TunnelAdmission::Decision TunnelAdmission::admit(const AdmissionRequest &request)
{
    Decision decision;
    decision.route = routeIndex(request.path);
    if (decision.route < 0) {
        decision.outcome = Outcome::NoRoute;
        return decision;
    }
    const ServerRoute &route = m_options.routes.at(decision.route);
    if (!request.isWebSocketUpgrade) {
        decision.outcome = Outcome::NotWebSocket;
        return decision;
    }
    if (!route.allowedOrigins.isEmpty() && !request.origin.isEmpty()
        && !route.allowedOrigins.contains(QString::fromUtf8(request.origin), Qt::CaseInsensitive)) {
        decision.outcome = Outcome::OriginRefused;
        return decision;
    }
    if (!route.token.isEmpty() && !tokenMatches(route, request)) {
        decision.outcome = Outcome::Unauthorized;
        return decision;
    }
    const QString address = clientAddress(request.peer, request.realIpHeaderValue);
    const QString client = limitKey(address);
    const ServerLimits &limits = m_options.limits;
    const int perIpLimit = route.maxTunnelsPerIp > 0 ? route.maxTunnelsPerIp : 0;
    if (m_draining)
        decision.outcome = Outcome::Draining;
    else if (limits.maxTunnels > 0 && m_active >= limits.maxTunnels)
        decision.outcome = Outcome::ServerFull;
    else if (route.maxTunnels > 0 && m_perRoute.value(route.path) >= route.maxTunnels)
        decision.outcome = Outcome::RouteFull;
    else if ((limits.maxTunnelsPerIp > 0 && m_perClient.value(client) >= limits.maxTunnelsPerIp)
             || (perIpLimit > 0
                 && m_perRouteClient.value(routeClientKey(route.path, client)) >= perIpLimit))
        decision.outcome = Outcome::ClientFull;
    else
        decision.outcome = Outcome::Admit;
    if (decision.outcome != Outcome::Admit)
        return decision;

    decision.slot = Slot {route.path, address, client};
    ++m_active;
    ++m_perRoute[route.path];
    ++m_perClient[client];
    ++m_perRouteClient[routeClientKey(route.path, client)];
    return decision;
}

void TunnelAdmission::release(const Slot &slot)
{
    if (slot.routePath.isEmpty())
        return;
    --m_active;
    decrement(m_perRoute, slot.routePath);
    decrement(m_perClient, slot.limitKey);
    decrement(m_perRouteClient, routeClientKey(slot.routePath, slot.limitKey));
}

int TunnelAdmission::httpStatus(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Admit:
        return 101;
    case Outcome::NoRoute:
        return 404;
    case Outcome::NotWebSocket:
        return 426;
    case Outcome::OriginRefused:
        return 403;
    case Outcome::Unauthorized:
        return 401;
    case Outcome::ClientFull:
        return 429;
    case Outcome::Draining:
    case Outcome::ServerFull:
    case Outcome::RouteFull:
        return 503;
    }
    return 500;
}

QString TunnelAdmission::reasonLabel(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Admit:
        return QStringLiteral("admitted");
    case Outcome::NoRoute:
        return QStringLiteral("not_found");
    case Outcome::NotWebSocket:
        return QStringLiteral("not_websocket");
    case Outcome::OriginRefused:
        return QStringLiteral("origin");
    case Outcome::Unauthorized:
        return QStringLiteral("unauthorized");
    case Outcome::Draining:
        return QStringLiteral("draining");
    case Outcome::ServerFull:
        return QStringLiteral("server_limit");
    case Outcome::RouteFull:
        return QStringLiteral("route_limit");
    case Outcome::ClientFull:
        return QStringLiteral("client_limit");
    }
    return QString();
}

QByteArray TunnelAdmission::explanation(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Admit:
        return QByteArray();
    case Outcome::NoRoute:
        return QByteArrayLiteral("404 Not Found\n");
    case Outcome::NotWebSocket:
        return QByteArrayLiteral("426 Upgrade Required: this is a WebSocket tunnel endpoint\n");
    case Outcome::OriginRefused:
        return QByteArrayLiteral("403 Forbidden: this Origin may not open tunnels\n");
    case Outcome::Unauthorized:
        return QByteArrayLiteral("401 Unauthorized: a valid token is needed "
                                 "(Authorization: Bearer TOKEN or ?token=TOKEN)\n");
    case Outcome::Draining:
        return QByteArrayLiteral("503 Service Unavailable: the server is shutting down\n");
    case Outcome::ServerFull:
        return QByteArrayLiteral("503 Service Unavailable: too many tunnels on this server\n");
    case Outcome::RouteFull:
        return QByteArrayLiteral("503 Service Unavailable: too many tunnels on this path\n");
    case Outcome::ClientFull:
        return QByteArrayLiteral("429 Too Many Requests: too many tunnels from your address\n");
    }
    return QByteArray();
}

#include "tunnelserver.h"

#include "logcategories.h"
#include "metrics/processmetrics.h"
#include "net/tcplisten.h"
#include "plainrequestrule.h"
#include "relay/relay.h"
#include "relay/writethrough.h"
#include "serverconfigfile.h"
#include "tlsidentity.h"
#include "tunneltcpserver.h"
#include "upgraderule.h"

#include <QDateTime>
#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QHttpServerResponse>
#include <QTcpSocket>
#include <QUrlQuery>
#include <QWebSocket>
#include <vector>

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

const char kTunnelProperty[] = "tow_tunnel"; // set on sockets admitted as tunnels
// When a plain HTTP request on the socket was last answered (keep-alive, e.g. Prometheus).
const char kAnsweredProperty[] = "tow_answered_ms";
constexpr int kSweepIntervalMs = 500;
constexpr qint64 kHttpReadBufferBytes = 96 * 1024; // above http_parser's 80 KB header limit

QByteArray textPlain()
{
    return QByteArrayLiteral("text/plain; charset=utf-8");
}

// The certificate new TLS connections get, in the log; a warning when clients will refuse it.
void logCertificate(const TlsIdentity &identity, const char *what)
{
    qCInfo(lcServer).noquote() << what << identity.description();
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (identity.certificate().expiryDate() < now)
        qCWarning(lcServer) << "the TLS certificate has expired: clients will refuse it";
    else if (identity.certificate().effectiveDate() > now)
        qCWarning(lcServer) << "the TLS certificate is not valid yet: clients will refuse it";
}

} // namespace

TunnelServer::TunnelServer(const ServerOptions &options, QObject *parent)
    : QObject(parent), m_options(options), m_admission(options), m_http(new QHttpServer(this))
{
    declareMetrics();
    m_clock.start();
    for (const ServerRoute &route : std::as_const(m_options.routes))
        countersFor(route.path); // so every route shows in /metrics from the start

    // Qt 6.4 hands a connection over as a WebSocket only when a route matches it; the handler
    // itself must not answer (answering and upgrading together is broken in 6.4). The rule asks
    // admit(), which knows the current routes.
    m_http->route<UpgradeRule>(
        QStringLiteral("/"), [this](const QHttpServerRequest &request) { return admit(request); },
        [](const QHttpServerRequest &, QHttpServerResponder &&) {});
    m_http->route<PlainRequestRule>(QStringLiteral("/metrics"), [this]() {
        requestAnswered();
        m_metrics.add(kHttpRequests, {{QStringLiteral("path"), QStringLiteral("/metrics")}}, 1);
        updateScrapedMetrics();
        return QHttpServerResponse(MetricsRegistry::contentType(), m_metrics.render());
    });
    m_http->route<PlainRequestRule>(QStringLiteral("/healthz"), [this]() {
        requestAnswered();
        m_metrics.add(kHttpRequests, {{QStringLiteral("path"), QStringLiteral("/healthz")}}, 1);
        return QHttpServerResponse(textPlain(), QByteArrayLiteral("ok\n"));
    });
    m_http->route<PlainRequestRule>(QStringLiteral("/readyz"), [this]() {
        requestAnswered();
        m_metrics.add(kHttpRequests, {{QStringLiteral("path"), QStringLiteral("/readyz")}}, 1);
        if (isDraining())
            return QHttpServerResponse(textPlain(), QByteArrayLiteral("draining\n"),
                                       QHttpServerResponse::StatusCode::ServiceUnavailable);
        return QHttpServerResponse(textPlain(), QByteArrayLiteral("ready\n"));
    });
    m_http->setMissingHandler(
        [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
            requestAnswered();
            answerUnrouted(request, std::move(responder));
        });
    connect(m_http, &QHttpServer::newWebSocketConnection, this,
            &TunnelServer::onNewWebSocketConnection);

    m_sweepTimer.setInterval(kSweepIntervalMs);
    connect(&m_sweepTimer, &QTimer::timeout, this, &TunnelServer::sweep);
    m_drainTimer.setSingleShot(true);
    connect(&m_drainTimer, &QTimer::timeout, this, [this] {
        qCInfo(lcServer) << "drain timeout reached; closing" << activeTunnels()
                         << "remaining tunnels (1001 going away)";
        shutdown();
    });
}

TunnelServer::~TunnelServer()
{
    // Relays hold WebSockets running on sockets of our TCP server: end them first.
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    qDeleteAll(relays);
}

void TunnelServer::declareMetrics()
{
    using Type = MetricsRegistry::Type;
    m_metrics.declare(kConnections, Type::Counter,
                      QStringLiteral("The total number of connections open"));
    m_metrics.declare(kActive, Type::Gauge, QStringLiteral("The number of active connections"));
    m_metrics.declare(kErrors, Type::Counter, QStringLiteral("The total number of errors"));
    for (const char *type : {"http", "tcp"})
        m_metrics.add(kConnections, {{QStringLiteral("type"), QString::fromLatin1(type)}}, 0);
    for (const char *type : {"upgrade", "dial_tcp"})
        m_metrics.add(kErrors, {{QStringLiteral("type"), QString::fromLatin1(type)}}, 0);
    m_metrics.set(kActive, 0);

    m_metrics.declare(kBytes, Type::Counter,
                      QStringLiteral("Bytes relayed, by route and direction (ws_to_tcp: from the "
                                     "WebSocket clients to the remote; tcp_to_ws: back)."));
    m_metrics.declare(kRouteTunnels, Type::Counter,
                      QStringLiteral("Tunnels opened, by route (tunnel path)."));
    m_metrics.declare(kRouteActive, Type::Gauge, QStringLiteral("Tunnels open now, by route."));
    m_metrics.declareHistogram(kDuration, QStringLiteral("How long tunnels lasted, by route."),
                               {0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600});
    m_metrics.declare(kHandshakeFailures, Type::Counter,
                      QStringLiteral("Connections that did not become a tunnel, by reason "
                                     "(not_found, not_websocket, unauthorized, origin, draining, "
                                     "timeout, evicted, websocket, tls)."));
    m_metrics.declare(kLimitRejections, Type::Counter,
                      QStringLiteral("Upgrades refused by a concurrency limit (server_limit, "
                                     "route_limit, client_limit)."));
    for (const char *limit : {"server_limit", "route_limit", "client_limit"})
        m_metrics.add(kLimitRejections, {{QStringLiteral("limit"), QString::fromLatin1(limit)}}, 0);
    m_metrics.declare(kPeakQueued, Type::Gauge,
                      QStringLiteral("Largest number of bytes any finished tunnel queued towards "
                                     "one side (bounded by the relay's flow control)."));
    m_metrics.declare(kHttpRequests, Type::Counter,
                      QStringLiteral("Plain HTTP requests answered, by path class."));
    m_metrics.declare(kReloads, Type::Counter,
                      QStringLiteral("Configuration reloads (SIGHUP), by result."));
    for (const char *result : {"success", "failure"})
        m_metrics.add(kReloads, {{QStringLiteral("result"), QString::fromLatin1(result)}}, 0);
    m_metrics.declare(kDraining, Type::Gauge,
                      QStringLiteral("1 while the server drains before exiting."));
    ProcessMetrics::declare(m_metrics);
}

bool TunnelServer::listen(QString *error)
{
    std::optional<TlsIdentity> tls;
    if (isTls()) {
        tls = TlsIdentity::load(m_options.tlsCertFile, m_options.tlsKeyFile, error);
        if (!tls)
            return false;
    }
    // Until a connection is a tunnel it only carries an HTTP request: a small read buffer keeps
    // unauthenticated clients from holding megabytes each. The relay enlarges it for tunnels.
    m_tcpServer = new TunnelTcpServer(kHttpReadBufferBytes, this);
    connect(m_tcpServer, &TunnelTcpServer::accepted, this, &TunnelServer::onAccepted);
    connect(m_tcpServer, &TunnelTcpServer::tlsHandshakeFailed, this,
            [this](const QHostAddress &peer, const QString &reason) {
                countHandshakeFailure(QStringLiteral("tls"));
                qCDebug(lcServer).noquote()
                    << peer.toString() << "closed: TLS handshake failed:" << reason;
            });
    if (tls)
        m_tcpServer->setTlsConfiguration(tls->configuration());
    if (!TcpListen::listen(m_tcpServer, m_options.listen, error)) {
        delete m_tcpServer;
        m_tcpServer = nullptr;
        return false;
    }
    m_http->bind(m_tcpServer); // takes a listening server; returns void in Qt 6.4
    m_sweepTimer.start();
    QStringList routes;
    for (const ServerRoute &route : std::as_const(m_options.routes))
        routes.append(route.path + QLatin1String(" -> ") + route.remote.toString()
                      + (route.token.isEmpty() ? QString() : QStringLiteral(" (token)")));
    qCInfo(lcServer).noquote() << "listening on"
                               << HostPort {serverAddress().toString(), serverPort()}.toString()
                               << (tls ? "(wss, TLS 1.2 or later)" : "(ws)")
                               << "routes:" << routes.join(QLatin1String(", "));
    if (tls)
        logCertificate(*tls, "TLS certificate:");
    return true;
}

QHostAddress TunnelServer::serverAddress() const
{
    return m_tcpServer ? m_tcpServer->serverAddress() : QHostAddress();
}

quint16 TunnelServer::serverPort() const
{
    return m_tcpServer ? m_tcpServer->serverPort() : 0;
}

bool TunnelServer::reload(const ServerOptions &options, QString *error)
{
    auto fail = [&](const QString &message) {
        *error = message;
        countFailedReload();
        return false;
    };
    // The listening socket stays; what it speaks cannot change under clients' feet.
    const bool wantsTls = !options.tlsCertFile.isEmpty();
    if (wantsTls != isTls())
        return fail(isTls() ? QStringLiteral("turning native TLS off needs a restart (the server "
                                             "still serves wss:// with its certificate)")
                            : QStringLiteral("turning native TLS on needs a restart (the server "
                                             "still serves plain ws://)"));
    std::optional<TlsIdentity> tls;
    if (isTls()) {
        // A renewed certificate (Let's Encrypt): read again, applies to new connections.
        QString why;
        tls = TlsIdentity::load(options.tlsCertFile, options.tlsKeyFile, &why);
        if (!tls)
            return fail(why);
    }
    if (!(options.listen == m_options.listen))
        qCWarning(lcServer).noquote()
            << "the listening address changed to" << options.listen.toString()
            << "; that needs a restart, still listening on" << m_options.listen.toString();
    const HostPort listen = m_options.listen;
    m_options = options;
    m_options.listen = listen;
    m_admission.setOptions(m_options);
    for (const ServerRoute &route : std::as_const(m_options.routes))
        countersFor(route.path);
    if (tls && m_tcpServer)
        m_tcpServer->setTlsConfiguration(tls->configuration());
    m_metrics.add(kReloads, {{QStringLiteral("result"), QStringLiteral("success")}}, 1);
    qCInfo(lcServer) << "configuration reloaded:" << m_options.routes.size() << "route(s);"
                     << activeTunnels() << "open tunnel(s) kept";
    if (tls)
        logCertificate(*tls, "TLS certificate for new connections:");
    return true;
}

void TunnelServer::reloadFromFiles(const QString &configPath,
                                   const ServerOptions &commandLineOptions)
{
    QString why;
    if (configPath.isEmpty()) {
        if (!isTls()) {
            qCInfo(lcServer) << "SIGHUP ignored: the server runs without --config";
            return;
        }
        // Only the files of --tls-cert and --tls-key can have changed (a renewal).
        if (!reload(commandLineOptions, &why))
            qCWarning(lcServer).noquote()
                << "TLS certificate not reloaded, the previous one stays:" << why;
        return;
    }
    const auto loaded = ServerConfigFile::load(configPath, commandLineOptions, &why);
    if (!loaded)
        countFailedReload();
    if (!loaded || !reload(*loaded, &why))
        qCWarning(lcServer).noquote()
            << "configuration not reloaded, the previous one stays:" << why;
}

void TunnelServer::countFailedReload()
{
    m_metrics.add(kReloads, {{QStringLiteral("result"), QStringLiteral("failure")}}, 1);
}

void TunnelServer::onAccepted(QTcpSocket *socket)
{
    // Connected before QHttpServer connects its own handler, so this runs first and admit()
    // knows which socket the request it decides came from.
    connect(socket, &QTcpSocket::readyRead, this, [this, socket] { m_currentSocket = socket; });
    m_pending.push_back(
        {socket, m_clock.elapsed(), TunnelAdmission::limitKeyOf(socket->peerAddress())});
    if (qsizetype(m_pending.size()) > m_options.limits.maxPendingConnections)
        evictPending();
}

void TunnelServer::evictPending()
{
    // Forget what needs no action first; if still over the limit, close a waiting connection:
    // the oldest of the client (address, or IPv6 /64) with the most of them when that client
    // holds clearly more than its share (an eighth of the limit), so that a flood of idle
    // sockets from one place pushes out its own and not those of everyone else; otherwise the
    // oldest of all (a flood spread over many addresses must not single out a browser that
    // happens to have two). Behind a reverse proxy every connection comes from the proxy.
    std::deque<PendingConnection> live;
    QHash<QString, int> perClient;
    for (PendingConnection &entry : m_pending) {
        if (entry.socket && !entry.socket->property(kTunnelProperty).toBool()) {
            ++perClient[entry.clientKey];
            live.push_back(std::move(entry));
        }
    }
    m_pending.swap(live);
    while (qsizetype(m_pending.size()) > m_options.limits.maxPendingConnections) {
        int most = 0;
        for (auto it = perClient.cbegin(); it != perClient.cend(); ++it)
            most = qMax(most, it.value());
        const bool oneClientFloods = most > qMax(2, m_options.limits.maxPendingConnections / 8);
        const auto victim =
            std::find_if(m_pending.begin(), m_pending.end(), [&](const PendingConnection &entry) {
                return !oneClientFloods || perClient.value(entry.clientKey) == most;
            });
        const QPointer<QTcpSocket> socket = victim->socket;
        --perClient[victim->clientKey];
        m_pending.erase(victim);
        countHandshakeFailure(QStringLiteral("evicted"));
        qCDebug(lcServer).noquote() << "too many connections waiting to become tunnels; closing"
                                    << socket->peerAddress().toString();
        socket->abort();
    }
}

void TunnelServer::requestAnswered()
{
    if (m_currentSocket)
        m_currentSocket->setProperty(kAnsweredProperty, m_clock.elapsed());
}

void TunnelServer::sweep()
{
    const qint64 now = m_clock.elapsed();
    const qint64 deadline = now - m_options.limits.handshakeTimeoutMs;
    std::vector<PendingConnection> kept;
    while (!m_pending.empty() && m_pending.front().acceptedAtMs <= deadline) {
        const QPointer<QTcpSocket> socket = m_pending.front().socket;
        QString clientKey = std::move(m_pending.front().clientKey);
        m_pending.pop_front();
        if (!socket || socket->property(kTunnelProperty).toBool())
            continue;
        // The timeout is for a request: a keep-alive connection gets it afresh after each
        // answer, and is never cut while its answer is still being sent.
        const qint64 answeredAt = socket->property(kAnsweredProperty).toLongLong();
        if (answeredAt > deadline || socket->bytesToWrite() > 0) {
            kept.push_back(
                {socket, answeredAt > deadline ? answeredAt : now, std::move(clientKey)});
            continue;
        }
        countHandshakeFailure(QStringLiteral("timeout"));
        qCDebug(lcServer).noquote()
            << socket->peerAddress().toString() << "closed: no WebSocket upgrade within"
            << m_options.limits.handshakeTimeoutMs << "ms";
        socket->abort();
    }
    for (PendingConnection &entry : kept)
        m_pending.push_back(std::move(entry));
    // Admitted but QWebSocketServer never produced the WebSocket (a bad handshake): free the
    // slot the admission took, and close the socket, which nobody answers any more.
    for (auto it = m_admitted.begin(); it != m_admitted.end();) {
        if (!it->socket || it->admittedAtMs <= deadline) {
            m_admission.release(it->slot);
            countHandshakeFailure(QStringLiteral("websocket"));
            if (it->socket)
                it->socket->abort();
            it = m_admitted.erase(it);
        } else {
            ++it;
        }
    }
    while (!m_unidentified.empty() && m_unidentified.front().admittedAtMs <= deadline) {
        m_admission.release(m_unidentified.front().slot);
        countHandshakeFailure(QStringLiteral("websocket"));
        m_unidentified.pop_front();
    }
    m_metrics.set(kActive, activeTunnels());
    if (const int suppressed = m_refusalLog.takeSuppressed(now))
        logSuppressedRefusals(suppressed);
    checkDrained();
}

bool TunnelServer::admit(const QHttpServerRequest &request)
{
    AdmissionRequest candidate;
    candidate.path = request.url().path();
    candidate.queryToken =
        request.query().queryItemValue(QStringLiteral("token"), QUrl::FullyDecoded);
    candidate.authorization = request.value(QByteArrayLiteral("authorization"));
    candidate.origin = request.value(QByteArrayLiteral("origin"));
    if (!m_options.realIpHeader.isEmpty())
        candidate.realIpHeaderValue = request.value(m_options.realIpHeader.toLatin1().toLower());
    candidate.peer = request.remoteAddress();
    candidate.isWebSocketUpgrade = UpgradeRule::isWebSocketUpgrade(request);

    const TunnelAdmission::Decision decision = m_admission.admit(candidate);
    if (decision.outcome != TunnelAdmission::Outcome::Admit) {
        m_lastRefusal = decision.outcome; // the missing handler answers right after
        return false;
    }
    // Which socket carries this request: the one that just signalled readyRead (our handler
    // runs before QHttpServer's, see onAccepted). Qt 6.4's request does not tell its port.
    QTcpSocket *socket = m_currentSocket;
    if (socket && socket->peerAddress() != request.remoteAddress())
        socket = nullptr;
    if (socket) {
        socket->setProperty(kTunnelProperty, true);
        // A socket deleted after a failed handshake may come back at the same address before
        // the sweep saw it go: free that one's slot first.
        const auto previous = m_admitted.constFind(socket);
        if (previous != m_admitted.cend() && previous->socket != socket)
            m_admission.release(previous->slot);
        m_admitted.insert(socket, {socket, decision.slot, m_clock.elapsed()});
    } else {
        m_unidentified.push_back({nullptr, decision.slot, m_clock.elapsed()});
    }
    return true;
}

bool TunnelServer::allowRefusalLine()
{
    int suppressed = 0;
    const bool allowed = m_refusalLog.allow(m_clock.elapsed(), &suppressed);
    if (suppressed > 0)
        logSuppressedRefusals(suppressed);
    return allowed;
}

void TunnelServer::logSuppressedRefusals(int count)
{
    qCInfo(lcServer) << count << "more refused requests were not logged (at most"
                     << m_refusalLog.linesPerWindow() << "lines every"
                     << m_refusalLog.windowMs() / 1000 << "s; /metrics counts them all)";
}

void TunnelServer::countHandshakeFailure(const QString &reason)
{
    m_metrics.add(kHandshakeFailures, {{QStringLiteral("reason"), reason}}, 1);
}

void TunnelServer::answerUnrouted(const QHttpServerRequest &request,
                                  QHttpServerResponder &&responder)
{
    using Outcome = TunnelAdmission::Outcome;
    const QString path = request.url().path();
    // Requests on other paths never reach the upgrade rule's decision for this request when
    // they match /metrics etc.; here the decision was just made by admit().
    const Outcome outcome = m_lastRefusal;
    m_lastRefusal = Outcome::NoRoute;
    const QString client =
        m_admission.clientAddress(request.remoteAddress(),
                                  m_options.realIpHeader.isEmpty()
                                      ? QByteArray()
                                      : request.value(m_options.realIpHeader.toLatin1().toLower()));

    QList<QPair<QByteArray, QByteArray>> headers = {
        {QByteArrayLiteral("Content-Type"), textPlain()}};
    // Every refusal is counted; only so many are logged (a scanner or a client retrying in a
    // loop would otherwise fill the journal).
    // (A plain request on a path that is no route, e.g. a scanner's, is not a refusal.)
    const bool isUpgrade = UpgradeRule::isWebSocketUpgrade(request);
    const bool logged = outcome != Outcome::Admit && (outcome != Outcome::NoRoute || isUpgrade)
        && allowRefusalLine();
    switch (outcome) {
    case Outcome::NoRoute:
        m_metrics.add(kHttpRequests, {{QStringLiteral("path"), QStringLiteral("other")}}, 1);
        if (isUpgrade) {
            countHandshakeFailure(TunnelAdmission::reasonLabel(outcome));
            if (logged)
                qCInfo(lcServer).noquote()
                    << client << "- upgrade refused: no tunnel on path" << path;
        }
        break;
    case Outcome::NotWebSocket:
        // A plain request on a tunnel path: the original counts it as a failed upgrade.
        m_metrics.add(kErrors, {{QStringLiteral("type"), QStringLiteral("upgrade")}}, 1);
        countHandshakeFailure(TunnelAdmission::reasonLabel(outcome));
        if (logged)
            qCInfo(lcServer).noquote() << client << "- not a WebSocket upgrade request on" << path;
        headers.append({QByteArrayLiteral("Upgrade"), QByteArrayLiteral("websocket")});
        headers.append({QByteArrayLiteral("Connection"), QByteArrayLiteral("Upgrade")});
        break;
    case Outcome::Unauthorized:
        headers.append({QByteArrayLiteral("WWW-Authenticate"),
                        QByteArrayLiteral("Bearer realm=\"tcp-over-websocket\"")});
        Q_FALLTHROUGH();
    case Outcome::OriginRefused:
    case Outcome::Draining:
        m_metrics.add(kErrors, {{QStringLiteral("type"), QStringLiteral("upgrade")}}, 1);
        countHandshakeFailure(TunnelAdmission::reasonLabel(outcome));
        if (logged)
            qCInfo(lcServer).noquote() << client << "- upgrade on" << path
                                       << "refused:" << TunnelAdmission::httpStatus(outcome)
                                       << TunnelAdmission::reasonLabel(outcome);
        break;
    case Outcome::ServerFull:
    case Outcome::RouteFull:
    case Outcome::ClientFull:
        m_metrics.add(kErrors, {{QStringLiteral("type"), QStringLiteral("upgrade")}}, 1);
        m_metrics.add(kLimitRejections,
                      {{QStringLiteral("limit"), TunnelAdmission::reasonLabel(outcome)}}, 1);
        if (logged)
            qCWarning(lcServer).noquote() << client << "- upgrade on" << path
                                          << "refused:" << TunnelAdmission::reasonLabel(outcome);
        if (outcome == Outcome::ClientFull)
            headers.append({QByteArrayLiteral("Retry-After"), QByteArrayLiteral("10")});
        break;
    case Outcome::Admit:
        break;
    }
    // What QHttpServerResponder::write(data, headers, status) does, with a variable header list
    // (Qt 6.4 takes only an initializer_list there).
    const QByteArray body = TunnelAdmission::explanation(outcome);
    headers.append({QByteArrayLiteral("Content-Length"), QByteArray::number(body.size())});
    responder.writeStatusLine(
        QHttpServerResponder::StatusCode(TunnelAdmission::httpStatus(outcome)));
    for (const auto &[name, value] : std::as_const(headers))
        responder.writeHeader(name, value);
    responder.writeBody(body);
}

TunnelServer::RouteCounters *TunnelServer::countersFor(const QString &routePath)
{
    std::shared_ptr<RouteCounters> &counters = m_routeCounters[routePath];
    if (!counters)
        counters = std::make_shared<RouteCounters>();
    return counters.get();
}

void TunnelServer::updateScrapedMetrics()
{
    ProcessMetrics::update(m_metrics);
    for (auto it = m_routeCounters.cbegin(); it != m_routeCounters.cend(); ++it) {
        const QString &route = it.key();
        m_metrics.set(kBytes,
                      {{QStringLiteral("route"), route},
                       {QStringLiteral("direction"), QStringLiteral("tcp_to_ws")}},
                      double(it.value()->bytesTcpToWs));
        m_metrics.set(kBytes,
                      {{QStringLiteral("route"), route},
                       {QStringLiteral("direction"), QStringLiteral("ws_to_tcp")}},
                      double(it.value()->bytesWsToTcp));
        m_metrics.set(kRouteActive, {{QStringLiteral("route"), route}},
                      m_admission.activeTunnels(route));
    }
    m_metrics.set(kDraining, isDraining() ? 1 : 0);
    m_metrics.set(kActive, activeTunnels());
}

void TunnelServer::onNewWebSocketConnection()
{
    while (m_http->hasPendingWebSocketConnections()) {
        std::unique_ptr<QWebSocket> ws = m_http->nextPendingWebSocketConnection();
        if (!ws)
            continue;
        QTcpSocket *transport =
            m_tcpServer ? m_tcpServer->socketFor(ws->peerAddress(), ws->peerPort()) : nullptr;
        const QString path = ws->requestUrl().path();

        // The slot admit() took for this connection.
        TunnelAdmission::Slot slot;
        if (transport && m_admitted.contains(transport)) {
            slot = m_admitted.take(transport).slot;
        } else {
            const auto it = std::find_if(
                m_unidentified.begin(), m_unidentified.end(),
                [&](const AdmittedConnection &entry) { return entry.slot.routePath == path; });
            if (it == m_unidentified.end()) {
                qCWarning(lcServer).noquote()
                    << "a WebSocket on" << path << "arrived without admission; closing it";
                ws->close(QWebSocketProtocol::CloseCodePolicyViolated);
                ws.release()->deleteLater(); // let the close frame go out
                continue;
            }
            slot = it->slot;
            m_unidentified.erase(it);
        }
        const int routeIndex = m_admission.routeIndex(slot.routePath);
        if (routeIndex < 0) { // removed by a reload in between
            m_admission.release(slot);
            ws->close(QWebSocketProtocol::CloseCodeGoingAway, QStringLiteral("route removed"));
            ws.release()->deleteLater();
            continue;
        }
        const ServerRoute route = m_options.routes.at(routeIndex);

        m_metrics.add(kConnections, {{QStringLiteral("type"), QStringLiteral("http")}}, 1);
        m_metrics.add(kRouteTunnels, {{QStringLiteral("route"), route.path}}, 1);
        m_metrics.set(kActive, activeTunnels());

        RelayOptions relayOptions = m_options.relay;
        relayOptions.idleTimeoutMs =
            route.idleTimeoutMs >= 0 ? route.idleTimeoutMs : m_options.limits.idleTimeoutMs;
        const QString description = slot.clientAddress + QLatin1String(" ") + route.path
            + QLatin1String(" -> ") + route.remote.toString();
        auto *tcp = new QTcpSocket;
        // The remote is reached directly, as by the original: no proxy lookup per tunnel.
        WriteThrough::setDirect(tcp);
        auto *relay = new Relay(tcp, ws.release(), transport, relayOptions, description, this);
        connect(tcp, &QTcpSocket::connected, this, [this] {
            m_metrics.add(kConnections, {{QStringLiteral("type"), QStringLiteral("tcp")}}, 1);
        });
        connect(relay, &Relay::tcpConnectFailed, this, [this] {
            m_metrics.add(kErrors, {{QStringLiteral("type"), QStringLiteral("dial_tcp")}}, 1);
        });
        RouteCounters *counters = countersFor(route.path);
        connect(relay, &Relay::transferred, this, [counters](qint64 tcpToWs, qint64 wsToTcp) {
            counters->bytesTcpToWs += tcpToWs;
            counters->bytesWsToTcp += wsToTcp;
        });
        QElapsedTimer age;
        age.start();
        connect(relay, &Relay::finished, this, [this, relay, slot, age] {
            m_admission.release(slot);
            m_metrics.set(kActive, activeTunnels());
            m_metrics.setMax(kPeakQueued,
                             double(qMax(relay->peakTcpQueuedBytes(), relay->peakWsQueuedBytes())));
            m_metrics.observe(kDuration, {{QStringLiteral("route"), slot.routePath}},
                              double(age.elapsed()) / 1000.0);
            relay->deleteLater();
            Q_EMIT tunnelFinished();
            checkDrained();
        });
        relay->connectTcp(route.remote.host, route.remote.port);
    }
}

void TunnelServer::drain()
{
    if (isDraining())
        return;
    m_admission.setDraining(true);
    if (m_tcpServer)
        m_tcpServer->close();
    qCInfo(lcServer) << "draining: no new tunnels;" << activeTunnels()
                     << "open tunnel(s) may finish within" << m_options.drainTimeoutMs / 1000
                     << "s";
    m_drainTimer.start(m_options.drainTimeoutMs);
    checkDrained();
}

void TunnelServer::checkDrained()
{
    if (isDraining() && activeTunnels() == 0) {
        m_drainTimer.stop();
        Q_EMIT drained();
    }
}

void TunnelServer::shutdown()
{
    m_admission.setDraining(true);
    if (m_tcpServer)
        m_tcpServer->close();
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    for (Relay *relay : relays)
        relay->shutdown();
    checkDrained();
}

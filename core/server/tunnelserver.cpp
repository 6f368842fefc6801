#include "tunnelserver.h"

#include "logcategories.h"
#include "relay/datagramrelay.h"
#include "relay/relay.h"
#include "relay/writethrough.h"
#include "serverconfigfile.h"
#include "tlsidentity.h"
#include "tunneltcpserver.h"

#include <QDateTime>
#include <QHttpServer>
#include <QHttpServerResponse>
#include <QTcpSocket>
#include <QUdpSocket>
#include <QWebSocket>

namespace {

constexpr int kSweepIntervalMs = 500;
// The server's own interface addresses, denied on dynamic routes, change while it runs (DHCP, a
// container joining a network): read again when older than this, at the next destination named.
constexpr qint64 kOwnAddressesMaxAgeMs = 1000;
// The connected socket to a dynamic route's destination, a child of the client's connection
// from the moment it connects until the relay takes both (or the connection goes, and it with it).
const char kDestinationSocketName[] = "tow_destination";
const char kDestinationProperty[] = "tow_destination_text";
// The same for a UDP destination: its socket, connected to a checked address.
const char kDestinationUdpSocketName[] = "tow_destination_udp";
const char kDestinationPeerProperty[] = "tow_destination_peer";
const char kDestinationPortProperty[] = "tow_destination_port";
// A UDP flow's idle timeout when its route sets none.
constexpr int kDefaultUdpIdleTimeoutMs = 60000;
// Above the longest request head read, so a whole head fits while it is only peeked at.
constexpr qint64 kHttpReadBufferBytes = HttpRequestHead::kMaxHeadBytes + 16 * 1024;

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
    : QObject(parent),
      m_options(options),
      m_admission(options),
      m_http(new QHttpServer(this)),
      m_dispatcher([this](const RequestDispatcher::Request &request) { return decide(request); })
{
    m_clock.start();
    for (const ServerRoute &route : std::as_const(m_options.routes))
        m_metrics.routeBytes(route.path); // so every route shows in /metrics from the start
    updatePolicies();
    m_pending.setLimits(m_options.limits.handshakeTimeoutMs,
                        m_options.limits.maxPendingConnections);
    connect(&m_pending, &PendingConnections::closed, this,
            [this](const QString &reason) { m_metrics.countHandshakeFailure(reason); });
    routeServerPages();

    connect(&m_dispatcher, &RequestDispatcher::plainRequest, this, [this](QTcpSocket *socket) {
        m_currentSocket = socket;
        m_tcpServer->handOverToHttp(socket);
        // QHttpServer reads on readyRead(); this request is already in the buffer.
        Q_EMIT socket->readyRead();
    });
    connect(&m_dispatcher, &RequestDispatcher::plainRequestArrived, this,
            [this](QTcpSocket *socket) { m_currentSocket = socket; });
    connect(&m_dispatcher, &RequestDispatcher::webSocketReady, this, &TunnelServer::startRelay);
    connect(&m_dispatcher, &RequestDispatcher::upgradeAbandoned, this,
            [this](const TunnelAdmission::Slot &slot) {
                m_admission.release(slot);
                m_metrics.countHandshakeFailure(QStringLiteral("websocket"));
                m_metrics.setActiveTunnels(activeTunnels());
                checkDrained();
            });
    connect(&m_dispatcher, &RequestDispatcher::deferredAbandoned, this,
            &TunnelServer::deferredAbandoned);

    m_sweepTimer.setInterval(kSweepIntervalMs);
    connect(&m_sweepTimer, &QTimer::timeout, this, &TunnelServer::sweep);
    m_drainTimer.setSingleShot(true);
    connect(&m_drainTimer, &QTimer::timeout, this, [this] {
        qCInfo(lcServer) << "drain timeout reached; closing" << activeTunnels()
                         << "remaining tunnels (1001 going away)";
        shutdown();
    });
}

void TunnelServer::routeServerPages()
{
    // Plain callbacks, the same in every Qt version: the dispatcher hands QHttpServer only
    // connections whose first request is for one of these pages, never an upgrade.
    m_http->route(QStringLiteral("/metrics"), [this]() {
        requestAnswered();
        m_metrics.countHttpRequest(QStringLiteral("/metrics"));
        m_metrics.updateForScrape(isDraining(), activeTunnels(), [this](const QString &route) {
            return m_admission.activeTunnels(route);
        });
        return QHttpServerResponse(MetricsRegistry::contentType(), m_metrics.registry().render());
    });
    m_http->route(QStringLiteral("/healthz"), [this]() {
        requestAnswered();
        m_metrics.countHttpRequest(QStringLiteral("/healthz"));
        return QHttpServerResponse(textPlain(), QByteArrayLiteral("ok\n"));
    });
    m_http->route(QStringLiteral("/readyz"), [this]() {
        requestAnswered();
        m_metrics.countHttpRequest(QStringLiteral("/readyz"));
        if (isDraining())
            return QHttpServerResponse(textPlain(), QByteArrayLiteral("draining\n"),
                                       QHttpServerResponse::StatusCode::ServiceUnavailable);
        return QHttpServerResponse(textPlain(), QByteArrayLiteral("ready\n"));
    });
}

TunnelServer::~TunnelServer()
{
    // Relays hold WebSockets running on sockets of our TCP server: end them first.
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    qDeleteAll(relays);
    const auto flows = findChildren<DatagramRelay *>(QString(), Qt::FindDirectChildrenOnly);
    qDeleteAll(flows);
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
    connect(m_tcpServer, &TunnelTcpServer::accepted, &m_pending, &PendingConnections::add);
    connect(m_tcpServer, &TunnelTcpServer::ready, &m_dispatcher, &RequestDispatcher::take);
    connect(m_tcpServer, &TunnelTcpServer::tlsHandshakeFailed, this,
            [this](const QHostAddress &peer, const QString &reason) {
                m_metrics.countHandshakeFailure(QStringLiteral("tls"));
                qCDebug(lcServer).noquote()
                    << peer.toString() << "closed: TLS handshake failed:" << reason;
            });
    connect(m_tcpServer, &TunnelTcpServer::tlsHandshakeEvicted, this,
            [this](const QHostAddress &peer) {
                m_metrics.countHandshakeFailure(QStringLiteral("evicted"));
                qCDebug(lcServer).noquote()
                    << peer.toString()
                    << "closed: its TLS handshake was the oldest of too many at once";
            });
    if (tls)
        m_tcpServer->setTlsConfiguration(tls->configuration());
    m_tcpServer->setMaxTlsHandshakes(m_options.limits.maxTlsHandshakes);
    connect(m_tcpServer, &BackoffTcpServer::acceptFailed, this,
            [this] { m_metrics.countAcceptError(); });
    if (!m_tcpServer->listenOn(m_options.listen, error)) {
        delete m_tcpServer;
        m_tcpServer = nullptr;
        return false;
    }
    // QHttpServer serves the connections the dispatcher hands over (handOverToHttp). bind()
    // takes a listening server in every version; it returns void in Qt 6.4, bool later.
    m_http->bind(m_tcpServer);
    m_sweepTimer.start();
    QStringList routes;
    for (const ServerRoute &route : std::as_const(m_options.routes)) {
        QStringList to;
        if (!route.remote.host.isEmpty())
            to.append(route.remote.toString());
        if (!route.allow.isEmpty())
            to.append(QStringLiteral("allowed %1 destination rule(s)").arg(route.allow.size()));
        routes.append(route.path + QLatin1String(" -> ") + to.join(QLatin1String(" or "))
                      + (route.token.isEmpty() ? QString() : QStringLiteral(" (token)")));
    }
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
    m_pending.setLimits(m_options.limits.handshakeTimeoutMs,
                        m_options.limits.maxPendingConnections);
    for (const ServerRoute &route : std::as_const(m_options.routes))
        m_metrics.routeBytes(route.path);
    updatePolicies();
    if (tls && m_tcpServer)
        m_tcpServer->setTlsConfiguration(tls->configuration());
    if (m_tcpServer)
        m_tcpServer->setMaxTlsHandshakes(m_options.limits.maxTlsHandshakes);
    m_metrics.countReload(true);
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
    m_metrics.countReload(false);
}

void TunnelServer::requestAnswered()
{
    if (m_currentSocket)
        m_pending.markAnswered(m_currentSocket);
}

void TunnelServer::sweep()
{
    m_pending.sweep();
    m_metrics.setActiveTunnels(activeTunnels());
    if (const int suppressed = m_refusalLog.takeSuppressed(m_clock.elapsed()))
        logSuppressedRefusals(suppressed);
    checkDrained();
}

RequestDispatcher::Verdict TunnelServer::decide(const RequestDispatcher::Request &request)
{
    const QHostAddress peer = request.socket->peerAddress();
    const QByteArray realIp = request.head && !m_options.realIpHeader.isEmpty()
        ? request.head->value(m_options.realIpHeader.toLatin1().toLower())
        : QByteArray();
    const QString client = m_admission.clientAddress(peer, realIp);
    if (request.problem.status != 0)
        return refuseBroken(request, client);
    const HttpRequestHead &head = *request.head;
    if (!head.asksForWebSocket() && TunnelAdmission::isServerPage(head.path())) {
        RequestDispatcher::Verdict verdict;
        verdict.kind = RequestDispatcher::Verdict::Kind::Plain;
        return verdict;
    }
    return decideByAdmission(request.socket, head, peer, client);
}

RequestDispatcher::Verdict TunnelServer::refuseBroken(const RequestDispatcher::Request &request,
                                                      const QString &client)
{
    // A broken upgrade is a failed upgrade, as the original counts it; a request that is not
    // HTTP at all fails the handshake too.
    const bool upgrade = request.head && request.head->asksForWebSocket();
    if (upgrade)
        m_metrics.countUpgradeError();
    m_metrics.countHandshakeFailure(QStringLiteral("bad_request"));
    if (allowRefusalLine())
        qCInfo(lcServer).noquote()
            << client << "-" << (upgrade ? "upgrade" : "request")
            << (request.head ? QLatin1String("on ") + request.head->path() : QString())
            << "refused:" << request.problem.status << QString::fromLatin1(request.problem.reason);

    RequestDispatcher::Verdict verdict;
    verdict.status = request.problem.status;
    verdict.headers = {{QByteArrayLiteral("Content-Type"), textPlain()}};
    if (verdict.status == 426)
        verdict.headers.append(
            {QByteArrayLiteral("Sec-WebSocket-Version"), QByteArrayLiteral("13")});
    verdict.body = QByteArray::number(verdict.status) + ' ' + request.problem.reason + '\n';
    return verdict;
}

RequestDispatcher::Verdict TunnelServer::decideByAdmission(QTcpSocket *socket,
                                                           const HttpRequestHead &head,
                                                           const QHostAddress &peer,
                                                           const QString &client)
{
    using Outcome = TunnelAdmission::Outcome;
    AdmissionRequest candidate;
    candidate.path = head.path();
    candidate.queryToken = head.query().queryItemValue(QStringLiteral("token"), QUrl::FullyDecoded);
    candidate.authorization = head.value("authorization");
    candidate.origin = head.value("origin");
    if (!m_options.realIpHeader.isEmpty())
        candidate.realIpHeaderValue = head.value(m_options.realIpHeader.toLatin1().toLower());
    candidate.peer = peer;
    candidate.isWebSocketUpgrade = head.asksForWebSocket();
    const TunnelAdmission::Decision decision = m_admission.admit(candidate);

    RequestDispatcher::Verdict verdict;
    if (decision.outcome == Outcome::Admit) {
        m_metrics.setActiveTunnels(activeTunnels());
        const int routeIndex = m_admission.routeIndex(decision.slot.routePath);
        const ServerRoute &route = m_options.routes.at(routeIndex);
        if (!route.allow.isEmpty() || head.hasField("tow-destination"))
            return decideDestination(socket, head, decision.slot, route);
        verdict.kind = RequestDispatcher::Verdict::Kind::Upgrade;
        verdict.slot = decision.slot;
        return verdict;
    }

    const Outcome outcome = decision.outcome;
    const QString &path = candidate.path;
    verdict.status = TunnelAdmission::httpStatus(outcome);
    verdict.body = TunnelAdmission::explanation(outcome);
    verdict.headers = {{QByteArrayLiteral("Content-Type"), textPlain()}};
    // Every refusal is counted; only so many are logged (a scanner or a client retrying in a
    // loop would otherwise fill the journal). A plain request on a path that is no route, e.g.
    // a scanner's, is not a refusal.
    const bool isUpgrade = candidate.isWebSocketUpgrade;
    const bool logged = (outcome != Outcome::NoRoute || isUpgrade) && allowRefusalLine();
    switch (outcome) {
    case Outcome::NoRoute:
        m_metrics.countHttpRequest(QStringLiteral("other"));
        if (isUpgrade) {
            m_metrics.countHandshakeFailure(TunnelAdmission::reasonLabel(outcome));
            if (logged)
                qCInfo(lcServer).noquote()
                    << client << "- upgrade refused: no tunnel on path" << path;
        }
        break;
    case Outcome::NotWebSocket:
        // A plain request on a tunnel path: the original counts it as a failed upgrade.
        m_metrics.countUpgradeError();
        m_metrics.countHandshakeFailure(TunnelAdmission::reasonLabel(outcome));
        if (logged)
            qCInfo(lcServer).noquote() << client << "- not a WebSocket upgrade request on" << path;
        verdict.headers.append({QByteArrayLiteral("Upgrade"), QByteArrayLiteral("websocket")});
        verdict.headers.append({QByteArrayLiteral("Connection"), QByteArrayLiteral("Upgrade")});
        break;
    case Outcome::Unauthorized:
        verdict.headers.append({QByteArrayLiteral("WWW-Authenticate"),
                                QByteArrayLiteral("Bearer realm=\"tcp-over-websocket\"")});
        Q_FALLTHROUGH();
    case Outcome::OriginRefused:
    case Outcome::Draining:
        m_metrics.countUpgradeError();
        m_metrics.countHandshakeFailure(TunnelAdmission::reasonLabel(outcome));
        if (logged)
            qCInfo(lcServer).noquote() << client << "- upgrade on" << path
                                       << "refused:" << TunnelAdmission::httpStatus(outcome)
                                       << TunnelAdmission::reasonLabel(outcome);
        break;
    case Outcome::ServerFull:
    case Outcome::RouteFull:
    case Outcome::ClientFull:
        m_metrics.countUpgradeError();
        m_metrics.countLimitRejection(TunnelAdmission::reasonLabel(outcome));
        if (logged)
            qCWarning(lcServer).noquote() << client << "- upgrade on" << path
                                          << "refused:" << TunnelAdmission::reasonLabel(outcome);
        if (outcome == Outcome::ClientFull)
            verdict.headers.append({QByteArrayLiteral("Retry-After"), QByteArrayLiteral("10")});
        break;
    case Outcome::Admit:
        break;
    }
    return verdict;
}

RequestDispatcher::Verdict TunnelServer::decideDestination(QTcpSocket *socket,
                                                           const HttpRequestHead &head,
                                                           const TunnelAdmission::Slot &slot,
                                                           const ServerRoute &route)
{
    using Error = Destination::Error;
    const QList<QByteArray> named = head.values("tow-destination");
    if (named.isEmpty()) {
        if (!route.remote.host.isEmpty()) { // the fixed remote, as for the original client
            RequestDispatcher::Verdict verdict;
            verdict.kind = RequestDispatcher::Verdict::Kind::Upgrade;
            verdict.slot = slot;
            return verdict;
        }
        return refuseDestination(slot, Error::NotAllowed,
                                 QStringLiteral("this route needs a destination (%1 header)")
                                     .arg(QLatin1String(Destination::kHeader)));
    }
    if (route.allow.isEmpty())
        return refuseDestination(slot, Error::NotAllowed,
                                 QStringLiteral("this route takes no destination"));
    const auto destination =
        named.size() == 1 ? Destination::parse(named.constFirst()) : std::optional<Destination>();
    if (!destination)
        return refuseDestination(
            slot, Error::BadDestination,
            QStringLiteral("malformed %1 (expected HOST:PORT or udp/HOST:PORT)")
                .arg(QLatin1String(Destination::kHeader)));
    if (m_clock.elapsed() - m_policiesReadAtMs >= kOwnAddressesMaxAgeMs)
        updatePolicies();
    const DestinationPolicy policy = m_policies.value(route.path);
    if (!policy.mayAllow(*destination))
        return refuseDestination(slot, Error::NotAllowed,
                                 QStringLiteral("%1 is not allowed")
                                     .arg(QString::fromLatin1(destination->headerValue())));

    auto *connector = new DestinationConnector(*destination, policy, &m_lookups, slot.limitKey,
                                               DestinationConnector::kConnectTimeoutMs, this);
    connect(connector, &DestinationConnector::connected, this,
            [this, socket] { destinationReached(socket); });
    connect(connector, &DestinationConnector::checked, this,
            [this, socket](const QList<QHostAddress> &addresses) {
                udpDestinationChecked(socket, addresses);
            });
    connect(connector, &DestinationConnector::failed, this,
            [this, socket, connector](Destination::Error error, const QString &detail) {
                // The addresses a name resolved to, and why they are denied, go to the log only:
                // told to the client they would make the server a DNS oracle for names it may
                // not reach, and point out the server's own addresses. It gets what a name no
                // rule takes gets.
                const QString answered = error == Error::NotAllowed
                    ? QStringLiteral("%1 is not allowed")
                          .arg(QString::fromLatin1(connector->destination().headerValue()))
                    : QString();
                destinationFailed(socket, error, detail, answered);
            });
    m_deferred.insert(socket, {connector, slot});
    // The connect timeout answers (504), not the handshake timeout.
    m_pending.markWaiting(socket, true);
    connector->start();
    RequestDispatcher::Verdict verdict;
    verdict.kind = RequestDispatcher::Verdict::Kind::Defer;
    return verdict;
}

void TunnelServer::destinationReached(QTcpSocket *socket)
{
    const DeferredTunnel deferred = m_deferred.take(socket);
    if (!deferred.connector)
        return;
    QTcpSocket *remote = deferred.connector->takeSocket();
    m_metrics.countRemoteConnected();
    // Until the relay reads it, what the destination sends waits within the relay's bound.
    remote->setReadBufferSize(m_options.relay.tcpReadBufferBytes);
    upgradeToDestination(socket, deferred, remote, kDestinationSocketName,
                         deferred.connector->address());
}

void TunnelServer::upgradeToDestination(QTcpSocket *socket, const DeferredTunnel &deferred,
                                        QAbstractSocket *destination, const char *objectName,
                                        const QHostAddress &address)
{
    const QString text = QString::fromLatin1(deferred.connector->destination().headerValue())
        + QLatin1String(" (") + address.toString() + QLatin1Char(')');
    deferred.connector->deleteLater();
    destination->setObjectName(QLatin1String(objectName));
    destination->setProperty(kDestinationProperty, text);
    destination->setParent(socket);
    m_pending.markWaiting(socket, false);
    RequestDispatcher::Verdict verdict;
    verdict.kind = RequestDispatcher::Verdict::Kind::Upgrade;
    verdict.slot = deferred.slot;
    m_dispatcher.deliver(socket, verdict);
}

void TunnelServer::udpDestinationChecked(QTcpSocket *socket, const QList<QHostAddress> &addresses)
{
    const DeferredTunnel deferred = m_deferred.value(socket);
    if (!deferred.connector)
        return;
    // The flow sends to a checked address, never to the name, and takes datagrams from that
    // address only (DatagramRelay::setUdpPeer()). A UDP connect, tried first, fails only when no
    // route leads there.
    QString lastError;
    Destination::Error error = Destination::Error::HostUnreachable;
    const quint16 port = deferred.connector->destination().target.port;
    for (const QHostAddress &address : addresses) {
        QUdpSocket probe;
        probe.connectToHost(address, port);
        if (probe.state() != QAbstractSocket::ConnectedState)
            probe.waitForConnected(0); // a UDP connect is done at once; this only collects it
        if (probe.state() != QAbstractSocket::ConnectedState) {
            lastError = probe.errorString();
            if (probe.error() == QAbstractSocket::NetworkError)
                error = Destination::Error::NetworkUnreachable;
            continue;
        }
        auto *udp = new QUdpSocket;
        const bool ipv4 = address.protocol() == QAbstractSocket::IPv4Protocol;
        if (!udp->bind(ipv4 ? QHostAddress(QHostAddress::AnyIPv4)
                            : QHostAddress(QHostAddress::AnyIPv6),
                       0)) {
            lastError = udp->errorString();
            delete udp;
            continue;
        }
        udp->setProperty(kDestinationPeerProperty, QVariant::fromValue(address));
        udp->setProperty(kDestinationPortProperty, port);
        m_deferred.remove(socket);
        upgradeToDestination(socket, deferred, udp, kDestinationUdpSocketName, address);
        return;
    }
    destinationFailed(socket, error,
                      lastError.isEmpty() ? QStringLiteral("no address to send to") : lastError);
}

void TunnelServer::destinationFailed(QTcpSocket *socket, Destination::Error error,
                                     const QString &detail, const QString &answered)
{
    const DeferredTunnel deferred = m_deferred.take(socket);
    if (!deferred.connector) // the client left first (deferredAbandoned())
        return;
    deferred.connector->deleteLater();
    m_pending.markWaiting(socket, false);
    m_dispatcher.deliver(socket, refuseDestination(deferred.slot, error, detail, answered));
}

void TunnelServer::refuseWaitingDestinations()
{
    if (m_deferred.isEmpty())
        return;
    qCInfo(lcServer)
        << m_deferred.size()
        << "upgrade(s) still waiting for their destination: answered 503 shutting-down";
    const QList<QTcpSocket *> sockets = m_deferred.keys();
    for (QTcpSocket *socket : sockets) {
        const DeferredTunnel deferred = m_deferred.take(socket);
        delete deferred.connector.data(); // cancels the lookup or the connection
        m_pending.markWaiting(socket, false);
        m_dispatcher.deliver(socket,
                             refuseDestination(deferred.slot, Destination::Error::ShuttingDown,
                                               QStringLiteral("the server is shutting down")));
    }
}

void TunnelServer::deferredAbandoned(QTcpSocket *socket)
{
    const DeferredTunnel deferred = m_deferred.take(socket);
    delete deferred.connector.data(); // aborts the lookup or the connection
    m_admission.release(deferred.slot);
    m_metrics.countHandshakeFailure(QStringLiteral("websocket"));
    m_metrics.setActiveTunnels(activeTunnels());
    checkDrained();
}

RequestDispatcher::Verdict TunnelServer::refuseDestination(const TunnelAdmission::Slot &slot,
                                                           Destination::Error error,
                                                           const QString &detail,
                                                           const QString &answered)
{
    using Error = Destination::Error;
    m_admission.release(slot);
    m_metrics.setActiveTunnels(activeTunnels());
    m_metrics.countUpgradeError();
    const bool refused = error == Error::NotAllowed || error == Error::BadDestination;
    // Busy and shutting down are the server's conditions, logged once for all (NameLookups,
    // refuseWaitingDestinations()).
    const bool aboutDestination = Destination::isAboutDestination(error);
    if (refused)
        m_metrics.countDestinationRefusal(slot.routePath);
    else if (error == Error::Busy)
        m_metrics.countLimitRejection(QStringLiteral("lookup_limit"));
    else if (error == Error::ShuttingDown)
        m_metrics.countHandshakeFailure(QStringLiteral("draining"));
    else
        m_metrics.countRemoteUnreachable();
    const QByteArray token = Destination::errorToken(error);
    const int status = Destination::httpStatus(error);
    if (aboutDestination && allowRefusalLine()) {
        if (refused)
            qCInfo(lcServer).noquote() << slot.clientAddress << "- upgrade on" << slot.routePath
                                       << "refused:" << status << token << "-" << detail;
        else
            qCWarning(lcServer).noquote() << slot.clientAddress << "- upgrade on" << slot.routePath
                                          << "failed:" << status << token << "-" << detail;
    }
    RequestDispatcher::Verdict verdict;
    verdict.status = status;
    verdict.headers = {{QByteArrayLiteral("Content-Type"), textPlain()},
                       {QByteArray(Destination::kErrorHeader), token}};
    verdict.body = QByteArray::number(status) + ' ' + token + ": "
        + (answered.isNull() ? detail : answered).toUtf8() + '\n';
    // After a drain's last tunnel the server may be waiting for this slot.
    checkDrained();
    return verdict;
}

void TunnelServer::updatePolicies()
{
    m_policiesReadAtMs = m_clock.elapsed();
    m_policies.clear();
    for (const ServerRoute &route : std::as_const(m_options.routes)) {
        if (route.allow.isEmpty())
            continue;
        m_policies.insert(route.path, DestinationPolicy::forThisHost(route.allow));
        m_metrics.showDestinationRefusals(route.path);
    }
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

void TunnelServer::startRelay(QWebSocket *ws, QTcpSocket *transport,
                              const TunnelAdmission::Slot &slot)
{
    PendingConnections::markTunnel(transport);
    const int routeIndex = m_admission.routeIndex(slot.routePath);
    if (routeIndex < 0) { // removed by a reload in between
        m_admission.release(slot);
        ws->close(QWebSocketProtocol::CloseCodeGoingAway, QStringLiteral("route removed"));
        transport->setParent(ws);
        ws->deleteLater(); // after the close frame went out
        return;
    }
    const ServerRoute route = m_options.routes.at(routeIndex);
    m_metrics.countTunnelOpened(route.path);
    m_metrics.setActiveTunnels(activeTunnels());

    RelayOptions relayOptions = m_options.relay;
    // Every transport was accepted by our listener.
    relayOptions.acceptedSocketTuned = m_tcpServer && m_tcpServer->acceptedSocketsTuned();
    relayOptions.idleTimeoutMs =
        route.idleTimeoutMs >= 0 ? route.idleTimeoutMs : m_options.limits.idleTimeoutMs;
    // A dynamic route's UDP destination, its socket connected before the upgrade was answered.
    if (auto *udp = transport->findChild<QUdpSocket *>(QLatin1String(kDestinationUdpSocketName),
                                                       Qt::FindDirectChildrenOnly)) {
        startDatagramRelay(ws, transport, udp, slot, route);
        return;
    }
    // A dynamic route's destination, connected before the upgrade was answered.
    QTcpSocket *reached = transport->findChild<QTcpSocket *>(QLatin1String(kDestinationSocketName),
                                                             Qt::FindDirectChildrenOnly);
    const QString description = slot.clientAddress + QLatin1String(" ") + route.path
        + QLatin1String(" -> ")
        + (reached ? reached->property(kDestinationProperty).toString() : route.remote.toString());
    auto *tcp = reached ? reached : new QTcpSocket;
    if (!reached) {
        // The remote is reached directly, as by the original: no proxy lookup per tunnel.
        WriteThrough::setDirect(tcp);
    }
    auto *relay = new Relay(tcp, ws, transport, relayOptions, description, this);
    // The relay owns the connection it reads its frames from; it goes with the relay.
    transport->setParent(relay);
    connect(tcp, &QTcpSocket::connected, this, [this] { m_metrics.countRemoteConnected(); });
    connect(relay, &Relay::tcpConnectFailed, this, [this] { m_metrics.countRemoteUnreachable(); });
    ServerMetrics::RouteBytes *bytes = m_metrics.routeBytes(route.path);
    connect(relay, &Relay::transferred, this, [bytes](qint64 tcpToWs, qint64 wsToTcp) {
        bytes->tcpToWs += tcpToWs;
        bytes->wsToTcp += wsToTcp;
    });
    QElapsedTimer age;
    age.start();
    connect(relay, &Relay::finished, this, [this, relay, slot, age] {
        m_admission.release(slot);
        m_metrics.setActiveTunnels(activeTunnels());
        m_metrics.tunnelFinished(slot.routePath, double(age.elapsed()) / 1000.0,
                                 qMax(relay->peakTcpQueuedBytes(), relay->peakWsQueuedBytes()));
        if (relay->tcpWasReset())
            m_metrics.countRemoteReset();
        relay->deleteLater();
        Q_EMIT tunnelFinished();
        checkDrained();
    });
    if (!reached)
        relay->connectTcp(route.remote.host, route.remote.port);
}

void TunnelServer::startDatagramRelay(QWebSocket *ws, QTcpSocket *transport, QUdpSocket *udp,
                                      const TunnelAdmission::Slot &slot, const ServerRoute &route)
{
    DatagramRelay::Options options;
    options.idleTimeoutMs =
        route.idleTimeoutMs >= 0 ? route.idleTimeoutMs : m_options.limits.idleTimeoutMs;
    if (options.idleTimeoutMs <= 0)
        options.idleTimeoutMs = kDefaultUdpIdleTimeoutMs; // a UDP flow has no end of its own
    options.keepAliveIntervalMs = m_options.relay.keepAliveIntervalMs;
    options.closeTimeoutMs = m_options.relay.closeTimeoutMs;
    const QString description = slot.clientAddress + QLatin1String(" ") + route.path
        + QLatin1String(" -> ") + udp->property(kDestinationProperty).toString();
    auto *relay = new DatagramRelay(ws, udp, options, description, this);
    relay->setUdpPeer(udp->property(kDestinationPeerProperty).value<QHostAddress>(),
                      quint16(udp->property(kDestinationPortProperty).toUInt()));
    // The relay owns the connection its WebSocket runs on; it goes with the relay.
    transport->setParent(relay);
    m_metrics.countUdpFlowOpened(route.path);
    const QString path = route.path;
    ServerMetrics::RouteBytes *bytes = m_metrics.routeBytes(path);
    connect(relay, &DatagramRelay::relayed, this,
            [this, path, bytes](DatagramRelay::Direction direction, qint64 count, qint64 size) {
                const bool wsToUdp = direction == DatagramRelay::Direction::WsToUdp;
                m_metrics.countUdpDatagrams(path, wsToUdp, count);
                (wsToUdp ? bytes->wsToTcp : bytes->tcpToWs) += size;
            });
    connect(relay, &DatagramRelay::dropped, this,
            [this, path](DatagramRelay::Direction direction, DatagramRelay::DropReason reason,
                         qint64 count) {
                m_metrics.countUdpDropped(path, direction == DatagramRelay::Direction::WsToUdp,
                                          reason == DatagramRelay::DropReason::TooBig, count);
            });
    QElapsedTimer age;
    age.start();
    connect(relay, &DatagramRelay::finished, this, [this, relay, slot, age] {
        m_admission.release(slot);
        m_metrics.setActiveTunnels(activeTunnels());
        m_metrics.tunnelFinished(slot.routePath, double(age.elapsed()) / 1000.0,
                                 relay->counters().peakQueuedBytes);
        relay->deleteLater();
        Q_EMIT tunnelFinished();
        checkDrained();
    });
}

void TunnelServer::drain()
{
    if (isDraining())
        return;
    m_admission.setDraining(true);
    if (m_tcpServer)
        m_tcpServer->stopListening();
    qCInfo(lcServer) << "draining: no new tunnels;" << activeTunnels()
                     << "open tunnel(s) may finish within" << m_options.drainTimeoutMs / 1000
                     << "s";
    m_drainTimer.start(m_options.drainTimeoutMs);
    refuseWaitingDestinations();
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
        m_tcpServer->stopListening();
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    for (Relay *relay : relays)
        relay->shutdown();
    const auto flows = findChildren<DatagramRelay *>(QString(), Qt::FindDirectChildrenOnly);
    for (DatagramRelay *flow : flows)
        flow->shutdown();
    refuseWaitingDestinations();
    checkDrained();
}

#include "connectioncheck.h"

#include "net/hostport.h"
#include "net/websocketurl.h"
#include "proxyresolver.h"
#include "tlspolicy.h"
#include "websocketconnector.h"

#include <QHostAddress>
#include <QHostInfo>
#include <QWebSocket>

namespace {

constexpr int kPongTimeoutMs = 10000;
// How long the WebSocket must stay open after the pong for the check to pass.
constexpr int kSettleMs = 1000;

} // namespace

ConnectionCheck::ConnectionCheck(const ClientOptions &options, QObject *parent)
    : QObject(parent), m_options(options)
{
    qRegisterMetaType<ConnectionCheck::Step>();
    m_settle.setSingleShot(true);
    connect(&m_settle, &QTimer::timeout, this, [this] {
        report(StepKind::RoundTrip, true,
               QStringLiteral("WebSocket ping answered in %1 ms; the tunnel stayed open")
                   .arg(m_roundTripMs, 0, 'f', 1));
        finish(true);
        if (m_ws)
            m_ws->close();
    });
    m_pongTimeout.setSingleShot(true);
    connect(&m_pongTimeout, &QTimer::timeout, this, [this] {
        report(StepKind::RoundTrip, false,
               QStringLiteral("the WebSocket opened but no pong came back within %1 s: "
                              "something on the way holds or drops WebSocket frames")
                   .arg(kPongTimeoutMs / 1000));
        finish(false);
    });
}

ConnectionCheck::~ConnectionCheck()
{
    if (m_lookupId >= 0)
        QHostInfo::abortHostLookup(m_lookupId);
    if (m_ws) {
        m_ws->abort();
        delete m_ws;
    }
}

QString ConnectionCheck::label(StepKind kind)
{
    switch (kind) {
    case StepKind::Dns:
        return QStringLiteral("DNS");
    case StepKind::Proxy:
        return QStringLiteral("Proxy");
    case StepKind::Tcp:
        return QStringLiteral("TCP");
    case StepKind::Tls:
        return QStringLiteral("TLS");
    case StepKind::Upgrade:
        return QStringLiteral("HTTP upgrade");
    case StepKind::Destination:
        return QStringLiteral("Destination");
    case StepKind::RoundTrip:
        return QStringLiteral("Round trip");
    }
    return QString();
}

QString ConnectionCheck::explainStatus(int status, const QUrl &url)
{
    const QString path = url.path().isEmpty() ? QStringLiteral("/") : url.path();
    switch (status) {
    case 400:
        return QStringLiteral("HTTP 400 Bad Request: the reverse proxy does not pass the "
                              "Upgrade/Connection headers (nginx: proxy_http_version 1.1; "
                              "proxy_set_header Upgrade $http_upgrade; proxy_set_header "
                              "Connection \"upgrade\")");
    case 401:
        return QStringLiteral("HTTP 401 Unauthorized: the server wants credentials: a valid token "
                              "(--token-file or TOW_TOKEN) or user:password in the URL");
    case 403:
        return QStringLiteral("HTTP 403 Forbidden: the server or a proxy refuses this client");
    case 404:
        return QStringLiteral("HTTP 404 Not Found: nothing answers at the path %1: check the URL's "
                              "path (and the reverse proxy's location)")
            .arg(path);
    case 407:
        return QStringLiteral("HTTP 407 Proxy Authentication Required: the proxy wants "
                              "credentials: --proxy http://user:password@host:port");
    case 426:
        return QStringLiteral("HTTP 426 Upgrade Required: the request reached the server without "
                              "its Upgrade header: the reverse proxy does not pass the "
                              "Upgrade/Connection headers");
    case 502:
    case 503:
    case 504:
        return QStringLiteral("HTTP %1: the reverse proxy cannot reach the tunnel server behind "
                              "it (is it running? is proxy_pass right?)")
            .arg(status);
    default:
        return QStringLiteral("HTTP %1: the server answered without upgrading to a WebSocket")
            .arg(status);
    }
}

QString ConnectionCheck::explainRefusal(const QByteArray &errorToken, int status)
{
    using Error = Destination::Error;
    const QString answer =
        QStringLiteral("(%1 %2)").arg(status).arg(QString::fromLatin1(errorToken));
    const auto error = Destination::errorFromToken(errorToken);
    if (!error)
        return QStringLiteral("the server answered HTTP %1 with %2: %3")
            .arg(status)
            .arg(QLatin1String(Destination::kErrorHeader), QString::fromLatin1(errorToken));
    switch (*error) {
    case Error::BadDestination:
        return QStringLiteral("the server cannot read it %1").arg(answer);
    case Error::NotAllowed:
        return QStringLiteral("not allowed by the route's rules %1: its allow list does not take "
                              "it, the server denies it by default (loopback, link-local, its own "
                              "addresses), or the route takes no named destination")
            .arg(answer);
    case Error::NoSuchHost:
        return QStringLiteral("the server cannot resolve its name %1").arg(answer);
    case Error::Refused:
        return QStringLiteral("it refused the server's connection %1").arg(answer);
    case Error::HostUnreachable:
        return QStringLiteral("the server cannot reach the host %1").arg(answer);
    case Error::NetworkUnreachable:
        return QStringLiteral("the server has no route to its network %1").arg(answer);
    case Error::Timeout:
        return QStringLiteral("it did not answer the server's connection in time %1").arg(answer);
    case Error::Busy:
        return QStringLiteral("the server has too many name lookups of this address in progress; "
                              "try again later %1")
            .arg(answer);
    case Error::ShuttingDown:
        return QStringLiteral("the server is stopping %1").arg(answer);
    }
    return answer;
}

void ConnectionCheck::setDestination(const Destination &destination)
{
    m_destination = destination;
}

void ConnectionCheck::start()
{
    // The destination goes to the server in its header; one given in the options' headers (-H)
    // counts as named too.
    const QByteArray headerName = QByteArray(Destination::kHeader);
    for (qsizetype i = m_options.headers.size() - 1; i >= 0; --i) {
        if (m_options.headers.at(i).first.compare(headerName, Qt::CaseInsensitive) != 0)
            continue;
        if (m_destination)
            m_options.headers.removeAt(i);
        else
            m_destinationValue = m_options.headers.at(i).second.trimmed();
    }
    if (m_destination) {
        m_destinationValue = m_destination->headerValue();
        m_options.headers.append({headerName, m_destinationValue});
    } else if (!m_destinationValue.isEmpty()) {
        m_destination = Destination::parse(m_destinationValue);
    }

    QString error;
    const auto tls = TlsPolicy::create(m_options, &error);
    if (!tls) {
        QTimer::singleShot(0, this, [this, error] {
            report(StepKind::Tls, false, error);
            finish(false);
        });
        return;
    }
    const auto proxy = ProxyResolver::resolve(m_options.proxy, m_options.serverUrl, &error);
    if (!proxy) {
        QTimer::singleShot(0, this, [this, error] {
            report(StepKind::Proxy, false, error);
            finish(false);
        });
        return;
    }
    // With a proxy, the proxy resolves the server's name: look up the proxy's instead.
    const bool direct = proxy->type() == QNetworkProxy::NoProxy;
    m_lookupHost = direct ? m_options.serverUrl.host() : proxy->hostName();
    QTimer::singleShot(0, this, [this, proxy = *proxy] {
        report(StepKind::Proxy, true,
               proxy.type() == QNetworkProxy::NoProxy
                   ? QStringLiteral("no proxy (direct connection)")
                   : QStringLiteral("through the %1%2")
                         .arg(ProxyResolver::describe(proxy),
                              proxy.user().isEmpty() ? QString()
                                                     : QStringLiteral(" with credentials")));
        m_lookupId = QHostInfo::lookupHost(m_lookupHost, this, &ConnectionCheck::onLookedUp);
    });
}

void ConnectionCheck::onLookedUp(const QHostInfo &info)
{
    m_lookupId = -1;
    if (info.error() != QHostInfo::NoError || info.addresses().isEmpty()) {
        report(StepKind::Dns, false,
               QStringLiteral("%1 cannot be resolved: %2").arg(m_lookupHost, info.errorString()));
        finish(false);
        return;
    }
    QStringList addresses;
    for (const QHostAddress &address : info.addresses())
        addresses.append(address.toString());
    report(StepKind::Dns, true,
           QStringLiteral("%1 is %2").arg(m_lookupHost, addresses.join(QStringLiteral(", "))));
    openWebSocket();
}

void ConnectionCheck::openWebSocket()
{
    QString error;
    const auto tls = TlsPolicy::create(m_options, &error);
    m_connector = new WebSocketConnector(m_options, *tls, this);
    connect(m_connector, &WebSocketConnector::tcpConnected, this, [this](const QString &peer) {
        if (m_tcpDone)
            return; // a redirect reconnects: report the first connection only
        m_tcpDone = true;
        report(StepKind::Tcp, true, QStringLiteral("connected to %1").arg(peer));
    });
    connect(m_connector, &WebSocketConnector::tlsEstablished, this,
            [this](const QString &subject, const QString &pin, const QString &protocol) {
                if (m_tlsDone)
                    return;
                m_tlsDone = true;
                report(StepKind::Tls, true,
                       QStringLiteral("%1, certificate \"%2\" %3, pin %4")
                           .arg(protocol, subject,
                                m_options.insecure ? QStringLiteral("NOT verified (--insecure)")
                                    : m_options.pinsSha256.isEmpty()
                                    ? QStringLiteral("verified")
                                    : QStringLiteral("matches --pin-sha256"),
                                pin));
            });
    connect(m_connector, &WebSocketConnector::redirected, this,
            [this](const QUrl &from, const QUrl &to, int httpStatus) {
                report(StepKind::Upgrade, true,
                       QStringLiteral("redirected from %1 to %2 (HTTP %3, followed)")
                           .arg(WebSocketUrl::redacted(from), WebSocketUrl::redacted(to))
                           .arg(httpStatus));
            });
    connect(m_connector, &WebSocketConnector::failed, this,
            [this](const WebSocketConnector::Failure &failure) {
                StepKind kind = StepKind::Upgrade;
                QString sentence = failure.reason;
                switch (failure.stage) {
                case WebSocketConnector::Stage::Proxy:
                    kind = StepKind::Proxy;
                    break;
                case WebSocketConnector::Stage::Connect:
                    kind = StepKind::Tcp;
                    break;
                case WebSocketConnector::Stage::Tls:
                    kind = StepKind::Tls;
                    break;
                case WebSocketConnector::Stage::Timeout:
                    kind = !m_tcpDone ? StepKind::Tcp
                        : (m_connector->finalUrl().scheme() == QLatin1String("wss") && !m_tlsDone)
                        ? StepKind::Tls
                        : StepKind::Upgrade;
                    break;
                case WebSocketConnector::Stage::Upgrade:
                    // A Tow-Error: the server took the request and answered for the destination.
                    if (!failure.errorToken.isEmpty()) {
                        onRefused(failure.httpStatus, failure.errorToken);
                        return;
                    }
                    Q_FALLTHROUGH();
                case WebSocketConnector::Stage::Redirect:
                    kind = StepKind::Upgrade;
                    if (failure.httpStatus && failure.stage == WebSocketConnector::Stage::Upgrade)
                        sentence = explainStatus(failure.httpStatus, m_connector->finalUrl());
                    break;
                }
                if (failure.httpStatus == 407)
                    sentence = failure.reason;
                report(kind, false, sentence, failure.httpStatus);
                finish(false);
            });
    connect(m_connector, &WebSocketConnector::opened, this, [this] {
        m_ws = m_connector->takeWebSocket();
        m_ws->setParent(this);
        QString subprotocol;
        if (!m_options.subprotocol.isEmpty())
            subprotocol = m_ws->subprotocol().isEmpty()
                ? QStringLiteral(" without a subprotocol (%1 was offered, not required)")
                      .arg(m_options.subprotocol)
                : QStringLiteral(" with the subprotocol %1").arg(m_ws->subprotocol());
        report(StepKind::Upgrade, true,
               QStringLiteral("HTTP 101: %1 accepted the WebSocket upgrade%2")
                   .arg(WebSocketUrl::redacted(m_connector->finalUrl()), subprotocol),
               101);
        if (!m_destinationValue.isEmpty())
            report(StepKind::Destination, true,
                   m_destination && m_destination->udp
                       ? QStringLiteral("the server allows %1 and is ready to send its datagrams "
                                        "there (the check sends none)")
                             .arg(QString::fromLatin1(m_destinationValue))
                       : QStringLiteral("the server accepted the upgrade for %1; a server of "
                                        "ours does so only once it has connected to it (a plain "
                                        "relay such as the original Go server ignores the name "
                                        "and opens its own remote)")
                             .arg(QString::fromLatin1(m_destinationValue)));
        connect(m_ws, &QWebSocket::pong, this, [this] {
            m_pongTimeout.stop();
            m_roundTripMs = m_pingSent.nsecsElapsed() / 1e6;
            // The server connects to its TCP service while we ping; if that fails it closes
            // with 1011 a moment later. Wait briefly for it so that "works" means the service too.
            m_settle.start(kSettleMs);
        });
        // QWebSocket answers a close frame with its own and emits aboutToClose() before its
        // connection ends; we close it only after finishing. A connection that ends without it
        // had no close frame, although closeCode() then still says 1000, its initial value (Qt
        // 6.4 to 6.8): that is RFC 6455's 1006, abnormal closure.
        connect(m_ws, &QWebSocket::aboutToClose, this, [this] { m_closeFrameSeen = true; });
        connect(m_ws, &QWebSocket::disconnected, this, [this] {
            if (m_finished)
                return;
            m_settle.stop();
            const int code = m_closeFrameSeen
                ? int(m_ws->closeCode())
                : int(QWebSocketProtocol::CloseCodeAbnormalDisconnection);
            const QString reason = m_ws->closeReason().isEmpty() || !m_closeFrameSeen
                ? QString()
                : QStringLiteral(": ") + m_ws->closeReason();
            QString sentence;
            if (code == QWebSocketProtocol::CloseCodeAbnormalDisconnection)
                sentence = QStringLiteral(
                    "the connection was dropped without a WebSocket close frame (close code 1006, "
                    "abnormal closure): usually the server cannot reach the TCP service behind it "
                    "(the original Go server drops the connection so), or a proxy or firewall on "
                    "the way cut the connection");
            else if (code == QWebSocketProtocol::CloseCodeBadOperation)
                sentence = QStringLiteral("the server accepted the tunnel but cannot reach the TCP "
                                          "service behind it (close code 1011%1)")
                               .arg(reason);
            else
                sentence = QStringLiteral("the server closed the WebSocket at once (close code "
                                          "%1%2)")
                               .arg(code)
                               .arg(reason);
            report(StepKind::RoundTrip, false, sentence);
            finish(false);
        });
        m_pingSent.start();
        m_pongTimeout.start(kPongTimeoutMs);
        m_ws->ping();
    });
    m_connector->open(m_options.serverUrl);
}

void ConnectionCheck::onRefused(int httpStatus, const QByteArray &errorToken)
{
    const QString answer =
        QStringLiteral("HTTP %1, %2: %3")
            .arg(httpStatus)
            .arg(QLatin1String(Destination::kErrorHeader), QString::fromLatin1(errorToken));
    // Only a server of ours sends Tow-Error, and only once the path, the token, the Origin and
    // the limits have let the request through (they answer without one). Busy and shutting-down
    // are about the server: the upgrade failed, whatever the destination.
    const auto error = Destination::errorFromToken(errorToken);
    if (error && !Destination::isAboutDestination(*error)) {
        report(StepKind::Upgrade, false,
               QStringLiteral("%1 took the request but cannot serve it now: %2")
                   .arg(WebSocketUrl::redacted(m_connector->finalUrl()),
                        explainRefusal(errorToken, httpStatus)),
               httpStatus);
        finish(false);
        return;
    }
    report(StepKind::Upgrade, true,
           QStringLiteral("%1 took the request (path and credentials accepted) and answered for "
                          "the destination: %2")
               .arg(WebSocketUrl::redacted(m_connector->finalUrl()), answer),
           httpStatus);
    if (!m_destinationValue.isEmpty()) {
        const bool refused = !error || *error == Destination::Error::NotAllowed
            || *error == Destination::Error::BadDestination;
        report(StepKind::Destination, false,
               QStringLiteral("the server %1 the destination %2: %3")
                   .arg(refused ? QStringLiteral("refused") : QStringLiteral("could not reach"),
                        QString::fromLatin1(m_destinationValue),
                        explainRefusal(errorToken, httpStatus)),
               httpStatus);
        finish(false);
        return;
    }
    m_namedOnlyRoute = true;
    if (m_namedDestinationsSuffice)
        report(StepKind::Destination, true,
               QStringLiteral("none named, and the route takes named destinations only (%1): "
                              "SOCKS5 proxies and UDP forwarders name theirs; a port forward "
                              "through it would be refused")
                   .arg(answer),
               httpStatus);
    else
        report(StepKind::Destination, false,
               QStringLiteral("the route takes named destinations only (%1): a port forward names "
                              "none and is refused; use a SOCKS5 proxy or UDP through it, or a "
                              "route with a fixed remote")
                   .arg(answer),
               httpStatus);
    finish(m_namedDestinationsSuffice);
}

void ConnectionCheck::report(StepKind kind, bool ok, const QString &sentence, int httpStatus)
{
    if (m_finished)
        return;
    const Step step {kind, ok, sentence, httpStatus};
    m_steps.append(step);
    Q_EMIT this->step(step);
}

void ConnectionCheck::finish(bool works)
{
    if (m_finished)
        return;
    m_finished = true;
    m_works = works;
    m_pongTimeout.stop();
    Q_EMIT finished(works);
}

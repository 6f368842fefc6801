#include "websocketconnector.h"

#include "logcategories.h"
#include "net/destination.h"
#include "net/hostport.h"
#include "net/websocketurl.h"
#include "proxyresolver.h"
#include "relay/websocketinternals.h"
#include "upgradeprobe.h"

#include <QAuthenticator>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QSignalBlocker>
#include <QSslCipher>
#include <QSslSocket>
#include <QWebSocket>
#include <QWebSocketHandshakeOptions>
#include <algorithm>

namespace {

// As much of a refusing answer as is searched for its Tow-Error header: QWebSocket takes heads
// up to about this size too.
constexpr qint64 kMaxAnswerHeadBytes = 16 * 1024;

// QWebSocket reports a refused upgrade only as text (Qt 6.4 to 6.8): "...Unhandled http status
// code: 301 (...)", and a 400 without Sec-WebSocket-Version as "...Unknown error condition
// encountered...". Qt 6.8 answers a 401 itself (it retries Basic and Digest with the URL's
// credentials) and reports what it could not answer as "...Unsupported WWW-Authenticate
// challenge(s) encountered." or "...Host requires authentication"; Qt 6.4 gives the status.
int handshakeStatus(const QString &errorString)
{
    static const QRegularExpression status(QStringLiteral("status code: (\\d{3})"));
    const auto match = status.match(errorString);
    if (match.hasMatch())
        return match.captured(1).toInt();
    if (errorString.contains(QLatin1String("Unknown error condition")))
        return 400;
#if QT_VERSION >= QT_VERSION_CHECK(6, 8, 0)
    if (errorString.contains(QLatin1String("WWW-Authenticate challenge"))
        || errorString.contains(QLatin1String("requires authentication")))
        return 401;
#endif
    return 0;
}

bool isRedirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

QString hostPortOf(const QUrl &url)
{
    return HostPort {url.host(), quint16(url.port(url.scheme() == QLatin1String("wss") ? 443 : 80))}
        .toString();
}

} // namespace

WebSocketConnector::WebSocketConnector(const ClientOptions &options, const TlsPolicy &tls,
                                       QObject *parent)
    : QObject(parent), m_options(options), m_tls(tls), m_policy(options)
{
    qRegisterMetaType<WebSocketConnector::Failure>();
    m_timeout.setSingleShot(true);
    connect(&m_timeout, &QTimer::timeout, this, [this] {
        const QString where = !m_tcpConnected
            ? QStringLiteral("the TCP connection to %1 was not established").arg(hostPortOf(m_url))
            : (m_url.scheme() == QLatin1String("wss") && !m_tlsDone)
            ? QStringLiteral("the TLS handshake did not finish")
            : QStringLiteral("the server did not answer the WebSocket upgrade");
        fail(Stage::Timeout,
             QStringLiteral("%1 within %2 s (--connect-timeout)")
                 .arg(where)
                 .arg(m_options.handshakeTimeoutMs / 1000.0));
    });
}

WebSocketConnector::~WebSocketConnector()
{
    dropWebSocket();
}

void WebSocketConnector::open(const QUrl &url)
{
    m_timeout.start(m_options.handshakeTimeoutMs);
    m_chain = {url};
    m_rememberedUrl = url;
    m_onlyPermanentSoFar = true;
    start(url, m_options.maxRedirects);
}

QWebSocket *WebSocketConnector::takeWebSocket()
{
    QWebSocket *ws = m_ws.data();
    if (ws) {
        ws->disconnect(this);
        ws->setParent(nullptr);
    }
    m_ws.clear();
    return ws;
}

QString WebSocketConnector::describeHeaders(const ClientOptions &options)
{
    QStringList lines;
    if (!options.token.isEmpty())
        lines.append(QStringLiteral("Authorization: Bearer <token, hidden>"));
    else if (!options.serverUrl.userName().isEmpty())
        lines.append(QStringLiteral("Authorization: Basic <user %1, password hidden>")
                         .arg(options.serverUrl.userName()));
    for (const auto &header : options.headers) {
        const bool secret = RedirectPolicy::isSecretHeader(header.first);
        lines.append(QString::fromLatin1(header.first) + QLatin1String(": ")
                     + (secret ? QStringLiteral("<hidden>") : QString::fromLatin1(header.second)));
    }
    if (!options.subprotocol.isEmpty())
        lines.append(QStringLiteral("Sec-WebSocket-Protocol: ") + options.subprotocol);
    return lines.join(QStringLiteral(", "));
}

void WebSocketConnector::start(const QUrl &url, int redirectsLeft)
{
    m_url = url;
    m_redirectsLeft = redirectsLeft;
    m_tcpConnected = false;
    m_tlsDone = false;
    m_proxyAuthAttempts = 0;
    m_tlsFailure.clear();

    QString error;
    const auto proxy = ProxyResolver::resolve(m_options.proxy, url, &error);
    if (!proxy) {
        QTimer::singleShot(0, this, [this, error] { fail(Stage::Proxy, error); });
        return;
    }
    m_proxy = *proxy;
    Q_EMIT proxyChosen(m_proxy);

    auto *ws = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    m_ws = ws;
    ws->setMaxAllowedIncomingFrameSize(quint64(m_options.relay.maxIncomingFrameBytes));
    ws->setMaxAllowedIncomingMessageSize(quint64(m_options.relay.maxIncomingFrameBytes));
    // Qt 6.4 sends an HTTP proxy's own credentials and, when they are refused, ends with a bare
    // "Error communicating with HTTP proxy". Given only through proxyAuthenticationRequired, a
    // refusal asks again and ends as ProxyAuthenticationRequiredError: a clear 407.
    QNetworkProxy socketProxy = m_proxy;
    if (socketProxy.type() == QNetworkProxy::HttpProxy) {
        socketProxy.setUser(QString());
        socketProxy.setPassword(QString());
    }
    ws->setProxy(socketProxy);
    const bool secure = url.scheme() == QLatin1String("wss");

    // The request URL gives the Host header (and, without --server-name, the TLS name).
    QUrl target = url;
    target.setUserInfo(QString());
    const bool overrideName = m_policy.isTrusted(url) && !m_options.serverName.isEmpty();
    if (overrideName)
        target.setHost(m_options.serverName);
    const QString sessionKey =
        secure ? TlsSessionCache::keyOf(url.host(), url.port(443), target.host()) : QString();
    if (secure)
        ws->setSslConfiguration(m_tls.sslConfiguration(sessionKey));
    QNetworkRequest request(target);
    // The credentials only on the configured origin (user:password of its URL as Basic auth).
    for (const auto &header : m_policy.headersFor(url))
        request.setRawHeader(header.first, header.second);

    connect(ws, &QWebSocket::proxyAuthenticationRequired, this,
            [this](const QNetworkProxy &, QAuthenticator *authenticator) {
                // The first request gets the credentials of the proxy URL; asked again means they
                // were refused: leave the authenticator empty so that the attempt fails with 407.
                ++m_proxyAuthAttempts;
                if (m_proxyAuthAttempts == 1 && !m_proxy.user().isEmpty()) {
                    authenticator->setUser(m_proxy.user());
                    authenticator->setPassword(m_proxy.password());
                }
            });
    connect(ws, &QWebSocket::connected, this, [this] {
        if (m_settled)
            return;
        m_settled = true;
        // The answer was an upgrade: what QWebSocket read of it is read for good.
        if (m_transport && m_transport->isTransactionStarted())
            m_transport->commitTransaction();
        m_timeout.stop();
        if (m_tls.insecure() && m_url.scheme() == QLatin1String("wss"))
            qCWarning(lcClient).noquote() << "connected to" << WebSocketUrl::redacted(m_url)
                                          << "WITHOUT verifying its TLS certificate (--insecure)";
        if (!m_options.subprotocol.isEmpty() && m_ws && m_ws->subprotocol().isEmpty())
            qCDebug(lcClient).noquote()
                << WebSocketUrl::redacted(m_url) << "selected no subprotocol (offered"
                << m_options.subprotocol + QLatin1String("); carrying on, as RFC 6455 allows");
        Q_EMIT opened();
    });
#if QT_VERSION >= QT_VERSION_CHECK(6, 5, 0)
    connect(ws, &QWebSocket::errorOccurred, this, &WebSocketConnector::onError);
#else
    connect(ws, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            &WebSocketConnector::onError);
#endif
    connect(ws, &QWebSocket::disconnected, this, &WebSocketConnector::onError);

    // Offered, not required: RFC 6455 (4.1) lets a server answer without a subprotocol, and our
    // frames are the same either way. A server that picks one we did not offer is refused by
    // QWebSocket (Qt 6.4, 6.8), reported in onError(). QWebSocketHandshakeOptions is Qt 6.4's.
    QWebSocketHandshakeOptions handshake;
    if (!m_options.subprotocol.isEmpty())
        handshake.setSubprotocols({m_options.subprotocol});
    ws->open(request, handshake);

    // QWebSocket creates its socket inside open() and exposes neither the socket nor the TLS
    // peer name: reach the socket to watch the stages, check certificates before any byte is
    // sent, and connect to the URL's host while naming --server-name.
    auto *socket = WebSocketInternals::transportOf(ws);
    if (!socket)
        return; // open() already failed (bad URL): the error signal is queued
    m_transport = socket;
    connect(socket, &QAbstractSocket::connected, this, [this, socket] {
        m_tcpConnected = true;
        // QWebSocket (Qt 6.4 to 6.8) skips the head of an answer that refuses the upgrade and
        // keeps its headers to itself. Read inside a transaction, the head can be read again in
        // onError() for its Tow-Error header; connected() commits what was read.
        if (socket->isOpen() && !socket->isTransactionStarted())
            socket->startTransaction();
        // Said before the flush below, which may find the connection reset and fail it: the
        // failure then follows the connection, as it happened.
        const QPointer<WebSocketConnector> self(this);
        Q_EMIT tcpConnected(
            HostPort {socket->peerAddress().toString(), socket->peerPort()}.toString());
        if (!self)
            return;
        // QWebSocket (Qt 6.4 to 6.8) has just queued its upgrade request (plain ws://; for wss://
        // once encrypted): out now rather than a pass later, when the loop finds the socket
        // writable (the write notifier off again before the loop waits: no epoll_ctl for it).
        if (!qobject_cast<QSslSocket *>(socket))
            socket->flush();
    });
    auto *ssl = qobject_cast<QSslSocket *>(socket);
    if (ssl) {
        connect(ssl, &QSslSocket::sslErrors, this, [this, ssl](const QList<QSslError> &errors) {
            QString reason;
            if (m_tls.acceptsErrors(errors, ssl->peerCertificate(), &reason)) {
                if (m_tls.insecure())
                    qCWarning(lcClient).noquote()
                        << "ignoring TLS errors of" << WebSocketUrl::redacted(m_url)
                        << "because of --insecure:"
                        << TlsPolicy::describe(errors, ssl->peerCertificate());
                ssl->ignoreSslErrors();
            } else {
                m_tlsFailure = reason;
            }
        });
        connect(ssl, &QSslSocket::encrypted, this, [this, ssl, sessionKey] {
            QString reason;
            if (!m_tls.acceptsPeer(ssl->peerCertificate(), &reason)) {
                m_tlsFailure = reason;
                fail(Stage::Tls, reason);
                return;
            }
            m_tlsDone = true;
            // A session to resume, from a server this policy has just accepted. TLS 1.2 gives it
            // with the handshake; TLS 1.3 in tickets that follow, also once the relay has the
            // socket.
            if (ssl->sessionProtocol() == QSsl::TlsV1_3)
                connect(ssl, &QSslSocket::newSessionTicketReceived, ssl,
                        [sessions = m_tls.sessions(), ssl, sessionKey] {
                            sessions->store(sessionKey, ssl->sslConfiguration().sessionTicket());
                        });
            else
                m_tls.sessions()->store(sessionKey, ssl->sslConfiguration().sessionTicket());
            const QSslCipher cipher = ssl->sessionCipher();
            Q_EMIT tlsEstablished(ssl->peerCertificate().subjectDisplayName(),
                                  TlsPolicy::pinOf(ssl->peerCertificate()),
                                  cipher.protocolString());
        });
    }
    if (overrideName) {
        const QSignalBlocker blocker(socket);
        socket->abort();
        const quint16 port = quint16(url.port(secure ? 443 : 80));
        if (ssl)
            ssl->connectToHostEncrypted(url.host(), port, m_options.serverName);
        else
            socket->connectToHost(url.host(), port);
    }
}

void WebSocketConnector::onError()
{
    if (m_settled || !m_ws)
        return;
    QWebSocket *ws = m_ws;
    const QString errorText = ws->errorString();
    const QString target = hostPortOf(m_url);
    const QString proxy = ProxyResolver::describe(m_proxy);
    const int status = m_tcpConnected ? handshakeStatus(errorText) : 0;

    if (isRedirect(status)) {
        followRedirect(status);
        return;
    }
    if (status) {
        const QByteArray token = refusalErrorToken();
        fail(Stage::Upgrade,
             QStringLiteral("the server answered HTTP %1%2 instead of upgrading to a WebSocket")
                 .arg(status)
                 .arg(token.isEmpty() ? QString()
                                      : QStringLiteral(" (%1: %2)")
                                            .arg(QLatin1String(Destination::kErrorHeader),
                                                 QString::fromLatin1(token))),
             status, token);
        return;
    }
    if (!m_tlsFailure.isEmpty()) {
        fail(Stage::Tls, m_tlsFailure);
        return;
    }
    // Qt 6.4 to 6.8 say so only in text: "WebSocket server has chosen protocol X which has not
    // been requested".
    if (m_tcpConnected && errorText.contains(QLatin1String("has chosen protocol"))) {
        const QString offered = m_options.subprotocol.isEmpty()
            ? QStringLiteral("none was offered")
            : QStringLiteral("only %1 was offered").arg(m_options.subprotocol);
        fail(Stage::Upgrade,
             QStringLiteral("the server chose a WebSocket subprotocol that was not offered (%1): "
                            "%2")
                 .arg(offered, errorText));
        return;
    }

    QAbstractSocket::SocketError socketError = ws->error();
    // Qt 6.4 reports missing or refused proxy credentials in several ways once it has asked us
    // for them: a protocol error (the proxy closes the connection after its 407) or, under
    // QSslSocket, an "Unknown error". The connection never got through: it is a 407.
    if (m_proxyAuthAttempts > 0 && !m_tcpConnected)
        socketError = QAbstractSocket::ProxyAuthenticationRequiredError;
    switch (socketError) {
    case QAbstractSocket::ProxyAuthenticationRequiredError: {
        const bool socks = m_proxy.type() == QNetworkProxy::Socks5Proxy;
        const QString refusal = socks ? QStringLiteral("SOCKS5 authentication failed")
                                      : QStringLiteral("HTTP 407 Proxy Authentication Required");
        fail(Stage::Proxy,
             m_proxy.user().isEmpty()
                 ? QStringLiteral("the %1 requires authentication (%2): give the credentials in "
                                  "the proxy URL, %3://user:password@host:port")
                       .arg(proxy, refusal,
                            socks ? QStringLiteral("socks5") : QStringLiteral("http"))
                 : QStringLiteral("the %1 refused the credentials (%2)").arg(proxy, refusal),
             socks ? 0 : 407);
        return;
    }
    case QAbstractSocket::ProxyConnectionRefusedError:
        fail(Stage::Proxy, QStringLiteral("the %1 refused the connection").arg(proxy));
        return;
    case QAbstractSocket::ProxyNotFoundError:
        fail(Stage::Proxy, QStringLiteral("the %1 cannot be resolved").arg(proxy));
        return;
    case QAbstractSocket::ProxyConnectionClosedError:
    case QAbstractSocket::ProxyConnectionTimeoutError:
    case QAbstractSocket::ProxyProtocolError:
        fail(
            Stage::Proxy,
            QStringLiteral("the %1 did not open a tunnel to %2: %3").arg(proxy, target, errorText));
        return;
    case QAbstractSocket::HostNotFoundError:
        fail(Stage::Connect,
             QStringLiteral("the host name %1 cannot be resolved").arg(m_url.host()));
        return;
    case QAbstractSocket::SslHandshakeFailedError:
    case QAbstractSocket::SslInternalError:
    case QAbstractSocket::SslInvalidUserDataError:
        fail(Stage::Tls, QStringLiteral("TLS handshake with %1 failed: %2").arg(target, errorText));
        return;
    default:
        break;
    }
    if (!m_tcpConnected) {
        fail(Stage::Connect,
             QStringLiteral("cannot connect to %1%2: %3")
                 .arg(target,
                      m_proxy.type() == QNetworkProxy::NoProxy
                          ? QString()
                          : QStringLiteral(" through the %1").arg(proxy),
                      errorText));
        return;
    }
    fail(Stage::Upgrade,
         QStringLiteral("the WebSocket upgrade failed: %1")
             .arg(errorText.isEmpty() ? QStringLiteral("the server closed the connection")
                                      : errorText));
}

void WebSocketConnector::followRedirect(int httpStatus)
{
    if (m_redirectsLeft <= 0) {
        fail(Stage::Redirect,
             QStringLiteral("too many redirects (more than %1)").arg(m_options.maxRedirects),
             httpStatus);
        return;
    }
    dropWebSocket();
    const QUrl from = m_url;
    // QWebSocket (Qt 6.4 to 6.8) reports a 3xx answer to the upgrade as text, with the status
    // but without the Location header, and skips the answer's head in its socket before anyone
    // else may read it. So the same upgrade is sent once more, by hand, to read the head: the
    // redirecting server sees two upgrade requests, the target none that it would not see from
    // the original Go client.
    UpgradeProbe::Request request;
    request.url = from;
    request.proxy = m_proxy;
    if (m_policy.isTrusted(from))
        request.serverName = m_options.serverName;
    // The same headers as the upgrade: the credentials only on the configured origin.
    request.headers = m_policy.headersFor(from);
    if (!m_options.subprotocol.isEmpty())
        request.headers.append({"Sec-WebSocket-Protocol", m_options.subprotocol.toLatin1()});
    delete m_probe;
    m_probe = new UpgradeProbe(m_tls, this);
    connect(
        m_probe, &UpgradeProbe::finished, this,
        [this, from, httpStatus](const UpgradeProbe::Answer &answer) {
            m_probe->deleteLater();
            m_probe = nullptr;
            const auto cannotFollow = [&](const QString &why) {
                fail(Stage::Redirect,
                     // One arg() call: a URL's %20 must not be taken for a placeholder.
                     QStringLiteral("cannot follow the redirect of %1 (HTTP %2): %3")
                         .arg(WebSocketUrl::redacted(from), QString::number(httpStatus), why),
                     httpStatus);
            };
            if (!answer.error.isEmpty()) {
                cannotFollow(QStringLiteral("asked again for its target: %1").arg(answer.error));
                return;
            }
            if (!isRedirect(answer.status)) {
                cannotFollow(QStringLiteral("asked again for its target, the server answered "
                                            "HTTP %1")
                                 .arg(answer.status));
                return;
            }
            if (answer.location.isEmpty()) {
                cannotFollow(QStringLiteral("the answer has no Location header"));
                return;
            }
            QString error;
            const auto next =
                WebSocketUrl::resolveRedirect(from, QString::fromUtf8(answer.location), &error);
            if (!next) {
                cannotFollow(error);
                return;
            }
            // ws://h/ and ws://h:80/ are one place: compared without user info, with the
            // scheme's default port written out.
            const auto normal = [](const QUrl &url) {
                QUrl normalised = url.adjusted(QUrl::RemoveUserInfo | QUrl::NormalizePathSegments);
                normalised.setPort(url.port(url.scheme() == QLatin1String("wss") ? 443 : 80));
                return normalised;
            };
            const auto seen = [&normal](const QUrl &a, const QUrl &b) {
                return normal(a) == normal(b);
            };
            for (const QUrl &earlier : std::as_const(m_chain)) {
                if (!seen(earlier, *next))
                    continue;
                QStringList loop;
                for (const QUrl &url : std::as_const(m_chain))
                    loop.append(WebSocketUrl::redacted(url));
                loop.append(WebSocketUrl::redacted(*next));
                cannotFollow(
                    QStringLiteral("redirect loop: %1").arg(loop.join(QStringLiteral(" -> "))));
                return;
            }
            const QString refusal = m_policy.refusal(from, *next);
            if (!refusal.isEmpty()) {
                cannotFollow(refusal);
                return;
            }
            const bool permanent = answer.status == 301 || answer.status == 308;
            m_onlyPermanentSoFar = m_onlyPermanentSoFar && permanent;
            if (m_onlyPermanentSoFar)
                m_rememberedUrl = *next;
            m_chain.append(*next);
            qCInfo(lcClient).noquote()
                << "redirected from" << WebSocketUrl::redacted(from) << "to"
                << WebSocketUrl::redacted(*next)
                << QStringLiteral("(HTTP %1%2)")
                       .arg(answer.status)
                       .arg(m_onlyPermanentSoFar ? QLatin1String(", remembered") : QLatin1String());
            Q_EMIT redirected(from, *next, answer.status);
            start(*next, m_redirectsLeft - 1);
        });
    m_probe->start(request);
}

// The Tow-Error header of the answer QWebSocket refused, read again from the start of the
// transaction begun when the socket connected; empty when there is none.
QByteArray WebSocketConnector::refusalErrorToken()
{
    if (!m_transport || !m_transport->isTransactionStarted())
        return QByteArray();
    m_transport->rollbackTransaction();
    const QByteArray answer = m_transport->peek(kMaxAnswerHeadBytes);
    const qsizetype headEnd = answer.indexOf("\r\n\r\n");
    const QList<QByteArray> lines = answer.left(headEnd < 0 ? 0 : headEnd).split('\n');
    const QByteArray name = QByteArray(Destination::kErrorHeader).toLower() + ':';
    for (const QByteArray &line : lines) {
        if (line.toLower().startsWith(name)) {
            const QByteArray token = line.mid(name.size()).trimmed();
            // A token is a short word; anything else is not ours to repeat.
            if (token.size() <= 64 && std::all_of(token.cbegin(), token.cend(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                }))
                return token;
        }
    }
    return QByteArray();
}

void WebSocketConnector::fail(Stage stage, const QString &reason, int httpStatus,
                              const QByteArray &errorToken)
{
    if (m_settled)
        return;
    m_settled = true;
    m_timeout.stop();
    dropWebSocket();
    delete m_probe;
    m_probe = nullptr;
    Q_EMIT failed(Failure {stage, httpStatus, reason, errorToken});
}

void WebSocketConnector::dropWebSocket()
{
    if (!m_ws)
        return;
    QWebSocket *ws = m_ws;
    m_ws.clear();
    ws->disconnect(this);
    if (auto *socket = WebSocketInternals::transportOf(ws))
        socket->disconnect(this);
    ws->abort();
    ws->deleteLater();
}

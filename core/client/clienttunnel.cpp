#include "clienttunnel.h"

#include "logcategories.h"
#include "net/tcplisten.h"
#include "net/websocketurl.h"
#include "redirectresolver.h"
#include "relay/relay.h"

#include <QNetworkRequest>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QWebSocket>
#include <memory>

namespace {

// Qt 6.4 reports a refused upgrade only as text: "...Unhandled http status code: 301 (...)".
int handshakeStatus(const QString &errorString)
{
    static const QRegularExpression status(QStringLiteral("status code: (\\d{3})"));
    const auto match = status.match(errorString);
    return match.hasMatch() ? match.captured(1).toInt() : 0;
}

bool isRedirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

QString peerOf(const QTcpSocket *socket)
{
    return HostPort {socket->peerAddress().toString(), socket->peerPort()}.toString();
}

} // namespace

ClientTunnel::ClientTunnel(const ClientOptions &options, QObject *parent)
    : QObject(parent),
      m_options(options),
      m_redirects(new RedirectResolver(this)),
      m_effectiveUrl(options.serverUrl)
{
}

ClientTunnel::~ClientTunnel()
{
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    qDeleteAll(relays);
}

bool ClientTunnel::listen(QString *error)
{
    m_server = new QTcpServer(this);
    if (!TcpListen::listen(m_server, m_options.listen, error)) {
        delete m_server;
        m_server = nullptr;
        return false;
    }
    connect(m_server, &QTcpServer::newConnection, this, &ClientTunnel::onNewConnection);
    qCInfo(lcClient).noquote() << "listening on"
                               << HostPort {serverAddress().toString(), serverPort()}.toString()
                               << "server" << WebSocketUrl::redacted(m_options.serverUrl);
    if (m_options.insecure)
        qCWarning(lcClient) << "TLS certificate verification is disabled (--insecure)";
    return true;
}

void ClientTunnel::close()
{
    if (m_server)
        m_server->close();
}

QHostAddress ClientTunnel::serverAddress() const
{
    return m_server ? m_server->serverAddress() : QHostAddress();
}

quint16 ClientTunnel::serverPort() const
{
    return m_server ? m_server->serverPort() : 0;
}

void ClientTunnel::onNewConnection()
{
    while (QTcpSocket *tcp = m_server->nextPendingConnection()) {
        // Bytes the local peer sends during the handshake wait here, bounded: beyond this the
        // kernel pushes back.
        tcp->setReadBufferSize(m_options.relay.tcpReadBufferBytes);
        tcp->setParent(this);
        openWebSocket(tcp, m_effectiveUrl, m_options.maxRedirects);
    }
}

void ClientTunnel::openWebSocket(QTcpSocket *tcp, const QUrl &url, int redirectsLeft)
{
    const QString peer = peerOf(tcp);
    auto *ws = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    ws->setMaxAllowedIncomingFrameSize(quint64(m_options.relay.maxIncomingFrameBytes));
    ws->setMaxAllowedIncomingMessageSize(quint64(m_options.relay.maxIncomingFrameBytes));

    QUrl target = url;
    target.setUserInfo(QString());
    QNetworkRequest request(target);
    if (!url.userName().isEmpty()) {
        const QByteArray credentials =
            (url.userName(QUrl::FullyDecoded) + QLatin1Char(':') + url.password(QUrl::FullyDecoded))
                .toUtf8();
        request.setRawHeader("Authorization", "Basic " + credentials.toBase64());
    }

    if (m_options.insecure) {
        connect(ws, &QWebSocket::sslErrors, ws, [ws, peer](const QList<QSslError> &errors) {
            qCWarning(lcClient).noquote()
                << peer << "- ignoring TLS errors because of --insecure:"
                << (errors.isEmpty() ? QString() : errors.constFirst().errorString());
            ws->ignoreSslErrors();
        });
    }

    auto *timeout = new QTimer(ws);
    timeout->setSingleShot(true);
    auto settled = std::make_shared<bool>(false);
    const QPointer<QTcpSocket> tcpGuard(tcp);

    auto fail = [this, ws, tcpGuard, peer, url, settled](const QString &reason) {
        if (*settled)
            return;
        *settled = true;
        qCWarning(lcClient).noquote()
            << peer << "- cannot open" << WebSocketUrl::redacted(url) << "-" << reason;
        ws->disconnect(this);
        ws->abort();
        ws->deleteLater();
        if (tcpGuard) {
            tcpGuard->abort(); // nothing can be delivered: close the local connection at once
            tcpGuard->deleteLater();
        }
        if (m_effectiveUrl != m_options.serverUrl)
            m_effectiveUrl = m_options.serverUrl; // the redirect target failed: start over
        Q_EMIT connectionFailed(reason);
    };

    connect(timeout, &QTimer::timeout, this, [fail, this] {
        fail(QStringLiteral("no WebSocket handshake within %1 s")
                 .arg(m_options.handshakeTimeoutMs / 1000.0));
    });

    connect(ws, &QWebSocket::connected, this, [this, ws, tcpGuard, peer, url, settled, timeout] {
        if (*settled)
            return;
        *settled = true;
        timeout->stop();
        ws->disconnect(this);
        if (!tcpGuard) {
            ws->close();
            ws->deleteLater();
            return;
        }
        ++m_activeConnections;
        Q_EMIT activeConnectionsChanged(m_activeConnections);
        auto *relay = new Relay(tcpGuard.data(), ws, nullptr, m_options.relay,
                                peer + QLatin1String(" -> ") + WebSocketUrl::redacted(url), this);
        connect(relay, &Relay::transferred, this, &ClientTunnel::transferred);
        connect(relay, &Relay::finished, this, [this, relay] {
            --m_activeConnections;
            Q_EMIT activeConnectionsChanged(m_activeConnections);
            relay->deleteLater();
        });
    });

    auto onFailure = [this, ws, tcpGuard, url, redirectsLeft, settled, fail] {
        if (*settled)
            return;
        const QString errorText = ws->errorString();
        const int status = handshakeStatus(errorText);
        if (!isRedirect(status)) {
            fail(status ? QStringLiteral("the server answered HTTP %1 instead of upgrading to a "
                                         "WebSocket")
                              .arg(status)
                        : errorText);
            return;
        }
        if (redirectsLeft <= 0) {
            fail(QStringLiteral("too many redirects"));
            return;
        }
        *settled = true;
        ws->disconnect(this);
        ws->abort();
        ws->deleteLater();
        m_redirects->resolve(
            url, redirectsLeft, m_options.insecure, this,
            [this, tcpGuard, url, redirectsLeft](std::optional<QUrl> next, const QString &error) {
                if (!tcpGuard)
                    return;
                if (!next || *next == url) {
                    qCWarning(lcClient).noquote()
                        << peerOf(tcpGuard) << "- cannot follow the redirect of"
                        << WebSocketUrl::redacted(url) << "-"
                        << (next ? QStringLiteral("no redirect target") : error);
                    tcpGuard->abort();
                    tcpGuard->deleteLater();
                    Q_EMIT connectionFailed(error);
                    return;
                }
                qCInfo(lcClient).noquote() << "redirected from" << WebSocketUrl::redacted(url)
                                           << "to" << WebSocketUrl::redacted(*next);
                QUrl withCredentials = *next;
                // Credentials follow a redirect only to the very same origin: never to
                // another port or host, never from wss:// down to ws://.
                if (withCredentials.userName().isEmpty() && next->scheme() == url.scheme()
                    && next->host() == url.host() && next->port() == url.port())
                    withCredentials.setUserInfo(url.userInfo());
                m_effectiveUrl = withCredentials;
                openWebSocket(tcpGuard.data(), withCredentials, redirectsLeft - 1);
            });
    };
#if QT_VERSION >= QT_VERSION_CHECK(6, 5, 0)
    connect(ws, &QWebSocket::errorOccurred, this, onFailure);
#else
    connect(ws, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this, onFailure);
#endif
    connect(ws, &QWebSocket::disconnected, this, onFailure);

    timeout->start(m_options.handshakeTimeoutMs);
    ws->open(request);
}

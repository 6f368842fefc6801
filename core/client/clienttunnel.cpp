#include "clienttunnel.h"

#include "connectionsettings.h"
#include "logcategories.h"
#include "net/backofftcpserver.h"
#include "net/destination.h"
#include "net/websocketurl.h"
#include "pingkeepalive.h"
#include "relay/relay.h"
#include "relay/writethrough.h"
#include "websocketconnector.h"

#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QWebSocket>

namespace {

QString peerOf(const QTcpSocket *socket)
{
    return HostPort {socket->peerAddress().toString(), socket->peerPort()}.toString();
}

} // namespace

ClientTunnel::ClientTunnel(const ClientOptions &options, QObject *parent)
    : QObject(parent), m_options(options), m_effectiveUrl(options.serverUrl)
{
    if (m_options.keepAliveMode == ClientOptions::KeepAliveMode::Ping) {
        m_pingIntervalMs = m_options.relay.keepAliveIntervalMs;
        m_options.relay.keepAliveIntervalMs = 0; // pings replace the empty messages
    }
}

ClientTunnel::~ClientTunnel()
{
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    qDeleteAll(relays);
}

bool ClientTunnel::listen(QString *error)
{
    const auto settings = ConnectionSettings::prepare(m_options, error);
    if (!settings)
        return false;
    m_tls = settings->tls;
    m_server = new BackoffTcpServer(lcClient, this);
    if (!m_server->listenOn(m_options.listen, error)) {
        delete m_server;
        m_server = nullptr;
        return false;
    }
    // Not newConnection(): only QTcpServer's own accepting emits it, and BackoffTcpServer accepts
    // by itself.
    connect(m_server, &QTcpServer::pendingConnectionAvailable, this,
            &ClientTunnel::onNewConnection);
    settings->logListening(HostPort {serverAddress().toString(), serverPort()}.toString(),
                           m_options);
    return true;
}

void ClientTunnel::close()
{
    if (m_server)
        m_server->stopListening();
}

void ClientTunnel::shutdown()
{
    close();
    m_shuttingDown = true;
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    for (Relay *relay : relays)
        relay->shutdown(QStringLiteral("tunnel stopped"));
    if (m_activeConnections == 0)
        QMetaObject::invokeMethod(this, &ClientTunnel::drained, Qt::QueuedConnection);
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
        // An accepted connection has no proxy; saying so lets the relay write to it directly.
        WriteThrough::setDirect(tcp);
        tcp->setParent(this);
        if (m_accept)
            m_accept(tcp);
        else
            carry(tcp, Carry(), this);
    }
}

void ClientTunnel::carry(QTcpSocket *tcp, const Carry &carry, QObject *context)
{
    QString peer = peerOf(tcp);
    ClientOptions options = m_options;
    if (!carry.destination.isEmpty()) {
        options.headers.append({Destination::kHeader, carry.destination});
        peer += QLatin1String(" -> ") + QString::fromLatin1(carry.destination);
    }
    auto *connector = new WebSocketConnector(options, m_tls, this);
    const QPointer<QTcpSocket> tcpGuard(tcp);
    const QPointer<QObject> contextGuard(context);
    const QUrl url = m_effectiveUrl;

    connect(connector, &WebSocketConnector::failed, this,
            [this, connector, tcpGuard, contextGuard, peer, url,
             carry](const WebSocketConnector::Failure &failure) {
                qCWarning(lcClient).noquote()
                    << peer << "- cannot open" << WebSocketUrl::redacted(url) << "-"
                    << failure.reason;
                connector->deleteLater();
                if (carry.failed && contextGuard && tcpGuard) {
                    carry.failed(failure);
                } else if (tcpGuard) {
                    tcpGuard->abort(); // nothing can be delivered: close the local side at once
                    tcpGuard->deleteLater();
                }
                // A destination the server did not reach is no failure of the tunnel; a server
                // that is busy or shutting down is.
                const auto error = Destination::errorFromToken(failure.errorToken);
                if (!carry.destination.isEmpty() && !failure.errorToken.isEmpty()
                    && (!error || Destination::isAboutDestination(*error)))
                    return;
                if (m_effectiveUrl != m_options.serverUrl)
                    m_effectiveUrl = m_options.serverUrl; // the redirect target failed: start over
                Q_EMIT connectionFailed(failure.reason, failure.httpStatus);
            });
    connect(connector, &WebSocketConnector::opened, this,
            [this, connector, tcpGuard, contextGuard, peer, carry] {
                QWebSocket *ws = connector->takeWebSocket();
                // Only what 301 and 308 said: a 302, 303 or 307 is asked again by the next
                // connection.
                m_effectiveUrl = connector->rememberedUrl();
                const QUrl finalUrl = connector->finalUrl();
                connector->deleteLater();
                if (!tcpGuard || m_shuttingDown) {
                    if (tcpGuard) {
                        tcpGuard->abort(); // nothing was carried yet
                        tcpGuard->deleteLater();
                    }
                    ws->close(QWebSocketProtocol::CloseCodeGoingAway);
                    ws->deleteLater();
                    return;
                }
                ws->setParent(this);
                ++m_activeConnections;
                Q_EMIT activeConnectionsChanged(m_activeConnections);
                const QString description = peer
                    + (carry.destination.isEmpty() ? QLatin1String(" -> ") : QLatin1String(" via "))
                    + WebSocketUrl::redacted(finalUrl);
                if (carry.opened && contextGuard)
                    carry.opened();
                RelayOptions relayOptions = m_options.relay;
                relayOptions.acceptedSocketTuned = m_server && m_server->acceptedSocketsTuned();
                auto *relay =
                    new Relay(tcpGuard.data(), ws, nullptr, relayOptions, description, this);
                if (m_pingIntervalMs > 0)
                    new PingKeepAlive(ws, relay, m_pingIntervalMs, m_options.pongTimeoutMs,
                                      description);
                connect(relay, &Relay::transferred, this, &ClientTunnel::transferred);
                if (carry.relayStarted && contextGuard)
                    carry.relayStarted(relay);
                connect(relay, &Relay::finished, this, [this, relay] {
                    --m_activeConnections;
                    Q_EMIT activeConnectionsChanged(m_activeConnections);
                    relay->deleteLater();
                    if (m_shuttingDown && m_activeConnections == 0)
                        Q_EMIT drained();
                });
            });
    connector->open(url);
}

#include "tunnelserver.h"

#include "logcategories.h"
#include "metrics/processmetrics.h"
#include "net/tcplisten.h"
#include "relay/pausabletcpserver.h"
#include "relay/pausabletcpsocket.h"
#include "relay/relay.h"
#include "upgraderule.h"

#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QHttpServerResponse>
#include <QTcpSocket>
#include <QWebSocket>

#if QT_VERSION >= QT_VERSION_CHECK(6, 8, 0)
#include <QHttpServerWebSocketUpgradeResponse>
#endif

namespace {

const QString kConnections = QStringLiteral("http_to_tcp_connections");
const QString kActive = QStringLiteral("http_to_tcp_active_connections");
const QString kErrors = QStringLiteral("http_to_tcp_error");
const QString kBytes = QStringLiteral("tcp_over_websocket_relayed_bytes_total");
const QString kPeakQueued = QStringLiteral("tcp_over_websocket_relay_peak_queued_bytes");
const QString kHttpRequests = QStringLiteral("tcp_over_websocket_http_requests_total");

} // namespace

TunnelServer::TunnelServer(const ServerOptions &options, QObject *parent)
    : QObject(parent), m_options(options), m_http(new QHttpServer(this))
{
    declareMetrics();

#if QT_VERSION >= QT_VERSION_CHECK(6, 8, 0)
    m_http->addWebSocketUpgradeVerifier(this, [this](const QHttpServerRequest &request) {
        if (request.url().path() == m_options.tunnelPath)
            return QHttpServerWebSocketUpgradeResponse::accept();
        return QHttpServerWebSocketUpgradeResponse::passToNext();
    });
#else
    // Qt 6.4 hands a connection over as a WebSocket only when a route matches it; the handler
    // itself must not answer (answering and upgrading together is broken in 6.4).
    m_http->route<UpgradeRule>(m_options.tunnelPath,
                               [](const QHttpServerRequest &, QHttpServerResponder &&) {});
#endif
    m_http->route(QStringLiteral("/metrics"), [this]() {
        m_metrics.add(kHttpRequests, {{QStringLiteral("path"), QStringLiteral("/metrics")}}, 1);
        ProcessMetrics::update(m_metrics);
        m_metrics.set(kBytes, {{QStringLiteral("direction"), QStringLiteral("tcp_to_ws")}},
                      double(m_bytesTcpToWs));
        m_metrics.set(kBytes, {{QStringLiteral("direction"), QStringLiteral("ws_to_tcp")}},
                      double(m_bytesWsToTcp));
        return QHttpServerResponse(MetricsRegistry::contentType(), m_metrics.render());
    });
    m_http->route(QStringLiteral("/healthz"), []() {
        return QHttpServerResponse(QByteArrayLiteral("text/plain; charset=utf-8"),
                                   QByteArrayLiteral("ok\n"));
    });
    m_http->setMissingHandler(
        [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
            answerUnrouted(request, std::move(responder));
        });
    connect(m_http, &QHttpServer::newWebSocketConnection, this,
            &TunnelServer::onNewWebSocketConnection);
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
    // The original Go server's metrics, names and labels unchanged.
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
                      QStringLiteral("Bytes relayed, by direction (ws_to_tcp: from the WebSocket "
                                     "clients to the remote; tcp_to_ws: back)."));
    m_metrics.add(kBytes, {{QStringLiteral("direction"), QStringLiteral("ws_to_tcp")}}, 0);
    m_metrics.add(kBytes, {{QStringLiteral("direction"), QStringLiteral("tcp_to_ws")}}, 0);
    m_metrics.declare(kPeakQueued, Type::Gauge,
                      QStringLiteral("Largest number of bytes any finished tunnel queued towards "
                                     "one side (bounded by the relay's flow control)."));
    m_metrics.declare(kHttpRequests, Type::Counter,
                      QStringLiteral("Plain HTTP requests answered, by path class."));
    ProcessMetrics::declare(m_metrics);
}

bool TunnelServer::listen(QString *error)
{
    m_tcpServer = new PausableTcpServer(m_options.relay.transportReadBufferBytes(), this);
    if (!TcpListen::listen(m_tcpServer, m_options.listen, error)) {
        delete m_tcpServer;
        m_tcpServer = nullptr;
        return false;
    }
    m_http->bind(m_tcpServer); // takes a listening server; returns void in Qt 6.4
    qCInfo(lcServer).noquote() << "listening on"
                               << HostPort {serverAddress().toString(), serverPort()}.toString()
                               << "tunnel path" << m_options.tunnelPath << "remote"
                               << m_options.remote.toString();
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

void TunnelServer::shutdown()
{
    if (m_tcpServer)
        m_tcpServer->close();
    const auto relays = findChildren<Relay *>(QString(), Qt::FindDirectChildrenOnly);
    for (Relay *relay : relays)
        relay->shutdown();
}

void TunnelServer::answerUnrouted(const QHttpServerRequest &request,
                                  QHttpServerResponder &&responder)
{
    using StatusCode = QHttpServerResponder::StatusCode;
    if (request.url().path() == m_options.tunnelPath) {
        // A plain request on the tunnel path: the original counts it as a failed upgrade.
        m_metrics.add(kErrors, {{QStringLiteral("type"), QStringLiteral("upgrade")}}, 1);
        qCInfo(lcServer).noquote() << request.remoteAddress().toString()
                                   << "- not a WebSocket upgrade request on the tunnel path";
        responder.write(
            QByteArrayLiteral("426 Upgrade Required: this is a WebSocket tunnel "
                              "endpoint\n"),
            {{QByteArrayLiteral("Content-Type"), QByteArrayLiteral("text/plain; charset=utf-8")},
             {QByteArrayLiteral("Upgrade"), QByteArrayLiteral("websocket")},
             {QByteArrayLiteral("Connection"), QByteArrayLiteral("Upgrade")}},
            StatusCode::UpgradeRequired);
        return;
    }
    m_metrics.add(kHttpRequests, {{QStringLiteral("path"), QStringLiteral("other")}}, 1);
    responder.write(
        QByteArrayLiteral("404 Not Found\n"),
        {{QByteArrayLiteral("Content-Type"), QByteArrayLiteral("text/plain; charset=utf-8")}},
        StatusCode::NotFound);
}

void TunnelServer::onNewWebSocketConnection()
{
    while (m_http->hasPendingWebSocketConnections()) {
        std::unique_ptr<QWebSocket> ws = m_http->nextPendingWebSocketConnection();
        if (!ws)
            continue;
        PausableTcpSocket *transport =
            m_tcpServer ? m_tcpServer->socketFor(ws->peerAddress(), ws->peerPort()) : nullptr;
        const QString peer = HostPort {ws->peerAddress().toString(), ws->peerPort()}.toString();

        m_metrics.add(kConnections, {{QStringLiteral("type"), QStringLiteral("http")}}, 1);
        ++m_activeTunnels;
        m_metrics.set(kActive, m_activeTunnels);

        auto *tcp = new QTcpSocket;
        auto *relay = new Relay(tcp, ws.release(), transport, m_options.relay,
                                peer + QLatin1String(" -> ") + m_options.remote.toString(), this);
        connect(tcp, &QTcpSocket::connected, this, [this] {
            m_metrics.add(kConnections, {{QStringLiteral("type"), QStringLiteral("tcp")}}, 1);
        });
        connect(relay, &Relay::tcpConnectFailed, this, [this] {
            m_metrics.add(kErrors, {{QStringLiteral("type"), QStringLiteral("dial_tcp")}}, 1);
        });
        connect(relay, &Relay::transferred, this, [this](qint64 tcpToWs, qint64 wsToTcp) {
            m_bytesTcpToWs += tcpToWs;
            m_bytesWsToTcp += wsToTcp;
        });
        connect(relay, &Relay::finished, this, [this, relay] {
            --m_activeTunnels;
            m_metrics.set(kActive, m_activeTunnels);
            m_metrics.setMax(kPeakQueued,
                             double(qMax(relay->peakTcpQueuedBytes(), relay->peakWsQueuedBytes())));
            relay->deleteLater();
            Q_EMIT tunnelFinished();
        });
        relay->connectTcp(m_options.remote.host, m_options.remote.port);
    }
}

// The server face: one port serving WebSocket tunnels on the tunnel path, /metrics and /healthz.
#pragma once

#include "metrics/metricsregistry.h"
#include "serveroptions.h"

#include <QHostAddress>
#include <QObject>

class QHttpServer;
class QHttpServerRequest;
class QHttpServerResponder;
class PausableTcpServer;
class Relay;

class TunnelServer : public QObject
{
    Q_OBJECT
public:
    explicit TunnelServer(const ServerOptions &options, QObject *parent = nullptr);
    ~TunnelServer() override;

    // Starts listening. On failure returns false with a readable reason ("port 8080 is already
    // in use on 0.0.0.0").
    bool listen(QString *error);

    QHostAddress serverAddress() const;
    quint16 serverPort() const;

    int activeTunnels() const { return m_activeTunnels; }
    MetricsRegistry &metrics() { return m_metrics; }

    // Closes every tunnel (WebSocket close 1001) and stops accepting.
    void shutdown();

Q_SIGNALS:
    void tunnelFinished();

private:
    void declareMetrics();
    void onNewWebSocketConnection();
    void answerUnrouted(const QHttpServerRequest &request, QHttpServerResponder &&responder);

    ServerOptions m_options;
    MetricsRegistry m_metrics;
    QHttpServer *m_http;
    PausableTcpServer *m_tcpServer = nullptr;
    int m_activeTunnels = 0;
    // Updated on every relayed chunk, copied into the registry when scraped.
    qint64 m_bytesTcpToWs = 0;
    qint64 m_bytesWsToTcp = 0;
};

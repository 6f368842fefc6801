// The server face: one port serving WebSocket tunnels on the configured routes, /metrics,
// /healthz and /readyz; admission (token, Origin, limits), handshake timeouts, reload and drain.
#pragma once

#include "logthrottle.h"
#include "metrics/metricsregistry.h"
#include "serveroptions.h"
#include "tunneladmission.h"

#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <deque>
#include <memory>

class QHttpServer;
class QHttpServerRequest;
class QHttpServerResponder;
class QTcpSocket;
class TunnelTcpServer;
class Relay;

class TunnelServer : public QObject
{
    Q_OBJECT
public:
    explicit TunnelServer(const ServerOptions &options, QObject *parent = nullptr);
    ~TunnelServer() override;

    // Starts listening (with TLS when the options name a certificate and key). On failure
    // returns false with a readable reason ("port 8080 is already in use on 0.0.0.0", "cannot
    // read the TLS key ...").
    bool listen(QString *error);

    QHostAddress serverAddress() const;
    quint16 serverPort() const;

    // Applies a new configuration (SIGHUP): routes, tokens, limits, the TLS certificate (read
    // again from its files). Tunnels already open go on unchanged. The listening address, and
    // whether it speaks TLS, cannot change without a restart. On failure nothing changes,
    // *error says why and the failure is counted.
    bool reload(const ServerOptions &options, QString *error);
    // SIGHUP: reads the files again and applies them as reload() does, logging the outcome.
    // With a configuration file (configPath, read over the command line's commandLineOptions),
    // that file; without one, only the TLS certificate and key (a renewal), if any.
    void reloadFromFiles(const QString &configPath, const ServerOptions &commandLineOptions);
    // A reload whose file did not load: counted in the reload metrics.
    void countFailedReload();

    bool isTls() const { return !m_options.tlsCertFile.isEmpty(); }

    int activeTunnels() const { return m_admission.activeTunnels(); }
    MetricsRegistry &metrics() { return m_metrics; }

    // Graceful stop: stop accepting, let open tunnels finish for up to drainTimeoutMs, then
    // close the rest (WebSocket close 1001). drained() follows once no tunnel is left.
    void drain();
    // Closes every tunnel now (1001) and stops accepting.
    void shutdown();
    bool isDraining() const { return m_admission.isDraining(); }
    int drainTimeoutMs() const { return m_options.drainTimeoutMs; }

Q_SIGNALS:
    void tunnelFinished();
    void drained();

private:
    // Refused requests logged at most this often (each is counted in /metrics).
    static constexpr int kRefusalLinesPerWindow = 20;
    static constexpr qint64 kRefusalWindowMs = 10000;

    struct RouteCounters
    {
        qint64 bytesTcpToWs = 0;
        qint64 bytesWsToTcp = 0;
    };
    struct PendingConnection
    {
        QPointer<QTcpSocket> socket;
        qint64 acceptedAtMs = 0;
        QString clientKey; // TunnelAdmission::limitKeyOf() the peer: who to evict first
    };
    struct AdmittedConnection
    {
        QPointer<QTcpSocket> socket;
        TunnelAdmission::Slot slot;
        qint64 admittedAtMs = 0;
    };

    void declareMetrics();
    bool admit(const QHttpServerRequest &request);
    void answerUnrouted(const QHttpServerRequest &request, QHttpServerResponder &&responder);
    void onAccepted(QTcpSocket *socket);
    void sweep();
    void requestAnswered(); // a plain HTTP request on m_currentSocket was answered
    void evictPending();
    void onNewWebSocketConnection();
    void countHandshakeFailure(const QString &reason);
    bool allowRefusalLine();
    void logSuppressedRefusals(int count);
    void updateScrapedMetrics();
    void checkDrained();
    RouteCounters *countersFor(const QString &routePath);

    ServerOptions m_options;
    TunnelAdmission m_admission;
    MetricsRegistry m_metrics;
    QHttpServer *m_http;
    TunnelTcpServer *m_tcpServer = nullptr;

    // Connections not (yet) tunnels, oldest first, closed after the handshake timeout.
    std::deque<PendingConnection> m_pending;
    QElapsedTimer m_clock;
    QTimer m_sweepTimer;
    // Admitted by the router, waiting for QWebSocketServer's handshake, by socket.
    QHash<QTcpSocket *, AdmittedConnection> m_admitted;
    // The same, when the socket could not be told (matched by path when the WebSocket comes).
    std::deque<AdmittedConnection> m_unidentified;
    QPointer<QTcpSocket> m_currentSocket; // the last socket that had bytes to read
    // Decided in admit() for the request the missing handler answers right after.
    TunnelAdmission::Outcome m_lastRefusal = TunnelAdmission::Outcome::NoRoute;

    QHash<QString, std::shared_ptr<RouteCounters>> m_routeCounters;
    LogThrottle m_refusalLog {kRefusalLinesPerWindow, kRefusalWindowMs};
    QTimer m_drainTimer;
};

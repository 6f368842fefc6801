// The server face: one port serving WebSocket tunnels on the configured routes, /metrics,
// /healthz and /readyz. It wires the listener, the request dispatcher (what each connection's
// first request is), admission (token, Origin, limits), the pending connections' timeouts and
// the metrics; it starts a relay per tunnel, reloads its configuration and drains.
#pragma once

#include "destinationconnector.h"
#include "logthrottle.h"
#include "pendingconnections.h"
#include "requestdispatcher.h"
#include "servermetrics.h"
#include "serveroptions.h"
#include "tunneladmission.h"

#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QTimer>

class QAbstractSocket;
class QHttpServer;
class QTcpSocket;
class QUdpSocket;
class QWebSocket;
class TunnelTcpServer;

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
    MetricsRegistry &metrics() { return m_metrics.registry(); }

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

    void routeServerPages();
    RequestDispatcher::Verdict decide(const RequestDispatcher::Request &request);
    RequestDispatcher::Verdict refuseBroken(const RequestDispatcher::Request &request,
                                            const QString &client);
    RequestDispatcher::Verdict decideByAdmission(QTcpSocket *socket, const HttpRequestHead &head,
                                                 const QHostAddress &peer, const QString &client);
    // Dynamic routes (issue 23): an admitted upgrade that names a destination, or comes to a
    // route without a fixed remote, is answered only once the destination is reached (Defer).
    RequestDispatcher::Verdict decideDestination(QTcpSocket *socket, const HttpRequestHead &head,
                                                 const TunnelAdmission::Slot &slot,
                                                 const ServerRoute &route);
    void destinationReached(QTcpSocket *socket);
    // answered: what the client is told, when not detail (see refuseDestination()).
    void destinationFailed(QTcpSocket *socket, Destination::Error error, const QString &detail,
                           const QString &answered = QString());
    // UDP: the destination's addresses passed the policy; a socket connected to the first that
    // takes a connect carries the flow.
    void udpDestinationChecked(QTcpSocket *socket, const QList<QHostAddress> &addresses);
    void deferredAbandoned(QTcpSocket *socket);
    // Stopping: upgrades still waiting for their destination are answered now (503
    // shutting-down), their lookups and connections cancelled.
    void refuseWaitingDestinations();
    // The answer to a destination that is not reached; counts and logs it (with detail). The
    // slot is freed. The client is told answered, or detail when answered is null.
    RequestDispatcher::Verdict refuseDestination(const TunnelAdmission::Slot &slot,
                                                 Destination::Error error, const QString &detail,
                                                 const QString &answered = QString());
    void updatePolicies(); // the routes' allow lists, with this host's addresses, now
    void startRelay(QWebSocket *ws, QTcpSocket *transport, const TunnelAdmission::Slot &slot);
    void startDatagramRelay(QWebSocket *ws, QTcpSocket *transport, QUdpSocket *udp,
                            const TunnelAdmission::Slot &slot, const ServerRoute &route);
    void requestAnswered(); // a plain HTTP request on m_currentSocket was answered
    void sweep();
    bool allowRefusalLine();
    void logSuppressedRefusals(int count);
    void checkDrained();

    ServerOptions m_options;
    TunnelAdmission m_admission;
    ServerMetrics m_metrics;
    QHttpServer *m_http;
    TunnelTcpServer *m_tcpServer = nullptr;
    PendingConnections m_pending;
    RequestDispatcher m_dispatcher;
    QPointer<QTcpSocket> m_currentSocket; // the plain connection whose request is being served
    QHash<QString, DestinationPolicy> m_policies; // by route path, dynamic routes only
    NameLookups m_lookups; // of the destinations that dynamic routes' clients name
    qint64 m_policiesReadAtMs = 0; // m_clock's time of the own addresses in m_policies
    struct DeferredTunnel
    {
        QPointer<DestinationConnector> connector;
        TunnelAdmission::Slot slot;
    };
    QHash<QTcpSocket *, DeferredTunnel> m_deferred; // by the client's connection
    // A destination reached (TCP) or checked (UDP) at address: its socket goes with the client's
    // connection, named objectName, until the relay takes it; the upgrade is answered. deferred
    // is already out of m_deferred.
    void upgradeToDestination(QTcpSocket *socket, const DeferredTunnel &deferred,
                              QAbstractSocket *destination, const char *objectName,
                              const QHostAddress &address);

    QElapsedTimer m_clock;
    QTimer m_sweepTimer;
    LogThrottle m_refusalLog {kRefusalLinesPerWindow, kRefusalWindowMs};
    QTimer m_drainTimer;
};

// The server's metrics: the original Go server's families (names and labels unchanged) and
// ours, declared once, with one function per event the server counts, and the per-route byte
// counters that relays add to and a scrape reads.
#pragma once

#include "metrics/metricsregistry.h"

#include <QHash>
#include <QString>
#include <memory>

class ServerMetrics
{
public:
    // Bytes a route's tunnels relayed; relays add to it while they run.
    struct RouteBytes
    {
        qint64 tcpToWs = 0;
        qint64 wsToTcp = 0;
    };

    ServerMetrics();

    MetricsRegistry &registry() { return m_registry; }

    RouteBytes *routeBytes(const QString &routePath); // created on first use, kept for good

    void countHttpRequest(const QString &pathClass); // "/metrics", "/healthz", "other"
    void countUpgradeError(); // http_to_tcp_error{type="upgrade"}, as the original
    void countHandshakeFailure(const QString &reason);
    void countLimitRejection(const QString &limit);
    void countReload(bool success);
    void countAcceptError(); // the listener could not accept (out of descriptors or memory)
    void countTunnelOpened(const QString &routePath);
    void countRemoteConnected();
    void countRemoteUnreachable();
    // A dynamic route refused the destination a client named (403 not-allowed, 400
    // bad-destination).
    void countDestinationRefusal(const QString &routePath);
    // Shows a dynamic route's refusals from the start, at 0.
    void showDestinationRefusals(const QString &routePath);
    // http_to_tcp_error{type="tcp_reset"}: the remote reset a tunnel's connection (where the
    // relay can tell, see Relay::tcpWasReset()).
    void countRemoteReset();
    void tunnelFinished(const QString &routePath, double seconds, qint64 peakQueuedBytes);
    void setActiveTunnels(int count);
    // UDP flows (declared at the first flow: a server without UDP routes does not show them).
    void countUdpFlowOpened(const QString &routePath);
    void countUdpDatagrams(const QString &routePath, bool wsToUdp, qint64 count);
    void countUdpDropped(const QString &routePath, bool wsToUdp, bool tooBig, qint64 count);

    // Values a scrape reads now: process figures, per-route bytes and open tunnels.
    template<typename ActiveOnRoute>
    void updateForScrape(bool draining, int active, ActiveOnRoute activeOnRoute)
    {
        updateProcessAndDraining(draining, active);
        for (auto it = m_routeBytes.cbegin(); it != m_routeBytes.cend(); ++it)
            setRoute(it.key(), *it.value(), activeOnRoute(it.key()));
    }

private:
    void updateProcessAndDraining(bool draining, int active);
    void setRoute(const QString &route, const RouteBytes &bytes, int active);

    void declareUdp();

    MetricsRegistry m_registry;
    bool m_udpDeclared = false;
    QHash<QString, std::shared_ptr<RouteBytes>> m_routeBytes;
};

// Decides whether a WebSocket upgrade request becomes a tunnel: route by path, then Origin,
// token and the concurrency limits; counts the tunnels each route and client address hold.
#pragma once

#include "serveroptions.h"

#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QString>

// What the decision needs from an HTTP request, so it can be made (and tested) without a socket.
struct AdmissionRequest
{
    QString path;
    QString queryToken; // the ?token= parameter, for clients that cannot set headers
    QByteArray authorization; // the Authorization header
    QByteArray origin; // the Origin header (browsers send one)
    QByteArray realIpHeaderValue; // the configured real-IP header, if any
    QHostAddress peer; // the address the connection comes from
    bool isWebSocketUpgrade = false;
};

class TunnelAdmission
{
public:
    enum class Outcome {
        Admit,
        NoRoute, // 404
        NotWebSocket, // 426
        OriginRefused, // 403
        Unauthorized, // 401
        Draining, // 503
        ServerFull, // 503
        RouteFull, // 503
        ClientFull, // 429
    };

    // A tunnel's hold on the counters, from admission until release().
    struct Slot
    {
        QString routePath;
        QString clientAddress; // for logs
        QString limitKey; // what per-client limits count: the address, or its /64 (IPv6)
    };

    struct Decision
    {
        Outcome outcome = Outcome::NoRoute;
        int route = -1; // index into options().routes when the path matched
        Slot slot; // valid when outcome is Admit
    };

    explicit TunnelAdmission(const ServerOptions &options);

    // New routes and limits (configuration reload). Tunnels keep their slots: counts are kept
    // by route path and client address, so a route that stays keeps its count.
    void setOptions(const ServerOptions &options);
    const ServerOptions &options() const { return m_options; }

    void setDraining(bool draining) { m_draining = draining; }
    bool isDraining() const { return m_draining; }

    // The decision for a request; an admitted request holds a slot until release(slot).
    Decision admit(const AdmissionRequest &request);
    void release(const Slot &slot);

    int activeTunnels() const { return m_active; }
    int activeTunnels(const QString &routePath) const { return m_perRoute.value(routePath); }

    // The client's address: the peer, or what the real-IP header says when the peer is a
    // trusted proxy (X-Forwarded-For: the right-most address that is not a trusted proxy).
    QString clientAddress(const QHostAddress &peer, const QByteArray &headerValue) const;

    // The route that takes a request on this path, or -1 (see ServerRoute::prefix).
    int routeIndex(const QString &path) const;

    // /metrics, /healthz, /readyz: served by the server itself, never a tunnel.
    static bool isServerPage(const QString &path);

    // What per-client limits count for a connection from this peer: its address (IPv4-mapped
    // ones as IPv4), or its /64 for IPv6.
    static QString limitKeyOf(const QHostAddress &peer);

    // Compares secrets in time independent of where they differ.
    static bool secretsEqual(const QByteArray &a, const QByteArray &b);

    // For the HTTP answer and the metrics.
    static int httpStatus(Outcome outcome);
    static QString reasonLabel(Outcome outcome); // "unauthorized", "client_limit", ...
    static QByteArray explanation(Outcome outcome); // the body of the HTTP answer

private:
    bool isTrustedProxy(const QHostAddress &address) const;
    bool tokenMatches(const ServerRoute &route, const AdmissionRequest &request) const;

    ServerOptions m_options;
    bool m_draining = false;
    int m_active = 0;
    QHash<QString, int> m_perRoute; // route path -> tunnels
    QHash<QString, int> m_perClient; // client address -> tunnels over all routes
    QHash<QString, int> m_perRouteClient; // path + '\n' + client address -> tunnels
};

// Settings of the tunnel server: where it listens, its routes (path -> remote), limits, TLS.
#pragma once

#include "destinationpolicy.h"
#include "net/hostport.h"
#include "relay/relayoptions.h"

#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

// One tunnel endpoint: WebSocket upgrades on `path` are relayed to `remote`, or, on a dynamic
// route, to the destination the client names (Tow-Destination) when `allow` takes it.
struct ServerRoute
{
    QString path = QStringLiteral("/");
    // Also every path below `path` ("/ssh/" takes "/ssh/x"; "/ssh" takes "/ssh/x", not
    // "/sshx"), but never the server's own pages. The command line's one route is "/" with this,
    // as the original tunnels on every path.
    bool prefix = false;
    HostPort remote; // empty host: none (a dynamic route whose clients must name a destination)
    // Destinations clients may name (issue 23); empty: a fixed route, every tunnel to `remote`.
    QList<DestinationRule> allow;
    QString token; // empty: no token needed; otherwise "Authorization: Bearer" or ?token=
    QStringList allowedOrigins; // empty: any Origin (and requests without one)
    int maxTunnels = 0; // concurrent tunnels on this route, 0: only the server's limit
    int maxTunnelsPerIp = 0; // concurrent tunnels per client address, 0: the server's limit
    int idleTimeoutMs = -1; // -1: the server's idle timeout
};

struct ServerLimits
{
    int maxTunnels = 10000; // concurrent tunnels over all routes (0: unlimited)
    int maxTunnelsPerIp = 256; // concurrent tunnels per client address (0: unlimited)
    // A connection that has not become a tunnel after this long is closed: a slowloris client
    // holds nothing, and plain HTTP keep-alive connections (/metrics) last at most this long.
    int handshakeTimeoutMs = 10000;
    // Connections still waiting to become a tunnel; beyond it the oldest is closed, so a flood
    // of idle sockets cannot push out real clients.
    int maxPendingConnections = 1024;
    // TLS handshakes in progress at once (they count as pending connections too); beyond it the
    // oldest is closed. Each one holds about 86 KB (OpenSSL's state and buffers), so the limit
    // bounds what clients that start a handshake and stop can take: 64 x 86 KB = 5.5 MB.
    int maxTlsHandshakes = 64;
    int idleTimeoutMs = 0; // a tunnel without data either way for this long is closed (0: never)
};

struct ServerOptions
{
    HostPort listen {QString(), 8080};
    QList<ServerRoute> routes; // at least one; paths are unique
    ServerLimits limits;

    // Behind a reverse proxy: the header naming the client (X-Forwarded-For, X-Real-IP), read
    // only when the connection comes from one of trustedProxies (address, prefix length).
    QString realIpHeader;
    QList<QPair<QHostAddress, int>> trustedProxies;

    // Native TLS (both or neither): PEM certificate chain and unencrypted key; TLS 1.2 or later.
    QString tlsCertFile;
    QString tlsKeyFile;

    // After SIGTERM, how long running tunnels may go on before they are closed (1001).
    int drainTimeoutMs = 30000;

    RelayOptions relay;
};

// Settings of a client tunnel: the local address it listens on, the server it connects to and
// how it gets there (proxy, TLS verification, headers, keep-alive, timeouts).
#pragma once

#include "net/hostport.h"
#include "relay/relayoptions.h"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QUrl>

struct ClientOptions
{
    enum class KeepAliveMode {
        Empty, // an empty binary message after idleness, as the original does
        Ping, // an RFC 6455 ping; no pong within pongTimeoutMs closes the tunnel
    };

    HostPort listen {QStringLiteral("127.0.0.1"), 0};
    // With a port: a SOCKS5 proxy (RFC 1928) listens there instead of the port forward, and each
    // of its connections names its destination to the server (Tow-Destination).
    HostPort socks5Listen;
    QString socks5User; // non-empty: SOCKS clients must authenticate (RFC 1929)
    QString socks5Password; // never logged
    QUrl serverUrl; // ws:// or wss://, possibly with user:password for Basic auth

    // "" = the HTTPS_PROXY/HTTP_PROXY/NO_PROXY environment variables, "none", "system", or a URL
    // http://user:pass@host:port / socks5://user:pass@host:port.
    QString proxy;

    bool insecure = false; // accept any TLS certificate (logged on every connection)
    QString caFile; // PEM bundle trusted in addition to the system store
    QStringList pinsSha256; // base64 SHA-256 of the server certificate's SubjectPublicKeyInfo
    QString serverName; // TLS SNI, certificate name and Host header instead of the URL's host

    QList<QPair<QByteArray, QByteArray>> headers; // sent with every upgrade request
    QString token; // sent as "Authorization: Bearer <token>"; never logged
    // Offered as Sec-WebSocket-Protocol ("binary", as websockify and noVNC clients do), or
    // empty. Not required: a server may answer without one (RFC 6455, 4.1).
    QString subprotocol;

    KeepAliveMode keepAliveMode = KeepAliveMode::Empty;
    int pongTimeoutMs = 10000;

    // UDP mode (client --udp): the local address datagrams arrive on, the destination the server
    // sends them to (Tow-Destination: udp/HOST:PORT), and how long a local source may stay silent
    // before its flow is closed. udpListen's port 0: not in UDP mode.
    HostPort udpListen;
    HostPort udpRemote;
    int udpIdleTimeoutMs = 60000;

    int handshakeTimeoutMs = 15000; // the WebSocket must be open by then
    int maxRedirects = 10;
    RelayOptions relay;
};

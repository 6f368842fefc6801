// Settings of a client tunnel: the local address it listens on and the server it connects to.
#pragma once

#include "net/hostport.h"
#include "relay/relayoptions.h"

#include <QUrl>

struct ClientOptions
{
    HostPort listen {QStringLiteral("127.0.0.1"), 0};
    QUrl serverUrl; // ws:// or wss://, possibly with user:password for Basic auth
    bool insecure = false; // accept any TLS certificate (logged on every connection)
    int handshakeTimeoutMs = 15000; // the WebSocket must be open by then
    int maxRedirects = 10;
    RelayOptions relay;
};

// Settings of the tunnel server: where it listens, the one remote it connects tunnels to.
#pragma once

#include "net/hostport.h"
#include "relay/relayoptions.h"

#include <QString>

struct ServerOptions
{
    HostPort listen {QString(), 8080};
    HostPort remote;
    QString tunnelPath = QStringLiteral("/");
    RelayOptions relay;
};

// How a client face (port forward, SOCKS5 proxy, UDP forwarder) reaches its server, checked once
// when it starts: the TLS policy (CA file, pins) and the proxy for the server's URL; and the line
// it logs when it listens.
#pragma once

#include "tlspolicy.h"

#include <QNetworkProxy>
#include <QString>
#include <optional>

struct ClientOptions;

struct ConnectionSettings
{
    TlsPolicy tls;
    QNetworkProxy proxy; // for the server URL as given (logged; each connection resolves again)

    // Reads the CA file, checks the pins and the proxy setting. std::nullopt with a readable
    // reason when one of them cannot be used.
    static std::optional<ConnectionSettings> prepare(const ClientOptions &options, QString *error);

    // Logs "listening on LOCAL server URL via PROXY" (without credentials), and a warning when
    // TLS certificates are not verified.
    void logListening(const QString &local, const ClientOptions &options) const;
};

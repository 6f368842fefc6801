// The server's JSON configuration file (--config): several routes, limits, TLS. Loaded and
// validated whole, with an error naming the file, the key and what was expected.
#pragma once

#include "serveroptions.h"

#include <QHostAddress>
#include <QPair>
#include <QString>
#include <optional>

class ServerConfigFile
{
public:
    // Reads and validates the file. Values it does not set keep the ones in defaults.
    static std::optional<ServerOptions> load(const QString &path, const ServerOptions &defaults,
                                             QString *error);

    // The checks every configuration passes, from a file or the command line: at least one
    // route, unique paths starting with '/', no clash with /metrics, /healthz, /readyz, TLS
    // certificate and key together.
    static bool validate(const ServerOptions &options, QString *error);

    // A trusted proxy: an address (one host) or a subnet "10.0.0.0/8"; std::nullopt if neither.
    static std::optional<QPair<QHostAddress, int>> parseTrustedProxy(const QString &text);
};

// A host and port as written on the command line: ":8080", "127.0.0.1:1234", "[::1]:5000",
// "host:22".
#pragma once

#include <QHostAddress>
#include <QString>
#include <optional>

struct HostPort
{
    QString host; // empty: every interface (only meaningful for listening)
    quint16 port = 0;

    // Parses "host:port". With allowEmptyHost, ":8080" means every interface.
    // On failure returns std::nullopt and a sentence a person can read in *error.
    static std::optional<HostPort> parse(const QString &text, bool allowEmptyHost, QString *error);

    // The address to listen on: Any for an empty host, the literal for an IP, otherwise null
    // (the caller resolves names).
    QHostAddress listenAddress() const;

    // "host:port", with brackets around IPv6 literals.
    QString toString() const;

    friend bool operator==(const HostPort &a, const HostPort &b)
    {
        return a.host == b.host && a.port == b.port;
    }
};

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

    // Whether two listening addresses cannot both be bound, which is the one rule every profile
    // check uses (editor, duplicate, import, load). Same port, and:
    // - an empty host (Qt's dual-stack Any) takes every address of both families;
    // - "::" takes IPv6 and, as a dual-stack socket on Linux does, IPv4 too; "0.0.0.0" takes IPv4;
    //   a wildcard also takes every host name (it may resolve to any address);
    // - otherwise the addresses are equal ("localhost" is 127.0.0.1, an IPv4-mapped IPv6 address
    //   is its IPv4 address), or the same host name in any case.
    // Qt itself binds "::" IPv6-only, so 127.0.0.1 and [::] on one port can both listen; they
    // still count as a clash: "localhost" then reaches one or the other, depending on resolution.
    bool clashesWith(const HostPort &other) const;

    // A host name as DNS and TLS take it: ASCII labels of letters, digits, '-', '_' and dots, or
    // an internationalized name that has such an ASCII (punycode) form.
    static bool isValidHostName(const QString &name);

    friend bool operator==(const HostPort &a, const HostPort &b)
    {
        return a.host == b.host && a.port == b.port;
    }
};

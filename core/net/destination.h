// The destination a client names per tunnel on a dynamic route (issue 23): the value of the
// upgrade request's Tow-Destination header, "HOST:PORT" or "udp/HOST:PORT", and the Tow-Error
// tokens the server answers a destination it does not reach with.
#pragma once

#include "net/hostport.h"

#include <QByteArray>
#include <QByteArrayView>
#include <optional>

struct Destination
{
    static constexpr char kHeader[] = "Tow-Destination";
    static constexpr char kErrorHeader[] = "Tow-Error";
    // RFC 1035: a name of at most 253 characters in its dotted form.
    static constexpr int kMaxHostNameChars = 253;

    bool udp = false;
    HostPort target; // host: a DNS name, an IPv4 address or an IPv6 address (no brackets)

    // Parses a header value: "host.example:443", "10.0.0.5:22", "[fd00::1]:80",
    // "udp/10.0.0.5:51820". Strict: ASCII only, no spaces inside, port 1-65535 in decimal
    // digits, IPv6 in brackets. Surrounding spaces (HTTP's optional white space) are ignored.
    static std::optional<Destination> parse(QByteArrayView headerValue);

    // The header value that parse() reads back: "udp/" for UDP, brackets around IPv6.
    QByteArray headerValue() const;

    // Why the server did not open a tunnel to a destination: the value of Tow-Error.
    enum class Error {
        BadDestination, // 400 bad-destination: malformed header value
        NotAllowed, // 403 not-allowed: not in the allow list, default-denied, fixed route
        NoSuchHost, // 502 no-such-host: the name does not resolve
        Refused, // 502 refused: connection refused
        HostUnreachable, // 502 host-unreachable: EHOSTUNREACH and other failures
        NetworkUnreachable, // 502 network-unreachable: ENETUNREACH
        Timeout, // 504 timeout: no connection within the connect timeout
        // 503 busy: the client has too many name lookups in progress or waiting (the server's
        // lookups are a shared, bounded resource); not about the destination itself
        Busy,
        // 503 shutting-down: the server stopped before the destination was reached
        ShuttingDown,
    };
    static QByteArray errorToken(Error error);
    static std::optional<Error> errorFromToken(QByteArrayView token);
    // The HTTP status that carries the error.
    static int httpStatus(Error error);
    // Whether the error tells about the destination (not reached, not allowed), rather than
    // about the server (busy, shutting down).
    static bool isAboutDestination(Error error)
    {
        return error != Error::Busy && error != Error::ShuttingDown;
    }

    friend bool operator==(const Destination &a, const Destination &b)
    {
        return a.udp == b.udp && a.target == b.target;
    }
};

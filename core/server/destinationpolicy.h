// Which destinations a dynamic route reaches (issue 23): the route's allow list, written
// "[udp/]PATTERN:PORTS", and the default denials (loopback, link-local, unspecified, multicast,
// broadcast, the server's own addresses) that only an explicit address or CIDR entry lifts.
#pragma once

#include "net/destination.h"

#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>
#include <optional>

struct DestinationRule
{
    enum class Kind {
        AnyHost, // "*": any name or address
        Name, // "host.example": that name, any case
        Subdomain, // "*.corp.example": any name below it, not the bare domain
        Subnet, // "10.0.0.0/8", "10.0.0.5", "[fd00::/8]", "[::1]"
    };

    QString text; // as written, for logs and errors
    bool udp = false; // "udp/": UDP only; otherwise TCP only
    Kind kind = Kind::AnyHost;
    QString name; // Name: the name; Subdomain: ".corp.example" (lower case, ASCII form)
    QPair<QHostAddress, int> subnet; // Subnet: network and prefix length
    QList<QPair<quint16, quint16>> ports; // inclusive ranges

    // Parses "[udp/]PATTERN:PORTS". On failure std::nullopt and a sentence in *error.
    static std::optional<DestinationRule> parse(const QString &text, QString *error);

    bool matchesPort(quint16 port) const;
    // Whether the pattern takes the host as the client wrote it (not for Subnet rules).
    bool matchesName(const QString &host) const;

    friend bool operator==(const DestinationRule &a, const DestinationRule &b)
    {
        return a.text == b.text;
    }
};

class DestinationPolicy
{
public:
    // ownAddresses: the server's interface addresses, denied by default.
    explicit DestinationPolicy(const QList<DestinationRule> &rules = {},
                               const QList<QHostAddress> &ownAddresses = {});
    // With this host's interface addresses (QNetworkInterface::allAddresses()).
    static DestinationPolicy forThisHost(const QList<DestinationRule> &rules);

    bool isEmpty() const { return m_rules.isEmpty(); }

    // Whether some rule could allow the destination (protocol, port, and the name for name
    // patterns, or any address rule): asked before the name is resolved, so that names no rule
    // takes are never looked up.
    bool mayAllow(const Destination &destination) const;
    // Whether the destination may be reached at one of its resolved addresses: a name pattern
    // that takes the name, or an address rule that takes the address, for the protocol and port;
    // and the address not default-denied, unless an address rule inside the denied range takes it.
    bool allows(const Destination &destination, const QHostAddress &address) const;

    // Why an address is denied by default ("loopback", "link-local", "unspecified", "multicast",
    // "broadcast", "the server's own address"); empty when it is not.
    QString defaultDenial(const QHostAddress &address) const;

    // An IPv4-mapped IPv6 address as its IPv4 address; other addresses unchanged.
    static QHostAddress normalized(const QHostAddress &address);

private:
    // The denied range the address is in, if any (network, prefix length).
    std::optional<QPair<QHostAddress, int>> deniedRange(const QHostAddress &address,
                                                        QString *why) const;

    QList<DestinationRule> m_rules;
    QList<QHostAddress> m_ownAddresses;
};

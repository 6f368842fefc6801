#include "destinationpolicy.h"

#include <QNetworkInterface>
#include <QUrl>

namespace {

constexpr char kUdpPrefix[] = "udp/";

struct DeniedRange
{
    const char *network;
    int prefix;
    const char *why;
};

// Ranges no name pattern reaches: the server itself and what only makes sense on its own links.
constexpr DeniedRange kDeniedRanges[] = {
    {"0.0.0.0", 8, "unspecified"}, // "this network"; 0.0.0.0 reaches the server itself
    {"127.0.0.0", 8, "loopback"},  {"169.254.0.0", 16, "link-local"},
    {"224.0.0.0", 4, "multicast"}, {"255.255.255.255", 32, "broadcast"},
    {"::", 128, "unspecified"},    {"::1", 128, "loopback"},
    {"fe80::", 10, "link-local"},  {"ff00::", 8, "multicast"},
};

std::optional<QList<QPair<quint16, quint16>>> parsePorts(const QString &text, QString *why)
{
    QList<QPair<quint16, quint16>> ports;
    if (text == QLatin1String("*")) {
        ports.append({1, 65535});
        return ports;
    }
    auto number = [](const QString &part, quint16 *out) {
        if (part.isEmpty() || part.size() > 5)
            return false;
        for (const QChar c : part) {
            if (c < QLatin1Char('0') || c > QLatin1Char('9'))
                return false;
        }
        const uint value = part.toUInt();
        if (value < 1 || value > 65535)
            return false;
        *out = quint16(value);
        return true;
    };
    for (const QString &item : text.split(QLatin1Char(','))) {
        const qsizetype dash = item.indexOf(QLatin1Char('-'));
        quint16 first = 0;
        quint16 last = 0;
        const bool ok = dash < 0
            ? number(item, &first) && number(item, &last)
            : number(item.left(dash), &first) && number(item.mid(dash + 1), &last);
        if (!ok) {
            *why = QStringLiteral("\"%1\" is not a port (1-65535) or a range of ports (e.g. "
                                  "\"8000-8100\")")
                       .arg(item);
            return std::nullopt;
        }
        if (first > last) {
            *why = QStringLiteral("the range \"%1\" ends before it starts").arg(item);
            return std::nullopt;
        }
        ports.append({first, last});
    }
    return ports;
}

std::optional<QPair<QHostAddress, int>> parseSubnet(const QString &text)
{
    const qsizetype slash = text.indexOf(QLatin1Char('/'));
    const QString addressText = slash < 0 ? text : text.left(slash);
    QHostAddress address;
    if (addressText.contains(QLatin1Char('%')) || !address.setAddress(addressText))
        return std::nullopt;
    const int bits = address.protocol() == QAbstractSocket::IPv4Protocol ? 32 : 128;
    if (slash < 0)
        return QPair<QHostAddress, int>(address, bits);
    const QString prefixText = text.mid(slash + 1);
    bool ok = false;
    const int prefix = prefixText.toInt(&ok);
    if (!ok || prefixText.isEmpty() || !prefixText.at(0).isDigit() || prefix < 0 || prefix > bits)
        return std::nullopt;
    // parseSubnet() clears the host bits ("10.1.2.3/8" is 10.0.0.0/8).
    return QHostAddress::parseSubnet(addressText + QLatin1Char('/') + QString::number(prefix));
}

// Whether the subnet inner lies wholly inside outer.
bool subnetInside(const QPair<QHostAddress, int> &inner, const QPair<QHostAddress, int> &outer)
{
    return inner.second >= outer.second && inner.first.isInSubnet(outer);
}

} // namespace

std::optional<DestinationRule> DestinationRule::parse(const QString &text, QString *error)
{
    auto fail = [&](const QString &why) -> std::optional<DestinationRule> {
        if (error)
            *error = QStringLiteral("invalid destination rule \"%1\": %2").arg(text, why);
        return std::nullopt;
    };
    DestinationRule rule;
    rule.text = text.trimmed();
    QString rest = rule.text;
    if (rest.startsWith(QLatin1String(kUdpPrefix))) {
        rule.udp = true;
        rest = rest.mid(int(sizeof(kUdpPrefix)) - 1);
    }
    if (rest.isEmpty())
        return fail(QStringLiteral("it is empty (expected PATTERN:PORTS, e.g. "
                                   "\"*.corp.example:443\")"));
    QString pattern;
    QString portsText;
    if (rest.startsWith(QLatin1Char('['))) {
        const qsizetype close = rest.indexOf(QLatin1Char(']'));
        if (close < 0)
            return fail(QStringLiteral("missing ']' after the IPv6 address"));
        pattern = rest.mid(1, close - 1);
        if (rest.mid(close + 1, 1) != QLatin1String(":"))
            return fail(QStringLiteral("missing \":PORTS\" after \"]\""));
        portsText = rest.mid(close + 2);
        const auto subnet = parseSubnet(pattern);
        if (!subnet || subnet->first.protocol() != QAbstractSocket::IPv6Protocol)
            return fail(QStringLiteral("\"%1\" is not an IPv6 address or network").arg(pattern));
        rule.kind = Kind::Subnet;
        rule.subnet = *subnet;
    } else {
        const qsizetype colon = rest.lastIndexOf(QLatin1Char(':'));
        if (colon < 0)
            return fail(QStringLiteral("missing \":PORTS\" (e.g. \"*.corp.example:443\", "
                                       "\"10.0.0.0/8:1-65535\")"));
        pattern = rest.left(colon);
        portsText = rest.mid(colon + 1);
        if (pattern.contains(QLatin1Char(':')))
            return fail(QStringLiteral("IPv6 addresses must be written in brackets, e.g. "
                                       "\"[fd00::/8]:443\""));
        if (pattern == QLatin1String("*")) {
            rule.kind = Kind::AnyHost;
        } else if (const auto subnet = parseSubnet(pattern)) {
            rule.kind = Kind::Subnet;
            rule.subnet = *subnet;
        } else if (pattern.contains(QLatin1Char('/'))) {
            return fail(QStringLiteral("\"%1\" is not an IPv4 network (e.g. \"10.0.0.0/8\"; "
                                       "\"udp/\" is the only prefix)")
                            .arg(pattern));
        } else {
            const bool subdomain = pattern.startsWith(QLatin1String("*."));
            const QString name = subdomain ? pattern.mid(2) : pattern;
            if (!HostPort::isValidHostName(name))
                return fail(QStringLiteral("\"%1\" is not a host name, \"*.\" and a domain, an "
                                           "address, a network or \"*\"")
                                .arg(pattern));
            // Clients send names in their ASCII form; compare in it, in lower case.
            const QString ascii = QString::fromLatin1(QUrl::toAce(name)).toLower();
            rule.kind = subdomain ? Kind::Subdomain : Kind::Name;
            rule.name = subdomain ? QLatin1Char('.') + ascii : ascii;
        }
    }
    QString why;
    const auto ports = parsePorts(portsText, &why);
    if (!ports)
        return fail(why);
    rule.ports = *ports;
    return rule;
}

bool DestinationRule::matchesPort(quint16 port) const
{
    for (const auto &range : ports) {
        if (port >= range.first && port <= range.second)
            return true;
    }
    return false;
}

bool DestinationRule::matchesName(const QString &host) const
{
    switch (kind) {
    case Kind::AnyHost:
        return true;
    case Kind::Name:
        return host.compare(name, Qt::CaseInsensitive) == 0;
    case Kind::Subdomain:
        return host.size() > name.size() && host.endsWith(name, Qt::CaseInsensitive);
    case Kind::Subnet:
        return false;
    }
    return false;
}

DestinationPolicy::DestinationPolicy(const QList<DestinationRule> &rules,
                                     const QList<QHostAddress> &ownAddresses)
    : m_rules(rules)
{
    for (const QHostAddress &address : ownAddresses)
        m_ownAddresses.append(normalized(address));
}

DestinationPolicy DestinationPolicy::forThisHost(const QList<DestinationRule> &rules)
{
    return DestinationPolicy(rules, QNetworkInterface::allAddresses());
}

bool DestinationPolicy::mayAllow(const Destination &destination) const
{
    for (const DestinationRule &rule : m_rules) {
        if (rule.udp != destination.udp || !rule.matchesPort(destination.target.port))
            continue;
        if (rule.kind == DestinationRule::Kind::Subnet || rule.matchesName(destination.target.host))
            return true;
    }
    return false;
}

bool DestinationPolicy::allows(const Destination &destination, const QHostAddress &address) const
{
    const QHostAddress checked = normalized(address);
    if (checked.isNull())
        return false;
    QString why;
    const auto denied = deniedRange(checked, &why);
    for (const DestinationRule &rule : m_rules) {
        if (rule.udp != destination.udp || !rule.matchesPort(destination.target.port))
            continue;
        if (rule.kind == DestinationRule::Kind::Subnet) {
            if (!checked.isInSubnet(rule.subnet))
                continue;
            // Only an entry inside the denied range lifts the denial: 127.0.0.1 does,
            // 0.0.0.0/0 does not.
            if (!denied || subnetInside(rule.subnet, *denied))
                return true;
        } else if (!denied && rule.matchesName(destination.target.host)) {
            return true;
        }
    }
    return false;
}

QString DestinationPolicy::defaultDenial(const QHostAddress &address) const
{
    QString why;
    deniedRange(normalized(address), &why);
    return why;
}

std::optional<QPair<QHostAddress, int>> DestinationPolicy::deniedRange(const QHostAddress &address,
                                                                       QString *why) const
{
    for (const DeniedRange &range : kDeniedRanges) {
        const QPair<QHostAddress, int> subnet(QHostAddress(QLatin1String(range.network)),
                                              range.prefix);
        if (address.isInSubnet(subnet)) {
            *why = QString::fromLatin1(range.why);
            return subnet;
        }
    }
    for (const QHostAddress &own : m_ownAddresses) {
        // Without the scope: fe80::1%eth0 is the server's whichever way the client names it.
        QHostAddress bare = own;
        bare.setScopeId(QString());
        QHostAddress candidate = address;
        candidate.setScopeId(QString());
        if (bare == candidate) {
            *why = QStringLiteral("the server's own address");
            const int bits = bare.protocol() == QAbstractSocket::IPv4Protocol ? 32 : 128;
            return QPair<QHostAddress, int>(bare, bits);
        }
    }
    why->clear();
    return std::nullopt;
}

QHostAddress DestinationPolicy::normalized(const QHostAddress &address)
{
    if (address.protocol() != QAbstractSocket::IPv6Protocol)
        return address;
    bool ok = false;
    const quint32 v4 = address.toIPv4Address(&ok);
    // toIPv4Address() takes ::ffff:a.b.c.d only (Qt 6: not "::", which stays IPv6).
    if (ok && address != QHostAddress(QHostAddress::AnyIPv6))
        return QHostAddress(v4);
    return address;
}

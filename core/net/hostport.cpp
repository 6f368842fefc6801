#include "hostport.h"

#include <QRegularExpression>
#include <QUrl>

std::optional<HostPort> HostPort::parse(const QString &text, bool allowEmptyHost, QString *error)
{
    auto fail = [&](const QString &why) -> std::optional<HostPort> {
        if (error)
            *error = QStringLiteral("invalid address \"%1\": %2").arg(text, why);
        return std::nullopt;
    };

    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty())
        return fail(QStringLiteral("it is empty (expected host:port, e.g. \":8080\")"));

    QString host;
    QString portText;
    if (trimmed.startsWith(QLatin1Char('['))) {
        const qsizetype close = trimmed.indexOf(QLatin1Char(']'));
        if (close < 0)
            return fail(QStringLiteral("missing ']' after the IPv6 address"));
        host = trimmed.mid(1, close - 1);
        const QString rest = trimmed.mid(close + 1);
        if (!rest.startsWith(QLatin1Char(':')))
            return fail(QStringLiteral("missing \":port\" after \"]\""));
        portText = rest.mid(1);
        QHostAddress address;
        if (!address.setAddress(host) || address.protocol() != QAbstractSocket::IPv6Protocol)
            return fail(QStringLiteral("\"%1\" is not an IPv6 address").arg(host));
    } else {
        const qsizetype colon = trimmed.lastIndexOf(QLatin1Char(':'));
        if (colon < 0)
            return fail(QStringLiteral("missing \":port\" (expected host:port, e.g. \":8080\")"));
        host = trimmed.left(colon);
        portText = trimmed.mid(colon + 1);
        if (host.contains(QLatin1Char(':')))
            return fail(QStringLiteral("IPv6 addresses must be written in brackets, e.g. "
                                       "\"[::1]:5000\""));
        if (!host.isEmpty() && !isValidHostName(host))
            return fail(QStringLiteral("\"%1\" is not a valid host name").arg(host));
    }

    if (host.isEmpty() && !allowEmptyHost)
        return fail(QStringLiteral("a host is required here (e.g. \"example.org:22\")"));

    bool ok = false;
    const uint port = portText.toUInt(&ok, 10);
    if (portText.isEmpty() || !ok)
        return fail(QStringLiteral("\"%1\" is not a port number").arg(portText));
    if (port > 65535)
        return fail(QStringLiteral("port %1 is out of range (0-65535)").arg(port));

    HostPort result;
    result.host = host;
    result.port = quint16(port);
    return result;
}

QHostAddress HostPort::listenAddress() const
{
    if (host.isEmpty())
        return QHostAddress(QHostAddress::Any);
    if (host.compare(QLatin1String("localhost"), Qt::CaseInsensitive) == 0)
        return QHostAddress(QHostAddress::LocalHost);
    return QHostAddress(host);
}

QString HostPort::toString() const
{
    if (host.contains(QLatin1Char(':')))
        return QStringLiteral("[%1]:%2").arg(host).arg(port);
    return QStringLiteral("%1:%2").arg(host).arg(port);
}

bool HostPort::isValidHostName(const QString &name)
{
    static const QRegularExpression ascii(
        QStringLiteral("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"));
    if (name.isEmpty() || name.size() > 253)
        return false;
    if (ascii.match(name).hasMatch())
        return true;
    // An internationalized name: its punycode form must be a valid ASCII name.
    const QByteArray ace = QUrl::toAce(name);
    return !ace.isEmpty() && ascii.match(QString::fromLatin1(ace)).hasMatch();
}

namespace {

// The address a listening host stands for: localhost is 127.0.0.1, an IPv4-mapped IPv6 address
// is its IPv4 address; null for a host name.
QHostAddress normalized(const QString &host)
{
    if (host.compare(QLatin1String("localhost"), Qt::CaseInsensitive) == 0)
        return QHostAddress(QHostAddress::LocalHost);
    const QHostAddress address(host);
    if (address.protocol() != QAbstractSocket::IPv6Protocol)
        return address;
    // ::ffff:a.b.c.d (not "::", which toIPv4Address() would also turn into 0.0.0.0).
    const Q_IPV6ADDR bytes = address.toIPv6Address();
    for (int i = 0; i < 10; ++i) {
        if (bytes[i] != 0)
            return address;
    }
    if (bytes[10] != 0xff || bytes[11] != 0xff)
        return address;
    return QHostAddress(quint32(bytes[12]) << 24 | quint32(bytes[13]) << 16
                        | quint32(bytes[14]) << 8 | quint32(bytes[15]));
}

// Whether a socket bound to the wildcard `any` ("0.0.0.0" or "::") takes the host `other`.
bool wildcardTakes(const QHostAddress &any, const QHostAddress &other)
{
    if (other.isNull())
        return true; // a host name may resolve to any address
    if (any.protocol() == QAbstractSocket::IPv6Protocol)
        return true; // dual-stack: IPv6 and IPv4
    return other.protocol() == QAbstractSocket::IPv4Protocol
        || other == QHostAddress(QHostAddress::AnyIPv6);
}

} // namespace

bool HostPort::clashesWith(const HostPort &other) const
{
    if (port != other.port)
        return false;
    if (host.isEmpty() || other.host.isEmpty())
        return true;
    if (host.compare(other.host, Qt::CaseInsensitive) == 0)
        return true;
    const QHostAddress a = normalized(host);
    const QHostAddress b = normalized(other.host);
    const QHostAddress anyIPv4(QHostAddress::AnyIPv4);
    const QHostAddress anyIPv6(QHostAddress::AnyIPv6);
    if (a == anyIPv4 || a == anyIPv6)
        return wildcardTakes(a, b);
    if (b == anyIPv4 || b == anyIPv6)
        return wildcardTakes(b, a);
    return !a.isNull() && a == b;
}

#include "destination.h"

#include <QHostAddress>

namespace {

constexpr char kUdpPrefix[] = "udp/";
constexpr int kMaxPortDigits = 5;

bool isDecimal(QByteArrayView text)
{
    if (text.isEmpty() || text.size() > kMaxPortDigits)
        return false;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
    }
    return true;
}

struct ErrorName
{
    Destination::Error error;
    const char *token;
    int status;
};

constexpr ErrorName kErrorNames[] = {
    {Destination::Error::BadDestination, "bad-destination", 400},
    {Destination::Error::NotAllowed, "not-allowed", 403},
    {Destination::Error::NoSuchHost, "no-such-host", 502},
    {Destination::Error::Refused, "refused", 502},
    {Destination::Error::HostUnreachable, "host-unreachable", 502},
    {Destination::Error::NetworkUnreachable, "network-unreachable", 502},
    {Destination::Error::Timeout, "timeout", 504},
    {Destination::Error::Busy, "busy", 503},
    {Destination::Error::ShuttingDown, "shutting-down", 503},
};

} // namespace

std::optional<Destination> Destination::parse(QByteArrayView headerValue)
{
    QByteArrayView text = headerValue.trimmed();
    Destination result;
    if (text.startsWith(kUdpPrefix)) {
        result.udp = true;
        text = text.sliced(sizeof(kUdpPrefix) - 1);
    }
    for (const char c : text) {
        // Printable ASCII without spaces: names go to DNS in their ASCII (punycode) form.
        if (c <= ' ' || c > '~')
            return std::nullopt;
    }
    const qsizetype colon = text.lastIndexOf(':');
    if (colon < 0 || !isDecimal(text.sliced(colon + 1)))
        return std::nullopt;
    const uint port = text.sliced(colon + 1).toUInt();
    if (port == 0 || port > 65535)
        return std::nullopt;
    const QByteArrayView hostText = text.first(colon);
    QString host;
    if (hostText.startsWith('[')) {
        if (!hostText.endsWith(']'))
            return std::nullopt;
        host = QString::fromLatin1(hostText.sliced(1, hostText.size() - 2));
        // A zone ("fe80::1%eth0") names an interface of the server, which is not the client's
        // to choose.
        QHostAddress address;
        if (host.contains(QLatin1Char('%')) || !address.setAddress(host)
            || address.protocol() != QAbstractSocket::IPv6Protocol)
            return std::nullopt;
    } else {
        host = QString::fromLatin1(hostText);
        if (host.contains(QLatin1Char(':')) || host.size() > kMaxHostNameChars
            || !HostPort::isValidHostName(host))
            return std::nullopt;
    }
    result.target.host = host;
    result.target.port = quint16(port);
    return result;
}

QByteArray Destination::headerValue() const
{
    QByteArray value = target.toString().toLatin1();
    if (udp)
        value.prepend(kUdpPrefix);
    return value;
}

QByteArray Destination::errorToken(Error error)
{
    for (const ErrorName &name : kErrorNames) {
        if (name.error == error)
            return QByteArray(name.token);
    }
    Q_UNREACHABLE();
    return {};
}

std::optional<Destination::Error> Destination::errorFromToken(QByteArrayView token)
{
    const QByteArrayView trimmed = token.trimmed();
    for (const ErrorName &name : kErrorNames) {
        if (trimmed == name.token)
            return name.error;
    }
    return std::nullopt;
}

int Destination::httpStatus(Error error)
{
    for (const ErrorName &name : kErrorNames) {
        if (name.error == error)
            return name.status;
    }
    Q_UNREACHABLE();
    return 500;
}

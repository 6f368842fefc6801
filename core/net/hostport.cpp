#include "hostport.h"

#include <QRegularExpression>

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
        static const QRegularExpression hostName(
            QStringLiteral("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"));
        if (!host.isEmpty() && !hostName.match(host).hasMatch())
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

#include "proxyresolver.h"

#include <QHostAddress>
#include <QNetworkProxyFactory>
#include <QNetworkProxyQuery>

namespace {

std::optional<QNetworkProxy> fromUrl(const QString &text, QString *error)
{
    // Like Go's http.ProxyFromEnvironment, a bare host:port means http://host:port.
    QString withScheme = text.trimmed();
    if (!withScheme.contains(QLatin1String("://")))
        withScheme.prepend(QLatin1String("http://"));
    const QUrl url(withScheme, QUrl::StrictMode);
    if (!url.isValid() || url.host().isEmpty()) {
        *error = QStringLiteral("the proxy \"%1\" is not a URL like http://host:3128 or "
                                "socks5://host:1080")
                     .arg(QUrl(withScheme).toString(QUrl::RemoveUserInfo));
        return std::nullopt;
    }
    const QString scheme = url.scheme().toLower();
    QNetworkProxy proxy;
    if (scheme == QLatin1String("http")) {
        proxy = QNetworkProxy(QNetworkProxy::HttpProxy, url.host(), quint16(url.port(80)));
    } else if (scheme == QLatin1String("socks5") || scheme == QLatin1String("socks5h")) {
        proxy = QNetworkProxy(QNetworkProxy::Socks5Proxy, url.host(), quint16(url.port(1080)));
    } else {
        *error = QStringLiteral("proxy scheme \"%1\" is not supported (use http:// or socks5://)")
                     .arg(url.scheme());
        return std::nullopt;
    }
    proxy.setUser(url.userName(QUrl::FullyDecoded));
    proxy.setPassword(url.password(QUrl::FullyDecoded));
    return proxy;
}

QString variable(const QProcessEnvironment *environment, const QString &upper)
{
    auto read = [environment](const QString &name) {
        return environment ? environment->value(name) : qEnvironmentVariable(qPrintable(name));
    };
    const QString value = read(upper);
    return value.isEmpty() ? read(upper.toLower()) : value;
}

// NO_PROXY as Go reads it: comma-separated host names (matching the name and its subdomains,
// with or without a leading '.'), IP addresses, CIDR ranges, optional ":port", or "*".
bool excluded(const QString &noProxy, const QUrl &target)
{
    const QString host = target.host().toLower();
    const QHostAddress address(host);
    if (host == QLatin1String("localhost") || (!address.isNull() && address.isLoopback()))
        return true; // Go never proxies loopback, whatever the variables say
    const int port = target.port(target.scheme() == QLatin1String("wss") ? 443 : 80);
    const QStringList entries = noProxy.split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (QString entry : entries) {
        entry = entry.trimmed().toLower();
        if (entry.isEmpty())
            continue;
        if (entry == QLatin1String("*"))
            return true;
        if (entry.contains(QLatin1Char('/'))) {
            const auto subnet = QHostAddress::parseSubnet(entry);
            if (!address.isNull()
                && subnet.first.protocol() != QAbstractSocket::UnknownNetworkLayerProtocol
                && address.isInSubnet(subnet))
                return true;
            continue;
        }
        // An optional port: "host:port", "[v6]:port".
        int entryPort = -1;
        const int colon = entry.lastIndexOf(QLatin1Char(':'));
        if (colon > 0 && entry.count(QLatin1Char(':')) == 1) {
            entryPort = entry.mid(colon + 1).toInt();
            entry.truncate(colon);
        } else if (entry.startsWith(QLatin1Char('[')) && entry.contains(QLatin1String("]:"))) {
            entryPort = entry.mid(entry.lastIndexOf(QLatin1Char(':')) + 1).toInt();
            entry = entry.mid(1, entry.indexOf(QLatin1Char(']')) - 1);
        }
        if (entryPort > 0 && entryPort != port)
            continue;
        const QHostAddress entryAddress(entry);
        if (!entryAddress.isNull()) {
            if (!address.isNull() && entryAddress.isEqual(address))
                return true;
            continue;
        }
        if (entry.startsWith(QLatin1Char('.')))
            entry.remove(0, 1);
        if (host == entry || host.endsWith(QLatin1Char('.') + entry))
            return true;
    }
    return false;
}

} // namespace

namespace ProxyResolver {

bool validate(const QString &setting, QString *error)
{
    if (setting.isEmpty() || setting == QLatin1String("none") || setting == QLatin1String("system"))
        return true;
    return fromUrl(setting, error).has_value();
}

std::optional<QNetworkProxy> resolve(const QString &setting, const QUrl &target, QString *error,
                                     const QProcessEnvironment *environment)
{
    if (setting == QLatin1String("none"))
        return QNetworkProxy(QNetworkProxy::NoProxy);
    if (setting == QLatin1String("system")) {
        QUrl query = target;
        query.setScheme(target.scheme() == QLatin1String("wss") ? QStringLiteral("https")
                                                                : QStringLiteral("http"));
        const QList<QNetworkProxy> proxies =
            QNetworkProxyFactory::systemProxyForQuery(QNetworkProxyQuery(query));
        for (const QNetworkProxy &proxy : proxies) {
            // A tunnel needs a proxy that can carry any TCP stream: CONNECT or SOCKS.
            if (proxy.type() == QNetworkProxy::NoProxy || proxy.type() == QNetworkProxy::Socks5Proxy
                || proxy.type() == QNetworkProxy::HttpProxy)
                return proxy;
        }
        return QNetworkProxy(QNetworkProxy::NoProxy);
    }
    if (!setting.isEmpty())
        return fromUrl(setting, error);

    const bool secure = target.scheme() == QLatin1String("wss");
    const QString proxyUrl = variable(
        environment, secure ? QStringLiteral("HTTPS_PROXY") : QStringLiteral("HTTP_PROXY"));
    if (proxyUrl.isEmpty() || excluded(variable(environment, QStringLiteral("NO_PROXY")), target))
        return QNetworkProxy(QNetworkProxy::NoProxy);
    QString why;
    const auto proxy = fromUrl(proxyUrl, &why);
    if (!proxy) {
        *error =
            QStringLiteral("%1 (from the %2 variable)")
                .arg(why, secure ? QStringLiteral("HTTPS_PROXY") : QStringLiteral("HTTP_PROXY"));
        return std::nullopt;
    }
    return proxy;
}

QString describe(const QNetworkProxy &proxy)
{
    const QString where = proxy.hostName().contains(QLatin1Char(':'))
        ? QStringLiteral("[%1]:%2").arg(proxy.hostName()).arg(proxy.port())
        : QStringLiteral("%1:%2").arg(proxy.hostName()).arg(proxy.port());
    switch (proxy.type()) {
    case QNetworkProxy::HttpProxy:
        return QStringLiteral("HTTP proxy %1").arg(where);
    case QNetworkProxy::Socks5Proxy:
        return QStringLiteral("SOCKS5 proxy %1").arg(where);
    case QNetworkProxy::NoProxy:
        return QStringLiteral("no proxy");
    default:
        return QStringLiteral("proxy %1").arg(where);
    }
}

} // namespace ProxyResolver

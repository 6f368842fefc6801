#include "proxyresolver.h"

#include <QHostAddress>
#include <QNetworkProxyFactory>
#include <QNetworkProxyQuery>
#include <algorithm>

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

// An IP address as Go's net.ParseIP reads one: four decimal parts for IPv4 (QHostAddress alone
// would also take "10.1" or "10"), anything with a colon for IPv6.
std::optional<QHostAddress> parseIp(const QString &text)
{
    if (text.isEmpty())
        return std::nullopt;
    if (!text.contains(QLatin1Char(':'))) {
        const QStringList parts = text.split(QLatin1Char('.'));
        if (parts.size() != 4)
            return std::nullopt;
        for (const QString &part : parts) {
            if (part.isEmpty() || part.size() > 3
                || !std::all_of(part.cbegin(), part.cend(), [](QChar c) { return c.isDigit(); }))
                return std::nullopt;
        }
    }
    const QHostAddress address(text);
    if (address.isNull())
        return std::nullopt;
    return address;
}

// Go's net.SplitHostPort: "host:port", "[v6]:port" (the port may be empty); false for "host",
// "[v6]" or a bare IPv6 address, which have no port.
bool splitHostPort(const QString &text, QString *host, QString *port)
{
    if (text.startsWith(QLatin1Char('['))) {
        const qsizetype close = text.indexOf(QLatin1Char(']'));
        if (close < 0 || close + 1 >= text.size() || text.at(close + 1) != QLatin1Char(':'))
            return false;
        *host = text.mid(1, close - 1);
        *port = text.mid(close + 2);
    } else {
        const qsizetype colon = text.lastIndexOf(QLatin1Char(':'));
        if (colon < 0 || text.left(colon).contains(QLatin1Char(':')))
            return false;
        *host = text.left(colon);
        *port = text.mid(colon + 1);
    }
    return !port->contains(QLatin1Char('[')) && !port->contains(QLatin1Char(']'));
}

// Whether NO_PROXY keeps the target off the proxy, exactly as golang.org/x/net/http/httpproxy
// decides (config.init and config.useProxy in proxy.go), which Go's net/http uses:
// - localhost and loopback addresses never go through a proxy, whatever the variables say;
// - entries are comma-separated, trimmed, case-insensitive; "*" matches every host;
// - an IP address or CIDR range ("10.0.0.0/8", "2001:db8::/32") matches IP targets only;
// - "example.org" matches the host and its subdomains, ".example.org" and "*.example.org" only
//   the subdomains; a name never matches an IP target;
// - an entry may end in ":port" ("host:8080", "1.2.3.4:80", "[2001:db8::1]:443"), then it applies
//   to that port only (the URL's, or 80 for ws:// and 443 for wss://);
// - international names compare in their ASCII (punycode) form.
bool excluded(const QString &noProxy, const QUrl &target)
{
    const QString host = target.host(QUrl::EncodeUnicode).toLower();
    const QString port =
        QString::number(target.port(target.scheme() == QLatin1String("wss") ? 443 : 80));
    const std::optional<QHostAddress> address = parseIp(host);
    if (host == QLatin1String("localhost") || (address && address->isLoopback()))
        return true;
    for (const QString &item : noProxy.split(QLatin1Char(','))) {
        const QString entry = item.trimmed().toLower();
        if (entry.isEmpty())
            continue;
        if (entry == QLatin1String("*"))
            return true;
        const qsizetype slash = entry.indexOf(QLatin1Char('/'));
        if (slash > 0 && parseIp(entry.left(slash))) {
            const QString bits = entry.mid(slash + 1);
            const int maxBits = entry.left(slash).contains(QLatin1Char(':')) ? 128 : 32;
            bool number = !bits.isEmpty() && bits.size() <= 3
                && std::all_of(bits.cbegin(), bits.cend(), [](QChar c) { return c.isDigit(); });
            if (number && bits.toInt() <= maxBits) {
                if (address && address->isInSubnet(QHostAddress::parseSubnet(entry)))
                    return true;
                continue;
            }
        }
        QString entryHost;
        QString entryPort;
        if (!splitHostPort(entry, &entryHost, &entryPort)) {
            entryHost = entry;
            entryPort.clear();
        } else if (entryHost.isEmpty()) {
            continue; // ":80": no host part
        }
        const bool portMatches = entryPort.isEmpty() || entryPort == port;
        if (const auto entryAddress = parseIp(entryHost)) {
            if (address && entryAddress->isEqual(*address) && portMatches)
                return true;
            continue;
        }
        if (entryHost.startsWith(QLatin1String("*.")))
            entryHost.remove(0, 1);
        const bool matchesHostItself = !entryHost.startsWith(QLatin1Char('.'));
        if (matchesHostItself)
            entryHost.prepend(QLatin1Char('.'));
        // Go converts only names that are not ASCII, and keeps the entry as written when that
        // fails.
        if (std::any_of(entryHost.cbegin(), entryHost.cend(),
                        [](QChar c) { return c.unicode() >= 0x80; })) {
            const QByteArray ace = QUrl::toAce(entryHost.mid(1));
            if (!ace.isEmpty())
                entryHost = QLatin1Char('.') + QString::fromLatin1(ace);
        }
        if (address)
            continue;
        if ((host.endsWith(entryHost) || (matchesHostItself && host == entryHost.mid(1)))
            && portMatches)
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

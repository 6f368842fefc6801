#include "redirectpolicy.h"

#include "net/websocketurl.h"

namespace {

int portOf(const QUrl &url)
{
    const QString scheme = url.scheme();
    return url.port(scheme == QLatin1String("wss") || scheme == QLatin1String("https") ? 443 : 80);
}

} // namespace

RedirectPolicy::RedirectPolicy(const ClientOptions &options)
    : m_serverUrl(options.serverUrl), m_token(options.token), m_headers(options.headers)
{
}

bool RedirectPolicy::sameOrigin(const QUrl &a, const QUrl &b)
{
    return a.scheme().compare(b.scheme(), Qt::CaseInsensitive) == 0
        && a.host().compare(b.host(), Qt::CaseInsensitive) == 0 && portOf(a) == portOf(b);
}

bool RedirectPolicy::isSecretHeader(const QByteArray &name)
{
    return name.compare("Authorization", Qt::CaseInsensitive) == 0
        || name.compare("Cookie", Qt::CaseInsensitive) == 0
        || name.compare("Proxy-Authorization", Qt::CaseInsensitive) == 0;
}

bool RedirectPolicy::isTrusted(const QUrl &url) const
{
    return sameOrigin(m_serverUrl, url);
}

RedirectPolicy::Headers RedirectPolicy::headersFor(const QUrl &url) const
{
    Headers headers;
    const bool trusted = isTrusted(url);
    if (trusted && !m_serverUrl.userName().isEmpty()) {
        const QByteArray credentials = (m_serverUrl.userName(QUrl::FullyDecoded) + QLatin1Char(':')
                                        + m_serverUrl.password(QUrl::FullyDecoded))
                                           .toUtf8();
        headers.append({"Authorization", "Basic " + credentials.toBase64()});
    }
    if (trusted && !m_token.isEmpty())
        headers.append({"Authorization", "Bearer " + m_token.toUtf8()});
    for (const auto &header : m_headers) {
        if (trusted || !isSecretHeader(header.first))
            headers.append(header);
    }
    return headers;
}

QString RedirectPolicy::refusal(const QUrl &from, const QUrl &to) const
{
    const auto secure = [](const QUrl &url) {
        return url.scheme() == QLatin1String("wss") || url.scheme() == QLatin1String("https");
    };
    if (secure(from) && !secure(to))
        return QStringLiteral("the server redirected from %1 to %2, without TLS; not followed (to "
                              "connect without TLS anyway, give the ws:// URL yourself)")
            .arg(WebSocketUrl::redacted(from), WebSocketUrl::redacted(to));
    return QString();
}

#include "websocketurl.h"

#include <QRegularExpression>

namespace {

// The text with any "user:password@" removed, for error messages (they reach logs).
QString withoutUserInfo(const QString &text)
{
    static const QRegularExpression userInfo(QStringLiteral("//[^/?#]*@"));
    QString out = text;
    return out.replace(userInfo, QStringLiteral("//"));
}

std::optional<QUrl> normalise(QUrl url, const QString &original, QString *error)
{
    auto fail = [&](const QString &why) -> std::optional<QUrl> {
        if (error)
            *error = QStringLiteral("invalid WebSocket URL \"%1\": %2")
                         .arg(withoutUserInfo(original), why);
        return std::nullopt;
    };
    // QUrl::errorString() quotes the whole input, password included: not for messages.
    if (!url.isValid())
        return fail(QStringLiteral("it is not a valid URL"));
    const QString scheme = url.scheme().toLower();
    if (scheme == QLatin1String("http"))
        url.setScheme(QStringLiteral("ws"));
    else if (scheme == QLatin1String("https"))
        url.setScheme(QStringLiteral("wss"));
    else if (scheme == QLatin1String("ws") || scheme == QLatin1String("wss"))
        url.setScheme(scheme);
    else if (scheme.isEmpty())
        return fail(QStringLiteral("the scheme is missing (expected ws://, wss://, http:// or "
                                   "https://)"));
    else
        return fail(QStringLiteral("unsupported scheme \"%1\" (expected ws://, wss://, http:// or "
                                   "https://)")
                        .arg(url.scheme()));
    if (url.host().isEmpty())
        return fail(QStringLiteral("the host is missing"));
    if (url.path().isEmpty())
        url.setPath(QStringLiteral("/"));
    url.setFragment(QString());
    return url;
}

} // namespace

namespace WebSocketUrl {

std::optional<QUrl> parse(const QString &text, QString *error)
{
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty()) {
        if (error)
            *error = QStringLiteral("the WebSocket URL is empty (e.g. \"ws://example.org:8080/\")");
        return std::nullopt;
    }
    return normalise(QUrl(trimmed, QUrl::StrictMode), trimmed, error);
}

std::optional<QUrl> resolveRedirect(const QUrl &base, const QString &location, QString *error)
{
    // Relative references resolve against the http(s) form of the base, as a browser would.
    QUrl httpBase = base;
    httpBase.setScheme(base.scheme() == QLatin1String("wss") ? QStringLiteral("https")
                                                             : QStringLiteral("http"));
    const QUrl target = httpBase.resolved(QUrl(location));
    return normalise(target, location, error);
}

QString redacted(const QUrl &url)
{
    return url.toDisplayString(QUrl::RemoveUserInfo);
}

} // namespace WebSocketUrl

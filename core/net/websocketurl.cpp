#include "websocketurl.h"

#include <QRegularExpression>

namespace {

// Names of query items that carry credentials, anchored (the item's whole name).
const QString kSecretKeyPattern =
    QStringLiteral("(?:[a-z0-9_.-]*token|auth|password|passwd|pass|pwd|secret|[a-z0-9_.-]*key|"
                   "signature|sig)");

std::optional<QUrl> normalise(QUrl url, const QString &original, QString *error)
{
    auto fail = [&](const QString &why) -> std::optional<QUrl> {
        if (error)
            *error = QStringLiteral("invalid WebSocket URL \"%1\": %2")
                         .arg(WebSocketUrl::redactedText(original), why);
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
    // In the displayed form a '&', '=' or '#' inside a value stays percent-encoded, so the
    // text's items are the URL's items.
    return redactedText(url.toDisplayString(QUrl::RemoveUserInfo));
}

QString redactedText(const QString &text)
{
    static const QRegularExpression userInfo(QStringLiteral("//[^/?#\\s]*@"));
    static const QRegularExpression secretItem(
        QStringLiteral("([?&;]%1=)[^&;#\\s\"']*").arg(kSecretKeyPattern),
        QRegularExpression::CaseInsensitiveOption);
    QString out = text;
    out.replace(userInfo, QStringLiteral("//"));
    out.replace(secretItem, QStringLiteral("\\1<hidden>"));
    return out;
}

bool isSecretQueryKey(const QString &key)
{
    static const QRegularExpression secretKey(
        QRegularExpression::anchoredPattern(kSecretKeyPattern),
        QRegularExpression::CaseInsensitiveOption);
    return secretKey.match(key).hasMatch();
}

} // namespace WebSocketUrl

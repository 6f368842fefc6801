#include "upgraderule.h"

#include <QHttpServerRequest>

UpgradeRule::UpgradeRule(const QString &path, RouterHandler handler)
    : QHttpServerRouterRule(path, std::move(handler)), m_path(path)
{
}

bool UpgradeRule::isWebSocketUpgrade(const QHttpServerRequest &request)
{
    // "Upgrade: websocket" (case-insensitive token) and a Connection header naming "upgrade".
    const QByteArray upgrade = request.value(QByteArrayLiteral("upgrade")).toLower();
    const QByteArray connection = request.value(QByteArrayLiteral("connection")).toLower();
    return upgrade.contains("websocket") && connection.contains("upgrade");
}

bool UpgradeRule::matches(const QHttpServerRequest &request, QRegularExpressionMatch *match) const
{
    Q_UNUSED(match)
    // Exact path comparison: the tunnel path is configuration, not a pattern.
    return request.method() == QHttpServerRequest::Method::Get && request.url().path() == m_path
        && isWebSocketUpgrade(request);
}

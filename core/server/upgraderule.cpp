#include "upgraderule.h"

#include <QHttpServerRequest>

UpgradeRule::UpgradeRule(const QString &pathPattern, Admit admit, RouterHandler handler)
    : QHttpServerRouterRule(pathPattern, std::move(handler)), m_admit(std::move(admit))
{
}

bool UpgradeRule::isWebSocketUpgrade(const QHttpServerRequest &request)
{
    // "Upgrade: websocket" and a Connection header naming "upgrade". Only exactly "websocket"
    // (any case): QHttpServer (6.4) hands nothing else to its WebSocket server, so admitting
    // "websocket, foo" would leave the request unanswered; it gets the plain answer instead.
    const QByteArray upgrade = request.value(QByteArrayLiteral("upgrade")).trimmed().toLower();
    const QByteArray connection = request.value(QByteArrayLiteral("connection")).toLower();
    return request.method() == QHttpServerRequest::Method::Get && upgrade == "websocket"
        && connection.contains("upgrade");
}

bool UpgradeRule::matches(const QHttpServerRequest &request, QRegularExpressionMatch *match) const
{
    Q_UNUSED(match)
    // The path pattern is not used: routes are configuration (reloadable), decided by m_admit.
    return m_admit(request);
}

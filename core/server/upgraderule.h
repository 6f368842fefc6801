// Router rule that matches only the WebSocket upgrade requests the server admits, so QHttpServer
// hands exactly those connections over as WebSockets and answers the rest through other routes
// or the missing handler.
#pragma once

#include <QHttpServerRouterRule>
#include <functional>

class UpgradeRule : public QHttpServerRouterRule
{
public:
    using Admit = std::function<bool(const QHttpServerRequest &request)>;

    // admit() is asked once per request: true hands the connection over as a WebSocket.
    UpgradeRule(const QString &pathPattern, Admit admit, RouterHandler handler);

    static bool isWebSocketUpgrade(const QHttpServerRequest &request);

protected:
    bool matches(const QHttpServerRequest &request, QRegularExpressionMatch *match) const override;

private:
    Admit m_admit;
};

// Router rule that matches only WebSocket upgrade requests on the tunnel path, so QHttpServer
// hands those connections over as WebSockets and answers everything else through other routes.
#pragma once

#include <QHttpServerRouterRule>

class UpgradeRule : public QHttpServerRouterRule
{
public:
    UpgradeRule(const QString &path, RouterHandler handler);

    static bool isWebSocketUpgrade(const QHttpServerRequest &request);

protected:
    bool matches(const QHttpServerRequest &request, QRegularExpressionMatch *match) const override;

private:
    QString m_path;
};

// Router rule for the server's own plain HTTP paths (/metrics, /healthz, /readyz): it does not
// match WebSocket upgrade requests, which Qt 6.4 would otherwise answer and then upgrade anyway.
#pragma once

#include <QHttpServerRouterRule>

class PlainRequestRule : public QHttpServerRouterRule
{
public:
    using QHttpServerRouterRule::QHttpServerRouterRule;

protected:
    bool matches(const QHttpServerRequest &request, QRegularExpressionMatch *match) const override;
};

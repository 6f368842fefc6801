#include "plainrequestrule.h"

#include "upgraderule.h"

bool PlainRequestRule::matches(const QHttpServerRequest &request,
                               QRegularExpressionMatch *match) const
{
    return !UpgradeRule::isWebSocketUpgrade(request)
        && QHttpServerRouterRule::matches(request, match);
}

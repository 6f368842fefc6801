#include "trayicons.h"

#include "tunnels/tunnelstatus.h"

namespace TrayIcons {

QIcon icon(State state)
{
    // macOS tints monochrome "template" images for light and dark menu bars.
#ifdef Q_OS_MACOS
    const QLatin1String suffix("Template");
#else
    const QLatin1String suffix("");
#endif
    QString name;
    switch (state) {
    case State::Idle:
        name = QStringLiteral("idle");
        break;
    case State::Active:
        name = QStringLiteral("active");
        break;
    case State::Error:
        name = QStringLiteral("error");
        break;
    case State::ActiveWithError:
        name = QStringLiteral("activeerror");
        break;
    }
    QIcon result(QStringLiteral(":/icons/tray/") + name + suffix + QStringLiteral(".svg"));
#ifdef Q_OS_MACOS
    result.setIsMask(true);
#endif
    return result;
}

State stateOf(const TunnelStatus &status)
{
    if (status.state == TunnelStatus::State::Error || status.serverFailing)
        return State::Error;
    return status.isRunning() ? State::Active : State::Idle;
}

QIcon forStatus(const TunnelStatus &status)
{
    return icon(stateOf(status));
}

} // namespace TrayIcons

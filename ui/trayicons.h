// The tray and state icons (SVG in resources/icons/tray), chosen from the tunnels' states.
#pragma once

#include <QIcon>

struct TunnelStatus;

namespace TrayIcons {

enum class State { Idle, Active, Error };

QIcon icon(State state);
QIcon forStatus(const TunnelStatus &status);
State stateOf(const TunnelStatus &status);

} // namespace TrayIcons

// The tray and state icons (SVG in resources/icons/tray), chosen from the tunnels' states.
#pragma once

#include <QIcon>

struct TunnelStatus;

namespace TrayIcons {

// ActiveWithError: tunnels are on and one of them fails (the green icon with the red badge).
enum class State { Idle, Active, Error, ActiveWithError };

QIcon icon(State state);
QIcon forStatus(const TunnelStatus &status);
State stateOf(const TunnelStatus &status);

} // namespace TrayIcons

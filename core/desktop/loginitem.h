// Starting the tray app at login: an XDG autostart file on Linux, a LaunchAgent on macOS, the Run
// key on Windows.
#pragma once

#include <QString>

namespace LoginItem {

// Where the entry lives on this platform (a file, or the registry key on Windows).
QString location();
bool isEnabled();
// Writes or removes the entry that starts executable at login; false with a reason on failure.
bool setEnabled(bool enabled, const QString &executable, QString *error);

} // namespace LoginItem

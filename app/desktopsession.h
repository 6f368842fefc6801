// Whether the tray app can open its windows here: on Linux and the BSDs, whether the environment
// names a display for the Qt platform plugin that would be used; elsewhere always.
#pragma once

#include <QProcessEnvironment>

namespace DesktopSession {

// False when QApplication would fail for want of a display: on Linux neither DISPLAY nor
// WAYLAND_DISPLAY is set and QT_QPA_PLATFORM names no plugin that needs none (offscreen, minimal,
// vnc, eglfs, linuxfb...). Qt itself aborts there (SIGABRT after "could not connect to display"),
// so the caller asks first, without loading Qt Gui.
bool isAvailable(const QProcessEnvironment &environment);

} // namespace DesktopSession

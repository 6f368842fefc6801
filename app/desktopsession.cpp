#include "desktopsession.h"

#include <QStringList>

namespace DesktopSession {

bool isAvailable(const QProcessEnvironment &environment)
{
#if defined(Q_OS_UNIX) && !defined(Q_OS_DARWIN) && !defined(Q_OS_ANDROID)
    const bool x11 = !environment.value(QStringLiteral("DISPLAY")).isEmpty();
    const bool wayland = !environment.value(QStringLiteral("WAYLAND_DISPLAY")).isEmpty();
    const QString platforms = environment.value(QStringLiteral("QT_QPA_PLATFORM")).trimmed();
    if (platforms.isEmpty())
        return x11 || wayland; // Qt picks xcb or wayland from the session
    // "wayland;xcb" is a list Qt tries in order; "vnc:size=800x600" carries the plugin's options.
    for (const QString &entry : platforms.split(QLatin1Char(';'), Qt::SkipEmptyParts)) {
        const QString plugin = entry.section(QLatin1Char(':'), 0, 0).trimmed().toLower();
        if (plugin == QLatin1String("xcb")) {
            if (x11)
                return true;
        } else if (plugin.startsWith(QLatin1String("wayland"))) {
            if (wayland)
                return true;
        } else if (!plugin.isEmpty()) {
            return true; // offscreen, minimal, vnc, eglfs, linuxfb...: no display server needed
        }
    }
    return false;
#else
    Q_UNUSED(environment)
    return true; // Windows and macOS: a desktop session is where the program runs
#endif
}

} // namespace DesktopSession

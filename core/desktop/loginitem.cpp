#include "loginitem.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QSettings>
#include <QStandardPaths>

namespace {

#if defined(Q_OS_WIN)
const QLatin1String kName("tcp-over-websocket");
const QLatin1String kRunKey("HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run");
#elif defined(Q_OS_MACOS)
QString fileContents(const QString &executable)
{
    QString escaped = executable.toHtmlEscaped();
    return QStringLiteral("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
                          "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
                          "<plist version=\"1.0\">\n<dict>\n"
                          "  <key>Label</key><string>org.tcp-over-websocket.tray</string>\n"
                          "  <key>ProgramArguments</key><array><string>%1</string></array>\n"
                          "  <key>RunAtLoad</key><true/>\n"
                          "</dict>\n</plist>\n")
        .arg(escaped);
}
#else
// The Exec key's quoting rules (Desktop Entry Specification, "The Exec key").
QString quotedExec(const QString &executable)
{
    QString escaped;
    for (const QChar c : executable) {
        if (c == QLatin1Char('"') || c == QLatin1Char('`') || c == QLatin1Char('$')
            || c == QLatin1Char('\\'))
            escaped += QLatin1Char('\\');
        escaped += c;
    }
    escaped.replace(QLatin1Char('%'), QStringLiteral("%%"));
    return QLatin1Char('"') + escaped + QLatin1Char('"');
}

QString fileContents(const QString &executable)
{
    return QStringLiteral("[Desktop Entry]\n"
                          "Type=Application\n"
                          "Name=tcp-over-websocket\n"
                          "Comment=Saved TCP-over-WebSocket tunnels in the system tray\n"
                          "Exec=%1\n"
                          "Icon=tcp-over-websocket\n"
                          "Terminal=false\n"
                          "X-GNOME-Autostart-enabled=true\n")
        .arg(quotedExec(executable));
}
#endif

} // namespace

namespace LoginItem {

QString location()
{
#if defined(Q_OS_WIN)
    return kRunKey + QLatin1Char('\\') + kName;
#elif defined(Q_OS_MACOS)
    return QDir::homePath()
        + QStringLiteral("/Library/LaunchAgents/org.tcp-over-websocket.tray.plist");
#else
    // $XDG_CONFIG_HOME/autostart, ~/.config/autostart by default.
    return QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation)
        + QStringLiteral("/autostart/tcp-over-websocket.desktop");
#endif
}

bool isEnabled()
{
#if defined(Q_OS_WIN)
    return QSettings(kRunKey, QSettings::NativeFormat).contains(kName);
#else
    return QFile::exists(location());
#endif
}

bool setEnabled(bool enabled, const QString &executable, QString *error)
{
#if defined(Q_OS_WIN)
    QSettings run(kRunKey, QSettings::NativeFormat);
    if (enabled)
        run.setValue(
            kName,
            QString(QLatin1Char('"') + QDir::toNativeSeparators(executable) + QLatin1Char('"')));
    else
        run.remove(kName);
    run.sync();
    if (run.status() != QSettings::NoError) {
        *error = QStringLiteral("cannot write the registry key %1").arg(location());
        return false;
    }
    return true;
#else
    const QString path = location();
    if (!enabled) {
        if (QFile::exists(path) && !QFile::remove(path)) {
            *error = QStringLiteral("cannot remove %1").arg(path);
            return false;
        }
        return true;
    }
    if (!QDir().mkpath(QFileInfo(path).absolutePath())) {
        *error = QStringLiteral("cannot create the directory of %1").arg(path);
        return false;
    }
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    file.write(fileContents(executable).toUtf8());
    if (!file.commit()) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
#endif
}

} // namespace LoginItem

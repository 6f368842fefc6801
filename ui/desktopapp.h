// The tray app's glue: the tray icon, the tunnels window, and the actions both offer (start,
// stop, start all...), over the profile store and the tunnel manager.
#pragma once

#include "profiles/profile.h"

#include <QHash>
#include <QObject>
#include <QPointer>
#include <QStringList>
#include <functional>
#include <memory>

class ProfileStore;
class QSettings;
class TunnelManager;
class TrayController;
class TunnelsWindow;

class DesktopApp : public QObject
{
    Q_OBJECT
public:
    // Runs a connection check of a profile and calls done(ok, message) once, on the event loop.
    // message: one line per step ("[ok] TLS: ...", "[failed] HTTP upgrade: ..."). The context
    // object ends the check early when it is destroyed.
    using ConnectionTester = std::function<void(const Profile &profile, QObject *context,
                                                std::function<void(bool, const QString &)> done)>;
    static constexpr int kLogLines = 200; // per tunnel, in the window's Log tab

    DesktopApp(ProfileStore *store, TunnelManager *manager, QObject *parent = nullptr);
    ~DesktopApp() override;

    // Shows the tray icon, or the window when there is no system tray (and says so). The window
    // starts hidden ("minimised to the tray") unless showWindow, or unless there is no tunnel yet
    // (first run: the window shows how to add one).
    void start(bool showWindow);
    // Starts every profile marked auto-start.
    void startAutoStartProfiles();

    // Also enables the window's Test action, which may have been built before the hook was set.
    void setConnectionTester(ConnectionTester tester);
    const ConnectionTester &connectionTester() const { return m_tester; }
    // The program started at login (LoginItem); empty disables the "Start at login" action.
    void setExecutablePath(const QString &path) { m_executable = path; }
    QString executablePath() const { return m_executable; }

    // Starting runs the connection check once in the background (when a tester is set); its
    // failure shows in the tunnel's state. Stopping a tunnel that carries connections asks first
    // (unless !ask) and closes them properly.
    void setRunning(const QString &name, bool on, bool ask = true);
    void startAll();
    void stopAll();
    void showWindow(); // raises it, also when a second launch asks
    void toggleWindow(); // the tray icon's left click: shows or hides the window
    void addTunnel(); // the tray menu's "Add Tunnel…": the window with the editor over it
    // Asks whether to close the connections of a running tunnel before it stops or restarts;
    // true when there are none or the user agrees.
    bool confirmClosingConnections(const QString &name, const QString &action);
    // Tells the user about a problem that is not tied to one tunnel (e.g. a broken profiles
    // file), without blocking: the window opens with a message box over it.
    void showProblem(const QString &title, const QString &text);
    // Why the tunnel cannot start now (it needs attention, its secrets are still being read from
    // the keychain or could not be read), or empty.
    QString whyNotStarting(const QString &name) const;

    // The tunnel's recent events (started, state changes, failures, checks), oldest first, each
    // "hh:mm:ss text".
    QStringList log(const QString &name) const { return m_logs.value(name); }
    void appendLog(const QString &name, const QString &text);

    // Window geometry, column widths, "told once" flags: beside the profiles (window.ini).
    QSettings *settings() const { return m_settings.get(); }

    ProfileStore *store() const { return m_store; }
    TunnelManager *manager() const { return m_manager; }
    TunnelsWindow *window() const { return m_window.get(); }
    TrayController *tray() const { return m_tray.get(); }

    // The first failing step of a tester's message ("HTTP upgrade: HTTP 404 ..."), or its first
    // line when no step failed.
    static QString failingStep(const QString &message);

Q_SIGNALS:
    void quitRequested();
    void logAppended(const QString &name);
    // The check run at start finished (message as the tester gives it).
    void startCheckFinished(const QString &name, bool ok, const QString &message);

private:
    void runStartCheck(const Profile &profile);
    void onStatusChanged(const QString &name);

    ProfileStore *m_store;
    TunnelManager *m_manager;
    std::unique_ptr<QSettings> m_settings;
    std::unique_ptr<TunnelsWindow> m_window;
    std::unique_ptr<TrayController> m_tray;
    ConnectionTester m_tester;
    QString m_executable;
    QHash<QString, QStringList> m_logs;
    QHash<QString, QString> m_lastStateText; // to log changes only
    QHash<QString, int> m_checkGeneration; // a check's answer counts only for its own start
};

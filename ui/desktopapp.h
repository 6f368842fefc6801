// The tray app's glue: the tray icon, the tunnels window, and the actions both offer (start,
// stop, start all...), over the profile store and the tunnel manager.
#pragma once

#include "profiles/profile.h"

#include <QObject>
#include <QPointer>
#include <functional>
#include <memory>

class ProfileStore;
class TunnelManager;
class TrayController;
class TunnelsWindow;

class DesktopApp : public QObject
{
    Q_OBJECT
public:
    // Runs a connection check of a profile and calls done(ok, message) once, on the event loop.
    // The context object ends the check early when it is destroyed.
    using ConnectionTester = std::function<void(const Profile &profile, QObject *context,
                                                std::function<void(bool, const QString &)> done)>;

    DesktopApp(ProfileStore *store, TunnelManager *manager, QObject *parent = nullptr);
    ~DesktopApp() override;

    // Shows the tray icon, or the window when there is no system tray (and says so). The window
    // starts hidden ("minimised to the tray") unless showWindow.
    void start(bool showWindow);
    // Starts every profile marked auto-start.
    void startAutoStartProfiles();

    void setConnectionTester(ConnectionTester tester) { m_tester = std::move(tester); }
    const ConnectionTester &connectionTester() const { return m_tester; }
    // The program started at login (LoginItem); empty disables the "Start at login" action.
    void setExecutablePath(const QString &path) { m_executable = path; }
    QString executablePath() const { return m_executable; }

    void setRunning(const QString &name, bool on);
    void startAll();
    void stopAll();
    void showWindow(); // raises it, also when a second launch asks
    // Tells the user about a problem that is not tied to one tunnel (e.g. a broken profiles
    // file), without blocking: the window opens with a message box over it.
    void showProblem(const QString &title, const QString &text);

    ProfileStore *store() const { return m_store; }
    TunnelManager *manager() const { return m_manager; }
    TunnelsWindow *window() const { return m_window.get(); }
    TrayController *tray() const { return m_tray.get(); }

Q_SIGNALS:
    void quitRequested();

private:
    ProfileStore *m_store;
    TunnelManager *m_manager;
    std::unique_ptr<TunnelsWindow> m_window;
    std::unique_ptr<TrayController> m_tray;
    ConnectionTester m_tester;
    QString m_executable;
};

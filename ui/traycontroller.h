// The system-tray icon: its state icon and tooltip, the menu with one checkable entry per
// profile, and notifications when a tunnel fails.
#pragma once

#include <QObject>
#include <memory>

class DesktopApp;
class QAction;
class QMenu;
class QSystemTrayIcon;

class TrayController : public QObject
{
    Q_OBJECT
public:
    explicit TrayController(DesktopApp *app);
    ~TrayController() override;

    void show();
    QSystemTrayIcon *icon() const { return m_icon; }
    QMenu *menu() const { return m_menu.get(); }
    // The checkable action of a profile, or nullptr.
    QAction *profileAction(const QString &name) const;
    // "idle", "active", "error", "active-error" (tunnels on, one failing)
    QString iconStateName() const { return m_stateName; }
    // Tells once (ever) that closing the window leaves the tunnels running in the tray.
    void tellKeepsRunningOnce();

private:
    void rebuildMenu();
    void refresh();
    void notifyFailure(const QString &name, const QString &reason);

    DesktopApp *m_app;
    std::unique_ptr<QMenu> m_menu; // a QMenu has no QObject parent here: it is a top-level widget
    QSystemTrayIcon *m_icon;
    QList<QAction *> m_profileActions;
    QAction *m_emptyAction = nullptr;
    QAction *m_startAll = nullptr;
    QAction *m_stopAll = nullptr;
    QString m_stateName;
};

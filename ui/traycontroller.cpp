#include "traycontroller.h"

#include "desktopapp.h"
#include "profiles/profilestore.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"

#include <QAction>
#include <QMenu>
#include <QSystemTrayIcon>

TrayController::TrayController(DesktopApp *app)
    : QObject(app), m_app(app), m_menu(std::make_unique<QMenu>()), m_icon(new QSystemTrayIcon(this))
{
    m_icon->setContextMenu(m_menu.get());
    connect(m_icon, &QSystemTrayIcon::activated, this,
            [this](QSystemTrayIcon::ActivationReason why) {
                // A left click opens the window, as most tray apps do; the menu stays on the right
                // click.
                if (why == QSystemTrayIcon::Trigger || why == QSystemTrayIcon::DoubleClick)
                    m_app->showWindow();
            });
    connect(app->store(), &ProfileStore::changed, this, &TrayController::rebuildMenu);
    connect(app->manager(), &TunnelManager::statusChanged, this, &TrayController::refresh);
    connect(app->manager(), &TunnelManager::tunnelFailed, this, &TrayController::notifyFailure);
    rebuildMenu();
}

TrayController::~TrayController()
{
    m_icon->setContextMenu(nullptr);
}

void TrayController::show()
{
    m_icon->show();
}

QAction *TrayController::profileAction(const QString &name) const
{
    for (QAction *action : m_profileActions) {
        if (action->data().toString() == name)
            return action;
    }
    return nullptr;
}

void TrayController::rebuildMenu()
{
    m_menu->clear();
    m_profileActions.clear();
    const QList<Profile> &profiles = m_app->store()->profiles();
    if (profiles.isEmpty()) {
        m_emptyAction = m_menu->addAction(tr("No saved tunnels"));
        m_emptyAction->setEnabled(false);
    }
    for (const Profile &profile : profiles) {
        QAction *action = m_menu->addAction(
            QString(profile.name).replace(QLatin1Char('&'), QStringLiteral("&&")));
        action->setCheckable(true);
        action->setData(profile.name);
        // triggered, not toggled: refresh() sets the check state without starting anything.
        connect(action, &QAction::triggered, this,
                [this, action](bool on) { m_app->setRunning(action->data().toString(), on); });
        m_profileActions << action;
    }
    m_menu->addSeparator();
    QAction *open = m_menu->addAction(tr("Open Tunnels Window…"), m_app, &DesktopApp::showWindow);
    m_menu->setDefaultAction(open);
    m_menu->addAction(tr("Start All"), m_app, &DesktopApp::startAll);
    m_menu->addAction(tr("Stop All"), m_app, &DesktopApp::stopAll);
    m_menu->addSeparator();
    m_menu->addAction(tr("Quit"), m_app, &DesktopApp::quitRequested);
    refresh();
}

void TrayController::refresh()
{
    int running = 0;
    int connections = 0;
    QStringList failing;
    for (QAction *action : std::as_const(m_profileActions)) {
        const QString name = action->data().toString();
        const TunnelStatus status = m_app->manager()->status(name);
        action->setChecked(status.isRunning());
        // "&" would make a mnemonic in a menu: "R&D" must read as written.
        QString label = QString(name).replace(QLatin1Char('&'), QStringLiteral("&&"));
        if (status.state == TunnelStatus::State::Active)
            label += QStringLiteral("  (%1)").arg(
                status.connections == 1 ? tr("1 connection")
                                        : tr("%1 connections").arg(status.connections));
        else if (status.state == TunnelStatus::State::Error || status.serverFailing)
            label += QStringLiteral("  (%1)").arg(tr("error"));
        else if (status.isRunning())
            label += QStringLiteral("  (%1)").arg(tr("listening"));
        action->setText(label);
        action->setToolTip(status.lastError.isEmpty() ? status.stateText() : status.lastError);
        action->setIcon(TrayIcons::forStatus(status));
        if (status.isRunning())
            ++running;
        connections += status.connections;
        if (TrayIcons::stateOf(status) == TrayIcons::State::Error)
            failing << name;
    }
    TrayIcons::State state = running > 0 ? TrayIcons::State::Active : TrayIcons::State::Idle;
    if (!failing.isEmpty())
        state = TrayIcons::State::Error;
    m_stateName = state == TrayIcons::State::Error ? QStringLiteral("error")
        : state == TrayIcons::State::Active        ? QStringLiteral("active")
                                                   : QStringLiteral("idle");
    m_icon->setIcon(TrayIcons::icon(state));
    QString tooltip = tr("tcp-over-websocket: %1 of %2 tunnels on, %3 connections")
                          .arg(running)
                          .arg(m_profileActions.size())
                          .arg(connections);
    if (!failing.isEmpty())
        tooltip += QLatin1Char('\n') + tr("Failing: %1").arg(failing.join(QStringLiteral(", ")));
    m_icon->setToolTip(tooltip);
}

void TrayController::notifyFailure(const QString &name, const QString &reason)
{
    if (!m_icon->isVisible())
        return;
    QString text = reason;
    if (!text.isEmpty())
        text[0] = text.at(0).toUpper(); // a sentence of its own in the notification
    m_icon->showMessage(tr("Tunnel “%1” failed").arg(name), text, QSystemTrayIcon::Warning);
}

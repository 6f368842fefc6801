#include "traycontroller.h"

#include "desktopapp.h"
#include "profiles/profilestore.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"

#include <QAction>
#include <QMenu>
#include <QSettings>
#include <QSystemTrayIcon>

namespace {
constexpr int kMenuReasonChars = 70; // a failing entry's reason, elided beyond this
const QLatin1String kToldKeepsRunningKey("ui/toldKeepsRunning");
} // namespace

TrayController::TrayController(DesktopApp *app)
    : QObject(app), m_app(app), m_menu(std::make_unique<QMenu>()), m_icon(new QSystemTrayIcon(this))
{
    m_icon->setContextMenu(m_menu.get());
    connect(m_icon, &QSystemTrayIcon::activated, this,
            [this](QSystemTrayIcon::ActivationReason why) {
                // A left click shows or hides the window, as most tray apps do; the menu stays on
                // the right click.
                if (why == QSystemTrayIcon::Trigger)
                    m_app->toggleWindow();
                else if (why == QSystemTrayIcon::DoubleClick)
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
        // No icon: styles draw an icon instead of the check mark, and on/off must be plain.
        action->setCheckable(true);
        action->setData(profile.name);
        // triggered, not toggled: refresh() sets the check state without starting anything.
        connect(action, &QAction::triggered, this, [this, action](bool on) {
            m_app->setRunning(action->data().toString(), on);
            refresh(); // the check mark follows the tunnel, also when the user cancelled
        });
        m_profileActions << action;
    }
    m_menu->addSeparator();
    QAction *open = m_menu->addAction(tr("Open Tunnels Window…"), m_app, &DesktopApp::showWindow);
    m_menu->setDefaultAction(open);
    QAction *add = m_menu->addAction(tr("Add Tunnel…"), m_app, &DesktopApp::addTunnel);
    add->setObjectName(QStringLiteral("addTunnel"));
    m_startAll = m_menu->addAction(tr("Start All"), m_app, &DesktopApp::startAll);
    m_stopAll = m_menu->addAction(tr("Stop All"), m_app, &DesktopApp::stopAll);
    m_menu->addSeparator();
    m_menu->addAction(tr("Quit"), m_app, &DesktopApp::quitRequested);
    refresh();
}

void TrayController::refresh()
{
    int running = 0;
    int runningFine = 0;
    int connections = 0;
    QStringList failing;
    for (QAction *action : std::as_const(m_profileActions)) {
        const QString name = action->data().toString();
        const TunnelStatus status = m_app->manager()->status(name);
        action->setChecked(status.isRunning());
        // "&" would make a mnemonic in a menu: "R&D" must read as written.
        QString label = QString(name).replace(QLatin1Char('&'), QStringLiteral("&&"));
        // The state in words beside the check mark; a failure with its reason (menus show no
        // tooltips on most desktops).
        QString state;
        if (status.state == TunnelStatus::State::Error || status.serverFailing) {
            QString reason = status.lastError;
            if (reason.size() > kMenuReasonChars)
                reason = reason.left(kMenuReasonChars - 1).trimmed() + QStringLiteral("…");
            reason.replace(QLatin1Char('&'), QStringLiteral("&&"));
            state = reason.isEmpty() ? tr("failed") : tr("failed: %1").arg(reason);
        } else if (status.state == TunnelStatus::State::Active) {
            state = tr("%n connection(s)", nullptr, status.connections);
        } else if (status.isRunning()) {
            state = tr("listening");
        } else if (!m_app->store()->problem(name).isEmpty()) {
            state = tr("needs attention"); // the window's State column says why
        }
        if (!state.isEmpty())
            label += QStringLiteral(" — ") + state;
        action->setText(label);
        action->setToolTip(status.lastError.isEmpty() ? status.stateText() : status.lastError);
        if (status.isRunning())
            ++running;
        if (status.isRunning() && !status.serverFailing)
            ++runningFine;
        connections += status.connections;
        if (TrayIcons::stateOf(status) == TrayIcons::State::Error)
            failing << name;
    }
    // Green while a tunnel works; the red badge when one fails; grey with the badge when nothing
    // works.
    TrayIcons::State state = running > 0 ? TrayIcons::State::Active : TrayIcons::State::Idle;
    if (!failing.isEmpty())
        state = runningFine > 0 ? TrayIcons::State::ActiveWithError : TrayIcons::State::Error;
    switch (state) {
    case TrayIcons::State::Idle:
        m_stateName = QStringLiteral("idle");
        break;
    case TrayIcons::State::Active:
        m_stateName = QStringLiteral("active");
        break;
    case TrayIcons::State::Error:
        m_stateName = QStringLiteral("error");
        break;
    case TrayIcons::State::ActiveWithError:
        m_stateName = QStringLiteral("active-error");
        break;
    }
    m_startAll->setEnabled(running < m_profileActions.size());
    m_stopAll->setEnabled(running > 0);
    m_icon->setIcon(TrayIcons::icon(state));
    // Each count in a text of its own: a text has one plural form, decided by its %n.
    QString tooltip =
        tr("tcp-over-websocket: %1, %2")
            .arg(tr("%1 of %n tunnel(s) on", nullptr, int(m_profileActions.size())).arg(running),
                 tr("%n connection(s)", nullptr, connections));
    if (!failing.isEmpty())
        tooltip += QLatin1Char('\n') + tr("Failing: %1").arg(failing.join(QStringLiteral(", ")));
    m_icon->setToolTip(tooltip);
}

void TrayController::tellKeepsRunningOnce()
{
    QSettings *settings = m_app->settings();
    if (!m_icon->isVisible() || settings->value(kToldKeepsRunningKey).toBool())
        return;
    settings->setValue(kToldKeepsRunningKey, true);
    settings->sync();
    m_icon->showMessage(tr("tcp-over-websocket keeps running"),
                        tr("The tunnels stay on in the system tray. To end them, choose Quit in "
                           "the tray menu."),
                        QSystemTrayIcon::Information);
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

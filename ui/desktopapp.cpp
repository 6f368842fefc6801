#include "desktopapp.h"

#include "logcategories.h"
#include "profiles/profilestore.h"
#include "traycontroller.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"
#include "tunnelswindow.h"

#include <QMessageBox>
#include <QSystemTrayIcon>

// Q_INIT_RESOURCE must be called outside any namespace; the icons live in a static library.
static void initResources()
{
    Q_INIT_RESOURCE(tray);
}

DesktopApp::DesktopApp(ProfileStore *store, TunnelManager *manager, QObject *parent)
    : QObject(parent), m_store(store), m_manager(manager)
{
    initResources();
    if (TrayIcons::icon(TrayIcons::State::Idle).pixmap(16, 16).isNull())
        qCWarning(lcUi) << "the tray icons cannot be drawn: Qt's SVG plugin is missing (Debian: "
                           "libqt6svg6)";
    m_window = std::make_unique<TunnelsWindow>(this);
    m_tray = std::make_unique<TrayController>(this);
}

DesktopApp::~DesktopApp() = default;

void DesktopApp::start(bool showWindowAtStart)
{
    if (QSystemTrayIcon::isSystemTrayAvailable()) {
        m_tray->show();
        if (showWindowAtStart)
            showWindow();
        return;
    }
    qCInfo(lcUi) << "no system tray: showing the tunnels window instead";
    m_window->setNoTrayNotice(true);
    showWindow();
}

void DesktopApp::startAutoStartProfiles()
{
    for (const Profile &profile : m_store->profiles()) {
        if (profile.autoStart && m_store->problem(profile.name).isEmpty())
            m_manager->start(profile);
    }
}

void DesktopApp::setRunning(const QString &name, bool on)
{
    if (!on) {
        m_manager->stop(name);
        return;
    }
    const QString problem = m_store->problem(name);
    if (!problem.isEmpty()) {
        showProblem(tr("“%1” needs attention").arg(name),
                    tr("%1.\n\nEdit the tunnel to fix it; it can start then.").arg(problem));
        return;
    }
    if (const auto profile = m_store->profile(name))
        m_manager->start(*profile);
}

void DesktopApp::startAll()
{
    for (const Profile &profile : m_store->profiles()) {
        if (!m_manager->isRunning(profile.name) && m_store->problem(profile.name).isEmpty())
            m_manager->start(profile);
    }
}

void DesktopApp::stopAll()
{
    m_manager->stopAll();
}

void DesktopApp::showWindow()
{
    m_window->showNormal();
    m_window->raise();
    m_window->activateWindow();
}

void DesktopApp::showProblem(const QString &title, const QString &text)
{
    showWindow();
    auto *box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, m_window.get());
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setWindowModality(Qt::NonModal);
    box->show();
}

#include "desktopapp.h"

#include "logcategories.h"
#include "profiles/profilestore.h"
#include "traycontroller.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"
#include "tunnelswindow.h"

#include <QDir>
#include <QMessageBox>
#include <QSettings>
#include <QSystemTrayIcon>
#include <QTime>

// Q_INIT_RESOURCE must be called outside any namespace; the icons live in a static library.
static void initResources()
{
    Q_INIT_RESOURCE(tray);
}

DesktopApp::DesktopApp(ProfileStore *store, TunnelManager *manager, QObject *parent)
    : QObject(parent),
      m_store(store),
      m_manager(manager),
      m_settings(std::make_unique<QSettings>(
          QDir(store->directory()).filePath(QStringLiteral("window.ini")), QSettings::IniFormat))
{
    initResources();
    if (TrayIcons::icon(TrayIcons::State::Idle).pixmap(16, 16).isNull())
        qCWarning(lcUi) << "the tray icons cannot be drawn: Qt's SVG plugin is missing (Debian: "
                           "libqt6svg6)";
    connect(manager, &TunnelManager::statusChanged, this, &DesktopApp::onStatusChanged);
    connect(manager, &TunnelManager::tunnelFailed, this,
            [this](const QString &name, const QString &reason) {
                appendLog(name, tr("Failed: %1").arg(reason));
            });
    m_window = std::make_unique<TunnelsWindow>(this);
    m_tray = std::make_unique<TrayController>(this);
}

DesktopApp::~DesktopApp() = default;

void DesktopApp::start(bool showWindowAtStart)
{
    if (QSystemTrayIcon::isSystemTrayAvailable()) {
        m_tray->show();
        // First run: a grey icon alone says nothing; the window shows how to add a tunnel.
        if (showWindowAtStart || m_store->profiles().isEmpty())
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
        if (profile.autoStart && whyNotStarting(profile.name).isEmpty()
            && m_manager->start(profile))
            runStartCheck(profile);
    }
}

QString DesktopApp::whyNotStarting(const QString &name) const
{
    const QString problem = m_store->problem(name);
    if (!problem.isEmpty())
        return tr("%1; edit the tunnel to fix it").arg(problem);
    // Never without its token: it would only be refused by the server.
    if (m_store->secretsLoading())
        return tr("its token and passwords are still being read from the keychain; try again in "
                  "a moment");
    const QString secrets = m_store->secretsProblem(name);
    if (!secrets.isEmpty())
        return tr("its token and passwords could not be read (%1); unlock the keychain and "
                  "restart the app, or edit the tunnel and enter them again")
            .arg(secrets);
    return QString();
}

void DesktopApp::setConnectionTester(ConnectionTester tester)
{
    m_tester = std::move(tester);
    m_window->refreshActions();
}

void DesktopApp::setRunning(const QString &name, bool on, bool ask)
{
    if (!on) {
        if (ask && !confirmClosingConnections(name, tr("Stop")))
            return;
        m_manager->stop(name);
        return;
    }
    const QString problem = m_store->problem(name);
    if (!problem.isEmpty()) {
        showProblem(tr("“%1” needs attention").arg(name),
                    tr("%1.\n\nEdit the tunnel to fix it; it can start then.").arg(problem));
        return;
    }
    const QString why = whyNotStarting(name);
    if (!why.isEmpty()) {
        showProblem(tr("“%1” cannot start").arg(name), why + QLatin1Char('.'));
        return;
    }
    if (const auto profile = m_store->profile(name)) {
        if (m_manager->start(*profile))
            runStartCheck(*profile);
    }
}

void DesktopApp::startAll()
{
    QStringList notStarted; // for want of their secrets; needing attention shows in the list
    for (const Profile &profile : m_store->profiles()) {
        if (m_manager->isRunning(profile.name) || !m_store->problem(profile.name).isEmpty())
            continue;
        const QString why = whyNotStarting(profile.name);
        if (!why.isEmpty())
            notStarted << tr("“%1”: %2").arg(profile.name, why);
        else if (m_manager->start(profile))
            runStartCheck(profile);
    }
    if (!notStarted.isEmpty())
        showProblem(tr("Some tunnels cannot start"), notStarted.join(QLatin1Char('\n')));
}

void DesktopApp::stopAll()
{
    int connections = 0;
    for (const QString &name : m_manager->runningNames())
        connections += m_manager->status(name).connections;
    if (connections > 0
        && QMessageBox::question(
               m_window.get(), tr("Stop all tunnels"),
               tr("Stop all tunnels? %n open connection(s) will be closed.", nullptr, connections),
               QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel)
            != QMessageBox::Yes)
        return;
    m_manager->stopAll();
}

bool DesktopApp::confirmClosingConnections(const QString &name, const QString &action)
{
    const int connections = m_manager->status(name).connections;
    if (connections <= 0)
        return true;
    return QMessageBox::question(
               m_window.get(), tr("%1 “%2”").arg(action, name),
               tr("“%1” carries %n open connection(s).", nullptr, connections).arg(name)
                   + QLatin1Char(' ')
                   + tr("It will be closed after what is in flight is "
                        "delivered. Continue?"),
               QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel)
        == QMessageBox::Yes;
}

void DesktopApp::runStartCheck(const Profile &profile)
{
    if (!m_tester)
        return;
    const QString name = profile.name;
    const int generation = ++m_checkGeneration[name];
    m_tester(profile, this, [this, name, generation](bool ok, const QString &message) {
        if (m_checkGeneration.value(name) != generation)
            return; // restarted (or stopped and started) meanwhile: a newer check decides
        appendLog(name,
                  ok ? tr("Server check passed")
                     : tr("Server check failed: %1").arg(failingStep(message)));
        m_manager->reportServerCheck(name, ok, ok ? QString() : failingStep(message));
        Q_EMIT startCheckFinished(name, ok, message);
    });
}

QString DesktopApp::failingStep(const QString &message)
{
    static const QLatin1String failed("[failed] ");
    const QStringList lines = message.split(QLatin1Char('\n'));
    for (const QString &line : lines) {
        if (line.startsWith(failed))
            return line.mid(failed.size());
    }
    return lines.value(0);
}

void DesktopApp::onStatusChanged(const QString &name)
{
    const QString text = m_manager->status(name).stateText();
    const auto previous = m_lastStateText.constFind(name);
    if (previous != m_lastStateText.constEnd() && *previous == text)
        return;
    // Rates change every second; the log keeps state changes only.
    m_lastStateText.insert(name, text);
    appendLog(name, text);
}

void DesktopApp::appendLog(const QString &name, const QString &text)
{
    QStringList &lines = m_logs[name];
    lines.append(QTime::currentTime().toString(QStringLiteral("HH:mm:ss ")) + text);
    while (lines.size() > kLogLines)
        lines.removeFirst();
    Q_EMIT logAppended(name);
}

void DesktopApp::showWindow()
{
    m_window->showNormal();
    m_window->raise();
    m_window->activateWindow();
}

void DesktopApp::toggleWindow()
{
    if (m_window->isVisible() && !m_window->isMinimized())
        m_window->hide();
    else
        showWindow();
}

void DesktopApp::addTunnel()
{
    showWindow();
    m_window->addProfile();
}

void DesktopApp::showProblem(const QString &title, const QString &text)
{
    showWindow();
    auto *box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, m_window.get());
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setWindowModality(Qt::NonModal);
    box->show();
}

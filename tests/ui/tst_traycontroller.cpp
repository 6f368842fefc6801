// The tray menu: one checkable entry per profile that follows the profiles, shows state and
// connection count (and a failure's reason), and starts and stops the tunnel when toggled (asking
// first when it carries connections); Add Tunnel…, Start All and Stop All (disabled when there is
// nothing to start or stop); the icon state and tooltip; a left click shows and hides the window.
#include "profileeditor.h"
#include "traycontroller.h"
#include "tunnelswindow.h"
#include "uitestbase.h"

#include <QAction>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSystemTrayIcon>

class TestTrayController : public QObject, public UiTestBase
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(Translations::install(QCoreApplication::instance()));
        QVERIFY(startServer());
    }
    void cleanupTestCase() { QCOMPARE(server.stop(), 0); }
    void init() { createApp(); }
    void cleanup() { destroyApp(); }
    void menuFollowsProfiles();
    void togglingStartsAndStops();
    void errorStateAndStartStopAll();
    void quitAndOpenWindow();
    void addTunnelOpensTheEditor();
    void leftClickTogglesTheWindow();
};

namespace {

QStringList menuTexts(QMenu *menu)
{
    QStringList texts;
    for (QAction *action : menu->actions())
        texts << (action->isSeparator() ? QStringLiteral("--") : action->text());
    return texts;
}

QAction *menuAction(QMenu *menu, const QString &text)
{
    for (QAction *action : menu->actions()) {
        if (action->text() == text)
            return action;
    }
    return nullptr;
}

} // namespace

void TestTrayController::menuFollowsProfiles()
{
    TrayController *tray = app->tray();
    QCOMPARE(menuTexts(tray->menu()),
             QStringList({QStringLiteral("No saved tunnels"), QStringLiteral("--"),
                          QStringLiteral("Open Tunnels Window…"), QStringLiteral("Add Tunnel…"),
                          QStringLiteral("Start All"), QStringLiteral("Stop All"),
                          QStringLiteral("--"), QStringLiteral("Quit")}));
    // Nothing to start or stop.
    QVERIFY(!menuAction(tray->menu(), QStringLiteral("Start All"))->isEnabled());
    QVERIFY(!menuAction(tray->menu(), QStringLiteral("Stop All"))->isEnabled());
    QString error;
    QVERIFY(store->add(profile(QStringLiteral("SSH home")), &error));
    QVERIFY(store->add(profile(QStringLiteral("RDP office")), &error));
    QStringList texts = menuTexts(tray->menu());
    QCOMPARE(texts.mid(0, 3),
             QStringList(
                 {QStringLiteral("SSH home"), QStringLiteral("RDP office"), QStringLiteral("--")}));
    QVERIFY(tray->profileAction(QStringLiteral("SSH home"))->isCheckable());
    QVERIFY(!tray->profileAction(QStringLiteral("SSH home"))->isChecked());
    // A check mark, not an icon (styles draw an icon in place of the check mark).
    QVERIFY(tray->profileAction(QStringLiteral("SSH home"))->icon().isNull());
    QVERIFY(menuAction(tray->menu(), QStringLiteral("Start All"))->isEnabled());
    QVERIFY(!menuAction(tray->menu(), QStringLiteral("Stop All"))->isEnabled());

    QVERIFY(store->rename(QStringLiteral("SSH home"), QStringLiteral("SSH"), &error));
    QVERIFY(tray->profileAction(QStringLiteral("SSH")));
    QVERIFY(!tray->profileAction(QStringLiteral("SSH home")));
    QVERIFY(store->remove(QStringLiteral("RDP office"), &error));
    texts = menuTexts(tray->menu());
    QCOMPARE(texts.first(), QStringLiteral("SSH"));
    QVERIFY(!texts.contains(QStringLiteral("RDP office")));
    QCOMPARE(tray->iconStateName(), QStringLiteral("idle"));
    // An "&" in a name is shown, not turned into a keyboard mnemonic.
    QVERIFY(store->add(profile(QStringLiteral("R&D")), &error));
    QCOMPARE(tray->profileAction(QStringLiteral("R&D"))->text(), QStringLiteral("R&&D"));
    QVERIFY(store->remove(QStringLiteral("R&D"), &error));
    // Drawn, not just named: the SVG plugin (libqt6svg6) renders the icons.
    QVERIFY(!tray->icon()->icon().pixmap(22, 22).isNull());
    QVERIFY(tray->icon()->toolTip().contains(QStringLiteral("0 of 1 tunnel on")));
}

void TestTrayController::togglingStartsAndStops()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    TrayController *tray = app->tray();
    QAction *action = tray->profileAction(ssh.name);
    action->trigger(); // what a click on the entry does
    QVERIFY(manager->isRunning(ssh.name));
    QVERIFY(action->isChecked());
    QCOMPARE(action->text(), QStringLiteral("SSH — listening"));
    QCOMPARE(tray->iconStateName(), QStringLiteral("active"));
    QVERIFY(tray->icon()->toolTip().contains(QStringLiteral("1 of 1 tunnel on, 0 connections")));

    QTcpSocket first;
    QTcpSocket second;
    first.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    QTRY_COMPARE_WITH_TIMEOUT(action->text(), QStringLiteral("SSH — 1 connection"), kUiTimeoutMs);
    QVERIFY(tray->icon()->toolTip().contains(QStringLiteral("1 of 1 tunnel on, 1 connection")));
    second.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    QTRY_COMPARE_WITH_TIMEOUT(action->text(), QStringLiteral("SSH — 2 connections"), kUiTimeoutMs);
    QVERIFY(tray->icon()->toolTip().contains(QStringLiteral("2 connections")));

    // Stopping would close two connections: it asks first; "Cancel" keeps the tunnel on.
    QString question;
    whenModalOpens([&](QWidget *modal) {
        auto *box = qobject_cast<QMessageBox *>(modal);
        question = box ? box->text() : QString();
        if (box)
            box->button(QMessageBox::Cancel)->click();
        else
            modal->close();
    });
    action->trigger();
    QVERIFY2(question.contains(QStringLiteral("2 open connections")), qPrintable(question));
    QVERIFY(manager->isRunning(ssh.name));
    QVERIFY(action->isChecked());
    whenModalOpens([](QWidget *modal) {
        if (auto *box = qobject_cast<QMessageBox *>(modal))
            box->button(QMessageBox::Yes)->click();
        else
            modal->close();
    });
    action->trigger();
    QVERIFY(!manager->isRunning(ssh.name));
    QVERIFY(!action->isChecked());
    QCOMPARE(action->text(), QStringLiteral("SSH"));
    QCOMPARE(tray->iconStateName(), QStringLiteral("idle"));
    QTRY_COMPARE_WITH_TIMEOUT(first.state(), QAbstractSocket::UnconnectedState, kUiTimeoutMs);
}

void TestTrayController::errorStateAndStartStopAll()
{
    QTcpServer occupant;
    QVERIFY(occupant.listen(QHostAddress::LocalHost, 0));
    Profile busy = profile(QStringLiteral("Busy"));
    busy.listen = QStringLiteral("127.0.0.1:%1").arg(occupant.serverPort());
    const Profile fine = profile(QStringLiteral("Fine"));
    QString error;
    QVERIFY(store->add(busy, &error));
    QVERIFY(store->add(fine, &error));
    TrayController *tray = app->tray();
    QAction *startAll = nullptr;
    QAction *stopAll = nullptr;
    for (QAction *action : tray->menu()->actions()) {
        if (action->text() == QLatin1String("Start All"))
            startAll = action;
        if (action->text() == QLatin1String("Stop All"))
            stopAll = action;
    }
    QVERIFY(startAll && stopAll);
    startAll->trigger();
    QVERIFY(manager->isRunning(fine.name));
    QVERIFY(!manager->isRunning(busy.name));
    // One up, one failed: the green icon with the red badge.
    QCOMPARE(tray->iconStateName(), QStringLiteral("active-error"));
    // The reason is in the entry itself: menus show no tooltips on most desktops.
    const QString busyText = tray->profileAction(busy.name)->text();
    QVERIFY2(busyText.startsWith(QStringLiteral("Busy — failed: local port %1 is already in use")
                                     .arg(occupant.serverPort())),
             qPrintable(busyText));
    QVERIFY(tray->profileAction(busy.name)->toolTip().contains(QStringLiteral("already in use")));
    QVERIFY(tray->icon()->toolTip().contains(QStringLiteral("Failing: Busy")));
    QVERIFY(startAll->isEnabled()); // Busy is not running: it can be started again
    QVERIFY(stopAll->isEnabled());
    // Stop All with a connection open asks first, counting it.
    QTcpSocket connection;
    connection.connectToHost(QHostAddress::LocalHost, portOf(fine));
    QTRY_COMPARE_WITH_TIMEOUT(manager->status(fine.name).connections, 1, kUiTimeoutMs);
    QString question;
    whenModalOpens([&](QWidget *modal) {
        auto *box = qobject_cast<QMessageBox *>(modal);
        question = box ? box->text() : QString();
        if (box)
            box->button(QMessageBox::Yes)->click();
        else
            modal->close();
    });
    stopAll->trigger();
    QCOMPARE(question, QStringLiteral("Stop all tunnels? 1 open connection will be closed."));
    QTRY_VERIFY_WITH_TIMEOUT(manager->runningNames().isEmpty(), kUiTimeoutMs);
    QVERIFY(!stopAll->isEnabled());
    QCOMPARE(tray->iconStateName(), QStringLiteral("idle"));
    // Only a failed one: grey with the badge.
    tray->profileAction(busy.name)->trigger();
    QCOMPARE(tray->iconStateName(), QStringLiteral("error"));
}

void TestTrayController::addTunnelOpensTheEditor()
{
    QAction *add = app->tray()->menu()->findChild<QAction *>(QStringLiteral("addTunnel"));
    QVERIFY(add);
    bool editorShown = false;
    bool windowShown = false;
    whenModalOpens([&](QWidget *modal) {
        editorShown = qobject_cast<ProfileEditor *>(modal) != nullptr;
        windowShown = app->window()->isVisible();
        modal->close();
    });
    add->trigger();
    QVERIFY(editorShown);
    QVERIFY(windowShown);
    QVERIFY(store->profiles().isEmpty()); // cancelled
}

void TestTrayController::leftClickTogglesTheWindow()
{
    QSystemTrayIcon *icon = app->tray()->icon();
    QVERIFY(!app->window()->isVisible());
    Q_EMIT icon->activated(QSystemTrayIcon::Trigger);
    QVERIFY(app->window()->isVisible());
    Q_EMIT icon->activated(QSystemTrayIcon::Trigger);
    QVERIFY(!app->window()->isVisible());
    Q_EMIT icon->activated(QSystemTrayIcon::DoubleClick); // only shows
    QVERIFY(app->window()->isVisible());
}

void TestTrayController::quitAndOpenWindow()
{
    QSignalSpy quit(app.get(), &DesktopApp::quitRequested);
    for (QAction *action : app->tray()->menu()->actions()) {
        if (action->text() == QLatin1String("Quit"))
            action->trigger();
        if (action->text().startsWith(QLatin1String("Open Tunnels Window")))
            action->trigger();
    }
    QCOMPARE(quit.size(), 1);
    QVERIFY(app->window()->isVisible());
}

QTEST_MAIN(TestTrayController)
#include "tst_traycontroller.moc"

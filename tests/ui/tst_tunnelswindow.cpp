// The tunnels window: selection drives the actions and the traffic graph, import and export go
// through the store, and "Test" reports a real WebSocket check of the selected profile.
#include "profileeditor.h"
#include "trafficgraph.h"
#include "tunnels/connectionprobe.h"
#include "tunnelswindow.h"
#include "tunneltablemodel.h"
#include "uitestbase.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSystemTrayIcon>
#include <QTableView>
#include <QTimer>

class TestTunnelsWindow : public QObject, public UiTestBase
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QVERIFY(startServer()); }
    void cleanupTestCase() { QCOMPARE(server.stop(), 0); }
    void init();
    void cleanup() { destroyApp(); }
    void selectionDrivesActionsAndGraph();
    void importAndExport();
    void testButtonChecksTheServer();
    void noTrayShowsWindowAndNotice();
    void editRunningTunnelRestartsIt();
    void duplicateAndDelete();
    void badProfileNeedsAttention();
    void importWithBadProfile();

private:
    TunnelTableModel *model() const { return app->window()->model(); }
    QAction *action(const QString &objectName) const
    {
        return app->window()->findChild<QAction *>(objectName);
    }
};

void TestTunnelsWindow::init()
{
    createApp();
    // The same hook the tray app's entry point (app/trayentry.cpp) installs.
    app->setConnectionTester(&ConnectionProbe::run);
}

void TestTunnelsWindow::selectionDrivesActionsAndGraph()
{
    TunnelsWindow *window = app->window();
    window->show();
    // Nothing to act on yet.
    QVERIFY(!action(QStringLiteral("toggle"))->isEnabled());
    QVERIFY(!action(QStringLiteral("test"))->isEnabled());
    QVERIFY(action(QStringLiteral("add"))->isEnabled());
    QCOMPARE(action(QStringLiteral("add"))->shortcut(), QKeySequence(QKeySequence::New));

    const Profile other = profile(QStringLiteral("Other"));
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(other, &error));
    // The first tunnel is selected, so the shortcuts act at once.
    QCOMPARE(window->selectedName(), other.name);
    QVERIFY(action(QStringLiteral("toggle"))->isEnabled());
    QVERIFY(store->add(ssh, &error));
    window->selectName(ssh.name);
    QCOMPARE(window->selectedName(), ssh.name);
    QVERIFY(action(QStringLiteral("toggle"))->isEnabled());
    QCOMPARE(action(QStringLiteral("toggle"))->text(), QStringLiteral("&Start"));
    action(QStringLiteral("toggle"))->trigger();
    QVERIFY(manager->isRunning(ssh.name));
    QCOMPARE(action(QStringLiteral("toggle"))->text(), QStringLiteral("&Stop"));

    QTcpSocket socket;
    QByteArray echoed;
    connect(&socket, &QTcpSocket::readyRead, this, [&] { echoed += socket.readAll(); });
    socket.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    socket.write(QByteArray(50000, 'y'));
    QTRY_COMPARE_WITH_TIMEOUT(echoed.size(), 50000, kUiTimeoutMs);
    // The graph of the selected tunnel gets its rate samples as they come.
    QTRY_VERIFY_WITH_TIMEOUT(!window->graph()->samples().isEmpty(), kUiTimeoutMs);
    QVERIFY(!window->graph()->grab().isNull());
    action(QStringLiteral("toggle"))->trigger();
    QVERIFY(!manager->isRunning(ssh.name));
}

void TestTunnelsWindow::importAndExport()
{
    Profile ssh = profile(QStringLiteral("SSH"));
    ssh.token = QStringLiteral("tok-123");
    QString error;
    QVERIFY(store->add(ssh, &error));
    TunnelsWindow *window = app->window();
    const QString path = directory.filePath(QStringLiteral("export.json"));
    QVERIFY(window->exportTo({ssh.name}, path, false));
    QVERIFY(window->statusText().contains(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(!file.readAll().contains("tok-123"));
    file.close();

    QVERIFY(window->importFrom(path));
    QCOMPARE(store->names(),
             QStringList({QStringLiteral("SSH"), QStringLiteral("SSH (imported)")}));
    QCOMPARE(window->selectedName(), QStringLiteral("SSH (imported)"));
    QVERIFY(window->statusText().contains(QStringLiteral("Imported 1 tunnel")));

    QVERIFY(!window->importFrom(directory.filePath(QStringLiteral("missing.json"))));
    QVERIFY2(window->statusText().contains(QStringLiteral("Import failed")),
             qPrintable(window->statusText()));
}

void TestTunnelsWindow::testButtonChecksTheServer()
{
    const Profile good = profile(QStringLiteral("Good"));
    Profile bad = profile(QStringLiteral("Bad"));
    bad.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(reserveLoopbackPort());
    QString error;
    QVERIFY(store->add(good, &error));
    QVERIFY(store->add(bad, &error));
    TunnelsWindow *window = app->window();

    window->selectName(good.name);
    QVERIFY(action(QStringLiteral("test"))->isEnabled());
    action(QStringLiteral("test"))->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(window->statusText().contains(QStringLiteral("passed")), kUiTimeoutMs);
    QVERIFY2(window->statusText().contains(QStringLiteral("accepted the WebSocket upgrade")),
             qPrintable(window->statusText()));
    QTRY_VERIFY_WITH_TIMEOUT(action(QStringLiteral("test"))->isEnabled(), kUiTimeoutMs);

    window->selectName(bad.name);
    action(QStringLiteral("test"))->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(window->statusText().contains(QStringLiteral("failed")), kUiTimeoutMs);
    QVERIFY2(window->statusText().contains(QStringLiteral("refused")),
             qPrintable(window->statusText()));
}

void TestTunnelsWindow::noTrayShowsWindowAndNotice()
{
    // The offscreen platform has no system tray: the window opens and says why.
    QVERIFY(!QSystemTrayIcon::isSystemTrayAvailable());
    app->start(false);
    QVERIFY(app->window()->isVisible());
    auto *notice = app->window()->findChild<QLabel *>(QStringLiteral("noTrayNotice"));
    QVERIFY(notice && notice->isVisible());
    QVERIFY(notice->text().contains(QStringLiteral("No system tray")));
}

namespace {

// Runs work on the next modal dialog once it is open (the actions open them with exec()).
void whenModalOpens(std::function<void(QWidget *)> work)
{
    auto *timer = new QTimer;
    timer->setInterval(50);
    QObject::connect(timer, &QTimer::timeout, timer, [timer, work] {
        if (QWidget *modal = QApplication::activeModalWidget()) {
            timer->deleteLater();
            timer->stop();
            work(modal);
        }
    });
    timer->start();
}

} // namespace

void TestTunnelsWindow::editRunningTunnelRestartsIt()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    app->setRunning(ssh.name, true);
    QVERIFY(manager->isRunning(ssh.name));
    TunnelsWindow *window = app->window();
    window->show();
    window->selectName(ssh.name);

    const quint16 newPort = reserveLoopbackPort();
    bool edited = false;
    whenModalOpens([&](QWidget *modal) {
        auto *editor = qobject_cast<ProfileEditor *>(modal);
        if (!editor) {
            modal->close();
            return;
        }
        editor->findChild<QLineEdit *>(QStringLiteral("name"))->setText(QStringLiteral("SSH home"));
        editor->findChild<QLineEdit *>(QStringLiteral("listen"))
            ->setText(QStringLiteral("127.0.0.1:%1").arg(newPort));
        edited = editor->isValid();
        editor->accept();
    });
    action(QStringLiteral("edit"))->trigger();
    QVERIFY(edited);
    QCOMPARE(store->names(), QStringList {QStringLiteral("SSH home")});
    QVERIFY(!manager->isRunning(ssh.name));
    QVERIFY(manager->isRunning(QStringLiteral("SSH home")));
    QCOMPARE(manager->status(QStringLiteral("SSH home")).listenAddress,
             QStringLiteral("127.0.0.1:%1").arg(newPort));
    QCOMPARE(window->selectedName(), QStringLiteral("SSH home"));
    // The old port is free again.
    QTcpServer reuse;
    QVERIFY(reuse.listen(QHostAddress::LocalHost, portOf(ssh)));
}

void TestTunnelsWindow::duplicateAndDelete()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    TunnelsWindow *window = app->window();
    window->selectName(ssh.name);
    action(QStringLiteral("duplicate"))->trigger();
    QCOMPARE(store->names(), QStringList({QStringLiteral("SSH"), QStringLiteral("SSH (copy)")}));
    QCOMPARE(window->selectedName(), QStringLiteral("SSH (copy)"));
    // The copy listens on a port of its own: both start.
    const Profile copy = *store->profile(QStringLiteral("SSH (copy)"));
    QCOMPARE(portOf(copy), portOf(ssh) + 1);
    QVERIFY2(window->statusText().contains(copy.listen), qPrintable(window->statusText()));
    QCOMPARE(store->problem(copy.name), QString());
    QCOMPARE(model()->data(model()->index(1, TunnelTableModel::State)).toString(),
             QStringLiteral("Stopped"));

    app->setRunning(QStringLiteral("SSH (copy)"), true);
    whenModalOpens([](QWidget *modal) {
        auto *box = qobject_cast<QMessageBox *>(modal);
        if (box)
            box->button(QMessageBox::Yes)->click();
        else
            modal->close();
    });
    action(QStringLiteral("delete"))->trigger();
    QCOMPARE(store->names(), QStringList {QStringLiteral("SSH")});
    QVERIFY(manager->runningNames().isEmpty());
}

namespace {

bool writeFile(const QString &path, const QByteArray &content)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(content) == content.size();
}

} // namespace

void TestTunnelsWindow::badProfileNeedsAttention()
{
    // One bad field used to drop every profile at load.
    const Profile good = profile(QStringLiteral("Good"));
    QVERIFY(writeFile(store->filePath(),
                      QStringLiteral(R"({"schema": 1, "profiles": [
        {"name": "Bad", "listen": "127.0.0.1:99999", "server": "%1"},
        {"name": "Good", "listen": "%2", "server": "%1"}]})")
                          .arg(good.serverUrl, good.listen)
                          .toUtf8()));
    QString error;
    QVERIFY2(store->load(&error), qPrintable(error));
    QCOMPARE(store->names(), QStringList({QStringLiteral("Bad"), QStringLiteral("Good")}));
    TunnelsWindow *window = app->window();
    const QModelIndex badState = model()->index(0, TunnelTableModel::State);
    QCOMPARE(badState.data().toString(), QStringLiteral("Needs attention"));
    const QString tooltip = badState.data(Qt::ToolTipRole).toString();
    QVERIFY2(tooltip.contains(QStringLiteral("port 99999 is out of range")), qPrintable(tooltip));
    QCOMPARE(model()->index(0, TunnelTableModel::Name).data(Qt::ToolTipRole).toString(), tooltip);
    QCOMPARE(model()->index(1, TunnelTableModel::State).data().toString(),
             QStringLiteral("Stopped"));

    window->selectName(QStringLiteral("Bad"));
    QVERIFY(!action(QStringLiteral("toggle"))->isEnabled());
    QVERIFY(!action(QStringLiteral("test"))->isEnabled());
    QVERIFY(action(QStringLiteral("edit"))->isEnabled());
    app->setRunning(QStringLiteral("Bad"), true); // the tray menu's way
    app->startAll();
    QVERIFY(!manager->isRunning(QStringLiteral("Bad")));
    QVERIFY(manager->isRunning(QStringLiteral("Good")));
    window->selectName(QStringLiteral("Good"));
    QVERIFY(action(QStringLiteral("toggle"))->isEnabled());

    // Fixed in the editor, it starts.
    Profile fixed = *store->profile(QStringLiteral("Bad"));
    fixed.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    QVERIFY2(store->update(QStringLiteral("Bad"), fixed, &error), qPrintable(error));
    QCOMPARE(model()->index(0, TunnelTableModel::State).data().toString(),
             QStringLiteral("Stopped"));
    window->selectName(QStringLiteral("Bad"));
    QVERIFY(action(QStringLiteral("toggle"))->isEnabled());
    action(QStringLiteral("toggle"))->trigger();
    QVERIFY(manager->isRunning(QStringLiteral("Bad")));
    app->stopAll();
}

void TestTunnelsWindow::importWithBadProfile()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    const QString path = directory.filePath(QStringLiteral("one-bad.json"));
    QVERIFY(writeFile(path,
                      QStringLiteral(R"({"schema": 1, "profiles": [
        {"name": "SSH", "listen": "%1", "server": "%2"},
        {"name": "Database", "listen": "127.0.0.1:99999", "server": "%2"}]})")
                          .arg(ssh.listen, ssh.serverUrl)
                          .toUtf8()));
    TunnelsWindow *window = app->window();
    QVERIFY2(window->importFrom(path), qPrintable(window->statusText()));
    QCOMPARE(store->names(),
             QStringList({QStringLiteral("SSH"), QStringLiteral("SSH (imported)"),
                          QStringLiteral("Database")}));
    // The good one on a free port, the bad one there to be fixed, and the status says which.
    QCOMPARE(portOf(*store->profile(QStringLiteral("SSH (imported)"))), portOf(ssh) + 1);
    QCOMPARE(store->problem(QStringLiteral("SSH (imported)")), QString());
    QVERIFY(!store->problem(QStringLiteral("Database")).isEmpty());
    QVERIFY2(window->statusText().contains(QStringLiteral("Imported 2 tunnel")),
             qPrintable(window->statusText()));
    QVERIFY2(window->statusText().contains(QStringLiteral("need(s) attention")),
             qPrintable(window->statusText()));
    QVERIFY2(window->statusText().contains(QStringLiteral("“Database” (key \"listen\"")),
             qPrintable(window->statusText()));
    QCOMPARE(model()->index(2, TunnelTableModel::State).data().toString(),
             QStringLiteral("Needs attention"));
}

QTEST_MAIN(TestTunnelsWindow)
#include "tst_tunnelswindow.moc"

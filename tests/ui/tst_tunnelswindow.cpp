// The tunnels window: selection drives the actions and the traffic graph, import and export go
// through the store, and "Test" reports a real WebSocket check of the selected profile, one step a
// line in the details pane. First run shows how to add a tunnel; a start runs the check once and
// shows its result in the State column; the table keeps its layout; Return edits; stopping a
// tunnel with connections asks and closes them properly; the log and the About box.
#include "memoryvault.h"
#include "profileeditor.h"
#include "trafficgraph.h"
#include "traycontroller.h"
#include "tunnels/connectionprobe.h"
#include "tunnelswindow.h"
#include "tunneltablemodel.h"
#include "uitestbase.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSplitter>
#include <QSystemTrayIcon>
#include <QTabWidget>
#include <QTableView>
#include <QTcpSocket>
#include <QTimer>

class TestTunnelsWindow : public QObject, public UiTestBase
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(Translations::install(QCoreApplication::instance()));
        QVERIFY(startServer());
    }
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
    void firstRunShowsEmptyState();
    void testEnabledWhenTesterComesLater();
    void startRunsTheCheckOnce();
    void tableLayoutIsKept();
    void returnOpensTheEditor();
    void stopWithConnectionsAsksAndClosesProperly();
    void editWithConnectionsAsksFirst();
    void logAndAbout();
    void keychainSecretsGateStartAndEdit();
    void socks5DetailsListDestinations();

private:
    TunnelTableModel *model() const { return app->window()->model(); }
    QAction *action(const QString &objectName) const
    {
        return app->window()->findChild<QAction *>(objectName);
    }
};

namespace {

// Answers every request with "404 Not Found", as a web server does at a path it does not serve.
class NotFoundServer : public QTcpServer
{
public:
    NotFoundServer()
    {
        connect(this, &QTcpServer::pendingConnectionAvailable, this, [this] {
            while (QTcpSocket *socket = nextPendingConnection()) {
                connect(socket, &QTcpSocket::readyRead, socket, [socket] {
                    if (!socket->readAll().contains("\r\n\r\n"))
                        return;
                    socket->write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n");
                    socket->disconnectFromHost();
                });
                connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            }
        });
    }
};

// Captures the log lines of one category while it lives.
class LogCapture
{
public:
    explicit LogCapture(const char *category) : m_category(category)
    {
        s_current = this;
        m_previous = qInstallMessageHandler(&LogCapture::handle);
    }
    ~LogCapture()
    {
        qInstallMessageHandler(m_previous);
        s_current = nullptr;
    }
    QStringList lines() const { return m_lines; }

private:
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
    {
        if (s_current && context.category
            && QLatin1String(context.category) == QLatin1String(s_current->m_category))
            s_current->m_lines << message;
        if (s_current && s_current->m_previous)
            s_current->m_previous(type, context, message);
    }
    static inline LogCapture *s_current = nullptr;
    const char *m_category;
    QtMessageHandler m_previous = nullptr;
    QStringList m_lines;
};

} // namespace

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
    whenModalOpens([](QWidget *modal) { // "close its connection?"
        if (auto *box = qobject_cast<QMessageBox *>(modal))
            box->button(QMessageBox::Yes)->click();
        else
            modal->close();
    });
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
    QVERIFY2(window->statusText().contains(QStringLiteral("Imported 1 tunnel: SSH (imported)")),
             qPrintable(window->statusText()));

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
    QVERIFY(!action(QStringLiteral("test"))->isEnabled()); // one test at a time
    QCOMPARE(window->tabs()->currentWidget()->objectName(), QStringLiteral("details"));
    QTRY_VERIFY_WITH_TIMEOUT(window->statusText().contains(QStringLiteral("passed")), kUiTimeoutMs);
    // The steps, one a line, as `check` prints them, in the details pane.
    QString details = window->detailsText();
    QVERIFY2(details.contains(QStringLiteral("Test at ")), qPrintable(details));
    QVERIFY2(details.contains(QStringLiteral("\n[ok] TCP: ")), qPrintable(details));
    QVERIFY2(details.contains(QStringLiteral("\n[ok] HTTP upgrade: ")), qPrintable(details));
    QVERIFY2(details.contains(QStringLiteral("accepted the WebSocket upgrade")),
             qPrintable(details));
    QVERIFY(!details.contains(QStringLiteral("What to do")));
    QTRY_VERIFY_WITH_TIMEOUT(action(QStringLiteral("test"))->isEnabled(), kUiTimeoutMs);

    window->selectName(bad.name);
    action(QStringLiteral("test"))->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(window->statusText().contains(QStringLiteral("failed")), kUiTimeoutMs);
    // The status bar has one line: the failing step; the pane has every step and the advice.
    QVERIFY2(window->statusText().contains(QStringLiteral("refused")),
             qPrintable(window->statusText()));
    QVERIFY(!window->statusText().contains(QLatin1Char('\n')));
    details = window->detailsText();
    QVERIFY2(details.contains(QStringLiteral("FAILED")), qPrintable(details));
    QVERIFY2(details.contains(QStringLiteral("\n[failed] TCP: ")), qPrintable(details));
    QVERIFY2(details.contains(QStringLiteral("What to do: TCP: ")), qPrintable(details));
    // Each tunnel keeps its own result.
    window->selectName(good.name);
    QVERIFY(window->detailsText().contains(QStringLiteral("accepted the WebSocket upgrade")));
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
    // The tray menu says it too, beside the name (menus show no tooltips on most desktops).
    QStringList menuTexts;
    for (const QAction *entry : app->tray()->menu()->actions())
        menuTexts << entry->text();
    QVERIFY2(menuTexts.contains(QStringLiteral("Bad — needs attention")),
             qPrintable(menuTexts.join(QLatin1Char('|'))));
    QVERIFY2(menuTexts.contains(QStringLiteral("Good")),
             qPrintable(menuTexts.join(QLatin1Char('|'))));

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
    QVERIFY2(window->statusText().contains(QStringLiteral("Imported 2 tunnels: ")),
             qPrintable(window->statusText()));
    QVERIFY2(window->statusText().contains(QStringLiteral("needing attention before it can start")),
             qPrintable(window->statusText()));
    QVERIFY2(window->statusText().contains(QStringLiteral("“Database” (key \"listen\"")),
             qPrintable(window->statusText()));
    QCOMPARE(model()->index(2, TunnelTableModel::State).data().toString(),
             QStringLiteral("Needs attention"));
}

void TestTunnelsWindow::firstRunShowsEmptyState()
{
    TunnelsWindow *window = app->window();
    window->show();
    // No tunnel yet: what a tunnel is, and the button to add one, instead of an empty table.
    QVERIFY(window->showsEmptyState());
    QVERIFY(window->findChild<QLabel *>(QStringLiteral("emptyTitle"))->isVisible());
    QCOMPARE(window->findChild<QLabel *>(QStringLiteral("emptyTitle"))->text(),
             QStringLiteral("Add your first tunnel"));
    auto *add = window->findChild<QPushButton *>(QStringLiteral("emptyAdd"));
    QVERIFY(add && add->isVisible());
    QVERIFY(!window->view()->isVisible());
    QVERIFY(!action(QStringLiteral("startAll"))->isEnabled());
    QVERIFY(!action(QStringLiteral("stopAll"))->isEnabled());

    // Its button opens the editor; what is saved there shows the table.
    whenModalOpens([](QWidget *modal) {
        auto *editor = qobject_cast<ProfileEditor *>(modal);
        if (!editor) {
            modal->close();
            return;
        }
        editor->findChild<QLineEdit *>(QStringLiteral("listen"))
            ->setText(QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort()));
        editor->findChild<QLineEdit *>(QStringLiteral("server"))
            ->setText(QStringLiteral("ws://127.0.0.1:1/"));
        editor->accept();
    });
    add->click();
    QCOMPARE(store->profiles().size(), 1);
    QVERIFY(!window->showsEmptyState());
    QVERIFY(window->view()->isVisible());
    QVERIFY(action(QStringLiteral("startAll"))->isEnabled());
}

void TestTunnelsWindow::testEnabledWhenTesterComesLater()
{
    // The tray app builds the window before it sets the tester (app/trayentry.cpp).
    destroyApp();
    createApp();
    QString error;
    QVERIFY(store->add(profile(QStringLiteral("SSH")), &error));
    QCOMPARE(app->window()->selectedName(), QStringLiteral("SSH"));
    QVERIFY(!action(QStringLiteral("test"))->isEnabled());
    app->setConnectionTester(&ConnectionProbe::run);
    QVERIFY(action(QStringLiteral("test"))->isEnabled()); // without selecting another row
}

void TestTunnelsWindow::startRunsTheCheckOnce()
{
    NotFoundServer notFound;
    QVERIFY(notFound.listen(QHostAddress::LocalHost, 0));
    Profile wrongPath = profile(QStringLiteral("Wrong path"));
    wrongPath.serverUrl = QStringLiteral("ws://127.0.0.1:%1/nope/").arg(notFound.serverPort());
    const Profile good = profile(QStringLiteral("Good"));
    QString error;
    QVERIFY(store->add(wrongPath, &error));
    QVERIFY(store->add(good, &error));
    QSignalSpy checked(app.get(), &DesktopApp::startCheckFinished);
    QSignalSpy failed(manager.get(), &TunnelManager::tunnelFailed);
    app->setRunning(wrongPath.name, true);
    app->setRunning(good.name, true);
    QTRY_COMPARE_WITH_TIMEOUT(checked.size(), 2, kUiTimeoutMs);

    // The server was reached and answered 404: said so in the State column, not "cannot reach".
    const QModelIndex state = app->window()->model()->index(
        app->window()->model()->rowOf(wrongPath.name), TunnelTableModel::State);
    const QString text = state.data().toString();
    QVERIFY2(text.startsWith(QStringLiteral("Listening — HTTP upgrade: HTTP 404 Not Found: nothing "
                                            "answers at the path /nope/")),
             qPrintable(text));
    QVERIFY(state.data(Qt::ToolTipRole).toString().contains(QStringLiteral("/nope/")));
    QCOMPARE(failed.size(), 1);
    QVERIFY2(!failed.constFirst().at(1).toString().contains(QStringLiteral("cannot reach")),
             qPrintable(failed.constFirst().at(1).toString()));
    const QModelIndex goodState = app->window()->model()->index(
        app->window()->model()->rowOf(good.name), TunnelTableModel::State);
    QCOMPARE(goodState.data().toString(), QStringLiteral("Listening"));

    // A connection through the tunnel gets the same answer: still "answered", not "cannot reach".
    failed.clear();
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, portOf(wrongPath));
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, kUiTimeoutMs);
    QVERIFY(manager->status(wrongPath.name).stateText().contains(QStringLiteral("404")));
    QVERIFY(manager->status(wrongPath.name).serverFailing);
}

void TestTunnelsWindow::tableLayoutIsKept()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    TunnelsWindow *window = app->window();
    window->show();
    QHeaderView *header = window->view()->horizontalHeader();
    // The state carries the error sentences: it takes the room that is left.
    QCOMPARE(header->sectionResizeMode(TunnelTableModel::State), QHeaderView::Stretch);
    QCOMPARE(window->view()->textElideMode(), Qt::ElideMiddle);
    // The full text of an elided cell is in its tooltip.
    const QModelIndex server =
        window->model()->index(window->model()->rowOf(ssh.name), TunnelTableModel::Server);
    QCOMPARE(server.data(Qt::ToolTipRole).toString(), ssh.serverUrl);
    QVERIFY(window->detailsText().contains(QStringLiteral("Server:        ") + ssh.serverUrl));
    // The graph sits in a splitter below the table, with a scale and a time axis.
    QVERIFY(window->splitter()->isAncestorOf(window->graph()));
    QVERIFY(window->splitter()->isAncestorOf(window->view()));
    const QStringList labels = window->graph()->axisLabels();
    QCOMPARE(labels.size(), 6);
    QCOMPARE(labels.at(0), QStringLiteral("10 B/s"));
    QCOMPARE(labels.at(5), QStringLiteral("now"));
    QCOMPARE(labels.at(3), QStringLiteral("−120 s"));

    // Widths, splitter and geometry come back in the next window.
    window->resize(777, 555);
    QCoreApplication::sendPostedEvents(); // lays the window out at its new size
    window->view()->setColumnWidth(TunnelTableModel::Name, 222);
    window->splitter()->setSizes({300, 123});
    const QList<int> sizes = window->splitter()->sizes();
    window->close();
    TunnelsWindow second(app.get());
    second.show();
    QCoreApplication::sendPostedEvents();
    QCOMPARE(second.view()->columnWidth(TunnelTableModel::Name), 222);
    QCOMPARE(second.size(), QSize(777, 555));
    QCOMPARE(second.splitter()->sizes(), sizes);
}

void TestTunnelsWindow::returnOpensTheEditor()
{
    QString error;
    QVERIFY(store->add(profile(QStringLiteral("SSH")), &error));
    TunnelsWindow *window = app->window();
    window->show();
    QString opened;
    whenModalOpens([&](QWidget *modal) {
        opened = modal->windowTitle();
        modal->close();
    });
    QTest::keyClick(window->view(), Qt::Key_Return);
    QCOMPARE(opened, QStringLiteral("Edit “SSH”"));
}

void TestTunnelsWindow::stopWithConnectionsAsksAndClosesProperly()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    app->setRunning(ssh.name, true);
    TunnelsWindow *window = app->window();
    window->selectName(ssh.name);

    QTcpSocket socket;
    QByteArray echoed;
    connect(&socket, &QTcpSocket::readyRead, this, [&] { echoed += socket.readAll(); });
    socket.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    socket.write(QByteArray(20000, 'z'));
    QTRY_COMPARE_WITH_TIMEOUT(echoed.size(), 20000, kUiTimeoutMs);
    QCOMPARE(manager->status(ssh.name).connections, 1);

    // Cancel keeps it running, and the connection open.
    QString question;
    whenModalOpens([&](QWidget *modal) {
        auto *box = qobject_cast<QMessageBox *>(modal);
        question = box ? box->text() : QString();
        if (box)
            box->button(QMessageBox::Cancel)->click();
        else
            modal->close();
    });
    action(QStringLiteral("toggle"))->trigger();
    QVERIFY2(question.contains(QStringLiteral("carries 1 open connection.")), qPrintable(question));
    QVERIFY(manager->isRunning(ssh.name));
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);

    // Yes: the connection is closed properly, not cut: the local side sees an orderly end, the
    // relay logs its "tunnel closed" line, and the server sees the WebSocket close 1001.
    LogCapture relayLog("tow.relay");
    const int goingAwayBefore = int(server.log().count(QStringLiteral("(1001 going away)")));
    QSignalSpy socketErrors(&socket, &QAbstractSocket::errorOccurred);
    whenModalOpens([](QWidget *modal) {
        if (auto *box = qobject_cast<QMessageBox *>(modal))
            box->button(QMessageBox::Yes)->click();
        else
            modal->close();
    });
    action(QStringLiteral("toggle"))->trigger();
    QVERIFY(!manager->isRunning(ssh.name));
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, kUiTimeoutMs);
    for (const QList<QVariant> &args : std::as_const(socketErrors))
        QCOMPARE(args.at(0).value<QAbstractSocket::SocketError>(),
                 QAbstractSocket::RemoteHostClosedError); // never a reset
    QTRY_VERIFY_WITH_TIMEOUT(
        relayLog.lines().join(QLatin1Char('\n')).contains(QStringLiteral("tunnel stopped")),
        kUiTimeoutMs);
    const QString closedLine = relayLog.lines().filter(QStringLiteral("tunnel closed")).value(0);
    QVERIFY2(closedLine.contains(QStringLiteral("20000 bytes tcp->ws, 20000 bytes ws->tcp")),
             qPrintable(closedLine));
    QTRY_COMPARE_WITH_TIMEOUT(int(server.log().count(QStringLiteral("(1001 going away)"))),
                              goingAwayBefore + 1, kUiTimeoutMs);
}

void TestTunnelsWindow::editWithConnectionsAsksFirst()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    app->setRunning(ssh.name, true);
    TunnelsWindow *window = app->window();
    window->selectName(ssh.name);
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    QTRY_COMPARE_WITH_TIMEOUT(manager->status(ssh.name).connections, 1, kUiTimeoutMs);

    // Applying an edit restarts the tunnel: with a connection open it asks; Cancel changes nothing.
    QString question;
    whenModalOpens([&](QWidget *modal) {
        auto *editor = qobject_cast<ProfileEditor *>(modal);
        if (!editor) {
            modal->close();
            return;
        }
        editor->findChild<QLineEdit *>(QStringLiteral("listen"))
            ->setText(QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort()));
        whenModalOpens([&](QWidget *next) {
            auto *box = qobject_cast<QMessageBox *>(next);
            question = box ? box->text() : QString();
            if (box)
                box->button(QMessageBox::Cancel)->click();
            else
                next->close();
        });
        editor->accept();
    });
    action(QStringLiteral("edit"))->trigger();
    QVERIFY2(question.contains(QStringLiteral("carries 1 open connection.")), qPrintable(question));
    QCOMPARE(store->profile(ssh.name)->listen, ssh.listen);
    QVERIFY(manager->isRunning(ssh.name));
    QCOMPARE(manager->status(ssh.name).listenAddress, ssh.listen);
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
}

void TestTunnelsWindow::logAndAbout()
{
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    TunnelsWindow *window = app->window();
    window->selectName(ssh.name);
    app->setRunning(ssh.name, true);
    QTRY_VERIFY_WITH_TIMEOUT(window->logText().contains(QStringLiteral("Server check passed")),
                             kUiTimeoutMs);
    QVERIFY2(window->logText().contains(QStringLiteral(" Listening\n")),
             qPrintable(window->logText()));
    app->setRunning(ssh.name, false);
    QVERIFY(window->logText().endsWith(QStringLiteral(" Stopped")));
    // Read-only but selectable: the lines can be copied.
    auto *log = window->findChild<QPlainTextEdit *>(QStringLiteral("log"));
    QVERIFY(log && log->isReadOnly());
    QVERIFY(log->textInteractionFlags() & Qt::TextSelectableByKeyboard);

    QVERIFY(window->aboutText().contains(QString::fromLatin1(qVersion())));
    QString shown;
    whenModalOpens([&](QWidget *modal) {
        if (auto *box = qobject_cast<QMessageBox *>(modal))
            shown = box->text();
        modal->close();
    });
    action(QStringLiteral("about"))->trigger();
    QCOMPARE(shown, window->aboutText());
}

// A SOCKS5 profile through our real server (a dynamic route that allows the echo endpoint) to
// the local TCP echo: the table shows the kind, and the Details tab lists the destination with its
// open tunnel and bytes while the connection is open, and drops it when it closes.
void TestTunnelsWindow::socks5DetailsListDestinations()
{
    TowProcess dynamicServer;
    const QString destination = QStringLiteral("127.0.0.1:%1").arg(echo.serverPort());
    QVERIFY2(dynamicServer.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                                  QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--allow-destination"), destination}),
             qPrintable(dynamicServer.log()));
    Profile proxy = profile(QStringLiteral("Browser"));
    proxy.kind = Profile::Kind::Socks5;
    proxy.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(dynamicServer.port());
    QString error;
    QVERIFY2(store->add(proxy, &error), qPrintable(error));
    TunnelsWindow *window = app->window();
    window->show();
    window->selectName(proxy.name);
    const int row = model()->rowOf(proxy.name);
    QCOMPARE(model()->data(model()->index(row, TunnelTableModel::Kind)).toString(),
             QStringLiteral("SOCKS5 proxy"));
    QVERIFY(window->detailsText().contains(QStringLiteral("Kind:          SOCKS5 proxy")));
    app->setRunning(proxy.name, true);
    QVERIFY(manager->isRunning(proxy.name));
    QTRY_VERIFY_WITH_TIMEOUT(window->detailsText().contains(QStringLiteral("none open")),
                             kUiTimeoutMs);

    QTcpSocket socket;
    QByteArray received;
    connect(&socket, &QTcpSocket::readyRead, this, [&] { received += socket.readAll(); });
    socket.connectToHost(QHostAddress::LocalHost, portOf(proxy));
    // No authentication; CONNECT 127.0.0.1:echo.
    QByteArray request("\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01", 11);
    request.append(char(echo.serverPort() >> 8)).append(char(echo.serverPort() & 0xff));
    socket.write(request);
    QTRY_VERIFY_WITH_TIMEOUT(received.size() >= 12, kUiTimeoutMs);
    QCOMPARE(received.left(4), QByteArray("\x05\x00\x05\x00", 4));
    received.remove(0, 12);
    socket.write(QByteArray(3000, 'z'));
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 3000, kUiTimeoutMs);
    const QString row3000 = QStringLiteral("  %1  1 open, %2 sent, %2 received")
                                .arg(destination, QLocale().formattedDataSize(3000));
    QTRY_VERIFY2_WITH_TIMEOUT(
        window->detailsText().contains(row3000),
        qPrintable(window->detailsText() + QStringLiteral("\nlacks: ") + row3000), kUiTimeoutMs);

    socket.disconnectFromHost();
    QTRY_VERIFY_WITH_TIMEOUT(window->detailsText().contains(QStringLiteral("none open")),
                             kUiTimeoutMs);
    QVERIFY(!window->detailsText().contains(destination));
    app->setRunning(proxy.name, false);
    QCOMPARE(dynamicServer.stop(), 0);
}

QTEST_MAIN(TestTunnelsWindow)
// While the keychain is read, nothing starts and the editor, copies and exports with secrets
// wait (the editor would show the tunnel without its token, and saving could clear it); a tunnel
// whose secrets could not be read never starts without them, and the user is told why.
void TestTunnelsWindow::keychainSecretsGateStartAndEdit()
{
    MemoryVault vault;
    vault.setEntry(QStringLiteral("Late"), R"({"token": "late-token"})");
    vault.failing.insert(QStringLiteral("Locked"));
    const Profile late = profile(QStringLiteral("Late"));
    const Profile locked = profile(QStringLiteral("Locked"));
    QVERIFY(writeFile(store->filePath(),
                      QStringLiteral(R"({"schema": 1, "profiles": [
        {"name": "Late", "listen": "%1", "server": "%3"},
        {"name": "Locked", "listen": "%2", "server": "%3"}]})")
                          .arg(late.listen, locked.listen, late.serverUrl)
                          .toUtf8()));
    QVERIFY(writeFile(store->secretsFilePath(), R"({"schema": 1, "secrets": {
        "Late": {"keychain": true}, "Locked": {"keychain": true}}})"));
    store->setSecretVault(&vault);
    QString error;
    QVERIFY2(store->load(&error), qPrintable(error));
    store->moveSecretsToVault();
    QVERIFY(store->secretsLoading());

    TunnelsWindow *window = app->window();
    bool editorOpened = false;
    QTimer closer; // closes an editor that should not have opened
    closer.setInterval(50);
    connect(&closer, &QTimer::timeout, this, [&editorOpened] {
        if (QWidget *modal = QApplication::activeModalWidget()) {
            editorOpened = true;
            modal->close();
        }
    });
    closer.start();
    window->selectName(QStringLiteral("Late"));
    action(QStringLiteral("edit"))->trigger();
    QVERIFY(!editorOpened);
    QVERIFY2(window->statusText().contains(QStringLiteral("still being read")),
             qPrintable(window->statusText()));
    const QString exported = directory.filePath(QStringLiteral("while-reading.json"));
    QVERIFY(!window->exportTo({QStringLiteral("Late")}, exported, true));
    QVERIFY(!QFile::exists(exported));
    app->setRunning(QStringLiteral("Late"), true);
    app->startAll();
    QVERIFY(manager->runningNames().isEmpty());

    vault.answerAll();
    QVERIFY(!store->secretsLoading());
    QVERIFY(!store->secretsProblem(QStringLiteral("Locked")).isEmpty());
    app->setRunning(QStringLiteral("Locked"), true); // the tray menu's and Start's way
    QVERIFY(!manager->isRunning(QStringLiteral("Locked")));
    app->startAll();
    QVERIFY(manager->isRunning(QStringLiteral("Late")));
    QVERIFY(!manager->isRunning(QStringLiteral("Locked")));
    app->stopAll();
    closer.stop();
    destroyApp(); // before the vault it uses
}

#include "tst_tunnelswindow.moc"

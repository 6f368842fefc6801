// The tray app on a real X display with a real tray host (Xvfb + trayer, see run-under-xvfb.sh):
// first run opens the window on its empty state; the icon appears and is drawn, the window stays
// hidden, the context menu opens and toggles a tunnel from the keyboard; one tunnel up and one
// failed show green with the red badge; the Test result; the editor with Advanced open fits the
// screen; closing the window says once that the tunnels keep running. Run at 100 % and at
// QT_SCALE_FACTOR=2 (CMake registers both); screenshots are kept under the build directory
// (test-artifacts/desktop-*-1x.png, -2x.png).
#include "profileeditor.h"
#include "traycontroller.h"
#include "tunnels/connectionprobe.h"
#include "tunnelswindow.h"
#include "uitestbase.h"

#include <QAction>
#include <QApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QLabel>
#include <QMenu>
#include <QProcess>
#include <QScreen>
#include <QSet>
#include <QSettings>
#include <QSystemTrayIcon>
#include <QTabWidget>
#include <QTableView>
#include <QWindow>

class TestDesktop : public QObject, public UiTestBase
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase() { destroyApp(); }
    void trayIconAppears();
    void contextMenuOpensAndToggles();
    void failureNotifiesAndShowsError();
    void oneUpOneFailed();
    void testResult();
    void editorWithAdvancedFitsTheScreen();
    void closingTheWindowSaysOnce();
    void firstRunShowsTheWindow(); // last: the tray menu is not drawn once a window was shown

private:
    // "desktop-NAME-1x.png", or -2x at QT_SCALE_FACTOR=2.
    QString artifact(const QString &name) const
    {
        const QString scale = qEnvironmentVariable("QT_SCALE_FACTOR", QStringLiteral("1"));
        return QDir(QStringLiteral(TOW_ARTIFACT_DIR))
            .filePath(QStringLiteral("desktop-%1-%2x.png").arg(name, scale));
    }
    static QWidget *balloon()
    {
        // Without a notification daemon Qt shows its own balloon next to the icon.
        for (QWidget *widget : QApplication::topLevelWidgets()) {
            if (widget->isVisible()
                && QLatin1String(widget->metaObject()->className()) == QLatin1String("QBalloonTip"))
                return widget;
        }
        return nullptr;
    }
    static QString balloonText()
    {
        QStringList texts;
        if (QWidget *tip = balloon()) {
            for (QLabel *label : tip->findChildren<QLabel *>())
                texts << label->text();
        }
        return texts.join(QLatin1Char('\n'));
    }
    // Whether the active icon's green shows in a screen area (the idle icon is grey).
    static bool showsGreen(const QRect &area)
    {
        const QImage image = QGuiApplication::primaryScreen()
                                 ->grabWindow(0, area.x(), area.y(), area.width(), area.height())
                                 .toImage();
        for (int y = 0; y < image.height(); ++y) {
            for (int x = 0; x < image.width(); ++x) {
                const QColor c = image.pixelColor(x, y);
                if (c.green() > c.red() + 40 && c.green() > c.blue() + 40)
                    return true;
            }
        }
        return false;
    }
    // Whether the error badge's red shows in a screen area.
    static bool showsRed(const QRect &area)
    {
        const QImage image = QGuiApplication::primaryScreen()
                                 ->grabWindow(0, area.x(), area.y(), area.width(), area.height())
                                 .toImage();
        for (int y = 0; y < image.height(); ++y) {
            for (int x = 0; x < image.width(); ++x) {
                const QColor c = image.pixelColor(x, y);
                if (c.red() > c.green() + 80 && c.red() > c.blue() + 80)
                    return true;
            }
        }
        return false;
    }
    // Distinct colours in a screen area: a drawn icon has several, an empty panel one.
    static int colourCount(const QRect &area)
    {
        const QImage image = QGuiApplication::primaryScreen()
                                 ->grabWindow(0, area.x(), area.y(), area.width(), area.height())
                                 .toImage();
        QSet<QRgb> colours;
        for (int y = 0; y < image.height(); ++y) {
            for (int x = 0; x < image.width(); ++x)
                colours.insert(image.pixel(x, y));
        }
        return int(colours.size());
    }
    // Where the icon is on the screen. Qt 6.4's QSystemTrayIcon::geometry() on xcb gives the
    // embedded window's position inside the tray host (0,0 here), so ask X for the position of
    // that window instead.
    QRect iconScreenArea() const
    {
        const QRect geometry = app->tray()->icon()->geometry();
        for (QWindow *window : QGuiApplication::topLevelWindows()) {
            if (window->isVisible() && window->size() == geometry.size()
                && QLatin1String(window->metaObject()->className()) != QLatin1String("QMenu"))
                return QRect(window->mapToGlobal(QPoint(0, 0)), geometry.size());
        }
        return geometry;
    }
    // A screenshot of the whole display with ImageMagick's import.
    bool screenshot(const QString &name) const
    {
        QProcess import;
        import.start(QStringLiteral("import"),
                     {QStringLiteral("-window"), QStringLiteral("root"), artifact(name)});
        if (!import.waitForFinished(kUiTimeoutMs) || import.exitCode() != 0) {
            qWarning().noquote() << "import failed:" << import.readAllStandardError();
            return false;
        }
        return QFileInfo(artifact(name)).size() > 0;
    }
};

void TestDesktop::initTestCase()
{
    QVERIFY2(QGuiApplication::platformName() == QLatin1String("xcb"),
             "run this test through run-under-xvfb.sh (it needs a real X display)");
    QVERIFY(QDir().mkpath(QStringLiteral(TOW_ARTIFACT_DIR)));
    QVERIFY(Translations::install(QCoreApplication::instance()));
    QVERIFY(startServer());
    // trayer needs a moment to claim the tray selection after it starts.
    QTRY_VERIFY_WITH_TIMEOUT(QSystemTrayIcon::isSystemTrayAvailable(), kUiTimeoutMs);
    createApp();
    app->setConnectionTester(&ConnectionProbe::run);
    QString error;
    QVERIFY2(store->add(profile(QStringLiteral("SSH home")), &error), qPrintable(error));
    QVERIFY2(store->add(profile(QStringLiteral("RDP office")), &error), qPrintable(error));
    app->start(false);
}

void TestDesktop::trayIconAppears()
{
    QSystemTrayIcon *icon = app->tray()->icon();
    QVERIFY(icon->isVisible());
    // Started minimised to the tray: no window.
    QVERIFY(!app->window()->isVisible());
    // Embedded by the tray host: it gets a place on the screen, and the icon is drawn there.
    QTRY_VERIFY_WITH_TIMEOUT(icon->geometry().width() > 0 && icon->geometry().height() > 0,
                             kUiTimeoutMs);
    // The tray host may still move the icon into place: ask again until it is drawn on screen.
    QTRY_VERIFY_WITH_TIMEOUT(QGuiApplication::primaryScreen()->geometry().contains(iconScreenArea())
                                 && colourCount(iconScreenArea()) > 3,
                             kUiTimeoutMs);
    QVERIFY(!showsGreen(iconScreenArea()));
    QVERIFY(icon->toolTip().contains(QStringLiteral("0 of 2 tunnels on")));
    QVERIFY(screenshot(QStringLiteral("tray-icon")));
}

void TestDesktop::contextMenuOpensAndToggles()
{
    QMenu *menu = app->tray()->menu();
    menu->popup(app->tray()->icon()->geometry().bottomLeft());
    QTRY_VERIFY_WITH_TIMEOUT(menu->isVisible(), kUiTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(menu->geometry().height() > 0, kUiTimeoutMs);
    QCOMPARE(menu->actions().constFirst()->text(), QStringLiteral("SSH home"));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(menu->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("tray-menu")));

    // Down selects the first entry, Return toggles it: the tunnel starts, the menu closes.
    QTest::keyClick(menu, Qt::Key_Down);
    QTest::keyClick(menu, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(manager->isRunning(QStringLiteral("SSH home")), kUiTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!menu->isVisible(), kUiTimeoutMs);
    QCOMPARE(app->tray()->iconStateName(), QStringLiteral("active"));
    QVERIFY(app->tray()->profileAction(QStringLiteral("SSH home"))->isChecked());
    // The tray shows the new state: the icon on screen turns green.
    QTRY_VERIFY_WITH_TIMEOUT(showsGreen(iconScreenArea()), kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("tray-active")));
    manager->stopAll();
}

void TestDesktop::failureNotifiesAndShowsError()
{
    QTcpServer occupant;
    QVERIFY(occupant.listen(QHostAddress::LocalHost, 0));
    Profile busy = profile(QStringLiteral("Busy"));
    busy.listen = QStringLiteral("127.0.0.1:%1").arg(occupant.serverPort());
    QString error;
    QVERIFY(store->add(busy, &error));
    app->tray()->profileAction(busy.name)->trigger();
    QCOMPARE(app->tray()->iconStateName(), QStringLiteral("error"));
    QTRY_VERIFY_WITH_TIMEOUT(balloon() != nullptr, kUiTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(balloon()->geometry()) > 3, kUiTimeoutMs);
    // The icon on screen shows the red error badge.
    QTRY_VERIFY_WITH_TIMEOUT(showsRed(iconScreenArea()), kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("tray-error")));
    balloon()->close();
}

void TestDesktop::oneUpOneFailed()
{
    app->setRunning(QStringLiteral("SSH home"), true);
    QTRY_COMPARE_WITH_TIMEOUT(app->tray()->iconStateName(), QStringLiteral("active-error"),
                              kUiTimeoutMs);
    // Green with the red badge, on screen.
    QTRY_VERIFY_WITH_TIMEOUT(showsGreen(iconScreenArea()) && showsRed(iconScreenArea()),
                             kUiTimeoutMs);

    // The tray menu says why the failed one failed.
    QMenu *menu = app->tray()->menu();
    const QString busyText = app->tray()->profileAction(QStringLiteral("Busy"))->text();
    QVERIFY2(busyText.contains(QStringLiteral("failed: local port")), qPrintable(busyText));
    menu->popup(app->tray()->icon()->geometry().bottomLeft());
    QTRY_VERIFY_WITH_TIMEOUT(menu->isVisible() && colourCount(menu->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(QGuiApplication::primaryScreen()->geometry().contains(menu->geometry()));
    QVERIFY(screenshot(QStringLiteral("tray-menu-one-failed")));
    menu->hide();
    QTRY_VERIFY_WITH_TIMEOUT(!menu->isVisible(), kUiTimeoutMs);

    app->showWindow();
    TunnelsWindow *window = app->window();
    QVERIFY(QTest::qWaitForWindowExposed(window));
    window->selectName(QStringLiteral("Busy"));
    QVERIFY(window->screen()->availableGeometry().contains(window->geometry()));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(window->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("window-one-failed")));
}

void TestDesktop::testResult()
{
    Profile noServer = profile(QStringLiteral("No server"));
    noServer.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(reserveLoopbackPort());
    QString error;
    QVERIFY(store->add(noServer, &error));
    TunnelsWindow *window = app->window();
    window->selectName(noServer.name);
    window->testSelected();
    QTRY_VERIFY_WITH_TIMEOUT(window->detailsText().contains(QStringLiteral("What to do")),
                             kUiTimeoutMs);
    QCOMPARE(window->tabs()->currentWidget()->objectName(), QStringLiteral("details"));
    QVERIFY(window->detailsText().contains(QStringLiteral("[failed] TCP: ")));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(window->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("test-result")));
}

void TestDesktop::editorWithAdvancedFitsTheScreen()
{
    ProfileEditor editor(store.get(), *store->profile(QStringLiteral("SSH home")),
                         QStringLiteral("SSH home"), app->window());
    editor.setAdvancedVisible(true);
    editor.show();
    QVERIFY(QTest::qWaitForWindowExposed(&editor));
    // OK, Cancel and the validation line are on the screen (1280x800, also at 200 %).
    const QRect screenArea = editor.screen()->availableGeometry();
    QTRY_VERIFY2_WITH_TIMEOUT(screenArea.contains(editor.frameGeometry()),
                              qPrintable(QStringLiteral("editor %1,%2 %3x%4 on %5x%6")
                                             .arg(editor.frameGeometry().x())
                                             .arg(editor.frameGeometry().y())
                                             .arg(editor.frameGeometry().width())
                                             .arg(editor.frameGeometry().height())
                                             .arg(screenArea.width())
                                             .arg(screenArea.height())),
                              kUiTimeoutMs);
    auto *buttons = editor.findChild<QDialogButtonBox *>();
    QVERIFY(buttons->isVisible());
    QVERIFY(screenArea.contains(QRect(buttons->mapToGlobal(QPoint(0, 0)), buttons->size())));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(editor.frameGeometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("editor-advanced")));
    editor.reject();
}

void TestDesktop::closingTheWindowSaysOnce()
{
    TunnelsWindow *window = app->window();
    app->showWindow();
    QVERIFY(QTest::qWaitForWindowExposed(window));
    QVERIFY(!balloon());
    window->close();
    QVERIFY(!window->isVisible());
    QVERIFY(balloon());
    QVERIFY2(balloonText().contains(QStringLiteral("keeps running")), qPrintable(balloonText()));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(balloon()->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("closed-keeps-running")));
    balloon()->close();
    // Once: not again, also not after a restart (it is kept in the settings).
    app->showWindow();
    QVERIFY(QTest::qWaitForWindowExposed(window));
    window->close();
    QVERIFY(!balloon());
    QVERIFY(app->settings()->value(QStringLiteral("ui/toldKeepsRunning")).toBool());
}

void TestDesktop::firstRunShowsTheWindow()
{
    // A new start with no saved tunnel.
    destroyApp();
    createApp();
    app->setConnectionTester(&ConnectionProbe::run);
    app->start(false);
    TunnelsWindow *window = app->window();
    // Not "minimised to the tray": with no tunnel the window shows how to add one.
    QVERIFY(window->isVisible());
    QVERIFY(window->showsEmptyState());
    QVERIFY(QTest::qWaitForWindowExposed(window));
    // It fits the screen, also at 200 %.
    QVERIFY(window->screen()->availableGeometry().contains(window->geometry()));
    QVERIFY(app->tray()->menu()->findChild<QAction *>(QStringLiteral("addTunnel")));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(window->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("first-run")));
}

QTEST_MAIN(TestDesktop)
#include "tst_desktop.moc"

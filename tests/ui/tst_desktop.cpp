// The tray app on a real X display with a real tray host (Xvfb + trayer, see run-under-xvfb.sh):
// the icon appears and is drawn, the window stays hidden, the context menu opens and toggles a
// tunnel from the keyboard. Screenshots are kept under the build directory.
#include "traycontroller.h"
#include "tunnelswindow.h"
#include "uitestbase.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QMenu>
#include <QProcess>
#include <QScreen>
#include <QSet>
#include <QSystemTrayIcon>
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

private:
    QString artifact(const QString &name) const
    {
        return QDir(QStringLiteral(TOW_ARTIFACT_DIR)).filePath(name);
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
    QVERIFY(startServer());
    // trayer needs a moment to claim the tray selection after it starts.
    QTRY_VERIFY_WITH_TIMEOUT(QSystemTrayIcon::isSystemTrayAvailable(), kUiTimeoutMs);
    createApp();
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
    QVERIFY(screenshot(QStringLiteral("desktop-tray-icon.png")));
}

void TestDesktop::contextMenuOpensAndToggles()
{
    QSystemTrayIcon *icon = app->tray()->icon();
    QMenu *menu = app->tray()->menu();
    menu->popup(icon->geometry().bottomLeft());
    QTRY_VERIFY_WITH_TIMEOUT(menu->isVisible(), kUiTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(menu->geometry().height() > 0, kUiTimeoutMs);
    QCOMPARE(menu->actions().constFirst()->text(), QStringLiteral("SSH home"));
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(menu->geometry()) > 3, kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("desktop-tray-menu.png")));

    // Down selects the first entry, Return toggles it: the tunnel starts, the menu closes.
    QTest::keyClick(menu, Qt::Key_Down);
    QTest::keyClick(menu, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(manager->isRunning(QStringLiteral("SSH home")), kUiTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!menu->isVisible(), kUiTimeoutMs);
    QCOMPARE(app->tray()->iconStateName(), QStringLiteral("active"));
    QVERIFY(app->tray()->profileAction(QStringLiteral("SSH home"))->isChecked());
    // The tray shows the new state: the icon on screen turns green.
    QTRY_VERIFY_WITH_TIMEOUT(showsGreen(iconScreenArea()), kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("desktop-tray-active.png")));
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
    // Without a notification daemon Qt shows its own balloon next to the icon.
    auto balloon = [] {
        for (QWidget *widget : QApplication::topLevelWidgets()) {
            if (widget->isVisible()
                && QLatin1String(widget->metaObject()->className()) == QLatin1String("QBalloonTip"))
                return widget;
        }
        return static_cast<QWidget *>(nullptr);
    };
    QTRY_VERIFY_WITH_TIMEOUT(balloon() != nullptr, kUiTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(colourCount(balloon()->geometry()) > 3, kUiTimeoutMs);
    // The icon on screen shows the red error badge.
    QTRY_VERIFY_WITH_TIMEOUT(showsRed(iconScreenArea()), kUiTimeoutMs);
    QVERIFY(screenshot(QStringLiteral("desktop-tray-error.png")));
}

QTEST_MAIN(TestDesktop)
#include "tst_desktop.moc"

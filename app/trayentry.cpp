#include "trayentry.h"

#include "desktop/singleinstance.h"
#include "desktopapp.h"
#include "logcategories.h"
#include "profiles/profilestore.h"
#include "tunnels/connectionprobe.h"
#include "tunnels/tunnelmanager.h"
#include "unixsignals.h"

#include <QApplication>
#include <QStandardPaths>
#include <cstdio>

int towRunTray(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setQuitOnLastWindowClosed(false); // closing the window leaves the tray icon

    SingleInstance instance(SingleInstance::keyFor(
        QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation)));
    if (!instance.claim()) {
        std::fputs("tcp-over-websocket: already running; its window was asked to show\n", stderr);
        return 0;
    }

    ProfileStore store;
    QString loadError;
    const bool loaded = store.load(&loadError);
    TunnelManager manager;
    DesktopApp desktop(&store, &manager);
    desktop.setExecutablePath(QCoreApplication::applicationFilePath());
    desktop.setConnectionTester(&ConnectionProbe::run);
    QObject::connect(&instance, &SingleInstance::activationRequested, &desktop, [&desktop] {
        qCInfo(lcUi) << "another launch asked for the window";
        desktop.showWindow();
    });
    QObject::connect(&desktop, &DesktopApp::quitRequested, &app, &QCoreApplication::quit);
    UnixSignals signalWatcher;
    QObject::connect(&signalWatcher, &UnixSignals::terminationRequested, &app,
                     &QCoreApplication::quit);

    desktop.start(false);
    if (!loaded) {
        qCWarning(lcUi).noquote() << loadError;
        desktop.showProblem(QStringLiteral("Saved tunnels could not be loaded"), loadError);
    }
    desktop.startAutoStartProfiles();
    const int code = QApplication::exec();
    manager.stopAll();
    return code;
}

#include "trayentry.h"

#include "desktop/singleinstance.h"
#include "desktopapp.h"
#include "logcategories.h"
#include "profiles/profilestore.h"
#include "translations.h"
#include "tunnels/connectionprobe.h"
#include "tunnels/tunnelmanager.h"
#include "unixsignals.h"

#include <QApplication>
#include <QStandardPaths>
#include <cstdio>

#ifdef TOW_HAVE_KEYCHAIN
#include "keychainvault.h"

namespace {
// A keychain may ask for its password in a dialog of its own: give the person time to type it.
// The window never waits for it; tunnels that start automatically wait for their secrets.
constexpr int kKeychainTimeoutMs = 120000;
} // namespace
#endif

int towRunTray(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setQuitOnLastWindowClosed(false); // closing the window leaves the tray icon
    // Before any window or menu is built: their texts are translated as they are made.
    Translations::install(&app);

    SingleInstance instance(SingleInstance::keyFor(
        QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation)));
    if (!instance.claim()) {
        std::fputs("tcp-over-websocket: already running; its window was asked to show\n", stderr);
        return 0;
    }

    ProfileStore store;
#ifdef TOW_HAVE_KEYCHAIN
    KeychainVault keychain(QCoreApplication::applicationName(), kKeychainTimeoutMs);
    store.setSecretVault(&keychain);
#endif
    QString loadError;
    const bool loaded = store.load(&loadError);
    store.moveSecretsToVault();
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
    // Tunnels that start by themselves wait for their secrets; a profile whose secrets the
    // keychain did not give is named, with the reason.
    auto secretsReady = [&store, &desktop] {
        QStringList unreadable;
        for (const QString &name : store.names()) {
            const QString problem = store.secretsProblem(name);
            if (!problem.isEmpty())
                unreadable << QStringLiteral("%1: %2").arg(name, problem);
        }
        if (!unreadable.isEmpty())
            desktop.showProblem(QStringLiteral("Tokens and passwords could not be read"),
                                unreadable.join(QLatin1Char('\n')));
        desktop.startAutoStartProfiles();
    };
    if (store.secretsLoading())
        QObject::connect(&store, &ProfileStore::secretsLoaded, &desktop, secretsReady,
                         Qt::SingleShotConnection);
    else
        secretsReady();
    const int code = QApplication::exec();
    manager.stopAll();
    return code;
}

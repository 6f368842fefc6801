// tcp-over-websocket: reads the command line, builds the server, the client or the tray app, runs
// the event loop.
#include "client/clienttunnel.h"
#include "commandline.h"
#include "profiles/profilestore.h"
#include "server/tunnelserver.h"
#include "tunnels/tunnelmanager.h"
#include "unixsignals.h"

#include <QCoreApplication>
#include <QTimer>
#include <cstdio>
#include <memory>
#include <variant>

#ifdef TOW_HAVE_UI
#include "desktop/singleinstance.h"
#include "desktopapp.h"
#include "logcategories.h"
#include "tunnels/connectionprobe.h"

#include <QApplication>
#include <QStandardPaths>
#endif

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;
// After SIGTERM/SIGINT, how long tunnels get to finish their closing handshakes.
constexpr int kShutdownGraceMs = 3000;

void printError(const QString &message)
{
    std::fprintf(stderr, "tcp-over-websocket: %s\n", qPrintable(message));
}

void setApplicationNames()
{
    QCoreApplication::setApplicationName(QStringLiteral("tcp-over-websocket"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TOW_VERSION));
}

// The profiles `client --profile NAME` / `--all-autostart` name, or an exit code.
std::variant<QList<Profile>, int> selectProfiles(const CommandLine &commandLine)
{
    ProfileStore store;
    QString error;
    if (!store.load(&error)) {
        printError(error);
        return kExitRuntimeError;
    }
    QList<Profile> selected;
    for (const QString &name : commandLine.clientProfiles) {
        const auto profile = store.profile(name);
        if (!profile) {
            const QStringList names = store.names();
            printError(QStringLiteral("no saved profile is named \"%1\" (%2 in %3)")
                           .arg(name,
                                names.isEmpty()
                                    ? QStringLiteral("there are none")
                                    : QStringLiteral("saved: ") + names.join(QStringLiteral(", ")),
                                store.filePath()));
            return kExitUsage;
        }
        selected << *profile;
    }
    if (commandLine.clientAllAutostart) {
        for (const Profile &profile : store.profiles()) {
            if (profile.autoStart && !commandLine.clientProfiles.contains(profile.name))
                selected << profile;
        }
        if (selected.isEmpty()) {
            printError(QStringLiteral("no saved profile is marked to start automatically (in %1)")
                           .arg(store.filePath()));
            return kExitRuntimeError;
        }
    }
    return selected;
}

#ifdef TOW_HAVE_UI
int runTray(int argc, char *argv[])
{
    QApplication app(argc, argv);
    setApplicationNames();
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
    desktop.setConnectionTester([](const Profile &profile, QObject *context,
                                   std::function<void(bool, const QString &)> done) {
        auto *probe = new ConnectionProbe(context);
        QObject::connect(probe, &ConnectionProbe::finished, context,
                         [probe, done](bool ok, const QString &message) {
                             done(ok, message);
                             probe->deleteLater();
                         });
        probe->start(profile);
    });
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
#endif

} // namespace

int main(int argc, char *argv[])
{
    if (qEnvironmentVariableIsEmpty("QT_MESSAGE_PATTERN"))
        qSetMessagePattern(QStringLiteral("%{time yyyy-MM-ddThh:mm:ss.zzz} "
                                          "%{if-debug}debug%{endif}%{if-info}info%{endif}"
                                          "%{if-warning}warning%{endif}%{if-critical}error"
                                          "%{endif}%{if-fatal}fatal%{endif} "
                                          "%{category}: %{message}"));
    // The command line decides which application object to build: QApplication (Widgets) only
    // for the tray app, so that the server and client run without a display.
    setApplicationNames();
    QStringList arguments;
    for (int i = 0; i < argc; ++i)
        arguments << QString::fromLocal8Bit(argv[i]);
    QString error;
    const auto commandLine = CommandLine::parse(arguments, &error);
    if (!commandLine) {
        printError(error + QStringLiteral(" (see --help)"));
        return kExitUsage;
    }

    switch (commandLine->mode) {
    case CommandLine::Mode::Help:
    case CommandLine::Mode::Version:
        std::fputs(qPrintable(commandLine->text), stdout);
        return 0;
    case CommandLine::Mode::Tray:
#ifdef TOW_HAVE_UI
        return runTray(argc, argv);
#else
        printError(QStringLiteral("this build has no tray app (it was built with "
                                  "TOW_BUILD_UI=OFF); use the server or client command (see "
                                  "--help)"));
        return kExitUsage;
#endif
    case CommandLine::Mode::Server:
    case CommandLine::Mode::Client:
        break;
    }

    QCoreApplication app(argc, argv);
    setApplicationNames();
    UnixSignals signalWatcher;
    std::unique_ptr<TunnelServer> server;
    std::unique_ptr<ClientTunnel> client;
    std::unique_ptr<TunnelManager> profiles;
    if (commandLine->mode == CommandLine::Mode::Server) {
        server = std::make_unique<TunnelServer>(commandLine->server);
        if (!server->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
    } else if (!commandLine->clientProfiles.isEmpty() || commandLine->clientAllAutostart) {
        const auto selected = selectProfiles(*commandLine);
        if (std::holds_alternative<int>(selected))
            return std::get<int>(selected);
        profiles = std::make_unique<TunnelManager>();
        for (const Profile &profile : std::get<QList<Profile>>(selected)) {
            if (!profiles->start(profile)) {
                printError(QStringLiteral("profile \"%1\": %2")
                               .arg(profile.name, profiles->status(profile.name).lastError));
                return kExitRuntimeError;
            }
        }
    } else {
        client = std::make_unique<ClientTunnel>(commandLine->client);
        if (!client->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
    }

    QObject::connect(&signalWatcher, &UnixSignals::terminationRequested, &app, [&](int) {
        // Stop accepting, close every tunnel (1001 going away), leave once they are gone.
        if (server) {
            server->shutdown();
            if (server->activeTunnels() == 0)
                QCoreApplication::quit();
            QObject::connect(server.get(), &TunnelServer::tunnelFinished, &app, [&] {
                if (server->activeTunnels() == 0)
                    QCoreApplication::quit();
            });
        } else {
            QCoreApplication::quit();
        }
        QTimer::singleShot(kShutdownGraceMs, &app, &QCoreApplication::quit);
    });

    const int code = QCoreApplication::exec();
    server.reset();
    client.reset();
    profiles.reset();
    return code;
}

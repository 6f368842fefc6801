// tcp-over-websocket: reads the command line, builds the server, the client or the tray app, runs
// the event loop.
#include "client/clienttunnel.h"
#include "client/connectioncheck.h"
#include "client/socks5listener.h"
#include "client/udpforwarder.h"
#include "client/websocketconnector.h"
#include "commandline.h"
#include "logcategories.h"
#include "net/websocketurl.h"
#include "profiles/profilestore.h"
#include "profiles/secretvault.h"
#include "server/serverconfigfile.h"
#include "server/tunnelserver.h"
#include "tunnels/tunnelmanager.h"
#include "unixsignals.h"

#include <QCoreApplication>
#include <QLoggingCategory>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <variant>

#ifdef Q_OS_UNIX
#include <climits>
#include <sys/resource.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifdef TOW_HAVE_EPOLL_DISPATCHER
#include "eventloop/epolleventdispatcher.h"
#endif

#ifdef TOW_HAVE_UI
#include "desktopsession.h"
#include "trayentry.h"

#include <QProcessEnvironment>
#endif
#if defined(TOW_TRAY_MODULE_FILE) || defined(TOW_KEYCHAIN_MODULE_FILE)
#include <QDir>
#include <QFileInfo>
#include <QLibrary>
#endif
#if defined(TOW_KEYCHAIN_MODULE_FILE)
#include "keychainentry.h"
#elif defined(TOW_HAVE_KEYCHAIN)
#include "keychainvault.h"
#endif

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;
// After the tunnels were told to close (1001), how long their closing handshakes may take.
constexpr int kShutdownGraceMs = 3000;

void printError(const QString &message)
{
    std::fprintf(stderr, "tcp-over-websocket: %s\n", qPrintable(message));
}

// The relay allocates and frees buffers of 64 KiB to 4 MiB all the time (frames, socket reads).
// By default glibc serves the larger ones with fresh mappings and trims the heap's top as soon
// as they are freed, so every frame paid for page faults and zeroed pages: a third of a bulk
// transfer's CPU (README, Performance). Keep them in the heap instead. What stays unreturned
// to the system is bounded by the trim threshold.
void tuneAllocator()
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

// The server and the client run on our epoll event loop (core/eventloop), whose wake-ups cost
// the same with 20,000 sockets open as with 2; TOW_EVENT_DISPATCHER=qt keeps Qt's own.
// Must run before the application object exists.
void useHeadlessEventLoop()
{
#ifdef TOW_HAVE_EPOLL_DISPATCHER
    if (qEnvironmentVariable("TOW_EVENT_DISPATCHER") == QLatin1String("qt"))
        return;
    auto dispatcher = std::make_unique<EpollEventDispatcher>();
    if (dispatcher->isValid())
        QCoreApplication::setEventDispatcher(dispatcher.release());
#endif
}

#ifdef Q_OS_LINUX
// Writes a log line to stderr behind the local time, as yyyy-MM-ddThh:mm:ss.zzz. A %{time} in
// the message pattern formats through QDateTime and QLocale for every line: with two lines per
// tunnel, that was 7 % of the server's instructions while it set up tunnels by the thousand. The C
// library formats the same stamp, once a second.
void writeStamped(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    thread_local time_t stampedSecond = -1;
    thread_local char stamp[32] = {};
    if (now.tv_sec != stampedSecond) {
        tm local {};
        localtime_r(&now.tv_sec, &local);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &local);
        stampedSecond = now.tv_sec;
    }
    const QByteArray line = qFormatLogMessage(type, context, message).toLocal8Bit();
    std::fprintf(stderr, "%s.%03d %s\n", stamp, int(now.tv_nsec / 1'000'000), line.constData());
    std::fflush(stderr);
}
#endif

void setUpLogging()
{
    if (!qEnvironmentVariableIsEmpty("QT_MESSAGE_PATTERN"))
        return;
    // "info tow.server: listening on ...", behind whatever prefix the destination wants.
    const QString line = QStringLiteral("%{if-debug}debug%{endif}%{if-info}info%{endif}"
                                        "%{if-warning}warning%{endif}%{if-critical}error"
                                        "%{endif}%{if-fatal}fatal%{endif} %{category}: %{message}");
    if (!qEnvironmentVariableIsEmpty("JOURNAL_STREAM")) {
        // Under systemd: journald stamps the time itself and reads the level from a <N> prefix.
        qSetMessagePattern(QStringLiteral("%{if-debug}<7>%{endif}%{if-info}<6>%{endif}"
                                          "%{if-warning}<4>%{endif}%{if-critical}<3>%{endif}"
                                          "%{if-fatal}<2>%{endif}")
                           + line);
        return;
    }
#ifdef Q_OS_LINUX
    // The time stamp comes from writeStamped(), not from %{time} in the pattern.
    qSetMessagePattern(line);
    qInstallMessageHandler(writeStamped);
#else
    // Elsewhere Qt's own handler stays: without a console it logs to the system's log
    // (OutputDebugString, os_log), which stderr would not reach.
    qSetMessagePattern(QStringLiteral("%{time yyyy-MM-ddThh:mm:ss.zzz} ") + line);
#endif
}

// --log-level: rules for our categories; QT_LOGGING_RULES, applied after these, still wins.
void applyLogLevel(const QString &level)
{
    if (level.isEmpty())
        return;
    const QStringList order = {QStringLiteral("debug"), QStringLiteral("info"),
                               QStringLiteral("warning"), QStringLiteral("error")};
    const qsizetype threshold = order.indexOf(level);
    QStringList rules;
    for (qsizetype i = 0; i < order.size() - 1; ++i)
        rules.append(QStringLiteral("tow.*.%1=%2")
                         .arg(order.at(i),
                              i >= threshold ? QStringLiteral("true") : QStringLiteral("false")));
    rules.append(QStringLiteral("tow.*.critical=true"));
    QLoggingCategory::setFilterRules(rules.join(QLatin1Char('\n')));
}

// Qt's own categories may log whole requests at debug level (qt.httpserver: the URL with
// ?token=, the Authorization header). Secrets never reach a log: keep those off whatever
// QT_LOGGING_RULES says.
QLoggingCategory::CategoryFilter g_previousFilter = nullptr;

void filterSecretLeakingCategories(QLoggingCategory *category)
{
    if (g_previousFilter)
        g_previousFilter(category);
    if (qstrncmp(category->categoryName(), "qt.httpserver", 13) == 0
        || qstrncmp(category->categoryName(), "qt.websockets", 13) == 0)
        category->setEnabled(QtDebugMsg, false);
}

// Each tunnel holds two descriptors; the usual soft limit of 1024 would cap a server at ~500.
void raiseDescriptorLimit()
{
#ifdef Q_OS_UNIX
    struct rlimit limit = {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
#ifdef Q_OS_MACOS
        // macOS refuses a soft limit above OPEN_MAX, and its hard limit is usually unlimited:
        // asking for that would leave the soft limit at 256 (setrlimit(2), COMPATIBILITY).
        if (limit.rlim_cur > rlim_t(OPEN_MAX))
            limit.rlim_cur = rlim_t(OPEN_MAX);
#endif
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
#endif
}

// The check command: one line per step on stdout, a verdict, exit code 0 only when what was asked
// works: a tunnel to the route's fixed remote, to the --destination given, or, without one, the
// server and a route that takes named destinations only.
int runCheck(const ClientOptions &options, const std::optional<Destination> &destination)
{
    std::printf("Checking %s\n", qPrintable(WebSocketUrl::redacted(options.serverUrl)));
    ConnectionCheck check(options);
    if (destination) {
        check.setDestination(*destination);
        std::printf("  destination: %s\n", destination->headerValue().constData());
    }
    check.setNamedDestinationsSuffice(true);
    const QString headers = WebSocketConnector::describeHeaders(options);
    if (!headers.isEmpty())
        std::printf("  headers: %s\n", qPrintable(headers));
    std::fflush(stdout);
    QObject::connect(&check, &ConnectionCheck::step, &check, [](const ConnectionCheck::Step &step) {
        std::printf("%s %s: %s\n", step.ok ? "[ok]  " : "[FAIL]",
                    qPrintable(ConnectionCheck::label(step.kind)), qPrintable(step.sentence));
        std::fflush(stdout);
    });
    QObject::connect(&check, &ConnectionCheck::finished, &check, [&check](bool works) {
        const auto named = check.destination();
        const QString to = named
            ? QStringLiteral(" to %1").arg(QString::fromLatin1(named->headerValue()))
            : QString();
        if (works && check.routeTakesNamedDestinationsOnly())
            std::printf(
                "Result: the server and the route work; the route takes named destinations "
                "only (a SOCKS5 proxy, UDP; check one with --destination HOST:PORT), a port "
                "forward through it would be refused.\n");
        else
            std::printf("Result: a tunnel%s would %s.\n", qPrintable(to),
                        works ? "work" : "NOT work");
        QCoreApplication::exit(works ? 0 : kExitRuntimeError);
    });
    check.start();
    return QCoreApplication::exec();
}

void setApplicationNames()
{
    QCoreApplication::setApplicationName(QStringLiteral("tcp-over-websocket"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TOW_VERSION));
}

#if defined(TOW_HAVE_KEYCHAIN) || defined(TOW_KEYCHAIN_MODULE_FILE)
// How long `client --profile` waits for the keychain before it reports the profile's secrets as
// unreadable. A Secret Service answers in milliseconds; one that asks for its password has no
// one to ask here.
constexpr int kKeychainTimeoutMs = 15000;
#endif

#ifdef TOW_KEYCHAIN_MODULE_FILE
// Module paths: lib/tcp-over-websocket/ beside the executable's bin/, installed as in the build
// tree.
QString modulePath(const char *file)
{
    const QFileInfo executable(QStringLiteral("/proc/self/exe"));
    return QDir::cleanPath(executable.canonicalPath()
                           + QStringLiteral("/../lib/tcp-over-websocket/") + QLatin1String(file));
}
#endif

// The keychain the profiles' secrets may be kept in, or nullptr when this build has none.
std::unique_ptr<SecretVault> openKeychain()
{
#if defined(TOW_KEYCHAIN_MODULE_FILE)
    const QString path = modulePath(TOW_KEYCHAIN_MODULE_FILE);
    QLibrary module(path); // stays loaded until the process ends (its thread's post routine)
    const auto create = reinterpret_cast<decltype(&towCreateKeychainVault)>(
        module.resolve(TOW_KEYCHAIN_ENTRY_NAME));
    if (!create) {
        qCWarning(lcProfiles).noquote()
            << "the keychain module cannot be loaded:" << module.errorString();
        return nullptr;
    }
    return std::unique_ptr<SecretVault>(
        create(QCoreApplication::applicationName(), kKeychainTimeoutMs));
#elif defined(TOW_HAVE_KEYCHAIN)
    return std::make_unique<KeychainVault>(QCoreApplication::applicationName(), kKeychainTimeoutMs);
#else
    return nullptr;
#endif
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
    QStringList warnings;
    bool unknownName = false;
    auto selected = commandLine.selectProfiles(store, &warnings, &error, &unknownName);
    // The keychain (and with it D-Bus) only when a selected profile's secrets are there, not in
    // the file; then the profiles are read again, with their secrets, and selected again.
    std::unique_ptr<SecretVault> keychain;
    if (selected
        && std::any_of(selected->cbegin(), selected->cend(),
                       [&store](const Profile &profile) {
                           return !store.secretsProblem(profile.name).isEmpty();
                       })
        && (keychain = openKeychain())) {
        store.setSecretVault(keychain.get());
        if (!store.load(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
        store.waitForSecrets();
        warnings.clear();
        selected = commandLine.selectProfiles(store, &warnings, &error, &unknownName);
    }
    for (const QString &warning : std::as_const(warnings))
        printError(warning);
    if (!selected) {
        printError(error);
        return unknownName ? kExitUsage : kExitRuntimeError;
    }
    for (const Profile &profile : std::as_const(*selected)) {
        // Without its token the tunnel would only collect 401s: say why instead.
        const QString problem = store.secretsProblem(profile.name);
        if (!problem.isEmpty()) {
            printError(QStringLiteral("profile \"%1\": its token and passwords cannot be read: %2 "
                                      "(the keychain of a desktop session is reached through that "
                                      "session's D-Bus)")
                           .arg(profile.name, problem));
            return kExitRuntimeError;
        }
    }
    return *selected;
}

#ifdef TOW_HAVE_UI
// No arguments on a machine without a display (a VPS over SSH): the headless commands, in the
// README's words.
void printNoDesktopSession()
{
    printError(
        QStringLiteral("the tray app needs a desktop session, and there is no display here "
                       "(neither DISPLAY nor WAYLAND_DISPLAY); a tunnel runs headless with"));
    std::fputs("  tcp-over-websocket server -listen_ws :8080 -remote_tcp 127.0.0.1:22\n"
               "  tcp-over-websocket client -listen_tcp 127.0.0.1:1234 -remote_ws "
               "ws://example.org:8080/\n"
               "(see --help)\n",
               stderr);
}
#endif

#if defined(TOW_TRAY_MODULE_FILE)
// The tray module lives in lib/tcp-over-websocket/ beside the executable's bin/, installed as in
// the build tree.
int runTray(int argc, char *argv[])
{
    const QFileInfo executable(QStringLiteral("/proc/self/exe"));
    const QString path =
        QDir::cleanPath(executable.canonicalPath() + QStringLiteral("/../lib/tcp-over-websocket/")
                        + QStringLiteral(TOW_TRAY_MODULE_FILE));
    QLibrary module(path);
    const auto entry = QFileInfo::exists(path)
        ? reinterpret_cast<int (*)(int, char *[])>(module.resolve(TOW_TRAY_ENTRY_NAME))
        : nullptr;
    if (!entry) {
        printError(QStringLiteral("the tray app cannot start: %1 (the server and client commands "
                                  "do not need it)")
                       .arg(QFileInfo::exists(path)
                                ? module.errorString()
                                : QStringLiteral("its module %1 is missing").arg(path)));
        return kExitRuntimeError;
    }
    return entry(argc, argv); // the module stays loaded until the process ends
}
#elif defined(TOW_HAVE_UI)
int runTray(int argc, char *argv[])
{
    return towRunTray(argc, argv);
}
#endif

} // namespace

int main(int argc, char *argv[])
{
    tuneAllocator();
    setUpLogging();
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

    applyLogLevel(commandLine->logLevel);
    g_previousFilter = QLoggingCategory::installFilter(filterSecretLeakingCategories);

    switch (commandLine->mode) {
    case CommandLine::Mode::Help:
    case CommandLine::Mode::Version:
        std::fputs(qPrintable(commandLine->text), stdout);
        return 0;
    case CommandLine::Mode::Tray:
#ifdef TOW_HAVE_UI
        if (!DesktopSession::isAvailable(QProcessEnvironment::systemEnvironment())) {
            // Qt would abort in QApplication; say what runs here instead, without loading the UI.
            printNoDesktopSession();
            return kExitRuntimeError;
        }
        return runTray(argc, argv);
#else
        printError(QStringLiteral("this build has no tray app (it was built with "
                                  "TOW_BUILD_UI=OFF); use the server or client command (see "
                                  "--help)"));
        return kExitUsage;
#endif
    case CommandLine::Mode::Check: {
        QCoreApplication app(argc, argv);
        setApplicationNames();
        return runCheck(commandLine->client, commandLine->checkDestination);
    }
    case CommandLine::Mode::Server:
    case CommandLine::Mode::Client:
        break;
    }

    useHeadlessEventLoop();
    QCoreApplication app(argc, argv);
    setApplicationNames();
    raiseDescriptorLimit();

    ServerOptions serverOptions = commandLine->server;
    if (commandLine->mode == CommandLine::Mode::Server
        && !commandLine->serverConfigPath.isEmpty()) {
        const auto loaded =
            ServerConfigFile::load(commandLine->serverConfigPath, commandLine->server, &error);
        if (!loaded) {
            printError(error);
            return kExitUsage;
        }
        serverOptions = *loaded;
    }

    UnixSignals signalWatcher;
    std::unique_ptr<TunnelServer> server;
    std::unique_ptr<ClientTunnel> client;
    std::unique_ptr<UdpForwarder> udpClient;
    std::unique_ptr<Socks5Listener> socks5;
    std::unique_ptr<TunnelManager> profiles;
    if (commandLine->mode == CommandLine::Mode::Server) {
        server = std::make_unique<TunnelServer>(serverOptions);
        if (!server->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
        QObject::connect(server.get(), &TunnelServer::drained, &app, [] {
            // Closing handshakes of the last tunnels are done; leave.
            QCoreApplication::quit();
        });
        QObject::connect(&signalWatcher, &UnixSignals::reloadRequested, &app, [&] {
            server->reloadFromFiles(commandLine->serverConfigPath, commandLine->server);
        });
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
        QObject::connect(&signalWatcher, &UnixSignals::reloadRequested, &app,
                         &QCoreApplication::quit);
    } else if (commandLine->client.udpRemote.port != 0) {
        udpClient = std::make_unique<UdpForwarder>(commandLine->client);
        if (!udpClient->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
        QObject::connect(&signalWatcher, &UnixSignals::reloadRequested, &app,
                         &QCoreApplication::quit);
    } else if (commandLine->client.socks5Listen.port != 0) {
        socks5 = std::make_unique<Socks5Listener>(commandLine->client);
        if (!socks5->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
        QObject::connect(&signalWatcher, &UnixSignals::reloadRequested, &app,
                         &QCoreApplication::quit);
    } else {
        client = std::make_unique<ClientTunnel>(commandLine->client);
        if (!client->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
        }
        // A closed terminal ends the client as it would without our handler.
        QObject::connect(&signalWatcher, &UnixSignals::reloadRequested, &app,
                         &QCoreApplication::quit);
    }

    int terminations = 0;
    QObject::connect(&signalWatcher, &UnixSignals::terminationRequested, &app, [&](int) {
        ++terminations;
        if (!server) {
            QCoreApplication::quit();
            return;
        }
        if (terminations == 1) {
            // Stop accepting; open tunnels may finish within the drain timeout, then are
            // closed (1001). drained() ends the program.
            server->drain();
            QTimer::singleShot(server->drainTimeoutMs() + kShutdownGraceMs, &app,
                               &QCoreApplication::quit);
        } else {
            // Asked twice: do not wait for the tunnels any longer.
            qCInfo(lcServer) << "second termination signal: closing every tunnel now";
            server->shutdown();
            QTimer::singleShot(kShutdownGraceMs, &app, &QCoreApplication::quit);
        }
    });

    const int code = QCoreApplication::exec();
    server.reset();
    client.reset();
    udpClient.reset();
    socks5.reset();
    profiles.reset();
    return code;
}

// tcp-over-websocket: reads the command line, builds the server or client, runs the event loop.
#include "client/clienttunnel.h"
#include "client/connectioncheck.h"
#include "client/websocketconnector.h"
#include "commandline.h"
#include "net/websocketurl.h"
#include "server/tunnelserver.h"
#include "unixsignals.h"

#include <QCoreApplication>
#include <QTimer>
#include <cstdio>

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;
// After SIGTERM/SIGINT, how long tunnels get to finish their closing handshakes.
constexpr int kShutdownGraceMs = 3000;

void printError(const QString &message)
{
    std::fprintf(stderr, "tcp-over-websocket: %s\n", qPrintable(message));
}

// The check command: one line per step on stdout, a verdict, exit code 0 only when a tunnel
// would work.
int runCheck(const ClientOptions &options)
{
    std::printf("Checking %s\n", qPrintable(WebSocketUrl::redacted(options.serverUrl)));
    const QString headers = WebSocketConnector::describeHeaders(options);
    if (!headers.isEmpty())
        std::printf("  headers: %s\n", qPrintable(headers));
    std::fflush(stdout);
    ConnectionCheck check(options);
    QObject::connect(&check, &ConnectionCheck::step, &check, [](const ConnectionCheck::Step &step) {
        std::printf("%s %s: %s\n", step.ok ? "[ok]  " : "[FAIL]",
                    qPrintable(ConnectionCheck::label(step.kind)), qPrintable(step.sentence));
        std::fflush(stdout);
    });
    QObject::connect(&check, &ConnectionCheck::finished, &check, [](bool works) {
        std::printf("%s\n",
                    works ? "Result: a tunnel would work." : "Result: a tunnel would NOT work.");
        QCoreApplication::exit(works ? 0 : kExitRuntimeError);
    });
    check.start();
    return QCoreApplication::exec();
}

} // namespace

int main(int argc, char *argv[])
{
    if (qEnvironmentVariableIsEmpty("QT_MESSAGE_PATTERN"))
        qSetMessagePattern(QStringLiteral("%{time yyyy-MM-ddThh:mm:ss.zzz} "
                                          "%{if-debug}debug%{endif}%{if-info}info%{endif}"
                                          "%{if-warning}warning%{endif}%{if-critical}error"
                                          "%{endif}%{if-fatal}fatal%{endif} "
                                          "%{category}: %{message}"));
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("tcp-over-websocket"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TOW_VERSION));

    QString error;
    const auto commandLine = CommandLine::parse(QCoreApplication::arguments(), &error);
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
        printError(QStringLiteral("this build has no tray app yet; use the server or client "
                                  "command (see --help)"));
        return kExitUsage;
    case CommandLine::Mode::Check:
        return runCheck(commandLine->client);
    case CommandLine::Mode::Server:
    case CommandLine::Mode::Client:
        break;
    }

    UnixSignals signalWatcher;
    std::unique_ptr<TunnelServer> server;
    std::unique_ptr<ClientTunnel> client;
    if (commandLine->mode == CommandLine::Mode::Server) {
        server = std::make_unique<TunnelServer>(commandLine->server);
        if (!server->listen(&error)) {
            printError(error);
            return kExitRuntimeError;
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
    return code;
}

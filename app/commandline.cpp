#include "commandline.h"

#include "net/websocketurl.h"

#include <QCommandLineParser>
#include <QCoreApplication>

namespace {

const QStringList kListenWs = {QStringLiteral("listen_ws"), QStringLiteral("listen-ws")};
const QStringList kRemoteTcp = {QStringLiteral("remote_tcp"), QStringLiteral("connect_tcp"),
                                QStringLiteral("remote-tcp"), QStringLiteral("connect-tcp")};
const QStringList kListenTcp = {QStringLiteral("listen_tcp"), QStringLiteral("listen-tcp")};
const QStringList kRemoteWs = {QStringLiteral("remote_ws"), QStringLiteral("connect_ws"),
                               QStringLiteral("remote-ws"), QStringLiteral("connect-ws")};
const QStringList kInsecure = {QStringLiteral("insecure")};
const QStringList kProfile = {QStringLiteral("profile")};
const QStringList kAllAutostart = {QStringLiteral("all-autostart"),
                                   QStringLiteral("all_autostart")};
const QStringList kKeepAlive = {QStringLiteral("keepalive"), QStringLiteral("keep-alive")};
const QStringList kServerFlag = {QStringLiteral("server")};
const QStringList kClientFlag = {QStringLiteral("client")};
const QStringList kHelp = {QStringLiteral("help"), QStringLiteral("h")};
const QStringList kVersion = {QStringLiteral("version")};

// The spelling the user typed, for error messages ("-remote_tcp").
QString flagName(const QStringList &names)
{
    return QLatin1Char('-') + names.constFirst();
}

} // namespace

QString CommandLine::usage()
{
    return QStringLiteral(
        "Usage:\n"
        "  tcp-over-websocket server -listen_ws [HOST]:PORT -remote_tcp HOST:PORT\n"
        "  tcp-over-websocket client -listen_tcp [HOST]:PORT -remote_ws ws[s]://HOST[:PORT]/PATH\n"
        "  tcp-over-websocket client --profile NAME [--profile NAME...] | --all-autostart\n"
        "  tcp-over-websocket                (tray app, when built with the desktop UI)\n"
        "\n"
        "Server options:\n"
        "  -listen_ws ADDR      where to accept WebSocket upgrades, /metrics and /healthz\n"
        "                       (default :8080)\n"
        "  -remote_tcp ADDR     the TCP service each tunnel connects to (alias -connect_tcp)\n"
        "  --server             same as the server command\n"
        "\n"
        "Client options:\n"
        "  -listen_tcp ADDR     the local TCP address to accept connections on\n"
        "                       (default 127.0.0.1:1234)\n"
        "  -remote_ws URL       the server URL: ws://, wss://, http:// or https://;\n"
        "                       user:password@ sends Basic auth (alias -connect_ws)\n"
        "  -insecure            do not verify the server's TLS certificate\n"
        "  --profile NAME       run a profile saved by the tray app (repeatable)\n"
        "  --all-autostart      run every saved profile marked to start automatically\n"
        "\n"
        "Common options:\n"
        "  -keepalive SECONDS   idle time before an empty keep-alive message (default 10,\n"
        "                       0 disables)\n"
        "  -h, --help           show this help\n"
        "  --version            show the version\n"
        "\n"
        "Flags take one or two dashes, with '_' or '-' (-listen_ws, --listen-ws), and a value\n"
        "after a space or '='. ADDR is :PORT, HOST:PORT or [IPv6]:PORT.\n"
        "Logging: QT_LOGGING_RULES=\"tow.*.debug=true\" for more detail.\n");
}

std::optional<CommandLine> CommandLine::parse(const QStringList &arguments, QString *error)
{
    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsOptions);
    const QCommandLineOption listenWs(kListenWs, QString(), QStringLiteral("addr"));
    const QCommandLineOption remoteTcp(kRemoteTcp, QString(), QStringLiteral("addr"));
    const QCommandLineOption listenTcp(kListenTcp, QString(), QStringLiteral("addr"));
    const QCommandLineOption remoteWs(kRemoteWs, QString(), QStringLiteral("url"));
    const QCommandLineOption insecure(kInsecure);
    const QCommandLineOption profile(kProfile, QString(), QStringLiteral("name"));
    const QCommandLineOption allAutostart(kAllAutostart);
    const QCommandLineOption keepAlive(kKeepAlive, QString(), QStringLiteral("seconds"));
    const QCommandLineOption serverFlag(kServerFlag);
    const QCommandLineOption clientFlag(kClientFlag);
    const QCommandLineOption help(kHelp);
    const QCommandLineOption version(kVersion);
    parser.addOptions({listenWs, remoteTcp, listenTcp, remoteWs, insecure, keepAlive, serverFlag,
                       clientFlag, help, version, profile, allAutostart});

    auto fail = [error](const QString &message) -> std::optional<CommandLine> {
        *error = message;
        return std::nullopt;
    };

    if (!parser.parse(arguments))
        return fail(parser.errorText());

    CommandLine result;
    if (parser.isSet(help)) {
        result.mode = Mode::Help;
        result.text = usage();
        return result;
    }
    if (parser.isSet(version)) {
        result.mode = Mode::Version;
        result.text =
            QStringLiteral("tcp-over-websocket %1\n").arg(QCoreApplication::applicationVersion());
        return result;
    }

    const QStringList positional = parser.positionalArguments();
    if (positional.size() > 1)
        return fail(QStringLiteral("unexpected argument \"%1\"").arg(positional.at(1)));
    const QString command = positional.value(0);
    if (!command.isEmpty() && command != QLatin1String("server")
        && command != QLatin1String("client"))
        return fail(
            QStringLiteral("unknown command \"%1\" (expected server or client)").arg(command));
    const bool wantsServer = command == QLatin1String("server") || parser.isSet(serverFlag);
    const bool wantsClient = command == QLatin1String("client") || parser.isSet(clientFlag);
    if (wantsServer && wantsClient)
        return fail(QStringLiteral("choose either server or client, not both"));

    // Only one value per flag: a repeated flag is most likely a typo.
    for (const auto *option : {&listenWs, &remoteTcp, &listenTcp, &remoteWs, &keepAlive}) {
        if (parser.values(*option).size() > 1)
            return fail(
                QStringLiteral("%1 is given more than once").arg(flagName(option->names())));
    }

    int keepAliveMs = RelayOptions().keepAliveIntervalMs;
    if (parser.isSet(keepAlive)) {
        bool ok = false;
        const double seconds = parser.value(keepAlive).toDouble(&ok);
        if (!ok || seconds < 0 || seconds > 86400)
            return fail(QStringLiteral("-keepalive expects a number of seconds between 0 and "
                                       "86400, not \"%1\"")
                            .arg(parser.value(keepAlive)));
        keepAliveMs = int(seconds * 1000);
    }

    if (wantsServer) {
        for (const auto *option : {&listenTcp, &remoteWs, &insecure, &profile, &allAutostart}) {
            if (parser.isSet(*option))
                return fail(QStringLiteral("%1 is a client option; the server takes -listen_ws "
                                           "and -remote_tcp")
                                .arg(flagName(option->names())));
        }
        result.mode = Mode::Server;
        result.server.relay.keepAliveIntervalMs = keepAliveMs;
        QString why;
        if (parser.isSet(listenWs)) {
            const auto listen = HostPort::parse(parser.value(listenWs), true, &why);
            if (!listen)
                return fail(QStringLiteral("-listen_ws: %1").arg(why));
            result.server.listen = *listen;
        }
        if (!parser.isSet(remoteTcp))
            return fail(QStringLiteral("the server needs -remote_tcp HOST:PORT (the TCP service "
                                       "to reach, e.g. -remote_tcp 127.0.0.1:22)"));
        const auto remote = HostPort::parse(parser.value(remoteTcp), false, &why);
        if (!remote)
            return fail(QStringLiteral("-remote_tcp: %1").arg(why));
        if (remote->port == 0)
            return fail(QStringLiteral("-remote_tcp: port 0 cannot be connected to"));
        result.server.remote = *remote;
        return result;
    }

    if (wantsClient) {
        for (const auto *option : {&listenWs, &remoteTcp}) {
            if (parser.isSet(*option))
                return fail(QStringLiteral("%1 is a server option; the client takes -listen_tcp "
                                           "and -remote_ws")
                                .arg(flagName(option->names())));
        }
        result.mode = Mode::Client;
        if (parser.isSet(profile) || parser.isSet(allAutostart)) {
            // A saved profile holds every setting: flags beside it would be silently ignored.
            for (const auto *option : {&listenTcp, &remoteWs, &insecure, &keepAlive}) {
                if (parser.isSet(*option))
                    return fail(QStringLiteral("%1 cannot be combined with --profile or "
                                               "--all-autostart; change the profile instead")
                                    .arg(flagName(option->names())));
            }
            result.clientProfiles = parser.values(profile);
            for (const QString &name : std::as_const(result.clientProfiles)) {
                if (name.trimmed().isEmpty())
                    return fail(QStringLiteral("--profile needs a profile name"));
            }
            result.clientAllAutostart = parser.isSet(allAutostart);
            return result;
        }
        result.client.relay.keepAliveIntervalMs = keepAliveMs;
        result.client.insecure = parser.isSet(insecure);
        QString why;
        result.client.listen = HostPort {QStringLiteral("127.0.0.1"), 1234};
        if (parser.isSet(listenTcp)) {
            const auto listen = HostPort::parse(parser.value(listenTcp), true, &why);
            if (!listen)
                return fail(QStringLiteral("-listen_tcp: %1").arg(why));
            result.client.listen = *listen;
        }
        if (!parser.isSet(remoteWs))
            return fail(QStringLiteral("the client needs -remote_ws URL (the server, e.g. "
                                       "-remote_ws ws://example.org:8080/)"));
        const auto url = WebSocketUrl::parse(parser.value(remoteWs), &why);
        if (!url)
            return fail(QStringLiteral("-remote_ws: %1").arg(why));
        result.client.serverUrl = *url;
        return result;
    }

    // No command: the tray app, but only without any tunnel flag (a forgotten command is an
    // error, not a reason to open a window).
    for (const auto *option : {&profile, &allAutostart}) {
        if (parser.isSet(*option))
            return fail(QStringLiteral("%1 is a client option: tcp-over-websocket client %1")
                            .arg(QStringLiteral("--") + option->names().constFirst()));
    }
    for (const auto *option :
         {&listenWs, &remoteTcp, &listenTcp, &remoteWs, &insecure, &keepAlive}) {
        if (parser.isSet(*option))
            return fail(QStringLiteral("%1 needs a command: server or client")
                            .arg(flagName(option->names())));
    }
    result.mode = Mode::Tray;
    return result;
}

#include "commandline.h"

#include "net/destination.h"
#include "net/websocketurl.h"
#include "profiles/profilestore.h"
#include "regularfile.h"
#include "server/serverconfigfile.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QHash>

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
// Server hardening (no equivalent in the original).
const QStringList kConfig = {QStringLiteral("config")};
const QStringList kTokenFile = {QStringLiteral("token-file"), QStringLiteral("token_file")};
const QStringList kMaxTunnels = {QStringLiteral("max-tunnels"), QStringLiteral("max_tunnels")};
const QStringList kMaxTunnelsPerIp = {QStringLiteral("max-tunnels-per-ip"),
                                      QStringLiteral("max_tunnels_per_ip")};
const QStringList kMaxTlsHandshakes = {QStringLiteral("max-tls-handshakes"),
                                       QStringLiteral("max_tls_handshakes")};
const QStringList kHandshakeTimeout = {QStringLiteral("handshake-timeout"),
                                       QStringLiteral("handshake_timeout")};
const QStringList kIdleTimeout = {QStringLiteral("idle-timeout"), QStringLiteral("idle_timeout")};
const QStringList kStallTimeout = {QStringLiteral("stall-timeout"),
                                   QStringLiteral("stall_timeout")};
const QStringList kMaxFrameSize = {QStringLiteral("max-frame-size"),
                                   QStringLiteral("max_frame_size")};
const QStringList kAllowedOrigin = {QStringLiteral("allowed-origin"),
                                    QStringLiteral("allowed_origin")};
const QStringList kAllowDestination = {QStringLiteral("allow-destination"),
                                       QStringLiteral("allow_destination")};
const QStringList kRealIpHeader = {QStringLiteral("real-ip-header"),
                                   QStringLiteral("real_ip_header")};
const QStringList kTrustedProxy = {QStringLiteral("trusted-proxy"),
                                   QStringLiteral("trusted_proxy")};
const QStringList kTlsCert = {QStringLiteral("tls-cert"), QStringLiteral("tls_cert")};
const QStringList kTlsKey = {QStringLiteral("tls-key"), QStringLiteral("tls_key")};
const QStringList kDrainTimeout = {QStringLiteral("drain-timeout"),
                                   QStringLiteral("drain_timeout")};
const QStringList kLogLevel = {QStringLiteral("log-level"), QStringLiteral("log_level")};
const QStringList kProxy = {QStringLiteral("proxy")};
const QStringList kCaFile = {QStringLiteral("ca-file"), QStringLiteral("ca_file")};
const QStringList kPin = {QStringLiteral("pin-sha256"), QStringLiteral("pin_sha256")};
const QStringList kServerName = {QStringLiteral("server-name"), QStringLiteral("server_name")};
const QStringList kHeader = {QStringLiteral("H"), QStringLiteral("header")};
const QStringList kKeepAliveMode = {QStringLiteral("keepalive-mode"),
                                    QStringLiteral("keepalive_mode")};
const QStringList kPongTimeout = {QStringLiteral("pong-timeout"), QStringLiteral("pong_timeout")};
const QStringList kConnectTimeout = {QStringLiteral("connect-timeout"),
                                     QStringLiteral("connect_timeout")};
const QStringList kSubprotocol = {QStringLiteral("subprotocol")};
// UDP mode of the client.
const QStringList kUdp = {QStringLiteral("udp")};
const QStringList kUdpRemote = {QStringLiteral("udp-remote"), QStringLiteral("udp_remote")};
const QStringList kUdpIdleTimeout = {QStringLiteral("udp-idle-timeout"),
                                     QStringLiteral("udp_idle_timeout")};
// The client as a SOCKS5 proxy (instead of -listen_tcp).
const QStringList kSocks5 = {QStringLiteral("socks5")};
const QStringList kSocks5User = {QStringLiteral("socks5-user"), QStringLiteral("socks5_user")};
const QStringList kSocks5PasswordFile = {QStringLiteral("socks5-password-file"),
                                         QStringLiteral("socks5_password_file")};
// check: the destination a dynamic route is asked to reach.
const QStringList kDestination = {QStringLiteral("destination")};
const QStringList kHelp = {QStringLiteral("help"), QStringLiteral("h")};
const QStringList kVersion = {QStringLiteral("version")};

// The spelling the user typed, for error messages ("-remote_tcp").
QString flagName(const QStringList &names)
{
    return QLatin1Char('-') + names.constFirst();
}

// Seconds as a user writes them ("2.5"), within (0, 3600]; std::nullopt when out of range.
std::optional<int> parseSeconds(const QString &text)
{
    bool ok = false;
    const double seconds = text.toDouble(&ok);
    if (!ok || seconds <= 0 || seconds > 3600)
        return std::nullopt;
    return int(seconds * 1000);
}

// A header line "Name: value" as -H takes it; what a header may be is Profile::validate()'s rule.
std::optional<QPair<QByteArray, QByteArray>> parseHeader(const QString &text, QString *error)
{
    const int colon = text.indexOf(QLatin1Char(':'));
    if (colon <= 0 || text.left(colon).trimmed().isEmpty()) {
        *error = QStringLiteral("-H expects \"Name: value\", not \"%1\"").arg(text);
        return std::nullopt;
    }
    return qMakePair(text.left(colon).trimmed().toUtf8(), text.mid(colon + 1).trimmed().toUtf8());
}

// --socks5 ADDR, --socks5-user NAME, --socks5-password-file FILE into options.
bool parseSocks5(const QCommandLineParser &parser, const QCommandLineOption &socks5,
                 const QCommandLineOption &user, const QCommandLineOption &passwordFile,
                 const QCommandLineOption &listenTcp, ClientOptions *options, QString *error)
{
    if (!parser.isSet(socks5)) {
        for (const auto *option : {&user, &passwordFile}) {
            if (parser.isSet(*option)) {
                *error = QStringLiteral("%1 needs --socks5 ADDR").arg(flagName(option->names()));
                return false;
            }
        }
        return true;
    }
    if (parser.isSet(listenTcp)) {
        *error = QStringLiteral("give either -listen_tcp (a port forward) or --socks5 (a SOCKS5 "
                                "proxy), not both");
        return false;
    }
    QString why;
    const auto address = HostPort::parse(parser.value(socks5), true, &why);
    if (!address || address->port == 0) {
        *error = QStringLiteral("--socks5: %1")
                     .arg(address ? QStringLiteral("needs a port, e.g. 127.0.0.1:1080") : why);
        return false;
    }
    options->socks5Listen = *address;
    if (parser.isSet(user) != parser.isSet(passwordFile)) {
        *error = QStringLiteral("--socks5-user and --socks5-password-file go together");
        return false;
    }
    if (!parser.isSet(user))
        return true;
    options->socks5User = parser.value(user);
    // RFC 1929: a user name and a password of 1 to 255 bytes.
    if (options->socks5User.isEmpty() || options->socks5User.toUtf8().size() > 255) {
        *error = QStringLiteral("--socks5-user needs a name of 1 to 255 bytes");
        return false;
    }
    const auto password = RegularFile::readSecret(parser.value(passwordFile), &why);
    if (!password) {
        *error = QStringLiteral("--socks5-password-file: %1").arg(why);
        return false;
    }
    if (password->isEmpty() || password->toUtf8().size() > 255) {
        *error = QStringLiteral("--socks5-password-file: the password must have 1 to 255 bytes");
        return false;
    }
    options->socks5Password = *password;
    return true;
}

// The flag that sets a profile's JSON key, for validate()'s messages.
QString flagForKey(const QString &key)
{
    static const QHash<QString, QString> flags = {
        {QStringLiteral("listen"), QStringLiteral("-listen_tcp")},
        {QStringLiteral("server"), QStringLiteral("-remote_ws")},
        {QStringLiteral("headers"), QStringLiteral("-H")},
        {QStringLiteral("token"), QStringLiteral("--token-file")},
        {QStringLiteral("proxy"), QStringLiteral("--proxy")},
        {QStringLiteral("caFile"), QStringLiteral("--ca-file")},
        {QStringLiteral("pinsSha256"), QStringLiteral("--pin-sha256")},
        {QStringLiteral("serverName"), QStringLiteral("--server-name")},
        {QStringLiteral("keepAliveSeconds"), QStringLiteral("-keepalive")}};
    return flags.value(key, key);
}

} // namespace

QString CommandLine::usage()
{
    return QStringLiteral(
        "Usage:\n"
        "  tcp-over-websocket server -listen_ws [HOST]:PORT -remote_tcp HOST:PORT\n"
        "  tcp-over-websocket client -listen_tcp [HOST]:PORT -remote_ws ws[s]://HOST[:PORT]/PATH\n"
        "  tcp-over-websocket check ws[s]://HOST[:PORT]/PATH [--destination [udp/]HOST:PORT]\n"
        "                    [client options]\n"
        "  tcp-over-websocket client --profile NAME [--profile NAME...] | --all-autostart\n"
        "  tcp-over-websocket                (tray app, when built with the desktop UI)\n"
        "\n"
        "Server options:\n"
        "  -listen_ws ADDR      where to accept WebSocket upgrades, /metrics and /healthz\n"
        "                       (default :8080)\n"
        "  -remote_tcp ADDR     the TCP service each tunnel connects to (alias -connect_tcp)\n"
        "  --server             same as the server command\n"
        "  --config FILE        JSON configuration with several routes (see README); replaces\n"
        "                       -remote_tcp and the options below; SIGHUP reloads it\n"
        "  --token-file FILE    require \"Authorization: Bearer TOKEN\" (or ?token=TOKEN);\n"
        "                       the environment variable TOW_TOKEN works too\n"
        "  --max-tunnels N      concurrent tunnels (default 10000, 0: no limit)\n"
        "  --max-tunnels-per-ip N  concurrent tunnels per client address (default 256)\n"
        "  --max-tls-handshakes N  TLS handshakes in progress at once; beyond it the oldest\n"
        "                       is closed (default 64)\n"
        "  --handshake-timeout SECONDS  close connections that are no tunnel by then (10)\n"
        "  --idle-timeout SECONDS  close tunnels without data for that long (default 0: never)\n"
        "  --stall-timeout SECONDS  close tunnels whose remote or client takes none of the\n"
        "                       data waiting for it for that long (default 120, 0: never)\n"
        "  --max-frame-size BYTES  largest WebSocket message accepted (default 4194304)\n"
        "  --allowed-origin ORIGIN  accept browsers only from this Origin (repeatable)\n"
        "  --allow-destination RULE  let clients name the destination (Tow-Destination);\n"
        "                       RULE is [udp/]PATTERN:PORTS, e.g. '*.corp.example:443',\n"
        "                       '10.0.0.0/8:1-65535', '127.0.0.1:5432' (repeatable);\n"
        "                       -remote_tcp is then optional\n"
        "  --real-ip-header NAME  client address header set by a reverse proxy\n"
        "                       (X-Forwarded-For, X-Real-IP); needs --trusted-proxy\n"
        "  --trusted-proxy ADDR[/BITS]  a reverse proxy whose header is believed (repeatable)\n"
        "  --tls-cert FILE, --tls-key FILE  serve wss:// and https:// directly: certificate\n"
        "                       chain and unencrypted RSA or EC key, PEM; TLS 1.2 or later\n"
        "  --drain-timeout SECONDS  on SIGTERM, time open tunnels get to finish (default 30)\n"
        "\n"
        "Client options:\n"
        "  -listen_tcp ADDR     the local TCP address to accept connections on\n"
        "                       (default 127.0.0.1:1234)\n"
        "  --socks5 ADDR        instead of -listen_tcp: a SOCKS5 proxy (CONNECT) whose\n"
        "                       destinations the server resolves, checks and connects\n"
        "  --socks5-user NAME, --socks5-password-file FILE  SOCKS5 clients must log in\n"
        "                       (RFC 1929); the file holds the password on one line\n"
        "  -remote_ws URL       the server URL: ws://, wss://, http:// or https://;\n"
        "                       user:password@ sends Basic auth (alias -connect_ws)\n"
        "  -insecure            do not verify the server's TLS certificate (warns on each\n"
        "                       connection)\n"
        "  --ca-file FILE       also trust the CA certificates of this PEM file\n"
        "  --pin-sha256 PIN     trust a server key by its SPKI SHA-256 pin (base64; repeatable;\n"
        "                       a pinned server needs no CA)\n"
        "  --server-name NAME   TLS server name and Host header instead of the URL's host\n"
        "                       (-H 'Host: NAME' means the same)\n"
        "  --proxy PROXY        http://[user:pass@]host:port, socks5://[user:pass@]host:port,\n"
        "                       system or none (default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY)\n"
        "  -H, --header 'N: V'  add a header to the upgrade request (repeatable)\n"
        "  --token-file FILE    send 'Authorization: Bearer <token>' (default: $TOW_TOKEN);\n"
        "                       the file holds the token on one line, as for the server\n"
        "  --keepalive-mode M   empty (default: an empty message, as the original) or ping\n"
        "                       (a WebSocket ping; no pong in time closes the tunnel)\n"
        "  --pong-timeout SEC   how long ping mode waits for a pong (default 10)\n"
        "  --connect-timeout SEC  the WebSocket must be open by then (default 15)\n"
        "  --subprotocol binary offer the binary subprotocol (websockify-style servers that\n"
        "                       require it); a server may still answer without one\n"
        "  --udp ADDR           carry UDP instead: receive datagrams on this local address\n"
        "                       (instead of -listen_tcp); each source is its own flow\n"
        "  --udp-remote HOST:PORT  where the server sends them (it must allow udp/HOST:PORT)\n"
        "  --udp-idle-timeout SEC  close a source's flow after this much silence (default 60)\n"
        "  --profile NAME       run a profile saved by the tray app (repeatable)\n"
        "  --destination [udp/]HOST:PORT  check only: ask a dynamic route for this\n"
        "                       destination (Tow-Destination) and report the server's verdict\n"
        "  --all-autostart      run every saved profile marked to start automatically\n"
        "\n"
        "Common options:\n"
        "  -keepalive SECONDS   idle time before an empty keep-alive message (default 10,\n"
        "                       0 disables); the ping interval with --keepalive-mode ping\n"
        "  --log-level LEVEL    debug, info (default), warning or error\n"
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
    const QCommandLineOption config(kConfig, QString(), QStringLiteral("file"));
    const QCommandLineOption tokenFile(kTokenFile, QString(), QStringLiteral("file"));
    const QCommandLineOption maxTunnels(kMaxTunnels, QString(), QStringLiteral("n"));
    const QCommandLineOption maxTunnelsPerIp(kMaxTunnelsPerIp, QString(), QStringLiteral("n"));
    const QCommandLineOption maxTlsHandshakes(kMaxTlsHandshakes, QString(), QStringLiteral("n"));
    const QCommandLineOption handshakeTimeout(kHandshakeTimeout, QString(), QStringLiteral("s"));
    const QCommandLineOption idleTimeout(kIdleTimeout, QString(), QStringLiteral("s"));
    const QCommandLineOption stallTimeout(kStallTimeout, QString(), QStringLiteral("s"));
    const QCommandLineOption maxFrameSize(kMaxFrameSize, QString(), QStringLiteral("bytes"));
    const QCommandLineOption allowedOrigin(kAllowedOrigin, QString(), QStringLiteral("origin"));
    const QCommandLineOption allowDestination(kAllowDestination, QString(), QStringLiteral("rule"));
    const QCommandLineOption realIpHeader(kRealIpHeader, QString(), QStringLiteral("name"));
    const QCommandLineOption trustedProxy(kTrustedProxy, QString(), QStringLiteral("addr"));
    const QCommandLineOption tlsCert(kTlsCert, QString(), QStringLiteral("file"));
    const QCommandLineOption tlsKey(kTlsKey, QString(), QStringLiteral("file"));
    const QCommandLineOption drainTimeout(kDrainTimeout, QString(), QStringLiteral("s"));
    const QCommandLineOption logLevel(kLogLevel, QString(), QStringLiteral("level"));
    const QCommandLineOption help(kHelp);
    const QCommandLineOption version(kVersion);
    const QCommandLineOption proxy(kProxy, QString(), QStringLiteral("proxy"));
    const QCommandLineOption caFile(kCaFile, QString(), QStringLiteral("file"));
    const QCommandLineOption pin(kPin, QString(), QStringLiteral("pin"));
    const QCommandLineOption serverName(kServerName, QString(), QStringLiteral("name"));
    const QCommandLineOption header(kHeader, QString(), QStringLiteral("header"));
    const QCommandLineOption keepAliveMode(kKeepAliveMode, QString(), QStringLiteral("mode"));
    const QCommandLineOption pongTimeout(kPongTimeout, QString(), QStringLiteral("seconds"));
    const QCommandLineOption connectTimeout(kConnectTimeout, QString(), QStringLiteral("seconds"));
    const QCommandLineOption subprotocol(kSubprotocol, QString(), QStringLiteral("name"));
    const QCommandLineOption udp(kUdp, QString(), QStringLiteral("addr"));
    const QCommandLineOption udpRemote(kUdpRemote, QString(), QStringLiteral("addr"));
    const QCommandLineOption udpIdleTimeout(kUdpIdleTimeout, QString(), QStringLiteral("s"));
    const QCommandLineOption socks5(kSocks5, QString(), QStringLiteral("addr"));
    const QCommandLineOption socks5User(kSocks5User, QString(), QStringLiteral("name"));
    const QCommandLineOption socks5PasswordFile(kSocks5PasswordFile, QString(),
                                                QStringLiteral("file"));
    const QCommandLineOption destination(kDestination, QString(), QStringLiteral("destination"));
    parser.addOptions({listenWs,         remoteTcp,       listenTcp,     remoteWs,
                       insecure,         keepAlive,       serverFlag,    clientFlag,
                       config,           tokenFile,       maxTunnels,    maxTunnelsPerIp,
                       handshakeTimeout, idleTimeout,     stallTimeout,  maxFrameSize,
                       allowedOrigin,    realIpHeader,    trustedProxy,  tlsCert,
                       tlsKey,           drainTimeout,    logLevel,      help,
                       version,          proxy,           caFile,        pin,
                       serverName,       header,          keepAliveMode, pongTimeout,
                       connectTimeout,   profile,         allAutostart,  maxTlsHandshakes,
                       subprotocol,      allowDestination});
    parser.addOptions({udp, udpRemote, udpIdleTimeout});
    parser.addOptions({socks5, socks5User, socks5PasswordFile});
    parser.addOption(destination);
    // Server-only options, in the order they are checked and reported (--token-file is shared:
    // the server requires the token, the client sends it).
    const QList<const QCommandLineOption *> serverOnly = {
        &listenWs,         &remoteTcp,       &config,       &maxTunnels,   &maxTunnelsPerIp,
        &handshakeTimeout, &idleTimeout,     &stallTimeout, &maxFrameSize, &allowedOrigin,
        &realIpHeader,     &trustedProxy,    &tlsCert,      &tlsKey,       &drainTimeout,
        &maxTlsHandshakes, &allowDestination};
    // Options that only the client (and check) take: an error on the server.
    QList<const QCommandLineOption *> clientOnly = {
        &listenTcp,    &remoteWs,   &insecure,      &proxy,       &caFile,         &pin,
        &serverName,   &header,     &keepAliveMode, &pongTimeout, &connectTimeout, &profile,
        &allAutostart, &subprotocol};
    clientOnly += {&socks5, &socks5User, &socks5PasswordFile, &destination};
    // The settings a saved profile holds: refused beside --profile / --all-autostart.
    const QList<const QCommandLineOption *> profileSettings = {
        &listenTcp,     &remoteWs,    &insecure,       &keepAlive,  &proxy,
        &caFile,        &pin,         &serverName,     &header,     &tokenFile,
        &keepAliveMode, &pongTimeout, &connectTimeout, &subprotocol};
    // The client's UDP mode: client-only, and settings a saved profile would hold.
    const QList<const QCommandLineOption *> udpOptions = {&udp, &udpRemote, &udpIdleTimeout};
    const QList<const QCommandLineOption *> socks5Settings = {&socks5, &socks5User,
                                                              &socks5PasswordFile};

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
    const QString command = positional.value(0);
    const bool wantsCheck = command == QLatin1String("check");
    if (positional.size() > (wantsCheck ? 2 : 1))
        return fail(
            QStringLiteral("unexpected argument \"%1\"").arg(positional.at(wantsCheck ? 2 : 1)));
    if (!command.isEmpty() && command != QLatin1String("server")
        && command != QLatin1String("client") && !wantsCheck)
        return fail(QStringLiteral("unknown command \"%1\" (expected server, client or check)")
                        .arg(command));
    const bool wantsServer = command == QLatin1String("server") || parser.isSet(serverFlag);
    const bool wantsClient = command == QLatin1String("client") || parser.isSet(clientFlag);
    if (wantsServer && (wantsClient || wantsCheck))
        return fail(QStringLiteral("choose either server or client, not both"));

    // Only one value per flag: a repeated flag is most likely a typo (-H, --pin-sha256,
    // --allowed-origin and --trusted-proxy are meant to be repeated).
    for (const auto *option :
         {&listenWs,    &remoteTcp,     &listenTcp,    &remoteWs,        &keepAlive,
          &config,      &tokenFile,     &maxTunnels,   &maxTunnelsPerIp, &handshakeTimeout,
          &idleTimeout, &stallTimeout,  &maxFrameSize, &realIpHeader,    &tlsCert,
          &tlsKey,      &drainTimeout,  &logLevel,     &proxy,           &caFile,
          &serverName,  &keepAliveMode, &pongTimeout,  &connectTimeout,  &maxTlsHandshakes,
          &subprotocol}) {
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
    for (const auto *option : udpOptions) {
        if (parser.values(*option).size() > 1)
            return fail(
                QStringLiteral("%1 is given more than once").arg(flagName(option->names())));
    }

    if (parser.isSet(logLevel)) {
        const QString level = parser.value(logLevel).toLower();
        if (!QStringList {QStringLiteral("debug"), QStringLiteral("info"),
                          QStringLiteral("warning"), QStringLiteral("error")}
                 .contains(level))
            return fail(QStringLiteral("--log-level expects debug, info, warning or error, not "
                                       "\"%1\"")
                            .arg(parser.value(logLevel)));
        result.logLevel = level;
    }

    // A number of seconds (fractions allowed) as milliseconds, within [min, max] seconds.
    auto seconds = [&](const QCommandLineOption &option, double min, double max,
                       int *outMs) -> bool {
        bool ok = false;
        const double value = parser.value(option).toDouble(&ok);
        if (!ok || value < min || value > max) {
            *error = QStringLiteral("%1 expects a number of seconds from %2 to %3, not \"%4\"")
                         .arg(flagName(option.names()))
                         .arg(min)
                         .arg(max)
                         .arg(parser.value(option));
            return false;
        }
        *outMs = int(value * 1000);
        return true;
    };
    auto count = [&](const QCommandLineOption &option, qint64 min, qint64 max,
                     qint64 *out) -> bool {
        bool ok = false;
        const qint64 value = parser.value(option).toLongLong(&ok);
        if (!ok || value < min || value > max) {
            *error = QStringLiteral("%1 expects a whole number from %2 to %3, not \"%4\"")
                         .arg(flagName(option.names()))
                         .arg(min)
                         .arg(max)
                         .arg(parser.value(option));
            return false;
        }
        *out = value;
        return true;
    };

    if (wantsServer) {
        for (const auto *option : clientOnly + udpOptions) {
            if (parser.isSet(*option))
                return fail(QStringLiteral("%1 is a client option; the server takes -listen_ws "
                                           "and -remote_tcp")
                                .arg(flagName(option->names())));
        }
        result.mode = Mode::Server;
        result.server.relay.keepAliveIntervalMs = keepAliveMs;
        if (parser.isSet(config)) {
            // The file holds the whole configuration, so a reload (SIGHUP) sees all of it.
            for (const auto *option : serverOnly + QList<const QCommandLineOption *> {&tokenFile}) {
                if (option != &config && parser.isSet(*option))
                    return fail(QStringLiteral("%1 cannot be combined with --config; set it in the "
                                               "configuration file")
                                    .arg(flagName(option->names())));
            }
            if (!qEnvironmentVariableIsEmpty("TOW_TOKEN"))
                return fail(QStringLiteral("TOW_TOKEN cannot be combined with --config; give each "
                                           "route its token or tokenFile in the file"));
            result.serverConfigPath = parser.value(config);
            return result;
        }
        QString why;
        if (parser.isSet(listenWs)) {
            const auto listen = HostPort::parse(parser.value(listenWs), true, &why);
            if (!listen)
                return fail(QStringLiteral("-listen_ws: %1").arg(why));
            result.server.listen = *listen;
        }
        ServerRoute route;
        route.prefix = true; // every path is a tunnel, as with the original
        for (const QString &text : parser.values(allowDestination)) {
            const auto rule = DestinationRule::parse(text, &why);
            if (!rule)
                return fail(QStringLiteral("--allow-destination: %1").arg(why));
            route.allow.append(*rule);
        }
        // A dynamic route (--allow-destination) needs no fixed remote; with one, clients that
        // name no destination (the original client) get it.
        if (!parser.isSet(remoteTcp) && route.allow.isEmpty())
            return fail(
                QStringLiteral("the server needs -remote_tcp HOST:PORT (the TCP service "
                               "to reach, e.g. -remote_tcp 127.0.0.1:22), --allow-destination "
                               "RULE or --config FILE"));
        if (parser.isSet(remoteTcp)) {
            const auto remote = HostPort::parse(parser.value(remoteTcp), false, &why);
            if (!remote)
                return fail(QStringLiteral("-remote_tcp: %1").arg(why));
            if (remote->port == 0)
                return fail(QStringLiteral("-remote_tcp: port 0 cannot be connected to"));
            route.remote = *remote;
        }
        route.allowedOrigins = parser.values(allowedOrigin);
        if (parser.isSet(tokenFile)) {
            const auto token = RegularFile::readSecret(parser.value(tokenFile), &why);
            if (!token)
                return fail(QStringLiteral("--token-file: %1").arg(why));
            route.token = *token;
        } else if (!qEnvironmentVariableIsEmpty("TOW_TOKEN")) {
            route.token = qEnvironmentVariable("TOW_TOKEN").trimmed();
            // Set but blank: most likely a mistake, and no reason to run an open relay.
            if (route.token.isEmpty())
                return fail(QStringLiteral("TOW_TOKEN is set but blank; give the token, or unset "
                                           "it for a server that needs none"));
        }
        result.server.routes = {route};

        ServerLimits &limits = result.server.limits;
        qint64 number = 0;
        if (parser.isSet(maxTunnels)) {
            if (!count(maxTunnels, 0, 1000000, &number))
                return std::nullopt;
            limits.maxTunnels = int(number);
        }
        if (parser.isSet(maxTunnelsPerIp)) {
            if (!count(maxTunnelsPerIp, 0, 1000000, &number))
                return std::nullopt;
            limits.maxTunnelsPerIp = int(number);
        }
        if (parser.isSet(maxTlsHandshakes)) {
            if (!count(maxTlsHandshakes, 1, 1000000, &number))
                return std::nullopt;
            limits.maxTlsHandshakes = int(number);
        }
        if (parser.isSet(maxFrameSize)) {
            if (!count(maxFrameSize, 1024, qint64(64) * 1024 * 1024, &number))
                return std::nullopt;
            result.server.relay.maxIncomingFrameBytes = number;
        }
        if (parser.isSet(handshakeTimeout)
            && !seconds(handshakeTimeout, 0.1, 3600, &limits.handshakeTimeoutMs))
            return std::nullopt;
        if (parser.isSet(idleTimeout) && !seconds(idleTimeout, 0, 7 * 86400, &limits.idleTimeoutMs))
            return std::nullopt;
        if (parser.isSet(stallTimeout)
            && !seconds(stallTimeout, 0, 86400, &result.server.relay.stallTimeoutMs))
            return std::nullopt;
        if (parser.isSet(drainTimeout)
            && !seconds(drainTimeout, 0, 86400, &result.server.drainTimeoutMs))
            return std::nullopt;
        for (const QString &text : parser.values(trustedProxy)) {
            const auto subnet = ServerConfigFile::parseTrustedProxy(text);
            if (!subnet)
                return fail(QStringLiteral("--trusted-proxy expects an address or a subnet like "
                                           "10.0.0.0/8, not \"%1\"")
                                .arg(text));
            result.server.trustedProxies.append(*subnet);
        }
        result.server.realIpHeader = parser.value(realIpHeader);
        if (!result.server.realIpHeader.isEmpty() && result.server.trustedProxies.isEmpty())
            return fail(QStringLiteral("--real-ip-header needs --trusted-proxy (the address of "
                                       "your reverse proxy); otherwise any client could choose its "
                                       "address"));
        result.server.tlsCertFile = parser.value(tlsCert);
        result.server.tlsKeyFile = parser.value(tlsKey);
        if (!ServerConfigFile::validate(result.server, &why))
            return fail(why);
        return result;
    }

    if (wantsClient || wantsCheck) {
        for (const auto *option : serverOnly) {
            if (parser.isSet(*option))
                return fail(QStringLiteral("%1 is a server option; the client takes -listen_tcp "
                                           "and -remote_ws")
                                .arg(flagName(option->names())));
        }
        result.mode = wantsCheck ? Mode::Check : Mode::Client;
        if (!wantsCheck && parser.isSet(destination))
            return fail(QStringLiteral("--destination is for check; a SOCKS5 proxy's programs "
                                       "name their destinations, --udp-remote names UDP's"));
        if (wantsCheck && (parser.isSet(profile) || parser.isSet(allAutostart)))
            return fail(QStringLiteral("check takes a URL and client options, not --profile "
                                       "(the tray app's Test button checks a saved profile)"));
        if (parser.isSet(profile) || parser.isSet(allAutostart)) {
            for (const auto *option : socks5Settings) {
                if (parser.isSet(*option))
                    return fail(QStringLiteral("%1 cannot be combined with --profile or "
                                               "--all-autostart")
                                    .arg(flagName(option->names())));
            }
            // A saved profile holds every setting: flags beside it would be silently ignored.
            for (const auto *option : profileSettings + udpOptions) {
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
        // The flags fill the one definition of a tunnel's settings, checked by the same
        // validate() as a saved profile; a problem is reported under the flag that set it.
        Profile settings;
        settings.name = QStringLiteral("command line");
        settings.keepAliveIntervalMs = keepAliveMs;
        settings.insecure = parser.isSet(insecure);
        settings.proxy = parser.value(proxy);
        settings.caFile = parser.value(caFile);
        settings.pinsSha256 = parser.values(pin);
        settings.serverName = parser.value(serverName);
        if (parser.isSet(serverName) && settings.serverName.isEmpty())
            return fail(QStringLiteral("--server-name needs a host name"));
        QString why;
        for (const QString &value : parser.values(header)) {
            const auto parsedHeader = parseHeader(value, &why);
            if (!parsedHeader)
                return fail(why);
            settings.headers.append(*parsedHeader);
        }
        if (parser.isSet(tokenFile)) {
            const auto token = RegularFile::readSecret(parser.value(tokenFile), &why);
            if (!token)
                return fail(QStringLiteral("--token-file: %1").arg(why));
            settings.token = *token;
        } else {
            settings.token = qEnvironmentVariable("TOW_TOKEN").trimmed();
        }
        if (parser.isSet(subprotocol)) {
            // Only "binary": its frames are raw TCP bytes, as ours. Another one ("base64")
            // would promise the server a framing we do not speak.
            if (parser.value(subprotocol) != QLatin1String("binary"))
                return fail(QStringLiteral("--subprotocol expects binary, not \"%1\"")
                                .arg(parser.value(subprotocol)));
            settings.binarySubprotocol = true;
        }
        if (parser.isSet(keepAliveMode)) {
            const QString mode = parser.value(keepAliveMode);
            if (mode == QLatin1String("empty"))
                settings.keepAliveMode = Profile::KeepAliveMode::Empty;
            else if (mode == QLatin1String("ping"))
                settings.keepAliveMode = Profile::KeepAliveMode::Ping;
            else
                return fail(
                    QStringLiteral("--keepalive-mode expects empty or ping, not \"%1\"").arg(mode));
        }
        int pongTimeoutMs = ClientOptions().pongTimeoutMs;
        int handshakeTimeoutMs = ClientOptions().handshakeTimeoutMs;
        for (const auto &[option, target] : {std::pair {&pongTimeout, &pongTimeoutMs},
                                             std::pair {&connectTimeout, &handshakeTimeoutMs}}) {
            if (!parser.isSet(*option))
                continue;
            const auto ms = parseSeconds(parser.value(*option));
            if (!ms)
                return fail(QStringLiteral("%1 expects a number of seconds between 0 and 3600, "
                                           "not \"%2\"")
                                .arg(flagName(option->names()), parser.value(*option)));
            *target = *ms;
        }
        if (wantsCheck) {
            if (parser.isSet(listenTcp))
                return fail(QStringLiteral("check does not listen: -listen_tcp is for the client"));
            // One way to name what is checked: --destination, also for the routes SOCKS5
            // proxies and UDP forwarders use.
            if (parser.isSet(udp) || parser.isSet(udpRemote) || parser.isSet(udpIdleTimeout))
                return fail(QStringLiteral("check does not listen: --udp is for the client; "
                                           "check URL --destination udp/HOST:PORT checks a UDP "
                                           "destination"));
            for (const auto *option : socks5Settings) {
                if (parser.isSet(*option))
                    return fail(QStringLiteral("check does not listen: %1 is for the client; "
                                               "check URL checks the server and the route, "
                                               "--destination HOST:PORT one destination")
                                    .arg(flagName(option->names())));
            }
            if (parser.values(destination).size() > 1)
                return fail(QStringLiteral("--destination is given more than once"));
            if (parser.isSet(destination)) {
                const QString value = parser.value(destination);
                result.checkDestination = Destination::parse(value.toUtf8());
                if (!result.checkDestination)
                    return fail(QStringLiteral("--destination expects HOST:PORT or "
                                               "udp/HOST:PORT (port 1-65535, IPv6 in brackets), "
                                               "not \"%1\"")
                                    .arg(value));
                for (const auto &named : std::as_const(settings.headers)) {
                    if (named.first.compare(Destination::kHeader, Qt::CaseInsensitive) == 0)
                        return fail(QStringLiteral("give the destination once: --destination or "
                                                   "-H '%1: ...'")
                                        .arg(QLatin1String(Destination::kHeader)));
                }
            }
            if (positional.size() < 2 && !parser.isSet(remoteWs))
                return fail(QStringLiteral("check needs the server URL, e.g. "
                                           "check wss://example.org/ssh/"));
            if (positional.size() >= 2 && parser.isSet(remoteWs))
                return fail(QStringLiteral("give the URL once: check URL or -remote_ws URL"));
            settings.serverUrl = positional.size() >= 2 ? positional.at(1) : parser.value(remoteWs);
            settings.listen = QStringLiteral("127.0.0.1:0"); // check does not listen
        } else {
            if (!parser.isSet(remoteWs))
                return fail(QStringLiteral("the client needs -remote_ws URL (the server, e.g. "
                                           "-remote_ws ws://example.org:8080/)"));
            settings.serverUrl = parser.value(remoteWs);
            settings.listen = parser.isSet(listenTcp) ? parser.value(listenTcp)
                                                      : QStringLiteral("127.0.0.1:1234");
        }
        QString key;
        const QString problem = settings.validate(&key, Profile::Use::CommandLine);
        if (!problem.isEmpty()) {
            if (wantsCheck && key == QLatin1String("server"))
                return fail(QStringLiteral("check: %1").arg(problem));
            return fail(QStringLiteral("%1: %2").arg(flagForKey(key), problem));
        }
        result.client = *settings.toClientOptions(&why, Profile::Use::CommandLine);
        result.client.pongTimeoutMs = pongTimeoutMs;
        result.client.handshakeTimeoutMs = handshakeTimeoutMs;
        if (parser.isSet(udp) && parser.isSet(socks5))
            return fail(QStringLiteral("give one of -listen_tcp, --socks5 or --udp"));
        // UDP mode: datagrams from a local UDP address instead of TCP connections.
        if (parser.isSet(udp)) {
            if (parser.isSet(listenTcp))
                return fail(QStringLiteral("give either -listen_tcp or --udp, not both"));
            const auto udpListen = HostPort::parse(parser.value(udp), false, &why);
            if (!udpListen)
                return fail(QStringLiteral("--udp: %1").arg(why));
            if (udpListen->listenAddress().isNull())
                return fail(QStringLiteral("--udp expects an IP address and port, e.g. "
                                           "127.0.0.1:51820, not \"%1\"")
                                .arg(parser.value(udp)));
            if (!parser.isSet(udpRemote))
                return fail(QStringLiteral("--udp needs --udp-remote HOST:PORT (where the server "
                                           "sends the datagrams)"));
            const auto remote = Destination::parse(
                QByteArray(QByteArray("udp/") + parser.value(udpRemote).toUtf8()));
            if (!remote)
                return fail(QStringLiteral("--udp-remote expects HOST:PORT (port 1-65535, IPv6 in "
                                           "brackets), not \"%1\"")
                                .arg(parser.value(udpRemote)));
            result.client.udpListen = *udpListen;
            result.client.udpRemote = remote->target;
            if (parser.isSet(udpIdleTimeout)
                && !seconds(udpIdleTimeout, 0.01, 86400, &result.client.udpIdleTimeoutMs))
                return std::nullopt;
        } else if (parser.isSet(udpRemote) || parser.isSet(udpIdleTimeout)) {
            return fail(QStringLiteral("%1 is for UDP mode: add --udp ADDR")
                            .arg(flagName(parser.isSet(udpRemote) ? udpRemote.names()
                                                                  : udpIdleTimeout.names())));
        }
        if (!wantsCheck
            && !parseSocks5(parser, socks5, socks5User, socks5PasswordFile, listenTcp,
                            &result.client, error))
            return std::nullopt;
        return result;
    }

    // No command: the tray app, but only without any tunnel flag (a forgotten command is an
    // error, not a reason to open a window).
    for (const auto *option : {&profile, &allAutostart}) {
        if (parser.isSet(*option))
            return fail(QStringLiteral("%1 is a client option: tcp-over-websocket client %1")
                            .arg(QStringLiteral("--") + option->names().constFirst()));
    }
    for (const auto *option : serverOnly + clientOnly
             + QList<const QCommandLineOption *> {&keepAlive, &tokenFile} + udpOptions) {
        if (parser.isSet(*option))
            return fail(QStringLiteral("%1 needs a command: server or client")
                            .arg(flagName(option->names())));
    }
    result.mode = Mode::Tray;
    return result;
}

std::optional<QList<Profile>> CommandLine::selectProfiles(const ProfileStore &store,
                                                          QStringList *warnings, QString *error,
                                                          bool *unknownName) const
{
    *unknownName = false;
    QList<Profile> selected;
    auto isSelected = [&selected](const QString &name) {
        for (const Profile &profile : std::as_const(selected)) {
            if (profile.name.compare(name, Qt::CaseInsensitive) == 0)
                return true;
        }
        return false;
    };
    for (const QString &name : clientProfiles) {
        const auto profile = store.profile(name);
        if (!profile) {
            const QStringList names = store.names();
            *unknownName = true;
            *error = QStringLiteral("no saved profile is named \"%1\" (%2 in %3)")
                         .arg(name,
                              names.isEmpty()
                                  ? QStringLiteral("there are none")
                                  : QStringLiteral("saved: ") + names.join(QStringLiteral(", ")),
                              store.filePath());
            return std::nullopt;
        }
        const QString problem = store.problem(profile->name);
        if (!problem.isEmpty()) {
            *error = QStringLiteral("profile \"%1\" needs attention: %2 (in %3; the tray app's "
                                    "editor can fix it)")
                         .arg(profile->name, problem, store.filePath());
            return std::nullopt;
        }
        if (!isSelected(profile->name))
            selected << *profile;
    }
    if (clientAllAutostart) {
        for (const Profile &profile : store.profiles()) {
            if (!profile.autoStart || isSelected(profile.name))
                continue;
            const QString problem = store.problem(profile.name);
            if (!problem.isEmpty()) {
                *warnings << QStringLiteral("profile \"%1\" needs attention and is not started: "
                                            "%2")
                                 .arg(profile.name, problem);
                continue;
            }
            selected << profile;
        }
        if (selected.isEmpty()) {
            *error = QStringLiteral("no saved profile is marked to start automatically (in %1)")
                         .arg(store.filePath());
            return std::nullopt;
        }
    }
    return selected;
}

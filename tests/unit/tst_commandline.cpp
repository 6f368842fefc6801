// Command-line parsing: the original Go tool's flags, GNU spellings and clear errors.
#include "commandline.h"
#include "desktopsession.h"
#include "profiles/profilestore.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTemporaryFile>
#include <QTest>

class TestCommandLine : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void server_data();
    void server();
    void client_data();
    void client();
    void errors_data();
    void errors();
    void helpAndVersion();
    void noArgumentsMeansTray();
    void desktopSession_data();
    void desktopSession();
    void keepAlive();
    void serverHardening();
    void allowDestination();
    void clientOptions();
    void tokenFile();
    void socks5();
    void hostHeaderIsServerName();
    void profileNamesIgnoreCase();
    void profileNeedingAttention();
    void check_data();
    void check();
    void udpMode();
    void udpErrors_data();
    void udpErrors();
};

void TestCommandLine::serverHardening()
{
    const auto parsed = CommandLine::parse({"tcp-over-websocket",   "server",
                                            "-remote_tcp",          "h:22",
                                            "--max-tunnels",        "7",
                                            "--max-tunnels-per-ip", "3",
                                            "--handshake-timeout",  "2.5",
                                            "--idle-timeout",       "60",
                                            "--stall-timeout",      "300",
                                            "--max-tls-handshakes", "16",
                                            "--max-frame-size",     "65536",
                                            "--allowed-origin",     "https://a.example",
                                            "--allowed-origin",     "https://b.example",
                                            "--real-ip-header",     "X-Forwarded-For",
                                            "--trusted-proxy",      "127.0.0.1",
                                            "--trusted-proxy",      "10.0.0.0/8",
                                            "--drain-timeout",      "4",
                                            "--log-level",          "debug"},
                                           nullptr);
    QVERIFY(parsed);
    const ServerOptions &server = parsed->server;
    QCOMPARE(server.limits.maxTunnels, 7);
    QCOMPARE(server.limits.maxTunnelsPerIp, 3);
    QCOMPARE(server.limits.handshakeTimeoutMs, 2500);
    QCOMPARE(server.limits.idleTimeoutMs, 60000);
    QCOMPARE(server.relay.stallTimeoutMs, 300000);
    QCOMPARE(server.limits.maxTlsHandshakes, 16);
    QCOMPARE(server.relay.maxIncomingFrameBytes, 65536);
    QCOMPARE(server.routes.size(), 1);
    QCOMPARE(server.routes[0].allowedOrigins,
             QStringList({"https://a.example", "https://b.example"}));
    QCOMPARE(server.realIpHeader, QString("X-Forwarded-For"));
    QCOMPARE(server.trustedProxies.size(), 2);
    QCOMPARE(server.trustedProxies[1].second, 8);
    QCOMPARE(server.drainTimeoutMs, 4000);
    QCOMPARE(parsed->logLevel, QString("debug"));
    QVERIFY(server.tlsCertFile.isEmpty());

    // Native TLS, in both spellings; the files are read when the server starts.
    const auto tls = CommandLine::parse({"tcp-over-websocket", "server", "-remote_tcp", "h:22",
                                         "--tls-cert", "/etc/tow/fullchain.pem", "-tls_key=k.pem"},
                                        nullptr);
    QVERIFY(tls);
    QCOMPARE(tls->server.tlsCertFile, QString("/etc/tow/fullchain.pem"));
    QCOMPARE(tls->server.tlsKeyFile, QString("k.pem"));

    const auto withConfig = CommandLine::parse(
        {"tcp-over-websocket", "server", "--config", "/etc/tow/server.json"}, nullptr);
    QVERIFY(withConfig);
    QCOMPARE(withConfig->serverConfigPath, QString("/etc/tow/server.json"));
}

void TestCommandLine::allowDestination()
{
    // Only --allow-destination: a dynamic route without a fixed remote.
    QString error;
    const auto dynamic = CommandLine::parse({"tcp-over-websocket", "server", "-listen_ws", ":8080",
                                             "--allow-destination", "*.corp.example:443",
                                             "--allow_destination=10.0.0.0/8:1-65535",
                                             "--allow-destination", "udp/10.0.0.5:51820"},
                                            &error);
    QVERIFY2(dynamic, qPrintable(error));
    QCOMPARE(dynamic->server.routes.size(), 1);
    const ServerRoute &route = dynamic->server.routes[0];
    QVERIFY(route.remote.host.isEmpty());
    QCOMPARE(route.allow.size(), 3);
    QCOMPARE(route.allow[0].text, QString("*.corp.example:443"));
    QCOMPARE(route.allow[1].text, QString("10.0.0.0/8:1-65535"));
    QVERIFY(route.allow[2].udp);

    // Both: clients that name no destination get -remote_tcp.
    const auto both = CommandLine::parse({"tcp-over-websocket", "server", "-remote_tcp", "h:22",
                                          "--allow-destination", "127.0.0.1:5432"},
                                         &error);
    QVERIFY2(both, qPrintable(error));
    QCOMPARE(both->server.routes[0].remote.toString(), QString("h:22"));
    QCOMPARE(both->server.routes[0].allow.size(), 1);

    // Without it, a fixed route as before.
    const auto fixed =
        CommandLine::parse({"tcp-over-websocket", "server", "-remote_tcp", "h:22"}, &error);
    QVERIFY2(fixed, qPrintable(error));
    QVERIFY(fixed->server.routes[0].allow.isEmpty());
}

void TestCommandLine::server_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("listen");
    QTest::addColumn<QString>("remote");

    QTest::newRow("original README")
        << QStringList {"server", "-listen_ws", ":8080", "-remote_tcp", "github.com:22"} << ":8080"
        << "github.com:22";
    QTest::newRow("original code spelling")
        << QStringList {"server", "-listen_ws", "127.0.0.1:80", "-connect_tcp", "h:22"}
        << "127.0.0.1:80"
        << "h:22";
    QTest::newRow("--server flag")
        << QStringList {"--server", "--listen-ws", "[::1]:5000", "--remote-tcp", "h:1"}
        << "[::1]:5000"
        << "h:1";
    QTest::newRow("equals form") << QStringList {"server", "-listen_ws=:9000", "--connect-tcp=h:2"}
                                 << ":9000"
                                 << "h:2";
    QTest::newRow("default listen") << QStringList {"server", "-remote_tcp", "h:22"} << ":8080"
                                    << "h:22";
    QTest::newRow("flags before command")
        << QStringList {"-remote_tcp", "h:22", "server"} << ":8080"
        << "h:22";
}

void TestCommandLine::server()
{
    QFETCH(QStringList, arguments);
    arguments.prepend(QStringLiteral("tcp-over-websocket"));
    QString error;
    const auto parsed = CommandLine::parse(arguments, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->mode, CommandLine::Mode::Server);
    QTEST(parsed->server.listen.toString(), "listen");
    QTEST(parsed->server.routes.value(0).remote.toString(), "remote");
}

void TestCommandLine::client_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("listen");
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("insecure");

    QTest::newRow("original README")
        << QStringList {"client", "-listen_tcp", ":1234", "-remote_ws", "ws://example.org:8080/"}
        << ":1234"
        << "ws://example.org:8080/" << false;
    QTest::newRow("original code spelling")
        << QStringList {"client",      "-listen_tcp",           "127.0.0.1:1234",
                        "-connect_ws", "https://example.org/x", "-insecure"}
        << "127.0.0.1:1234"
        << "wss://example.org/x" << true;
    QTest::newRow("gnu") << QStringList {"client", "--listen-tcp", "[::1]:1", "--remote-ws",
                                         "wss://h/"}
                         << "[::1]:1"
                         << "wss://h/" << false;
    QTest::newRow("default listen")
        << QStringList {"client", "-remote_ws", "ws://h/"} << "127.0.0.1:1234"
        << "ws://h/" << false;
    // A one-off tunnel may take any free port (it logs which); a saved profile may not.
    QTest::newRow("port 0") << QStringList {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                                            "ws://h/"}
                            << "127.0.0.1:0"
                            << "ws://h/" << false;
}

void TestCommandLine::client()
{
    QFETCH(QStringList, arguments);
    arguments.prepend(QStringLiteral("tcp-over-websocket"));
    QString error;
    const auto parsed = CommandLine::parse(arguments, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->mode, CommandLine::Mode::Client);
    QTEST(parsed->client.listen.toString(), "listen");
    QTEST(parsed->client.serverUrl.toString(), "url");
    QTEST(parsed->client.insecure, "insecure");
}

void TestCommandLine::errors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected");

    QTest::newRow("unknown flag") << QStringList {"server", "-remote_tcp", "h:1", "-bogus"}
                                  << "bogus";
    QTest::newRow("missing remote")
        << QStringList {"server", "-listen_ws", ":80"} << "needs -remote_tcp";
    QTest::newRow("missing value") << QStringList {"server", "-remote_tcp"} << "remote_tcp";
    QTest::newRow("bad destination rule")
        << QStringList {"server", "--allow-destination", "*.corp.example"}
        << "--allow-destination: invalid destination rule \"*.corp.example\": missing \":PORTS\"";
    QTest::newRow("bad destination port")
        << QStringList {"server", "--allow-destination", "10.0.0.0/8:0"}
        << "--allow-destination: invalid destination rule \"10.0.0.0/8:0\": \"0\" is not a port";
    QTest::newRow("destination rule with config")
        << QStringList {"server", "--config", "c.json", "--allow-destination", "h:1"}
        << "allow-destination cannot be combined with --config";
    QTest::newRow("destination rule on client")
        << QStringList {"client", "-remote_ws", "ws://h/", "--allow-destination", "h:1"}
        << "allow-destination is a server option";
    QTest::newRow("config with remote")
        << QStringList {"server", "--config", "s.json", "-remote_tcp", "h:1"}
        << "-remote_tcp cannot be combined with --config";
    QTest::newRow("config with limit")
        << QStringList {"server", "--config", "s.json", "--max-tunnels", "5"}
        << "-max-tunnels cannot be combined with --config";
    QTest::newRow("missing token file")
        << QStringList {"server", "-remote_tcp", "h:1", "--token-file", "/nonexistent/token"}
        << "--token-file: cannot read /nonexistent/token";
    QTest::newRow("negative limit")
        << QStringList {"server", "-remote_tcp", "h:1", "--max-tunnels", "-3"}
        << "-max-tunnels expects a whole number from 0 to 1000000";
    QTest::newRow("bad timeout") << QStringList {"server", "-remote_tcp", "h:1",
                                                 "--handshake-timeout", "soon"}
                                 << "-handshake-timeout expects a number of seconds";
    QTest::newRow("bad stall timeout")
        << QStringList {"server", "-remote_tcp", "h:1", "--stall-timeout", "-1"}
        << "-stall-timeout expects a number of seconds from 0 to 86400";
    QTest::newRow("stall timeout on client")
        << QStringList {"client", "-remote_ws", "ws://h/", "--stall-timeout", "9"}
        << "-stall-timeout is a server option";
    QTest::newRow("tiny frame limit")
        << QStringList {"server", "-remote_tcp", "h:1", "--max-frame-size", "10"}
        << "-max-frame-size expects a whole number from 1024";
    QTest::newRow("real IP without proxy")
        << QStringList {"server", "-remote_tcp", "h:1", "--real-ip-header", "X-Real-IP"}
        << "--real-ip-header needs --trusted-proxy";
    QTest::newRow("bad trusted proxy")
        << QStringList {"server", "-remote_tcp", "h:1", "--trusted-proxy", "proxy.local"}
        << "--trusted-proxy expects an address or a subnet";
    QTest::newRow("cert without key")
        << QStringList {"server", "-remote_tcp", "h:1", "--tls-cert", "c.pem"}
        << "TLS needs both a certificate and a key (--tls-cert and --tls-key";
    QTest::newRow("key without cert")
        << QStringList {"server", "-remote_tcp", "h:1", "--tls-key", "k.pem"}
        << "TLS needs both a certificate and a key (--tls-cert and --tls-key";
    QTest::newRow("TLS with config")
        << QStringList {"server", "--config", "s.json", "--tls-cert", "c.pem"}
        << "-tls-cert cannot be combined with --config";
    QTest::newRow("TLS on client")
        << QStringList {"client", "-remote_ws", "wss://h/", "--tls-key", "k.pem"}
        << "-tls-key is a server option";
    QTest::newRow("TLS twice") << QStringList {"server",     "-remote_tcp", "h:1",
                                               "--tls-cert", "a.pem",       "--tls-cert",
                                               "b.pem",      "--tls-key",   "k"}
                               << "-tls-cert is given more than once";
    QTest::newRow("subprotocol other than binary")
        << QStringList {"client", "-remote_ws", "ws://h/", "--subprotocol", "base64"}
        << "--subprotocol expects binary, not \"base64\"";
    QTest::newRow("subprotocol on server")
        << QStringList {"server", "-remote_tcp", "h:1", "--subprotocol", "binary"}
        << "-subprotocol is a client option";
    QTest::newRow("subprotocol with a profile")
        << QStringList {"client", "--profile", "p", "--subprotocol", "binary"}
        << "-subprotocol cannot be combined with --profile";
    QTest::newRow("server option on client")
        << QStringList {"client", "-remote_ws", "ws://h/", "--max-tunnels", "3"}
        << "-max-tunnels is a server option";
    QTest::newRow("bad log level")
        << QStringList {"server", "-remote_tcp", "h:1", "--log-level", "loud"}
        << "--log-level expects debug, info, warning or error";
    QTest::newRow("bad address") << QStringList {"server", "-remote_tcp", "nohost"}
                                 << "-remote_tcp: invalid address \"nohost\"";
    QTest::newRow("bad listen") << QStringList {"server", "-listen_ws", ":99999", "-remote_tcp",
                                                "h:1"}
                                << "out of range";
    QTest::newRow("remote port 0") << QStringList {"server", "-remote_tcp", "h:0"} << "port 0";
    QTest::newRow("client flag on server")
        << QStringList {"server", "-remote_tcp", "h:1", "-listen_tcp", ":1"}
        << "-listen_tcp is a client option";
    QTest::newRow("server flag on client")
        << QStringList {"client", "-remote_ws", "ws://h/", "-remote_tcp", "h:1"}
        << "-remote_tcp is a server option";
    QTest::newRow("missing url") << QStringList {"client", "-listen_tcp", ":1"}
                                 << "needs -remote_ws";
    QTest::newRow("bad url") << QStringList {"client", "-remote_ws", "ftp://h/"}
                             << "unsupported scheme";
    QTest::newRow("unknown command") << QStringList {"serve"} << "unknown command \"serve\"";
    QTest::newRow("both modes") << QStringList {"client", "--server"} << "not both";
    QTest::newRow("extra argument")
        << QStringList {"server", "extra", "-remote_tcp", "h:1"} << "unexpected argument \"extra\"";
    QTest::newRow("flag without command")
        << QStringList {"-remote_tcp", "h:1"} << "needs a command";
    QTest::newRow("repeated flag")
        << QStringList {"server", "-remote_tcp", "h:1", "--connect-tcp", "h:2"} << "more than once";
    QTest::newRow("bad keepalive")
        << QStringList {"client", "-remote_ws", "ws://h/", "-keepalive", "soon"}
        << "-keepalive expects";
    QTest::newRow("proxy scheme") << QStringList {"client", "-remote_ws", "ws://h/", "--proxy",
                                                  "https://p:1"}
                                  << "--proxy: proxy scheme \"https\" is not supported";
    QTest::newRow("proxy twice") << QStringList {"client", "-remote_ws", "ws://h/", "--proxy",
                                                 "none",   "--proxy",    "system"}
                                 << "-proxy is given more than once";
    QTest::newRow("bad pin") << QStringList {"client", "-remote_ws", "wss://h/", "--pin-sha256",
                                             "abc"}
                             << "--pin-sha256: \"abc\" is not a SHA-256 pin";
    QTest::newRow("header without colon")
        << QStringList {"client", "-remote_ws", "ws://h/", "-H", "X-Foo"}
        << "-H expects \"Name: value\"";
    QTest::newRow("header bad name")
        << QStringList {"client", "-remote_ws", "ws://h/", "-H", "X Foo: 1"}
        << "-H: \"X Foo\" is not a valid HTTP header name";
    QTest::newRow("header Host and server name")
        << QStringList {"client",        "-remote_ws",   "ws://h/", "-H", "Host: front.example",
                        "--server-name", "other.example"}
        << "-H: Host \"front.example\" and the server name \"other.example\" differ";
    QTest::newRow("header Host with port")
        << QStringList {"client", "-remote_ws", "ws://h/", "-H", "Host: h:8443"}
        << "-H: Host: \"h:8443\" is not a host name";
    QTest::newRow("header Sec-WebSocket-Protocol")
        << QStringList {"client", "-remote_ws", "ws://h/", "-H", "Sec-WebSocket-Protocol: binary"}
        << "offer the binary subprotocol instead";
    QTest::newRow("listen port out of range")
        << QStringList {"client", "-remote_ws", "ws://h/", "-listen_tcp", "127.0.0.1:99999"}
        << "-listen_tcp: invalid address \"127.0.0.1:99999\": port 99999 is out of range";
    QTest::newRow("bad server name")
        << QStringList {"client", "-remote_ws", "wss://h/", "--server-name", "bad name"}
        << "--server-name: \"bad name\" is not a valid host name";
    QTest::newRow("header Upgrade")
        << QStringList {"client", "-remote_ws", "ws://h/", "-H", "upgrade: x"}
        << "set by the WebSocket handshake";
    QTest::newRow("keepalive mode")
        << QStringList {"client", "-remote_ws", "ws://h/", "--keepalive-mode", "pong"}
        << "--keepalive-mode expects empty or ping, not \"pong\"";
    QTest::newRow("pong timeout") << QStringList {"client", "-remote_ws", "ws://h/",
                                                  "--pong-timeout", "0"}
                                  << "-pong-timeout expects a number of seconds";
    QTest::newRow("connect timeout")
        << QStringList {"client", "-remote_ws", "ws://h/", "--connect-timeout", "x"}
        << "-connect-timeout expects a number of seconds";
    QTest::newRow("missing token file")
        << QStringList {"client", "-remote_ws", "ws://h/", "--token-file", "/nonexistent/t"}
        << "--token-file: cannot read /nonexistent/t";
    QTest::newRow("client option on server")
        << QStringList {"server", "-remote_tcp", "h:1", "--proxy", "none"}
        << "-proxy is a client option";
    QTest::newRow("pin on server")
        << QStringList {"server", "-remote_tcp", "h:1", "--pin-sha256", "x"}
        << "-pin-sha256 is a client option";
    QTest::newRow("client option without command")
        << QStringList {"--ca-file", "x"} << "needs a command";
    QTest::newRow("check without url") << QStringList {"check"} << "check needs the server URL";
    QTest::newRow("check bad url") << QStringList {"check", "ftp://h/"} << "check: ";
    QTest::newRow("check listens not")
        << QStringList {"check", "ws://h/", "-listen_tcp", ":1"} << "check does not listen";
    QTest::newRow("socks5 and listen_tcp")
        << QStringList {"client", "--socks5",   "127.0.0.1:1080", "-listen_tcp",
                        ":1",     "-remote_ws", "ws://h/"}
        << "either -listen_tcp";
    QTest::newRow("socks5 without a port")
        << QStringList {"client", "--socks5", "127.0.0.1:0", "-remote_ws", "ws://h/"}
        << "--socks5: needs a port";
    QTest::newRow("socks5 user without --socks5")
        << QStringList {"client", "--socks5-user", "u", "-remote_ws", "ws://h/"}
        << "socks5-user needs --socks5";
    QTest::newRow("socks5 user without password")
        << QStringList {"client", "--socks5",   ":1080",  "--socks5-user",
                        "u",      "-remote_ws", "ws://h/"}
        << "go together";
    QTest::newRow("socks5 on the server")
        << QStringList {"server", "-remote_tcp", "h:1", "--socks5", ":1080"}
        << "is a client option";
    QTest::newRow("socks5 with a profile")
        << QStringList {"client", "--profile", "p", "--socks5", ":1080"}
        << "cannot be combined with --profile";
    QTest::newRow("check takes no socks5")
        << QStringList {"check", "ws://h/", "--socks5", ":1080"} << "check does not listen";
    QTest::newRow("check takes no udp, it points to --destination")
        << QStringList {"check", "ws://h/", "--udp", "127.0.0.1:1", "--udp-remote", "h:1"}
        << "check URL --destination udp/HOST:PORT";
    QTest::newRow("check destination without a port")
        << QStringList {"check", "ws://h/", "--destination", "h"}
        << "--destination expects HOST:PORT or udp/HOST:PORT";
    QTest::newRow("check destination with a scheme")
        << QStringList {"check", "ws://h/", "--destination", "tcp://h:1"}
        << "--destination expects HOST:PORT";
    QTest::newRow("check destination twice")
        << QStringList {"check", "ws://h/", "--destination", "h:1", "--destination", "i:1"}
        << "--destination is given more than once";
    QTest::newRow("check destination and its header")
        << QStringList {"check", "ws://h/", "--destination", "h:1", "-H", "tow-destination: i:1"}
        << "give the destination once";
    QTest::newRow("destination on the client")
        << QStringList {"client", "-remote_ws", "ws://h/", "--destination", "h:1"}
        << "--destination is for check";
    QTest::newRow("destination on the server")
        << QStringList {"server", "-remote_tcp", "h:1", "--destination", "h:1"}
        << "-destination is a client option";
    QTest::newRow("check two urls")
        << QStringList {"check", "ws://h/", "ws://i/"} << "unexpected argument \"ws://i/\"";
}

void TestCommandLine::errors()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);
    arguments.prepend(QStringLiteral("tcp-over-websocket"));
    QString error;
    QVERIFY(!CommandLine::parse(arguments, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY2(!error.contains(QLatin1Char('\n')), "an error is one line");
}

void TestCommandLine::helpAndVersion()
{
    QString error;
    for (const char *flag : {"--help", "-h", "-help"}) {
        const auto parsed = CommandLine::parse({"tcp-over-websocket", flag}, &error);
        QVERIFY2(parsed, flag);
        QCOMPARE(parsed->mode, CommandLine::Mode::Help);
        QVERIFY(parsed->text.contains(QLatin1String("-remote_tcp")));
    }
    const auto version = CommandLine::parse({"tcp-over-websocket", "--version"}, &error);
    QVERIFY(version);
    QCOMPARE(version->mode, CommandLine::Mode::Version);
}

void TestCommandLine::noArgumentsMeansTray()
{
    QString error;
    const auto parsed = CommandLine::parse({"tcp-over-websocket"}, &error);
    QVERIFY(parsed);
    QCOMPARE(parsed->mode, CommandLine::Mode::Tray);
}

void TestCommandLine::desktopSession_data()
{
    // Whether no arguments may start the tray app (QApplication), from the environment alone.
    QTest::addColumn<QStringList>("environment"); // NAME=VALUE
    QTest::addColumn<bool>("available"); // on Linux and the BSDs; Windows and macOS: always
    QTest::newRow("nothing") << QStringList {"HOME=/root"} << false;
    QTest::newRow("empty DISPLAY") << QStringList {"DISPLAY="} << false;
    QTest::newRow("X11") << QStringList {"DISPLAY=:0"} << true;
    QTest::newRow("Wayland") << QStringList {"WAYLAND_DISPLAY=wayland-0"} << true;
    QTest::newRow("offscreen") << QStringList {"QT_QPA_PLATFORM=offscreen"} << true;
    QTest::newRow("minimal") << QStringList {"QT_QPA_PLATFORM=minimal"} << true;
    QTest::newRow("vnc with options") << QStringList {"QT_QPA_PLATFORM=vnc:size=800x600"} << true;
    QTest::newRow("xcb without DISPLAY")
        << QStringList {"QT_QPA_PLATFORM=xcb", "WAYLAND_DISPLAY=wayland-0"} << false;
    QTest::newRow("xcb with DISPLAY") << QStringList {"QT_QPA_PLATFORM=xcb", "DISPLAY=:1"} << true;
    QTest::newRow("wayland without WAYLAND_DISPLAY")
        << QStringList {"QT_QPA_PLATFORM=wayland", "DISPLAY=:0"} << false;
    QTest::newRow("list falls back to xcb")
        << QStringList {"QT_QPA_PLATFORM=wayland;xcb", "DISPLAY=:0"} << true;
    QTest::newRow("list of display platforms, no display")
        << QStringList {"QT_QPA_PLATFORM=wayland;xcb"} << false;
    QTest::newRow("empty QT_QPA_PLATFORM") << QStringList {"QT_QPA_PLATFORM="} << false;
}

void TestCommandLine::desktopSession()
{
    QFETCH(QStringList, environment);
    QFETCH(bool, available);
    QProcessEnvironment values;
    for (const QString &entry : environment)
        values.insert(entry.section(QLatin1Char('='), 0, 0), entry.section(QLatin1Char('='), 1));
#if !defined(Q_OS_UNIX) || defined(Q_OS_DARWIN)
    available = true;
#endif
    QCOMPARE(DesktopSession::isAvailable(values), available);
}

void TestCommandLine::keepAlive()
{
    QString error;
    auto parsed = CommandLine::parse(
        {"tcp-over-websocket", "client", "-remote_ws", "ws://h/", "-keepalive", "2.5"}, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->client.relay.keepAliveIntervalMs, 2500);
    parsed = CommandLine::parse({"tcp-over-websocket", "server", "-remote_tcp", "h:1"}, &error);
    QVERIFY(parsed);
    QCOMPARE(parsed->server.relay.keepAliveIntervalMs, 10000);
}

void TestCommandLine::clientOptions()
{
    const QString pin = QString::fromLatin1(QByteArray(32, 'p').toBase64());
    const QString pin2 = QString::fromLatin1(QByteArray(32, 'q').toBase64());
    QString error;
    const auto parsed = CommandLine::parse({"tcp-over-websocket",
                                            "client",
                                            "-remote_ws",
                                            "wss://h/",
                                            "--proxy",
                                            "socks5://u:p@127.0.0.1:1080",
                                            "--ca-file",
                                            "/etc/ca.pem",
                                            "--pin-sha256",
                                            pin,
                                            "--pin_sha256=" + pin2,
                                            "--server-name",
                                            "example.org",
                                            "-H",
                                            "X-A: 1",
                                            "--header",
                                            "X-B:two words ",
                                            "--keepalive-mode",
                                            "ping",
                                            "--pong-timeout",
                                            "2.5",
                                            "--connect-timeout",
                                            "30",
                                            "--subprotocol",
                                            "binary"},
                                           &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->mode, CommandLine::Mode::Client);
    const ClientOptions &client = parsed->client;
    QCOMPARE(client.proxy, QStringLiteral("socks5://u:p@127.0.0.1:1080"));
    QCOMPARE(client.caFile, QStringLiteral("/etc/ca.pem"));
    QCOMPARE(client.pinsSha256, QStringList({pin, pin2}));
    QCOMPARE(client.serverName, QStringLiteral("example.org"));
    QCOMPARE(client.headers.size(), 2);
    QCOMPARE(client.headers.at(0).first, QByteArray("X-A"));
    QCOMPARE(client.headers.at(0).second, QByteArray("1"));
    QCOMPARE(client.headers.at(1).first, QByteArray("X-B"));
    QCOMPARE(client.headers.at(1).second, QByteArray("two words"));
    QCOMPARE(client.keepAliveMode, ClientOptions::KeepAliveMode::Ping);
    QCOMPARE(client.pongTimeoutMs, 2500);
    QCOMPARE(client.handshakeTimeoutMs, 30000);
    QCOMPARE(client.subprotocol, QStringLiteral("binary"));

    const auto defaults =
        CommandLine::parse({"tcp-over-websocket", "client", "-remote_ws", "ws://h/"}, &error);
    QVERIFY(defaults);
    QCOMPARE(defaults->client.proxy, QString());
    QCOMPARE(defaults->client.keepAliveMode, ClientOptions::KeepAliveMode::Empty);
    QCOMPARE(defaults->client.handshakeTimeoutMs, 15000);
    QVERIFY(defaults->client.headers.isEmpty());
    QCOMPARE(defaults->client.subprotocol, QString());
}

void TestCommandLine::socks5()
{
    QString error;
    auto parsed = CommandLine::parse(
        {"tcp-over-websocket", "client", "--socks5", "127.0.0.1:1080", "-remote_ws", "ws://h/"},
        &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->client.socks5Listen.toString(), QStringLiteral("127.0.0.1:1080"));
    QVERIFY(parsed->client.socks5User.isEmpty());

    QTemporaryFile file;
    QVERIFY(file.open());
    file.write("pass word\n");
    file.flush();
    parsed = CommandLine::parse({"tcp-over-websocket", "client", "--socks5", "[::1]:1080",
                                 "--socks5-user", "alice", "--socks5-password-file",
                                 file.fileName(), "-remote_ws", "ws://h/"},
                                &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->client.socks5Listen.toString(), QStringLiteral("[::1]:1080"));
    QCOMPARE(parsed->client.socks5User, QStringLiteral("alice"));
    QCOMPARE(parsed->client.socks5Password, QStringLiteral("pass word"));
}

void TestCommandLine::tokenFile()
{
    QTemporaryFile file;
    QVERIFY(file.open());
    file.write("  tok-123  \n");
    file.flush();
    QString error;
    auto parsed = CommandLine::parse(
        {"tcp-over-websocket", "client", "-remote_ws", "ws://h/", "--token-file", file.fileName()},
        &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->client.token, QStringLiteral("tok-123"));

    qputenv("TOW_TOKEN", "from-env");
    parsed = CommandLine::parse({"tcp-over-websocket", "client", "-remote_ws", "ws://h/"}, &error);
    qunsetenv("TOW_TOKEN");
    QVERIFY(parsed);
    QCOMPARE(parsed->client.token, QStringLiteral("from-env"));

    QTemporaryFile empty;
    QVERIFY(empty.open());
    QVERIFY(!CommandLine::parse(
        {"tcp-over-websocket", "client", "-remote_ws", "ws://h/", "--token-file", empty.fileName()},
        &error));
    QVERIFY2(error.contains(QLatin1String("is empty")), qPrintable(error));

    // The server's rule: one token on one line; a second line is refused, not cut off.
    QTemporaryFile twoLines;
    QVERIFY(twoLines.open());
    twoLines.write("tok-123\nsecond line\n");
    twoLines.flush();
    for (const char *command : {"client", "server"}) {
        QStringList arguments = {"tcp-over-websocket", command, "--token-file",
                                 twoLines.fileName()};
        arguments += command == QByteArray("client") ? QStringList {"-remote_ws", "ws://h/"}
                                                     : QStringList {"-remote_tcp", "h:1"};
        QVERIFY(!CommandLine::parse(arguments, &error));
        QVERIFY2(error.contains(QLatin1String("--token-file: ")), qPrintable(error));
        QVERIFY2(error.contains(QLatin1String("holds several lines; expected one token")),
                 qPrintable(error));
    }

    // A blank token must not make the server an open relay.
    qputenv("TOW_TOKEN", "  ");
    parsed = CommandLine::parse({"tcp-over-websocket", "server", "-remote_tcp", "h:1"}, &error);
    qunsetenv("TOW_TOKEN");
    QVERIFY(!parsed);
    QVERIFY2(error.contains(QLatin1String("TOW_TOKEN is set but blank")), qPrintable(error));
}

void TestCommandLine::check_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("destination"); // its header value; empty: none
    QTest::newRow("positional url")
        << QStringList {"check", "https://h/x"} << "wss://h/x" << QString();
    QTest::newRow("url flag") << QStringList {"check", "-remote_ws", "ws://h:1/"} << "ws://h:1/"
                              << QString();
    QTest::newRow("options after url")
        << QStringList {"check", "wss://h/", "--insecure", "--proxy", "none"} << "wss://h/"
        << QString();
    QTest::newRow("destination") << QStringList {"check", "wss://h/dyn", "--destination",
                                                 "db.corp.example:5432"}
                                 << "wss://h/dyn"
                                 << "db.corp.example:5432";
    QTest::newRow("UDP destination")
        << QStringList {"check", "wss://h/wg", "--destination=udp/[fd00::1]:51820"} << "wss://h/wg"
        << "udp/[fd00::1]:51820";
}

void TestCommandLine::check()
{
    QFETCH(QStringList, arguments);
    arguments.prepend(QStringLiteral("tcp-over-websocket"));
    QString error;
    const auto parsed = CommandLine::parse(arguments, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->mode, CommandLine::Mode::Check);
    QTEST(parsed->client.serverUrl.toString(), "url");
    QFETCH(QString, destination);
    QCOMPARE(bool(parsed->checkDestination), !destination.isEmpty());
    if (parsed->checkDestination)
        QCOMPARE(QString::fromLatin1(parsed->checkDestination->headerValue()), destination);
}

void TestCommandLine::hostHeaderIsServerName()
{
    // -H 'Host: NAME' (as curl and Go clients take it) names the server as --server-name does; it
    // is never sent as a second Host line.
    QString error;
    const auto parsed =
        CommandLine::parse({"tcp-over-websocket", "client", "-remote_ws", "wss://203.0.113.7/",
                            "-H", "Host: tunnel.example", "-H", "X-A: 1"},
                           &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->client.serverName, QStringLiteral("tunnel.example"));
    QCOMPARE(parsed->client.headers.size(), 1);
    QCOMPARE(parsed->client.headers.constFirst().first, QByteArray("X-A"));
    // Both, agreeing (in any case), are fine.
    QVERIFY2(CommandLine::parse({"tcp-over-websocket", "client", "-remote_ws", "wss://h/", "-H",
                                 "host: Tunnel.example", "--server-name", "tunnel.example"},
                                &error),
             qPrintable(error));
}

namespace {

// A store in dir with the given profiles file (JSON text).
std::unique_ptr<ProfileStore> storeWith(const QTemporaryDir &dir, const QByteArray &json)
{
    auto store = std::make_unique<ProfileStore>(dir.path());
    QFile file(store->filePath());
    if (!file.open(QIODevice::WriteOnly) || file.write(json) != json.size())
        return nullptr;
    file.close();
    QString error;
    if (!store->load(&error))
        qWarning() << error;
    return store;
}

} // namespace

void TestCommandLine::profileNamesIgnoreCase()
{
    QTemporaryDir dir;
    const auto store = storeWith(dir, R"({"schema": 1, "profiles": [
        {"name": "SSH Home", "listen": "127.0.0.1:2222", "server": "ws://h/"},
        {"name": "DB", "listen": "127.0.0.1:5432", "server": "ws://h/db", "autoStart": true}]})");
    QVERIFY(store);
    QString error;
    const auto parsed = CommandLine::parse({"tcp-over-websocket", "client", "--profile", "ssh home",
                                            "--profile", "SSH HOME", "--all-autostart"},
                                           &error);
    QVERIFY2(parsed, qPrintable(error));
    QStringList warnings;
    bool unknownName = true;
    const auto selected = parsed->selectProfiles(*store, &warnings, &error, &unknownName);
    QVERIFY2(selected, qPrintable(error));
    QCOMPARE(selected->size(), 2); // named twice, started once
    QCOMPARE(selected->at(0).name, QStringLiteral("SSH Home"));
    QCOMPARE(selected->at(1).name, QStringLiteral("DB"));
    QVERIFY(warnings.isEmpty());

    const auto unknown =
        CommandLine::parse({"tcp-over-websocket", "client", "--profile", "ssh"}, &error);
    QVERIFY(!unknown->selectProfiles(*store, &warnings, &error, &unknownName));
    QVERIFY(unknownName);
    QVERIFY2(error.contains(QStringLiteral("no saved profile is named \"ssh\"")),
             qPrintable(error));
}

void TestCommandLine::profileNeedingAttention()
{
    QTemporaryDir dir;
    const auto store = storeWith(dir, R"({"schema": 1, "profiles": [
        {"name": "Good", "listen": "127.0.0.1:2222", "server": "ws://h/", "autoStart": true},
        {"name": "Bad", "listen": "127.0.0.1:99999", "server": "ws://h/", "autoStart": true}]})");
    QVERIFY(store);
    QString error;
    QStringList warnings;
    bool unknownName = true;
    const auto named =
        CommandLine::parse({"tcp-over-websocket", "client", "--profile", "bad"}, &error);
    QVERIFY(!named->selectProfiles(*store, &warnings, &error, &unknownName));
    QVERIFY(!unknownName);
    QVERIFY2(error.contains(QStringLiteral("profile \"Bad\" needs attention: key \"listen\"")),
             qPrintable(error));

    const auto all =
        CommandLine::parse({"tcp-over-websocket", "client", "--all-autostart"}, &error);
    const auto selected = all->selectProfiles(*store, &warnings, &error, &unknownName);
    QVERIFY2(selected, qPrintable(error));
    QCOMPARE(selected->size(), 1);
    QCOMPARE(selected->constFirst().name, QStringLiteral("Good"));
    QCOMPARE(warnings.size(), 1);
    QVERIFY2(warnings.constFirst().contains(QStringLiteral("\"Bad\" needs attention")),
             qPrintable(warnings.constFirst()));
}

void TestCommandLine::udpMode()
{
    QString error;
    const auto parsed = CommandLine::parse(
        {"tcp-over-websocket", "client", "--udp", "127.0.0.1:51820", "--udp-remote",
         "vpn.internal:51820", "-remote_ws", "wss://example.org/wg", "--udp-idle-timeout", "2.5"},
        &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->mode, CommandLine::Mode::Client);
    QCOMPARE(parsed->client.udpListen.toString(), QStringLiteral("127.0.0.1:51820"));
    QCOMPARE(parsed->client.udpRemote.toString(), QStringLiteral("vpn.internal:51820"));
    QCOMPARE(parsed->client.udpIdleTimeoutMs, 2500);

    const auto ipv6 = CommandLine::parse({"tcp-over-websocket", "client", "--udp", "[::1]:53",
                                          "--udp-remote", "[fd00::1]:53", "-remote_ws", "ws://h/"},
                                         &error);
    QVERIFY2(ipv6, qPrintable(error));
    QCOMPARE(ipv6->client.udpRemote.host, QStringLiteral("fd00::1"));
    QCOMPARE(ipv6->client.udpIdleTimeoutMs, 60000);

    // Without --udp: no UDP mode.
    const auto tcp = CommandLine::parse(
        {"tcp-over-websocket", "client", "-listen_tcp", ":1234", "-remote_ws", "ws://h/"}, &error);
    QVERIFY(tcp);
    QCOMPARE(tcp->client.udpRemote.port, quint16(0));
}

void TestCommandLine::udpErrors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected");
    QTest::newRow("udp and listen_tcp")
        << QStringList {"client",      "--udp", "127.0.0.1:5", "--udp-remote", "h:5",
                        "-listen_tcp", ":1",    "-remote_ws",  "ws://h/"}
        << "either -listen_tcp or --udp";
    QTest::newRow("no remote") << QStringList {"client", "--udp", "127.0.0.1:5", "-remote_ws",
                                               "ws://h/"}
                               << "--udp needs --udp-remote";
    QTest::newRow("remote without udp")
        << QStringList {"client", "--udp-remote", "h:5", "-remote_ws", "ws://h/"} << "add --udp";
    QTest::newRow("name to listen on")
        << QStringList {"client", "--udp",      "example.org:5", "--udp-remote",
                        "h:5",    "-remote_ws", "ws://h/"}
        << "IP address";
    QTest::newRow("bad remote") << QStringList {"client",       "--udp", "127.0.0.1:5",
                                                "--udp-remote", "h:0",   "-remote_ws",
                                                "ws://h/"}
                                << "--udp-remote expects HOST:PORT";
    QTest::newRow("bad idle timeout")
        << QStringList {"client", "--udp",      "127.0.0.1:5", "--udp-remote",
                        "h:5",    "-remote_ws", "ws://h/",     "--udp-idle-timeout",
                        "0"}
        << "udp-idle-timeout expects";
    QTest::newRow("on the server")
        << QStringList {"server", "-remote_tcp", "h:1", "--udp", "127.0.0.1:5"}
        << "-udp is a client option";
    QTest::newRow("twice") << QStringList {"client", "--udp",       "127.0.0.1:5",
                                           "--udp",  "127.0.0.1:6", "--udp-remote",
                                           "h:5",    "-remote_ws",  "ws://h/"}
                           << "more than once";
}

void TestCommandLine::udpErrors()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);
    arguments.prepend(QStringLiteral("tcp-over-websocket"));
    QString error;
    QVERIFY(!CommandLine::parse(arguments, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestCommandLine)
#include "tst_commandline.moc"

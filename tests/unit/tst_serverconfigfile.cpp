// The server's --config file: a complete example read field by field, and every kind of mistake
// refused with a message naming the file, the key and what was expected.
#include "regularfile.h"
#include "server/serverconfigfile.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <chrono>
#include <functional>
#include <future>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

class TestServerConfigFile : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void fullExample();
    void defaultsKept();
    void dynamicRoutes();
    void errors_data();
    void errors();
    void missingFile();
    void secretFile();
#ifdef Q_OS_UNIX
    void fifoNeverWaitedOn();
#endif

private:
    static QString data(const QString &name)
    {
        return QStringLiteral(TOW_TEST_DATA_DIR "/serverconfig/") + name;
    }
};

void TestServerConfigFile::fullExample()
{
    QString error;
    const auto options = ServerConfigFile::load(data("full.json"), ServerOptions(), &error);
    QVERIFY2(options, qPrintable(error));
    QCOMPARE(options->listen.toString(), QString("127.0.0.1:9443"));
    QCOMPARE(options->realIpHeader, QString("X-Forwarded-For"));
    QCOMPARE(options->trustedProxies.size(), 2);
    QVERIFY(QHostAddress("10.1.2.3")
                .isInSubnet(options->trustedProxies[1].first, options->trustedProxies[1].second));
    QCOMPARE(options->drainTimeoutMs, 5000);
    QCOMPARE(options->relay.keepAliveIntervalMs, 20000);
    QCOMPARE(options->relay.stallTimeoutMs, 45000);
    QCOMPARE(options->limits.maxTunnels, 500);
    QCOMPARE(options->limits.maxTunnelsPerIp, 20);
    QCOMPARE(options->limits.handshakeTimeoutMs, 3000);
    QCOMPARE(options->limits.maxPendingConnections, 100);
    QCOMPARE(options->limits.maxTlsHandshakes, 32);
    QCOMPARE(options->limits.idleTimeoutMs, 600000);
    QCOMPARE(options->relay.maxIncomingFrameBytes, 1048576);
    QCOMPARE(options->routes.size(), 2);
    const ServerRoute &ssh = options->routes[0];
    QCOMPARE(ssh.path, QString("/ssh"));
    QCOMPARE(ssh.remote.toString(), QString("127.0.0.1:22"));
    QCOMPARE(ssh.token, QString("file-secret")); // read from ssh.token beside the file
    QCOMPARE(ssh.maxTunnels, 10);
    QCOMPARE(ssh.maxTunnelsPerIp, 2);
    QCOMPARE(ssh.idleTimeoutMs, 3600000);
    const ServerRoute &db = options->routes[1];
    QCOMPARE(db.remote.toString(), QString("[::1]:5432"));
    QCOMPARE(db.token, QString("inline-secret"));
    QCOMPARE(db.allowedOrigins, QStringList {"https://example.org"});
    QCOMPARE(db.idleTimeoutMs, -1); // the server's
    // Relative to the file's directory; read when the server starts, not here.
    QCOMPARE(options->tlsCertFile, data("tls/fullchain.pem"));
    QCOMPARE(options->tlsKeyFile, QString("/etc/tcp-over-websocket/privkey.pem"));
}

void TestServerConfigFile::defaultsKept()
{
    ServerOptions defaults;
    defaults.relay.keepAliveIntervalMs = 1234;
    defaults.limits.maxTunnels = 77;
    QString error;
    const auto options = ServerConfigFile::load(data("minimal.json"), defaults, &error);
    QVERIFY2(options, qPrintable(error));
    QCOMPARE(options->relay.keepAliveIntervalMs, 1234);
    QCOMPARE(options->limits.maxTunnels, 77);
    QCOMPARE(options->listen.port, quint16(8080));
    QCOMPARE(options->routes.size(), 1);
    QVERIFY(options->routes[0].token.isEmpty());
    QVERIFY(options->tlsCertFile.isEmpty());
    QVERIFY(options->tlsKeyFile.isEmpty());
}

void TestServerConfigFile::dynamicRoutes()
{
    QString error;
    const auto options = ServerConfigFile::load(data("dynamic.json"), ServerOptions(), &error);
    QVERIFY2(options, qPrintable(error));
    QCOMPARE(options->routes.size(), 2);
    const ServerRoute &dyn = options->routes[0];
    QVERIFY(dyn.remote.host.isEmpty()); // no fixed remote: clients name the destination
    QCOMPARE(dyn.allow.size(), 3);
    QCOMPARE(dyn.allow[0].text, QString("*.corp.example:443"));
    QCOMPARE(dyn.allow[0].kind, DestinationRule::Kind::Subdomain);
    QCOMPARE(dyn.allow[1].kind, DestinationRule::Kind::Subnet);
    QVERIFY(dyn.allow[2].udp);
    const ServerRoute &both = options->routes[1];
    QCOMPARE(both.remote.toString(), QString("127.0.0.1:22"));
    QCOMPARE(both.allow.size(), 1);
    QCOMPARE(both.allow[0].text, QString("127.0.0.1:5432"));
}

void TestServerConfigFile::errors_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("message"); // after "<path>: "

    QTest::newRow("unknown key") << "unknown-key.json"
                                 << "limts: unknown key (expected one of: listen, routes,";
    QTest::newRow("remote without port") << "remote-without-port.json"
                                         << "routes[0].remote: ";
    QTest::newRow("remote port 0") << "remote-port-zero.json"
                                   << "routes[0].remote: port 0 cannot be connected to";
    QTest::newRow("no routes") << "no-routes.json"
                               << "routes: expected an array with at least one route";
    QTest::newRow("duplicate path") << "duplicate-path.json"
                                    << "routes[1].path: /a is used by another route";
    QTest::newRow("reserved path") << "reserved-path.json"
                                   << "routes[0].path: /metrics is served by the server itself";
    QTest::newRow("relative path") << "relative-path.json"
                                   << "routes[0].path: \"ssh\" must start with /";
    QTest::newRow("broken JSON") << "broken-json.json"
                                 << "line 3: invalid JSON: ";
    QTest::newRow("negative limit") << "negative-limit.json"
                                    << "limits.maxTunnels: expected a whole number from 0 to";
    QTest::newRow("string limit") << "string-limit.json"
                                  << "limits.maxTunnels: expected a whole number from 0 to";
    QTest::newRow("missing token file") << "missing-token-file.json"
                                        << "routes[0].tokenFile: cannot read ";
    QTest::newRow("token and file") << "token-and-file.json"
                                    << "routes[0].tokenFile: give either token or tokenFile";
    // An empty token would turn authentication off without a word.
    QTest::newRow("empty token") << "empty-token.json"
                                 << "routes[0].token: empty; give the token";
    QTest::newRow("blank token") << "blank-token.json"
                                 << "routes[0].token: empty; give the token";
    QTest::newRow("empty token file name") << "empty-token-file-name.json"
                                           << "routes[0].tokenFile: empty; give the name";
    QTest::newRow("real IP header without proxies") << "real-ip-untrusted.json"
                                                    << "realIpHeader: needs trustedProxies";
    QTest::newRow("bad proxy") << "bad-proxy.json"
                               << "trustedProxies[0]: expected an address or a subnet";
    QTest::newRow("TLS without key") << "tls-without-key.json"
                                     << "TLS needs both a certificate and a key";
    QTest::newRow("TLS not an object") << "tls-not-object.json"
                                       << "tls: expected an object with cert and key";
    QTest::newRow("TLS unknown key") << "tls-unknown-key.json"
                                     << "tls.chain: unknown key (expected one of: cert, key)";
    QTest::newRow("TLS cert not a string") << "tls-cert-not-string.json"
                                           << "tls.cert: expected a string";
    QTest::newRow("not an object") << "not-object.json"
                                   << "expected a JSON object at the top level";
    QTest::newRow("bad allow rule")
        << "bad-allow-rule.json"
        << "routes[0].allow[0]: invalid destination rule \"*.corp.example\": missing \":PORTS\"";
    QTest::newRow("empty allow") << "empty-allow.json"
                                 << "routes[0].allow: empty; list the";
    QTest::newRow("allow not an array") << "allow-not-array.json"
                                        << "routes[0].allow: expected an array of strings";
    QTest::newRow("neither remote nor allow") << "no-remote-no-allow.json"
                                              << "routes[0].remote: missing; expected HOST:PORT";
    QTest::newRow("origin not a string") << "origin-not-string.json"
                                         << "routes[0].allowedOrigins[0]: expected a string";
}

void TestServerConfigFile::errors()
{
    QFETCH(QString, file);
    QFETCH(QString, message);
    QString error;
    const auto options = ServerConfigFile::load(data(file), ServerOptions(), &error);
    QVERIFY(!options);
    const QString prefix = data(file) + QStringLiteral(": ");
    QVERIFY2(error.startsWith(prefix + message), qPrintable(error));
}

void TestServerConfigFile::missingFile()
{
    QString error;
    QVERIFY(!ServerConfigFile::load(data("does-not-exist.json"), ServerOptions(), &error));
    QVERIFY2(error.startsWith("cannot read " + data("does-not-exist.json")), qPrintable(error));
}

void TestServerConfigFile::secretFile()
{
    QString error;
    QCOMPARE(RegularFile::readSecret(data("ssh.token"), &error).value_or(QString()),
             QString("file-secret"));
    QVERIFY(!RegularFile::readSecret(data("full.json"), &error));
    QVERIFY2(error.contains("several lines"), qPrintable(error));
}

#ifdef Q_OS_UNIX
void TestServerConfigFile::fifoNeverWaitedOn()
{
    // Files are read again on SIGHUP by the single-threaded server: a FIFO without a writer named
    // as tokenFile (or as the configuration) once blocked the reload in open(), and the server
    // with it. Read on another thread, so that a reader that waits fails this test, not hangs it.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString fifo = dir.filePath("token.fifo");
    QCOMPARE(::mkfifo(QFile::encodeName(fifo).constData(), 0600), 0);
    QFile config(dir.filePath("config.json"));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(R"({"routes": [{"path": "/", "remote": "h:1", "tokenFile": "token.fifo"}]})");
    config.close();

    const auto returnsAtOnce = [&fifo](const std::function<QString()> &read) {
        auto result = std::async(std::launch::async, read);
        if (result.wait_for(std::chrono::seconds(5)) == std::future_status::ready)
            return result.get();
        // Stuck in open(): a writer that comes and goes lets it return and read the end of the
        // file, so that the thread can end.
        while (result.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
            const int writer = ::open(QFile::encodeName(fifo).constData(), O_WRONLY | O_NONBLOCK);
            if (writer >= 0)
                ::close(writer);
        }
        return QStringLiteral("waited for a writer");
    };
    QString error = returnsAtOnce([&fifo] {
        QString why;
        RegularFile::readSecret(fifo, &why);
        return why;
    });
    QVERIFY2(error.contains("it is a FIFO (named pipe), not a regular file"), qPrintable(error));
    error = returnsAtOnce([&config] {
        QString why;
        ServerConfigFile::load(config.fileName(), ServerOptions(), &why);
        return why;
    });
    QVERIFY2(error.contains("routes[0].tokenFile: cannot read ") && error.contains("FIFO"),
             qPrintable(error));
    error = returnsAtOnce([&fifo] {
        QString why;
        ServerConfigFile::load(fifo, ServerOptions(), &why);
        return why;
    });
    QVERIFY2(error.startsWith("cannot read " + fifo + ": it is a FIFO"), qPrintable(error));
}
#endif

QTEST_GUILESS_MAIN(TestServerConfigFile)
#include "tst_serverconfigfile.moc"

// Admission of upgrade requests: routing by path, tokens (header and query), Origins, the
// concurrency limits and the client address seen through trusted proxies.
#include "server/tunneladmission.h"

#include <QTest>

using Outcome = TunnelAdmission::Outcome;
Q_DECLARE_METATYPE(Outcome)

class TestTunnelAdmission : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void decisions_data();
    void decisions();
    void prefixRoutes_data();
    void prefixRoutes();
    void limits();
    void ipv6ClientsCountedPerSlash64();
    void slotsSurviveReload();
    void clientAddress_data();
    void clientAddress();
    void secretsEqual();

private:
    static ServerOptions options();
    static AdmissionRequest upgrade(const QString &path, const char *peer = "192.0.2.1");
};

ServerOptions TestTunnelAdmission::options()
{
    ServerOptions options;
    ServerRoute open;
    open.path = QStringLiteral("/open");
    open.remote = {QStringLiteral("127.0.0.1"), 22};
    ServerRoute secret;
    secret.path = QStringLiteral("/secret");
    secret.remote = {QStringLiteral("127.0.0.1"), 23};
    secret.token = QStringLiteral("s3cr3t");
    secret.allowedOrigins = {QStringLiteral("https://ok.example")};
    options.routes = {open, secret};
    return options;
}

AdmissionRequest TestTunnelAdmission::upgrade(const QString &path, const char *peer)
{
    AdmissionRequest request;
    request.path = path;
    request.peer = QHostAddress(QString::fromLatin1(peer));
    request.isWebSocketUpgrade = true;
    return request;
}

void TestTunnelAdmission::decisions_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<bool>("isUpgrade");
    QTest::addColumn<QByteArray>("authorization");
    QTest::addColumn<QString>("queryToken");
    QTest::addColumn<QByteArray>("origin");
    QTest::addColumn<Outcome>("outcome");
    QTest::addColumn<int>("status");

    QTest::newRow("open route") << "/open" << true << QByteArray() << "" << QByteArray()
                                << Outcome::Admit << 101;
    QTest::newRow("unknown path") << "/nope" << true << QByteArray() << "" << QByteArray()
                                  << Outcome::NoRoute << 404;
    QTest::newRow("path is exact")
        << "/open/" << true << QByteArray() << "" << QByteArray() << Outcome::NoRoute << 404;
    QTest::newRow("plain GET") << "/open" << false << QByteArray() << "" << QByteArray()
                               << Outcome::NotWebSocket << 426;
    QTest::newRow("no token") << "/secret" << true << QByteArray() << "" << QByteArray()
                              << Outcome::Unauthorized << 401;
    QTest::newRow("wrong token") << "/secret" << true << QByteArray("Bearer s3cr3u") << ""
                                 << QByteArray() << Outcome::Unauthorized << 401;
    QTest::newRow("token prefix") << "/secret" << true << QByteArray("Bearer s3cr3") << ""
                                  << QByteArray() << Outcome::Unauthorized << 401;
    QTest::newRow("Basic is not Bearer") << "/secret" << true << QByteArray("Basic s3cr3t") << ""
                                         << QByteArray() << Outcome::Unauthorized << 401;
    QTest::newRow("header token") << "/secret" << true << QByteArray("Bearer s3cr3t") << ""
                                  << QByteArray() << Outcome::Admit << 101;
    QTest::newRow("scheme case-insensitive") << "/secret" << true << QByteArray("bearer s3cr3t")
                                             << "" << QByteArray() << Outcome::Admit << 101;
    QTest::newRow("query token") << "/secret" << true << QByteArray() << "s3cr3t" << QByteArray()
                                 << Outcome::Admit << 101;
    QTest::newRow("wrong query token") << "/secret" << true << QByteArray() << "nope"
                                       << QByteArray() << Outcome::Unauthorized << 401;
    QTest::newRow("allowed origin") << "/secret" << true << QByteArray("Bearer s3cr3t") << ""
                                    << QByteArray("https://ok.example") << Outcome::Admit << 101;
    QTest::newRow("other origin") << "/secret" << true << QByteArray("Bearer s3cr3t") << ""
                                  << QByteArray("https://evil.example") << Outcome::OriginRefused
                                  << 403;
}

void TestTunnelAdmission::decisions()
{
    QFETCH(QString, path);
    QFETCH(bool, isUpgrade);
    QFETCH(QByteArray, authorization);
    QFETCH(QString, queryToken);
    QFETCH(QByteArray, origin);
    QFETCH(Outcome, outcome);
    QFETCH(int, status);

    TunnelAdmission admission(options());
    AdmissionRequest request = upgrade(path);
    request.isWebSocketUpgrade = isUpgrade;
    request.authorization = authorization;
    request.queryToken = queryToken;
    request.origin = origin;
    const auto decision = admission.admit(request);
    QCOMPARE(decision.outcome, outcome);
    QCOMPARE(TunnelAdmission::httpStatus(decision.outcome), status);
    QCOMPARE(admission.activeTunnels(), outcome == Outcome::Admit ? 1 : 0);
    QVERIFY(!TunnelAdmission::explanation(outcome).contains("s3cr3t"));
}

// An IPv6 client typically holds a whole /64: counting single addresses would let it take any
// number of slots.
void TestTunnelAdmission::prefixRoutes_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("route"); // empty: no route

    // "/" with prefix: the command line's route, every path as with the original; "/ssh/" and
    // "/db" with prefix beside it, "/exact" without.
    QTest::newRow("root") << "/"
                          << "/";
    QTest::newRow("any path") << "/anything/deeper"
                              << "/";
    QTest::newRow("below /ssh/") << "/ssh/host1"
                                 << "/ssh/";
    QTest::newRow("/ssh/ itself") << "/ssh/"
                                  << "/ssh/";
    QTest::newRow("/ssh without slash") << "/ssh"
                                        << "/";
    QTest::newRow("below /db") << "/db/x"
                               << "/db";
    QTest::newRow("/db itself") << "/db"
                                << "/db";
    QTest::newRow("/dbx is not below /db") << "/dbx"
                                           << "/";
    QTest::newRow("exact route") << "/exact"
                                 << "/exact";
    QTest::newRow("below an exact route") << "/exact/x"
                                          << "/";
    QTest::newRow("/metrics is the server's") << "/metrics"
                                              << "";
    QTest::newRow("/healthz is the server's") << "/healthz"
                                              << "";
    QTest::newRow("/readyz is the server's") << "/readyz"
                                             << "";
}

void TestTunnelAdmission::prefixRoutes()
{
    QFETCH(QString, path);
    QFETCH(QString, route);
    ServerOptions options;
    for (const auto &[routePath, prefix] : {std::pair {"/", true}, std::pair {"/ssh/", true},
                                            std::pair {"/db", true}, std::pair {"/exact", false}}) {
        ServerRoute entry;
        entry.path = QString::fromLatin1(routePath);
        entry.prefix = prefix;
        entry.remote = {QStringLiteral("127.0.0.1"), 22};
        options.routes.append(entry);
    }
    TunnelAdmission admission(options);
    const TunnelAdmission::Decision decision = admission.admit(upgrade(path));
    if (route.isEmpty()) {
        QCOMPARE(decision.outcome, Outcome::NoRoute);
    } else {
        QCOMPARE(decision.outcome, Outcome::Admit);
        QCOMPARE(decision.slot.routePath, route);
    }
}

void TestTunnelAdmission::ipv6ClientsCountedPerSlash64()
{
    ServerOptions settings = options();
    settings.routes[0].maxTunnelsPerIp = 2;
    TunnelAdmission admission(settings);
    const auto first = admission.admit(upgrade("/open", "2001:db8:1:2::10"));
    QCOMPARE(first.outcome, Outcome::Admit);
    QCOMPARE(first.slot.clientAddress, QStringLiteral("2001:db8:1:2::10")); // logs: the address
    QCOMPARE(admission.admit(upgrade("/open", "2001:db8:1:2:ffff::1")).outcome, Outcome::Admit);
    QCOMPARE(admission.admit(upgrade("/open", "2001:db8:1:2::99")).outcome, Outcome::ClientFull);
    // Another /64 is another client; IPv4 is counted per address.
    QCOMPARE(admission.admit(upgrade("/open", "2001:db8:1:3::10")).outcome, Outcome::Admit);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.1")).outcome, Outcome::Admit);
    // Releasing one frees a slot for the whole /64.
    admission.release(first.slot);
    QCOMPARE(admission.admit(upgrade("/open", "2001:db8:1:2::abcd")).outcome, Outcome::Admit);
}

void TestTunnelAdmission::limits()
{
    ServerOptions settings = options();
    settings.limits.maxTunnels = 4;
    settings.limits.maxTunnelsPerIp = 3;
    settings.routes[0].maxTunnelsPerIp = 2;
    TunnelAdmission admission(settings);

    // Per client on the route: 2.
    const auto a1 = admission.admit(upgrade("/open", "192.0.2.1"));
    const auto a2 = admission.admit(upgrade("/open", "192.0.2.1"));
    QCOMPARE(a2.outcome, Outcome::Admit);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.1")).outcome, Outcome::ClientFull);
    // The same client on another route, up to the server's per-client limit of 3.
    AdmissionRequest secret = upgrade("/secret", "192.0.2.1");
    secret.authorization = "Bearer s3cr3t";
    QCOMPARE(admission.admit(secret).outcome, Outcome::Admit);
    QCOMPARE(admission.admit(secret).outcome, Outcome::ClientFull);
    QCOMPARE(TunnelAdmission::httpStatus(Outcome::ClientFull), 429);
    // Another client fills the server (4), then everyone gets 503.
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.2")).outcome, Outcome::Admit);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.3")).outcome, Outcome::ServerFull);
    QCOMPARE(TunnelAdmission::httpStatus(Outcome::ServerFull), 503);
    QCOMPARE(admission.activeTunnels(), 4);
    QCOMPARE(admission.activeTunnels("/open"), 3);

    // A finished tunnel frees its slot for exactly that client and route.
    admission.release(a1.slot);
    QCOMPARE(admission.activeTunnels(), 3);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.1")).outcome, Outcome::Admit);

    admission.setDraining(true);
    admission.release(a2.slot);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.9")).outcome, Outcome::Draining);
}

void TestTunnelAdmission::slotsSurviveReload()
{
    ServerOptions settings = options();
    settings.routes[0].maxTunnels = 1;
    TunnelAdmission admission(settings);
    const auto held = admission.admit(upgrade("/open"));
    QCOMPARE(held.outcome, Outcome::Admit);
    // The route stays in the new configuration: its open tunnel still counts.
    admission.setOptions(settings);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.7")).outcome, Outcome::RouteFull);
    admission.release(held.slot);
    QCOMPARE(admission.admit(upgrade("/open", "192.0.2.7")).outcome, Outcome::Admit);
}

void TestTunnelAdmission::clientAddress_data()
{
    QTest::addColumn<QString>("peer");
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QString>("client");

    QTest::newRow("no header") << "127.0.0.1" << QByteArray() << "127.0.0.1";
    QTest::newRow("trusted proxy, one hop")
        << "127.0.0.1" << QByteArray("203.0.113.9") << "203.0.113.9";
    QTest::newRow("forged left part ignored")
        << "127.0.0.1" << QByteArray("1.2.3.4, 203.0.113.9") << "203.0.113.9";
    QTest::newRow("two trusted proxies")
        << "127.0.0.1" << QByteArray("203.0.113.9, 10.0.0.5") << "203.0.113.9";
    QTest::newRow("untrusted peer's header ignored")
        << "198.51.100.1" << QByteArray("203.0.113.9") << "198.51.100.1";
    QTest::newRow("garbage") << "127.0.0.1" << QByteArray("not-an-address") << "127.0.0.1";
    QTest::newRow("IPv4-mapped peer") << "::ffff:198.51.100.1" << QByteArray() << "198.51.100.1";
    QTest::newRow("IPv4 with a port")
        << "127.0.0.1" << QByteArray("203.0.113.9:41234") << "203.0.113.9";
    QTest::newRow("IPv6 with a port")
        << "127.0.0.1" << QByteArray("[2001:db8::7]:443, 10.0.0.5:80") << "2001:db8::7";
    QTest::newRow("bare IPv6") << "127.0.0.1" << QByteArray("2001:db8::7") << "2001:db8::7";
    QTest::newRow("quoted IPv6") << "127.0.0.1" << QByteArray("\"[2001:db8::7]\"") << "2001:db8::7";
    QTest::newRow("bracket garbage") << "127.0.0.1" << QByteArray("[2001:db8::7]x") << "127.0.0.1";
}

void TestTunnelAdmission::clientAddress()
{
    QFETCH(QString, peer);
    QFETCH(QByteArray, header);
    QFETCH(QString, client);
    ServerOptions settings = options();
    settings.realIpHeader = QStringLiteral("X-Forwarded-For");
    settings.trustedProxies = {QHostAddress::parseSubnet("127.0.0.0/8"),
                               QHostAddress::parseSubnet("10.0.0.0/8")};
    TunnelAdmission admission(settings);
    QCOMPARE(admission.clientAddress(QHostAddress(peer), header), client);
}

void TestTunnelAdmission::secretsEqual()
{
    QVERIFY(TunnelAdmission::secretsEqual("abc", "abc"));
    QVERIFY(!TunnelAdmission::secretsEqual("abc", "abd"));
    QVERIFY(!TunnelAdmission::secretsEqual("abc", "abcd"));
    QVERIFY(!TunnelAdmission::secretsEqual("abc", ""));
    QVERIFY(TunnelAdmission::secretsEqual("", ""));
}

QTEST_GUILESS_MAIN(TestTunnelAdmission)
#include "tst_tunneladmission.moc"

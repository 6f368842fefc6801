// ConnectionProbe, the tray app's "Test" of a saved profile, against our real server with a route
// that takes named destinations only (with a token) and one with a fixed remote: a SOCKS5 profile
// passes where the server refuses its unnamed probe with a Tow-Error answer, and fails where the
// token is wrong or the server is unreachable; a UDP profile gets the server's verdict on its
// destination; a port forward needs the fixed remote.
#include "endpoints.h"
#include "towprocess.h"
#include "tunnels/connectionprobe.h"

#include <QFile>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

class TestConnectionProbe : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void probe_data();
    void probe();

private:
    QTemporaryDir m_dir;
    EchoServer m_echo;
    TowProcess m_server;
    quint16 m_closedPort = 0;
};

void TestConnectionProbe::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost));
        m_closedPort = probe.serverPort();
    }
    QFile config(m_dir.filePath(QStringLiteral("routes.json")));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(QStringLiteral(R"({"listen": "127.0.0.1:0", "routes": [
    {"path": "/dyn", "token": "dyn-secret", "allow": ["127.0.0.1:%1", "udp/127.0.0.1:%1"]},
    {"path": "/fixed", "remote": "127.0.0.1:%1"}]})")
                     .arg(m_echo.serverPort())
                     .toUtf8());
    config.close();
    QVERIFY2(m_server.start({"server", "--config", config.fileName()}), qPrintable(m_server.log()));
}

void TestConnectionProbe::cleanupTestCase()
{
    QCOMPARE(m_server.stop(), 0);
}

void TestConnectionProbe::probe_data()
{
    QTest::addColumn<Profile::Kind>("kind");
    QTest::addColumn<QString>("path"); // "CLOSED": a port nothing listens on
    QTest::addColumn<QString>("token");
    QTest::addColumn<QString>("udpRemote"); // ECHO is replaced by the echo endpoint's port
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QStringList>("expected"); // lines or parts of lines of the message

    using Kind = Profile::Kind;
    QTest::newRow("SOCKS5, named destinations only")
        << Kind::Socks5 << "/dyn"
        << "dyn-secret" << QString() << true
        << QStringList {"[ok] HTTP upgrade:",
                        "answered for the destination: HTTP 403, Tow-Error: not-allowed",
                        "[ok] Destination: none named, and the route takes named destinations "
                        "only (HTTP 403, Tow-Error: not-allowed)"};
    QTest::newRow("SOCKS5, wrong token")
        << Kind::Socks5 << "/dyn"
        << "wrong" << QString() << false
        << QStringList {"[failed] HTTP upgrade: HTTP 401 Unauthorized"};
    QTest::newRow("SOCKS5, server unreachable")
        << Kind::Socks5 << "CLOSED"
        << "dyn-secret" << QString() << false
        << QStringList {"[failed] TCP: cannot connect to 127.0.0.1:"};
    QTest::newRow("SOCKS5, fixed remote")
        << Kind::Socks5 << "/fixed" << QString() << QString() << true
        << QStringList {"[ok] Round trip:",
                        "Note: the route opened a tunnel without a destination (it has a fixed "
                        "remote); the proxy's destinations must also be in its allow list."};
    QTest::newRow("forward, named destinations only")
        << Kind::Forward << "/dyn"
        << "dyn-secret" << QString() << false
        << QStringList {"[failed] Destination: the route takes named destinations only (HTTP 403, "
                        "Tow-Error: not-allowed): a port forward names none and is refused"};
    QTest::newRow("forward, fixed remote") << Kind::Forward << "/fixed" << QString() << QString()
                                           << true << QStringList {"[ok] Round trip:"};
    QTest::newRow("UDP, allowed") << Kind::Udp << "/dyn"
                                  << "dyn-secret"
                                  << "127.0.0.1:ECHO" << true
                                  << QStringList {
                                         "[ok] Destination: the server allows udp/127.0.0.1:ECHO",
                                         "[ok] Round trip:", "Note: no datagram is sent"};
    QTest::newRow("UDP, not allowed")
        << Kind::Udp << "/dyn"
        << "dyn-secret"
        << "192.0.2.1:53" << false
        << QStringList {"[failed] Destination: the server refused the destination "
                        "udp/192.0.2.1:53: not allowed by the route's rules (403 not-allowed)"};
    QTest::newRow("UDP, wrong token")
        << Kind::Udp << "/dyn"
        << "wrong"
        << "127.0.0.1:ECHO" << false
        << QStringList {"[failed] HTTP upgrade: HTTP 401 Unauthorized"};
}

void TestConnectionProbe::probe()
{
    QFETCH(Profile::Kind, kind);
    QFETCH(QString, path);
    QFETCH(QString, token);
    QFETCH(QString, udpRemote);
    QFETCH(bool, ok);
    QFETCH(QStringList, expected);
    const QString echoPort = QString::number(m_echo.serverPort());

    Profile profile;
    profile.name = QStringLiteral("probed");
    profile.kind = kind;
    profile.listen = kind == Profile::Kind::Udp ? QStringLiteral("127.0.0.1:5353")
                                                : QStringLiteral("127.0.0.1:1080");
    profile.serverUrl = path == QLatin1String("CLOSED")
        ? QStringLiteral("ws://127.0.0.1:%1/dyn").arg(m_closedPort)
        : QStringLiteral("ws://127.0.0.1:%1%2").arg(m_server.port()).arg(path);
    profile.proxy = QStringLiteral("none");
    profile.token = token;
    profile.udpRemote = QString(udpRemote).replace(QLatin1String("ECHO"), echoPort);

    ConnectionProbe probe;
    QSignalSpy finished(&probe, &ConnectionProbe::finished);
    probe.start(profile);
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 30000);
    const QString message = finished.at(0).at(1).toString();
    for (QString part : std::as_const(expected)) {
        part.replace(QLatin1String("ECHO"), echoPort);
        QVERIFY2(message.contains(part),
                 qPrintable(QStringLiteral("missing \"%1\" in:\n%2").arg(part, message)));
    }
    QVERIFY2(!message.contains(QLatin1String("secret")), qPrintable(message));
    QCOMPARE(finished.at(0).at(0).toBool(), ok);
}

QTEST_GUILESS_MAIN(TestConnectionProbe)
#include "tst_connectionprobe.moc"

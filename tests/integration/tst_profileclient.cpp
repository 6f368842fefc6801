// `client --profile NAME` and `client --all-autostart`: our real executable runs profiles saved in
// its config directory (XDG_CONFIG_HOME), in front of our real server and an echo endpoint (TCP,
// and UDP for a UDP profile; a SOCKS5 profile names the TCP echo, which the server allows).
#include "endpoints.h"
#include "loopbackport.h"
#include "profiles/profilestore.h"
#include "towprocess.h"

#include <QNetworkDatagram>
#include <QProcessEnvironment>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QUdpSocket>

namespace {

constexpr int kTimeoutMs = 30000;

// The echo of data through the tunnel listening on port; with a socks5Destination, port is a
// SOCKS5 proxy first asked (RFC 1928, no authentication) for 127.0.0.1:socks5Destination, and
// the result is empty when it refuses. The echo endpoint runs in this process, so this waits with
// the event loop running (no blocking waits).
QByteArray echoThrough(quint16 port, const QByteArray &data, quint16 socks5Destination = 0)
{
    QTcpSocket socket;
    QByteArray received;
    QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                     [&socket, &received] { received += socket.readAll(); });
    const auto receive = [&](qint64 size) {
        return QTest::qWaitFor(
            [&] {
                return received.size() >= size
                    || socket.state() == QAbstractSocket::UnconnectedState;
            },
            kTimeoutMs);
    };
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (socks5Destination != 0) {
        // Greeting (no authentication) and CONNECT to 127.0.0.1:socks5Destination.
        QByteArray request("\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01", 11);
        request.append(char(socks5Destination >> 8)).append(char(socks5Destination & 0xff));
        socket.write(request);
        constexpr int kAnswers = 2 + 10; // method choice, then the reply with an IPv4 address
        if (!receive(kAnswers) || !received.startsWith(QByteArray("\x05\x00\x05\x00", 4))) {
            qWarning("socks5: answer %s", received.toHex().constData());
            return QByteArray();
        }
        received.remove(0, kAnswers);
    }
    socket.write(data);
    if (!receive(data.size()))
        qWarning("echo: %lld of %lld bytes came back", qlonglong(received.size()),
                 qlonglong(data.size()));
    return received;
}

// A UDP echo on loopback: every datagram goes back to its sender.
class UdpEcho : public QUdpSocket
{
public:
    bool start()
    {
        connect(this, &QUdpSocket::readyRead, this, [this] {
            while (hasPendingDatagrams()) {
                const QNetworkDatagram datagram = receiveDatagram();
                writeDatagram(datagram.makeReply(datagram.data()));
            }
        });
        return bind(QHostAddress::LocalHost, 0);
    }
};

} // namespace

class TestProfileClient : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void runsNamedProfile();
    void runsAutoStartProfiles();
    void runsSocks5Profile();
    void runsUdpProfile();
    void unknownProfile();
    void brokenProfilesFile();

private:
    QProcessEnvironment environment() const;
    void saveProfiles(const QList<Profile> &profiles);
    // A profile of that kind on a free local port, to our server.
    Profile newProfile(const QString &name, Profile::Kind kind) const;
    // Saves profile alone and runs `client --profile NAME` on it; check QTest::currentTestFailed().
    void runProfile(TowProcess *client, const Profile &profile);

    EchoServer m_echo;
    UdpEcho m_udpEcho;
    TowProcess m_server;
    QTemporaryDir m_config;
};

QProcessEnvironment TestProfileClient::environment() const
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), m_config.path());
    return environment;
}

void TestProfileClient::saveProfiles(const QList<Profile> &profiles)
{
    ProfileStore store(m_config.filePath(QStringLiteral("tcp-over-websocket")));
    QString error;
    QFile::remove(store.filePath());
    QVERIFY2(store.load(&error), qPrintable(error));
    for (const Profile &profile : profiles)
        QVERIFY2(store.add(profile, &error), qPrintable(error));
}

Profile TestProfileClient::newProfile(const QString &name, Profile::Kind kind) const
{
    Profile profile;
    profile.name = name;
    profile.kind = kind;
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port());
    return profile;
}

void TestProfileClient::runProfile(TowProcess *client, const Profile &profile)
{
    saveProfiles({profile});
    client->process().setProcessEnvironment(environment());
    QVERIFY2(client->start({QStringLiteral("client"), QStringLiteral("--profile"), profile.name}),
             qPrintable(client->log()));
    QCOMPARE(QStringLiteral("127.0.0.1:%1").arg(client->port()), profile.listen);
}

void TestProfileClient::initTestCase()
{
    QVERIFY(m_config.isValid());
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY(m_udpEcho.start());
    // A fixed remote for port forwards, and the two echoes for SOCKS5 and UDP profiles.
    const QString echo = QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort());
    QVERIFY2(m_server.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                             QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_tcp"), echo,
                             QStringLiteral("--allow-destination"), echo,
                             QStringLiteral("--allow-destination"),
                             QStringLiteral("udp/127.0.0.1:%1").arg(m_udpEcho.localPort())}),
             qPrintable(m_server.log()));
}

void TestProfileClient::cleanupTestCase()
{
    QCOMPARE(m_server.stop(), 0);
}

void TestProfileClient::runsNamedProfile()
{
    Profile profile;
    profile.name = QStringLiteral("SSH home");
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port());
    profile.token = QStringLiteral("never-logged-token");
    Profile other = profile;
    other.name = QStringLiteral("Other");
    other.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    saveProfiles({profile, other});

    TowProcess client;
    client.process().setProcessEnvironment(environment());
    QVERIFY2(client.start({QStringLiteral("client"), QStringLiteral("--profile"), profile.name}),
             qPrintable(client.log()));
    QCOMPARE(QStringLiteral("127.0.0.1:%1").arg(client.port()), profile.listen);
    const QByteArray data = patternBytes(3, 100000);
    QCOMPARE(sha256(echoThrough(client.port(), data)), sha256(data));
    // Only the named profile runs.
    QTcpSocket notRunning;
    notRunning.connectToHost(QHostAddress::LocalHost,
                             quint16(other.listen.section(QLatin1Char(':'), 1).toUInt()));
    QVERIFY(!notRunning.waitForConnected(kTimeoutMs));
    QCOMPARE(notRunning.error(), QAbstractSocket::ConnectionRefusedError);
    QCOMPARE(client.stop(), 0);
    QVERIFY(!client.log().contains(QStringLiteral("never-logged-token")));
}

void TestProfileClient::runsAutoStartProfiles()
{
    QList<Profile> profiles;
    for (int i = 0; i < 3; ++i) {
        Profile profile;
        profile.name = QStringLiteral("Tunnel %1").arg(i);
        profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
        profile.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port());
        profile.autoStart = i != 1;
        profiles << profile;
    }
    saveProfiles(profiles);
    TowProcess client;
    client.process().setProcessEnvironment(environment());
    QVERIFY2(client.start({QStringLiteral("client"), QStringLiteral("--all-autostart")}),
             qPrintable(client.log()));
    QTRY_VERIFY_WITH_TIMEOUT(client.log().count(QStringLiteral("listening on")) == 2, kTimeoutMs);
    for (int i : {0, 2}) {
        const quint16 port = quint16(profiles.at(i).listen.section(QLatin1Char(':'), 1).toUInt());
        const QByteArray data = patternBytes(quint32(i), 5000);
        QCOMPARE(sha256(echoThrough(port, data)), sha256(data));
    }
    QVERIFY(!client.log().contains(profiles.at(1).listen));
    QCOMPARE(client.stop(), 0);
}

void TestProfileClient::runsSocks5Profile()
{
    const Profile profile = newProfile(QStringLiteral("Browser"), Profile::Kind::Socks5);
    TowProcess client;
    runProfile(&client, profile);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(client.log().contains(QStringLiteral("SOCKS5 proxy on ") + profile.listen),
             qPrintable(client.log()));
    const QByteArray data = patternBytes(7, 100000);
    QCOMPARE(sha256(echoThrough(client.port(), data, m_echo.serverPort())), sha256(data));
    // A destination the server does not allow is refused by the proxy, not carried.
    QVERIFY(echoThrough(client.port(), "x", m_udpEcho.localPort()).isEmpty());
    QCOMPARE(client.stop(), 0);
}

void TestProfileClient::runsUdpProfile()
{
    Profile profile = newProfile(QStringLiteral("WireGuard"), Profile::Kind::Udp);
    profile.udpRemote = QStringLiteral("127.0.0.1:%1").arg(m_udpEcho.localPort());
    TowProcess client;
    runProfile(&client, profile);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(client.log().contains(QStringLiteral("(UDP) for ") + profile.udpRemote),
             qPrintable(client.log()));
    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    // Each datagram comes back whole, in its own datagram.
    for (int i = 0; i < 3; ++i) {
        const QByteArray data = patternBytes(quint32(i), 1200 + i);
        local.writeDatagram(data, QHostAddress::LocalHost, client.port());
        QVERIFY(QTest::qWaitFor([&local] { return local.hasPendingDatagrams(); }, kTimeoutMs));
        const QNetworkDatagram answer = local.receiveDatagram();
        QCOMPARE(answer.data().size(), data.size());
        QCOMPARE(sha256(answer.data()), sha256(data));
    }
    QCOMPARE(client.stop(), 0);
}

void TestProfileClient::unknownProfile()
{
    Profile profile;
    profile.name = QStringLiteral("SSH home");
    profile.listen = QStringLiteral("127.0.0.1:2222");
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:1/");
    saveProfiles({profile});
    QProcess process;
    process.setProcessEnvironment(environment());
    process.start(TowProcess::executable(),
                  {QStringLiteral("client"), QStringLiteral("--profile"), QStringLiteral("RDP")});
    QVERIFY(process.waitForFinished(kTimeoutMs));
    QCOMPARE(process.exitCode(), 2);
    const QString error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(
        error.contains(QStringLiteral("no saved profile is named \"RDP\" (saved: SSH home in")),
        qPrintable(error));
}

void TestProfileClient::brokenProfilesFile()
{
    const QString directory = m_config.filePath(QStringLiteral("tcp-over-websocket"));
    QDir().mkpath(directory);
    QFile file(directory + QStringLiteral("/profiles.json"));
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    // One bad field: that profile is refused by name (in any case), with the reason.
    file.write("{\"schema\": 1, \"profiles\": [{\"name\": \"SSH\", \"listen\": "
               "\"127.0.0.1:99999\", \"server\": \"ws://h/\"}]}");
    file.close();
    QProcess process;
    process.setProcessEnvironment(environment());
    process.start(TowProcess::executable(),
                  {QStringLiteral("client"), QStringLiteral("--profile"), QStringLiteral("ssh")});
    QVERIFY(process.waitForFinished(kTimeoutMs));
    QCOMPARE(process.exitCode(), 1);
    QString error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(error.contains(QStringLiteral("profile \"SSH\" needs attention: key \"listen\"")),
             qPrintable(error));
    QVERIFY(QFile::exists(file.fileName())); // not set aside

    // A file that is not JSON at all is set aside.
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write("{\"schema\": 1, \"profiles\": [");
    file.close();
    process.start(TowProcess::executable(),
                  {QStringLiteral("client"), QStringLiteral("--profile"), QStringLiteral("SSH")});
    QVERIFY(process.waitForFinished(kTimeoutMs));
    QCOMPARE(process.exitCode(), 1);
    error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(error.contains(QStringLiteral("not valid JSON")), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("was kept as")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestProfileClient)
#include "tst_profileclient.moc"

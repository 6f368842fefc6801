// `client --profile NAME` and `client --all-autostart`: our real executable runs profiles saved in
// its config directory (XDG_CONFIG_HOME), in front of our real server and an echo endpoint.
#include "endpoints.h"
#include "loopbackport.h"
#include "profiles/profilestore.h"
#include "towprocess.h"

#include <QProcessEnvironment>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

namespace {

constexpr int kTimeoutMs = 30000;

// The echo of data through the tunnel listening on port. The echo endpoint runs in this process,
// so this waits with the event loop running (no blocking waits).
QByteArray echoThrough(quint16 port, const QByteArray &data)
{
    QTcpSocket socket;
    QByteArray received;
    QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                     [&socket, &received] { received += socket.readAll(); });
    socket.connectToHost(QHostAddress::LocalHost, port);
    socket.write(data);
    if (!QTest::qWaitFor(
            [&] {
                return received.size() >= data.size()
                    || socket.state() == QAbstractSocket::UnconnectedState;
            },
            kTimeoutMs))
        qWarning("echo: %lld of %lld bytes came back", qlonglong(received.size()),
                 qlonglong(data.size()));
    return received;
}

} // namespace

class TestProfileClient : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void runsNamedProfile();
    void runsAutoStartProfiles();
    void unknownProfile();
    void brokenProfilesFile();

private:
    QProcessEnvironment environment() const;
    void saveProfiles(const QList<Profile> &profiles);

    EchoServer m_echo;
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

void TestProfileClient::initTestCase()
{
    QVERIFY(m_config.isValid());
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY2(m_server.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                             QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_tcp"),
                             QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())}),
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

// The profile store with the keychain, against a real Secret Service (GNOME Keyring on a D-Bus
// session of the test's own, run-with-secret-service.sh): secrets go to the keychain and leave
// secrets.json only once it confirmed; the one-time move of an older file; renames and removals;
// the owner-only file where no session bus exists; and `client --profile NAME` (our real
// executable) reading its token from the keychain, or saying why it cannot.
#include "echoprobe.h"
#include "endpoints.h"
#include "keychaintest.h"
#include "keychainvault.h"
#include "loopbackport.h"
#include "profiles/profilestore.h"
#include "towprocess.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace keychaintest;

namespace {

const QString kService = QStringLiteral("tcp-over-websocket-test-store");
const QList<QByteArray> kSecrets = {"token-123", "hunter2", "open%20sesame", "open sesame",
                                    "query-s%26cret"};

Profile fullProfile(const QString &name)
{
    Profile profile;
    profile.name = name;
    profile.listen = QStringLiteral("127.0.0.1:2222");
    profile.serverUrl =
        QStringLiteral("wss://alice:open%20sesame@example.org/ssh/?token=query-s%26cret&x=1");
    profile.token = QStringLiteral("token-123");
    profile.proxy = QStringLiteral("http://bob:hunter2@proxy.example:3128");
    return profile;
}

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// The shared libraries a running process has mapped (Linux).
QByteArray mappings(const QProcess &process)
{
    return readAll(QStringLiteral("/proc/%1/maps").arg(process.processId()));
}

bool holdsAnySecret(const QByteArray &data)
{
    for (const QByteArray &secret : kSecrets) {
        if (data.contains(secret))
            return true;
    }
    return false;
}

// Waits until the keychain answered everything the store asked.
bool waitForVault(const ProfileStore &store)
{
    return QTest::qWaitFor([&store] { return !store.vaultBusy(); }, kAnswerMs);
}

// A store in directory with the keychain, loaded, moving secrets to it as the tray app does.
struct KeychainStore
{
    explicit KeychainStore(const QString &directory, const QString &service = kService)
        : vault(service, kVaultTimeoutMs), store(directory)
    {
        store.setSecretVault(&vault);
    }
    bool load()
    {
        QString error;
        if (!store.load(&error)) {
            qWarning("%s", qPrintable(error));
            return false;
        }
        store.moveSecretsToVault();
        return QTest::qWaitFor([this] { return !store.secretsLoading(); }, kAnswerMs);
    }

    KeychainVault vault;
    ProfileStore store;
};

} // namespace

class TestProfileKeychain : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void secretsGoToKeychain();
    void movesFileSecretsOnce();
    void renameAndRemoveFollow();
    void fileWithoutSessionBus();
    void headlessClientReadsKeychain();
    void fileSecretsNeedNoKeychain();
    void trayAppMovesFileSecrets();
};

void TestProfileKeychain::secretsGoToKeychain()
{
    QTemporaryDir dir;
    {
        KeychainStore keychain(dir.path());
        QVERIFY(keychain.load());
        QString error;
        QVERIFY2(keychain.store.add(fullProfile(QStringLiteral("SSH")), &error), qPrintable(error));
        QVERIFY(waitForVault(keychain.store));
    }
    const QByteArray file = readAll(QDir(dir.path()).filePath(QStringLiteral("secrets.json")));
    QVERIFY2(!holdsAnySecret(file), file.constData());
    QVERIFY2(file.contains(R"("keychain": true)"), file.constData());
    QVERIFY(!holdsAnySecret(readAll(QDir(dir.path()).filePath(QStringLiteral("profiles.json")))));
    const QByteArray entry = secretToolLookup(kService, QStringLiteral("SSH")).value_or("(none)");
    QVERIFY2(entry.contains("token-123") && entry.contains("hunter2"), entry.constData());

    KeychainStore reloaded(dir.path());
    QVERIFY(reloaded.load());
    QCOMPARE(reloaded.store.profile(QStringLiteral("SSH")).value_or(Profile()),
             fullProfile(QStringLiteral("SSH")));
    QVERIFY(reloaded.store.secretsProblem(QStringLiteral("SSH")).isEmpty());
}

void TestProfileKeychain::movesFileSecretsOnce()
{
    QTemporaryDir dir;
    {
        ProfileStore plain(dir.path()); // as an earlier version saved them
        QString error;
        QVERIFY2(plain.load(&error), qPrintable(error));
        QVERIFY2(plain.add(fullProfile(QStringLiteral("DB")), &error), qPrintable(error));
    }
    const QString secretsPath = QDir(dir.path()).filePath(QStringLiteral("secrets.json"));
    QVERIFY(readAll(secretsPath).contains("token-123"));

    KeychainVault vault(kService, kVaultTimeoutMs);
    ProfileStore store(dir.path());
    store.setSecretVault(&vault);
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    store.moveSecretsToVault();
    // The keychain answers through this thread's event loop, which has not run yet: nothing is
    // confirmed, so the file must still hold the secrets.
    QVERIFY(store.vaultBusy());
    QVERIFY(readAll(secretsPath).contains("token-123"));
    QVERIFY(waitForVault(store));
    QVERIFY2(!holdsAnySecret(readAll(secretsPath)), readAll(secretsPath).constData());
    QVERIFY(secretToolLookup(kService, QStringLiteral("DB")).value_or("").contains("token-123"));

    KeychainStore reloaded(dir.path());
    QVERIFY(reloaded.load());
    QCOMPARE(reloaded.store.profile(QStringLiteral("DB")).value_or(Profile()),
             fullProfile(QStringLiteral("DB")));
    QVERIFY(!reloaded.store.vaultBusy()); // nothing left to move
}

void TestProfileKeychain::renameAndRemoveFollow()
{
    QTemporaryDir dir;
    KeychainStore keychain(dir.path());
    QVERIFY(keychain.load());
    QString error;
    QVERIFY2(keychain.store.add(fullProfile(QStringLiteral("Old")), &error), qPrintable(error));
    QVERIFY(waitForVault(keychain.store));
    QVERIFY(secretToolLookup(kService, QStringLiteral("Old")));

    QVERIFY2(keychain.store.rename(QStringLiteral("Old"), QStringLiteral("New"), &error),
             qPrintable(error));
    QVERIFY(waitForVault(keychain.store));
    QVERIFY(!secretToolLookup(kService, QStringLiteral("Old")));
    QVERIFY(secretToolLookup(kService, QStringLiteral("New")).value_or("").contains("token-123"));

    Profile changed = *keychain.store.profile(QStringLiteral("New"));
    changed.token = QStringLiteral("token-456");
    QVERIFY2(keychain.store.update(QStringLiteral("New"), changed, &error), qPrintable(error));
    QVERIFY(waitForVault(keychain.store));
    QVERIFY(secretToolLookup(kService, QStringLiteral("New")).value_or("").contains("token-456"));
    QVERIFY(!readAll(keychain.store.secretsFilePath()).contains("token-456"));

    QVERIFY2(keychain.store.remove(QStringLiteral("New"), &error), qPrintable(error));
    QVERIFY(waitForVault(keychain.store));
    QVERIFY(!secretToolLookup(kService, QStringLiteral("New")));
}

void TestProfileKeychain::fileWithoutSessionBus()
{
    if (!isChild()) {
        runWithoutSessionBus("fileWithoutSessionBus");
        return;
    }
    QTemporaryDir dir;
    {
        KeychainStore keychain(dir.path());
        QVERIFY(keychain.load());
        QString error;
        QVERIFY2(keychain.store.add(fullProfile(QStringLiteral("SSH")), &error), qPrintable(error));
        QVERIFY(waitForVault(keychain.store));
    }
    const QByteArray file = readAll(QDir(dir.path()).filePath(QStringLiteral("secrets.json")));
    QVERIFY2(file.contains("token-123") && file.contains("hunter2"), file.constData());
    QVERIFY(!file.contains("keychain"));

    // Loading again tries the keychain again, and still finds everything in the file.
    KeychainStore reloaded(dir.path());
    QVERIFY(reloaded.load());
    QVERIFY(waitForVault(reloaded.store));
    QCOMPARE(reloaded.store.profile(QStringLiteral("SSH")).value_or(Profile()),
             fullProfile(QStringLiteral("SSH")));
    QCOMPARE(readAll(QDir(dir.path()).filePath(QStringLiteral("secrets.json"))), file);
}

void TestProfileKeychain::headlessClientReadsKeychain()
{
    // Our server in front of an echo endpoint, admitting only the profile's token.
    QTemporaryDir dir;
    QFile tokenFile(dir.filePath(QStringLiteral("token")));
    QVERIFY(tokenFile.open(QIODevice::WriteOnly));
    tokenFile.write("keychain-only-token\n");
    tokenFile.close();
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY2(server.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                           QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_tcp"),
                           QStringLiteral("127.0.0.1:%1").arg(echo.serverPort()),
                           QStringLiteral("--token-file"), tokenFile.fileName()}),
             qPrintable(server.log()));

    // Saved as the tray app saves it: the token in the keychain under the program's name.
    QTemporaryDir config;
    Profile profile;
    profile.name = QStringLiteral("Home");
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(server.port());
    profile.token = QStringLiteral("keychain-only-token");
    {
        KeychainStore keychain(config.filePath(QStringLiteral("tcp-over-websocket")),
                               QStringLiteral("tcp-over-websocket"));
        QVERIFY(keychain.load());
        QString error;
        QVERIFY2(keychain.store.add(profile, &error), qPrintable(error));
        QVERIFY(waitForVault(keychain.store));
        QVERIFY(!readAll(keychain.store.secretsFilePath()).contains("keychain-only-token"));
    }

    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), config.path());
    TowProcess client;
    client.process().setProcessEnvironment(environment);
    QVERIFY2(client.start({QStringLiteral("client"), QStringLiteral("--profile"), profile.name}),
             qPrintable(client.log()));
    QString why;
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + client.log()));
    QVERIFY(mappings(client.process()).contains("libqt6keychain"));
    QCOMPARE(client.stop(), 0);
    QVERIFY(!client.log().contains(QStringLiteral("keychain-only-token")));

    // Without a session bus the keychain cannot answer: the client says so and does not start.
    QTemporaryDir runtime;
    QProcessEnvironment noBus = withoutSessionBus(runtime.path());
    noBus.insert(QStringLiteral("XDG_CONFIG_HOME"), config.path());
    QProcess blind;
    blind.setProcessEnvironment(noBus);
    blind.start(TowProcess::executable(),
                {QStringLiteral("client"), QStringLiteral("--profile"), profile.name});
    QVERIFY(blind.waitForFinished(kAnswerMs));
    const QString output = QString::fromLocal8Bit(blind.readAllStandardError());
    QCOMPARE(blind.exitCode(), 1);
    QVERIFY2(output.contains(QStringLiteral("profile \"Home\": its token and passwords cannot "
                                            "be read")),
             qPrintable(output));
    QVERIFY(!output.contains(QStringLiteral("keychain-only-token")));
    QCOMPARE(server.stop(), 0);
}

// A profile whose secrets are in the file: `client --profile` never loads the keychain module,
// so neither QtKeychain nor D-Bus is mapped (a server never loads it at all), also when another
// profile's secrets are in the keychain.
void TestProfileKeychain::fileSecretsNeedNoKeychain()
{
    QTemporaryDir config;
    Profile profile;
    profile.name = QStringLiteral("Plain");
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:9/");
    profile.token = QStringLiteral("file-token");
    {
        ProfileStore store(config.filePath(QStringLiteral("tcp-over-websocket")));
        QString error;
        QVERIFY2(store.load(&error), qPrintable(error));
        QVERIFY2(store.add(profile, &error), qPrintable(error));
        Profile other = profile;
        other.name = QStringLiteral("Vaulted");
        other.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
        QVERIFY2(store.add(other, &error), qPrintable(error));
        // As the tray app leaves it once the keychain holds them.
        QFile secrets(store.secretsFilePath());
        QVERIFY(secrets.open(QIODevice::WriteOnly | QIODevice::Truncate));
        secrets.write(R"({"schema": 1, "secrets": {"Plain": {"token": "file-token"},
                                                    "Vaulted": {"keychain": true}}})");
    }
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), config.path());
    TowProcess client;
    client.process().setProcessEnvironment(environment);
    QVERIFY2(client.start({QStringLiteral("client"), QStringLiteral("--profile"), profile.name}),
             qPrintable(client.log()));
    const QByteArray maps = mappings(client.process());
    QVERIFY(maps.contains("libQt6Core"));
    QVERIFY2(!maps.contains("libqt6keychain") && !maps.contains("libQt6DBus")
                 && !maps.contains("libdbus-1"),
             maps.constData());
    QCOMPARE(client.stop(), 0);
}

// The tray app itself (offscreen), started on an earlier version's files: it moves the token to
// the keychain and leaves {"keychain": true} in secrets.json.
void TestProfileKeychain::trayAppMovesFileSecrets()
{
    QTemporaryDir config;
    const QString directory = config.filePath(QStringLiteral("tcp-over-websocket"));
    Profile profile;
    profile.name = QStringLiteral("Tray");
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:9/");
    profile.token = QStringLiteral("tray-file-token");
    {
        ProfileStore store(directory);
        QString error;
        QVERIFY2(store.load(&error), qPrintable(error));
        QVERIFY2(store.add(profile, &error), qPrintable(error));
    }
    const QString secretsPath = QDir(directory).filePath(QStringLiteral("secrets.json"));
    QVERIFY(readAll(secretsPath).contains("tray-file-token"));

    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), config.path());
    // A display name for the program's desktop-session check; offscreen never connects to it.
    environment.insert(QStringLiteral("DISPLAY"), QStringLiteral(":0"));
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    QProcess tray;
    tray.setProcessEnvironment(environment);
    tray.setProcessChannelMode(QProcess::MergedChannels);
    tray.start(TowProcess::executable(), QStringList());
    QVERIFY(tray.waitForStarted());
    // qWaitFor, not QTRY: on failure QTRY waits on past its timeout, beyond the test's watchdog.
    QVERIFY2(QTest::qWaitFor(
                 [&secretsPath] { return readAll(secretsPath).contains("\"keychain\": true"); },
                 kAnswerMs),
             readAll(secretsPath).constData());
    tray.terminate();
    QVERIFY(tray.waitForFinished(kAnswerMs));
    const QByteArray log = tray.readAll();
    QCOMPARE(tray.exitCode(), 0);
    QVERIFY2(!readAll(secretsPath).contains("tray-file-token"), readAll(secretsPath).constData());
    QCOMPARE(
        secretToolLookup(QStringLiteral("tcp-over-websocket"), profile.name).value_or("(none)"),
        QByteArray(R"({"token":"tray-file-token"})"));
    QVERIFY(!log.contains("tray-file-token"));
}

QTEST_GUILESS_MAIN(TestProfileKeychain)
#include "tst_profilekeychain.moc"

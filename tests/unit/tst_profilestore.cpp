// The profile store: round trip, secrets kept apart (0600), precise validation messages, broken
// files kept aside, a bad profile loaded as needing attention and written back untouched, unique
// names, clashing addresses, duplicate, rename, import and export.
#include "memoryvault.h"
#include "profiles/profilestore.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

namespace {

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

QString testFile(const QString &name)
{
    return QStringLiteral(TOW_TESTFILES_DIR "/profiles/") + name;
}

void install(const QString &testFileName, const QString &target)
{
    QFile::remove(target);
    QVERIFY(QFile::copy(testFile(testFileName), target));
    QVERIFY(QFile::setPermissions(target, QFileDevice::ReadOwner | QFileDevice::WriteOwner));
}

Profile fullProfile(const QString &name)
{
    Profile profile;
    profile.name = name;
    profile.listen = QStringLiteral("127.0.0.1:2222");
    profile.serverUrl =
        QStringLiteral("wss://alice:open%20sesame@example.org/ssh/?token=query-s%26cret&x=1");
    profile.headers = {{"X-Client", "tray"}, {"X-Team", "ops"}};
    profile.token = QStringLiteral("token-123");
    profile.proxy = QStringLiteral("http://bob:hunter2@proxy.example:3128");
    profile.caFile = QStringLiteral("/etc/ssl/ca.pem");
    profile.pinsSha256 = {QStringLiteral("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")};
    profile.serverName = QStringLiteral("ssh.example.org");
    profile.insecure = true;
    profile.binarySubprotocol = true;
    profile.keepAliveMode = Profile::KeepAliveMode::Ping;
    profile.keepAliveIntervalMs = 30000;
    profile.autoStart = true;
    return profile;
}

Profile simpleProfile(const QString &name, const QString &listen)
{
    Profile profile;
    profile.name = name;
    profile.listen = listen;
    profile.serverUrl = QStringLiteral("ws://example.org:8080/");
    return profile;
}

// Readable and writable by its owner, nothing for group and others (mode 0600). Windows has no
// mode bits to check (Qt reports the read-only attribute for every class of user): the store
// relies on the profile directory's inherited ACL there.
bool isOwnerOnly(const QString &path)
{
#ifdef Q_OS_WIN
    return QFile::exists(path);
#else
    const QFileDevice::Permissions permissions = QFile::permissions(path);
    const QFileDevice::Permissions others = QFileDevice::ReadGroup | QFileDevice::WriteGroup
        | QFileDevice::ExeGroup | QFileDevice::ReadOther | QFileDevice::WriteOther
        | QFileDevice::ExeOther;
    return (permissions & QFileDevice::ReadOwner) && (permissions & QFileDevice::WriteOwner)
        && !(permissions & others);
#endif
}

QStringList brokenFiles(const QString &directory)
{
    return QDir(directory).entryList({QStringLiteral("*.broken-*")}, QDir::Files);
}

QJsonArray profilesOf(const QString &path)
{
    return QJsonDocument::fromJson(readAll(path))
        .object()
        .value(QLatin1String("profiles"))
        .toArray();
}

void writeText(const QString &path, const QByteArray &text)
{
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(text);
    file.close();
    QVERIFY(QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner));
}

QJsonObject secretsOf(const QString &path)
{
    return QJsonDocument::fromJson(readAll(path))
        .object()
        .value(QLatin1String("secrets"))
        .toObject();
}

// profiles.json with one profile "SSH" (on listen), and secrets.json saying its secrets are in
// the keychain.
void writeKeychainProfile(const ProfileStore &store, const QString &listen = "127.0.0.1:2222")
{
    writeText(store.filePath(),
              QStringLiteral(R"({"schema": 1, "profiles": [{"name": "SSH", "listen": "%1",
                             "server": "ws://example.org/"}]})")
                  .arg(listen)
                  .toUtf8());
    writeText(store.secretsFilePath(), R"({"schema": 1, "secrets": {"SSH": {"keychain": true}}})");
}

} // namespace

class TestProfileStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void missingFileIsEmpty();
    void loadsValidFileWithSecrets();
    void roundTripKeepsSecretsApart();
    void brokenFileIsKeptAside_data();
    void brokenFileIsKeptAside();
    void badProfileNeedsAttention_data();
    void badProfileNeedsAttention();
    void badProfileSurvivesSaves();
    void clashingProfilesLoad();
    void namesIgnoreCase();
    void brokenSecretsAreKeptAside();
    void secretsFileIsTightened();
    void keychainEntryWithoutKeychain();
    void validation_data();
    void validation();
    void namesAreUnique();
    void renameAndRemove();
    void duplicate();
    void listenConflict();
    void exportAndImport();
    void importKeepsBadProfile();
    void clientOptionsMapping();
    void editorOpenedWhileReadingKeepsSecrets();
    void unreadableProfileIsNotRenamed();
    void caseOnlyRenameKeepsKeychainEntry_data();
    void caseOnlyRenameKeepsKeychainEntry();
    void renamedApartProfileReadsItsEntry();
    void profileNeedingAttentionStaysInFile();
    void kindsLoadWithTheirFields();
    void forwardIsWrittenAsBefore();
    void socks5PasswordIsASecret();
    void socks5PasswordInKeychain();
    void kindsClash_data();
    void kindsClash();
    void kindsDuplicateAndImport();
    void kindsClientOptions();
};

void TestProfileStore::missingFileIsEmpty()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QVERIFY(store.profiles().isEmpty());
    QVERIFY(!QFile::exists(store.filePath())); // loading writes nothing
}

void TestProfileStore::loadsValidFileWithSecrets()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("valid.json"), store.filePath());
    install(QStringLiteral("secrets-valid.json"), store.secretsFilePath());
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QCOMPARE(store.names(),
             QStringList({QStringLiteral("SSH home"), QStringLiteral("RDP office")}));
    const Profile ssh = *store.profile(QStringLiteral("SSH home"));
    QCOMPARE(ssh.listen, QStringLiteral("127.0.0.1:2222"));
    QCOMPARE(ssh.token, QStringLiteral("s3cr3t-token"));
    QCOMPARE(ssh.serverPassword(), QStringLiteral("p@ss:word"));
    QCOMPARE(ssh.proxyPassword(), QStringLiteral("proxy-pw"));
    QCOMPARE(ssh.headers.size(), 1);
    QCOMPARE(ssh.headers.constFirst().first, QByteArray("X-Client"));
    QCOMPARE(ssh.keepAliveMode, Profile::KeepAliveMode::Ping);
    QCOMPARE(ssh.keepAliveIntervalMs, 25000);
    QCOMPARE(ssh.serverName, QStringLiteral("ssh.example.org"));
    QVERIFY(ssh.autoStart);
    const Profile rdp = *store.profile(QStringLiteral("RDP office"));
    QCOMPARE(rdp.keepAliveIntervalMs, 10000);
    QVERIFY(!rdp.autoStart);
    QVERIFY(rdp.token.isEmpty());
}

void TestProfileStore::roundTripKeepsSecretsApart()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(store.load(&error));
    QSignalSpy changed(&store, &ProfileStore::changed);
    const Profile profile = fullProfile(QStringLiteral("SSH home"));
    QVERIFY2(store.add(profile, &error), qPrintable(error));
    QCOMPARE(changed.size(), 1);

    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(reloaded.profiles().size(), 1);
    QCOMPARE(reloaded.profiles().constFirst(), profile);

    const QByteArray publicPart = readAll(store.filePath());
    QVERIFY(publicPart.contains("\"schema\": 1"));
    QVERIFY(publicPart.contains("SSH home"));
    for (const QByteArray &secret : {QByteArray("token-123"), QByteArray("hunter2"),
                                     QByteArray("sesame"), QByteArray("query-s")})
        QVERIFY2(!publicPart.contains(secret), secret.constData());
    QVERIFY(publicPart.contains("?token=&x=1")); // kept in place, to be filled from the secrets
    const QByteArray secretPart = readAll(store.secretsFilePath());
    QVERIFY(secretPart.contains("token-123"));
    QVERIFY(secretPart.contains("hunter2"));
    QVERIFY(secretPart.contains("query-s%26cret"));
    QVERIFY(isOwnerOnly(store.secretsFilePath()));
    // No temporary file of QSaveFile is left behind.
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files),
             QStringList({QStringLiteral("profiles.json"), QStringLiteral("secrets.json")}));
}

void TestProfileStore::brokenFileIsKeptAside_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("syntax") << "syntax-error.json" << QStringList {"not valid JSON at byte"};
    QTest::newRow("newer schema") << "newer-schema.json"
                                  << QStringList {"key \"schema\": expected 1, found 2",
                                                  "newer version"};
}

void TestProfileStore::brokenFileIsKeptAside()
{
    QFETCH(QString, file);
    QFETCH(QStringList, expected);
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(file, store.filePath());
    const QByteArray original = readAll(store.filePath());

    QString error;
    QVERIFY(!store.load(&error));
    QVERIFY2(error.startsWith(store.filePath() + QLatin1Char(':')), qPrintable(error));
    for (const QString &part : expected)
        QVERIFY2(error.contains(part), qPrintable(error + QStringLiteral(" lacks: ") + part));
    QVERIFY2(error.contains(QStringLiteral("was kept as")), qPrintable(error));
    QVERIFY(store.profiles().isEmpty());

    const QStringList aside = brokenFiles(dir.path());
    QCOMPARE(aside.size(), 1);
    QVERIFY(aside.constFirst().startsWith(QStringLiteral("profiles.json.broken-")));
    QVERIFY(error.contains(aside.constFirst()));

    // Saving afterwards writes a new file and leaves the broken one untouched.
    QVERIFY2(
        store.add(simpleProfile(QStringLiteral("New"), QStringLiteral("127.0.0.1:4000")), &error),
        qPrintable(error));
    QCOMPARE(readAll(QDir(dir.path()).filePath(aside.constFirst())), original);
    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(reloaded.names(), QStringList {QStringLiteral("New")});
}

void TestProfileStore::badProfileNeedsAttention_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QStringList>("names"); // as loaded: every profile, none dropped
    QTest::addColumn<QString>("bad");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("port out of range")
        << "bad-listen.json" << QStringList {"SSH home", "Database"} << "Database"
        << QStringList {"key \"listen\"", "port 99999 is out of range"};
    QTest::newRow("wrong type") << "bad-type.json" << QStringList {"SSH home"} << "SSH home"
                                << QStringList {"key \"insecure\"",
                                                "expected true or false, found a string"};
    QTest::newRow("duplicate names")
        << "duplicate-names.json" << QStringList {"SSH home", "ssh HOME 2"} << "ssh HOME 2"
        << QStringList {"key \"name\"", "names must be unique"};
    QTest::newRow("unknown key") << "unknown-key.json" << QStringList {"SSH home"} << "SSH home"
                                 << QStringList {"key \"autostart\": unknown key", "autoStart"};
    QTest::newRow("bad url") << "bad-url.json" << QStringList {"SSH home"} << "SSH home"
                             << QStringList {"key \"server\"", "unsupported scheme \"ftp\""};
    QTest::newRow("missing key") << "missing-server.json" << QStringList {"SSH home"} << "SSH home"
                                 << QStringList {"key \"server\": missing (expected a string)"};
    QTest::newRow("unknown kind") << "bad-kind.json" << QStringList {"Proxy"} << "Proxy"
                                  << QStringList {"key \"kind\"",
                                                  "expected \"forward\", \"socks5\" or \"udp\""};
    QTest::newRow("key of another kind")
        << "other-kind-key.json" << QStringList {"SSH home"} << "SSH home"
        << QStringList {"key \"udpRemote\": only for \"kind\": \"udp\"",
                        "this profile is \"forward\""};
}

void TestProfileStore::badProfileNeedsAttention()
{
    QFETCH(QString, file);
    QFETCH(QStringList, names);
    QFETCH(QString, bad);
    QFETCH(QStringList, expected);
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(file, store.filePath());
    const QByteArray original = readAll(store.filePath());

    QString error;
    QVERIFY2(store.load(&error), qPrintable(error)); // the file as a whole is fine
    QCOMPARE(store.names(), names);
    const QString problem = store.problem(bad);
    for (const QString &part : expected)
        QVERIFY2(problem.contains(part), qPrintable(problem + QStringLiteral(" lacks: ") + part));
    for (const QString &name : names) {
        if (name != bad)
            QCOMPARE(store.problem(name), QString());
    }
    QVERIFY(brokenFiles(dir.path()).isEmpty());
    QCOMPARE(readAll(store.filePath()), original); // loading writes nothing

    // Another change saves the file: the bad profile is written back as it was read.
    QVERIFY2(
        store.add(simpleProfile(QStringLiteral("New"), QStringLiteral("127.0.0.1:4000")), &error),
        qPrintable(error));
    const QJsonArray before =
        QJsonDocument::fromJson(original).object().value(QLatin1String("profiles")).toArray();
    const QJsonArray after = profilesOf(store.filePath());
    QCOMPARE(after.size(), before.size() + 1);
    const int badIndex = int(names.indexOf(bad));
    QCOMPARE(after.at(badIndex), before.at(badIndex));
    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(reloaded.names(), names + QStringList {QStringLiteral("New")});
    QCOMPARE(reloaded.problem(bad), problem);

    // Repaired in the editor: a valid profile from then on.
    Profile fixed = *store.profile(bad);
    fixed.listen = QStringLiteral("127.0.0.1:5000");
    fixed.serverUrl = QStringLiteral("ws://example.org/");
    fixed.insecure = false;
    QVERIFY2(store.update(bad, fixed, &error), qPrintable(error));
    QCOMPARE(store.problem(bad), QString());
    ProfileStore repaired(dir.path());
    QVERIFY2(repaired.load(&error), qPrintable(error));
    QCOMPARE(repaired.problem(bad), QString());
    QCOMPARE(repaired.profile(bad)->listen, QStringLiteral("127.0.0.1:5000"));
}

void TestProfileStore::badProfileSurvivesSaves()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("one-bad-of-three.json"), store.filePath());
    install(QStringLiteral("secrets-one-bad.json"), store.secretsFilePath());
    const QJsonObject badJson = profilesOf(store.filePath()).at(1).toObject();
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QCOMPARE(store.names(),
             QStringList(
                 {QStringLiteral("SSH home"), QStringLiteral("Database"), QStringLiteral("Web")}));
    QVERIFY(!store.problem(QStringLiteral("Database")).isEmpty());
    // What could be read is there for the editor, secrets included.
    const Profile database = *store.profile(QStringLiteral("Database"));
    QCOMPARE(database.listen, QStringLiteral("127.0.0.1:99999"));
    QCOMPARE(database.token, QStringLiteral("db-token"));
    QCOMPARE(database.serverPassword(), QStringLiteral("db-password"));
    QCOMPARE(store.profile(QStringLiteral("SSH home"))->token, QStringLiteral("ssh-token"));

    // Changes to the others, a rename and a removal among them, leave it and its secrets as read.
    QVERIFY2(store.rename(QStringLiteral("SSH home"), QStringLiteral("SSH"), &error),
             qPrintable(error));
    QVERIFY2(store.remove(QStringLiteral("Web"), &error), qPrintable(error));
    QCOMPARE(profilesOf(store.filePath()).at(1).toObject(), badJson);
    const QByteArray secrets = readAll(store.secretsFilePath());
    QVERIFY(secrets.contains("db-token"));
    QVERIFY(secrets.contains("db-password"));
    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(reloaded.profile(QStringLiteral("Database"))->token, QStringLiteral("db-token"));
    QVERIFY(!reloaded.problem(QStringLiteral("Database")).isEmpty());
    // It cannot be copied before it is fixed.
    QVERIFY(!store.duplicate(QStringLiteral("Database"), &error));
    QVERIFY2(error.contains(QStringLiteral("needs attention")), qPrintable(error));
}

void TestProfileStore::clashingProfilesLoad()
{
    // Written by an older version, whose Duplicate kept the port: the later one needs attention,
    // and the earlier one can still be renamed and edited.
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("clashing.json"), store.filePath());
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QCOMPARE(store.problem(QStringLiteral("Original")), QString());
    const QString problem = store.problem(QStringLiteral("Original (copy)"));
    QVERIFY2(problem.contains(QStringLiteral("\"Original\" listens on 127.0.0.1:47003")),
             qPrintable(problem));
    QVERIFY2(store.rename(QStringLiteral("Original"), QStringLiteral("SSH"), &error),
             qPrintable(error));
    // The copy cannot keep its address, and gets it free by moving.
    Profile copy = *store.profile(QStringLiteral("Original (copy)"));
    copy.name = QStringLiteral("Copy");
    QVERIFY(!store.update(QStringLiteral("Original (copy)"), copy, &error));
    QVERIFY2(error.contains(QStringLiteral("\"SSH\" listens on 0.0.0.0:47003 already")),
             qPrintable(error));
    copy.listen = store.freeListenAddress(copy.listen);
    QCOMPARE(copy.listen, QStringLiteral("0.0.0.0:47004"));
    QVERIFY2(store.update(QStringLiteral("Original (copy)"), copy, &error), qPrintable(error));
    QCOMPARE(store.problem(QStringLiteral("Copy")), QString());
}

void TestProfileStore::namesIgnoreCase()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(store.add(simpleProfile(QStringLiteral("SSH Home"), QStringLiteral("127.0.0.1:2222")),
                      &error));
    QVERIFY(store.contains(QStringLiteral("ssh home")));
    QCOMPARE(store.profile(QStringLiteral("SSH HOME"))->name, QStringLiteral("SSH Home"));
    // Changing only the case of its name is no clash with itself.
    QVERIFY2(store.rename(QStringLiteral("ssh home"), QStringLiteral("SSH home"), &error),
             qPrintable(error));
    QCOMPARE(store.names(), QStringList {QStringLiteral("SSH home")});
}

void TestProfileStore::brokenSecretsAreKeptAside()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("valid.json"), store.filePath());
    install(QStringLiteral("syntax-error.json"), store.secretsFilePath());
    QString error;
    QVERIFY(!store.load(&error));
    QVERIFY2(error.startsWith(store.secretsFilePath()), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("must be entered again")), qPrintable(error));
    QCOMPARE(store.profiles().size(), 2); // the profiles themselves still load
    QCOMPARE(brokenFiles(dir.path()).size(), 1);
}

// secrets.json says a profile's secrets are in the keychain, and this store has none (a build
// without QtKeychain): the profile loads without them, says why, and saving keeps the entry.
void TestProfileStore::keychainEntryWithoutKeychain()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("valid.json"), store.filePath());
    install(QStringLiteral("secrets-keychain.json"), store.secretsFilePath());
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QVERIFY(!store.secretsLoading());
    const Profile ssh = *store.profile(QStringLiteral("SSH home"));
    QVERIFY(ssh.token.isEmpty());
    QVERIFY(store.secretsProblem(QStringLiteral("SSH home")).contains(QStringLiteral("keychain")));
    QCOMPARE(store.profile(QStringLiteral("RDP office"))->token, QStringLiteral("file-token"));
    QVERIFY(store.secretsProblem(QStringLiteral("RDP office")).isEmpty());

    Profile moved = ssh;
    moved.listen = QStringLiteral("127.0.0.1:2223");
    QVERIFY2(store.update(ssh.name, moved, &error), qPrintable(error));
    const QJsonObject secrets = QJsonDocument::fromJson(readAll(store.secretsFilePath()))
                                    .object()
                                    .value("secrets")
                                    .toObject();
    QCOMPARE(secrets.value("SSH home").toObject(), QJsonObject({{"keychain", true}}));
    QCOMPARE(secrets.value("RDP office").toObject(), QJsonObject({{"token", "file-token"}}));
}

void TestProfileStore::secretsFileIsTightened()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("valid.json"), store.filePath());
    install(QStringLiteral("secrets-valid.json"), store.secretsFilePath());
    QVERIFY(QFile::setPermissions(store.secretsFilePath(),
                                  QFileDevice::ReadOwner | QFileDevice::WriteOwner
                                      | QFileDevice::ReadGroup | QFileDevice::ReadOther));
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QVERIFY(isOwnerOnly(store.secretsFilePath()));
}

void TestProfileStore::validation_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("message");
    QTest::newRow("empty name") << "name"
                                << ""
                                << "name"
                                << "a name is required";
    QTest::newRow("padded name") << "name"
                                 << " SSH "
                                 << "name"
                                 << "must not start or end";
    QTest::newRow("long name") << "name" << QString(65, QLatin1Char('x')) << "name"
                               << "longer than 64";
    QTest::newRow("listen no port") << "listen"
                                    << "127.0.0.1"
                                    << "listen"
                                    << "missing \":port\"";
    QTest::newRow("listen port 0") << "listen"
                                   << "127.0.0.1:0"
                                   << "listen"
                                   << "port 0";
    QTest::newRow("server scheme") << "server"
                                   << "ftp://x/"
                                   << "server"
                                   << "unsupported scheme";
    QTest::newRow("server empty") << "server"
                                  << ""
                                  << "server"
                                  << "URL is empty";
    QTest::newRow("header name") << "header"
                                 << "Bad Header"
                                 << "headers"
                                 << "not a valid HTTP header name";
    QTest::newRow("token space") << "token"
                                 << "a b"
                                 << "token"
                                 << "must not contain spaces";
    QTest::newRow("proxy scheme") << "proxy"
                                  << "ftp://proxy:21"
                                  << "proxy"
                                  << "socks5://";
    QTest::newRow("proxy host") << "proxy"
                                << "http://:3128"
                                << "proxy"
                                << "is not a URL like";
    QTest::newRow("listen port") << "listen"
                                 << "127.0.0.1:99999"
                                 << "listen"
                                 << "port 99999 is out of range";
    QTest::newRow("handshake header") << "header"
                                      << "Sec-WebSocket-Key"
                                      << "headers"
                                      << "set by the WebSocket handshake";
    QTest::newRow("Host not a name") << "hostHeader"
                                     << "example.org:8443"
                                     << "headers"
                                     << "is not a host name";
    QTest::newRow("Host and server name differ") << "hostAndServerName"
                                                 << "other.example"
                                                 << "headers"
                                                 << "differ";
    QTest::newRow("pin") << "pin"
                         << "abc"
                         << "pinsSha256"
                         << "is not a SHA-256 pin";
    QTest::newRow("server name") << "serverName"
                                 << "bad name"
                                 << "serverName"
                                 << "not a valid host name";
    QTest::newRow("keep-alive") << "keepAlive"
                                << "-1"
                                << "keepAliveSeconds"
                                << "between 0 and 86400";
    QTest::newRow("socks5 password without user") << "socks5Password"
                                                  << "pw"
                                                  << "socks5User"
                                                  << "needs a user name";
    QTest::newRow("socks5 user too long")
        << "socks5User" << QString(256, QLatin1Char('u')) << "socks5User"
        << "longer than 255 bytes";
    QTest::newRow("socks5 user control") << "socks5User"
                                         << "a\tb"
                                         << "socks5User"
                                         << "control character";
    QTest::newRow("socks5 listen port 0") << "socks5Listen"
                                          << "127.0.0.1:0"
                                          << "listen"
                                          << "port 0";
    QTest::newRow("udp remote missing") << "udpRemote"
                                        << ""
                                        << "udpRemote"
                                        << "needs the destination";
    QTest::newRow("udp remote no port") << "udpRemote"
                                        << "vpn.internal"
                                        << "udpRemote"
                                        << "missing \":port\"";
    QTest::newRow("udp remote port 0") << "udpRemote"
                                       << "vpn.internal:0"
                                       << "udpRemote"
                                       << "between 1 and 65535";
    QTest::newRow("udp remote empty host") << "udpRemote"
                                           << ":53"
                                           << "udpRemote"
                                           << "host";
    QTest::newRow("udp idle") << "udpIdle"
                              << "0"
                              << "udpIdleSeconds"
                              << "between 1 and 86400";
}

void TestProfileStore::validation()
{
    QFETCH(QString, field);
    QFETCH(QString, value);
    QFETCH(QString, key);
    QFETCH(QString, message);
    Profile profile = simpleProfile(QStringLiteral("SSH"), QStringLiteral("127.0.0.1:2222"));
    QString problemKey;
    QVERIFY(profile.validate(&problemKey).isEmpty());
    if (field == "name")
        profile.name = value;
    else if (field == "listen")
        profile.listen = value;
    else if (field == "server")
        profile.serverUrl = value;
    else if (field == "header")
        profile.headers = {{value.toUtf8(), "v"}};
    else if (field == "hostHeader")
        profile.headers = {{"Host", value.toUtf8()}};
    else if (field == "hostAndServerName") {
        profile.headers = {{"host", "front.example"}};
        profile.serverName = value;
    } else if (field == "token")
        profile.token = value;
    else if (field == "proxy")
        profile.proxy = value;
    else if (field == "pin")
        profile.pinsSha256 = {value};
    else if (field == "serverName")
        profile.serverName = value;
    else if (field == "keepAlive")
        profile.keepAliveIntervalMs = value.toInt();
    else if (field.startsWith(QLatin1String("socks5"))) {
        profile.kind = Profile::Kind::Socks5;
        QVERIFY(profile.validate(&problemKey).isEmpty());
        if (field == "socks5Password")
            profile.socks5Password = value;
        else if (field == "socks5User")
            profile.socks5User = value;
        else
            profile.listen = value;
    } else if (field.startsWith(QLatin1String("udp"))) {
        profile.kind = Profile::Kind::Udp;
        profile.udpRemote = QStringLiteral("vpn.internal:51820");
        QVERIFY(profile.validate(&problemKey).isEmpty());
        if (field == "udpRemote")
            profile.udpRemote = value;
        else
            profile.udpIdleTimeoutMs = value.toInt();
    }
    const QString problem = profile.validate(&problemKey);
    QVERIFY2(problem.contains(message), qPrintable(problem));
    QCOMPARE(problemKey, key);

    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(!store.add(profile, &error));
    QCOMPARE(error, problem);
    QVERIFY(!QFile::exists(store.filePath()));
}

void TestProfileStore::namesAreUnique()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(
        store.add(simpleProfile(QStringLiteral("SSH"), QStringLiteral("127.0.0.1:2222")), &error));
    QVERIFY(
        !store.add(simpleProfile(QStringLiteral("ssh"), QStringLiteral("127.0.0.1:2223")), &error));
    QVERIFY2(error.contains(QStringLiteral("exists already")), qPrintable(error));
    QVERIFY(
        store.add(simpleProfile(QStringLiteral("DB"), QStringLiteral("127.0.0.1:5432")), &error));
    QVERIFY(!store.rename(QStringLiteral("DB"), QStringLiteral("SSH"), &error));
    QCOMPARE(store.names(), QStringList({QStringLiteral("SSH"), QStringLiteral("DB")}));
}

void TestProfileStore::renameAndRemove()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(store.add(fullProfile(QStringLiteral("SSH")), &error));
    QVERIFY2(store.rename(QStringLiteral("SSH"), QStringLiteral("SSH home"), &error),
             qPrintable(error));
    ProfileStore reloaded(dir.path());
    QVERIFY(reloaded.load(&error));
    QCOMPARE(reloaded.names(), QStringList {QStringLiteral("SSH home")});
    // The secrets follow the new name.
    QCOMPARE(reloaded.profiles().constFirst().token, QStringLiteral("token-123"));
    QVERIFY(!readAll(store.secretsFilePath()).contains("\"SSH\""));

    QVERIFY(!store.remove(QStringLiteral("nothing"), &error));
    QVERIFY2(error.contains(QStringLiteral("no profile named \"nothing\"")), qPrintable(error));
    QVERIFY(store.remove(QStringLiteral("SSH home"), &error));
    QVERIFY(store.profiles().isEmpty());
    QVERIFY(!readAll(store.secretsFilePath()).contains("token-123"));
}

void TestProfileStore::duplicate()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(store.add(fullProfile(QStringLiteral("SSH")), &error));
    const auto first = store.duplicate(QStringLiteral("SSH"), &error);
    QVERIFY2(first, qPrintable(error));
    QCOMPARE(*first, QStringLiteral("SSH (copy)"));
    const auto second = store.duplicate(QStringLiteral("SSH"), &error);
    QCOMPARE(*second, QStringLiteral("SSH (copy) 2"));
    const Profile copy = *store.profile(*first);
    QVERIFY(!copy.autoStart);
    // Each copy listens on a port of its own, and nothing clashes.
    QCOMPARE(copy.listen, QStringLiteral("127.0.0.1:2223"));
    QCOMPARE(store.profile(*second)->listen, QStringLiteral("127.0.0.1:2224"));
    for (const QString &name : store.names())
        QCOMPARE(store.problem(name), QString());
    QCOMPARE(copy.token, QStringLiteral("token-123"));
    QCOMPARE(copy.serverUrl, fullProfile(QString()).serverUrl);
}

void TestProfileStore::listenConflict()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(
        store.add(simpleProfile(QStringLiteral("SSH"), QStringLiteral("127.0.0.1:2222")), &error));
    const auto conflictOf = [&](const QString &listen) {
        return store.listenConflict(simpleProfile(QStringLiteral("Other"), listen));
    };
    QCOMPARE(conflictOf(QStringLiteral("127.0.0.1:2222")), QStringLiteral("SSH"));
    QCOMPARE(conflictOf(QStringLiteral(":2222")), QStringLiteral("SSH"));
    QCOMPARE(conflictOf(QStringLiteral("localhost:2222")), QStringLiteral("SSH"));
    QCOMPARE(conflictOf(QStringLiteral("127.0.0.1:2223")), QString());
    QCOMPARE(conflictOf(QStringLiteral("0.0.0.0:2222")), QStringLiteral("SSH"));
    QCOMPARE(conflictOf(QStringLiteral("[::]:2222")), QStringLiteral("SSH"));
    QCOMPARE(conflictOf(QStringLiteral("[::1]:2222")), QString());
    // The store refuses what the editor refuses.
    QVERIFY(
        !store.add(simpleProfile(QStringLiteral("Any"), QStringLiteral("0.0.0.0:2222")), &error));
    QVERIFY2(error.contains(QStringLiteral("\"SSH\" listens on 0.0.0.0:2222 already (0.0.0.0:2223 "
                                           "is free)")),
             qPrintable(error));
    // A profile never conflicts with itself (editing it).
    QCOMPARE(store.listenConflict(*store.profile(QStringLiteral("SSH")), QStringLiteral("SSH")),
             QString());
}

void TestProfileStore::exportAndImport()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path() + QStringLiteral("/a"));
    QString error;
    QVERIFY(store.add(fullProfile(QStringLiteral("SSH")), &error));
    QVERIFY(
        store.add(simpleProfile(QStringLiteral("DB"), QStringLiteral("127.0.0.1:5432")), &error));

    const QString one = dir.filePath(QStringLiteral("one.json"));
    QVERIFY2(store.exportProfiles({QStringLiteral("SSH")}, one, false, &error), qPrintable(error));
    const QByteArray oneText = readAll(one);
    QVERIFY(oneText.contains("SSH"));
    QVERIFY(!oneText.contains("\"DB\""));
    QVERIFY(!oneText.contains("token-123"));
    QVERIFY(!oneText.contains("hunter2"));
    QVERIFY(!oneText.contains("query-s"));

    const QString all = dir.filePath(QStringLiteral("all.json"));
    QVERIFY2(store.exportProfiles({}, all, true, &error), qPrintable(error));
    QVERIFY(readAll(all).contains("token-123"));
    QVERIFY(isOwnerOnly(all));
    QVERIFY(!store.exportProfiles({QStringLiteral("Nope")}, one, false, &error));

    ProfileStore other(dir.path() + QStringLiteral("/b"));
    QVERIFY(
        other.add(simpleProfile(QStringLiteral("SSH"), QStringLiteral("127.0.0.1:3000")), &error));
    const auto added = other.importProfiles(all, &error);
    QVERIFY2(added, qPrintable(error));
    QCOMPARE(*added, QStringList({QStringLiteral("SSH (imported)"), QStringLiteral("DB")}));
    Profile expected = fullProfile(QStringLiteral("SSH (imported)"));
    QCOMPARE(*other.profile(QStringLiteral("SSH (imported)")), expected);

    const auto withoutSecrets = other.importProfiles(one, &error);
    QVERIFY2(withoutSecrets, qPrintable(error));
    QCOMPARE(*withoutSecrets, QStringList({QStringLiteral("SSH (imported) 2")}));
    const Profile bare = *other.profile(QStringLiteral("SSH (imported) 2"));
    QVERIFY(bare.token.isEmpty());
    QVERIFY(bare.serverPassword().isEmpty());
    QCOMPARE(bare.serverUrl, QStringLiteral("wss://alice@example.org/ssh/?token=&x=1"));
}

void TestProfileStore::importKeepsBadProfile()
{
    // A file with one bad profile: the good ones are imported as they are, the bad one as
    // needing attention, each on a port of its own.
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY(
        store.add(simpleProfile(QStringLiteral("SSH"), QStringLiteral("127.0.0.1:2222")), &error));
    const auto added = store.importProfiles(testFile(QStringLiteral("bad-listen.json")), &error);
    QVERIFY2(added, qPrintable(error));
    QCOMPARE(*added, QStringList({QStringLiteral("SSH home"), QStringLiteral("Database")}));
    QCOMPARE(store.profile(QStringLiteral("SSH home"))->listen, QStringLiteral("127.0.0.1:2223"));
    QCOMPARE(store.problem(QStringLiteral("SSH home")), QString());
    const QString problem = store.problem(QStringLiteral("Database"));
    QVERIFY2(problem.contains(QStringLiteral("key \"listen\"")), qPrintable(problem));
    QVERIFY2(problem.contains(QStringLiteral("port 99999 is out of range")), qPrintable(problem));
    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(reloaded.names(),
             QStringList(
                 {QStringLiteral("SSH"), QStringLiteral("SSH home"), QStringLiteral("Database")}));
    QCOMPARE(reloaded.problem(QStringLiteral("Database")), problem);

    // Imported twice: new names, and again no clash.
    const auto again = store.importProfiles(testFile(QStringLiteral("bad-listen.json")), &error);
    QVERIFY2(again, qPrintable(error));
    QCOMPARE(*again,
             QStringList(
                 {QStringLiteral("SSH home (imported)"), QStringLiteral("Database (imported)")}));
    QCOMPARE(store.profile(QStringLiteral("SSH home (imported)"))->listen,
             QStringLiteral("127.0.0.1:2224"));
    QCOMPARE(store.problem(QStringLiteral("SSH home (imported)")), QString());

    QVERIFY(!store.importProfiles(dir.filePath(QStringLiteral("missing.json")), &error));
    QVERIFY2(error.contains(QStringLiteral("no such file")), qPrintable(error));
    QVERIFY(!store.importProfiles(testFile(QStringLiteral("syntax-error.json")), &error));
    QVERIFY2(error.contains(QStringLiteral("not valid JSON")), qPrintable(error));
    // The imported file itself is never moved aside.
    QVERIFY(QFile::exists(testFile(QStringLiteral("bad-listen.json"))));
}

void TestProfileStore::clientOptionsMapping()
{
    Profile profile = fullProfile(QStringLiteral("SSH"));
    profile.listen = QStringLiteral("[::1]:2222");
    QString error;
    const auto options = profile.toClientOptions(&error);
    QVERIFY2(options, qPrintable(error));
    QCOMPARE(options->listen.host, QStringLiteral("::1"));
    QCOMPARE(options->listen.port, quint16(2222));
    QCOMPARE(options->serverUrl.host(), QStringLiteral("example.org"));
    QCOMPARE(options->serverUrl.password(), QStringLiteral("open sesame"));
    QVERIFY(options->insecure);
    QCOMPARE(options->subprotocol, QStringLiteral("binary"));
    QCOMPARE(options->relay.keepAliveIntervalMs, 30000);
    QCOMPARE(simpleProfile(QStringLiteral("plain"), QStringLiteral("127.0.0.1:1"))
                 .toClientOptions(&error)
                 ->subprotocol,
             QString());

    profile.listen = QStringLiteral("nonsense");
    QVERIFY(!profile.toClientOptions(&error));
    QVERIFY2(error.startsWith(QStringLiteral("profile \"SSH\": invalid address")),
             qPrintable(error));
}

// Every kind loads with its own fields; a UDP port and a TCP port of the same number do not
// clash, two TCP ports (SOCKS5 and SOCKS5 here) do.
void TestProfileStore::kindsLoadWithTheirFields()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    install(QStringLiteral("kinds.json"), store.filePath());
    install(QStringLiteral("secrets-kinds.json"), store.secretsFilePath());
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QCOMPARE(store.names(),
             QStringList({QStringLiteral("SSH home"), QStringLiteral("Browser"),
                          QStringLiteral("WireGuard"), QStringLiteral("Second proxy")}));
    QCOMPARE(store.profile(QStringLiteral("SSH home"))->kind, Profile::Kind::Forward);
    const Profile browser = *store.profile(QStringLiteral("Browser"));
    QCOMPARE(browser.kind, Profile::Kind::Socks5);
    QCOMPARE(browser.listen, QStringLiteral("127.0.0.1:1080"));
    QCOMPARE(browser.socks5User, QStringLiteral("me"));
    QCOMPARE(browser.socks5Password, QStringLiteral("socks-pw"));
    QCOMPARE(browser.token, QStringLiteral("dyn-token"));
    const Profile wireGuard = *store.profile(QStringLiteral("WireGuard"));
    QCOMPARE(wireGuard.kind, Profile::Kind::Udp);
    QCOMPARE(wireGuard.udpRemote, QStringLiteral("vpn.internal:51820"));
    QCOMPARE(wireGuard.udpIdleTimeoutMs, 120000);
    for (const QString &name :
         {QStringLiteral("SSH home"), QStringLiteral("Browser"), QStringLiteral("WireGuard")})
        QCOMPARE(store.problem(name), QString());
    const QString problem = store.problem(QStringLiteral("Second proxy"));
    QVERIFY2(problem.contains(QStringLiteral("\"Browser\" listens on 127.0.0.1:1080 already")),
             qPrintable(problem));

    // Saved and read again: the same profiles.
    QVERIFY2(store.update(QStringLiteral("Browser"), browser, &error), qPrintable(error));
    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(reloaded.profiles(), store.profiles());
}

// A port forward is written with exactly the keys it had before there were kinds, so that an
// earlier version reads the file (and a file it wrote comes back byte for byte).
void TestProfileStore::forwardIsWrittenAsBefore()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    Profile profile = fullProfile(QStringLiteral("SSH"));
    // Fields of other kinds, left over in the editor, are not written.
    profile.socks5User = QStringLiteral("me");
    profile.socks5Password = QStringLiteral("socks-pw");
    profile.udpRemote = QStringLiteral("vpn.internal:51820");
    QVERIFY2(store.add(profile, &error), qPrintable(error));
    const QJsonObject written = profilesOf(store.filePath()).at(0).toObject();
    QCOMPARE(written.keys(),
             QStringList({"autoStart", "binarySubprotocol", "caFile", "headers", "insecure",
                          "keepAliveMode", "keepAliveSeconds", "listen", "name", "pinsSha256",
                          "proxy", "server", "serverName"}));
    QVERIFY(!secretsOf(store.secretsFilePath())
                 .value(QLatin1String("SSH"))
                 .toObject()
                 .contains(QLatin1String("socks5Password")));

    // A file of the earlier version comes back unchanged when saved.
    ProfileStore old(dir.path() + QStringLiteral("/old"));
    QVERIFY(QDir().mkpath(old.directory()));
    install(QStringLiteral("valid.json"), old.filePath());
    install(QStringLiteral("secrets-valid.json"), old.secretsFilePath());
    QVERIFY2(old.load(&error), qPrintable(error));
    QVERIFY2(old.save(&error), qPrintable(error));
    const QByteArray firstSave = readAll(old.filePath());
    QVERIFY(!firstSave.contains("kind"));
    ProfileStore again(old.directory());
    QVERIFY2(again.load(&error), qPrintable(error));
    QVERIFY2(again.save(&error), qPrintable(error));
    QCOMPARE(readAll(again.filePath()), firstSave);
}

void TestProfileStore::socks5PasswordIsASecret()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    Profile profile = simpleProfile(QStringLiteral("Browser"), QStringLiteral("127.0.0.1:1080"));
    profile.kind = Profile::Kind::Socks5;
    profile.socks5User = QStringLiteral("me");
    profile.socks5Password = QStringLiteral("socks-pw");
    QVERIFY2(store.add(profile, &error), qPrintable(error));
    const QByteArray publicPart = readAll(store.filePath());
    QVERIFY(publicPart.contains("\"kind\": \"socks5\""));
    QVERIFY(publicPart.contains("\"socks5User\": \"me\""));
    QVERIFY(!publicPart.contains("socks-pw"));
    QCOMPARE(secretsOf(store.secretsFilePath()).value(QLatin1String("Browser")).toObject(),
             QJsonObject({{QLatin1String("socks5Password"), QStringLiteral("socks-pw")}}));
    QVERIFY(isOwnerOnly(store.secretsFilePath()));

    ProfileStore reloaded(dir.path());
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QCOMPARE(*reloaded.profile(QStringLiteral("Browser")), profile);

    // Exported without secrets: no password; with: the password, in an owner-only file.
    const QString bare = dir.filePath(QStringLiteral("bare.json"));
    QVERIFY2(store.exportProfiles({}, bare, false, &error), qPrintable(error));
    QVERIFY(!readAll(bare).contains("socks-pw"));
    const QString full = dir.filePath(QStringLiteral("full.json"));
    QVERIFY2(store.exportProfiles({}, full, true, &error), qPrintable(error));
    QVERIFY(readAll(full).contains("\"socks5Password\": \"socks-pw\""));
    QVERIFY(isOwnerOnly(full));

    // The editor left the password as shown while the stored one differs: it stays.
    Profile shown = profile;
    shown.socks5Password.clear();
    Profile edited = shown;
    edited.socks5User = QStringLiteral("you");
    QVERIFY2(store.update(QStringLiteral("Browser"), edited, &error, shown), qPrintable(error));
    QCOMPARE(store.profile(QStringLiteral("Browser"))->socks5Password, QStringLiteral("socks-pw"));
    // Cleared on purpose (with the user name): cleared, and gone from the secrets file.
    edited.socks5User.clear();
    QVERIFY2(store.update(QStringLiteral("Browser"), edited, &error, profile), qPrintable(error));
    QVERIFY(store.profile(QStringLiteral("Browser"))->socks5Password.isEmpty());
    QVERIFY(!readAll(store.secretsFilePath()).contains("socks-pw"));
}

void TestProfileStore::socks5PasswordInKeychain()
{
    QTemporaryDir dir;
    MemoryVault vault;
    ProfileStore store(dir.path());
    store.setSecretVault(&vault);
    QString error;
    QVERIFY(store.load(&error));
    store.moveSecretsToVault();
    Profile profile = simpleProfile(QStringLiteral("Browser"), QStringLiteral("127.0.0.1:1080"));
    profile.kind = Profile::Kind::Socks5;
    profile.socks5User = QStringLiteral("me");
    profile.socks5Password = QStringLiteral("socks-pw");
    QVERIFY2(store.add(profile, &error), qPrintable(error));
    vault.answerAll();
    QVERIFY(!store.vaultBusy());
    QVERIFY(vault.entry(QStringLiteral("Browser")).contains("socks-pw"));
    QVERIFY(!readAll(store.secretsFilePath()).contains("socks-pw"));
    QVERIFY(!readAll(store.filePath()).contains("socks-pw"));

    ProfileStore reloaded(dir.path());
    reloaded.setSecretVault(&vault);
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    QVERIFY(reloaded.secretsLoading());
    vault.answerAll();
    QCOMPARE(reloaded.profile(QStringLiteral("Browser"))->socks5Password,
             QStringLiteral("socks-pw"));
}

void TestProfileStore::kindsClash_data()
{
    QTest::addColumn<int>("firstKind");
    QTest::addColumn<QString>("firstListen");
    QTest::addColumn<int>("secondKind");
    QTest::addColumn<QString>("secondListen");
    QTest::addColumn<bool>("clash");
    const int forward = int(Profile::Kind::Forward);
    const int socks5 = int(Profile::Kind::Socks5);
    const int udp = int(Profile::Kind::Udp);
    QTest::newRow("forward, socks5") << forward << "127.0.0.1:1080" << socks5 << ":1080" << true;
    QTest::newRow("socks5, socks5")
        << socks5 << "127.0.0.1:1080" << socks5 << "localhost:1080" << true;
    QTest::newRow("forward, udp") << forward << "127.0.0.1:1080" << udp << "127.0.0.1:1080"
                                  << false;
    QTest::newRow("socks5, udp") << socks5 << ":1080" << udp << ":1080" << false;
    QTest::newRow("udp, udp") << udp << "0.0.0.0:51820" << udp << "127.0.0.1:51820" << true;
    QTest::newRow("udp, udp apart") << udp << "127.0.0.1:51820" << udp << "[::1]:51820" << false;
}

void TestProfileStore::kindsClash()
{
    QFETCH(int, firstKind);
    QFETCH(QString, firstListen);
    QFETCH(int, secondKind);
    QFETCH(QString, secondListen);
    QFETCH(bool, clash);
    auto make = [](const QString &name, int kind, const QString &listen) {
        Profile profile = simpleProfile(name, listen);
        profile.kind = Profile::Kind(kind);
        profile.udpRemote = QStringLiteral("vpn.internal:51820");
        return profile;
    };
    const Profile first = make(QStringLiteral("First"), firstKind, firstListen);
    const Profile second = make(QStringLiteral("Second"), secondKind, secondListen);
    QCOMPARE(Profile::localAddressesClash(first, second), clash);
    QCOMPARE(Profile::localAddressesClash(second, first), clash);

    QTemporaryDir dir;
    ProfileStore store(dir.path());
    QString error;
    QVERIFY2(store.add(first, &error), qPrintable(error));
    QCOMPARE(store.listenConflict(second), clash ? QStringLiteral("First") : QString());
    QCOMPARE(store.add(second, &error), !clash);
    if (clash)
        QVERIFY2(error.contains(QStringLiteral("\"First\" listens on")), qPrintable(error));
}

// Duplicate and import move a profile to a free port of its own transport.
void TestProfileStore::kindsDuplicateAndImport()
{
    QTemporaryDir dir;
    ProfileStore store(dir.path() + QStringLiteral("/a"));
    QString error;
    QVERIFY(
        store.add(simpleProfile(QStringLiteral("SSH"), QStringLiteral("127.0.0.1:1081")), &error));
    Profile udp = simpleProfile(QStringLiteral("WireGuard"), QStringLiteral("127.0.0.1:1080"));
    udp.kind = Profile::Kind::Udp;
    udp.udpRemote = QStringLiteral("vpn.internal:51820");
    QVERIFY2(store.add(udp, &error), qPrintable(error));
    Profile socks5 = simpleProfile(QStringLiteral("Browser"), QStringLiteral("127.0.0.1:1080"));
    socks5.kind = Profile::Kind::Socks5;
    socks5.socks5User = QStringLiteral("me");
    socks5.socks5Password = QStringLiteral("socks-pw");
    QVERIFY2(store.add(socks5, &error), qPrintable(error));

    // UDP 1081 is free (TCP 1081 is not, which does not matter); TCP 1081 is taken by SSH.
    const auto udpCopy = store.duplicate(QStringLiteral("WireGuard"), &error);
    QVERIFY2(udpCopy, qPrintable(error));
    QCOMPARE(store.profile(*udpCopy)->listen, QStringLiteral("127.0.0.1:1081"));
    QCOMPARE(store.profile(*udpCopy)->kind, Profile::Kind::Udp);
    QCOMPARE(store.profile(*udpCopy)->udpRemote, udp.udpRemote);
    const auto socksCopy = store.duplicate(QStringLiteral("Browser"), &error);
    QVERIFY2(socksCopy, qPrintable(error));
    const Profile copied = *store.profile(*socksCopy);
    QCOMPARE(copied.listen, QStringLiteral("127.0.0.1:1082"));
    QCOMPARE(copied.kind, Profile::Kind::Socks5);
    QCOMPARE(copied.socks5Password, QStringLiteral("socks-pw"));

    const QString all = dir.filePath(QStringLiteral("all.json"));
    QVERIFY2(store.exportProfiles({}, all, true, &error), qPrintable(error));
    ProfileStore other(dir.path() + QStringLiteral("/b"));
    const auto added = other.importProfiles(all, &error);
    QVERIFY2(added, qPrintable(error));
    QCOMPARE(other.profiles(), store.profiles());
    for (const QString &name : other.names())
        QCOMPARE(other.problem(name), QString());
}

void TestProfileStore::kindsClientOptions()
{
    QString error;
    Profile socks5 = simpleProfile(QStringLiteral("Browser"), QStringLiteral("127.0.0.1:1080"));
    socks5.kind = Profile::Kind::Socks5;
    socks5.socks5User = QStringLiteral("me");
    // A user name whose password did not arrive (the keychain could not be read) starts nothing:
    // no program could log in.
    QVERIFY(!socks5.toClientOptions(&error));
    QVERIFY2(error.contains(QStringLiteral("SOCKS5 password")), qPrintable(error));
    socks5.socks5Password = QStringLiteral("socks-pw");
    const auto proxy = socks5.toClientOptions(&error);
    QVERIFY2(proxy, qPrintable(error));
    QCOMPARE(proxy->socks5Listen, (HostPort {QStringLiteral("127.0.0.1"), 1080}));
    QCOMPARE(proxy->socks5User, QStringLiteral("me"));
    QCOMPARE(proxy->socks5Password, QStringLiteral("socks-pw"));
    QCOMPARE(proxy->udpListen.port, quint16(0));

    Profile udp = simpleProfile(QStringLiteral("WireGuard"), QStringLiteral("127.0.0.1:51820"));
    udp.kind = Profile::Kind::Udp;
    udp.udpRemote = QStringLiteral("[fd00::5]:51820");
    udp.udpIdleTimeoutMs = 30000;
    const auto datagrams = udp.toClientOptions(&error);
    QVERIFY2(datagrams, qPrintable(error));
    QCOMPARE(datagrams->udpListen, (HostPort {QStringLiteral("127.0.0.1"), 51820}));
    QCOMPARE(datagrams->udpRemote, (HostPort {QStringLiteral("fd00::5"), 51820}));
    QCOMPARE(datagrams->udpIdleTimeoutMs, 30000);
    QCOMPARE(datagrams->socks5Listen.port, quint16(0));
    // A UDP socket binds an address, not a name.
    udp.listen = QStringLiteral("wg.example:51820");
    QVERIFY(!udp.toClientOptions(&error));
    QVERIFY2(error.contains(QStringLiteral("not on the name \"wg.example\"")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestProfileStore)
// The editor opened before the keychain answered (the profile without its token) and saved
// after: what it left as shown does not clear the token that arrived meanwhile; what it
// cleared on purpose is cleared.
void TestProfileStore::editorOpenedWhileReadingKeepsSecrets()
{
    QTemporaryDir dir;
    MemoryVault vault;
    vault.setEntry(QStringLiteral("SSH"), R"({"token": "kc-token"})");
    ProfileStore store(dir.path());
    store.setSecretVault(&vault);
    writeKeychainProfile(store);
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    store.moveSecretsToVault();
    QVERIFY(store.secretsLoading());
    const Profile shown = *store.profile(QStringLiteral("SSH"));
    QVERIFY(shown.token.isEmpty());
    vault.answerAll();
    QVERIFY(!store.secretsLoading());
    QCOMPARE(store.profile(QStringLiteral("SSH"))->token, QStringLiteral("kc-token"));

    Profile edited = shown;
    edited.listen = QStringLiteral("127.0.0.1:2223");
    QVERIFY2(store.update(QStringLiteral("SSH"), edited, &error, shown), qPrintable(error));
    vault.answerAll();
    QCOMPARE(store.profile(QStringLiteral("SSH"))->listen, QStringLiteral("127.0.0.1:2223"));
    QCOMPARE(store.profile(QStringLiteral("SSH"))->token, QStringLiteral("kc-token"));
    QVERIFY2(vault.entry(QStringLiteral("SSH")).contains("kc-token"),
             qPrintable(vault.log.join(", ")));
    QCOMPARE(secretsOf(store.secretsFilePath()).value("SSH").toObject(),
             QJsonObject({{"keychain", true}}));

    // Cleared in an editor that showed it: cleared.
    const Profile current = *store.profile(QStringLiteral("SSH"));
    Profile cleared = current;
    cleared.token.clear();
    QVERIFY2(store.update(QStringLiteral("SSH"), cleared, &error, current), qPrintable(error));
    vault.answerAll();
    QVERIFY(store.profile(QStringLiteral("SSH"))->token.isEmpty());
    QVERIFY(!vault.contains(QStringLiteral("SSH")));
}

// Its keychain entry is named after it and cannot be read: a rename would leave it behind under
// the old name (or delete it), so it is refused, and nothing changes.
void TestProfileStore::unreadableProfileIsNotRenamed()
{
    QTemporaryDir dir;
    MemoryVault vault;
    vault.setEntry(QStringLiteral("SSH"), R"({"token": "kc-token"})");
    vault.failing.insert(QStringLiteral("SSH"));
    ProfileStore store(dir.path());
    store.setSecretVault(&vault);
    writeKeychainProfile(store);
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    store.moveSecretsToVault();
    vault.answerAll();
    QVERIFY(!store.secretsProblem(QStringLiteral("SSH")).isEmpty());

    QVERIFY(!store.rename(QStringLiteral("SSH"), QStringLiteral("Tunnel"), &error));
    QVERIFY2(error.contains(QStringLiteral("cannot be renamed")), qPrintable(error));
    QCOMPARE(store.names(), QStringList {QStringLiteral("SSH")});
    // Other changes keep the entry.
    Profile moved = *store.profile(QStringLiteral("SSH"));
    moved.listen = QStringLiteral("127.0.0.1:2223");
    QVERIFY2(store.update(QStringLiteral("SSH"), moved, &error), qPrintable(error));
    vault.answerAll();
    QVERIFY(vault.contains(QStringLiteral("SSH")));
    QCOMPARE(secretsOf(store.secretsFilePath()).value("SSH").toObject(),
             QJsonObject({{"keychain", true}}));
}

void TestProfileStore::caseOnlyRenameKeepsKeychainEntry_data()
{
    QTest::addColumn<bool>("ignoreCase");
    QTest::newRow("Secret Service (case matters)") << false;
    QTest::newRow("Credential Manager (case ignored)") << true;
}

// "ssh" -> "SSH": the old entry is deleted before the new one is written, so a keychain that
// ignores case does not delete the new one; the file says {"keychain": true} only after that.
void TestProfileStore::caseOnlyRenameKeepsKeychainEntry()
{
    QFETCH(bool, ignoreCase);
    QTemporaryDir dir;
    MemoryVault vault(ignoreCase);
    {
        ProfileStore store(dir.path());
        store.setSecretVault(&vault);
        QString error;
        QVERIFY2(store.load(&error), qPrintable(error));
        store.moveSecretsToVault();
        Profile profile = simpleProfile(QStringLiteral("ssh"), QStringLiteral("127.0.0.1:2222"));
        profile.token = QStringLiteral("kc-token");
        QVERIFY2(store.add(profile, &error), qPrintable(error));
        vault.answerAll();
        QVERIFY(vault.contains(QStringLiteral("ssh")));

        QVERIFY2(store.rename(QStringLiteral("ssh"), QStringLiteral("SSH"), &error),
                 qPrintable(error));
        vault.answerAll();
        QVERIFY2(vault.entry(QStringLiteral("SSH")).contains("kc-token"),
                 qPrintable(vault.log.join(", ")));
        if (!ignoreCase)
            QVERIFY(!vault.contains(QStringLiteral("ssh")));
        QCOMPARE(secretsOf(store.secretsFilePath()),
                 QJsonObject({{"SSH", QJsonObject({{"keychain", true}})}}));
    }
    ProfileStore reloaded(dir.path());
    reloaded.setSecretVault(&vault);
    QString error;
    QVERIFY2(reloaded.load(&error), qPrintable(error));
    vault.answerAll();
    QCOMPARE(reloaded.profile(QStringLiteral("SSH"))->token, QStringLiteral("kc-token"));
}

// Two profiles named "A" in the file: the second is renamed apart ("A 2", needing attention),
// and its secrets are still the file's "A" entry: in the keychain, read under "A".
void TestProfileStore::renamedApartProfileReadsItsEntry()
{
    QTemporaryDir dir;
    MemoryVault vault;
    vault.setEntry(QStringLiteral("A"), R"({"token": "a-token"})");
    ProfileStore store(dir.path());
    store.setSecretVault(&vault);
    writeText(store.filePath(), R"({"schema": 1, "profiles": [
        {"name": "A", "listen": "127.0.0.1:2222", "server": "ws://example.org/"},
        {"name": "A", "listen": "127.0.0.1:2223", "server": "ws://example.org/"}]})");
    writeText(store.secretsFilePath(), R"({"schema": 1, "secrets": {"A": {"keychain": true}}})");
    QString error;
    store.load(&error);
    store.moveSecretsToVault();
    vault.answerAll();
    QCOMPARE(store.profiles().size(), 2);
    const Profile second = store.profiles().at(1);
    QVERIFY(second.name != QStringLiteral("A"));
    QVERIFY(!store.problem(second.name).isEmpty());
    QVERIFY2(store.secretsProblem(second.name).isEmpty(),
             qPrintable(store.secretsProblem(second.name)));
    QCOMPARE(second.token, QStringLiteral("a-token"));
    QVERIFY2(!vault.log.contains(QStringLiteral("read ") + second.name),
             qPrintable(vault.log.join(", ")));
    QVERIFY(vault.contains(QStringLiteral("A")));
}

// A profile that needs attention stays as it was read, secrets included: nothing of it is
// written to the keychain (its secrets stay in the file) until it is edited.
void TestProfileStore::profileNeedingAttentionStaysInFile()
{
    QTemporaryDir dir;
    MemoryVault vault;
    ProfileStore store(dir.path());
    store.setSecretVault(&vault);
    writeText(store.filePath(), R"({"schema": 1, "profiles": [
        {"name": "Bad", "listen": "127.0.0.1:99999", "server": "ws://example.org/"}]})");
    writeText(store.secretsFilePath(),
              R"({"schema": 1, "secrets": {"Bad": {"token": "bad-token"}}})");
    QString error;
    QVERIFY2(store.load(&error), qPrintable(error));
    QVERIFY(!store.problem(QStringLiteral("Bad")).isEmpty());
    store.moveSecretsToVault();
    vault.answerAll();
    QVERIFY2(vault.log.isEmpty(), qPrintable(vault.log.join(", ")));
    QCOMPARE(secretsOf(store.secretsFilePath()).value("Bad").toObject(),
             QJsonObject({{"token", "bad-token"}}));

    // Edited: it is a profile like the others, its token goes to the keychain.
    Profile fixed = *store.profile(QStringLiteral("Bad"));
    fixed.listen = QStringLiteral("127.0.0.1:2222");
    QVERIFY2(store.update(QStringLiteral("Bad"), fixed, &error), qPrintable(error));
    vault.answerAll();
    QVERIFY(vault.entry(QStringLiteral("Bad")).contains("bad-token"));
    QCOMPARE(secretsOf(store.secretsFilePath()).value("Bad").toObject(),
             QJsonObject({{"keychain", true}}));
}

#include "tst_profilestore.moc"

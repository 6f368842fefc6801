// KeychainVault against a real Secret Service (GNOME Keyring on a D-Bus session of the test's
// own, run-with-secret-service.sh): store, read, overwrite, delete, as another client
// (secret-tool) sees them; and its answers where no session bus exists.
#include "keychaintest.h"
#include "keychainvault.h"

#include <QTest>

using namespace keychaintest;

namespace {
const QString kService = QStringLiteral("tcp-over-websocket-test-vault");
} // namespace

class TestKeychainVault : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void storeReadDelete();
    void failsWithoutSessionBus();
};

void TestKeychainVault::storeReadDelete()
{
    KeychainVault vault(kService, kVaultTimeoutMs);
    const QString key = QStringLiteral("SSH home");
    const QByteArray first = R"({"token":"t-1 é"})";
    const QByteArray second = R"({"token":"t-2"})";

    SecretVault::Answer answer = await([&](auto done) { vault.write(key, first, done); });
    QVERIFY2(answer.status == SecretVault::Answer::Status::Done, qPrintable(answer.error));
    QCOMPARE(secretToolLookup(kService, key).value_or("(none)"), first);
    answer = await([&](auto done) { vault.read(key, done); });
    QVERIFY2(answer.status == SecretVault::Answer::Status::Done, qPrintable(answer.error));
    QCOMPARE(answer.data, first);

    answer = await([&](auto done) { vault.write(key, second, done); });
    QVERIFY2(answer.status == SecretVault::Answer::Status::Done, qPrintable(answer.error));
    answer = await([&](auto done) { vault.read(key, done); });
    QCOMPARE(answer.data, second);
    QCOMPARE(secretToolLookup(kService, key).value_or("(none)"), second);

    answer = await([&](auto done) { vault.remove(key, done); });
    QVERIFY2(answer.status == SecretVault::Answer::Status::Done, qPrintable(answer.error));
    QVERIFY(!secretToolLookup(kService, key));
    answer = await([&](auto done) { vault.read(key, done); });
    QVERIFY(answer.status == SecretVault::Answer::Status::NotFound);
}

void TestKeychainVault::failsWithoutSessionBus()
{
    if (!isChild()) {
        runWithoutSessionBus("failsWithoutSessionBus");
        return;
    }
    QVERIFY(qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS"));
    KeychainVault vault(kService, kVaultTimeoutMs);
    SecretVault::Answer answer =
        await([&](auto done) { vault.write(QStringLiteral("k"), "secret-value", done); });
    QVERIFY(answer.status == SecretVault::Answer::Status::Failed);
    QVERIFY(!answer.error.isEmpty());
    QVERIFY(!answer.error.contains(QStringLiteral("secret-value")));
    // A failure, not "no such entry": the store must not take it for a missing secret.
    answer = await([&](auto done) { vault.read(QStringLiteral("k"), done); });
    QVERIFY(answer.status == SecretVault::Answer::Status::Failed);
}

QTEST_GUILESS_MAIN(TestKeychainVault)
#include "tst_keychainvault.moc"

// Helpers of the keychain tests: waiting for a vault's answer, reading the Secret Service with
// another client (secret-tool), and running one test function again in a child process that has
// no D-Bus session bus.
#pragma once

#include "profiles/secretvault.h"

#include <QCoreApplication>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <functional>
#include <optional>

namespace keychaintest {

// Only an upper bound for a stuck keychain: the tests wait for answers, not for time to pass.
constexpr int kAnswerMs = 120000;
constexpr int kVaultTimeoutMs = 90000;
// The child process of runWithoutSessionBus() has it set.
constexpr char kChildVariable[] = "TOW_KEYCHAIN_TEST_CHILD";

inline SecretVault::Answer await(const std::function<void(SecretVault::Callback)> &request)
{
    std::optional<SecretVault::Answer> result;
    request([&result](const SecretVault::Answer &answer) { result = answer; });
    if (!QTest::qWaitFor([&result] { return result.has_value(); }, kAnswerMs)) {
        SecretVault::Answer none;
        none.error = QStringLiteral("the test got no answer");
        return none;
    }
    return *result;
}

// The Secret Service's entry as QtKeychain stores a text secret, read by libsecret's own tool;
// std::nullopt when there is none.
inline std::optional<QByteArray> secretToolLookup(const QString &service, const QString &key)
{
    QProcess tool;
    tool.start(QStringLiteral("secret-tool"),
               {QStringLiteral("lookup"), QStringLiteral("server"), service, QStringLiteral("user"),
                key, QStringLiteral("type"), QStringLiteral("plaintext")});
    if (!tool.waitForFinished(kAnswerMs) || tool.exitCode() != 0)
        return std::nullopt;
    return tool.readAllStandardOutput();
}

inline bool isChild()
{
    return qEnvironmentVariableIsSet(kChildVariable);
}

// The environment of a process with no session bus to find: no address, an empty runtime
// directory (no $XDG_RUNTIME_DIR/bus), no display to autolaunch one on.
inline QProcessEnvironment withoutSessionBus(const QString &emptyDirectory)
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"})
        environment.remove(QString::fromLatin1(name));
    environment.insert(QStringLiteral("XDG_RUNTIME_DIR"), emptyDirectory);
    return environment;
}

// Runs the test function `function` of this executable in a child process without a session
// bus (QtKeychain picks its backend once per process); fails the calling test when it fails.
inline void runWithoutSessionBus(const char *function)
{
    QTemporaryDir runtime;
    QVERIFY(runtime.isValid());
    QProcessEnvironment environment = withoutSessionBus(runtime.path());
    environment.insert(QString::fromLatin1(kChildVariable), QStringLiteral("1"));
    QProcess child;
    child.setProcessEnvironment(environment);
    child.setProcessChannelMode(QProcess::MergedChannels);
    child.start(QCoreApplication::applicationFilePath(), {QString::fromLatin1(function)});
    QVERIFY(child.waitForFinished(kAnswerMs));
    const QByteArray output = child.readAll();
    QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0,
             output.constData());
}

} // namespace keychaintest

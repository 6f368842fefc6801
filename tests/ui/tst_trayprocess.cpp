// The tray app as a real process (offscreen platform): auto-start profiles listen at launch, a
// second launch asks the first for its window and leaves, a broken profiles file is reported and
// kept aside, SIGTERM ends it cleanly.
#include "loopbackport.h"
#include "profiles/profilestore.h"
#include "towprocess.h"

#include <QDir>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>

namespace {

constexpr int kTimeoutMs = 30000;

} // namespace

class TestTrayProcess : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void autoStartAndSingleInstance();
    void brokenProfilesAreReported();

private:
    static QProcessEnvironment environment(const QTemporaryDir &config)
    {
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("XDG_CONFIG_HOME"), config.path());
        environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        return environment;
    }
};

void TestTrayProcess::autoStartAndSingleInstance()
{
    QTemporaryDir config;
    ProfileStore store(config.filePath(QStringLiteral("tcp-over-websocket")));
    QString error;
    Profile profile;
    profile.name = QStringLiteral("SSH");
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:9/");
    profile.autoStart = true;
    QVERIFY2(store.add(profile, &error), qPrintable(error));
    Profile manual = profile;
    manual.name = QStringLiteral("Manual");
    manual.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
    manual.autoStart = false;
    QVERIFY2(store.add(manual, &error), qPrintable(error));

    TowProcess first;
    first.process().setProcessEnvironment(environment(config));
    QVERIFY2(first.start({}), qPrintable(first.log()));
    QCOMPARE(QStringLiteral("127.0.0.1:%1").arg(first.port()), profile.listen);
    QVERIFY(first.log().contains(QStringLiteral("no system tray: showing the tunnels window")));
    QVERIFY(!first.log().contains(manual.listen));

    QProcess second;
    second.setProcessEnvironment(environment(config));
    second.start(TowProcess::executable(), {});
    QVERIFY(second.waitForFinished(kTimeoutMs));
    QCOMPARE(second.exitCode(), 0);
    QVERIFY(QString::fromUtf8(second.readAllStandardError())
                .contains(QStringLiteral("already running")));
    QTRY_VERIFY_WITH_TIMEOUT(
        first.log().contains(QStringLiteral("another launch asked for the window")), kTimeoutMs);
    QCOMPARE(first.stop(), 0);
}

void TestTrayProcess::brokenProfilesAreReported()
{
    QTemporaryDir config;
    const QString directory = config.filePath(QStringLiteral("tcp-over-websocket"));
    QVERIFY(QDir().mkpath(directory));
    QFile file(directory + QStringLiteral("/profiles.json"));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("{\"schema\": 1, \"profiles\": [");
    file.close();

    QProcess tray;
    tray.setProcessEnvironment(environment(config));
    tray.setProcessChannelMode(QProcess::SeparateChannels);
    tray.start(TowProcess::executable(), {});
    QString log;
    QVERIFY(QTest::qWaitFor(
        [&] {
            log += QString::fromUtf8(tray.readAllStandardError());
            return log.contains(QStringLiteral("was kept as"));
        },
        kTimeoutMs));
    QVERIFY2(log.contains(QStringLiteral("profiles.json: not valid JSON")), qPrintable(log));
    const QStringList aside = QDir(directory).entryList({QStringLiteral("profiles.json.broken-*")});
    QCOMPARE(aside.size(), 1);
    tray.terminate();
    QVERIFY(tray.waitForFinished(kTimeoutMs));
    QCOMPARE(tray.exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestTrayProcess)
#include "tst_trayprocess.moc"

// The executable's command-line behaviour: exit codes and the one-line errors users see.
#include "towprocess.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

class TestCli : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void usageErrors_data();
    void usageErrors();
    void helpAndVersion();
    void portInUse();
    void unresolvableListenAddress();
    void emptyTokenInConfig();
    void logLineFormat_data();
    void logLineFormat();
#if defined(TOW_HAVE_UI) && defined(Q_OS_UNIX) && !defined(Q_OS_DARWIN)
    void noArgumentsWithoutDisplay();
#endif
#if defined(TOW_HAVE_UI) && defined(Q_OS_LINUX)
    void headlessFacesMapNoWidgets();
    void trayModuleMissing();
#endif
};

void TestCli::usageErrors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected");
#ifndef TOW_HAVE_UI
    // Without the UI the tray mode is a usage error (tests/ui covers the tray app otherwise).
    QTest::newRow("no arguments") << QStringList {} << "TOW_BUILD_UI=OFF";
#endif
    QTest::newRow("profile without client")
        << QStringList {"--profile", "SSH"} << "tcp-over-websocket client --profile";
    QTest::newRow("profile with listen flag")
        << QStringList {"client", "--profile", "SSH", "-listen_tcp", ":1"}
        << "-listen_tcp cannot be combined with --profile";
    QTest::newRow("profile on server")
        << QStringList {"server", "--all-autostart"} << "-all-autostart is a client option";
    QTest::newRow("unknown flag") << QStringList {"server", "-remote_tcp", "h:1", "-what"}
                                  << "what";
    QTest::newRow("missing remote") << QStringList {"server"} << "-remote_tcp";
    QTest::newRow("bad address") << QStringList {"client", "-listen_tcp", "1.2.3.4", "-remote_ws",
                                                 "ws://h/"}
                                 << "missing \":port\"";
    QTest::newRow("bad url") << QStringList {"client", "-remote_ws", "gopher://h/"}
                             << "unsupported scheme";
}

void TestCli::usageErrors()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);
    const ProcessResult result = runTow(arguments);
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(result.standardError.contains(expected), qPrintable(result.standardError));
    QCOMPARE(result.standardError.count(QLatin1Char('\n')), 1); // one line
    QVERIFY(result.standardError.startsWith(QLatin1String("tcp-over-websocket: ")));
}

void TestCli::helpAndVersion()
{
    ProcessResult result = runTow({"--help"});
    QCOMPARE(result.exitCode, 0);
    QVERIFY(result.standardOutput.contains(QLatin1String("-listen_ws")));
    QVERIFY(result.standardOutput.contains(QLatin1String("-remote_ws")));
    result = runTow({"--version"});
    QCOMPARE(result.exitCode, 0);
    QVERIFY2(result.standardOutput.startsWith(QLatin1String("tcp-over-websocket ")),
             qPrintable(result.standardOutput));
}

void TestCli::portInUse()
{
    QTcpServer taken;
    QVERIFY(taken.listen(QHostAddress::LocalHost));
    const QString address = QStringLiteral("127.0.0.1:%1").arg(taken.serverPort());
    ProcessResult result = runTow({"server", "-listen_ws", address, "-remote_tcp", "h:22"});
    QCOMPARE(result.exitCode, 1);
    QVERIFY2(result.standardError.contains(QLatin1String("already in use")),
             qPrintable(result.standardError));
    result = runTow({"client", "-listen_tcp", address, "-remote_ws", "ws://127.0.0.1:1/"});
    QCOMPARE(result.exitCode, 1);
    QVERIFY2(result.standardError.contains(QLatin1String("already in use")),
             qPrintable(result.standardError));
}

void TestCli::unresolvableListenAddress()
{
    const ProcessResult result =
        runTow({"server", "-listen_ws", "no-such-host.invalid:0", "-remote_tcp", "h:22"});
    QCOMPARE(result.exitCode, 1);
    QVERIFY2(result.standardError.contains(QLatin1String("cannot resolve")),
             qPrintable(result.standardError));
}

void TestCli::emptyTokenInConfig()
{
    // "token": "" is a mistake to report, never a route open to anyone.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile config(dir.filePath(QStringLiteral("config.json")));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(R"({"listen": "127.0.0.1:0", "routes": [{"path": "/", "remote": "127.0.0.1:1",
                    "token": ""}]})");
    config.close();
    const ProcessResult result = runTow({"server", "--config", config.fileName()});
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(result.standardError.contains(QLatin1String("routes[0].token: empty")),
             qPrintable(result.standardError));
}

void TestCli::logLineFormat_data()
{
    QTest::addColumn<bool>("underSystemd");
    QTest::addColumn<QString>("expected");
    QTest::newRow("terminal") << false
                              << QStringLiteral(
                                     "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} "
                                     "info tow\\.server: listening on 127\\.0\\.0\\.1:\\d+ ");
    // journald stamps the time itself and reads the priority from the prefix.
    QTest::newRow("journald") << true
                              << QStringLiteral("^<6>info tow\\.server: listening on "
                                                "127\\.0\\.0\\.1:\\d+ ");
}

void TestCli::logLineFormat()
{
    QFETCH(bool, underSystemd);
    QFETCH(QString, expected);
    TowProcess tow;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("QT_MESSAGE_PATTERN"));
    if (underSystemd)
        environment.insert(QStringLiteral("JOURNAL_STREAM"), QStringLiteral("8:12345"));
    else
        environment.remove(QStringLiteral("JOURNAL_STREAM"));
    // The stamp is local time: here 5:30 h ahead of UTC (a POSIX TZ, no zone database needed).
    environment.insert(QStringLiteral("TZ"), QStringLiteral("XYZ-5:30"));
    tow.process().setProcessEnvironment(environment);
    QVERIFY2(tow.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp", "127.0.0.1:9"}),
             qPrintable(tow.log()));
    const QString firstLine = tow.log().section(QLatin1Char('\n'), 0, 0);
    QVERIFY2(QRegularExpression(expected).match(firstLine).hasMatch(), qPrintable(firstLine));
    if (!underSystemd) {
        const QDateTime stamp =
            QDateTime::fromString(firstLine.left(23), QStringLiteral("yyyy-MM-ddThh:mm:ss.zzz"));
        // The UTC clock moved 5:30 h on, read as local time: (date, time) is local time in
        // Qt 6.4 and 6.8 alike, where Qt 6.8 deprecates setTimeSpec() and Qt::TimeSpec.
        const QDateTime utcAhead = QDateTime::currentDateTimeUtc().addSecs(5 * 3600 + 30 * 60);
        const QDateTime localNow(utcAhead.date(), utcAhead.time());
        QVERIFY2(qAbs(stamp.secsTo(localNow)) < 120, qPrintable(firstLine));
    }
    QCOMPARE(tow.stop(), 0);
}

#if defined(TOW_HAVE_UI) && defined(Q_OS_UNIX) && !defined(Q_OS_DARWIN)
void TestCli::noArgumentsWithoutDisplay()
{
    // A VPS over SSH: no display for Qt. The tray app is not started at all (Qt would abort after
    // "could not connect to display"); the headless commands are shown instead, as in README.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
        environment.remove(QString::fromLatin1(name));
    QProcess tray;
    tray.setProcessEnvironment(environment);
    tray.start(TowProcess::executable(), {});
    QVERIFY(tray.waitForFinished(10000));
    QCOMPARE(tray.exitStatus(), QProcess::NormalExit);
    QCOMPARE(tray.exitCode(), 1);
    QCOMPARE(tray.readAllStandardOutput(), QByteArray());
    const QString error = QString::fromLocal8Bit(tray.readAllStandardError());
    QCOMPARE(error,
             QStringLiteral(
                 "tcp-over-websocket: the tray app needs a desktop session, and there is no "
                 "display here (neither DISPLAY nor WAYLAND_DISPLAY); a tunnel runs headless with\n"
                 "  tcp-over-websocket server -listen_ws :8080 -remote_tcp 127.0.0.1:22\n"
                 "  tcp-over-websocket client -listen_tcp 127.0.0.1:1234 -remote_ws "
                 "ws://example.org:8080/\n"
                 "(see --help)\n"));
    QVERIFY(!error.contains(QLatin1String("could not connect to display")));
    // The two commands are README's, word for word.
    QFile readme(QStringLiteral(TOW_SOURCE_DIR "/README.md"));
    QVERIFY(readme.open(QIODevice::ReadOnly));
    const QByteArray text = readme.readAll();
    QVERIFY(
        text.contains("\ntcp-over-websocket server -listen_ws :8080 -remote_tcp 127.0.0.1:22\n"));
    QVERIFY(text.contains("\ntcp-over-websocket client -listen_tcp 127.0.0.1:1234 -remote_ws "
                          "ws://example.org:8080/\n"));
}
#endif

#if defined(TOW_HAVE_UI) && defined(Q_OS_LINUX)
void TestCli::headlessFacesMapNoWidgets()
{
    // The tray app is a module of its own: a server and a client of the desktop build map no
    // Qt Widgets and no Qt Gui, 7 MB of resident memory less each.
    TowProcess server;
    QVERIFY2(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp", "127.0.0.1:9"}),
             qPrintable(server.log()));
    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(server.port())}),
             qPrintable(client.log()));
    for (TowProcess *process : {&server, &client}) {
        QFile maps(QStringLiteral("/proc/%1/maps").arg(process->process().processId()));
        QVERIFY(maps.open(QIODevice::ReadOnly));
        const QByteArray mapped = maps.readAll();
        QVERIFY(mapped.contains("libQt6Network.so")); // the check reads the right list
        QVERIFY(!mapped.contains("libQt6Widgets.so"));
        QVERIFY(!mapped.contains("libQt6Gui.so"));
    }
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

void TestCli::trayModuleMissing()
{
    // The executable alone, without lib/tcp-over-websocket/ beside its bin/: one clear line.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(QDir().mkpath(dir.filePath(QStringLiteral("bin"))));
    const QString copy = dir.filePath(QStringLiteral("bin/tcp-over-websocket"));
    QVERIFY(QFile::copy(TowProcess::executable(), copy));
    QProcess tray;
    // A display of no kind, so that the module is looked for also where the test has no desktop.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    tray.setProcessEnvironment(environment);
    tray.start(copy, {});
    QVERIFY(tray.waitForFinished(10000));
    QCOMPARE(tray.exitCode(), 1);
    const QString error = QString::fromLocal8Bit(tray.readAllStandardError());
    QVERIFY2(error.startsWith(QLatin1String("tcp-over-websocket: the tray app cannot start: its "
                                            "module "))
                 && error.contains(QLatin1String("/lib/tcp-over-websocket/"))
                 && error.count(QLatin1Char('\n')) == 1,
             qPrintable(error));
}
#endif

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"

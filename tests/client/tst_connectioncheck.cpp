// ConnectionCheck as the tray app uses it, in process: its steps arrive as data, in order, and
// the verdict matches; against our real server process, a closed port, and a server that drops
// the connection after the upgrade.
#include "client/connectioncheck.h"
#include "droppingwebsocketserver.h"
#include "endpoints.h"
#include "towprocess.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>

using Kind = ConnectionCheck::StepKind;

class TestConnectionCheck : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void works();
    void closedPort();
    void badCaFile();
    void droppedAfterUpgrade_data();
    void droppedAfterUpgrade();
};

void TestConnectionCheck::works()
{
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY2(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                           QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())}),
             qPrintable(server.log()));
    ClientOptions options;
    options.proxy = QStringLiteral("none");
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(server.port()));
    ConnectionCheck check(options);
    QSignalSpy steps(&check, &ConnectionCheck::step);
    QSignalSpy finished(&check, &ConnectionCheck::finished);
    check.start();
    QVERIFY(steps.isEmpty()); // never synchronous
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 30000);
    QCOMPARE(finished.at(0).at(0).toBool(), true);
    QVERIFY(check.isFinished());
    QVERIFY(check.works());
    QList<Kind> kinds;
    for (const ConnectionCheck::Step &step : check.steps()) {
        QVERIFY2(step.ok, qPrintable(step.sentence));
        QVERIFY(!step.sentence.isEmpty());
        kinds.append(step.kind);
    }
    QCOMPARE(kinds,
             QList<Kind>({Kind::Proxy, Kind::Dns, Kind::Tcp, Kind::Upgrade, Kind::RoundTrip}));
    QCOMPARE(steps.size(), kinds.size());
    QCOMPARE(check.steps().at(3).httpStatus, 101);
    QCOMPARE(server.stop(), 0);
}

void TestConnectionCheck::closedPort()
{
    quint16 port = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost));
        port = probe.serverPort();
    }
    ClientOptions options;
    options.proxy = QStringLiteral("none");
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(port));
    ConnectionCheck check(options);
    QSignalSpy finished(&check, &ConnectionCheck::finished);
    check.start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 30000);
    QVERIFY(!check.works());
    const ConnectionCheck::Step last = check.steps().constLast();
    QCOMPARE(last.kind, Kind::Tcp);
    QVERIFY(!last.ok);
    QVERIFY2(last.sentence.contains(QStringLiteral("cannot connect to 127.0.0.1:%1").arg(port)),
             qPrintable(last.sentence));
}

void TestConnectionCheck::badCaFile()
{
    ClientOptions options;
    options.serverUrl = QUrl(QStringLiteral("wss://localhost/"));
    options.caFile = QStringLiteral("/nonexistent/ca.pem");
    ConnectionCheck check(options);
    QSignalSpy finished(&check, &ConnectionCheck::finished);
    check.start();
    QTRY_COMPARE(finished.size(), 1);
    QCOMPARE(check.steps().size(), 1);
    QCOMPARE(check.steps().at(0).kind, Kind::Tls);
    QVERIFY(check.steps().at(0).sentence.contains(QLatin1String("cannot read the CA file")));
}

void TestConnectionCheck::droppedAfterUpgrade_data()
{
    QTest::addColumn<int>("closeCode"); // 0: no close frame at all
    QTest::addColumn<QString>("expected");
    QTest::newRow("no close frame")
        << 0
        << "the connection was dropped without a WebSocket close frame (close code 1006, abnormal "
           "closure): usually the server cannot reach the TCP service behind it";
    QTest::newRow("close frame 1000")
        << 1000 << "the server closed the WebSocket at once (close code 1000)";
    QTest::newRow("close frame 1001")
        << 1001 << "the server closed the WebSocket at once (close code 1001)";
}

void TestConnectionCheck::droppedAfterUpgrade()
{
    QFETCH(int, closeCode);
    QFETCH(QString, expected);
    DroppingWebSocketServer server(closeCode);
    QVERIFY(server.listen(QHostAddress::LocalHost));
    ClientOptions options;
    options.proxy = QStringLiteral("none");
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(server.serverPort()));
    ConnectionCheck check(options);
    QSignalSpy finished(&check, &ConnectionCheck::finished);
    check.start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 30000);
    QVERIFY(!check.works());
    const ConnectionCheck::Step upgrade = check.steps().at(check.steps().size() - 2);
    QCOMPARE(upgrade.kind, Kind::Upgrade);
    QCOMPARE(upgrade.httpStatus, 101);
    const ConnectionCheck::Step last = check.steps().constLast();
    QCOMPARE(last.kind, Kind::RoundTrip);
    QVERIFY(!last.ok);
    QVERIFY2(last.sentence.contains(expected), qPrintable(last.sentence));
}

QTEST_GUILESS_MAIN(TestConnectionCheck)
#include "tst_connectioncheck.moc"

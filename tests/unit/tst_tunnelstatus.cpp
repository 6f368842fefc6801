// How a tunnel's state and rates read in the window and the tray, in the words of the program's
// English translation (its plural forms: "1 connection", "2 connections"), which builds with the
// tray app have.
#include "translations.h"
#include "tunnels/tunnelstatus.h"

#include <QTest>

class TestTunnelStatus : public QObject
{
    Q_OBJECT
private Q_SLOTS:
#ifdef TOW_HAVE_TRANSLATIONS
    void initTestCase()
    {
        QVERIFY(Translations::install(QCoreApplication::instance()));
    }
#endif
    void rateText_data();
    void rateText();
    void stateText();
    void droppedText();
};

void TestTunnelStatus::rateText_data()
{
    QTest::addColumn<double>("bytesPerSecond");
    QTest::addColumn<QString>("text");
    QTest::newRow("zero") << 0.0 << "0 B/s";
    QTest::newRow("bytes") << 999.4 << "999 B/s";
    QTest::newRow("kilobytes") << 1500.0 << "1.5 kB/s";
    QTest::newRow("megabytes") << 12345678.0 << "12.3 MB/s";
}

void TestTunnelStatus::rateText()
{
    QFETCH(double, bytesPerSecond);
    QFETCH(QString, text);
    QCOMPARE(TunnelStatus::rateText(bytesPerSecond), text);
}

void TestTunnelStatus::stateText()
{
    TunnelStatus status;
    QCOMPARE(status.stateText(), QStringLiteral("Stopped"));
    QVERIFY(!status.isRunning());
    status.state = TunnelStatus::State::Listening;
    QCOMPARE(status.stateText(), QStringLiteral("Listening"));
    QVERIFY(status.isRunning());
    status.serverFailing = true;
    QCOMPARE(status.stateText(), QStringLiteral("Listening, server unreachable"));
    status.state = TunnelStatus::State::Active;
#ifdef TOW_HAVE_TRANSLATIONS
    status.connections = 1;
    QCOMPARE(status.stateText(), QStringLiteral("Active: 1 connection"));
    status.connections = 2;
    QCOMPARE(status.stateText(), QStringLiteral("Active: 2 connections"));
#else // a headless build (TOW_BUILD_UI=OFF) shows no such text, and has no translations
    status.connections = 2;
    QCOMPARE(status.stateText(), QStringLiteral("Active: 2 connection(s)"));
#endif
    status.state = TunnelStatus::State::Error;
    status.lastError = QStringLiteral("local port 2222 is already in use");
    QCOMPARE(status.stateText(), QStringLiteral("Error: local port 2222 is already in use"));
    QVERIFY(!status.isRunning());
}

void TestTunnelStatus::droppedText()
{
    TunnelStatus status;
    QCOMPARE(status.datagramsDropped(), qint64(0));
    QCOMPARE(status.droppedText(), QStringLiteral("none"));
    status.droppedBackingOff = 10;
    status.droppedQueueFull = 2;
    QCOMPARE(status.datagramsDropped(), qint64(12));
#ifdef TOW_HAVE_TRANSLATIONS
    QCOMPARE(status.droppedText(),
             QStringLiteral("12 datagrams: 10 while the server was unreachable, 2 with a full "
                            "queue, 0 too big"));
    status = TunnelStatus();
    status.droppedTooBig = 1;
    QCOMPARE(status.droppedText(),
             QStringLiteral("1 datagram: 0 while the server was unreachable, 0 with a full "
                            "queue, 1 too big"));
#else
    QCOMPARE(status.droppedText(),
             QStringLiteral("12 datagram(s): 10 while the server was unreachable, 2 with a full "
                            "queue, 0 too big"));
#endif
}

QTEST_GUILESS_MAIN(TestTunnelStatus)
#include "tst_tunnelstatus.moc"

// The throttle of the server's refusal lines: a burst per window, the rest counted and told.
#include "server/logthrottle.h"

#include <QTest>

class TestLogThrottle : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void burstThenSuppressed();
    void countToldWithTheNextLine();
    void countToldAfterTheFlood();
    void quietTrafficAlwaysLogs();
};

void TestLogThrottle::burstThenSuppressed()
{
    LogThrottle throttle(3, 1000);
    int suppressed = -1;
    for (int i = 0; i < 3; ++i) {
        QVERIFY(throttle.allow(100 + i, &suppressed));
        QCOMPARE(suppressed, 0);
    }
    for (int i = 0; i < 10; ++i)
        QVERIFY(!throttle.allow(200 + i, &suppressed));
}

void TestLogThrottle::countToldWithTheNextLine()
{
    LogThrottle throttle(2, 1000);
    int suppressed = 0;
    QVERIFY(throttle.allow(0, &suppressed));
    QVERIFY(throttle.allow(1, &suppressed));
    for (int i = 0; i < 5; ++i)
        QVERIFY(!throttle.allow(10, &suppressed));
    QCOMPARE(throttle.takeSuppressed(500), 0); // the window still runs
    QVERIFY(throttle.allow(1000, &suppressed)); // a new window
    QCOMPARE(suppressed, 5);
    QCOMPARE(throttle.takeSuppressed(5000), 0); // told once
}

void TestLogThrottle::countToldAfterTheFlood()
{
    LogThrottle throttle(1, 1000);
    int suppressed = 0;
    QVERIFY(throttle.allow(0, &suppressed));
    for (int i = 0; i < 7; ++i)
        QVERIFY(!throttle.allow(100, &suppressed));
    QCOMPARE(throttle.takeSuppressed(999), 0);
    QCOMPARE(throttle.takeSuppressed(1000), 7);
    QCOMPARE(throttle.takeSuppressed(2000), 0);
    QVERIFY(throttle.allow(2000, &suppressed));
    QCOMPARE(suppressed, 0);
}

void TestLogThrottle::quietTrafficAlwaysLogs()
{
    LogThrottle throttle(20, 10000);
    int suppressed = 0;
    for (qint64 t = 0; t < 100000; t += 1000) { // one refusal a second
        QVERIFY(throttle.allow(t, &suppressed));
        QCOMPARE(suppressed, 0);
    }
}

QTEST_GUILESS_MAIN(TestLogThrottle)
#include "tst_logthrottle.moc"

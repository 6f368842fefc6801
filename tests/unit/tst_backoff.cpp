// Backoff, the pauses between failing attempts shared by BackoffTcpServer and UdpForwarder: they
// double up to the cap, a success starts over and reports the episode it ends.
#include "net/backoff.h"

#include <QTest>

class TestBackoff : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void doublesUpToTheCap();
    void successStartsOver();
    void setPausesStartsOver();
};

void TestBackoff::doublesUpToTheCap()
{
    Backoff backoff(500, 30000);
    QCOMPARE(backoff.episodeFailures(), 0);
    QList<int> pauses;
    for (int i = 0; i < 9; ++i)
        pauses << backoff.failed();
    QCOMPARE(pauses, (QList<int> {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
    QCOMPARE(backoff.episodeFailures(), 9);
}

void TestBackoff::successStartsOver()
{
    Backoff backoff(100, 1000);
    QCOMPARE(backoff.succeeded(), 0); // no episode to end
    backoff.failed();
    backoff.failed();
    QCOMPARE(backoff.episodeFailures(), 2);
    QCOMPARE(backoff.succeeded(), 2);
    QCOMPARE(backoff.episodeFailures(), 0);
    QCOMPARE(backoff.episodeElapsedMs(), qint64(0));
    QCOMPARE(backoff.failed(), 100);
    QCOMPARE(backoff.episodeFailures(), 1);
}

void TestBackoff::setPausesStartsOver()
{
    Backoff backoff(100, 1000);
    backoff.failed();
    backoff.setPauses(3600000, 3600000);
    QCOMPARE(backoff.failed(), 3600000);
    QCOMPARE(backoff.failed(), 3600000);
    backoff.setPauses(0, 0); // never waits, and does not spin on a doubled zero
    QCOMPARE(backoff.failed(), 0);
    QCOMPARE(backoff.failed(), 0);
}

QTEST_GUILESS_MAIN(TestBackoff)
#include "tst_backoff.moc"

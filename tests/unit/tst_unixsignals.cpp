// The signal handler of the program (app/unixsignals): whatever number of signals arrives while
// the event loop is busy, the handler returns at once; reloads are merged, a second termination
// signal is kept.
#include "unixsignals.h"

#include <QSignalSpy>
#include <QTest>
#include <chrono>
#include <csignal>
#include <future>

class TestUnixSignals : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void burstNeverBlocks();
    void secondTerminationKept();
};

void TestUnixSignals::burstNeverBlocks()
{
    UnixSignals watcher;
    QSignalSpy reloads(&watcher, &UnixSignals::reloadRequested);
    // raise() runs the handler on the raising thread. While it raises, this thread's event loop
    // does not read the handler's socket, as a server busy reloading would not: a handler that
    // writes one byte per signal to a blocking socket (the freeze of a SIGHUP storm) stops there.
    constexpr int kSignals = 20000;
    auto burst = std::async(std::launch::async, [] {
        for (int i = 0; i < kSignals; ++i)
            std::raise(SIGHUP);
    });
    const bool returned = burst.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    // A handler stuck in write() goes on once the loop reads; let it finish either way.
    while (burst.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    QVERIFY2(returned, "the signal handler blocked");
    QTRY_COMPARE(reloads.count(), 1); // all of them waited together: one reload
    QCoreApplication::processEvents();
    QCOMPARE(reloads.count(), 1);

    std::raise(SIGHUP); // a later one is not lost
    QTRY_COMPARE(reloads.count(), 2);
}

void TestUnixSignals::secondTerminationKept()
{
    // The server drains on the first SIGTERM and closes everything on the second; two in a row
    // before the loop looks must stay two.
    UnixSignals watcher;
    QSignalSpy terminations(&watcher, &UnixSignals::terminationRequested);
    std::raise(SIGTERM);
    std::raise(SIGTERM);
    std::raise(SIGTERM);
    QTRY_COMPARE(terminations.count(), 2);
    QCOMPARE(terminations.at(0).at(0).toInt(), SIGTERM);
    std::raise(SIGINT);
    QTRY_COMPARE(terminations.count(), 3);
    QCOMPARE(terminations.at(2).at(0).toInt(), SIGINT);
}

QTEST_GUILESS_MAIN(TestUnixSignals)
#include "tst_unixsignals.moc"

// The epoll event loop of the headless faces: timers (order, periods, stops, restarts inside
// handlers, no recursion in nested loops), socket notifiers (readiness, switched off by another
// handler in the same pass, descriptors reused), posted events and wake-ups from other threads,
// real sockets through it, and the error a watched socket's reset leaves.
#include "eventloop/epolleventdispatcher.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSocketNotifier>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QThread>
#include <QTimer>
#include <cerrno>
#include <functional>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// A connected pair of local stream sockets, closed at the end.
struct SocketPair
{
    SocketPair() { QVERIFY(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0); }
    ~SocketPair()
    {
        for (int fd : fds) {
            if (fd >= 0)
                ::close(fd);
        }
    }
    int fds[2] = {-1, -1};
};

} // namespace

class TestEpollEventDispatcher : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void isInstalled();
    void singleShotTimersFireInDeadlineOrder();
    void periodicTimerKeepsFiring();
    void stoppedTimerDoesNotFire();
    void timerRestartedInItsHandler();
    void remainingTime();
    void timerNotReenteredByNestedLoop();
    void readNotifier();
    void writeNotifierSwitchedOnAndOff();
    void notifierDisabledByEarlierHandler();
    void descriptorReusedAfterClose();
    void descriptorReusedUnderLiveNotifier();
    void notifierActivatedOnceWithNestedLoop();
    void hangUpReachesEveryNotifier();
    void postedEventFromAnotherThreadWakesTheLoop();
    void eventPostedWhileDeliveringIsNotLeftWaiting();
    void quitFromAnotherThread();
    void tcpEchoThroughTheLoop();
    void socketErrorRecordedForWatchedSocket_data();
    void socketErrorRecordedForWatchedSocket();
};

void TestEpollEventDispatcher::isInstalled()
{
    QVERIFY(qobject_cast<EpollEventDispatcher *>(QAbstractEventDispatcher::instance()));
}

void TestEpollEventDispatcher::singleShotTimersFireInDeadlineOrder()
{
    QList<int> order;
    QTimer::singleShot(60, this, [&] { order << 60; });
    QTimer::singleShot(20, this, [&] { order << 20; });
    QTimer::singleShot(40, Qt::PreciseTimer, this, [&] { order << 40; });
    QTimer::singleShot(1200, Qt::VeryCoarseTimer, this, [&] { order << 1200; });
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(order.size(), 4, 5000);
    QCOMPARE(order, (QList<int> {20, 40, 60, 1200}));
    QVERIFY2(clock.elapsed() >= 1000, "a very coarse timer of 1.2 s fires at a whole second");
}

void TestEpollEventDispatcher::periodicTimerKeepsFiring()
{
    QTimer timer;
    timer.setInterval(10);
    int fired = 0;
    connect(&timer, &QTimer::timeout, this, [&] { ++fired; });
    QElapsedTimer clock;
    clock.start();
    timer.start();
    QTRY_VERIFY_WITH_TIMEOUT(fired >= 10, 5000);
    timer.stop();
    QVERIFY2(clock.elapsed() >= 90, "ten periods of 10 ms cannot end before 90 ms");
}

void TestEpollEventDispatcher::stoppedTimerDoesNotFire()
{
    QTimer timer;
    timer.setSingleShot(true);
    bool fired = false;
    connect(&timer, &QTimer::timeout, this, [&] { fired = true; });
    timer.start(20);
    timer.stop();
    // Restarted and stopped many times: each leaves a stale entry behind, never a firing.
    for (int i = 0; i < 5000; ++i) {
        timer.start(1);
        timer.stop();
    }
    QTest::qWait(100);
    QVERIFY(!fired);
}

void TestEpollEventDispatcher::timerRestartedInItsHandler()
{
    QTimer timer;
    timer.setSingleShot(true);
    int fired = 0;
    connect(&timer, &QTimer::timeout, this, [&] {
        if (++fired < 5)
            timer.start(5);
    });
    timer.start(5);
    QTRY_COMPARE_WITH_TIMEOUT(fired, 5, 5000);
    QTest::qWait(50);
    QCOMPARE(fired, 5);
}

void TestEpollEventDispatcher::remainingTime()
{
    QTimer timer;
    timer.setSingleShot(true);
    timer.start(5000);
    QVERIFY(timer.remainingTime() > 4000);
    QVERIFY(timer.remainingTime() <= 5000);
    timer.stop();
    QCOMPARE(timer.remainingTime(), -1);
}

void TestEpollEventDispatcher::timerNotReenteredByNestedLoop()
{
    // A handler that runs a nested event loop longer than its period must not be entered again
    // from inside that loop, as with Qt's own dispatchers; other timers go on meanwhile.
    QTimer periodic;
    periodic.setInterval(5);
    int depth = 0;
    int maxDepth = 0;
    int entered = 0;
    int otherFired = 0;
    QTimer other;
    other.setInterval(5);
    connect(&other, &QTimer::timeout, this, [&] { ++otherFired; });
    connect(&periodic, &QTimer::timeout, this, [&] {
        ++entered;
        ++depth;
        maxDepth = qMax(maxDepth, depth);
        if (entered == 1) {
            QEventLoop nested;
            QTimer::singleShot(100, &nested, &QEventLoop::quit);
            nested.exec();
        }
        --depth;
    });
    periodic.start();
    other.start();
    QTRY_VERIFY_WITH_TIMEOUT(entered >= 3, 5000);
    QCOMPARE(maxDepth, 1);
    QVERIFY2(otherFired >= 5, "timers other than the running one fire inside the nested loop");
}

void TestEpollEventDispatcher::readNotifier()
{
    SocketPair pair;
    QSocketNotifier notifier(pair.fds[0], QSocketNotifier::Read);
    QSignalSpy activated(&notifier, &QSocketNotifier::activated);
    QTest::qWait(20);
    QCOMPARE(activated.size(), 0);
    QCOMPARE(::write(pair.fds[1], "x", 1), ssize_t(1));
    QTRY_VERIFY(activated.size() >= 1);
    // Level-triggered: still readable, so it keeps coming until read.
    QTRY_VERIFY(activated.size() >= 3);
    char byte = 0;
    QCOMPARE(::read(pair.fds[0], &byte, 1), ssize_t(1));
    QTest::qWait(20);
    const qsizetype settled = activated.size();
    QTest::qWait(50);
    QCOMPARE(activated.size(), settled);
}

void TestEpollEventDispatcher::writeNotifierSwitchedOnAndOff()
{
    SocketPair pair;
    QSocketNotifier reader(pair.fds[0], QSocketNotifier::Read);
    QSocketNotifier writer(pair.fds[0], QSocketNotifier::Write);
    int writable = 0;
    connect(&writer, &QSocketNotifier::activated, this, [&] {
        ++writable;
        writer.setEnabled(false);
    });
    QTRY_COMPARE(writable, 1);
    // Switched on and off within one pass, as QAbstractSocket does around writes: no event.
    for (int i = 0; i < 100; ++i) {
        writer.setEnabled(true);
        writer.setEnabled(false);
    }
    QTest::qWait(50);
    QCOMPARE(writable, 1);
    writer.setEnabled(true);
    QTRY_COMPARE(writable, 2);
    // The read notifier on the same descriptor was unaffected throughout.
    QSignalSpy readable(&reader, &QSocketNotifier::activated);
    QCOMPARE(::write(pair.fds[1], "y", 1), ssize_t(1));
    QTRY_VERIFY(readable.size() >= 1);
}

void TestEpollEventDispatcher::notifierDisabledByEarlierHandler()
{
    // Two descriptors ready in the same pass; whichever handler runs first deletes the other
    // notifier, which must then not be activated (it would be a dangling pointer).
    SocketPair first;
    SocketPair second;
    auto a = std::make_unique<QSocketNotifier>(first.fds[0], QSocketNotifier::Read);
    auto b = std::make_unique<QSocketNotifier>(second.fds[0], QSocketNotifier::Read);
    int activations = 0;
    auto handle = [&](int fd, std::unique_ptr<QSocketNotifier> &other) {
        ++activations;
        char byte = 0;
        QCOMPARE(::read(fd, &byte, 1), ssize_t(1));
        other.reset();
    };
    connect(a.get(), &QSocketNotifier::activated, this, [&] { handle(first.fds[0], b); });
    connect(b.get(), &QSocketNotifier::activated, this, [&] { handle(second.fds[0], a); });
    QCOMPARE(::write(first.fds[1], "1", 1), ssize_t(1));
    QCOMPARE(::write(second.fds[1], "2", 1), ssize_t(1));
    QTRY_COMPARE(activations, 1);
    QTest::qWait(50);
    QCOMPARE(activations, 1);
    QVERIFY(!a != !b);
}

void TestEpollEventDispatcher::descriptorReusedAfterClose()
{
    int reusedFd = -1;
    {
        SocketPair pair;
        QSocketNotifier notifier(pair.fds[0], QSocketNotifier::Read);
        notifier.setEnabled(true);
        reusedFd = pair.fds[0];
        // The descriptor is closed while its notifier still exists; it is unregistered after.
        ::close(pair.fds[0]);
        pair.fds[0] = -1;
        QTest::qWait(10);
    }
    SocketPair pair;
    // POSIX hands out the lowest free number: the closed one comes back.
    QVERIFY(pair.fds[0] == reusedFd || pair.fds[1] == reusedFd);
    const int readEnd = pair.fds[0] == reusedFd ? pair.fds[0] : pair.fds[1];
    const int writeEnd = readEnd == pair.fds[0] ? pair.fds[1] : pair.fds[0];
    QSocketNotifier notifier(readEnd, QSocketNotifier::Read);
    QSignalSpy activated(&notifier, &QSocketNotifier::activated);
    QCOMPARE(::write(writeEnd, "z", 1), ssize_t(1));
    QTRY_VERIFY(activated.size() >= 1);
}

void TestEpollEventDispatcher::descriptorReusedUnderLiveNotifier()
{
    // A buggy owner closes the descriptor while its notifier stays enabled; the number comes
    // back for a new socket whose notifier must still work (Qt warns about the pair).
    auto stale = std::make_unique<SocketPair>();
    QSocketNotifier old(stale->fds[0], QSocketNotifier::Read);
    const int reusedFd = stale->fds[0];
    ::close(stale->fds[0]);
    stale->fds[0] = -1;
    QTest::qWait(10);
    SocketPair pair;
    QVERIFY(pair.fds[0] == reusedFd || pair.fds[1] == reusedFd);
    const int readEnd = reusedFd;
    const int writeEnd = readEnd == pair.fds[0] ? pair.fds[1] : pair.fds[0];
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression("Multiple socket notifiers"));
    QSocketNotifier notifier(readEnd, QSocketNotifier::Read);
    QSignalSpy activated(&notifier, &QSocketNotifier::activated);
    QCOMPARE(::write(writeEnd, "r", 1), ssize_t(1));
    QTRY_VERIFY(activated.size() >= 1);
    old.setEnabled(false);
}

void TestEpollEventDispatcher::notifierActivatedOnceWithNestedLoop()
{
    // A and B ready together; A's handler runs a nested loop, which takes over B: B is
    // activated once for its byte, not once by each loop.
    SocketPair first;
    SocketPair second;
    QSocketNotifier a(first.fds[0], QSocketNotifier::Read);
    QSocketNotifier b(second.fds[0], QSocketNotifier::Read);
    int activationsOfB = 0;
    connect(&a, &QSocketNotifier::activated, this, [&] {
        char byte = 0;
        QCOMPARE(::read(first.fds[0], &byte, 1), ssize_t(1));
        QCoreApplication::processEvents();
    });
    connect(&b, &QSocketNotifier::activated, this, [&] {
        ++activationsOfB;
        char byte = 0;
        QCOMPARE(::read(second.fds[0], &byte, 1), ssize_t(1));
    });
    QCOMPARE(::write(first.fds[1], "a", 1), ssize_t(1));
    QCOMPARE(::write(second.fds[1], "b", 1), ssize_t(1));
    QTRY_COMPARE(activationsOfB, 1);
    QTest::qWait(50);
    QCOMPARE(activationsOfB, 1);
}

void TestEpollEventDispatcher::hangUpReachesEveryNotifier()
{
    // epoll reports a hang-up to whoever watches the descriptor: an exception-only notifier
    // must hear it too, or the loop would spin on an event nobody takes.
    SocketPair pair;
    QSocketNotifier exception(pair.fds[0], QSocketNotifier::Exception);
    int activations = 0;
    connect(&exception, &QSocketNotifier::activated, this, [&] {
        ++activations;
        exception.setEnabled(false);
    });
    ::close(pair.fds[1]);
    pair.fds[1] = -1;
    QTRY_COMPARE(activations, 1);
}

void TestEpollEventDispatcher::postedEventFromAnotherThreadWakesTheLoop()
{
    // The loop sleeps in epoll_wait without a timer; only the wake-up can get it going.
    bool delivered = false;
    QElapsedTimer clock;
    clock.start();
    std::unique_ptr<QThread> thread(QThread::create([this, &delivered] {
        QThread::msleep(50);
        QMetaObject::invokeMethod(
            this, [&delivered] { delivered = true; }, Qt::QueuedConnection);
    }));
    thread->start();
    QEventLoop loop;
    QTimer guard;
    guard.setSingleShot(true);
    connect(&guard, &QTimer::timeout, &loop, &QEventLoop::quit);
    guard.start(5000);
    QTimer poll;
    connect(&poll, &QTimer::timeout, &loop, [&] {
        if (delivered)
            loop.quit();
    });
    poll.start(0);
    loop.exec();
    thread->wait();
    QVERIFY(delivered);
    QVERIFY2(clock.elapsed() < 4000, "woken by the posted event, not by the guard timer");
}

void TestEpollEventDispatcher::eventPostedWhileDeliveringIsNotLeftWaiting()
{
    // An event posted on the loop's thread while posted events are delivered waits for the next
    // delivery (QCoreApplication, Qt 6.4 to 6.8). That wake-up is a mark, not an eventfd write:
    // the loop must still look again at once rather than sleep in epoll_wait with it pending
    // (only the guard timer would end that sleep).
    int delivered = 0;
    QElapsedTimer clock;
    QEventLoop loop;
    std::function<void()> next = [&] {
        if (++delivered == 3) {
            loop.quit();
            return;
        }
        QMetaObject::invokeMethod(this, next, Qt::QueuedConnection);
    };
    QTimer guard;
    guard.setSingleShot(true);
    connect(&guard, &QTimer::timeout, &loop, &QEventLoop::quit);
    guard.start(5000);
    QMetaObject::invokeMethod(this, next, Qt::QueuedConnection);
    clock.start();
    loop.exec();
    QCOMPARE(delivered, 3);
    QVERIFY2(clock.elapsed() < 4000, "delivered at once, not when the guard timer woke the loop");
}

void TestEpollEventDispatcher::quitFromAnotherThread()
{
    QEventLoop loop;
    std::unique_ptr<QThread> thread(QThread::create([&loop] {
        QThread::msleep(50);
        loop.quit(); // QEventLoop::quit is thread-safe: interrupt() + wakeUp()
    }));
    QElapsedTimer clock;
    clock.start();
    thread->start();
    QTimer guard;
    guard.setSingleShot(true);
    connect(&guard, &QTimer::timeout, &loop, [&loop] { loop.exit(1); });
    guard.start(5000);
    QCOMPARE(loop.exec(), 0);
    thread->wait();
    QVERIFY(clock.elapsed() < 4000);
}

void TestEpollEventDispatcher::tcpEchoThroughTheLoop()
{
    // Real sockets: many connections at once, each echoing a megabyte back, which makes
    // QAbstractSocket switch its notifiers on and off all the time.
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    connect(&server, &QTcpServer::newConnection, this, [&server] {
        while (QTcpSocket *socket = server.nextPendingConnection()) {
            connect(socket, &QTcpSocket::readyRead, socket,
                    [socket] { socket->write(socket->readAll()); });
            connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    constexpr int kClients = 50;
    const QByteArray payload(1024 * 1024, 'p');
    std::vector<std::unique_ptr<QTcpSocket>> clients;
    std::vector<qint64> received(kClients, 0);
    for (int i = 0; i < kClients; ++i) {
        auto socket = std::make_unique<QTcpSocket>();
        QTcpSocket *raw = socket.get();
        connect(raw, &QTcpSocket::connected, this, [raw, &payload] { raw->write(payload); });
        connect(raw, &QTcpSocket::readyRead, this,
                [raw, &received, i] { received[size_t(i)] += raw->readAll().size(); });
        raw->connectToHost(QHostAddress::LocalHost, server.serverPort());
        clients.push_back(std::move(socket));
    }
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(received.begin(), received.end(),
                                         [&](qint64 n) { return n == payload.size(); }),
                             30000);
}

void TestEpollEventDispatcher::socketErrorRecordedForWatchedSocket_data()
{
    QTest::addColumn<bool>("reset");
    QTest::newRow("close") << false;
    QTest::newRow("reset") << true;
}

// Qt reports a reset as it reports a close (RemoteHostClosedError, the descriptor closed by then);
// the loop records the kernel's error for a watched descriptor before Qt reads it, for its owner
// only. Bytes that came before the reset are still read first.
void TestEpollEventDispatcher::socketErrorRecordedForWatchedSocket()
{
    QFETCH(bool, reset);
    auto *dispatcher = qobject_cast<EpollEventDispatcher *>(QAbstractEventDispatcher::instance());
    QVERIFY(dispatcher);
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QTcpSocket client;
    // Qt reads 4 bytes and stops: the rest waits in the kernel when the reset comes.
    client.setReadBufferSize(4);
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTRY_VERIFY(server.hasPendingConnections());
    std::unique_ptr<QTcpSocket> remote(server.nextPendingConnection());
    QTRY_COMPARE(client.state(), QAbstractSocket::ConnectedState);
    const int fd = int(client.socketDescriptor());
    int owner = 0;
    int other = 0;
    dispatcher->watchSocketError(fd, &owner);
    const QByteArray words = QByteArrayLiteral("last words");
    remote->write(words);
    QTRY_COMPARE(client.bytesAvailable(), 4);
    if (reset) {
        const linger none {1, 0};
        QCOMPARE(::setsockopt(int(remote->socketDescriptor()), SOL_SOCKET, SO_LINGER, &none,
                              sizeof none),
                 0);
        remote->abort();
    } else {
        remote->disconnectFromHost();
    }
    QByteArray received;
    QVERIFY(QTest::qWaitFor(
        [&] {
            received += client.readAll();
            return client.state() == QAbstractSocket::UnconnectedState;
        },
        5000));
    received += client.readAll();
    QCOMPARE(received, words);
    QCOMPARE(client.error(), QAbstractSocket::RemoteHostClosedError); // for both
    QCOMPARE(dispatcher->takeSocketError(fd, &other), 0); // not its record
    QCOMPARE(dispatcher->takeSocketError(fd, &owner), reset ? ECONNRESET : 0);
    QCOMPARE(dispatcher->takeSocketError(fd, &owner), 0); // taken
}

int main(int argc, char *argv[])
{
    // Installed before the application exists, as main() does for the server and the client.
    QCoreApplication::setEventDispatcher(new EpollEventDispatcher);
    QCoreApplication app(argc, argv);
    TestEpollEventDispatcher test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_epolleventdispatcher.moc"

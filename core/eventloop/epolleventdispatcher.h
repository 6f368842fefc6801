// The event loop of the headless server and client on Linux: epoll for sockets and a heap for
// timers, so a wake-up costs the same with 10 sockets open as with 20,000.
//
// Why: Qt 6.4's dispatchers on Linux (glib's main loop, and QEventDispatcherUNIX without glib)
// hand every registered socket to poll() on every wake-up, and glib also walks a sorted list on
// every notifier switched on or off, which QAbstractSocket does on every write. Past a few
// thousand tunnels that was the whole CPU of both processes (README, Performance). Qt has no
// epoll dispatcher; this one follows QEventDispatcherUNIX's rules (level-triggered readiness,
// each timer at most once per pass and never inside its own handler, posted events first),
// through public API only.
#pragma once

#include <QAbstractEventDispatcher>
#include <QAtomicInt>
#include <QList>
#include <atomic>
#include <cstdint>
#include <deque>
#include <queue>
#include <unordered_map>
#include <vector>

class QSocketNotifier;

class EpollEventDispatcher : public QAbstractEventDispatcher
{
    Q_OBJECT
public:
    explicit EpollEventDispatcher(QObject *parent = nullptr);
    ~EpollEventDispatcher() override;

    // False when the kernel refused the epoll or eventfd descriptors: use Qt's own dispatcher.
    bool isValid() const { return m_epoll >= 0 && m_wakeFd >= 0; }

    bool processEvents(QEventLoop::ProcessEventsFlags flags) override;

    void registerSocketNotifier(QSocketNotifier *notifier) override;
    void unregisterSocketNotifier(QSocketNotifier *notifier) override;

    void registerTimer(int timerId, qint64 interval, Qt::TimerType timerType,
                       QObject *object) override;
    bool unregisterTimer(int timerId) override;
    bool unregisterTimers(QObject *object) override;
    QList<TimerInfo> registeredTimers(QObject *object) const override;
    int remainingTime(int timerId) override;

    void wakeUp() override;
    void interrupt() override;

    // The error the kernel holds for a connected socket, recorded when epoll reports EPOLLERR
    // on its descriptor, before any of its notifiers runs: how a reset is told from a normal
    // close, which Qt reports alike (see SocketErrorWatch). Only for descriptors asked for: the
    // record is read with SO_ERROR, which clears the kernel's copy. The record is owner's; a
    // second watch of the same number (the descriptor was closed and its number reused) replaces
    // it.
    void watchSocketError(int fd, const void *owner);
    // The error recorded for fd (0: none), and fd is no longer watched. Nothing when another
    // owner watches fd now.
    int takeSocketError(int fd, const void *owner);

private:
    struct Watch
    {
        QSocketNotifier *notifiers[3] = {}; // by QSocketNotifier::Type: Read, Write, Exception
        uint32_t kernelEvents = 0; // what epoll watches for now
        bool dirty = false; // listed in m_dirty: kernelEvents to be brought up to date
        bool pending[3] = {}; // that notifier is queued in m_pending
    };
    struct Timer
    {
        QObject *object = nullptr;
        qint64 intervalMs = 0;
        Qt::TimerType type = Qt::CoarseTimer;
        int64_t deadlineNs = 0;
        uint64_t generation = 0; // matches the one heap entry that is current
        bool firing = false; // its QTimerEvent is being handled (maybe in a nested loop)
        bool dueWhileFiring = false; // fell due again meanwhile: fire once the handler returns
    };
    struct HeapEntry
    {
        int64_t deadlineNs;
        int timerId;
        uint64_t generation;
        bool operator>(const HeapEntry &other) const { return deadlineNs > other.deadlineNs; }
    };
    struct ErrorWatch
    {
        const void *owner = nullptr;
        int error = 0; // errno read with SO_ERROR once EPOLLERR came; 0 until then
    };
    struct Pending
    {
        QSocketNotifier *notifier;
        int fd;
        int type;
    };

    uint32_t wantedEvents(const Watch &watch) const;
    void updateWatch(int fd, Watch &watch);
    void applyWatch(int fd, Watch &watch);
    void applyDirtyWatches();
    int waitTimeoutMs(bool includeTimers, bool includeNotifiers) const;
    void queue(int fd, Watch &watch, int type);
    void unqueue(Watch &watch, int type);
    int waitForEvents(int timeoutMs, bool includeNotifiers);
    void consumeWakeUp();
    void recordSocketError(int fd);
    int activateSocketNotifiers();
    int activateTimers();
    void schedule(int timerId, Timer &timer);
    const Timer *liveTimer(const HeapEntry &entry) const;
    void dropStaleHeapEntries() const;

    // m_wakeUpPending: none, an eventfd write (read when the loop wakes), or a mark left by the
    // loop's own thread (read before the loop waits).
    static constexpr int kWokenByWrite = 1;
    static constexpr int kWokenInLoopThread = 2;

    int m_epoll = -1;
    int m_wakeFd = -1;
    QAtomicInt m_wakeUpPending;
    std::atomic<Qt::HANDLE> m_loopThread {nullptr}; // the thread that runs processEvents()
    QAtomicInt m_interrupted;

    std::unordered_map<int, Watch> m_watches; // by descriptor
    // Changes between two watched sets (QAbstractSocket switches its write notifier on and off
    // around every write), applied just before waiting: often none is left to make.
    std::vector<int> m_dirty;
    std::deque<Pending> m_pending; // notifiers to activate in this pass
    std::vector<int> m_unpollable; // descriptors epoll refuses (regular files): always ready
    std::unordered_map<int, ErrorWatch> m_errorWatches; // by descriptor

    std::unordered_map<int, Timer> m_timers; // by timer id
    std::unordered_map<QObject *, int> m_timerCounts; // timers per object
    // Earliest deadline first; entries of stopped or rescheduled timers are skipped lazily.
    mutable std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<HeapEntry>> m_heap;
    uint64_t m_nextGeneration = 0;
};

#include "epolleventdispatcher.h"

#include <QCoreApplication>
#include <QSocketNotifier>
#include <QThread>
#include <QTimerEvent>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// Readiness reported per epoll_wait(); more stay ready (level-triggered) for the next pass.
constexpr int kMaxEventsPerWait = 256;

int64_t nowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

uint32_t epollEventsFor(QSocketNotifier::Type type)
{
    switch (type) {
    case QSocketNotifier::Read:
        return EPOLLIN;
    case QSocketNotifier::Write:
        return EPOLLOUT;
    case QSocketNotifier::Exception:
        return EPOLLPRI;
    }
    return 0;
}

// Which notifiers a readiness wakes, as QEventDispatcherUNIX maps poll()'s revents.
bool wakesType(uint32_t revents, int type)
{
    // epoll reports EPOLLHUP and EPOLLERR whether asked or not, level-triggered: every notifier
    // must take them, or the loop would spin on a descriptor nobody handles.
    switch (type) {
    case QSocketNotifier::Read:
        return revents & (EPOLLIN | EPOLLHUP | EPOLLERR);
    case QSocketNotifier::Write:
        return revents & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    default:
        return revents & (EPOLLPRI | EPOLLHUP | EPOLLERR);
    }
}

} // namespace

EpollEventDispatcher::EpollEventDispatcher(QObject *parent) : QAbstractEventDispatcher(parent)
{
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    m_wakeFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_epoll < 0 || m_wakeFd < 0) {
        qWarning("EpollEventDispatcher: cannot create its descriptors: %s", std::strerror(errno));
        return;
    }
    epoll_event event {};
    event.events = EPOLLIN;
    event.data.fd = m_wakeFd;
    if (epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wakeFd, &event) != 0) {
        qWarning("EpollEventDispatcher: cannot watch its wake-up descriptor: %s",
                 std::strerror(errno));
        ::close(m_wakeFd);
        m_wakeFd = -1; // not valid: wake-ups would be lost
    }
}

EpollEventDispatcher::~EpollEventDispatcher()
{
    if (m_wakeFd >= 0)
        ::close(m_wakeFd);
    if (m_epoll >= 0)
        ::close(m_epoll);
}

void EpollEventDispatcher::registerSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket());
    const int type = int(notifier->type());
    Watch &watch = m_watches[fd];
    if (watch.notifiers[type] && watch.notifiers[type] != notifier) {
        qWarning("QSocketNotifier: Multiple socket notifiers for same socket %d and type %d", fd,
                 type);
        // Most likely the descriptor was closed under the old one (epoll forgot it then) and
        // its number reused: add it again rather than trust what epoll watched before.
        watch.kernelEvents = 0;
        unqueue(watch, type);
    }
    watch.notifiers[type] = notifier;
    updateWatch(fd, watch);
}

void EpollEventDispatcher::unregisterSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket());
    const auto it = m_watches.find(fd);
    if (it == m_watches.end())
        return;
    const int type = int(notifier->type());
    if (it->second.notifiers[type] != notifier)
        return;
    unqueue(it->second, type);
    it->second.notifiers[type] = nullptr;
    updateWatch(fd, it->second);
    if (!it->second.notifiers[0] && !it->second.notifiers[1] && !it->second.notifiers[2])
        m_watches.erase(it);
}

void EpollEventDispatcher::unqueue(Watch &watch, int type)
{
    // Queued in this pass, then replaced or unregistered: it must not be activated any more
    // (it may be deleted next).
    if (!watch.pending[type])
        return;
    watch.pending[type] = false;
    for (Pending &pending : m_pending) {
        if (pending.notifier == watch.notifiers[type])
            pending.notifier = nullptr;
    }
}

uint32_t EpollEventDispatcher::wantedEvents(const Watch &watch) const
{
    uint32_t wanted = 0;
    for (int type = 0; type < 3; ++type) {
        if (watch.notifiers[type])
            wanted |= epollEventsFor(QSocketNotifier::Type(type));
    }
    return wanted;
}

void EpollEventDispatcher::updateWatch(int fd, Watch &watch)
{
    const uint32_t wanted = wantedEvents(watch);
    // Removing at once: the descriptor may be closed (and its number reused) right after its last
    // notifier goes. Adding and changing what is watched can wait for the next wait: a notifier
    // switched on and off again in one pass costs no system call. QAbstractSocket does that
    // around every write, QTcpServer whenever a pending connection is taken.
    if (wanted != 0) {
        if (!watch.dirty) {
            watch.dirty = true;
            m_dirty.push_back(fd);
        }
        return;
    }
    applyWatch(fd, watch);
}

void EpollEventDispatcher::applyDirtyWatches()
{
    for (const int fd : m_dirty) {
        const auto it = m_watches.find(fd);
        if (it == m_watches.end() || !it->second.dirty)
            continue;
        it->second.dirty = false;
        applyWatch(fd, it->second);
    }
    m_dirty.clear();
}

void EpollEventDispatcher::applyWatch(int fd, Watch &watch)
{
    const uint32_t wanted = wantedEvents(watch);
    const auto unpollable = std::find(m_unpollable.begin(), m_unpollable.end(), fd);
    if (unpollable != m_unpollable.end()) {
        if (wanted == 0)
            m_unpollable.erase(unpollable);
        watch.kernelEvents = wanted;
        return;
    }
    if (wanted == watch.kernelEvents)
        return;
    epoll_event event {};
    event.events = wanted;
    event.data.fd = fd;
    int result = 0;
    if (wanted == 0) {
        // The descriptor may be closed already (epoll forgot it then): nothing to undo.
        epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, &event);
    } else if (watch.kernelEvents == 0) {
        result = epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
        if (result != 0 && errno == EEXIST)
            result = epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &event);
        // Closed under a live notifier before the deferred add: nothing to watch (the notifier's
        // owner unregisters it next); a notifier registered again brings the next attempt.
        if (result != 0 && errno == EBADF)
            return;
    } else {
        result = epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &event);
        // Closed and reused behind a notifier that was not unregistered: watch the new one.
        if (result != 0 && errno == ENOENT)
            result = epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
    }
    if (result != 0) {
        if (errno != EPERM) {
            // Left as it was, so that the next change tries again.
            qWarning("EpollEventDispatcher: cannot watch descriptor %d: %s", fd,
                     std::strerror(errno));
            return;
        }
        // A regular file or a directory: poll() calls them always ready, and so do we.
        m_unpollable.push_back(fd);
    }
    watch.kernelEvents = wanted;
}

void EpollEventDispatcher::registerTimer(int timerId, qint64 interval, Qt::TimerType timerType,
                                         QObject *object)
{
    unregisterTimer(timerId); // Qt never reuses a live id; be safe if it did
    Timer &timer = m_timers[timerId];
    timer.object = object;
    timer.type = timerType;
    // A very coarse timer has a precision of whole seconds in Qt (QEventDispatcherUNIX).
    timer.intervalMs = timerType == Qt::VeryCoarseTimer ? (interval + 500) / 1000 * 1000 : interval;
    timer.deadlineNs = nowNs() + timer.intervalMs * 1'000'000;
    timer.firing = false;
    timer.dueWhileFiring = false;
    ++m_timerCounts[object];
    schedule(timerId, timer);
    // Stopped and restarted timers leave entries behind: rebuild before they dominate.
    if (m_heap.size() > 2 * m_timers.size() + 1024) {
        decltype(m_heap) rebuilt;
        for (auto &[id, live] : m_timers) {
            if (!live.dueWhileFiring) // those are rescheduled when their handler returns
                rebuilt.push({live.deadlineNs, id, live.generation});
        }
        m_heap.swap(rebuilt);
    }
}

void EpollEventDispatcher::schedule(int timerId, Timer &timer)
{
    timer.generation = ++m_nextGeneration;
    m_heap.push({timer.deadlineNs, timerId, timer.generation});
}

bool EpollEventDispatcher::unregisterTimer(int timerId)
{
    const auto it = m_timers.find(timerId);
    if (it == m_timers.end())
        return false;
    const auto count = m_timerCounts.find(it->second.object);
    if (count != m_timerCounts.end() && --count->second <= 0)
        m_timerCounts.erase(count);
    m_timers.erase(it); // its heap entry is skipped as stale
    return true;
}

bool EpollEventDispatcher::unregisterTimers(QObject *object)
{
    const auto count = m_timerCounts.find(object);
    if (count == m_timerCounts.end())
        return false;
    m_timerCounts.erase(count);
    for (auto it = m_timers.begin(); it != m_timers.end();) {
        if (it->second.object == object)
            it = m_timers.erase(it);
        else
            ++it;
    }
    return true;
}

QList<QAbstractEventDispatcher::TimerInfo>
EpollEventDispatcher::registeredTimers(QObject *object) const
{
    QList<TimerInfo> list;
    if (m_timerCounts.find(object) == m_timerCounts.end())
        return list;
    for (const auto &[id, timer] : m_timers) {
        if (timer.object == object)
            list.append(TimerInfo(id, int(timer.intervalMs), timer.type));
    }
    return list;
}

int EpollEventDispatcher::remainingTime(int timerId)
{
    const auto it = m_timers.find(timerId);
    if (it == m_timers.end())
        return -1;
    const int64_t remainingNs = it->second.deadlineNs - nowNs();
    return remainingNs <= 0 ? 0 : int(std::min<int64_t>(remainingNs / 1'000'000, INT_MAX));
}

void EpollEventDispatcher::wakeUp()
{
    // From the loop's own thread (an event posted by a handler: every queued call and
    // deleteLater(), a few per tunnel) the loop is not waiting: it only must not start to before
    // it has delivered posted events again. A mark that the next wait reads does that without the
    // eventfd's write, wake-up and read. From any other thread (QCoreApplication::postEvent,
    // interrupt()): one write until the loop has woken.
    if (QThread::currentThreadId() == m_loopThread.load(std::memory_order_relaxed)) {
        m_wakeUpPending.testAndSetRelaxed(0, kWokenInLoopThread);
        return;
    }
    if (m_wakeUpPending.testAndSetAcquire(0, kWokenByWrite)) {
        const uint64_t one = 1;
        const ssize_t written = ::write(m_wakeFd, &one, sizeof one);
        Q_UNUSED(written); // only fails when the counter is full: the loop wakes anyway
    }
}

void EpollEventDispatcher::interrupt()
{
    m_interrupted.storeRelaxed(1);
    wakeUp();
}

void EpollEventDispatcher::consumeWakeUp()
{
    uint64_t value = 0;
    const ssize_t read = ::read(m_wakeFd, &value, sizeof value);
    Q_UNUSED(read);
    m_wakeUpPending.storeRelease(0);
}

const EpollEventDispatcher::Timer *EpollEventDispatcher::liveTimer(const HeapEntry &entry) const
{
    const auto it = m_timers.find(entry.timerId);
    if (it == m_timers.end() || it->second.generation != entry.generation)
        return nullptr;
    return &it->second;
}

void EpollEventDispatcher::dropStaleHeapEntries() const
{
    while (!m_heap.empty() && !liveTimer(m_heap.top()))
        m_heap.pop();
}

int EpollEventDispatcher::waitTimeoutMs(bool includeTimers, bool includeNotifiers) const
{
    if (includeNotifiers && !m_unpollable.empty())
        return 0;
    if (!includeTimers)
        return -1;
    dropStaleHeapEntries();
    if (m_heap.empty())
        return -1;
    const int64_t remainingNs = m_heap.top().deadlineNs - nowNs();
    if (remainingNs <= 0)
        return 0;
    // Rounded up: a timer never fires before its time.
    return int(std::min<int64_t>((remainingNs + 999'999) / 1'000'000, INT_MAX));
}

int EpollEventDispatcher::waitForEvents(int timeoutMs, bool includeNotifiers)
{
    if (!includeNotifiers) {
        // Sockets stay out of this pass (QEventLoop::ExcludeSocketNotifiers): wait for a
        // wake-up or a timer only.
        pollfd wake {m_wakeFd, POLLIN, 0};
        const int ready = ::poll(&wake, 1, timeoutMs);
        if (ready > 0) {
            consumeWakeUp();
            return 1;
        }
        return 0;
    }
    applyDirtyWatches();
    // A descriptor just found unpollable (a deferred add) is always ready: no sleeping.
    if (!m_unpollable.empty())
        timeoutMs = 0;
    epoll_event events[kMaxEventsPerWait];
    const int ready = epoll_wait(m_epoll, events, kMaxEventsPerWait, timeoutMs);
    int woken = 0;
    for (int i = 0; i < ready; ++i) {
        const int fd = events[i].data.fd;
        if (fd == m_wakeFd) {
            consumeWakeUp();
            woken = 1;
            continue;
        }
        // Before the notifiers run: Qt's read or write may close the descriptor.
        if ((events[i].events & EPOLLERR) && !m_errorWatches.empty())
            recordSocketError(fd);
        const auto it = m_watches.find(fd);
        if (it == m_watches.end())
            continue;
        for (int type = 0; type < 3; ++type) {
            if (wakesType(events[i].events, type))
                queue(fd, it->second, type);
        }
    }
    for (const int fd : m_unpollable) {
        const auto it = m_watches.find(fd);
        if (it == m_watches.end())
            continue;
        queue(fd, it->second, QSocketNotifier::Read);
        queue(fd, it->second, QSocketNotifier::Write);
    }
    return woken;
}

void EpollEventDispatcher::watchSocketError(int fd, const void *owner)
{
    m_errorWatches[fd] = {owner, 0};
}

int EpollEventDispatcher::takeSocketError(int fd, const void *owner)
{
    const auto it = m_errorWatches.find(fd);
    if (it == m_errorWatches.end() || it->second.owner != owner)
        return 0;
    const int error = it->second.error;
    m_errorWatches.erase(it);
    return error;
}

void EpollEventDispatcher::recordSocketError(int fd)
{
    const auto it = m_errorWatches.find(fd);
    if (it == m_errorWatches.end() || it->second.error != 0)
        return;
    // Reading it clears it: EPOLLERR is not reported again, and Qt's next read of this socket
    // finds what is left to read and then the end of the stream (its write: EPIPE). For a reset
    // Qt reports exactly that anyway (RemoteHostClosedError); for any other error the record is
    // what the owner goes by.
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0)
        it->second.error = error;
}

void EpollEventDispatcher::queue(int fd, Watch &watch, int type)
{
    // Once per pass: a nested loop started by a handler takes over what is still queued and
    // must not queue the same notifier a second time.
    if (!watch.notifiers[type] || watch.pending[type])
        return;
    watch.pending[type] = true;
    m_pending.push_back({watch.notifiers[type], fd, type});
}

int EpollEventDispatcher::activateSocketNotifiers()
{
    // A notifier unregistered (or deleted) by an earlier one's handler is nulled in m_pending; a
    // nested loop started by a handler takes over what is left, as QEventDispatcherUNIX does.
    int activated = 0;
    while (!m_pending.empty()) {
        const Pending pending = m_pending.front();
        m_pending.pop_front();
        if (!pending.notifier)
            continue;
        const auto watch = m_watches.find(pending.fd);
        if (watch != m_watches.end())
            watch->second.pending[pending.type] = false;
        QSocketNotifier *notifier = pending.notifier;
        QEvent event(QEvent::SockAct);
        QCoreApplication::sendEvent(notifier, &event);
        ++activated;
    }
    return activated;
}

int EpollEventDispatcher::activateTimers()
{
    const int64_t now = nowNs();
    struct Due
    {
        int timerId;
        uint64_t generation;
    };
    std::vector<Due> due;
    while (!m_heap.empty() && m_heap.top().deadlineNs <= now) {
        const HeapEntry entry = m_heap.top();
        m_heap.pop();
        const auto it = m_timers.find(entry.timerId);
        if (it == m_timers.end() || it->second.generation != entry.generation)
            continue;
        Timer &timer = it->second;
        if (timer.firing) {
            // Due again inside its own handler (a nested event loop): not recursively.
            timer.dueWhileFiring = true;
            continue;
        }
        due.push_back({entry.timerId, 0});
    }
    // Rescheduled only once all due ones are off the heap: a zero-interval timer is due again
    // at once, and fires once per pass.
    for (Due &item : due) {
        Timer &timer = m_timers.find(item.timerId)->second;
        // Next deadline from the planned one, so a periodic timer keeps its rhythm; after a
        // long stall it starts afresh instead of firing many times to catch up.
        timer.deadlineNs += timer.intervalMs * 1'000'000;
        if (timer.deadlineNs < now)
            timer.deadlineNs = now + timer.intervalMs * 1'000'000;
        schedule(item.timerId, timer);
        item.generation = timer.generation;
    }
    int activated = 0;
    for (const Due &item : due) {
        auto it = m_timers.find(item.timerId);
        // Stopped, restarted or fired by a nested loop since: skip.
        if (it == m_timers.end() || it->second.generation != item.generation)
            continue;
        it->second.firing = true;
        QObject *object = it->second.object;
        const qint64 intervalMs = it->second.intervalMs;
        QTimerEvent event(item.timerId);
        QCoreApplication::sendEvent(object, &event);
        // As QEventDispatcherUNIX: zero-interval timers ("when idle") do not count as work done,
        // so processEvents(flags, maxTime) and qWait() can see the loop idle.
        if (intervalMs > 0)
            ++activated;
        it = m_timers.find(item.timerId);
        if (it == m_timers.end())
            continue;
        it->second.firing = false;
        if (it->second.dueWhileFiring) {
            it->second.dueWhileFiring = false;
            schedule(item.timerId, it->second);
        }
    }
    return activated;
}

bool EpollEventDispatcher::processEvents(QEventLoop::ProcessEventsFlags flags)
{
    m_loopThread.store(QThread::currentThreadId(), std::memory_order_relaxed);
    m_interrupted.storeRelaxed(0);
    Q_EMIT awake();
    // Posted events first; one posted from now on wakes the wait below (postEvent -> wakeUp).
    QCoreApplication::sendPostedEvents();

    const bool includeTimers = !(flags & QEventLoop::X11ExcludeTimers);
    const bool includeNotifiers = !(flags & QEventLoop::ExcludeSocketNotifiers);
    const bool canWait = (flags & QEventLoop::WaitForMoreEvents) && !m_interrupted.loadRelaxed();
    if (canWait)
        Q_EMIT aboutToBlock();
    if (m_interrupted.loadRelaxed())
        return false;

    int timeoutMs = canWait ? waitTimeoutMs(includeTimers, includeNotifiers) : 0;
    // Woken from this thread since the loop last woke: an event waits, look without waiting.
    // (Another thread's wake-up meanwhile found the mark and wrote nothing: that event is
    // delivered on the next pass too.)
    if (m_wakeUpPending.testAndSetAcquire(kWokenInLoopThread, 0))
        timeoutMs = 0;
    int events = waitForEvents(timeoutMs, includeNotifiers);
    if (includeNotifiers)
        events += activateSocketNotifiers();
    if (includeTimers)
        events += activateTimers();
    return events > 0;
}

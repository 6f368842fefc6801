#include "unixsignals.h"

#include <QAbstractNativeEventFilter>
#include <QSocketNotifier>

#ifdef Q_OS_UNIX
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {
int g_signalFds[2] = {-1, -1};

// The signals we handle, and how many of each arrived since the event loop last looked. The
// handler touches nothing else: lock-free atomics are async-signal-safe.
constexpr int kHandled[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kHandledCount = int(sizeof kHandled / sizeof kHandled[0]);
std::atomic<int> g_pending[kHandledCount];
static_assert(std::atomic<int>::is_always_lock_free);

void onSignal(int signalNumber)
{
    // Only async-signal-safe calls here, and never a wait: a burst of signals (30,000 SIGHUPs)
    // once filled a blocking socket and froze the process inside this handler. Each kind is
    // counted, and only its first pending arrival writes a byte to wake the event loop; the
    // socket is non-blocking, so a full socket (EAGAIN) just means the loop is awake already.
    const int savedErrno = errno;
    for (int i = 0; i < kHandledCount; ++i) {
        if (kHandled[i] != signalNumber)
            continue;
        if (g_pending[i].fetch_add(1) == 0) {
            const char byte = char(signalNumber);
            [[maybe_unused]] const auto written = ::write(g_signalFds[0], &byte, 1);
        }
    }
    errno = savedErrno;
}

bool setNonBlocking(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}
} // namespace
#elif defined(Q_OS_WIN)
#include <QCoreApplication>
#include <csignal>
#include <mutex>
#include <qt_windows.h>

namespace {
// The watcher that console events go to. The system runs the handler on a thread of its own,
// started for each event, so the watcher is read and cleared under the mutex.
std::mutex g_watcherMutex;
UnixSignals *g_watcher = nullptr;

BOOL WINAPI onConsoleEvent(DWORD event)
{
    // Closing the console window, logging off and shutting down end the process once the handler
    // returns, whatever it answers: those keep the default handling.
    if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT)
        return FALSE;
    const int signalNumber = event == CTRL_C_EVENT ? SIGINT : SIGBREAK;
    const std::lock_guard<std::mutex> lock(g_watcherMutex);
    UnixSignals *watcher = g_watcher;
    if (!watcher)
        return FALSE;
    QMetaObject::invokeMethod(
        watcher, [watcher, signalNumber] { Q_EMIT watcher->terminationRequested(signalNumber); },
        Qt::QueuedConnection);
    return TRUE;
}

// QProcess::terminate() posts WM_CLOSE to the process's top-level windows and to its main
// thread; a console program has no window, and Qt's event dispatcher hands the thread's message
// to the native event filters (hwnd null), where this one takes it.
class CloseMessageFilter : public QAbstractNativeEventFilter
{
public:
    explicit CloseMessageFilter(UnixSignals *watcher) : m_watcher(watcher) { }

    bool nativeEventFilter(const QByteArray &eventType, void *message, qintptr *) override
    {
        if (eventType != "windows_generic_MSG")
            return false;
        const MSG *msg = static_cast<const MSG *>(message);
        if (msg->hwnd || msg->message != WM_CLOSE)
            return false;
        Q_EMIT m_watcher->terminationRequested(SIGTERM);
        return true;
    }

private:
    UnixSignals *m_watcher;
};
} // namespace
#endif

UnixSignals::UnixSignals(QObject *parent) : QObject(parent)
{
#ifdef Q_OS_UNIX
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalFds) != 0)
        return;
    for (int fd : g_signalFds) {
        setNonBlocking(fd);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (auto &pending : g_pending)
        pending.store(0);
    m_notifier = new QSocketNotifier(g_signalFds[1], QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, [this] {
        // The bytes only wake us; the counters say what arrived.
        char bytes[64];
        while (::read(g_signalFds[1], bytes, sizeof bytes) > 0) { }
        for (int i = 0; i < kHandledCount; ++i) {
            // Taken before acting, so a signal arriving meanwhile wakes the loop again.
            const int count = g_pending[i].exchange(0);
            if (count == 0)
                continue;
            if (kHandled[i] == SIGHUP) {
                Q_EMIT reloadRequested(); // many reloads in a row read the same files: one will do
            } else {
                // A second termination signal means "now" to the server: keep that apart.
                for (int n = 0; n < qMin(count, 2); ++n)
                    Q_EMIT terminationRequested(kHandled[i]);
            }
        }
    });
    struct sigaction action = {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (int signalNumber : kHandled)
        sigaction(signalNumber, &action, nullptr);
    // A peer that vanishes must not kill the process through SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
#elif defined(Q_OS_WIN)
    {
        const std::lock_guard<std::mutex> lock(g_watcherMutex);
        g_watcher = this;
    }
    SetConsoleCtrlHandler(onConsoleEvent, TRUE);
    if (QCoreApplication *app = QCoreApplication::instance()) {
        m_closeFilter = std::make_unique<CloseMessageFilter>(this);
        app->installNativeEventFilter(m_closeFilter.get());
    }
#endif
}

UnixSignals::~UnixSignals()
{
#ifdef Q_OS_UNIX
    for (int signalNumber : kHandled)
        std::signal(signalNumber, SIG_DFL);
    delete m_notifier;
    m_notifier = nullptr;
    for (int &fd : g_signalFds) {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
#elif defined(Q_OS_WIN)
    // (m_closeFilter takes itself off the event dispatcher when it is destroyed.)
    SetConsoleCtrlHandler(onConsoleEvent, FALSE);
    const std::lock_guard<std::mutex> lock(g_watcherMutex);
    if (g_watcher == this)
        g_watcher = nullptr;
#endif
}

#include "unixsignals.h"

#include <QAbstractNativeEventFilter>
#include <QSocketNotifier>

#ifdef Q_OS_UNIX
#include <csignal>
#include <sys/socket.h>
#include <unistd.h>

namespace {
int g_signalFds[2] = {-1, -1};

void onSignal(int signalNumber)
{
    // Only async-signal-safe calls here: hand the number to the event loop.
    const char byte = char(signalNumber);
    [[maybe_unused]] const auto written = ::write(g_signalFds[0], &byte, 1);
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
    m_notifier = new QSocketNotifier(g_signalFds[1], QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, [this] {
        char byte = 0;
        if (::read(g_signalFds[1], &byte, 1) != 1)
            return;
        if (int(byte) == SIGHUP)
            Q_EMIT reloadRequested();
        else
            Q_EMIT terminationRequested(int(byte));
    });
    struct sigaction action = {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);
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
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGHUP, SIG_DFL);
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

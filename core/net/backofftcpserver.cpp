#include "backofftcpserver.h"

#include "tcpkeepalive.h"
#include "tcplisten.h"

#include <QSocketNotifier>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace {

#ifdef Q_OS_UNIX
// Connections accepted per wake-up at most; the notifier fires again for the rest, so other
// sockets get their turn during a burst.
constexpr int kMaxAcceptsPerWakeUp = 128;

QString descriptorLimit()
{
    struct rlimit limit = {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return QString();
    return QStringLiteral(" (descriptor limit %1)").arg(qulonglong(limit.rlim_cur));
}
#endif

} // namespace

BackoffTcpServer::BackoffTcpServer(LogCategory category, QObject *parent)
    : QTcpServer(parent), m_category(category)
{
    m_resumeTimer.setSingleShot(true);
    connect(&m_resumeTimer, &QTimer::timeout, this, &BackoffTcpServer::resume);
#ifndef Q_OS_UNIX
    // Elsewhere QTcpServer accepts, and pauses itself when accepting fails: resume it later.
    connect(this, &QTcpServer::acceptError, this, [this](QAbstractSocket::SocketError error) {
        if (error == QAbstractSocket::SocketResourceError)
            failed(0);
    });
    connect(this, &QTcpServer::newConnection, this, &BackoffTcpServer::accepted);
#endif
}

BackoffTcpServer::~BackoffTcpServer()
{
    stopListening();
}

bool BackoffTcpServer::listenOn(const HostPort &address, QString *error)
{
    if (!TcpListen::listen(this, address, error))
        return false;
    // Once here rather than a few system calls per accepted socket (each tunnel has one).
    m_acceptedSocketsTuned = TcpKeepAlive::enableForAccepted(socketDescriptor());
#ifdef Q_OS_UNIX
    // Qt 6.4's QTcpServer cannot be relied on to report a failed accept: QNativeSocketEngine
    // keeps the first error it ever saw, and the EAGAIN that ends every batch of accepts is one,
    // so a later EMFILE still reads as "temporary". QTcpServer then neither pauses nor emits
    // acceptError() and retries at once, forever: a busy loop at the descriptor limit. (When
    // EMFILE does come first, it pauses and never resumes.) So accept here, on a duplicate of the
    // listening descriptor, and keep QTcpServer from accepting: with no room for pending
    // connections it only switches its own notifier off again (it is switched on whenever
    // someone takes a pending connection).
    setMaxPendingConnections(0);
    pauseAccepting();
    m_descriptor = ::fcntl(int(socketDescriptor()), F_DUPFD_CLOEXEC, 0);
    if (m_descriptor < 0) {
        *error = QStringLiteral("cannot listen on %1: %2")
                     .arg(address.toString(), QString::fromLocal8Bit(std::strerror(errno)));
        close();
        return false;
    }
    m_notifier = new QSocketNotifier(m_descriptor, QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &BackoffTcpServer::acceptPending);
#endif
    return true;
}

QTcpSocket *BackoffTcpServer::nextPendingConnection()
{
    QTcpSocket *socket = QTcpServer::nextPendingConnection();
#ifdef Q_OS_UNIX
    // QTcpServer (Qt 6.4 to 6.8) switches its notifier on again whenever a pending connection
    // is taken. Left on, it woke with ours on every new connection only to switch itself off:
    // two epoll_ctl calls and a notifier run per connection. Off again in the same pass, it
    // costs nothing (EpollEventDispatcher applies the change only before it waits).
    if (m_notifier && isListening())
        pauseAccepting();
#endif
    return socket;
}

void BackoffTcpServer::stopListening()
{
    m_resumeTimer.stop();
    delete m_notifier;
    m_notifier = nullptr;
#ifdef Q_OS_UNIX
    if (m_descriptor >= 0)
        ::close(int(m_descriptor));
#endif
    m_descriptor = -1;
    close();
}

void BackoffTcpServer::acceptPending()
{
#ifdef Q_OS_UNIX
    for (int i = 0; i < kMaxAcceptsPerWakeUp && m_notifier; ++i) {
        int fd = -1;
        do {
#ifdef Q_OS_LINUX
            fd = ::accept4(int(m_descriptor), nullptr, nullptr, SOCK_CLOEXEC);
#else
            fd = ::accept(int(m_descriptor), nullptr, nullptr);
            if (fd >= 0)
                ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            switch (errno) {
            case EAGAIN:
#if EAGAIN != EWOULDBLOCK
            case EWOULDBLOCK:
#endif
                return; // nothing more waiting
            case ECONNABORTED:
            case EPROTO:
            case EPERM: // a firewall rule refused this one
                continue;
            default:
                failed(errno); // EMFILE, ENFILE, ENOBUFS, ENOMEM
                return;
            }
        }
        accepted();
        // QTcpSocket::setSocketDescriptor() makes it non-blocking.
        incomingConnection(fd);
    }
#endif
}

void BackoffTcpServer::accepted()
{
    const qint64 elapsedMs = m_backoff.episodeElapsedMs();
    const int failures = m_backoff.succeeded();
    if (failures == 0)
        return;
    qCInfo(m_category).noquote() << "accepting connections again after" << failures
                                 << "failed attempt(s) in"
                                 << QString::number(elapsedMs / 1000.0, 'f', 1) << "s";
}

void BackoffTcpServer::failed(int errorNumber)
{
    ++m_failedAccepts;
#ifdef Q_OS_UNIX
    const QString reason = QString::fromLocal8Bit(std::strerror(errorNumber)) + descriptorLimit();
    if (m_notifier)
        m_notifier->setEnabled(false);
#else
    Q_UNUSED(errorNumber);
    const QString reason = errorString();
#endif
    const int pauseMs = m_backoff.failed();
    if (m_backoff.episodeFailures() == 1) {
        qCWarning(m_category).noquote()
            << "cannot accept connections on port" << serverPort() << "-" << reason
            << "- pausing, retrying every" << kFirstPauseMs << "to" << kMaxPauseMs
            << "ms until descriptors are free";
    } else {
        qCDebug(m_category).noquote()
            << "accepting still fails:" << reason << "- retrying in" << pauseMs << "ms";
    }
    Q_EMIT acceptFailed(reason, pauseMs);
    m_resumeTimer.start(pauseMs);
}

void BackoffTcpServer::resume()
{
    if (!isListening())
        return;
#ifdef Q_OS_UNIX
    if (m_notifier) {
        m_notifier->setEnabled(true);
        acceptPending(); // level-triggered anyway; try now rather than after the next wake-up
    }
#else
    resumeAccepting();
#endif
}

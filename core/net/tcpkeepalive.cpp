#include "tcpkeepalive.h"

#include <QAbstractSocket>
#include <QVariant>

#if defined(Q_OS_WIN)
#include <winsock2.h>
// After winsock2.h, which declares what it uses.
#include <mstcpip.h>
#elif defined(Q_OS_UNIX)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

namespace TcpKeepAlive {

namespace {

#if defined(Q_OS_UNIX)
bool setTimingOf(int fd)
{
    const auto set = [fd](int option, int value) {
        return setsockopt(fd, IPPROTO_TCP, option, &value, sizeof value) == 0;
    };
    bool ok = true;
#if defined(TCP_KEEPIDLE)
    ok = set(TCP_KEEPIDLE, kIdleSeconds) && ok;
#elif defined(TCP_KEEPALIVE) // macOS
    ok = set(TCP_KEEPALIVE, kIdleSeconds) && ok;
#endif
#if defined(TCP_KEEPINTVL)
    ok = set(TCP_KEEPINTVL, kIntervalSeconds) && ok;
#endif
#if defined(TCP_KEEPCNT)
    ok = set(TCP_KEEPCNT, kProbes) && ok;
#endif
    return ok;
}
#endif

} // namespace

bool enable(QAbstractSocket *socket)
{
    if (!socket || socket->socketDescriptor() == -1)
        return false;
#if defined(Q_OS_WIN)
    // One call sets all of it; the number of probes is fixed at 10 since Windows Vista.
    tcp_keepalive settings {};
    settings.onoff = 1;
    settings.keepalivetime = kIdleSeconds * 1000;
    settings.keepaliveinterval = kIntervalSeconds * 1000;
    DWORD returned = 0;
    return WSAIoctl(SOCKET(socket->socketDescriptor()), SIO_KEEPALIVE_VALS, &settings,
                    sizeof settings, nullptr, 0, &returned, nullptr, nullptr)
        == 0;
#else
    socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
    return setTiming(socket);
#endif
}

bool setTiming(QAbstractSocket *socket)
{
#if defined(Q_OS_WIN)
    // Windows sets the timing only together with keep-alive itself.
    return enable(socket);
#else
    if (!socket || socket->socketDescriptor() == -1)
        return false;
#if defined(Q_OS_UNIX)
    return setTimingOf(int(socket->socketDescriptor()));
#else
    return true;
#endif
#endif
}

bool enableForAccepted(qintptr listeningDescriptor)
{
#if defined(Q_OS_LINUX)
    // Linux copies these into every connection accepted from then on (inet_csk_clone_lock()
    // clones the listening socket; tcp_create_openreq_child() keeps its keep-alive).
    const int fd = int(listeningDescriptor);
    const int on = 1;
    return fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0
        && setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == 0 && setTimingOf(fd);
#else
    Q_UNUSED(listeningDescriptor);
    return false;
#endif
}

} // namespace TcpKeepAlive

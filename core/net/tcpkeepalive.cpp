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
#if defined(Q_OS_UNIX)
    const int fd = int(socket->socketDescriptor());
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
#else
    return true;
#endif
#endif
}

} // namespace TcpKeepAlive

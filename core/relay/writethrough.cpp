#include "writethrough.h"

#include <QAbstractSocket>
#include <QNetworkProxy>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <sys/socket.h>
#include <sys/types.h>
#endif

namespace WriteThrough {

bool isPossible(const QAbstractSocket *socket)
{
#ifdef Q_OS_UNIX
    if (socket->socketType() != QAbstractSocket::TcpSocket
        || socket->state() != QAbstractSocket::ConnectedState || socket->socketDescriptor() < 0)
        return false;
    // Through a proxy the descriptor is the proxy's connection, and Qt's engine frames the bytes.
    // Only an explicit NoProxy says there is none: with DefaultProxy, asking Qt which proxy
    // applies costs more than a tunnel's whole setup saves.
    return socket->proxy().type() == QNetworkProxy::NoProxy;
#else
    Q_UNUSED(socket);
    return false;
#endif
}

qint64 write(QAbstractSocket *socket, const char *data, qint64 size)
{
    qint64 sent = 0;
#ifdef Q_OS_UNIX
    if (size > 0 && socket->bytesToWrite() == 0
        && socket->state() == QAbstractSocket::ConnectedState && socket->socketDescriptor() >= 0) {
        int flags = MSG_DONTWAIT;
#ifdef MSG_NOSIGNAL
        flags |= MSG_NOSIGNAL; // elsewhere Qt sets SO_NOSIGPIPE on its sockets
#endif
        ssize_t result;
        do {
            result = ::send(int(socket->socketDescriptor()), data, size_t(size), flags);
        } while (result < 0 && errno == EINTR);
        // A full kernel buffer (EAGAIN) or an error: Qt writes the rest, and reports an error
        // as it always does.
        if (result > 0)
            sent = result;
    }
#endif
    if (sent == size)
        return size;
    const qint64 queued = socket->write(data + sent, size - sent);
    return queued < 0 ? queued : size;
}

} // namespace WriteThrough

#include "writethrough.h"

#include <QAbstractSocket>
#include <QByteArray>
#include <QNetworkProxy>
#include <QSslSocket>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <sys/socket.h>
#include <sys/types.h>
#endif

namespace WriteThrough {

namespace {

// From this size on QIODevice::write(const QByteArray &) queues the array itself (Qt 6.4's
// QRINGBUFFER_CHUNKSIZE), so Qt's path costs no copy and no chunk.
constexpr qsizetype kLargestDirectWrite = 4096 - 1;

} // namespace

bool isPossible(const QAbstractSocket *socket)
{
#ifdef Q_OS_UNIX
    if (socket->socketType() != QAbstractSocket::TcpSocket
        || socket->state() != QAbstractSocket::ConnectedState || socket->socketDescriptor() < 0
        || qobject_cast<const QSslSocket *>(socket))
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

void setDirect(QAbstractSocket *socket)
{
    static const QNetworkProxy direct(QNetworkProxy::NoProxy);
    socket->setProxy(direct);
}

bool write(QAbstractSocket *socket, const QByteArray &data, Outcome *outcome)
{
    qsizetype sent = 0;
    int error = 0;
#ifdef Q_OS_UNIX
    if (!data.isEmpty() && data.size() <= kLargestDirectWrite && socket->bytesToWrite() == 0
        && socket->state() == QAbstractSocket::ConnectedState && socket->socketDescriptor() >= 0) {
        int flags = MSG_DONTWAIT;
#ifdef MSG_NOSIGNAL
        // Elsewhere Qt ignores SIGPIPE for the whole process once it has written to a socket,
        // which has happened by then (the opening handshake).
        flags |= MSG_NOSIGNAL;
#endif
        ssize_t result;
        do {
            result = ::send(int(socket->socketDescriptor()), data.constData(), size_t(data.size()),
                            flags);
        } while (result < 0 && errno == EINTR);
        // A full kernel buffer (EAGAIN) or an error: Qt writes the rest, and reports an error
        // as it always does.
        if (result > 0)
            sent = qsizetype(result);
        else if (result < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            error = errno;
    }
#endif
    if (outcome)
        *outcome = {sent, error};
    if (sent == data.size())
        return !data.isEmpty();
    if (sent == 0)
        socket->write(data);
    else
        socket->write(data.constData() + sent, data.size() - sent);
    return false;
}

} // namespace WriteThrough

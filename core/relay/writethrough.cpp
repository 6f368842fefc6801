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

namespace {

// From this size on QIODevice::write(const QByteArray &) queues the array itself (Qt 6.4's
// QRINGBUFFER_CHUNKSIZE), so Qt's path costs no copy and no chunk.
constexpr qsizetype kLargestDirectWrite = 4096 - 1;

// What the kernel took at once of a write below 4 KiB to a socket with nothing queued; 0 when
// the write is not one for the kernel (or it took nothing: a full buffer, an error, which Qt
// then meets and reports as it always does).
qint64 sendNow(QAbstractSocket *socket, const char *data, qint64 size)
{
#ifdef Q_OS_UNIX
    if (size <= 0 || size > kLargestDirectWrite || socket->bytesToWrite() != 0
        || socket->state() != QAbstractSocket::ConnectedState || socket->socketDescriptor() < 0)
        return 0;
    int flags = MSG_DONTWAIT;
#ifdef MSG_NOSIGNAL
    // Elsewhere Qt ignores SIGPIPE for the whole process once it has written to a socket.
    flags |= MSG_NOSIGNAL;
#endif
    ssize_t result;
    do {
        result = ::send(int(socket->socketDescriptor()), data, size_t(size), flags);
    } while (result < 0 && errno == EINTR);
    return result > 0 ? qint64(result) : 0;
#else
    Q_UNUSED(socket);
    Q_UNUSED(data);
    Q_UNUSED(size);
    return 0;
#endif
}

} // namespace

bool write(QAbstractSocket *socket, const QByteArray &data)
{
    const qsizetype sent = qsizetype(sendNow(socket, data.constData(), data.size()));
    if (sent == data.size())
        return !data.isEmpty();
    if (sent == 0)
        socket->write(data);
    else
        socket->write(data.constData() + sent, data.size() - sent);
    return false;
}

} // namespace WriteThrough

qint64 WriteThroughSocket::writeData(const char *data, qint64 size)
{
    const qint64 sent =
        WriteThrough::isPossible(this) ? WriteThrough::sendNow(this, data, size) : 0;
    if (sent == size)
        return size;
    // The rest, or all of it untouched (so that Qt can queue 4 KiB and more without a copy).
    const qint64 queued = QTcpSocket::writeData(data + sent, size - sent);
    return queued < 0 ? (sent > 0 ? sent : queued) : size;
}

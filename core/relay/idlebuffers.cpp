#include "idlebuffers.h"

#include <QAbstractSocket>
#include <QCoreApplication>
#include <QSslSocket>
#include <QTcpSocket>
#include <QTimer>
#include <atomic>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace IdleBuffers {

namespace {

// Long enough that a burst of tunnels going idle or ending costs one pass over the heap, short
// enough that the memory shows up free soon after.
constexpr int kReturnDelayMs = 1000;

std::atomic<int> passes {0};

bool isEmpty(QAbstractSocket *socket)
{
    return socket->state() == QAbstractSocket::ConnectedState && socket->bytesAvailable() == 0
        && socket->bytesToWrite() == 0 && !socket->isTransactionStarted();
}

} // namespace

bool release(QAbstractSocket *socket)
{
    if (!socket || !isEmpty(socket))
        return false;
    // TLS: QSslSocket (Qt 6.4 to 6.8) buffers at two levels, decrypted bytes in its own buffers
    // and encrypted ones in those of the plain socket it makes as its child (its only
    // QTcpSocket child). Both are given back, or neither: where no such child is found (another
    // Qt version or TLS backend, not yet encrypted) nothing is given back and the socket keeps
    // its buffers as they are, which is always safe, only not smaller.
    QTcpSocket *inner = nullptr;
    if (auto *tls = qobject_cast<QSslSocket *>(socket)) {
        inner = tls->isEncrypted()
            ? tls->findChild<QTcpSocket *>(QString(), Qt::FindDirectChildrenOnly)
            : nullptr;
        if (!inner || !isEmpty(inner))
            return false;
    }
    // QIODevice::open() in the mode the device is in already replaces its buffers with new,
    // empty ones that allocate nothing until used; the socket itself (descriptor, state,
    // notifiers, options; TLS: the session) is not touched. With all buffers empty no byte can
    // be lost.
    if (inner)
        inner->QIODevice::open(inner->openMode());
    return socket->QIODevice::open(socket->openMode());
}

void returnFreedPages()
{
#if defined(__GLIBC__)
    static std::atomic<bool> scheduled {false};
    if (scheduled.exchange(true))
        return;
    // In the main thread, whichever thread asks: one whose event loop has stopped would never
    // run the pass, and none would be scheduled again.
    QTimer::singleShot(kReturnDelayMs, QCoreApplication::instance(), [] {
        scheduled = false;
        malloc_trim(0);
        ++passes;
    });
#endif
}

int returnPasses()
{
    return passes;
}

} // namespace IdleBuffers

#include "idlebuffers.h"

#include <QAbstractSocket>
#include <QCoreApplication>
#include <QSslSocket>
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

} // namespace

bool release(QAbstractSocket *socket)
{
    if (!socket || socket->state() != QAbstractSocket::ConnectedState
        || socket->bytesAvailable() > 0 || socket->bytesToWrite() > 0
        || socket->isTransactionStarted() || qobject_cast<QSslSocket *>(socket))
        return false;
    // QIODevice::open() in the mode the device is in already replaces its buffers with new,
    // empty ones that allocate nothing until used; the socket itself (descriptor, state,
    // notifiers, options) is not touched. With both buffers empty no byte can be lost.
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

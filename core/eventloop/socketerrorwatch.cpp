#include "socketerrorwatch.h"

#ifdef TOW_HAVE_EPOLL_DISPATCHER
#include "epolleventdispatcher.h"

#include <QAbstractEventDispatcher>
#endif

namespace SocketErrorWatch {

#ifdef TOW_HAVE_EPOLL_DISPATCHER

namespace {

EpollEventDispatcher *epollDispatcher()
{
    return qobject_cast<EpollEventDispatcher *>(QAbstractEventDispatcher::instance());
}

} // namespace

bool start(qintptr descriptor, const void *owner)
{
    EpollEventDispatcher *dispatcher = epollDispatcher();
    if (!dispatcher || descriptor < 0)
        return false;
    dispatcher->watchSocketError(int(descriptor), owner);
    return true;
}

int take(qintptr descriptor, const void *owner)
{
    EpollEventDispatcher *dispatcher = epollDispatcher();
    return dispatcher && descriptor >= 0 ? dispatcher->takeSocketError(int(descriptor), owner) : 0;
}

#else

bool start(qintptr descriptor, const void *owner)
{
    Q_UNUSED(descriptor);
    Q_UNUSED(owner);
    return false;
}

int take(qintptr descriptor, const void *owner)
{
    Q_UNUSED(descriptor);
    Q_UNUSED(owner);
    return 0;
}

#endif

} // namespace SocketErrorWatch

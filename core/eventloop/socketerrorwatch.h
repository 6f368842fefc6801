// Telling a connection reset by the peer from a normal close, which Qt does not.
//
// Why: Qt's socket engine (qnativesocketengine_unix.cpp, nativeRead, the same in Qt 6.4.2 and
// 6.8) turns ECONNRESET into an end of stream (0 bytes read), and QNativeSocketEngine::read()
// then closes the descriptor and reports RemoteHostClosedError: for a reset exactly as for a
// FIN, and the descriptor is gone before any signal reaches us. Our epoll event loop sees the
// error (EPOLLERR) before it runs the socket's notifiers and records it (SO_ERROR, read only
// then: nothing on the normal path). Qt's own event dispatchers (the tray app, Windows, macOS)
// cannot: there a reset still looks like a normal close.
#pragma once

#include <QtGlobal>

namespace SocketErrorWatch {

// Starts recording the error the kernel reports for descriptor, a connected TCP socket, on
// behalf of owner. False when this thread's event loop cannot (Qt's own dispatchers).
bool start(qintptr descriptor, const void *owner);

// The error recorded for descriptor (an errno value: ECONNRESET after a reset; 0 for none), and
// stops watching it. Call it as soon as the socket reports its close (Qt has closed the
// descriptor then, and the next socket may get its number), or when owner goes.
int take(qintptr descriptor, const void *owner);

} // namespace SocketErrorWatch

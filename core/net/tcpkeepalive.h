// TCP keep-alive with the timing Go uses for its connections (the original tool's): the kernel
// probes a connection that has been silent for 15 s every 15 s, and drops it after 9 unanswered
// probes. A peer whose machine or network vanished is found in about two and a half minutes,
// instead of the two hours the system default waits, on the sockets WebSocket keep-alives do
// not cover (the remote's), and on the WebSocket's when its peer stops answering.
#pragma once

#include <QtGlobal>

class QAbstractSocket;

namespace TcpKeepAlive {

constexpr int kIdleSeconds = 15;
constexpr int kIntervalSeconds = 15;
constexpr int kProbes = 9;

// Turns keep-alive on for a connected socket, with the timing above where the platform lets us
// set it (Linux, macOS, Windows); elsewhere with the system's timing. False if the socket has no
// descriptor or the system refused.
bool enable(QAbstractSocket *socket);

// Only the timing above, for a socket whose keep-alive is on already: the one a client QWebSocket
// opens (Qt 6.4 to 6.8 switch on keep-alive and no delay for it). False as enable().
bool setTiming(QAbstractSocket *socket);

// Linux: a connection accepted from a listening socket inherits its TCP options. Turns on no delay
// (TCP_NODELAY) and keep-alive with the timing above on a listening descriptor, so that accepted
// sockets need no system call of their own for them. False elsewhere, or if the system refused
// one of them: set them on each accepted socket then.
bool enableForAccepted(qintptr listeningDescriptor);

} // namespace TcpKeepAlive

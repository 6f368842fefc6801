// Writing small messages to an idle TCP socket straight to the kernel, the way Qt's own
// unbuffered QTcpSocket writes, while the socket otherwise stays buffered.
//
// Why: a buffered QAbstractSocket (Qt 6.4) copies every write below 4 KiB into a 32 KiB chunk of
// its write buffer and keeps that chunk, emptied, for as long as it lives. For a tunnel that
// carries a keystroke now and then, that was about 4 KB of resident memory per tunnel and
// process, a sixth of all it cost (see README, Performance). QIODevice::Unbuffered would avoid
// it, but it also changes how the socket reads.
#pragma once

#include <QtGlobal>

class QAbstractSocket;

namespace WriteThrough {

// Whether socket can be written to directly: connected, plain TCP, and set to
// QNetworkProxy::NoProxy (an accepted socket never has one, but only the setting says so).
bool isPossible(const QAbstractSocket *socket);

// Writes size bytes of data to socket, which isPossible() must have accepted: straight to the
// kernel while nothing waits in Qt's write buffer, so the order of bytes is kept; what the
// kernel does not take at once, or everything when something is queued, goes through
// socket->write(). Returns what socket->write() returns for the same bytes: size, or -1.
// As with an unbuffered QTcpSocket, bytesWritten() reports only the bytes that were queued.
qint64 write(QAbstractSocket *socket, const char *data, qint64 size);

} // namespace WriteThrough

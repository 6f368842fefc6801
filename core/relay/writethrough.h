// Writing small messages to an idle TCP socket straight to the kernel, the way Qt's own
// unbuffered QTcpSocket writes, while the socket otherwise stays buffered.
//
// Why: a buffered QAbstractSocket (Qt 6.4) copies every write below 4 KiB into a 32 KiB chunk of
// its write buffer and keeps that chunk, emptied, for as long as it lives. For a tunnel that
// carries a keystroke now and then, that was about 4 KB of resident memory per idle tunnel and
// process (see README, Performance). QIODevice::Unbuffered would avoid it, but it also changes
// how the socket reads.
#pragma once

#include <QtGlobal>

class QAbstractSocket;
class QByteArray;

namespace WriteThrough {

// Whether socket can be written to directly: connected, plain TCP (not a QSslSocket), and set to
// QNetworkProxy::NoProxy (an accepted socket never has a proxy, but only the setting says so).
bool isPossible(const QAbstractSocket *socket);

// Sets socket to QNetworkProxy::NoProxy, for a socket that has no proxy: one that was accepted,
// or one to be connected directly (Qt then skips its proxy lookup). All sockets share one
// QNetworkProxy: setting a new one would allocate for each.
void setDirect(QAbstractSocket *socket);

// What a write() handed to the kernel itself, for callers that count what left (bytesWritten()
// reports only what Qt writes later).
struct Outcome
{
    qsizetype bytesInKernel = 0; // taken by the kernel at once (all of data, or its first part)
    int error = 0; // errno of a direct write the kernel refused (not EAGAIN); Qt then reports it
};

// Writes data to socket, which isPossible() must have accepted. Below 4 KiB, while nothing waits
// in Qt's write buffer, straight to the kernel, so the order of bytes is kept; what the kernel
// does not take at once goes through socket->write(). From 4 KiB on, and whenever something is
// queued already, all of it goes through socket->write() (which queues 4 KiB and more without a
// copy). Returns true when the kernel took everything at once: then nothing is queued and, as
// with an unbuffered QTcpSocket, bytesWritten() reports nothing. outcome, when given, says how
// much the kernel took directly.
bool write(QAbstractSocket *socket, const QByteArray &data, Outcome *outcome = nullptr);

} // namespace WriteThrough

// What the relay and the client need from QWebSocket beyond its public API, in one place.
// Qt 6.4 to 6.8 give no access to the socket a client QWebSocket opens, and no way to stop a
// QWebSocket from reading its socket (the relay reads frames itself, for flow control). Both
// rest on how QWebSocket is built inside, which Qt may change: each function checks that it
// found what it expects, and says so loudly when not (tst_websocketinternals fails then too).
#pragma once

class QAbstractSocket;
class QWebSocket;

namespace WebSocketInternals {

// The socket a client QWebSocket created in open(): its only QAbstractSocket child (Qt 6.4,
// 6.8: QWebSocketPrivate::open() creates it with the QWebSocket as parent). Null before open()
// or after a failed one; null with a warning when there is more than one.
QAbstractSocket *transportOf(QWebSocket *ws);

// Stops ws from reading transport, once its handshake is done: every connection from the
// socket's signals to ws goes but stateChanged() (QWebSocket::state() and disconnected() come
// from it) and destroyed(); so do its frame parser's connections (Qt 6.4, 6.8: a child of
// class QWebSocketDataProcessor) and the parse calls already queued. Returns false, with a
// critical log line, when ws was not reading transport as expected: the caller must not relay.
bool stopReading(QAbstractSocket *transport, QWebSocket *ws);

} // namespace WebSocketInternals

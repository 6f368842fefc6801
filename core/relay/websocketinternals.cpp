#include "websocketinternals.h"

#include "logcategories.h"

#include <QAbstractSocket>
#include <QCoreApplication>
#include <QMetaMethod>
#include <QWebSocket>

namespace WebSocketInternals {

QAbstractSocket *transportOf(QWebSocket *ws)
{
    const auto sockets = ws->findChildren<QAbstractSocket *>(QString(), Qt::FindDirectChildrenOnly);
    if (sockets.size() > 1) {
        qCCritical(lcRelay) << "QWebSocket of Qt" << qVersion() << "has" << sockets.size()
                            << "sockets, not one: its internals changed; cannot relay";
        return nullptr;
    }
    return sockets.isEmpty() ? nullptr : sockets.constFirst();
}

bool stopReading(QAbstractSocket *transport, QWebSocket *ws)
{
    // QWebSocket parses frames in a slot connected to the socket's readyRead(): that one must
    // be there, or QWebSocket reads its socket some other way that this cannot stop.
    const bool wasReading =
        QObject::disconnect(transport, &QAbstractSocket::readyRead, ws, nullptr);
    // By name: destroyed() is also a signal of its own, sharing the connections of
    // destroyed(QObject *).
    const QMetaObject *meta = transport->metaObject();
    for (int i = 0; i < meta->methodCount(); ++i) {
        const QMetaMethod signal = meta->method(i);
        if (signal.methodType() == QMetaMethod::Signal && signal.name() != "stateChanged"
            && signal.name() != "destroyed")
            QObject::disconnect(transport, signal, ws, QMetaMethod());
    }
    // Its frame parser: no more bytes reach it, but its connections are memory in every tunnel.
    int parsers = 0;
    for (QObject *child : ws->children()) {
        if (qstrcmp(child->metaObject()->className(), "QWebSocketDataProcessor") == 0) {
            QObject::disconnect(child, nullptr, ws, nullptr);
            ++parsers;
        }
    }
    // A parse already queued (the client's QWebSocket emits readyRead() for bytes that came
    // with the handshake's answer) would run after this.
    QCoreApplication::removePostedEvents(ws, QEvent::MetaCall);
    if (!wasReading) {
        qCCritical(lcRelay) << "QWebSocket of Qt" << qVersion()
                            << "does not read its socket on readyRead(): its internals changed;"
                               " the tunnel is closed rather than relayed";
        return false;
    }
    if (parsers != 1)
        qCWarning(lcRelay) << "QWebSocket of Qt" << qVersion() << "has" << parsers
                           << "frame parsers, not one: its internals changed (memory per tunnel"
                              " may grow; relaying is unaffected)";
    return true;
}

} // namespace WebSocketInternals

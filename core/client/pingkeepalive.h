// Keep-alive mode "ping": sends an RFC 6455 ping after each interval without frames from the
// server and aborts the WebSocket when no pong arrives within the deadline, so a dead server or
// path is detected and the tunnel closed (the relay then closes the local connection).
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>

class QWebSocket;

class PingKeepAlive : public QObject
{
    Q_OBJECT
public:
    // Becomes a child of ws and lives as long as it does.
    PingKeepAlive(QWebSocket *ws, int intervalMs, int pongTimeoutMs, const QString &description);

Q_SIGNALS:
    void timedOut();

private:
    void sendPing();

    QPointer<QWebSocket> m_ws;
    QTimer m_interval;
    QTimer m_deadline;
    QElapsedTimer m_sinceFrame; // since the last frame from the server
    QString m_description;
};

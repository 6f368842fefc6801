// Keep-alive mode "ping": sends an RFC 6455 ping after each interval without frames from the
// server and aborts the WebSocket when no pong arrives within the deadline, so a dead server or
// path is detected and the tunnel closed (the relay then closes the local connection).
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>

class QWebSocket;
class Relay;

class PingKeepAlive : public QObject
{
    Q_OBJECT
public:
    // Becomes a child of ws and lives as long as it does. The relay reads the server's frames
    // (pongs included) and reports them.
    PingKeepAlive(QWebSocket *ws, Relay *relay, int intervalMs, int pongTimeoutMs,
                  const QString &description);

Q_SIGNALS:
    void timedOut();

private:
    void sendPing();

    QPointer<QWebSocket> m_ws;
    QPointer<Relay> m_relay;
    QTimer m_interval;
    QTimer m_deadline;
    QElapsedTimer m_sinceFrame; // since the last frame from the server
    QString m_description;
};

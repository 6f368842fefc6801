// The client face: listens on a local TCP port and carries each accepted connection through its
// own WebSocket to the server.
#pragma once

#include "clientoptions.h"
#include "tlspolicy.h"

#include <QHostAddress>
#include <QObject>

class BackoffTcpServer;
class QTcpSocket;

class ClientTunnel : public QObject
{
    Q_OBJECT
public:
    explicit ClientTunnel(const ClientOptions &options, QObject *parent = nullptr);
    ~ClientTunnel() override;

    // Starts listening. On failure (port in use, unreadable CA file, bad pin or proxy) returns
    // false with a readable reason.
    bool listen(QString *error);
    void close(); // stops listening; the connections it carries go on
    // Stops listening and closes every connection properly: what is in flight is delivered, then
    // the WebSocket closes with 1001 (going away) and the local connection after its pending
    // bytes; each logs its "tunnel closed" line. drained() follows when none is left (at once,
    // queued, when there was none).
    void shutdown();

    QHostAddress serverAddress() const;
    quint16 serverPort() const;
    int activeConnections() const { return m_activeConnections; }

Q_SIGNALS:
    // A local connection could not be carried (server unreachable, refused, TLS error...).
    // httpStatus: the server's answer to the upgrade request when it answered one (e.g. 404), else
    // 0.
    void connectionFailed(const QString &reason, int httpStatus);
    void transferred(qint64 sentBytes, qint64 receivedBytes);
    void activeConnectionsChanged(int count);
    void drained(); // after shutdown(), the last connection has closed

private:
    void onNewConnection();
    void openWebSocket(QTcpSocket *tcp);

    ClientOptions m_options;
    TlsPolicy m_tls;
    BackoffTcpServer *m_server = nullptr;
    QUrl m_effectiveUrl; // the server URL after permanent redirects (301, 308): where to start
    int m_activeConnections = 0;
    bool m_shuttingDown = false;
    int m_pingIntervalMs = 0; // keep-alive mode ping: the -keepalive interval, else 0
};

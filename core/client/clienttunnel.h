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
    void close();

    QHostAddress serverAddress() const;
    quint16 serverPort() const;
    int activeConnections() const { return m_activeConnections; }

Q_SIGNALS:
    // A local connection could not be carried (server unreachable, refused, TLS error...).
    void connectionFailed(const QString &reason);
    void transferred(qint64 sentBytes, qint64 receivedBytes);
    void activeConnectionsChanged(int count);

private:
    void onNewConnection();
    void openWebSocket(QTcpSocket *tcp);

    ClientOptions m_options;
    TlsPolicy m_tls;
    BackoffTcpServer *m_server = nullptr;
    QUrl m_effectiveUrl; // the server URL after permanent redirects (301, 308): where to start
    int m_activeConnections = 0;
    int m_pingIntervalMs = 0; // keep-alive mode ping: the -keepalive interval, else 0
};

// The client face: listens on a local TCP port and carries each accepted connection through its
// own WebSocket to the server.
#pragma once

#include "clientoptions.h"
#include "tlspolicy.h"
#include "websocketconnector.h"

#include <QHostAddress>
#include <QObject>
#include <functional>

class BackoffTcpServer;
class QTcpSocket;
class Relay;

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

    // How a listener in front of the tunnel (the SOCKS5 proxy) carries a connection it accepted.
    struct Carry
    {
        // The Tow-Destination header value (Destination::headerValue()), or empty for the
        // route's fixed remote.
        QByteArray destination;
        // Called when the WebSocket is open, before the relay starts: the local side may be
        // answered first. The relay is then made and given to relayStarted.
        std::function<void()> opened;
        std::function<void(Relay *)> relayStarted;
        // Called when the WebSocket cannot be opened, instead of closing the local socket: the
        // caller answers it and closes it.
        std::function<void(const WebSocketConnector::Failure &)> failed;
    };
    // Accepted connections go to accept instead of straight into a WebSocket; it later calls
    // carry() (or closes the socket). The socket is a child of this tunnel.
    void setAcceptHandler(std::function<void(QTcpSocket *)> accept)
    {
        m_accept = std::move(accept);
    }
    // Opens a WebSocket for tcp, an accepted socket this tunnel owns, and relays it. context
    // guards the callbacks of carry: none is called once it is gone.
    void carry(QTcpSocket *tcp, const Carry &carry, QObject *context);

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

    ClientOptions m_options;
    TlsPolicy m_tls;
    BackoffTcpServer *m_server = nullptr;
    QUrl m_effectiveUrl; // the server URL after permanent redirects (301, 308): where to start
    int m_activeConnections = 0;
    bool m_shuttingDown = false;
    int m_pingIntervalMs = 0; // keep-alive mode ping: the -keepalive interval, else 0
    std::function<void(QTcpSocket *)> m_accept;
};

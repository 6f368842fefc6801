// The server's listening socket: a QTcpServer that hands out its connections (plain, or TLS once
// the handshake is done) with a bounded read buffer, and finds them again by peer endpoint (a
// relay reads the WebSocket's frames from the very socket QWebSocket runs on).
#pragma once

#include <QHash>
#include <QPointer>
#include <QSslConfiguration>
#include <QTcpServer>

class TunnelTcpServer : public QTcpServer
{
    Q_OBJECT
public:
    explicit TunnelTcpServer(qint64 socketReadBufferBytes, QObject *parent = nullptr);

    // From now on, accepted connections do a TLS server handshake with this configuration
    // first; only encrypted sockets become pending connections. Connections accepted before
    // keep the configuration they started with (a renewed certificate applies to new ones).
    void setTlsConfiguration(const QSslConfiguration &configuration);
    bool isTls() const { return m_tls; }

    // The socket accepted from that peer, if it still exists. QWebSocket reports the peer of the
    // socket it runs on, which is how the server finds the transport of an upgraded connection.
    QTcpSocket *socketFor(const QHostAddress &peerAddress, quint16 peerPort) const;

Q_SIGNALS:
    // A connection was accepted (before any TLS handshake), so its owner can time it out.
    void accepted(QTcpSocket *socket);
    // A TLS handshake failed (plain HTTP on the TLS port, an old protocol, a client that refused
    // our certificate); the socket is closed and deleted.
    void tlsHandshakeFailed(const QHostAddress &peer, const QString &reason);

protected:
    void incomingConnection(qintptr socketDescriptor) override;

private:
    static QString key(const QHostAddress &address, quint16 port);
    void track(QTcpSocket *socket);
    void pruneClosedSockets();

    qint64 m_socketReadBufferBytes;
    bool m_tls = false;
    QSslConfiguration m_tlsConfiguration;

    // QHttpServer (6.4) disconnects every signal of a socket it upgrades, so entries cannot be
    // removed on destroyed(): QPointer notices instead, and stale entries are pruned.
    QHash<QString, QPointer<QTcpSocket>> m_sockets;
    qsizetype m_sizeAfterPrune = 0;
};

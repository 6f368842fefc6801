// The server's listening socket: a QTcpServer that reports its connections (plain, or TLS once
// the handshake is done) with a bounded read buffer, and hands to the HTTP server bound to it
// only those its owner chooses.
#pragma once

#include "net/backofftcpserver.h"
#include "net/sharedtlscontext.h"

#include <QSslConfiguration>
#include <deque>

class QSslSocket;

class TunnelTcpServer : public BackoffTcpServer
{
    Q_OBJECT
public:
    explicit TunnelTcpServer(qint64 socketReadBufferBytes, QObject *parent = nullptr);

    // From now on, accepted connections do a TLS server handshake with this configuration
    // first; only encrypted sockets become pending connections. Connections accepted before
    // keep the configuration they started with (a renewed certificate applies to new ones).
    // All connections of one configuration share one TLS context (SharedTlsContext): it is
    // built once, and a client can resume a session on any of them.
    void setTlsConfiguration(const QSslConfiguration &configuration);
    bool isTls() const { return m_tls; }
    // Whether the socket uses the TLS context of the current configuration (for tests).
    bool sharesTlsContext(QSslSocket *socket) const { return m_tlsContext.isUsedBy(socket); }
    // TLS handshakes in progress at once; beyond it the oldest is closed (tlsHandshakeEvicted).
    void setMaxTlsHandshakes(int count) { m_maxTlsHandshakes = qMax(1, count); }
    int tlsHandshakesInProgress() const { return int(m_handshaking.size()); }

    // Gives a connection to the QHttpServer bound to this server (as a pending connection).
    void handOverToHttp(QTcpSocket *socket);

Q_SIGNALS:
    // A connection was accepted (before any TLS handshake), so its owner can time it out.
    void accepted(QTcpSocket *socket);
    // The connection can speak HTTP now (at once, or once its TLS handshake is done). It is a
    // child of this server until someone takes it.
    void ready(QTcpSocket *socket);
    // A TLS handshake failed (plain HTTP on the TLS port, an old protocol, a client that refused
    // our certificate); the socket is closed and deleted.
    void tlsHandshakeFailed(const QHostAddress &peer, const QString &reason);
    // A TLS handshake was closed unfinished to make room for a newer one.
    void tlsHandshakeEvicted(const QHostAddress &peer);

protected:
    void incomingConnection(qintptr socketDescriptor) override;

private:
    void prepare(QTcpSocket *socket);
    void handshakeEnded(QSslSocket *socket);

    qint64 m_socketReadBufferBytes;
    bool m_tls = false;
    QSslConfiguration m_tlsConfiguration;
    SharedTlsContext m_tlsContext; // of m_tlsConfiguration, once a connection has built it
    int m_maxTlsHandshakes = 64;
    std::deque<QSslSocket *> m_handshaking; // oldest first; removed as each one ends
};

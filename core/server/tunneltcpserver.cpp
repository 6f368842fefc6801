#include "tunneltcpserver.h"

#include "logcategories.h"
#include "relay/writethrough.h"

#include <QSslSocket>
#include <algorithm>

TunnelTcpServer::TunnelTcpServer(qint64 socketReadBufferBytes, QObject *parent)
    : BackoffTcpServer(lcServer, parent), m_socketReadBufferBytes(socketReadBufferBytes)
{
}

void TunnelTcpServer::setTlsConfiguration(const QSslConfiguration &configuration)
{
    m_tls = true;
    m_tlsConfiguration = configuration;
    // Qt caches the last session of a context for a client to resume (as the socket's
    // sessionTicket()); a server has no use for it and would hand it to the next connection.
    m_tlsConfiguration.setSslOption(QSsl::SslOptionDisableSessionSharing, true);
    // The next connection builds the context of the new configuration (handshakes in progress
    // finish with the old one; their sessions do not resume with the new one).
    m_tlsContext.drop();
}

void TunnelTcpServer::handOverToHttp(QTcpSocket *socket)
{
    addPendingConnection(socket); // emits pendingConnectionAvailable(), QHttpServer's cue
}

void TunnelTcpServer::incomingConnection(qintptr socketDescriptor)
{
    if (!m_tls) {
        auto *socket = new QTcpSocket(this);
        if (!socket->setSocketDescriptor(socketDescriptor)) {
            delete socket;
            return;
        }
        prepare(socket);
        Q_EMIT ready(socket);
        return;
    }

    // What QSslServer does, reporting to our owner rather than to a QHttpServer: the connection
    // is ready only once encrypted. Until then the socket is ours to delete; a client that never
    // completes the handshake is closed by the owner's handshake timeout (see accepted()).
    auto *socket = new QSslSocket(this);
    if (!socket->setSocketDescriptor(socketDescriptor)) {
        delete socket;
        return;
    }
    socket->setSslConfiguration(m_tlsConfiguration);
    connect(socket, &QSslSocket::encrypted, this, [this, socket] {
        handshakeEnded(socket);
        Q_EMIT ready(socket);
    });
    connect(socket, &QSslSocket::errorOccurred, this, [this, socket] {
        handshakeEnded(socket);
        Q_EMIT tlsHandshakeFailed(socket->peerAddress(), socket->errorString());
        socket->abort();
        socket->deleteLater();
    });
    // Closed before the handshake ended without an error: aborted by the handshake timeout, an
    // eviction (ours or the pending connections'), or the client.
    connect(socket, &QSslSocket::disconnected, this, [this, socket] {
        handshakeEnded(socket);
        socket->deleteLater();
    });
    // A handshake holds OpenSSL's state and buffers from its start: beyond the limit the oldest
    // one still in progress makes room (a client that starts handshakes and stops pushes out its
    // own; a real client's takes milliseconds, so it is seldom the oldest).
    m_handshaking.push_back(socket);
    if (qsizetype(m_handshaking.size()) > m_maxTlsHandshakes) {
        QSslSocket *oldest = m_handshaking.front();
        handshakeEnded(oldest);
        Q_EMIT tlsHandshakeEvicted(oldest->peerAddress());
        oldest->abort();
        oldest->deleteLater();
    }
    prepare(socket);
    const bool shared = m_tlsContext.give(socket);
    socket->startServerEncryption();
    if (!shared)
        m_tlsContext.keepFrom(socket); // built it just now, synchronously
}

void TunnelTcpServer::handshakeEnded(QSslSocket *socket)
{
    socket->disconnect(this);
    const auto it = std::find(m_handshaking.begin(), m_handshaking.end(), socket);
    if (it != m_handshaking.end())
        m_handshaking.erase(it);
}

void TunnelTcpServer::prepare(QTcpSocket *socket)
{
    // An accepted connection has no proxy; saying so lets the relay write to it directly.
    WriteThrough::setDirect(socket);
    socket->setReadBufferSize(m_socketReadBufferBytes);
    Q_EMIT accepted(socket);
}

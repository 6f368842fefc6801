#include "tunneltcpserver.h"

#include "relay/writethrough.h"

#include <QSslSocket>

TunnelTcpServer::TunnelTcpServer(qint64 socketReadBufferBytes, QObject *parent)
    : QTcpServer(parent), m_socketReadBufferBytes(socketReadBufferBytes)
{
}

void TunnelTcpServer::setTlsConfiguration(const QSslConfiguration &configuration)
{
    m_tls = true;
    m_tlsConfiguration = configuration;
}

QTcpSocket *TunnelTcpServer::socketFor(const QHostAddress &peerAddress, quint16 peerPort) const
{
    return m_sockets.value(key(peerAddress, peerPort)).data();
}

void TunnelTcpServer::incomingConnection(qintptr socketDescriptor)
{
    if (!m_tls) {
        auto *socket = new QTcpSocket(this);
        if (!socket->setSocketDescriptor(socketDescriptor)) {
            delete socket;
            return;
        }
        track(socket);
        addPendingConnection(socket);
        return;
    }

    // What QSslServer (Qt 6.4) does, with sockets we track: the HTTP server sees the connection
    // only once it is encrypted. Until then the socket is ours to delete; a client that never
    // completes the handshake is closed by the owner's handshake timeout (see accepted()).
    auto *socket = new QSslSocket(this);
    if (!socket->setSocketDescriptor(socketDescriptor)) {
        delete socket;
        return;
    }
    socket->setSslConfiguration(m_tlsConfiguration);
    connect(socket, &QSslSocket::encrypted, this, [this, socket] {
        socket->disconnect(this);
        addPendingConnection(socket); // emits pendingConnectionAvailable(), QHttpServer's cue
    });
    connect(socket, &QSslSocket::errorOccurred, this, [this, socket] {
        socket->disconnect(this);
        Q_EMIT tlsHandshakeFailed(socket->peerAddress(), socket->errorString());
        socket->abort();
        socket->deleteLater();
    });
    // Closed before the handshake ended without an error: aborted by the handshake timeout.
    connect(socket, &QSslSocket::disconnected, this, [this, socket] {
        socket->disconnect(this);
        socket->deleteLater();
    });
    track(socket);
    socket->startServerEncryption();
}

void TunnelTcpServer::track(QTcpSocket *socket)
{
    // An accepted connection has no proxy; saying so lets the relay write to it directly.
    WriteThrough::setDirect(socket);
    socket->setReadBufferSize(m_socketReadBufferBytes);
    m_sockets.insert(key(socket->peerAddress(), socket->peerPort()), socket);
    if (m_sockets.size() > 2 * m_sizeAfterPrune + 64)
        pruneClosedSockets();
    Q_EMIT accepted(socket);
}

void TunnelTcpServer::pruneClosedSockets()
{
    m_sockets.removeIf([](const auto &entry) { return entry.value().isNull(); });
    m_sizeAfterPrune = m_sockets.size();
}

QString TunnelTcpServer::key(const QHostAddress &address, quint16 port)
{
    return address.toString() + QLatin1Char('#') + QString::number(port);
}

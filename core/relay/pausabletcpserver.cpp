#include "pausabletcpserver.h"

#include "pausabletcpsocket.h"

PausableTcpServer::PausableTcpServer(qint64 socketReadBufferBytes, QObject *parent)
    : QTcpServer(parent), m_socketReadBufferBytes(socketReadBufferBytes)
{
}

QTcpSocket *PausableTcpServer::socketFor(const QHostAddress &peerAddress, quint16 peerPort) const
{
    return m_sockets.value(key(peerAddress, peerPort)).data();
}

void PausableTcpServer::incomingConnection(qintptr socketDescriptor)
{
    auto *socket = new PausableTcpSocket(this);
    if (!socket->setSocketDescriptor(socketDescriptor)) {
        delete socket;
        return;
    }
    track(socket);
    addPendingConnection(socket);
}

void PausableTcpServer::track(QTcpSocket *socket)
{
    socket->setReadBufferSize(m_socketReadBufferBytes);
    m_sockets.insert(key(socket->peerAddress(), socket->peerPort()), socket);
    if (m_sockets.size() > 2 * m_sizeAfterPrune + 64)
        pruneClosedSockets();
    Q_EMIT accepted(socket);
}

void PausableTcpServer::pruneClosedSockets()
{
    m_sockets.removeIf([](const auto &entry) { return entry.value().isNull(); });
    m_sizeAfterPrune = m_sockets.size();
}

QString PausableTcpServer::key(const QHostAddress &address, quint16 port)
{
    return address.toString() + QLatin1Char('#') + QString::number(port);
}

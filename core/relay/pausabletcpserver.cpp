#include "pausabletcpserver.h"

#include "pausabletcpsocket.h"

namespace {
constexpr int kListenBacklog = 1024;
}

PausableTcpServer::PausableTcpServer(qint64 socketReadBufferBytes, QObject *parent)
    : QTcpServer(parent), m_socketReadBufferBytes(socketReadBufferBytes)
{
}

PausableTcpSocket *PausableTcpServer::socketFor(const QHostAddress &peerAddress,
                                                quint16 peerPort) const
{
    return m_sockets.value(key(peerAddress, peerPort), nullptr);
}

void PausableTcpServer::incomingConnection(qintptr socketDescriptor)
{
    auto *socket = new PausableTcpSocket(this);
    if (!socket->setSocketDescriptor(socketDescriptor)) {
        delete socket;
        return;
    }
    socket->setReadBufferSize(m_socketReadBufferBytes);
    const QString k = key(socket->peerAddress(), socket->peerPort());
    m_sockets.insert(k, socket);
    connect(socket, &QObject::destroyed, this, [this, k, socket] {
        const auto it = m_sockets.constFind(k);
        if (it != m_sockets.cend() && it.value() == socket)
            m_sockets.erase(it);
    });
    addPendingConnection(socket);
}

QString PausableTcpServer::key(const QHostAddress &address, quint16 port)
{
    return address.toString() + QLatin1Char('#') + QString::number(port);
}

#include "droppingwebsocketserver.h"

#include "endpoints.h"

#include <QTcpSocket>

DroppingWebSocketServer::DroppingWebSocketServer(int closeCode, QObject *parent)
    : QTcpServer(parent), m_closeCode(closeCode)
{
}

void DroppingWebSocketServer::incomingConnection(qintptr descriptor)
{
    auto *peer = new QTcpSocket(this);
    peer->setSocketDescriptor(descriptor);
    connect(peer, &QTcpSocket::disconnected, peer, &QObject::deleteLater);
    connect(peer, &QTcpSocket::readyRead, peer, [this, peer] {
        if (!peer->property("upgraded").toBool()) {
            if (!peer->peek(64 * 1024).contains("\r\n\r\n"))
                return; // the whole request head first
            peer->write(switchingProtocolsAnswer(peer->readAll()));
            peer->setProperty("upgraded", true);
            return;
        }
        peer->readAll();
        if (m_closeCode) {
            const char close[] = {char(0x88), 2, char(m_closeCode >> 8), char(m_closeCode & 0xff)};
            peer->write(close, sizeof close);
        }
        peer->disconnectFromHost();
    });
}

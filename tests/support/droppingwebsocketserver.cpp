#include "droppingwebsocketserver.h"

#include <QCryptographicHash>
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
            const QByteArray request = peer->readAll();
            const qsizetype at = request.indexOf("Sec-WebSocket-Key: ") + 19;
            const QByteArray key = request.mid(at, request.indexOf("\r\n", at) - at);
            const QByteArray accept =
                QCryptographicHash::hash(QByteArray(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
                                         QCryptographicHash::Sha1)
                    .toBase64();
            peer->write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                        + accept + "\r\n\r\n");
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

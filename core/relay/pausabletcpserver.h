// A QTcpServer that hands out pausable sockets and finds them again by peer endpoint.
#pragma once

#include <QHash>
#include <QPointer>
#include <QTcpServer>

class PausableTcpServer : public QTcpServer
{
    Q_OBJECT
public:
    explicit PausableTcpServer(qint64 socketReadBufferBytes, QObject *parent = nullptr);

    // The socket accepted from that peer, if it still exists. QWebSocket reports the peer of the
    // socket it runs on, which is how the server finds the transport of an upgraded connection.
    QTcpSocket *socketFor(const QHostAddress &peerAddress, quint16 peerPort) const;

Q_SIGNALS:
    // A connection was accepted, so its owner can time it out.
    void accepted(QTcpSocket *socket);

protected:
    void incomingConnection(qintptr socketDescriptor) override;

private:
    static QString key(const QHostAddress &address, quint16 port);
    void track(QTcpSocket *socket);
    void pruneClosedSockets();

    qint64 m_socketReadBufferBytes;

    // QHttpServer (6.4) disconnects every signal of a socket it upgrades, so entries cannot be
    // removed on destroyed(): QPointer notices instead, and stale entries are pruned.
    QHash<QString, QPointer<QTcpSocket>> m_sockets;
    qsizetype m_sizeAfterPrune = 0;
};

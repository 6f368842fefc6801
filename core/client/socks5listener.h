// The client as a SOCKS5 proxy: accepts SOCKS5 clients (RFC 1928, CONNECT; RFC 1929
// user/password when configured) and carries each connection through its own WebSocket to the
// destination it names, which the server resolves and checks (Tow-Destination). The SOCKS client
// hears the outcome as a reply code; only after a success are bytes relayed.
#pragma once

#include "clientoptions.h"
#include "socks5handshake.h"
#include "websocketconnector.h"

#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QString>

class ClientTunnel;
class QTcpSocket;

class Socks5Listener : public QObject
{
    Q_OBJECT
public:
    // What goes to one destination ("host:port" as the SOCKS client named it) right now.
    struct DestinationCount
    {
        int openTunnels = 0;
        qint64 sentBytes = 0; // from the SOCKS clients towards the destination, of open tunnels
        qint64 receivedBytes = 0; // from the destination, of open tunnels
    };

    // options.socks5Listen is where to listen; the rest as for a port forward (proxy, TLS,
    // token, headers, keep-alive). options.listen is not used.
    explicit Socks5Listener(const ClientOptions &options, QObject *parent = nullptr);
    ~Socks5Listener() override;

    bool listen(QString *error);
    void close(); // stops listening; open tunnels go on
    void shutdown(); // as ClientTunnel::shutdown(); handshakes in progress are dropped

    QHostAddress serverAddress() const;
    quint16 serverPort() const;
    // The connection path it shares with port forwards: its transferred(),
    // activeConnectionsChanged(), connectionFailed() and drained() signals are this proxy's.
    ClientTunnel *tunnel() const { return m_tunnel; }

    // Destinations with open tunnels. An entry goes when its last tunnel closes (the number of
    // names a browser visits has no bound; destinationClosed() has each tunnel's totals).
    QHash<QString, DestinationCount> destinations() const { return m_destinations; }

    // The reply code a SOCKS client gets when the WebSocket to its destination failed.
    static Socks5Handshake::Reply replyFor(const WebSocketConnector::Failure &failure);

Q_SIGNALS:
    void destinationOpened(const QString &hostPort);
    // A tunnel to hostPort closed after carrying these bytes.
    void destinationClosed(const QString &hostPort, qint64 sentBytes, qint64 receivedBytes);
    // The counts of destinations() changed (opened, closed or bytes moved).
    void destinationsChanged();

private:
    void onAccepted(QTcpSocket *tcp);
    void readHandshake(QTcpSocket *tcp, Socks5Handshake *handshake, QObject *session);
    void connectTo(QTcpSocket *tcp, const HostPort &destination);
    void answerAndClose(QTcpSocket *tcp, const QByteArray &answer);

    ClientOptions m_options;
    ClientTunnel *m_tunnel = nullptr;
    QHash<QString, DestinationCount> m_destinations;
};

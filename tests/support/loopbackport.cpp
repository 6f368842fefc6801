#include "loopbackport.h"

#include <QTcpServer>
#include <QTcpSocket>

namespace {

constexpr int kStepTimeoutMs = 10000;

} // namespace

quint16 reserveLoopbackPort()
{
    // QTcpServer sets SO_REUSEADDR (Qt on Unix); the connection it accepts inherits it, and so a
    // server given the port later may listen while that connection waits in TIME_WAIT.
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = server.serverPort();
#if defined(Q_OS_LINUX)
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, port);
    if (!client.waitForConnected(kStepTimeoutMs) || !server.waitForNewConnection(kStepTimeoutMs))
        return 0;
    QTcpSocket *accepted = server.nextPendingConnection();
    // The side that closes first is the one left in TIME_WAIT: the accepted one, on port. The
    // client sees the close and closes too, which completes the handshake that leads there.
    accepted->close();
    if (client.state() != QAbstractSocket::UnconnectedState
        && !client.waitForDisconnected(kStepTimeoutMs))
        return 0;
#endif
    return port;
}

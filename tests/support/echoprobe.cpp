#include "echoprobe.h"

#include <QHostAddress>
#include <QTcpSocket>
#include <QTest>

bool echoThrough(quint16 port, QString *why, int timeoutMs)
{
    // Waits with the event loop running: the EchoServer usually lives in the test's own thread.
    const QByteArray message = QByteArrayLiteral("hello through the tunnel\n");
    QTcpSocket socket;
    QByteArray received;
    bool closed = false;
    QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                     [&] { received += socket.readAll(); });
    QObject::connect(&socket, &QTcpSocket::disconnected, &socket, [&] { closed = true; });
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!QTest::qWaitFor([&] { return socket.state() == QAbstractSocket::ConnectedState; },
                         timeoutMs)) {
        *why = QStringLiteral("cannot connect to port %1: %2").arg(port).arg(socket.errorString());
        return false;
    }
    socket.write(message);
    const bool settled =
        QTest::qWaitFor([&] { return closed || received.size() >= message.size(); }, timeoutMs);
    Q_UNUSED(settled) // judged by what was received
    if (received == message)
        return true;
    *why = received.isEmpty() ? QStringLiteral("nothing came back (%1)")
                                    .arg(closed ? QStringLiteral("the local connection was closed")
                                                : QStringLiteral("timed out"))
                              : QStringLiteral("got \"%1\"").arg(QString::fromUtf8(received));
    return false;
}

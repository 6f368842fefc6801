// TcpKeepAlive on a loopback connection: keep-alive on, with Go's timing where the platform
// lets us read it back.
#include "net/tcpkeepalive.h"

#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#ifdef Q_OS_UNIX
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

class TestTcpKeepAlive : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void enablesWithGoTiming();
    void refusesUnconnectedSocket();
};

namespace {

#ifdef Q_OS_UNIX
int tcpOption(const QAbstractSocket &socket, int option)
{
    int value = -1;
    socklen_t size = sizeof value;
    if (getsockopt(int(socket.socketDescriptor()), IPPROTO_TCP, option, &value, &size) != 0)
        return -1;
    return value;
}
#endif

} // namespace

void TestTcpKeepAlive::enablesWithGoTiming()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(socket.waitForConnected(5000));
    QCOMPARE(socket.socketOption(QAbstractSocket::KeepAliveOption).toInt(), 0);

    QVERIFY(TcpKeepAlive::enable(&socket));
    QVERIFY(socket.socketOption(QAbstractSocket::KeepAliveOption).toInt() != 0);
#ifdef Q_OS_UNIX
#if defined(TCP_KEEPIDLE)
    QCOMPARE(tcpOption(socket, TCP_KEEPIDLE), TcpKeepAlive::kIdleSeconds);
#elif defined(TCP_KEEPALIVE)
    QCOMPARE(tcpOption(socket, TCP_KEEPALIVE), TcpKeepAlive::kIdleSeconds);
#endif
#if defined(TCP_KEEPINTVL)
    QCOMPARE(tcpOption(socket, TCP_KEEPINTVL), TcpKeepAlive::kIntervalSeconds);
#endif
#if defined(TCP_KEEPCNT)
    QCOMPARE(tcpOption(socket, TCP_KEEPCNT), TcpKeepAlive::kProbes);
#endif
#endif
    // The connection still carries bytes.
    QVERIFY(server.waitForNewConnection(5000));
    QTcpSocket *peer = server.nextPendingConnection();
    socket.write("ping");
    QVERIFY(socket.waitForBytesWritten(5000));
    QVERIFY(peer->waitForReadyRead(5000));
    QCOMPARE(peer->readAll(), QByteArray("ping"));
}

void TestTcpKeepAlive::refusesUnconnectedSocket()
{
    QTcpSocket socket;
    QVERIFY(!TcpKeepAlive::enable(&socket));
    QVERIFY(!TcpKeepAlive::enable(nullptr));
}

QTEST_GUILESS_MAIN(TestTcpKeepAlive)
#include "tst_tcpkeepalive.moc"

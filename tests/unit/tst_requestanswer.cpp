// RequestDispatcher::answer() on a connection whose client is already gone: the answer's write
// fails, Qt aborts the socket at once, and the socket must still be deleted (a client that
// resets right after its request must not leave a socket object behind on the server).
#include "server/requestdispatcher.h"

#include <QNetworkProxy>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <poll.h>
#include <sys/socket.h>

class TestRequestAnswer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void answerToAResetClientDeletesTheSocket();
};

void TestRequestAnswer::answerToAResetClientDeletesTheSocket()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QTcpSocket client;
    client.setProxy(QNetworkProxy::NoProxy);
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(client.waitForConnected(5000));
    QVERIFY(server.waitForNewConnection(5000));
    QPointer<QTcpSocket> accepted = server.nextPendingConnection();
    QVERIFY(accepted);

    // The client resets (SO_LINGER 0), and the reset reaches the server's socket before its
    // event loop runs again: Qt does not know yet, the answer's write is what finds out.
    const linger resetOnClose {1, 0};
    QCOMPARE(::setsockopt(int(client.socketDescriptor()), SOL_SOCKET, SO_LINGER, &resetOnClose,
                          sizeof resetOnClose),
             0);
    client.abort();
    pollfd arrived {int(accepted->socketDescriptor()), POLLIN, 0};
    QCOMPARE(::poll(&arrived, 1, 10000), 1);
    QVERIFY(arrived.revents & (POLLERR | POLLHUP));

    RequestDispatcher::answer(accepted, 401, {}, QByteArrayLiteral("token needed"));
    QTRY_VERIFY_WITH_TIMEOUT(accepted.isNull(), 10000);
}

QTEST_GUILESS_MAIN(TestRequestAnswer)
#include "tst_requestanswer.moc"

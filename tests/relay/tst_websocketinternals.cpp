// What the relay relies on inside QWebSocket (WebSocketInternals): if a Qt version changes it,
// this test fails, as the relay then refuses to relay (see websocketinternals.h).
#include "relay/websocketinternals.h"

#include <QHostAddress>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>
#include <QWebSocket>
#include <QWebSocketServer>
#include <memory>

class TestWebSocketInternals : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void clientSocketIsFoundAndStopsBeingRead();
    void noSocketBeforeOpen();
};

void TestWebSocketInternals::clientSocketIsFoundAndStopsBeingRead()
{
    QWebSocketServer server(QStringLiteral("test"), QWebSocketServer::NonSecureMode);
    QVERIFY(server.listen(QHostAddress::LocalHost));
    std::unique_ptr<QWebSocket> serverSide;
    connect(&server, &QWebSocketServer::newConnection, this,
            [&] { serverSide.reset(server.nextPendingConnection()); });

    QWebSocket client;
    QSignalSpy connected(&client, &QWebSocket::connected);
    client.open(QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(server.serverPort())));
    QAbstractSocket *transport = WebSocketInternals::transportOf(&client);
    QVERIFY(transport); // created by open(), before it connects
    QTRY_COMPARE(connected.size(), 1);
    QTRY_VERIFY(serverSide);
    QCOMPARE(transport->peerPort(), server.serverPort());
    QCOMPARE(WebSocketInternals::transportOf(&client), transport);

    QSignalSpy messages(&client, &QWebSocket::binaryMessageReceived);
    QSignalSpy disconnected(&client, &QWebSocket::disconnected);
    QVERIFY(WebSocketInternals::stopReading(transport, &client));

    // Bytes reach the socket but QWebSocket no longer parses them: they are the relay's.
    serverSide->sendBinaryMessage(QByteArray("hello"));
    serverSide->flush();
    QTRY_VERIFY(transport->bytesAvailable() >= 7); // 2 header bytes + 5
    QCoreApplication::processEvents();
    QCOMPARE(messages.size(), 0);
    QCOMPARE(transport->peek(7), QByteArray::fromHex("8205") + "hello");

    // Its state still follows the socket's (Relay reads QWebSocket::state()).
    serverSide->abort();
    QTRY_COMPARE(disconnected.size(), 1);
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
}

void TestWebSocketInternals::noSocketBeforeOpen()
{
    QWebSocket ws;
    QCOMPARE(WebSocketInternals::transportOf(&ws), nullptr);
    // A socket QWebSocket does not read is refused, loudly.
    QTcpSocket other;
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("internals changed")));
    QVERIFY(!WebSocketInternals::stopReading(&other, &ws));
}

QTEST_GUILESS_MAIN(TestWebSocketInternals)
#include "tst_websocketinternals.moc"

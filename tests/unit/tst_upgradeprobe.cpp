// The upgrade request the client sends a second time to read a redirect's Location: the same
// request as QWebSocket's (Host as Qt writes it, the resource with its query, the configured
// headers, a later one replacing an earlier one of the same name), and what it reads from a real
// loopback server's answer.
#include "client/upgradeprobe.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

class TestUpgradeProbe : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void requestHead_data();
    void requestHead();
    void readsStatusAndLocation_data();
    void readsStatusAndLocation();
};

void TestUpgradeProbe::requestHead_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("serverName");
    QTest::addColumn<QByteArray>("requestLine");
    QTest::addColumn<QByteArray>("host");

    QTest::newRow("default port") << "ws://example.org/ssh/"
                                  << "" << QByteArray("GET /ssh/ HTTP/1.1")
                                  << QByteArray("example.org");
    QTest::newRow("port and query")
        << "wss://example.org:8443/a%20b?x=1&token=t"
        << "" << QByteArray("GET /a%20b?x=1&token=t HTTP/1.1") << QByteArray("example.org:8443");
    QTest::newRow("IPv6") << "ws://[::1]:9000"
                          << "" << QByteArray("GET / HTTP/1.1") << QByteArray("[::1]:9000");
    QTest::newRow("server name") << "wss://203.0.113.7/ssh/"
                                 << "example.org" << QByteArray("GET /ssh/ HTTP/1.1")
                                 << QByteArray("example.org");
    QTest::newRow("user info never sent")
        << "ws://alice:pw@example.org:81/"
        << "" << QByteArray("GET / HTTP/1.1") << QByteArray("example.org:81");
}

void TestUpgradeProbe::requestHead()
{
    QFETCH(QString, url);
    QFETCH(QString, serverName);
    QFETCH(QByteArray, requestLine);
    QFETCH(QByteArray, host);
    UpgradeProbe::Request request;
    request.url = QUrl(url);
    request.serverName = serverName;
    request.headers = {{"Authorization", "Basic one"},
                       {"X-Team", "ops"},
                       {"authorization", "Bearer two"},
                       {"X-Bad", "a\r\nInjected: yes"}};
    const QByteArray head = UpgradeProbe::requestHead(request, "a2V5");
    QVERIFY(head.endsWith("\r\n\r\n"));
    const QList<QByteArray> lines = head.chopped(2).split('\n');
    QCOMPARE(lines.at(0), requestLine + '\r');
    QVERIFY(lines.contains("Host: " + host + '\r'));
    QVERIFY(lines.contains("Upgrade: websocket\r"));
    QVERIFY(lines.contains("Connection: Upgrade\r"));
    QVERIFY(lines.contains("Sec-WebSocket-Key: a2V5\r"));
    QVERIFY(lines.contains("Sec-WebSocket-Version: 13\r"));
    // The later Authorization replaces the earlier one, in its place, as setRawHeader() does.
    QVERIFY(lines.contains("Authorization: Bearer two\r"));
    QVERIFY(!head.contains("Basic one"));
    QVERIFY(lines.contains("X-Team: ops\r"));
    QVERIFY(!head.contains("Injected"));
    QVERIFY(!head.contains("alice") && !head.contains("pw"));
}

void TestUpgradeProbe::readsStatusAndLocation_data()
{
    QTest::addColumn<QByteArray>("answer");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("location");
    QTest::addColumn<bool>("failed");

    QTest::newRow("302") << QByteArray("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n"
                                       "location:  /next?a=1 \r\n\r\n")
                         << 302 << QByteArray("/next?a=1") << false;
    QTest::newRow("308 with a body")
        << QByteArray("HTTP/1.1 308 Permanent Redirect\r\nLocation: ws://h/\r\n\r\nbody") << 308
        << QByteArray("ws://h/") << false;
    QTest::newRow("101 is not kept open")
        << QByteArray("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n") << 101
        << QByteArray() << false;
    QTest::newRow("not HTTP") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n\r\n") << 0 << QByteArray()
                              << true;
    QTest::newRow("closed before the head ends")
        << QByteArray("HTTP/1.1 302 Found\r\n") << 0 << QByteArray() << true;
}

void TestUpgradeProbe::readsStatusAndLocation()
{
    QFETCH(QByteArray, answer);
    QFETCH(int, status);
    QFETCH(QByteArray, location);
    QFETCH(bool, failed);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QByteArray received;
    connect(&server, &QTcpServer::newConnection, this, [&] {
        QTcpSocket *socket = server.nextPendingConnection();
        connect(socket, &QTcpSocket::readyRead, socket, [&, socket] {
            received += socket->readAll();
            if (!received.endsWith("\r\n\r\n"))
                return;
            // Two writes: the probe must wait for the end of the head.
            const qsizetype half = answer.size() / 2;
            socket->write(answer.left(half));
            socket->flush();
            socket->write(answer.mid(half));
            socket->disconnectFromHost();
        });
    });

    UpgradeProbe probe {TlsPolicy()};
    QSignalSpy finished(&probe, &UpgradeProbe::finished);
    UpgradeProbe::Request request;
    request.url = QUrl(QStringLiteral("ws://127.0.0.1:%1/old").arg(server.serverPort()));
    request.proxy = QNetworkProxy(QNetworkProxy::NoProxy);
    probe.start(request);
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 10000);
    const auto result = finished.at(0).at(0).value<UpgradeProbe::Answer>();
    QVERIFY(received.startsWith("GET /old HTTP/1.1\r\n"));
    QCOMPARE(result.status, status);
    QCOMPARE(result.location, location);
    QCOMPARE(!result.error.isEmpty(), failed);
}

QTEST_GUILESS_MAIN(TestUpgradeProbe)
#include "tst_upgradeprobe.moc"

// How the server sorts each connection's first request (RequestDispatcher), seen from a client
// on the wire with the real executable: broken upgrades get an HTTP answer and are counted,
// the "binary" subprotocol is chosen when offered, bytes that would leave a hole in the stream
// are refused, and Qt's HTTP server never sees an upgrade.
#include "rawwebsocket.h"
#include "towprocess.h"

#include <QFile>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

namespace {

const QByteArray kKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const QByteArray kUpgrade = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    + kKey + "\r\n";

// Sends bytes in one write and returns everything the server answers until it closes.
QByteArray exchange(quint16 port, const QByteArray &bytes)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!socket.waitForConnected(5000))
        return QByteArray();
    socket.write(bytes);
    QByteArray answer;
    while (socket.state() == QAbstractSocket::ConnectedState && socket.waitForReadyRead(10000))
        answer += socket.readAll();
    return answer + socket.readAll();
}

QByteArray httpGet(quint16 port, const QByteArray &path)
{
    return exchange(port,
                    "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

double metric(quint16 port, const QByteArray &sample)
{
    for (const QByteArray &line : httpGet(port, "/metrics").split('\n')) {
        if (line.startsWith(QByteArray(sample + ' ')))
            return line.mid(sample.size() + 1).toDouble();
    }
    return -1;
}

} // namespace

class TestRequestDispatch : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void brokenUpgradeIsAnswered_data();
    void brokenUpgradeIsAnswered();
    void binarySubprotocolIsChosen_data();
    void binarySubprotocolIsChosen();
    void bytesBeforeTheAnswerAreRefused_data();
    void bytesBeforeTheAnswerAreRefused();
    void upgradeAfterPlainRequestIsRefused();
    void everyPathIsATunnelWithoutConfig();
    void connectionCloseIsHonoured();
    void refusedUpgradesLogOnlyOurLines();

private:
    bool startServer(TowProcess &server, const QStringList &extra = {});

    QTcpServer m_remote; // accepts, never answers: a tunnel's remote that is reachable
    QTemporaryDir m_dir;
};

void TestRequestDispatch::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(m_remote.listen(QHostAddress::LocalHost));
}

bool TestRequestDispatch::startServer(TowProcess &server, const QStringList &extra)
{
    const QStringList arguments = {"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                                   QStringLiteral("127.0.0.1:%1").arg(m_remote.serverPort())};
    if (!server.start(arguments + extra)) {
        qWarning().noquote() << server.log();
        return false;
    }
    return true;
}

void TestRequestDispatch::brokenUpgradeIsAnswered_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QByteArray>("statusLine");
    QTest::addColumn<QByteArray>("header");

    // What curl -H 'Upgrade: websocket' -H 'Connection: Upgrade' sends: no key.
    QTest::newRow("no key") << QByteArray(kUpgrade).replace(kKey, "")
                            << QByteArray("HTTP/1.1 400 Bad Request") << QByteArray();
    QTest::newRow("version 8") << QByteArray(kUpgrade).replace("Version: 13", "Version: 8")
                               << QByteArray("HTTP/1.1 426 Upgrade Required")
                               << QByteArray("Sec-WebSocket-Version: 13");
    QTest::newRow("chunked") << QByteArray(kUpgrade).replace("Host:",
                                                             "Transfer-Encoding: chunked\r\nHost:")
                             << QByteArray("HTTP/1.1 400 Bad Request") << QByteArray();
    QTest::newRow("no Host") << QByteArray(kUpgrade).replace("Host: 127.0.0.1\r\n", "")
                             << QByteArray("HTTP/1.1 400 Bad Request") << QByteArray();
}

void TestRequestDispatch::brokenUpgradeIsAnswered()
{
    QFETCH(QByteArray, request);
    QFETCH(QByteArray, statusLine);
    QFETCH(QByteArray, header);
    TowProcess server;
    QVERIFY(startServer(server));
    const QByteArray answer = exchange(server.port(), request);
    QVERIFY2(answer.startsWith(QByteArray(statusLine + "\r\n")), answer.constData());
    if (!header.isEmpty())
        QVERIFY2(answer.contains(QByteArray("\r\n" + header + "\r\n")), answer.constData());
    // Counted as the original counts a failed upgrade, and as ours by reason.
    QCOMPARE(metric(server.port(), "http_to_tcp_error{type=\"upgrade\"}"), 1.0);
    QCOMPARE(metric(server.port(),
                    "tcp_over_websocket_handshake_failures_total{reason=\"bad_request\"}"),
             1.0);
    QCOMPARE(metric(server.port(), "http_to_tcp_connections{type=\"tcp\"}"), 0.0);
    // The log names the client and the answer.
    QTRY_VERIFY2(server.log().contains("127.0.0.1 - upgrade on / refused: "
                                       + QString::fromLatin1(statusLine.mid(9, 3))),
                 qPrintable(server.log()));
    QCOMPARE(server.stop(), 0);
    QVERIFY2(!server.log().contains("device not open"), qPrintable(server.log()));
}

void TestRequestDispatch::binarySubprotocolIsChosen_data()
{
    QTest::addColumn<QByteArray>("offer");
    QTest::addColumn<QByteArray>("chosen");
    QTest::newRow("binary") << QByteArray("binary") << QByteArray("binary");
    QTest::newRow("base64 then binary") << QByteArray("base64, binary") << QByteArray("binary");
    QTest::newRow("base64 only") << QByteArray("base64") << QByteArray();
    QTest::newRow("nothing offered") << QByteArray() << QByteArray();
}

void TestRequestDispatch::binarySubprotocolIsChosen()
{
    QFETCH(QByteArray, offer);
    QFETCH(QByteArray, chosen);
    TowProcess server;
    QVERIFY(startServer(server));
    RawWebSocket ws;
    QList<QByteArray> headers;
    if (!offer.isEmpty())
        headers.append("Sec-WebSocket-Protocol: " + offer);
    QCOMPARE(ws.upgrade(server.port(), "/", headers), 101);
    const QByteArray head = ws.responseHead().toLower();
    if (chosen.isEmpty())
        QVERIFY2(!head.contains("sec-websocket-protocol"), head.constData());
    else
        QVERIFY2(head.contains(QByteArray("\r\nsec-websocket-protocol: " + chosen + "\r\n")),
                 head.constData());
    ws.socket().abort(); // the tunnel ends with it, so the server stops at once
    QCOMPARE(server.stop(), 0);
}

void TestRequestDispatch::bytesBeforeTheAnswerAreRefused_data()
{
    QTest::addColumn<QByteArray>("behind");
    // A data frame in the same write as the upgrade: relayed after the handshake it would have
    // been lost (QWebSocket took it), a hole in the stream.
    QTest::newRow("data frame") << RawWebSocket::frame(RawWebSocket::Binary, "first bytes");
    // A plain request behind the upgrade: QWebSocket answered it with a masked close frame.
    QTest::newRow("plain request") << QByteArray("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
}

void TestRequestDispatch::bytesBeforeTheAnswerAreRefused()
{
    QFETCH(QByteArray, behind);
    TowProcess server;
    QVERIFY(startServer(server));
    const QByteArray answer = exchange(server.port(), kUpgrade + behind);
    QVERIFY2(answer.startsWith("HTTP/1.1 400 Bad Request\r\n"), answer.constData());
    QVERIFY2(answer.contains("before the handshake was answered"), answer.constData());
    QVERIFY(!answer.contains(" 101 "));
    QCOMPARE(metric(server.port(), "http_to_tcp_connections{type=\"http\"}"), 0.0);
    QCOMPARE(metric(server.port(), "tcp_over_websocket_active_tunnels{route=\"/\"}"), 0.0);
    QCOMPARE(server.stop(), 0);
}

void TestRequestDispatch::upgradeAfterPlainRequestIsRefused()
{
    TowProcess server;
    QVERIFY(startServer(server));
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, server.port());
    QVERIFY(socket.waitForConnected(5000));
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    QByteArray first;
    while (!first.endsWith("ok\n") && socket.waitForReadyRead(10000))
        first += socket.readAll();
    QVERIFY2(first.startsWith("HTTP/1.1 200"), first.constData());
    // Same connection, kept alive: an upgrade now is refused by us, not handled by QHttpServer.
    socket.write(kUpgrade);
    QByteArray second;
    while (socket.state() == QAbstractSocket::ConnectedState && socket.waitForReadyRead(10000))
        second += socket.readAll();
    second += socket.readAll();
    QVERIFY2(second.startsWith("HTTP/1.1 400 Bad Request\r\n"), second.constData());
    QVERIFY(second.contains("first request on its connection"));
    QCOMPARE(server.stop(), 0);
    QVERIFY2(!server.log().contains("qt.httpserver"), qPrintable(server.log()));
}

void TestRequestDispatch::everyPathIsATunnelWithoutConfig()
{
    TowProcess server;
    QVERIFY(startServer(server));
    // A client pointed at a sub-path, or nginx passing /ssh/ on (proxy_pass without a trailing
    // slash), as the original allows.
    for (const QByteArray &path : {QByteArray("/ssh/"), QByteArray("/a/b?x=1")}) {
        RawWebSocket ws;
        QCOMPARE(ws.upgrade(server.port(), path), 101);
        ws.socket().abort();
    }
    // The server's own pages stay its own.
    for (const QByteArray &path : {QByteArray("/metrics"), QByteArray("/healthz")}) {
        RawWebSocket ws;
        QCOMPARE(ws.upgrade(server.port(), path), 404);
    }
    QVERIFY(httpGet(server.port(), "/healthz").startsWith("HTTP/1.1 200"));
    // Counted under the one route.
    QTRY_COMPARE(metric(server.port(), "tcp_over_websocket_tunnels_total{route=\"/\"}"), 2.0);
    QCOMPARE(server.stop(), 0);
}

void TestRequestDispatch::connectionCloseIsHonoured()
{
    // The handshake timeout (which ends idle keep-alive connections anyway) far away: the
    // connection must end because the client asked, not because time ran out.
    TowProcess server;
    QVERIFY(startServer(server, {"--handshake-timeout", "600"}));
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, server.port());
    QVERIFY(socket.waitForConnected(5000));
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, 60000);
    QVERIFY(socket.readAll().startsWith("HTTP/1.1 200"));
    QCOMPARE(server.stop(), 0);
}

void TestRequestDispatch::refusedUpgradesLogOnlyOurLines()
{
    QFile token(m_dir.filePath("token"));
    QVERIFY(token.open(QIODevice::WriteOnly));
    token.write("right-token\n");
    token.close();
    TowProcess server;
    QVERIFY(startServer(server, {"--token-file", token.fileName()}));
    constexpr int kAttempts = 60;
    for (int i = 0; i < kAttempts; ++i) {
        RawWebSocket ws;
        QCOMPARE(ws.upgrade(server.port(), "/", {"Authorization: Bearer wrong-token"}), 401);
    }
    QCOMPARE(metric(server.port(),
                    "tcp_over_websocket_handshake_failures_total{reason=\"unauthorized\"}"),
             double(kAttempts));
    QCOMPARE(server.stop(), 0);
    const QString log = server.log();
    QVERIFY2(!log.contains("WebSocket received but no slots"), qPrintable(log));
    // At most 20 refusal lines in 10 s, then one line that counts the rest.
    QVERIFY2(log.count(QStringLiteral("refused: 401")) <= 20, qPrintable(log));
    QVERIFY2(!log.contains("wrong-token"), "a token reached the log");
}

QTEST_GUILESS_MAIN(TestRequestDispatch)
#include "tst_requestdispatch.moc"

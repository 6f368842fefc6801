// Reading an HTTP request head as the server's dispatcher does, and judging WebSocket upgrades.
#include "server/httprequesthead.h"

#include <QTest>

namespace {

const QByteArray kGoodUpgrade = "GET /ssh/?token=a%20b HTTP/1.1\r\n"
                                "Host: example.org\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: keep-alive, Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "\r\n";

// kGoodUpgrade with one field line replaced (or removed, with an empty replacement).
QByteArray upgradeWith(const QByteArray &field, const QByteArray &line)
{
    QByteArray request;
    for (const QByteArray &existing : kGoodUpgrade.split('\n')) {
        if (existing.isEmpty())
            continue;
        if (existing.startsWith(QByteArray(field + ':'))) {
            if (!line.isEmpty())
                request += line + "\r\n";
        } else {
            request += existing + '\n';
        }
    }
    return request;
}

} // namespace

class TestHttpRequestHead : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void readsAGoodUpgrade();
    void connectionClose_data();
    void connectionClose();
    void parse_data();
    void parse();
    void upgradeProblems_data();
    void upgradeProblems();
    void plainRequestsWithAmbiguousLength_data();
    void plainRequestsWithAmbiguousLength();
};

void TestHttpRequestHead::readsAGoodUpgrade()
{
    HttpRequestHead head;
    qsizetype headBytes = 0;
    const QByteArray frame = QByteArray::fromHex("8200");
    QCOMPARE(HttpRequestHead::parse(kGoodUpgrade + frame, &head, &headBytes),
             HttpRequestHead::Parse::Complete);
    QCOMPARE(headBytes, kGoodUpgrade.size()); // what follows the head is not part of it
    QCOMPARE(head.method(), QByteArray("GET"));
    QCOMPARE(head.path(), QStringLiteral("/ssh/"));
    QCOMPARE(head.query().queryItemValue(QStringLiteral("token"), QUrl::FullyDecoded),
             QStringLiteral("a b"));
    QCOMPARE(head.value("host"), QByteArray("example.org"));
    QVERIFY(head.asksForWebSocket());
    QVERIFY(head.hasToken("connection", "upgrade")); // any case, in a list
    QCOMPARE(head.upgradeProblem().status, 0);
    QVERIFY(!head.wantsClose());
}

void TestHttpRequestHead::connectionClose_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<bool>("close");
    QTest::newRow("1.1") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n\r\n") << false;
    QTest::newRow("1.1 close") << QByteArray("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n") << true;
    QTest::newRow("1.0") << QByteArray("GET / HTTP/1.0\r\n\r\n") << true;
    QTest::newRow("1.0 keep-alive")
        << QByteArray("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") << false;
}

void TestHttpRequestHead::connectionClose()
{
    QFETCH(QByteArray, request);
    QFETCH(bool, close);
    HttpRequestHead head;
    qsizetype headBytes = 0;
    QCOMPARE(HttpRequestHead::parse(request, &head, &headBytes), HttpRequestHead::Parse::Complete);
    QCOMPARE(head.wantsClose(), close);
}

void TestHttpRequestHead::parse_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<int>("result");

    const int complete = int(HttpRequestHead::Parse::Complete);
    const int incomplete = int(HttpRequestHead::Parse::Incomplete);
    const int malformed = int(HttpRequestHead::Parse::Malformed);
    const int tooLarge = int(HttpRequestHead::Parse::TooLarge);
    QTest::newRow("plain GET") << QByteArray("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
                               << complete;
    QTest::newRow("HTTP/1.0") << QByteArray("GET / HTTP/1.0\r\n\r\n") << complete;
    QTest::newRow("empty lines before")
        << QByteArray("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") << complete;
    QTest::newRow("nothing yet") << QByteArray() << incomplete;
    QTest::newRow("half a request line") << QByteArray("GET /me") << incomplete;
    QTest::newRow("head not ended") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n") << incomplete;
    QTest::newRow("TLS to the plain port")
        << QByteArray::fromHex("160301020001000200030304") + QByteArray(20, 'x') << malformed;
    QTest::newRow("binary garbage line") << QByteArray("\x01\x02\x03 / HTTP/1.1\r\n") << malformed;
    QTest::newRow("HTTP/2 preface") << QByteArray("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") << malformed;
    QTest::newRow("two spaces") << QByteArray("GET  / HTTP/1.1\r\n\r\n") << malformed;
    QTest::newRow("space before colon")
        << QByteArray("GET / HTTP/1.1\r\nHost : a\r\n\r\n") << malformed;
    QTest::newRow("folded field") << QByteArray("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")
                                  << malformed;
    QTest::newRow("bare LF") << QByteArray("GET / HTTP/1.1\nHost: a\r\n\r\n") << malformed;
    QTest::newRow("control character")
        << QByteArray("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n") << malformed;
    QTest::newRow("endless head") << (QByteArray("GET / HTTP/1.1\r\n") + QByteArray("X: ")
                                      + QByteArray(70 * 1024, 'a'))
                                  << tooLarge;
}

void TestHttpRequestHead::parse()
{
    QFETCH(QByteArray, bytes);
    QFETCH(int, result);
    HttpRequestHead head;
    qsizetype headBytes = 0;
    QCOMPARE(int(HttpRequestHead::parse(bytes, &head, &headBytes)), result);
}

void TestHttpRequestHead::upgradeProblems_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");

    QTest::newRow("no key") << upgradeWith("Sec-WebSocket-Key", {}) << 400;
    QTest::newRow("3-byte key") << upgradeWith("Sec-WebSocket-Key", "Sec-WebSocket-Key: YWJj")
                                << 400;
    QTest::newRow("key not base64")
        << upgradeWith("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!") << 400;
    QTest::newRow("no version") << upgradeWith("Sec-WebSocket-Version", {}) << 400;
    QTest::newRow("version 8") << upgradeWith("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")
                               << 426;
    QTest::newRow("versions 13, 8")
        << upgradeWith("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8") << 400;
    QTest::newRow("Connection without upgrade")
        << upgradeWith("Connection", "Connection: keep-alive") << 400;
    QTest::newRow("no Host") << upgradeWith("Host", {}) << 400;
    QTest::newRow("POST") << ("POST" + kGoodUpgrade.mid(3)) << 400;
    QTest::newRow("chunked") << upgradeWith("Host", "Host: a\r\nTransfer-Encoding: chunked") << 400;
    QTest::newRow("a body") << upgradeWith("Host", "Host: a\r\nContent-Length: 5") << 400;
    QTest::newRow("two Content-Length")
        << upgradeWith("Host", "Host: a\r\nContent-Length: 0\r\nContent-Length: 0") << 400;
    QTest::newRow("Content-Length 0 is fine")
        << upgradeWith("Host", "Host: a\r\nContent-Length: 0") << 0;
    QTest::newRow("Upgrade in a list") << upgradeWith("Upgrade", "Upgrade: websocket, foo") << 400;
    QTest::newRow("Upgrade in any case") << upgradeWith("Upgrade", "Upgrade: WebSocket") << 0;
    QTest::newRow("Host with user") << upgradeWith("Host", "Host: u@example.org") << 400;
    QTest::newRow("Host with port") << upgradeWith("Host", "Host: [::1]:8080") << 0;
    QTest::newRow("upgrade only in a second Connection")
        << upgradeWith("Connection", "Connection: keep-alive\r\nConnection: upgrade") << 400;
}

void TestHttpRequestHead::upgradeProblems()
{
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    HttpRequestHead head;
    qsizetype headBytes = 0;
    QCOMPARE(HttpRequestHead::parse(request, &head, &headBytes), HttpRequestHead::Parse::Complete);
    QVERIFY(head.asksForWebSocket());
    const HttpRequestHead::Problem problem = head.upgradeProblem();
    QCOMPARE(problem.status, status);
    QCOMPARE(problem.reason.isEmpty(), status == 0); // a refusal says why
}

void TestHttpRequestHead::plainRequestsWithAmbiguousLength_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::newRow("one length") << QByteArray("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n") << 0;
    QTest::newRow("two lengths") << QByteArray(
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
                                 << 400;
    QTest::newRow("length and chunked")
        << QByteArray("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
                      "\r\n\r\n")
        << 400;
}

void TestHttpRequestHead::plainRequestsWithAmbiguousLength()
{
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    HttpRequestHead head;
    qsizetype headBytes = 0;
    QCOMPARE(HttpRequestHead::parse(request, &head, &headBytes), HttpRequestHead::Parse::Complete);
    QVERIFY(!head.asksForWebSocket());
    QCOMPARE(head.framingProblem().status, status);
}

QTEST_GUILESS_MAIN(TestHttpRequestHead)
#include "tst_httprequesthead.moc"

// Dynamic routes (issue 23) with the real executable on loopback: the client names the
// destination in Tow-Destination, the server checks it against --allow-destination and the
// default denials, reaches it before answering the upgrade, and answers what it cannot reach
// with an HTTP status and a Tow-Error token. Name resolution is tested inside a network and mount
// namespace of its own (unshare), with a DNS server of ours that tries to rebind a name.
#include "endpoints.h"
#include "loopbackport.h"
#include "rawwebsocket.h"
#include "towprocess.h"

#include <QAtomicInt>
#include <QCoreApplication>
#include <QFile>
#include <QSemaphore>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <cstring>

namespace {

const QByteArray kUpgradeHead = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// An echo server on its own thread (the test's RawWebSocket calls block), on one address.
class EchoThread : public QThread
{
public:
    explicit EchoThread(const QHostAddress &address) : m_address(address) { }
    quint16 start()
    {
        QThread::start();
        m_ready.acquire();
        return quint16(m_port.loadAcquire());
    }
    ~EchoThread() override
    {
        quit();
        wait();
    }

protected:
    void run() override
    {
        EchoServer echo;
        echo.listen(m_address);
        m_port.storeRelease(echo.serverPort());
        m_ready.release();
        exec();
    }

private:
    QHostAddress m_address;
    QSemaphore m_ready;
    QAtomicInt m_port;
};

// Sends bytes in one write and returns everything the server answers until it closes.
QByteArray exchange(quint16 port, const QByteArray &bytes)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!socket.waitForConnected(5000))
        return QByteArray();
    socket.write(bytes);
    QByteArray answer;
    while (socket.state() == QAbstractSocket::ConnectedState && socket.waitForReadyRead(20000))
        answer += socket.readAll();
    return answer + socket.readAll();
}

// The whole answer to an upgrade that names destination (none: no header).
QByteArray upgradeTo(quint16 port, const QByteArray &destination)
{
    QByteArray request = kUpgradeHead;
    if (!destination.isNull())
        request += "Tow-Destination: " + destination + "\r\n";
    return exchange(port, request + "\r\n");
}

double metric(quint16 port, const QByteArray &sample)
{
    const QByteArray body =
        exchange(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    for (const QByteArray &line : body.split('\n')) {
        if (line.startsWith(QByteArray(sample + ' ')))
            return line.mid(sample.size() + 1).toDouble();
    }
    return -1;
}

// Opens a tunnel to destination (none: no header) and checks that bytes go both ways through
// it, intact. Returns an empty string or what went wrong.
QString echoThrough(quint16 port, const QByteArray &destination)
{
    RawWebSocket ws;
    QList<QByteArray> headers;
    if (!destination.isNull())
        headers.append("Tow-Destination: " + destination);
    const int status = ws.upgrade(port, "/", headers);
    if (status != 101)
        return QStringLiteral("upgrade answered %1: %2")
            .arg(status)
            .arg(QString::fromLatin1(ws.responseHead()));
    const QByteArray data = patternBytes(23, 200 * 1024);
    for (qsizetype offset = 0; offset < data.size(); offset += 16 * 1024) {
        if (!ws.sendBinary(data.mid(offset, 16 * 1024)))
            return QStringLiteral("could not send");
    }
    const QByteArray back = ws.readBinary(data.size(), 20000);
    if (sha256(back) != sha256(data))
        return QStringLiteral("%1 of %2 bytes came back, not the same")
            .arg(back.size())
            .arg(data.size());
    return QString();
}

const QByteArray kRefusalsMetric = "tcp_over_websocket_destination_refusals_total{route=\"/\"}";
const QByteArray kUnreachableMetric = "http_to_tcp_error{type=\"dial_tcp\"}";

} // namespace

class TestDynamicRoutes : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void allowedDestinationRelaysBothWays();
    void loopbackIsRefusedByDefault_data();
    void loopbackIsRefusedByDefault();
    void networkOutsideTheListIsRefused();
    void malformedDestinationIsRefused_data();
    void malformedDestinationIsRefused();
    void refusedPortAnswers502();
    void clientWithoutDestinationGetsTheFixedRemote();
    void dynamicOnlyRouteNeedsADestination();
    void fixedRouteTakesNoDestination();
    void namesResolveOnceInANamespace();

private:
    bool startServer(TowProcess &server, const QStringList &arguments);

    EchoThread m_echo {QHostAddress::LocalHost};
    quint16 m_echoPort = 0;
};

void TestDynamicRoutes::initTestCase()
{
    m_echoPort = m_echo.start();
    QVERIFY(m_echoPort != 0);
}

bool TestDynamicRoutes::startServer(TowProcess &server, const QStringList &arguments)
{
    if (!server.start(QStringList {"server", "-listen_ws", "127.0.0.1:0"} + arguments)) {
        qWarning().noquote() << server.log();
        return false;
    }
    return true;
}

void TestDynamicRoutes::allowedDestinationRelaysBothWays()
{
    // An explicit loopback entry is the one way to reach loopback.
    const QString echo = QStringLiteral("127.0.0.1:%1").arg(m_echoPort);
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", echo}));
    const QString failure = echoThrough(server.port(), echo.toLatin1());
    QVERIFY2(failure.isEmpty(), qPrintable(failure + QLatin1Char('\n') + server.log()));
    QCOMPARE(metric(server.port(), kRefusalsMetric), 0.0);
    QCOMPARE(metric(server.port(), "http_to_tcp_connections{type=\"tcp\"}"), 1.0);
}

void TestDynamicRoutes::loopbackIsRefusedByDefault_data()
{
    QTest::addColumn<QString>("rule");
    QTest::addColumn<QByteArray>("destination");

    // A pattern that takes everything does not take loopback, by address or by name.
    QTest::newRow("star, address") << "*:*" << QByteArray("127.0.0.1:%1");
    QTest::newRow("star, localhost") << "*:*" << QByteArray("localhost:%1");
    QTest::newRow("all of IPv4") << "0.0.0.0/0:*" << QByteArray("127.0.0.1:%1");
    QTest::newRow("name pattern") << "localhost:*" << QByteArray("localhost:%1");
    QTest::newRow("unspecified") << "*:*" << QByteArray("0.0.0.0:%1");
}

void TestDynamicRoutes::loopbackIsRefusedByDefault()
{
    QFETCH(QString, rule);
    QFETCH(QByteArray, destination);
    destination.replace("%1", QByteArray::number(m_echoPort));
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", rule}));
    QCOMPARE(metric(server.port(), kRefusalsMetric), 0.0);
    const QByteArray answer = upgradeTo(server.port(), destination);
    QVERIFY2(answer.startsWith("HTTP/1.1 403 "), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: not-allowed\r\n"), answer.constData());
    QVERIFY2(answer.contains("not allowed"), answer.constData());
    QCOMPARE(metric(server.port(), kRefusalsMetric), 1.0);
    QTRY_VERIFY(server.log().contains("refused: 403 not-allowed"));
}

void TestDynamicRoutes::networkOutsideTheListIsRefused()
{
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", "10.0.0.0/8:1-65535"}));
    const QByteArray answer = upgradeTo(server.port(), "192.0.2.1:80");
    QVERIFY2(answer.startsWith("HTTP/1.1 403 "), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: not-allowed\r\n"), answer.constData());
    // A port the list does not name either.
    const QByteArray udp = upgradeTo(server.port(), "udp/10.0.0.1:53");
    QVERIFY2(udp.startsWith("HTTP/1.1 403 "), udp.constData());
    QCOMPARE(metric(server.port(), kRefusalsMetric), 2.0);
}

void TestDynamicRoutes::malformedDestinationIsRefused_data()
{
    QTest::addColumn<QByteArray>("destination");
    QTest::newRow("no port") << QByteArray("example.org");
    QTest::newRow("ipv6 without brackets") << QByteArray("::1:80");
    QTest::newRow("empty") << QByteArray("");
}

void TestDynamicRoutes::malformedDestinationIsRefused()
{
    QFETCH(QByteArray, destination);
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", "*:*"}));
    const QByteArray answer = upgradeTo(server.port(), destination);
    QVERIFY2(answer.startsWith("HTTP/1.1 400 "), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: bad-destination\r\n"), answer.constData());
    QCOMPARE(metric(server.port(), kRefusalsMetric), 1.0);
}

void TestDynamicRoutes::refusedPortAnswers502()
{
    const quint16 closed = reserveLoopbackPort();
    QVERIFY(closed != 0);
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", "127.0.0.1:1-65535"}));
    const QByteArray answer = upgradeTo(server.port(), "127.0.0.1:" + QByteArray::number(closed));
    QVERIFY2(answer.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: refused\r\n"), answer.constData());
    QCOMPARE(metric(server.port(), kUnreachableMetric), 1.0);
    QCOMPARE(metric(server.port(), kRefusalsMetric), 0.0);
}

void TestDynamicRoutes::clientWithoutDestinationGetsTheFixedRemote()
{
    // The original client names nothing: -remote_tcp, as before, beside the allow list.
    TowProcess server;
    QVERIFY(startServer(server,
                        {"-remote_tcp", QStringLiteral("127.0.0.1:%1").arg(m_echoPort),
                         "--allow-destination", "10.0.0.0/8:1-65535"}));
    const QString failure = echoThrough(server.port(), QByteArray());
    QVERIFY2(failure.isEmpty(), qPrintable(failure + QLatin1Char('\n') + server.log()));
    // And a destination it names is checked, not sent to the fixed remote.
    const QByteArray answer =
        upgradeTo(server.port(), "127.0.0.1:" + QByteArray::number(m_echoPort));
    QVERIFY2(answer.startsWith("HTTP/1.1 403 "), answer.constData());
}

void TestDynamicRoutes::dynamicOnlyRouteNeedsADestination()
{
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", "*:*"}));
    const QByteArray answer = upgradeTo(server.port(), QByteArray());
    QVERIFY2(answer.startsWith("HTTP/1.1 403 "), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: not-allowed\r\n"), answer.constData());
    QVERIFY2(answer.contains("needs a destination"), answer.constData());
}

void TestDynamicRoutes::fixedRouteTakesNoDestination()
{
    TowProcess server;
    QVERIFY(startServer(server, {"-remote_tcp", QStringLiteral("127.0.0.1:%1").arg(m_echoPort)}));
    const QByteArray answer =
        upgradeTo(server.port(), "127.0.0.1:" + QByteArray::number(m_echoPort));
    QVERIFY2(answer.startsWith("HTTP/1.1 403 "), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: not-allowed\r\n"), answer.constData());
    QVERIFY2(answer.contains("takes no destination"), answer.constData());
    // The route's own clients are served as ever.
    const QString failure = echoThrough(server.port(), QByteArray());
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
}

void TestDynamicRoutes::namesResolveOnceInANamespace()
{
    // This executable again, in a user, network and mount namespace of its own: only loopback,
    // and a resolv.conf that points at our DNS server on 127.0.0.1:53 (see inNamespace()).
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile resolv(dir.filePath(QStringLiteral("resolv.conf")));
    QVERIFY(resolv.open(QIODevice::WriteOnly));
    resolv.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n");
    resolv.close();
    QProcess inner;
    inner.setProcessChannelMode(QProcess::MergedChannels);
    inner.start(QStringLiteral("unshare"),
                {"-r", "-n", "-m", "sh", "-c",
                 "ip link set lo up && mount --bind \"$1\" /etc/resolv.conf && exec \"$2\" "
                 "--in-namespace",
                 "sh", resolv.fileName(), QCoreApplication::applicationFilePath()});
    QVERIFY2(inner.waitForFinished(120000), "the namespace run did not end");
    const QString output = QString::fromLocal8Bit(inner.readAll());
    QVERIFY2(inner.exitStatus() == QProcess::NormalExit && inner.exitCode() == 0,
             qPrintable(output));
    QVERIFY2(output.contains(QLatin1String("all namespace checks passed")), qPrintable(output));
}

// ---- inside the namespace --------------------------------------------------------------------

namespace {

#define NS_CHECK(condition, what)                                                                  \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            qWarning().noquote() << "FAILED:" << (what);                                           \
            return 1;                                                                              \
        }                                                                                          \
        qInfo().noquote() << "ok:" << #condition;                                                  \
    } while (false)

// A listener that must never be connected to: an address the server refuses.
int countConnections(QTcpServer &trap)
{
    int count = 0;
    while (trap.waitForNewConnection(0)) {
        delete trap.nextPendingConnection();
        ++count;
    }
    return count;
}

int inNamespace()
{
    QTemporaryDir dir;
    if (!dir.isValid())
        return 1;
    // 127.0.0.2 is allowed, 127.0.0.1 is not: the system sorts 127.0.0.1 (the source address)
    // first, so a server that skipped the check would try it first.
    EchoThread echo {QHostAddress(QStringLiteral("127.0.0.2"))};
    const quint16 port = echo.start();
    QTcpServer trap;
    NS_CHECK(port != 0 && trap.listen(QHostAddress::LocalHost, port),
             QStringLiteral("listen on 127.0.0.2 and 127.0.0.1, port %1").arg(port));

    const QString dnsLog = dir.filePath(QStringLiteral("dns.log"));
    QProcess dns;
    dns.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    dns.start(QStringLiteral("python3"),
              {QStringLiteral(TOW_TEST_SUPPORT_DIR "/rebindingdns.py"), "127.0.0.1", "53", dnsLog,
               "rebind.test=127.0.0.2/127.0.0.1", "multi.test=127.0.0.1,127.0.0.2"});
    NS_CHECK(dns.waitForReadyRead(10000) && dns.readLine().trimmed() == "ready",
             QStringLiteral("the DNS server started"));

    TowProcess server;
    const QString allowed = QStringLiteral("127.0.0.2:%1").arg(port);
    if (!server.start({"server", "-listen_ws", "127.0.0.1:0", "--allow-destination", allowed,
                       "--allow-destination", "10.0.0.0/8:1-65535"})) {
        qWarning().noquote() << server.log();
        return 1;
    }
    const QByteArray portText = QByteArray::number(port);

    // DNS rebinding: the name resolves to the allowed address once and to a refused one on
    // every later query. The tunnel reaches the allowed one and the name is looked up once.
    QString failure = echoThrough(server.port(), "rebind.test:" + portText);
    NS_CHECK(failure.isEmpty(), failure + QLatin1Char('\n') + server.log());
    QFile log(dnsLog);
    NS_CHECK(log.open(QIODevice::ReadOnly), QStringLiteral("read the DNS log"));
    const QList<QByteArray> queries = log.readAll().split('\n');
    NS_CHECK(
        queries.count("A rebind.test") == 1,
        QStringLiteral("one A query for rebind.test, not %1").arg(queries.count("A rebind.test")));
    NS_CHECK(countConnections(trap) == 0, QStringLiteral("nothing connected to 127.0.0.1"));

    // A name with several addresses, only one allowed: only that one is connected to.
    failure = echoThrough(server.port(), "multi.test:" + portText);
    NS_CHECK(failure.isEmpty(), failure + QLatin1Char('\n') + server.log());
    NS_CHECK(countConnections(trap) == 0, QStringLiteral("nothing connected to 127.0.0.1"));

    // A name that resolves only to refused addresses: 403, nothing connected.
    QByteArray answer = upgradeTo(server.port(), "localhost:" + portText);
    NS_CHECK(answer.startsWith("HTTP/1.1 403 ") && answer.contains("Tow-Error: not-allowed"),
             QString::fromLatin1(answer));

    // A name that does not resolve.
    answer = upgradeTo(server.port(), "nothing.invalid:" + portText);
    NS_CHECK(answer.startsWith("HTTP/1.1 502 ") && answer.contains("Tow-Error: no-such-host"),
             QString::fromLatin1(answer));

    // An allowed network without a route here.
    answer = upgradeTo(server.port(), "10.9.9.9:" + portText);
    NS_CHECK(answer.startsWith("HTTP/1.1 502 ")
                 && answer.contains("Tow-Error: network-unreachable"),
             QString::fromLatin1(answer));
    NS_CHECK(metric(server.port(), kUnreachableMetric) == 2.0,
             QStringLiteral("two unreachable destinations counted"));
    NS_CHECK(metric(server.port(), kRefusalsMetric) == 1.0,
             QStringLiteral("one refused destination counted"));
    NS_CHECK(countConnections(trap) == 0, QStringLiteral("nothing connected to 127.0.0.1"));

    server.stop();
    dns.kill();
    dns.waitForFinished();
    qInfo() << "all namespace checks passed";
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc > 1 && std::strcmp(argv[1], "--in-namespace") == 0)
        return inNamespace();
    TestDynamicRoutes test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_dynamicroutes.moc"

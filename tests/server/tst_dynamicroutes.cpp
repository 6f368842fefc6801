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
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QSemaphore>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <arpa/inet.h>
#include <csignal>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

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
    void refusalKeepsResolvedAddressesInTheLog();
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

void TestDynamicRoutes::refusalKeepsResolvedAddressesInTheLog()
{
    // What a name resolved to, and why that address is denied, is for the operator: told to the
    // client, it would make the server a DNS oracle for names it may not reach (internal names
    // under an allowed domain, any name on a route with a network entry) and point out the
    // server's own addresses.
    TowProcess server;
    QVERIFY(startServer(server, {"--allow-destination", "*:*"}));
    const QByteArray answer =
        upgradeTo(server.port(), "localhost:" + QByteArray::number(m_echoPort));
    QVERIFY2(answer.startsWith("HTTP/1.1 403 "), answer.constData());
    QVERIFY2(answer.contains("\r\nTow-Error: not-allowed\r\n"), answer.constData());
    QVERIFY2(answer.contains(
                 QByteArray("localhost:" + QByteArray::number(m_echoPort) + " is not allowed")),
             answer.constData());
    QVERIFY2(!answer.contains("127.0.0.1") && !answer.contains("::1")
                 && !answer.contains("loopback"),
             answer.constData());
    QTRY_VERIFY2(server.log().contains("127.0.0.1 (loopback)"), qPrintable(server.log()));
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
    // This executable again, in a network and mount namespace of its own: only loopback,
    // and a resolv.conf that points at our DNS server on 127.0.0.1:53 (see inNamespace()).
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile resolv(dir.filePath(QStringLiteral("resolv.conf")));
    QVERIFY(resolv.open(QIODevice::WriteOnly));
    // A server that does not answer is waited for longer than a destination may take (10 s):
    // the silent names of our DNS server stay unresolved until the checks release them.
    resolv.write("nameserver 127.0.0.1\noptions attempts:1 timeout:30\n");
    resolv.close();
    QProcess inner;
    inner.setProcessChannelMode(QProcess::MergedChannels);
    // As root, network and mount namespaces need no user namespace, and a chroot (CI's Debian 13
    // run) refuses to create one; otherwise a user namespace maps us to its root.
    QStringList arguments;
    if (::geteuid() != 0)
        arguments << QStringLiteral("-r");
    arguments << QStringList {"-n",
                              "-m",
                              "sh",
                              "-c",
                              "ip link set lo up && ip route add unreachable 10.98.0.0/16 && "
                              "mount --bind \"$1\" /etc/resolv.conf && exec \"$2\" --in-namespace",
                              "sh",
                              resolv.fileName(),
                              QCoreApplication::applicationFilePath()};
    inner.start(QStringLiteral("unshare"), arguments);
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

// A listener on 127.0.0.3 whose accept queue is full: further connections to it hang (Linux drops
// their SYNs), as to a host that does not answer. Returns its port; 0 on failure.
quint16 hangingListener(int *fd)
{
    *fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.3", &address.sin_addr);
    socklen_t length = sizeof(address);
    if (*fd < 0 || ::bind(*fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0
        || ::listen(*fd, 0) != 0
        || ::getsockname(*fd, reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return 0;
    return ntohs(address.sin_port);
}

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
               "rebind.test=127.0.0.2/127.0.0.1", "multi.test=127.0.0.1,127.0.0.2",
               "other.test=127.0.0.2", "*.silent.test=silent"});
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

    // An allowed network whose route says unreachable.
    answer = upgradeTo(server.port(), "10.98.1.1:" + portText);
    NS_CHECK(answer.startsWith("HTTP/1.1 502 ") && answer.contains("Tow-Error: host-unreachable"),
             QString::fromLatin1(answer));

    // An address the server gains while it runs (DHCP, a container joining a network) is its own
    // too, inside an allowed network or not: read again after at most a second.
    NS_CHECK(QProcess::execute(QStringLiteral("ip"), {"addr", "add", "10.55.0.1/32", "dev", "lo"})
                 == 0,
             QStringLiteral("add 10.55.0.1 to lo"));
    QTcpServer gained;
    NS_CHECK(gained.listen(QHostAddress(QStringLiteral("10.55.0.1"))),
             QStringLiteral("listen on 10.55.0.1"));
    QThread::msleep(1500); // past the age at which the server reads its addresses again
    {
        // Not upgradeTo(): a tunnel it opened by mistake would stay open.
        RawWebSocket ws;
        const int status =
            ws.upgrade(server.port(), "/",
                       {"Tow-Destination: 10.55.0.1:" + QByteArray::number(gained.serverPort())});
        NS_CHECK(status == 403 && ws.responseHead().contains("Tow-Error: not-allowed"),
                 QString::fromLatin1(ws.responseHead()));
    }
    NS_CHECK(countConnections(gained) == 0, QStringLiteral("nothing connected to 10.55.0.1"));
    server.stop();

    // A destination that does not answer: 504 after the connect timeout (10 s), which the
    // shorter handshake timeout does not cut.
    int hangingFd = -1;
    const quint16 hangingPort = hangingListener(&hangingFd);
    NS_CHECK(hangingPort != 0, QStringLiteral("a listener on 127.0.0.3"));
    QTcpSocket filler; // fills the accept queue
    filler.connectToHost(QStringLiteral("127.0.0.3"), hangingPort);
    NS_CHECK(filler.waitForConnected(5000), QStringLiteral("the accept queue is filled"));
    TowProcess slow;
    if (!slow.start({"server", "-listen_ws", "127.0.0.1:0", "--handshake-timeout", "2",
                     "--allow-destination", QStringLiteral("127.0.0.3:%1").arg(hangingPort)})) {
        qWarning().noquote() << slow.log();
        return 1;
    }
    const QByteArray hanging = "127.0.0.3:" + QByteArray::number(hangingPort);
    QElapsedTimer waited;
    waited.start();
    answer = upgradeTo(slow.port(), hanging);
    NS_CHECK(answer.startsWith("HTTP/1.1 504 Gateway Timeout\r\n")
                 && answer.contains("Tow-Error: timeout"),
             QString::fromLatin1(answer) + slow.log());
    NS_CHECK(waited.elapsed() >= 9000,
             QStringLiteral("answered after %1 ms").arg(waited.elapsed()));

    // A client that leaves while its destination is being reached frees its admission slot.
    const QByteArray active = "http_to_tcp_active_connections";
    QTcpSocket leaving;
    leaving.connectToHost(QHostAddress::LocalHost, slow.port());
    NS_CHECK(leaving.waitForConnected(5000), QStringLiteral("connected to the server"));
    leaving.write(kUpgradeHead + "Tow-Destination: " + hanging + "\r\n\r\n");
    leaving.waitForBytesWritten(5000);
    QDeadlineTimer deadline(8000);
    while (metric(slow.port(), active) != 1.0 && !deadline.hasExpired())
        QThread::msleep(20);
    NS_CHECK(metric(slow.port(), active) == 1.0, QStringLiteral("the slot is held meanwhile"));
    leaving.abort();
    deadline.setRemainingTime(8000);
    while (metric(slow.port(), active) != 0.0 && !deadline.hasExpired())
        QThread::msleep(20);
    NS_CHECK(metric(slow.port(), active) == 0.0, QStringLiteral("the slot is freed"));
    NS_CHECK(
        metric(slow.port(), "tcp_over_websocket_handshake_failures_total{reason=\"websocket\"}")
            == 1.0,
        QStringLiteral("counted as a handshake that did not finish"));
    slow.stop();

    // A client naming names whose DNS does not answer holds a few lookups, not all of Qt's
    // threads: another client's name is still resolved. Its requests beyond the lookups in
    // progress and those waiting (4 + 32 per client address) are refused: 503 busy.
    TowProcess flooded;
    if (!flooded.start({"server", "-listen_ws", "127.0.0.1:0", "--allow-destination",
                        "*.silent.test:80", "--allow-destination", allowed})) {
        qWarning().noquote() << flooded.log();
        return 1;
    }
    const QByteArray busyMetric =
        "tcp_over_websocket_limit_rejections_total{limit=\"lookup_limit\"}";
    constexpr int kFlood = 40;
    constexpr int kRefused = 4;
    std::vector<std::unique_ptr<QTcpSocket>> flood;
    for (int i = 0; i < kFlood; ++i) {
        auto socket = std::make_unique<QTcpSocket>();
        NS_CHECK(socket->bind(QHostAddress(QStringLiteral("127.0.0.5"))),
                 QStringLiteral("bind to 127.0.0.5"));
        socket->connectToHost(QHostAddress::LocalHost, flooded.port());
        NS_CHECK(socket->waitForConnected(5000), QStringLiteral("connected to the server"));
        socket->write(kUpgradeHead + "Tow-Destination: flood" + QByteArray::number(i)
                      + ".silent.test:80\r\n\r\n");
        socket->waitForBytesWritten(5000);
        flood.push_back(std::move(socket));
    }
    deadline.setRemainingTime(20000);
    while (metric(flooded.port(), active) + metric(flooded.port(), busyMetric) != kFlood
           && !deadline.hasExpired())
        QThread::msleep(20);
    NS_CHECK(metric(flooded.port(), active) + metric(flooded.port(), busyMetric) == kFlood,
             QStringLiteral("every request of the flood taken"));
    failure = echoThrough(flooded.port(), "other.test:" + portText);
    NS_CHECK(failure.isEmpty(), failure + QLatin1Char('\n') + flooded.log());
    NS_CHECK(
        metric(flooded.port(), busyMetric) == kRefused,
        QStringLiteral("%1 refused, not %2").arg(kRefused).arg(metric(flooded.port(), busyMetric)));
    int busyAnswers = 0;
    deadline.setRemainingTime(20000);
    while (busyAnswers < kRefused && !deadline.hasExpired()) {
        for (auto &socket : flood) {
            if (!socket->waitForReadyRead(10))
                continue;
            const QByteArray answer = socket->readAll();
            NS_CHECK(answer.startsWith("HTTP/1.1 503 ") && answer.contains("Tow-Error: busy"),
                     QString::fromLatin1(answer));
            ++busyAnswers;
        }
    }
    NS_CHECK(busyAnswers == kRefused, QStringLiteral("%1 answered 503 busy").arg(busyAnswers));

    // Stopping (SIGTERM: a drain) answers the upgrades still reaching their destination at once,
    // a name being looked up and a connection being made: 503 shutting-down, not 504 timeout
    // once their 10 s are over.
    TowProcess stopping;
    if (!stopping.start({"server", "-listen_ws", "127.0.0.1:0", "--allow-destination",
                         "*.silent.test:80", "--allow-destination",
                         QStringLiteral("127.0.0.3:%1").arg(hangingPort)})) {
        qWarning().noquote() << stopping.log();
        return 1;
    }
    QTcpSocket lookingUp;
    QTcpSocket connecting;
    const QList<QPair<QTcpSocket *, QByteArray>> waiting {{&lookingUp, "a.silent.test:80"},
                                                          {&connecting, hanging}};
    for (const auto &[socket, destination] : waiting) {
        socket->connectToHost(QHostAddress::LocalHost, stopping.port());
        NS_CHECK(socket->waitForConnected(5000), QStringLiteral("connected to the server"));
        socket->write(kUpgradeHead + "Tow-Destination: " + destination + "\r\n\r\n");
        socket->waitForBytesWritten(5000);
    }
    deadline.setRemainingTime(8000);
    while (metric(stopping.port(), active) != 2.0 && !deadline.hasExpired())
        QThread::msleep(20);
    NS_CHECK(metric(stopping.port(), active) == 2.0,
             QStringLiteral("both wait for their destination"));
    stopping.process().terminate();
    for (const auto &[socket, destination] : waiting) {
        QByteArray answer;
        while (socket->state() == QAbstractSocket::ConnectedState
               && socket->waitForReadyRead(20000))
            answer += socket->readAll();
        answer += socket->readAll();
        NS_CHECK(answer.startsWith("HTTP/1.1 503 ") && answer.contains("Tow-Error: shutting-down"),
                 QString::fromLatin1(destination + ": " + answer) + stopping.log());
    }

    // The lookups' threads end, and with them the servers (Qt waits for its lookups at exit).
    ::kill(pid_t(dns.processId()), SIGUSR1);
    bool released = false;
    deadline.setRemainingTime(10000);
    while (!released && !deadline.hasExpired()) {
        // Lines as they come: the one before may have come without its end.
        if (!dns.canReadLine())
            dns.waitForReadyRead(100);
        else
            released = dns.readLine().trimmed() == "released";
    }
    NS_CHECK(released, QStringLiteral("the DNS server answers the silent names"));
    NS_CHECK(stopping.process().waitForFinished(20000) && stopping.process().exitCode() == 0,
             stopping.log());
    NS_CHECK(flooded.stop(20000) == 0, flooded.log());
    ::close(hangingFd);
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

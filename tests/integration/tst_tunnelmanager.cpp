// The tunnel manager with real tunnels on loopback: our server process in front of an echo
// endpoint, several profiles at once, states, counters, a busy port and an unreachable server.
#include "endpoints.h"
#include "loopbackport.h"
#include "towprocess.h"
#include "tunnels/tunnelmanager.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QUdpSocket>

namespace {

constexpr int kTimeoutMs = 30000;

Profile profileFor(const QString &name, quint16 listenPort, quint16 serverPort)
{
    Profile profile;
    profile.name = name;
    profile.listen = QStringLiteral("127.0.0.1:%1").arg(listenPort);
    profile.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(serverPort);
    return profile;
}

// Sends data through the tunnel on port and reads the echo back; returns what came back. The
// tunnel runs in this thread, so this waits with the event loop running (no blocking waits).
QByteArray echoThrough(QTcpSocket &socket, quint16 port, const QByteArray &data)
{
    QByteArray received;
    QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                     [&socket, &received] { received += socket.readAll(); });
    socket.connectToHost(QHostAddress::LocalHost, port);
    socket.write(data);
    const bool settled = QTest::qWaitFor(
        [&] {
            return received.size() >= data.size()
                || socket.state() == QAbstractSocket::UnconnectedState;
        },
        kTimeoutMs);
    QObject::disconnect(&socket, &QTcpSocket::readyRead, &socket, nullptr);
    if (!settled)
        qWarning("echo: %lld of %lld bytes came back", qlonglong(received.size()),
                 qlonglong(data.size()));
    return received;
}

} // namespace

class TestTunnelManager : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void startCarryStop();
    void severalTunnelsAtOnce();
    void portInUse();
    void serverUnreachable();
    void invalidProfile();
    void renameAndForget();
    void socks5CountsDestinations();
    void udpCarriesDatagrams();
    void udpCountsDrops();

private:
    EchoServer m_echo;
    TowProcess m_server;
};

void TestTunnelManager::initTestCase()
{
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY2(m_server.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                             QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_tcp"),
                             QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())}),
             qPrintable(m_server.log()));
}

void TestTunnelManager::cleanupTestCase()
{
    QCOMPARE(m_server.stop(), 0);
}

void TestTunnelManager::startCarryStop()
{
    TunnelManager manager;
    QSignalSpy changed(&manager, &TunnelManager::statusChanged);
    const quint16 port = reserveLoopbackPort();
    const Profile profile = profileFor(QStringLiteral("SSH"), port, m_server.port());
    QCOMPARE(manager.status(profile.name).state, TunnelStatus::State::Stopped);
    QVERIFY(manager.start(profile));
    QVERIFY(manager.isRunning(profile.name));
    QCOMPARE(manager.status(profile.name).state, TunnelStatus::State::Listening);
    QCOMPARE(manager.status(profile.name).listenAddress, QStringLiteral("127.0.0.1:%1").arg(port));
    QVERIFY(changed.size() >= 1);
    QCOMPARE(changed.constLast().constFirst().toString(), profile.name);

    const QByteArray data = patternBytes(7, 256 * 1024);
    {
        QTcpSocket socket;
        QCOMPARE(sha256(echoThrough(socket, port, data)), sha256(data));
        QTRY_COMPARE_WITH_TIMEOUT(manager.status(profile.name).connections, 1, kTimeoutMs);
        const TunnelStatus active = manager.status(profile.name);
        QCOMPARE(active.state, TunnelStatus::State::Active);
        // Its words ("Active: 1 connection") are tst_tunnelstatus's and the table's business.
        QCOMPARE(active.bytesUp, data.size());
        QCOMPARE(active.bytesDown, data.size());
        // The rates of the interval in which the bytes moved are in the history.
        QTRY_VERIFY_WITH_TIMEOUT(!manager.history(profile.name).isEmpty(), kTimeoutMs);
        socket.disconnectFromHost();
    }
    QTRY_COMPARE_WITH_TIMEOUT(manager.status(profile.name).connections, 0, kTimeoutMs);
    QCOMPARE(manager.status(profile.name).state, TunnelStatus::State::Listening);
    double upSum = 0;
    QTRY_VERIFY_WITH_TIMEOUT(manager.history(profile.name).size() >= 2, kTimeoutMs);
    for (const auto &sample : manager.history(profile.name))
        upSum += sample.upBytesPerSecond;
    QVERIFY(upSum > 0);

    manager.stop(profile.name);
    QVERIFY(!manager.isRunning(profile.name));
    QCOMPARE(manager.status(profile.name).state, TunnelStatus::State::Stopped);
    QTcpServer reuse;
    QVERIFY2(reuse.listen(QHostAddress::LocalHost, port),
             "the stopped tunnel still holds its port");
}

void TestTunnelManager::severalTunnelsAtOnce()
{
    TunnelManager manager;
    QList<Profile> profiles;
    for (int i = 0; i < 3; ++i) {
        profiles << profileFor(QStringLiteral("Tunnel %1").arg(i), reserveLoopbackPort(),
                               m_server.port());
        QVERIFY(manager.start(profiles.constLast()));
    }
    QCOMPARE(manager.runningNames().size(), 3);
    QList<QTcpSocket *> sockets;
    for (int i = 0; i < 3; ++i) {
        auto *socket = new QTcpSocket(this);
        sockets << socket;
        const QByteArray data = patternBytes(quint32(i), 10000 * (i + 1));
        QCOMPARE(sha256(echoThrough(
                     *socket, HostPort::parse(profiles.at(i).listen, false, nullptr)->port, data)),
                 sha256(data));
    }
    for (int i = 0; i < 3; ++i) {
        QTRY_COMPARE_WITH_TIMEOUT(manager.status(profiles.at(i).name).connections, 1, kTimeoutMs);
        QCOMPARE(manager.status(profiles.at(i).name).bytesUp, 10000 * (i + 1));
    }
    manager.stop(profiles.at(1).name);
    QCOMPARE(manager.runningNames().size(), 2);
    // The local connection of the stopped tunnel is closed with it.
    QTRY_COMPARE_WITH_TIMEOUT(sockets.at(1)->state(), QAbstractSocket::UnconnectedState,
                              kTimeoutMs);
    QCOMPARE(sockets.at(0)->state(), QAbstractSocket::ConnectedState);
    manager.stopAll();
    QVERIFY(manager.runningNames().isEmpty());
    qDeleteAll(sockets);
}

void TestTunnelManager::portInUse()
{
    QTcpServer occupant;
    QVERIFY(occupant.listen(QHostAddress::LocalHost, 0));
    TunnelManager manager;
    QSignalSpy failed(&manager, &TunnelManager::tunnelFailed);
    const Profile profile =
        profileFor(QStringLiteral("Busy"), occupant.serverPort(), m_server.port());
    QVERIFY(!manager.start(profile));
    const TunnelStatus status = manager.status(profile.name);
    QCOMPARE(status.state, TunnelStatus::State::Error);
    QVERIFY2(status.lastError.contains(
                 QStringLiteral("local port %1 is already in use").arg(occupant.serverPort())),
             qPrintable(status.lastError));
    QVERIFY2(
        status.lastError.contains(QStringLiteral("choose another local port, e.g. 127.0.0.1:")),
        qPrintable(status.lastError));
    QVERIFY(status.stateText().startsWith(QStringLiteral("Error: local port")));
    QCOMPARE(failed.size(), 1);
    QCOMPARE(failed.constFirst().at(0).toString(), profile.name);
    QVERIFY(!manager.isRunning(profile.name));
}

void TestTunnelManager::serverUnreachable()
{
    TunnelManager manager;
    QSignalSpy failed(&manager, &TunnelManager::tunnelFailed);
    const quint16 port = reserveLoopbackPort();
    const Profile profile = profileFor(QStringLiteral("Nowhere"), port, reserveLoopbackPort());
    QVERIFY(manager.start(profile));
    for (int attempt = 0; attempt < 2; ++attempt) {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(socket.waitForConnected(kTimeoutMs));
        // The tunnel closes the local connection when the server cannot be reached.
        QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, kTimeoutMs);
    }
    QTRY_VERIFY_WITH_TIMEOUT(manager.status(profile.name).serverFailing, kTimeoutMs);
    QCOMPARE(failed.size(), 1); // once per outage, not once per connection
    QVERIFY2(
        failed.constFirst().at(1).toString().startsWith(QStringLiteral("cannot reach the server")),
        qPrintable(failed.constFirst().at(1).toString()));
    const TunnelStatus status = manager.status(profile.name);
    QCOMPARE(status.state, TunnelStatus::State::Listening);
    QVERIFY(!status.lastError.isEmpty());
    QCOMPARE(status.stateText(), QStringLiteral("Listening, server unreachable"));
}

void TestTunnelManager::invalidProfile()
{
    TunnelManager manager;
    Profile profile = profileFor(QStringLiteral("Broken"), 1, 1);
    profile.serverUrl = QStringLiteral("ftp://example.org/");
    QVERIFY(!manager.start(profile));
    QCOMPARE(manager.status(profile.name).state, TunnelStatus::State::Error);
    QVERIFY(manager.status(profile.name).lastError.contains(QStringLiteral("unsupported scheme")));
}

void TestTunnelManager::renameAndForget()
{
    TunnelManager manager;
    const Profile profile =
        profileFor(QStringLiteral("Old"), reserveLoopbackPort(), m_server.port());
    QVERIFY(manager.start(profile));
    manager.rename(QStringLiteral("Old"), QStringLiteral("New"));
    QVERIFY(!manager.isRunning(QStringLiteral("Old")));
    QVERIFY(manager.isRunning(QStringLiteral("New")));
    manager.forget(QStringLiteral("New"));
    QVERIFY(manager.runningNames().isEmpty());
    QCOMPARE(manager.status(QStringLiteral("New")).state, TunnelStatus::State::Stopped);
}

QTEST_GUILESS_MAIN(TestTunnelManager)
// A SOCKS5 profile through our server to the echo endpoint, named by the SOCKS client: the
// manager starts the proxy by the profile's kind and lists the destination while it is open.
void TestTunnelManager::socks5CountsDestinations()
{
    TowProcess dynamicServer;
    const QString destination = QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort());
    QVERIFY2(dynamicServer.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                                  QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--allow-destination"), destination}),
             qPrintable(dynamicServer.log()));
    TunnelManager manager;
    Profile profile =
        profileFor(QStringLiteral("Browser"), reserveLoopbackPort(), dynamicServer.port());
    profile.kind = Profile::Kind::Socks5;
    QSignalSpy destinationsChanged(&manager, &TunnelManager::destinationsChanged);
    QVERIFY2(manager.start(profile), qPrintable(manager.status(profile.name).lastError));
    const quint16 port = HostPort::parse(profile.listen, false, nullptr)->port;

    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(socket.waitForConnected(kTimeoutMs));
    QByteArray request("\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01", 11);
    request.append(char(m_echo.serverPort() >> 8)).append(char(m_echo.serverPort() & 0xff));
    socket.write(request);
    QByteArray answer;
    QVERIFY(QTest::qWaitFor(
        [&] {
            answer += socket.readAll();
            return answer.size() >= 12;
        },
        kTimeoutMs));
    QCOMPARE(answer.left(2), QByteArray("\x05\x00", 2)); // no authentication
    QCOMPARE(answer.mid(2, 2), QByteArray("\x05\x00", 2)); // succeeded
    answer.remove(0, 12);
    socket.write("hello");
    QVERIFY(QTest::qWaitFor(
        [&] {
            answer += socket.readAll();
            return answer.size() >= 5;
        },
        kTimeoutMs));
    QCOMPARE(answer, QByteArray("hello"));
    QTRY_VERIFY_WITH_TIMEOUT(
        manager.destinations(profile.name).value(destination).receivedBytes == 5, kTimeoutMs);
    const auto count = manager.destinations(profile.name).value(destination);
    QCOMPARE(count.openTunnels, 1);
    QCOMPARE(count.sentBytes, 5);
    QVERIFY(!destinationsChanged.isEmpty());
    QCOMPARE(destinationsChanged.constLast().at(0).toString(), profile.name);
    QTRY_COMPARE_WITH_TIMEOUT(manager.status(profile.name).connections, 1, kTimeoutMs);

    socket.disconnectFromHost();
    QTRY_VERIFY_WITH_TIMEOUT(manager.destinations(profile.name).isEmpty(), kTimeoutMs);
    manager.stop(profile.name);
    QVERIFY(manager.destinations(profile.name).isEmpty());
    QCOMPARE(dynamicServer.stop(), 0);
}

// A UDP profile: the manager starts the UDP forwarder by the profile's kind; a datagram goes
// through our server to a UDP echo and back, and counts as traffic of the tunnel (one flow open);
// a busy UDP port is explained as a busy TCP port is.
void TestTunnelManager::udpCarriesDatagrams()
{
    QUdpSocket echo;
    QVERIFY(echo.bind(QHostAddress::LocalHost, 0));
    connect(&echo, &QUdpSocket::readyRead, &echo, [&echo] {
        while (echo.hasPendingDatagrams()) {
            QHostAddress from;
            quint16 port = 0;
            QByteArray data(int(echo.pendingDatagramSize()), Qt::Uninitialized);
            echo.readDatagram(data.data(), data.size(), &from, &port);
            echo.writeDatagram(data, from, port);
        }
    });
    TowProcess dynamicServer;
    const QString destination = QStringLiteral("127.0.0.1:%1").arg(echo.localPort());
    QVERIFY2(
        dynamicServer.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                             QStringLiteral("127.0.0.1:0"), QStringLiteral("--allow-destination"),
                             QStringLiteral("udp/") + destination}),
        qPrintable(dynamicServer.log()));
    QUdpSocket taken; // a local UDP port in use, to start on
    QVERIFY(taken.bind(QHostAddress::LocalHost, 0));
    TunnelManager manager;
    Profile profile =
        profileFor(QStringLiteral("WireGuard"), taken.localPort(), dynamicServer.port());
    profile.kind = Profile::Kind::Udp;
    profile.udpRemote = destination;
    QVERIFY(!manager.start(profile));
    const QString busy = manager.status(profile.name).lastError;
    QVERIFY2(
        busy.contains(QStringLiteral("local port %1 is already in use").arg(taken.localPort())),
        qPrintable(busy));
    taken.close();
    QVERIFY2(manager.start(profile), qPrintable(manager.status(profile.name).lastError));

    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    const quint16 port = HostPort::parse(profile.listen, false, nullptr)->port;
    local.writeDatagram(QByteArray("datagram"), QHostAddress::LocalHost, port);
    QVERIFY(QTest::qWaitFor([&] { return local.hasPendingDatagrams(); }, kTimeoutMs));
    QByteArray answer(int(local.pendingDatagramSize()), Qt::Uninitialized);
    local.readDatagram(answer.data(), answer.size());
    QCOMPARE(answer, QByteArray("datagram"));
    QTRY_COMPARE_WITH_TIMEOUT(manager.status(profile.name).bytesDown, qint64(8), kTimeoutMs);
    QCOMPARE(manager.status(profile.name).bytesUp, qint64(8));
    QCOMPARE(manager.status(profile.name).connections, 1);
    QVERIFY(manager.destinations(profile.name).isEmpty()); // a SOCKS5 tunnel's only
    manager.stop(profile.name);
    QVERIFY(!manager.isRunning(profile.name));
    QCOMPARE(dynamicServer.stop(), 0);
}

// A UDP profile whose server never answers the upgrade: datagrams wait for the flow's WebSocket,
// the oldest beyond the bound are dropped, and the tunnel's status says how many and why.
void TestTunnelManager::udpCountsDrops()
{
    QTcpServer silent; // accepts, never answers: the WebSocket keeps opening
    QVERIFY(silent.listen(QHostAddress::LocalHost));
    TunnelManager manager;
    Profile profile = profileFor(QStringLiteral("DNS"), reserveLoopbackPort(), silent.serverPort());
    profile.kind = Profile::Kind::Udp;
    profile.udpRemote = QStringLiteral("10.0.0.53:53");
    QVERIFY2(manager.start(profile), qPrintable(manager.status(profile.name).lastError));
    QCOMPARE(manager.status(profile.name).datagramsDropped(), qint64(0));
    QCOMPARE(manager.status(profile.name).droppedText(), QStringLiteral("none"));
    QSignalSpy changed(&manager, &TunnelManager::statusChanged);

    QUdpSocket local;
    QVERIFY(local.bind(QHostAddress::LocalHost, 0));
    const quint16 port = HostPort::parse(profile.listen, false, nullptr)->port;
    // Batches well within the forwarder's receive buffer, each read before the next.
    for (int batch = 0; batch < 1000 && manager.status(profile.name).droppedQueueFull == 0;
         ++batch) {
        for (int i = 0; i < 16; ++i)
            local.writeDatagram(QByteArray(1200, 'q'), QHostAddress::LocalHost, port);
        QCoreApplication::processEvents();
    }
    const TunnelStatus status = manager.status(profile.name);
    QVERIFY(status.droppedQueueFull > 0);
    QCOMPARE(status.droppedTooBig, qint64(0));
    QVERIFY2(status.droppedText().contains(QStringLiteral("with a full queue")),
             qPrintable(status.droppedText()));
    // Told with the next sample, not with every datagram.
    QTRY_VERIFY_WITH_TIMEOUT(!changed.isEmpty(), kTimeoutMs);
    manager.stop(profile.name);
}

#include "tst_tunnelmanager.moc"

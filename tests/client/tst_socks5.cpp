// The client's SOCKS5 proxy with real programs on loopback: our server with an allow list, our
// client with --socks5, python3's http.server as the destination, curl --socks5-hostname and a
// SOCKS5 client of ours (tests/support/socks5_client.py) that drives every reply code. In process:
// the per-destination counts the tray shows.
#include "client/socks5listener.h"
#include "loopbackport.h"
#include "towprocess.h"

#include <QCryptographicHash>
#include <QFile>
#include <QProcess>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

namespace {

QString script()
{
    return QStringLiteral(TOW_TEST_SUPPORT_DIR "/socks5_client.py");
}

} // namespace

class TestSocks5 : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void curlThroughTheProxy();
    void replies_data();
    void replies();
    void replyForEveryToken_data();
    void replyForEveryToken();
    void logsNameTheDestinationNotThePassword();
    void destinationCounts();

private:
    QStringList socks5Run(const QStringList &arguments);

    QTemporaryDir m_dir;
    QProcess m_http;
    TowProcess m_server;
    TowProcess m_client; // no authentication
    TowProcess m_authClient; // user alice
    TowProcess m_deadServerClient; // its server does not listen
    QByteArray m_file;
    quint16 m_httpPort = 0;
    quint16 m_closedPort = 0; // allowed, nothing listens
    quint16 m_notAllowedPort = 0; // loopback without an allow entry
    quint16 m_clientPort = 0;
    quint16 m_authClientPort = 0;
    quint16 m_deadServerClientPort = 0;
    const QString m_password = QStringLiteral("s3cret-Pa55");
};

void TestSocks5::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_file.resize(1024 * 1024 + 17);
    QRandomGenerator generator(23);
    for (char &byte : m_file)
        byte = char(generator.bounded(256));
    QFile file(m_dir.filePath(QStringLiteral("file.bin")));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(m_file);
    file.close();

    m_httpPort = reserveLoopbackPort();
    m_closedPort = reserveLoopbackPort();
    m_notAllowedPort = reserveLoopbackPort();
    m_clientPort = reserveLoopbackPort();
    m_authClientPort = reserveLoopbackPort();
    m_deadServerClientPort = reserveLoopbackPort();
    const quint16 deadServerPort = reserveLoopbackPort();
    QVERIFY(m_httpPort && m_closedPort && m_notAllowedPort && m_clientPort && m_authClientPort
            && m_deadServerClientPort && deadServerPort);

    m_http.setStandardErrorFile(QProcess::nullDevice()); // a line per request
    m_http.start(QStringLiteral("python3"),
                 {QStringLiteral("-m"), QStringLiteral("http.server"), QString::number(m_httpPort),
                  QStringLiteral("--bind"), QStringLiteral("127.0.0.1"),
                  QStringLiteral("--directory"), m_dir.path()});
    QVERIFY(m_http.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(
        [this] {
            QTcpSocket probe;
            probe.connectToHost(QHostAddress::LocalHost, m_httpPort);
            return probe.waitForConnected(1000);
        }(),
        20000);

    const QString http = QString::number(m_httpPort);
    QVERIFY2(m_server.start(
                 {QStringLiteral("server"), QStringLiteral("-listen_ws"),
                  QStringLiteral("127.0.0.1:0"), QStringLiteral("--allow-destination"),
                  QStringLiteral("127.0.0.1:") + http, QStringLiteral("--allow-destination"),
                  QStringLiteral("localhost:") + http, QStringLiteral("--allow-destination"),
                  QStringLiteral("127.0.0.1:%1").arg(m_closedPort),
                  QStringLiteral("--allow-destination"), QStringLiteral("*.invalid:80"),
                  QStringLiteral("--allow-destination"), QStringLiteral("192.168.0.0/16:80")}),
             qPrintable(m_server.log()));
    const QString url = QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port());

    QVERIFY2(m_client.start({QStringLiteral("client"), QStringLiteral("--socks5"),
                             QStringLiteral("127.0.0.1:%1").arg(m_clientPort),
                             QStringLiteral("-remote_ws"), url}),
             qPrintable(m_client.log()));

    QFile passwordFile(m_dir.filePath(QStringLiteral("password")));
    QVERIFY(passwordFile.open(QIODevice::WriteOnly));
    passwordFile.write(m_password.toUtf8() + '\n');
    passwordFile.close();
    QVERIFY2(m_authClient.start({QStringLiteral("client"), QStringLiteral("--socks5"),
                                 QStringLiteral("127.0.0.1:%1").arg(m_authClientPort),
                                 QStringLiteral("--socks5-user"), QStringLiteral("alice"),
                                 QStringLiteral("--socks5-password-file"), passwordFile.fileName(),
                                 QStringLiteral("-remote_ws"), url}),
             qPrintable(m_authClient.log()));

    QVERIFY2(m_deadServerClient.start({QStringLiteral("client"), QStringLiteral("--socks5"),
                                       QStringLiteral("127.0.0.1:%1").arg(m_deadServerClientPort),
                                       QStringLiteral("-remote_ws"),
                                       QStringLiteral("ws://127.0.0.1:%1/").arg(deadServerPort)}),
             qPrintable(m_deadServerClient.log()));
}

void TestSocks5::cleanupTestCase()
{
    m_http.terminate();
    m_http.waitForFinished();
}

QStringList TestSocks5::socks5Run(const QStringList &arguments)
{
    QProcess python;
    python.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    python.start(QStringLiteral("python3"), QStringList {script()} + arguments);
    if (!python.waitForFinished(60000))
        return {QStringLiteral("timeout")};
    return QString::fromLatin1(python.readAllStandardOutput())
        .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

void TestSocks5::curlThroughTheProxy()
{
    for (const QString &host : {QStringLiteral("localhost"), QStringLiteral("127.0.0.1")}) {
        const QString output = m_dir.filePath(QStringLiteral("curl-") + host);
        QProcess curl;
        curl.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        curl.start(QStringLiteral("curl"),
                   {QStringLiteral("-sS"), QStringLiteral("--fail"),
                    QStringLiteral("--socks5-hostname"),
                    QStringLiteral("127.0.0.1:%1").arg(m_clientPort),
                    QStringLiteral("http://%1:%2/file.bin").arg(host).arg(m_httpPort),
                    QStringLiteral("-o"), output});
        QVERIFY(curl.waitForFinished(60000));
        QCOMPARE(curl.exitCode(), 0);
        QFile got(output);
        QVERIFY(got.open(QIODevice::ReadOnly));
        const QByteArray body = got.readAll();
        QCOMPARE(body.size(), m_file.size());
        QVERIFY(body == m_file);
    }
    // Remote DNS: the client sent the name, the server resolved it.
    QTRY_VERIFY2(m_client.log().contains(QStringLiteral("-> localhost:%1").arg(m_httpPort)),
                 qPrintable(m_client.log()));
}

void TestSocks5::replies_data()
{
    QTest::addColumn<QString>("which"); // the proxy: "open", "auth" or "dead" (server down)
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QStringList>("expected");

    const QString sha =
        QString::fromLatin1(QCryptographicHash::hash(m_file, QCryptographicHash::Sha256).toHex());
    const QString http = QString::number(m_httpPort);
    const QStringList ok = {"method 00", "reply 00", "status 200", "body " + sha};

    QTest::newRow("success, IPv4")
        << "open" << QStringList {"--port", http, "--get", "/file.bin"} << ok;
    QTest::newRow("success, name, data pipelined after the request")
        << "open"
        << QStringList {"--host", "localhost", "--port", http, "--get", "/file.bin", "--pipeline"}
        << ok;
    QTest::newRow("0x02 not allowed: loopback without an allow entry")
        << "open" << QStringList {"--port", QString::number(m_notAllowedPort)}
        << QStringList {"method 00", "reply 02", "closed"};
    QTest::newRow("0x02 not allowed: IPv6 loopback")
        << "open" << QStringList {"--host", "::1", "--port", http}
        << QStringList {"method 00", "reply 02", "closed"};
    QTest::newRow("0x02 not allowed: outside the allowed CIDR")
        << "open" << QStringList {"--host", "10.1.2.3", "--port", "80"}
        << QStringList {"method 00", "reply 02", "closed"};
    QTest::newRow("0x05 refused: closed port")
        << "open" << QStringList {"--port", QString::number(m_closedPort)}
        << QStringList {"method 00", "reply 05", "closed"};
    QTest::newRow("0x04 no such host")
        << "open" << QStringList {"--host", "x.invalid", "--port", "80"}
        << QStringList {"method 00", "reply 04", "closed"};
    QTest::newRow("0x07 BIND") << "open" << QStringList {"--command", "2", "--port", http}
                               << QStringList {"method 00", "reply 07", "closed"};
    QTest::newRow("0x07 UDP ASSOCIATE") << "open" << QStringList {"--command", "3", "--port", http}
                                        << QStringList {"method 00", "reply 07", "closed"};
    QTest::newRow("0x08 address type") << "open" << QStringList {"--atyp", "2", "--port", http}
                                       << QStringList {"method 00", "reply 08", "closed"};
    QTest::newRow("0xFF no acceptable method")
        << "open" << QStringList {"--methods", "02", "--port", http}
        << QStringList {"method ff", "closed"};
    QTest::newRow("0x01 the server is unreachable")
        << "dead" << QStringList {"--port", http}
        << QStringList {"method 00", "reply 01", "closed"};
    QTest::newRow("RFC 1929: success")
        << "auth" << QStringList {"--user", "alice", "--password", m_password,
                                  "--port", http,    "--get",      "/file.bin"}
        << QStringList {"method 02", "auth 00", "reply 00", "status 200", "body " + sha};
    QTest::newRow("RFC 1929: wrong password")
        << "auth" << QStringList {"--user", "alice", "--password", "wrong", "--port", http}
        << QStringList {"method 02", "auth 01", "closed"};
    QTest::newRow("RFC 1929: wrong user")
        << "auth" << QStringList {"--user", "bob", "--password", m_password, "--port", http}
        << QStringList {"method 02", "auth 01", "closed"};
    QTest::newRow("RFC 1929: no authentication offered")
        << "auth" << QStringList {"--methods", "00", "--port", http}
        << QStringList {"method ff", "closed"};
}

void TestSocks5::replies()
{
    QFETCH(QString, which);
    QFETCH(QStringList, arguments);
    QFETCH(QStringList, expected);
    const quint16 port = which == QLatin1String("open") ? m_clientPort
        : which == QLatin1String("auth")                ? m_authClientPort
                                                        : m_deadServerClientPort;
    const QStringList got = socks5Run(QStringList {QString::number(port)} + arguments);
    QCOMPARE(got, expected);
}

void TestSocks5::replyForEveryToken_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("reply");

    using Reply = Socks5Handshake::Reply;
    QTest::newRow("not-allowed") << QByteArray("not-allowed") << 403 << int(Reply::NotAllowed);
    QTest::newRow("bad-destination")
        << QByteArray("bad-destination") << 400 << int(Reply::GeneralFailure);
    QTest::newRow("no-such-host") << QByteArray("no-such-host") << 502
                                  << int(Reply::HostUnreachable);
    QTest::newRow("refused") << QByteArray("refused") << 502 << int(Reply::ConnectionRefused);
    QTest::newRow("host-unreachable")
        << QByteArray("host-unreachable") << 502 << int(Reply::HostUnreachable);
    QTest::newRow("network-unreachable")
        << QByteArray("network-unreachable") << 502 << int(Reply::NetworkUnreachable);
    QTest::newRow("timeout") << QByteArray("timeout") << 504 << int(Reply::HostUnreachable);
    // The server's own conditions, not the destination's.
    QTest::newRow("busy") << QByteArray("busy") << 503 << int(Reply::GeneralFailure);
    QTest::newRow("shutting-down")
        << QByteArray("shutting-down") << 503 << int(Reply::GeneralFailure);
    QTest::newRow("no token") << QByteArray() << 503 << int(Reply::GeneralFailure);
    QTest::newRow("unknown token") << QByteArray("later") << 502 << int(Reply::GeneralFailure);
}

void TestSocks5::replyForEveryToken()
{
    QFETCH(QByteArray, token);
    QFETCH(int, status);
    QFETCH(int, reply);
    WebSocketConnector::Failure failure;
    failure.stage = WebSocketConnector::Stage::Upgrade;
    failure.httpStatus = status;
    failure.errorToken = token;
    QCOMPARE(int(Socks5Listener::replyFor(failure)), reply);
}

void TestSocks5::logsNameTheDestinationNotThePassword()
{
    QTRY_VERIFY2(m_authClient.log().contains(QStringLiteral("-> 127.0.0.1:%1").arg(m_httpPort)),
                 qPrintable(m_authClient.log()));
    QTRY_VERIFY(m_authClient.log().contains(QStringLiteral("wrong SOCKS5 user name or password")));
    QVERIFY(!m_authClient.log().contains(m_password));
}

// The counts of open tunnels and bytes per destination: an entry while a tunnel is open, gone
// with its last tunnel, its totals in destinationClosed().
void TestSocks5::destinationCounts()
{
    ClientOptions options;
    options.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port()));
    options.socks5Listen = HostPort {QStringLiteral("127.0.0.1"), 0};
    Socks5Listener listener(options);
    QString error;
    QVERIFY2(listener.listen(&error), qPrintable(error));
    QSignalSpy opened(&listener, &Socks5Listener::destinationOpened);
    QSignalSpy closed(&listener, &Socks5Listener::destinationClosed);
    const QString destination = QStringLiteral("localhost:%1").arg(m_httpPort);
    // The counts as last seen while the tunnel was open (the entry goes with it).
    Socks5Listener::DestinationCount seen;
    connect(&listener, &Socks5Listener::destinationsChanged, this, [&] {
        if (listener.destinations().contains(destination))
            seen = listener.destinations().value(destination);
    });

    QTcpSocket socks;
    socks.connectToHost(QHostAddress::LocalHost, listener.serverPort());
    QVERIFY(socks.waitForConnected(5000));
    const QByteArray name = "localhost";
    socks.write(QByteArray::fromHex("050100050100") + char(0x03) + char(name.size()) + name
                + char(m_httpPort >> 8) + char(m_httpPort & 0xff));
    QTRY_COMPARE_WITH_TIMEOUT(socks.bytesAvailable(), qint64(2 + 10), 20000);
    QCOMPARE(socks.readAll().toHex(),
             QByteArray("0500050000010000000000"
                        "00"));
    QTRY_COMPARE(opened.count(), 1);
    QCOMPARE(opened.at(0).at(0).toString(), destination);
    QCOMPARE(listener.destinations().value(destination).openTunnels, 1);

    const QByteArray get = "GET /file.bin HTTP/1.0\r\n\r\n";
    socks.write(get);
    QByteArray response;
    QTRY_VERIFY_WITH_TIMEOUT((response += socks.readAll(), response.endsWith(m_file.right(64))),
                             30000);
    // http.server closes after an HTTP/1.0 answer, which ends the tunnel.
    QTRY_COMPARE(closed.count(), 1);
    QCOMPARE(seen.openTunnels, 1);
    QCOMPARE(seen.sentBytes, qint64(get.size()));
    QCOMPARE(seen.receivedBytes, qint64(response.size()));
    QCOMPARE(closed.at(0).at(0).toString(), destination);
    QCOMPARE(closed.at(0).at(1).toLongLong(), qint64(get.size()));
    QCOMPARE(closed.at(0).at(2).toLongLong(), qint64(response.size()));
    QVERIFY(listener.destinations().isEmpty());
}

QTEST_GUILESS_MAIN(TestSocks5)
#include "tst_socks5.moc"

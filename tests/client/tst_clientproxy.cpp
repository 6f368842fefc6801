// The client through real proxies on loopback: tinyproxy (HTTP CONNECT with Basic auth) and
// microsocks (SOCKS5 with user/password). Bytes must cross; wrong credentials must be reported
// as such; credentials never appear in the log.
#include "echoprobe.h"
#include "endpoints.h"
#include "proxyprocess.h"
#include "towprocess.h"

#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

class TestClientProxy : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void throughProxy_data();
    void throughProxy();
    void redirectThroughProxy_data();
    void redirectThroughProxy();
    void systemProxy();
    void badProxyIsAUsageError();

private:
    EchoServer m_echo;
    TowProcess m_server;
};

void TestClientProxy::initTestCase()
{
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY2(m_server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                             QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())}),
             qPrintable(m_server.log()));
}

void TestClientProxy::cleanupTestCase()
{
    QCOMPARE(m_server.stop(), 0);
}

void TestClientProxy::throughProxy_data()
{
    QTest::addColumn<ProxyProcess::Kind>("kind");
    QTest::addColumn<QString>("credentials"); // user:password in the --proxy URL, or ""
    QTest::addColumn<bool>("works");
    QTest::addColumn<QString>("logged");

    QTest::newRow("http connect") << ProxyProcess::Kind::HttpConnect << "tow-user:pa55word" << true
                                  << "via HTTP proxy 127.0.0.1:";
    QTest::newRow("http wrong password")
        << ProxyProcess::Kind::HttpConnect << "tow-user:wrong-pa55" << false
        << "refused the credentials (HTTP 407 Proxy Authentication Required)";
    QTest::newRow("http no credentials")
        << ProxyProcess::Kind::HttpConnect << "" << false
        << "requires authentication (HTTP 407 Proxy Authentication Required)";
    QTest::newRow("socks5") << ProxyProcess::Kind::Socks5 << "tow-user:pa55word" << true
                            << "via SOCKS5 proxy 127.0.0.1:";
    QTest::newRow("socks5 wrong password")
        << ProxyProcess::Kind::Socks5 << "tow-user:wrong-pa55" << false
        << "refused the credentials (SOCKS5 authentication failed)";
    QTest::newRow("socks5 no credentials")
        << ProxyProcess::Kind::Socks5 << "" << false
        << "requires authentication (SOCKS5 authentication failed): give the credentials in the "
           "proxy URL, socks5://user:password@host:port";
}

void TestClientProxy::throughProxy()
{
    QFETCH(ProxyProcess::Kind, kind);
    QFETCH(QString, credentials);
    QFETCH(bool, works);
    QFETCH(QString, logged);

    ProxyProcess proxy;
    QString error;
    QVERIFY2(proxy.start(kind, QStringLiteral("tow-user"), QStringLiteral("pa55word"), &error),
             qPrintable(error));
    const QString scheme =
        kind == ProxyProcess::Kind::HttpConnect ? QStringLiteral("http") : QStringLiteral("socks5");
    const QString proxyUrl = scheme + QLatin1String("://")
        + (credentials.isEmpty() ? QString() : credentials + QLatin1Char('@'))
        + QStringLiteral("127.0.0.1:%1").arg(proxy.port());

    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port()), "--proxy",
                           proxyUrl}),
             qPrintable(client.log()));
    QString why;
    const bool echoed = echoThrough(client.port(), &why);
    QVERIFY2(echoed == works,
             qPrintable((echoed ? QStringLiteral("the tunnel worked") : why) + QLatin1Char('\n')
                        + client.log() + QLatin1Char('\n') + proxy.log()));
    QTRY_VERIFY2_WITH_TIMEOUT(client.log().contains(logged), qPrintable(client.log()), 10000);
    if (kind == ProxyProcess::Kind::HttpConnect && works) // the bytes really took the proxy
        QVERIFY2(proxy.log().contains(QLatin1String("CONNECT")), qPrintable(proxy.log()));
    QCOMPARE(client.stop(), 0);
    QVERIFY(!client.log().contains(QLatin1String("pa55")));
}

void TestClientProxy::redirectThroughProxy_data()
{
    QTest::addColumn<ProxyProcess::Kind>("kind");
    QTest::newRow("http connect") << ProxyProcess::Kind::HttpConnect;
    QTest::newRow("socks5") << ProxyProcess::Kind::Socks5;
}

// A server that redirects upgrades only, reached through a proxy that asks for credentials: the
// upgrade and the second request that reads the redirect's Location both take the proxy.
void TestClientProxy::redirectThroughProxy()
{
    QFETCH(ProxyProcess::Kind, kind);
    ProxyProcess proxy;
    QString error;
    QVERIFY2(proxy.start(kind, QStringLiteral("tow-user"), QStringLiteral("pa55word"), &error),
             qPrintable(error));
    const QString proxyUrl = (kind == ProxyProcess::Kind::HttpConnect ? QStringLiteral("http")
                                                                      : QStringLiteral("socks5"))
        + QStringLiteral("://tow-user:pa55word@127.0.0.1:%1").arg(proxy.port());

    QTcpServer redirector;
    QVERIFY(redirector.listen(QHostAddress::LocalHost));
    int upgrades = 0;
    const QByteArray redirect = "HTTP/1.1 307 Temporary Redirect\r\nLocation: ws://127.0.0.1:"
        + QByteArray::number(m_server.port()) + "/\r\nContent-Length: 0\r\n\r\n";
    const QByteArray notFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    connect(&redirector, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket *socket = redirector.nextPendingConnection()) {
            connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            connect(socket, &QTcpSocket::readyRead, socket, [&, socket] {
                QByteArray head = socket->property("head").toByteArray() + socket->readAll();
                socket->setProperty("head", head);
                if (!head.contains("\r\n\r\n"))
                    return;
                const bool upgrade = head.contains("\r\nUpgrade: websocket");
                upgrades += upgrade ? 1 : 0;
                socket->write(upgrade ? redirect : notFound);
                socket->disconnectFromHost();
            });
        }
    });

    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(redirector.serverPort()),
                           "--proxy", proxyUrl}),
             qPrintable(client.log()));
    QString why;
    QVERIFY2(echoThrough(client.port(), &why),
             qPrintable(why + QLatin1Char('\n') + client.log() + QLatin1Char('\n') + proxy.log()));
    QCOMPARE(upgrades, 2);
    // microsocks logs each connection it makes (tinyproxy's log file shows only the first one
    // while it runs): both requests to the redirector went through the proxy.
    if (kind == ProxyProcess::Kind::Socks5) {
        const QString toRedirector =
            QStringLiteral("connected to 127.0.0.1:%1\n").arg(redirector.serverPort());
        QTRY_VERIFY2_WITH_TIMEOUT(proxy.log().count(toRedirector) == 2, qPrintable(proxy.log()),
                                  10000);
    }
    QCOMPARE(client.stop(), 0);
    QVERIFY(!client.log().contains(QLatin1String("pa55")));
}

// --proxy system takes Qt's platform configuration; on Linux that is the http_proxy variable,
// which (unlike the default, Go's rules) Qt applies to loopback too, so it can be tested here.
void TestClientProxy::systemProxy()
{
    ProxyProcess proxy;
    QString error;
    QVERIFY2(proxy.start(ProxyProcess::Kind::HttpConnect, QStringLiteral("tow-user"),
                         QStringLiteral("pa55word"), &error),
             qPrintable(error));
    TowProcess client;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy",
                             "NO_PROXY", "all_proxy", "ALL_PROXY"})
        environment.remove(QLatin1String(name));
    environment.insert(QStringLiteral("http_proxy"),
                       QStringLiteral("http://tow-user:pa55word@127.0.0.1:%1").arg(proxy.port()));
    client.process().setProcessEnvironment(environment);
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port()), "--proxy",
                           "system"}),
             qPrintable(client.log()));
    QVERIFY2(client.log().contains(QLatin1String("via HTTP proxy 127.0.0.1:")),
             qPrintable(client.log()));
    QString why;
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + client.log() + proxy.log()));
    QVERIFY2(proxy.log().contains(QLatin1String("CONNECT")), qPrintable(proxy.log()));
    QCOMPARE(client.stop(), 0);
    QVERIFY(!client.log().contains(QLatin1String("pa55")));

    // The default reads the same variable the Go way: loopback is never proxied.
    TowProcess direct;
    direct.process().setProcessEnvironment(environment);
    QVERIFY2(direct.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           QStringLiteral("ws://127.0.0.1:%1/").arg(m_server.port())}),
             qPrintable(direct.log()));
    QVERIFY2(direct.log().contains(QLatin1String("via no proxy")), qPrintable(direct.log()));
    QVERIFY2(echoThrough(direct.port(), &why), qPrintable(why + direct.log()));
    QCOMPARE(direct.stop(), 0);
}

void TestClientProxy::badProxyIsAUsageError()
{
    const ProcessResult result =
        runTow({"client", "-remote_ws", "ws://h/", "--proxy", "ftp://proxy:21"});
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(result.standardError.contains("proxy scheme \"ftp\" is not supported"),
             qPrintable(result.standardError));
}

QTEST_GUILESS_MAIN(TestClientProxy)
#include "tst_clientproxy.moc"

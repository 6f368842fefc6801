// What the client sends with the upgrade, checked by a real nginx that only forwards the right
// requests: -H headers, the token of --token-file / TOW_TOKEN as a Bearer, Basic auth from the
// URL; none of them goes to another host after a redirect. Secrets never appear in the log, even
// at debug level.
#include "echoprobe.h"
#include "endpoints.h"
#include "nginxprocess.h"
#include "towprocess.h"

#include <QTemporaryDir>
#include <QTest>

namespace {

// An nginx location that forwards to our server only when condition holds, else answers status.
QString guardedLocation(const QString &path, const QString &condition, int status, quint16 port)
{
    return QStringLiteral("        location %1 {\n"
                          "            if (%2) { return %3; }\n"
                          "            proxy_pass http://127.0.0.1:%4/;\n"
                          "            proxy_http_version 1.1;\n"
                          "            proxy_set_header Upgrade $http_upgrade;\n"
                          "            proxy_set_header Connection \"upgrade\";\n"
                          "        }\n")
        .arg(path, condition)
        .arg(status)
        .arg(port);
}

const QString kToken = QStringLiteral("s3cret-t0ken");

} // namespace

class TestClientHeaders : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void upgradeRequest_data();
    void upgradeRequest();

private:
    QTemporaryDir m_files;
    EchoServer m_echo;
    TowProcess m_server;
    NginxProcess m_nginx;
};

void TestClientHeaders::initTestCase()
{
    QVERIFY(m_files.isValid());
    QFile token(m_files.filePath(QStringLiteral("token")));
    QVERIFY(token.open(QIODevice::WriteOnly));
    token.write(kToken.toUtf8() + "\n");
    token.close();
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
    QVERIFY2(m_server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                             QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())}),
             qPrintable(m_server.log()));
    NginxProcess::Config config;
    config.tls = false;
    config.upstreamPort = m_server.port();
    config.serverExtra =
        guardedLocation(QStringLiteral("/bearer/"),
                        QStringLiteral("$http_authorization != \"Bearer %1\"").arg(kToken), 401,
                        m_server.port())
        + guardedLocation(QStringLiteral("/basic/"),
                          QStringLiteral("$http_authorization != \"Basic dHVubmVsOnBAc3M=\""), 401,
                          m_server.port())
        + guardedLocation(QStringLiteral("/header/"),
                          QStringLiteral("$http_x_tow_test != \"yes please\""), 403,
                          m_server.port())
        + QStringLiteral("        location /same/ { return 302 /bearer/; }\n"
                         "        location /elsewhere/ {\n"
                         "            return 302 http://localhost:$server_port/bearer/;\n"
                         "        }\n");
    QString error;
    QVERIFY2(m_nginx.start(config, &error), qPrintable(error));
}

void TestClientHeaders::cleanupTestCase()
{
    m_nginx.stop();
    QCOMPARE(m_server.stop(), 0);
}

void TestClientHeaders::upgradeRequest_data()
{
    QTest::addColumn<QString>("userInfoAndPath"); // "[user:pass@]HOSTPORT/path/"
    QTest::addColumn<QStringList>("options"); // TOKENFILE is replaced at run time
    QTest::addColumn<QString>("environmentToken"); // TOW_TOKEN, or ""
    QTest::addColumn<bool>("works");
    QTest::addColumn<QString>("logged");

    QTest::newRow("token file") << "HOSTPORT/bearer/" << QStringList {"--token-file", "TOKENFILE"}
                                << "" << true << "tunnel opened";
    QTest::newRow("TOW_TOKEN") << "HOSTPORT/bearer/" << QStringList {} << kToken << true
                               << "tunnel opened";
    QTest::newRow("no token") << "HOSTPORT/bearer/" << QStringList {} << "" << false << "HTTP 401";
    QTest::newRow("wrong token") << "HOSTPORT/bearer/" << QStringList {} << "not-it" << false
                                 << "HTTP 401";
    QTest::newRow("basic from URL")
        << "tunnel:p%40ss@HOSTPORT/basic/" << QStringList {} << "" << true << "tunnel opened";
    QTest::newRow("basic wrong password")
        << "tunnel:nope@HOSTPORT/basic/" << QStringList {} << "" << false << "HTTP 401";
    QTest::newRow("token follows a redirect on the same origin")
        << "HOSTPORT/same/" << QStringList {"--token-file", "TOKENFILE"} << "" << true
        << "tunnel opened";
    QTest::newRow("token does not follow a redirect to another host")
        << "HOSTPORT/elsewhere/" << QStringList {"--token-file", "TOKENFILE"} << "" << false
        << "HTTP 401";
    QTest::newRow("header") << "HOSTPORT/header/" << QStringList {"-H", "X-Tow-Test: yes please"}
                            << "" << true << "tunnel opened";
    QTest::newRow("header long form")
        << "HOSTPORT/header/" << QStringList {"--header=X-Tow-Test:yes please", "-H", "X-Other: 1"}
        << "" << true << "tunnel opened";
    QTest::newRow("header missing")
        << "HOSTPORT/header/" << QStringList {"-H", "X-Other: 1"} << "" << false << "HTTP 403";
}

void TestClientHeaders::upgradeRequest()
{
    QFETCH(QString, userInfoAndPath);
    QFETCH(QStringList, options);
    QFETCH(QString, environmentToken);
    QFETCH(bool, works);
    QFETCH(QString, logged);
    for (QString &option : options)
        option.replace(QLatin1String("TOKENFILE"), m_files.filePath(QStringLiteral("token")));
    userInfoAndPath.replace(QLatin1String("HOSTPORT"),
                            QStringLiteral("127.0.0.1:%1").arg(m_nginx.port()));

    TowProcess client;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("TOW_TOKEN"));
    if (!environmentToken.isEmpty())
        environment.insert(QStringLiteral("TOW_TOKEN"), environmentToken);
    environment.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("tow.*.debug=true"));
    client.process().setProcessEnvironment(environment);
    QVERIFY2(client.start(QStringList {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                                       QStringLiteral("ws://") + userInfoAndPath}
                          + options),
             qPrintable(client.log()));
    QString why;
    const bool echoed = echoThrough(client.port(), &why);
    QVERIFY2(echoed == works,
             qPrintable((echoed ? QStringLiteral("the tunnel worked") : why) + QLatin1Char('\n')
                        + client.log()));
    QTRY_VERIFY2_WITH_TIMEOUT(client.log().contains(logged), qPrintable(client.log()), 10000);
    QCOMPARE(client.stop(), 0);
    const QString log = client.log();
    for (const char *secret : {"s3cret", "not-it", "p@ss", "p%40ss", "nope", "dHVubmVs"})
        QVERIFY2(!log.contains(QLatin1String(secret)), secret);
}

QTEST_GUILESS_MAIN(TestClientHeaders)
#include "tst_clientheaders.moc"

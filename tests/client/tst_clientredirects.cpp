// What the client process sends where when its server redirects the upgrade: every request
// reaching each loopback endpoint is recorded. The credentials (--token-file, the URL's
// user:password, -H Authorization/Cookie/Proxy-Authorization) reach the configured origin only,
// on every hop, the redirect probe included; a redirect from wss:// down to ws:// is refused
// before anything is sent there. Redirects are read from the answer to the upgrade itself (a
// server that redirects only upgrades works), at most 10 of them, never in a loop, never to
// file://; only 301 and 308 are remembered by later connections.
#include "echoprobe.h"
#include "endpoints.h"
#include "testcertificates.h"
#include "towprocess.h"

#include <QFile>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <functional>
#include <memory>
#include <vector>

namespace {

// A loopback HTTP endpoint: records each request head, answers it and closes.
class HeadRecorder : public QTcpServer
{
public:
    std::function<QByteArray(const QByteArray &head)> answer;
    QList<QByteArray> heads;
    std::optional<QSslConfiguration> tls;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        QTcpSocket *socket = tls ? new QSslSocket(this) : new QTcpSocket(this);
        socket->setSocketDescriptor(descriptor);
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] {
            QByteArray head = socket->property("head").toByteArray() + socket->readAll();
            socket->setProperty("head", head);
            const qsizetype end = head.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            head.truncate(end);
            heads.append(head);
            socket->write(answer(head));
            socket->disconnectFromHost();
        });
        if (tls) {
            auto *ssl = static_cast<QSslSocket *>(socket);
            ssl->setSslConfiguration(*tls);
            ssl->startServerEncryption();
        }
    }
};

QByteArray redirectTo(const QString &location, int status = 302)
{
    return "HTTP/1.1 " + QByteArray::number(status) + " Moved\r\nLocation: " + location.toUtf8()
        + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

bool isUpgrade(const QByteArray &head)
{
    return head.contains("\r\nUpgrade: websocket") && head.contains("\r\nSec-WebSocket-Key: ");
}

QString wsUrl(quint16 port, const QString &path = QStringLiteral("/"))
{
    return QStringLiteral("ws://127.0.0.1:%1%2").arg(port).arg(path);
}

const QByteArray kNotFound =
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

const QString kToken = QStringLiteral("SECRET-TOKEN");

} // namespace

class TestClientRedirects : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void credentialsStayOnTheirOrigin_data();
    void credentialsStayOnTheirOrigin();
    void redirectOfUpgradesOnly();
    void hopLimit_data();
    void hopLimit();
    void loopIsReported();
    void onlyPermanentRedirectsAreRemembered_data();
    void onlyPermanentRedirectsAreRemembered();
    void otherSchemesAreRefused_data();
    void otherSchemesAreRefused();

private:
    // Our server in front of an echo server: where the redirects finally lead.
    bool startTarget(QString *why);

    EchoServer m_echo;
    TowProcess m_server;
    QTemporaryDir m_files;
    TestCertificates m_certificates;
};

void TestClientRedirects::initTestCase()
{
    QVERIFY(m_files.isValid());
    QFile token(m_files.filePath(QStringLiteral("token")));
    QVERIFY(token.open(QIODevice::WriteOnly));
    token.write(kToken.toUtf8() + "\n");
    token.close();
    QString error;
    QVERIFY2(m_certificates.create(m_files.path(), &error), qPrintable(error));
}

bool TestClientRedirects::startTarget(QString *why)
{
    if (m_server.process().state() == QProcess::Running)
        return true;
    if (!m_echo.isListening() && !m_echo.listen(QHostAddress::LocalHost)) {
        *why = m_echo.errorString();
        return false;
    }
    if (!m_server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                         QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort())})) {
        *why = m_server.log();
        return false;
    }
    return true;
}

void TestClientRedirects::credentialsStayOnTheirOrigin_data()
{
    QTest::addColumn<bool>("originTls");
    QTest::addColumn<QString>("userInfo"); // of the configured URL
    QTest::addColumn<QString>("location"); // %1: the other endpoint's port; relative: the origin
    QTest::addColumn<QStringList>("options"); // TOKENFILE is replaced at run time
    QTest::addColumn<QStringList>("secrets"); // as they appear in the requests
    QTest::addColumn<QString>("logged");

    const QStringList tokenAndCookie = {
        "--token-file", "TOKENFILE", "-H", "Cookie: sid=SECRET-COOKIE", "-H", "X-Team: ops"};
    QTest::newRow("token and cookie, another port")
        << false << ""
        << "ws://127.0.0.1:%1/elsewhere" << tokenAndCookie << QStringList {kToken, "SECRET-COOKIE"}
        << "HTTP 404";
    QTest::newRow("-H authorization headers, another port")
        << false << ""
        << "ws://127.0.0.1:%1/elsewhere"
        << QStringList {"-H", "Authorization: Basic SECRET-BASIC", "-H",
                        "Proxy-Authorization: Basic SECRET-PROXY"}
        << QStringList {"SECRET-BASIC", "SECRET-PROXY"} << "HTTP 404";
    QTest::newRow("user and password of the URL, another host")
        << false << "alice:SECRET-PW@"
        << "ws://localhost:%1/elsewhere" << QStringList {}
        << QStringList {QString::fromLatin1(QByteArray("alice:SECRET-PW").toBase64())}
        << "HTTP 404";
    // The target is never asked: what would go there in plain text is no business of its.
    QTest::newRow("from wss down to ws")
        << true << ""
        << "ws://127.0.0.1:%1/plain" << QStringList {"-insecure"} + tokenAndCookie
        << QStringList {kToken, "SECRET-COOKIE"} << "without TLS; not followed";
    QTest::newRow("same origin keeps them")
        << false << "alice:SECRET-PW@"
        << "/again" << tokenAndCookie << QStringList {kToken, "SECRET-COOKIE"} << "HTTP 404";
}

void TestClientRedirects::credentialsStayOnTheirOrigin()
{
    QFETCH(bool, originTls);
    QFETCH(QString, userInfo);
    QFETCH(QString, location);
    QFETCH(QStringList, options);
    QFETCH(QStringList, secrets);
    QFETCH(QString, logged);
    for (QString &option : options)
        option.replace(QLatin1String("TOKENFILE"), m_files.filePath(QStringLiteral("token")));

    HeadRecorder target;
    target.answer = [](const QByteArray &) { return kNotFound; };
    QVERIFY(target.listen(QHostAddress::LocalHost));
    HeadRecorder origin;
    const bool sameOrigin = location.startsWith(QLatin1Char('/'));
    const QString redirect = sameOrigin ? location : location.arg(target.serverPort());
    const QByteArray secondRequest = "GET " + redirect.toUtf8() + " ";
    origin.answer = [&](const QByteArray &head) {
        return head.startsWith(secondRequest) ? kNotFound : redirectTo(redirect);
    };
    if (originTls) {
        QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
        configuration.setLocalCertificateChain(
            QSslCertificate::fromPath(m_certificates.certificateFile()));
        QFile key(m_certificates.keyFile());
        QVERIFY(key.open(QIODevice::ReadOnly));
        configuration.setPrivateKey(QSslKey(&key, QSsl::Ec));
        origin.tls = configuration;
    }
    QVERIFY(origin.listen(QHostAddress::LocalHost));

    TowProcess client;
    const QString url = (originTls ? QStringLiteral("wss://") : QStringLiteral("ws://")) + userInfo
        + QStringLiteral("127.0.0.1:%1/").arg(origin.serverPort());
    QVERIFY2(client.start(QStringList {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws", url}
                          + options),
             qPrintable(client.log()));
    QTcpSocket local;
    local.connectToHost(QHostAddress::LocalHost, client.port());
    QTRY_VERIFY_WITH_TIMEOUT(client.log().contains(QLatin1String("cannot open")), 20000);
    QVERIFY2(client.log().contains(logged), qPrintable(client.log()));

    // The configured origin gets them on every request: the upgrade and the redirect probe.
    QVERIFY(!origin.heads.isEmpty());
    for (const QByteArray &head : std::as_const(origin.heads)) {
        for (const QString &secret : std::as_const(secrets))
            QVERIFY2(head.contains(secret.toUtf8()), head.constData());
    }
    if (sameOrigin) {
        QVERIFY2(origin.heads.size() >= 3, "the redirect on the same origin was not followed");
    } else if (originTls) {
        QCOMPARE(target.heads, QList<QByteArray>()); // not even asked
    } else {
        QVERIFY2(!target.heads.isEmpty(), "the redirect was not followed");
        for (const QByteArray &head : std::as_const(target.heads)) {
            for (const QString &secret : std::as_const(secrets))
                QVERIFY2(!head.contains(secret.toUtf8()), head.constData());
            QVERIFY2(!head.contains("SECRET"), head.constData());
        }
        if (options.contains(QStringLiteral("X-Team: ops"))) { // the other headers do go there
            // Header names in any case: Qt 6.8's QNetworkRequest keeps them lower-case
            // ("x-team: ops"), Qt 6.4 as given; HTTP reads them case-insensitively.
            QVERIFY2(target.heads.constFirst().toLower().contains("\r\nx-team: ops"),
                     target.heads.constFirst().constData());
        }
    }
    QCOMPARE(client.stop(), 0);
    QVERIFY2(!client.log().contains(QLatin1String("SECRET")), qPrintable(client.log()));
}

// The server redirects WebSocket upgrades and answers anything else with 404: the client must
// take the redirect from the answer to its upgrade, and never ask with a plain GET.
void TestClientRedirects::redirectOfUpgradesOnly()
{
    QString why;
    QVERIFY2(startTarget(&why), qPrintable(why));
    HeadRecorder redirector;
    redirector.answer = [this](const QByteArray &head) {
        return isUpgrade(head) ? redirectTo(wsUrl(m_server.port(), QStringLiteral("/tunnel")), 307)
                               : kNotFound;
    };
    QVERIFY(redirector.listen(QHostAddress::LocalHost));

    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           wsUrl(redirector.serverPort(), QStringLiteral("/ws"))}),
             qPrintable(client.log()));
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + client.log()));
    QVERIFY(!redirector.heads.isEmpty());
    for (const QByteArray &head : std::as_const(redirector.heads))
        QVERIFY2(isUpgrade(head) && head.startsWith("GET /ws HTTP/1.1\r\n"), head.constData());
    QVERIFY2(client.log().contains(QLatin1String("(HTTP 307)")), qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
}

void TestClientRedirects::hopLimit_data()
{
    QTest::addColumn<int>("hops");
    QTest::addColumn<bool>("opens");
    QTest::newRow("10 redirects are followed") << 10 << true;
    QTest::newRow("11 are too many") << 11 << false;
}

void TestClientRedirects::hopLimit()
{
    QFETCH(int, hops);
    QFETCH(bool, opens);
    QString why;
    QVERIFY2(startTarget(&why), qPrintable(why));
    // hop i redirects to hop i + 1; the last one to our server.
    std::vector<std::unique_ptr<HeadRecorder>> chain;
    for (int i = 0; i < hops; ++i) {
        chain.push_back(std::make_unique<HeadRecorder>());
        QVERIFY(chain.back()->listen(QHostAddress::LocalHost));
    }
    for (int i = 0; i < hops; ++i) {
        const QString next =
            i + 1 < hops ? wsUrl(chain.at(size_t(i) + 1)->serverPort()) : wsUrl(m_server.port());
        chain.at(size_t(i))->answer = [next](const QByteArray &) { return redirectTo(next); };
    }

    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           wsUrl(chain.front()->serverPort())}),
             qPrintable(client.log()));
    if (opens) {
        QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + client.log()));
        for (const auto &hop : chain)
            QVERIFY(!hop->heads.isEmpty());
    } else {
        QTcpSocket local;
        local.connectToHost(QHostAddress::LocalHost, client.port());
        QTRY_VERIFY_WITH_TIMEOUT(client.log().contains(QLatin1String("cannot open")), 20000);
        QVERIFY2(client.log().contains(QLatin1String("too many redirects (more than 10)")),
                 qPrintable(client.log()));
        // The 11th redirect was read from the upgrade's answer, and not asked again.
        QVERIFY(!chain.back()->heads.isEmpty());
    }
    QCOMPARE(client.stop(), 0);
}

void TestClientRedirects::loopIsReported()
{
    HeadRecorder first;
    HeadRecorder second;
    QVERIFY(first.listen(QHostAddress::LocalHost));
    QVERIFY(second.listen(QHostAddress::LocalHost));
    first.answer = [&](const QByteArray &) { return redirectTo(wsUrl(second.serverPort())); };
    second.answer = [&](const QByteArray &) { return redirectTo(wsUrl(first.serverPort())); };

    TowProcess client;
    QVERIFY2(client.start(
                 {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws", wsUrl(first.serverPort())}),
             qPrintable(client.log()));
    QTcpSocket local;
    local.connectToHost(QHostAddress::LocalHost, client.port());
    QTRY_VERIFY_WITH_TIMEOUT(client.log().contains(QLatin1String("cannot open")), 20000);
    const QString loop = QStringLiteral("redirect loop: %1 -> %2 -> %1")
                             .arg(wsUrl(first.serverPort()), wsUrl(second.serverPort()));
    QVERIFY2(client.log().contains(loop), qPrintable(client.log()));
    // Each server asked once by QWebSocket and once for the Location; nothing after the loop.
    QCOMPARE(first.heads.size(), 2);
    QCOMPARE(second.heads.size(), 2);
    QCOMPARE(client.stop(), 0);
}

void TestClientRedirects::onlyPermanentRedirectsAreRemembered_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<bool>("remembered");
    QTest::newRow("301") << 301 << true;
    QTest::newRow("302") << 302 << false;
    QTest::newRow("303") << 303 << false;
    QTest::newRow("307") << 307 << false;
    QTest::newRow("308") << 308 << true;
}

void TestClientRedirects::onlyPermanentRedirectsAreRemembered()
{
    QFETCH(int, status);
    QFETCH(bool, remembered);
    QString why;
    QVERIFY2(startTarget(&why), qPrintable(why));
    HeadRecorder redirector;
    redirector.answer = [this, status](const QByteArray &) {
        return redirectTo(wsUrl(m_server.port()), status);
    };
    QVERIFY(redirector.listen(QHostAddress::LocalHost));

    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           wsUrl(redirector.serverPort())}),
             qPrintable(client.log()));
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + client.log()));
    const qsizetype perConnection = redirector.heads.size();
    QVERIFY(perConnection > 0);
    // The second connection opens only after the first one: every request of the first had
    // reached the redirector by then.
    QVERIFY2(echoThrough(client.port(), &why), qPrintable(why + client.log()));
    QCOMPARE(redirector.heads.size(), remembered ? perConnection : 2 * perConnection);
    QCOMPARE(client.stop(), 0);
}

void TestClientRedirects::otherSchemesAreRefused_data()
{
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("scheme");
    QTest::newRow("file") << "file:///etc/passwd"
                          << "file";
    QTest::newRow("ftp") << "ftp://127.0.0.1/"
                         << "ftp";
}

void TestClientRedirects::otherSchemesAreRefused()
{
    QFETCH(QString, location);
    QFETCH(QString, scheme);
    HeadRecorder redirector;
    redirector.answer = [location](const QByteArray &) { return redirectTo(location, 301); };
    QVERIFY(redirector.listen(QHostAddress::LocalHost));

    TowProcess client;
    QVERIFY2(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                           wsUrl(redirector.serverPort())}),
             qPrintable(client.log()));
    QTcpSocket local;
    local.connectToHost(QHostAddress::LocalHost, client.port());
    QTRY_VERIFY_WITH_TIMEOUT(client.log().contains(QLatin1String("cannot open")), 20000);
    QVERIFY2(client.log().contains(QStringLiteral("unsupported scheme \"%1\"").arg(scheme)),
             qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
}

QTEST_GUILESS_MAIN(TestClientRedirects)
#include "tst_clientredirects.moc"

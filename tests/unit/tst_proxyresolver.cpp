// Proxy choice: explicit URLs, "none", and the environment variables read as Go reads them.
#include "client/proxyresolver.h"

#include <QScopeGuard>
#include <QTest>
#include <optional>

class TestProxyResolver : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void resolve_data();
    void resolve();
    void processEnvironmentReadAtEachCall();
    void errors_data();
    void errors();
    void describeHidesCredentials();
};

void TestProxyResolver::resolve_data()
{
    QTest::addColumn<QString>("setting");
    QTest::addColumn<QStringList>("environment"); // NAME=value
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("expected"); // ProxyResolver::describe()
    QTest::addColumn<QString>("user");

    QTest::newRow("explicit http") << "http://u:p@proxy:3128" << QStringList {} << "wss://h/"
                                   << "HTTP proxy proxy:3128"
                                   << "u";
    QTest::newRow("bare host:port is http") << "proxy:8080" << QStringList {} << "ws://h/"
                                            << "HTTP proxy proxy:8080"
                                            << "";
    QTest::newRow("http default port") << "http://proxy" << QStringList {} << "ws://h/"
                                       << "HTTP proxy proxy:80"
                                       << "";
    QTest::newRow("socks5") << "socks5://a:b@[::1]:1080" << QStringList {} << "ws://h/"
                            << "SOCKS5 proxy [::1]:1080"
                            << "a";
    QTest::newRow("socks5h default port") << "socks5h://s" << QStringList {} << "ws://h/"
                                          << "SOCKS5 proxy s:1080"
                                          << "";
    QTest::newRow("none ignores the environment")
        << "none" << QStringList {"HTTPS_PROXY=http://p:1"} << "wss://h/"
        << "no proxy"
        << "";
    QTest::newRow("HTTPS_PROXY for wss")
        << "" << QStringList {"HTTPS_PROXY=http://p:1"} << "wss://h/"
        << "HTTP proxy p:1"
        << "";
    QTest::newRow("HTTPS_PROXY not for ws")
        << "" << QStringList {"HTTPS_PROXY=http://p:1"} << "ws://h/"
        << "no proxy"
        << "";
    QTest::newRow("HTTP_PROXY for ws") << "" << QStringList {"HTTP_PROXY=http://p:2"} << "ws://h/"
                                       << "HTTP proxy p:2"
                                       << "";
    QTest::newRow("lower case") << "" << QStringList {"https_proxy=socks5://p:3"} << "wss://h/"
                                << "SOCKS5 proxy p:3"
                                << "";
#ifndef Q_OS_WIN // where names are case-insensitive: the two are one variable
    QTest::newRow("upper case wins")
        << "" << QStringList {"HTTPS_PROXY=http://upper:1", "https_proxy=http://lower:1"}
        << "wss://h/"
        << "HTTP proxy upper:1"
        << "";
#endif
    QTest::newRow("NO_PROXY domain")
        << "" << QStringList {"HTTPS_PROXY=http://p:1", "NO_PROXY=example.org"}
        << "wss://tunnel.example.org/"
        << "no proxy"
        << "";
    QTest::newRow("NO_PROXY leading dot")
        << "" << QStringList {"HTTPS_PROXY=http://p:1", "no_proxy=.example.org"}
        << "wss://example.org/"
        << "no proxy"
        << "";
    QTest::newRow("NO_PROXY other domain")
        << "" << QStringList {"HTTPS_PROXY=http://p:1", "NO_PROXY=example.org"}
        << "wss://notexample.org/"
        << "HTTP proxy p:1"
        << "";
    QTest::newRow("NO_PROXY star")
        << "" << QStringList {"HTTPS_PROXY=http://p:1", "NO_PROXY=*"} << "wss://h/"
        << "no proxy"
        << "";
    QTest::newRow("NO_PROXY cidr")
        << "" << QStringList {"HTTP_PROXY=http://p:1", "NO_PROXY=10.0.0.0/8"} << "ws://10.1.2.3/"
        << "no proxy"
        << "";
    QTest::newRow("NO_PROXY port")
        << "" << QStringList {"HTTP_PROXY=http://p:1", "NO_PROXY=h:8080"} << "ws://h:9090/"
        << "HTTP proxy p:1"
        << "";
    QTest::newRow("loopback never proxied")
        << "" << QStringList {"HTTP_PROXY=http://p:1"} << "ws://127.0.0.1:8080/"
        << "no proxy"
        << "";
    QTest::newRow("localhost never proxied")
        << "" << QStringList {"HTTP_PROXY=http://p:1"} << "ws://localhost/"
        << "no proxy"
        << "";
    QTest::newRow("no variables") << "" << QStringList {} << "wss://h/"
                                  << "no proxy"
                                  << "";
}

void TestProxyResolver::resolve()
{
    QFETCH(QString, setting);
    QFETCH(QStringList, environment);
    QFETCH(QString, target);
    QFETCH(QString, expected);
    QFETCH(QString, user);
    QProcessEnvironment env;
    for (const QString &entry : environment)
        env.insert(entry.section(QLatin1Char('='), 0, 0), entry.section(QLatin1Char('='), 1));
    QString error;
    const auto proxy = ProxyResolver::resolve(setting, QUrl(target), &error, &env);
    QVERIFY2(proxy, qPrintable(error));
    QCOMPARE(ProxyResolver::describe(*proxy), expected);
    QCOMPARE(proxy->user(), user);
}

void TestProxyResolver::processEnvironmentReadAtEachCall()
{
    // Without an environment given, the process's own variables count as they are at the call.
    // The variables of whoever runs the test are put back after it, and count for nothing in it.
    const QByteArrayList names = {"HTTP_PROXY",  "http_proxy", "HTTPS_PROXY",
                                  "https_proxy", "NO_PROXY",   "no_proxy"};
    QList<std::optional<QByteArray>> saved;
    for (const QByteArray &name : names) {
        saved.append(qEnvironmentVariableIsSet(name.constData())
                         ? std::optional<QByteArray>(qgetenv(name.constData()))
                         : std::nullopt);
        qunsetenv(name.constData());
    }
    const auto restore = qScopeGuard([&] {
        for (qsizetype i = 0; i < names.size(); ++i) {
            if (saved[i])
                qputenv(names[i].constData(), *saved[i]);
            else
                qunsetenv(names[i].constData());
        }
    });
    const QUrl target(QStringLiteral("ws://example.org/"));
    QString error;
    qputenv("http_proxy", "http://lower:3128");
    auto proxy = ProxyResolver::resolve(QString(), target, &error);
    QVERIFY2(proxy, qPrintable(error));
    QCOMPARE(ProxyResolver::describe(*proxy), QStringLiteral("HTTP proxy lower:3128"));
    qputenv("HTTP_PROXY", "http://upper:3128");
    proxy = ProxyResolver::resolve(QString(), target, &error);
    QVERIFY2(proxy, qPrintable(error));
    QCOMPARE(ProxyResolver::describe(*proxy), QStringLiteral("HTTP proxy upper:3128"));
    qputenv("NO_PROXY", "example.org");
    proxy = ProxyResolver::resolve(QString(), target, &error);
    QVERIFY2(proxy, qPrintable(error));
    QCOMPARE(proxy->type(), QNetworkProxy::NoProxy);
}

void TestProxyResolver::errors_data()
{
    QTest::addColumn<QString>("setting");
    QTest::addColumn<QString>("expected");
    QTest::newRow("https proxy") << "https://p:1"
                                 << "proxy scheme \"https\" is not supported";
    QTest::newRow("ftp") << "ftp://p"
                         << "not supported";
    QTest::newRow("no host") << "http://"
                             << "is not a URL";
}

void TestProxyResolver::errors()
{
    QFETCH(QString, setting);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!ProxyResolver::validate(setting, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
}

void TestProxyResolver::describeHidesCredentials()
{
    QString error;
    const auto proxy = ProxyResolver::resolve(QStringLiteral("http://user:secret@p:1"),
                                              QUrl(QStringLiteral("ws://h/")), &error);
    QVERIFY(proxy);
    QVERIFY(!ProxyResolver::describe(*proxy).contains(QLatin1String("secret")));
    QVERIFY(!ProxyResolver::validate(QStringLiteral("gopher://user:secret@p"), &error));
    QVERIFY2(!error.contains(QLatin1String("secret")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestProxyResolver)
#include "tst_proxyresolver.moc"

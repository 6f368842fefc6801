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
    void noProxyAsGo_data();
    void noProxyAsGo();
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
    QTest::newRow("NO_PROXY leading dot: subdomains only")
        << "" << QStringList {"HTTPS_PROXY=http://p:1", "no_proxy=.example.org"}
        << "wss://example.org/"
        << "HTTP proxy p:1"
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

void TestProxyResolver::noProxyAsGo_data()
{
    // Rows from golang.org/x/net/http/httpproxy's proxy_test.go (UseProxyTests with its noProxy
    // list, TestAllNoProxy, TestInvalidNoProxy, the NO_PROXY cases of ProxyForURLTests), with ws://
    // in place of http://, then rows for the rules they leave out (port of a name, wss:// default
    // port, case, bare IPv6 entries).
    QTest::addColumn<QString>("noProxy");
    QTest::addColumn<QString>("target");
    QTest::addColumn<bool>("proxied");

    const QString goList = QStringLiteral(
        "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, "
        "10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, "
        "2002:db8:a::45/64");
    const struct
    {
        const char *host;
        bool proxied;
    } useProxyTests[] = {
        {"localhost", false},
        {"127.0.0.1", false},
        {"127.0.0.2", false},
        {"[::1]", false},
        {"[::2]", true}, // not a loopback address
        {"192.168.1.1", false}, // matches exact IPv4
        {"192.168.1.2", true}, // ports do not match
        {"192.168.1.3", false}, // matches exact IPv4:port
        {"192.168.1.4", true}, // no match
        {"10.0.0.2", false}, // matches IPv4/CIDR
        {"[2001:db8::52:0:1]", false}, // matches exact IPv6
        {"[2001:db8::52:0:2]", true}, // no match
        {"[2001:db8::52:0:3]", false}, // matches exact [IPv6]:port
        {"[2002:db8:a::123]", false}, // matches IPv6/CIDR
        {"[fe80::424b:c8be:1643:a1b6]", true}, // no match
        {"barbaz.net", true}, // does not match as .barbaz.net
        {"www.barbaz.net", false}, // does match as .barbaz.net
        {"foobar.com", false}, // does match as foobar.com
        {"www.foobar.com", false}, // match because NO_PROXY includes "foobar.com"
        {"foofoobar.com", true}, // not match as a part of foobar.com
        {"baz.com", true}, // not match as a part of barbaz.com
        {"localhost.net", true}, // not match as suffix of address
        {"local.localhost", true}, // not match as prefix as address
        {"barbarbaz.net", true}, // not match, wrong domain
        {"wildcard.io", true}, // does not match as *.wildcard.io
        {"nested.wildcard.io", false}, // match as *.wildcard.io
        {"awildcard.io", true}, // not a match because of '*'
    };
    for (const auto &test : useProxyTests) {
        const QString target = QStringLiteral("ws://%1:80/").arg(QLatin1String(test.host));
        QTest::addRow("Go list, %s", test.host) << goList << target << test.proxied;
        QTest::addRow("*, %s", test.host) << "*" << target << false;
    }
    QTest::newRow("invalid entry :1") << ":1"
                                      << "ws://example.com:80/" << true;

    QTest::newRow("name") << "example.com"
                          << "ws://example.com/" << false;
    QTest::newRow("leading dot: not the name itself") << ".example.com"
                                                      << "ws://example.com/" << true;
    QTest::newRow("not a suffix of a label") << "ample.com"
                                             << "ws://example.com/" << true;
    QTest::newRow("name covers subdomains") << "example.com"
                                            << "ws://foo.example.com/" << false;
    QTest::newRow("other domain") << ".foo.com"
                                  << "ws://example.com/" << true;
    QTest::newRow("IDN entry, IDN host") << ".示例.com"
                                         << "ws://www.示例.com/" << false;
    QTest::newRow("ACE entry, IDN host") << "xn--fsq092h.com"
                                         << "ws://www.示例.com/" << false;
    QTest::newRow("IDN entry, ACE host") << "示例.com"
                                         << "ws://www.xn--fsq092h.com/" << false;

    QTest::newRow("issue: .vm is not vm") << ".vm"
                                          << "ws://vm:8080/" << true;
    QTest::newRow("*.example.org: not the name") << "*.example.org"
                                                 << "wss://example.org/" << true;
    QTest::newRow("*.example.org: subdomain") << "*.example.org"
                                              << "wss://a.b.example.org/" << false;
    QTest::newRow("case-insensitive") << "EXAMPLE.org"
                                      << "wss://Tunnel.Example.ORG/" << false;
    QTest::newRow("name with its port") << "h:8080"
                                        << "ws://h:8080/" << false;
    QTest::newRow("name with another port") << "h:8080"
                                            << "ws://h:9090/" << true;
    QTest::newRow("wss default port 443") << "h:443"
                                          << "wss://h/" << false;
    QTest::newRow("ws default port 80") << "h:443"
                                        << "ws://h/" << true;
    QTest::newRow("name does not match an IP") << "example.com"
                                               << "ws://93.184.216.34/" << true;
    QTest::newRow("IP does not match a name") << "93.184.216.34"
                                              << "ws://example.com/" << true;
    QTest::newRow("bare IPv6 entry") << "2001:db8::1"
                                     << "wss://[2001:db8::1]:8443/" << false;
    QTest::newRow("IPv6 CIDR") << "2001:db8::/32"
                               << "wss://[2001:db8:ff::1]/" << false;
    QTest::newRow("spaces and empty entries") << " , other.org ,, example.org "
                                              << "ws://example.org/" << false;
    QTest::newRow("* among others") << "other.org,*"
                                    << "ws://example.org/" << false;
    QTest::newRow("empty") << ""
                           << "ws://example.org/" << true;
}

void TestProxyResolver::noProxyAsGo()
{
    QFETCH(QString, noProxy);
    QFETCH(QString, target);
    QFETCH(bool, proxied);
    QProcessEnvironment environment;
    environment.insert(QStringLiteral("HTTP_PROXY"), QStringLiteral("http://p:1"));
    environment.insert(QStringLiteral("HTTPS_PROXY"), QStringLiteral("http://p:1"));
    environment.insert(QStringLiteral("NO_PROXY"), noProxy);
    const QUrl url(target);
    QVERIFY2(url.isValid(), qPrintable(url.errorString()));
    QString error;
    const auto proxy = ProxyResolver::resolve(QString(), url, &error, &environment);
    QVERIFY2(proxy, qPrintable(error));
    QCOMPARE(proxy->type() != QNetworkProxy::NoProxy, proxied);
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

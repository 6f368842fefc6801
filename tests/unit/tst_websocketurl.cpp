// Server URL parsing: schemes, defaults, redirects and what may appear in logs.
#include "net/websocketurl.h"

#include <QTest>

class TestWebSocketUrl : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parse_data();
    void parse();
    void errors_data();
    void errors();
    void redirect_data();
    void redirect();
    void redactedHidesCredentials();
    void errorsHideCredentials_data();
    void errorsHideCredentials();
};

void TestWebSocketUrl::parse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("ws") << "ws://example.org:8080/"
                        << "ws://example.org:8080/";
    QTest::newRow("wss with path") << "wss://example.org/tunnel/ssh"
                                   << "wss://example.org/tunnel/ssh";
    QTest::newRow("http maps to ws") << "http://example.org:8080/"
                                     << "ws://example.org:8080/";
    QTest::newRow("https maps to wss") << "https://example.org/x"
                                       << "wss://example.org/x";
    QTest::newRow("empty path becomes /") << "ws://example.org"
                                          << "ws://example.org/";
    QTest::newRow("upper-case scheme") << "WSS://example.org/"
                                       << "wss://example.org/";
    QTest::newRow("ipv6") << "ws://[::1]:5000/"
                          << "ws://[::1]:5000/";
    QTest::newRow("query kept") << "ws://h/p?token=x"
                                << "ws://h/p?token=x";
    QTest::newRow("credentials kept") << "wss://user:pw@h/"
                                      << "wss://user:pw@h/";
}

void TestWebSocketUrl::parse()
{
    QFETCH(QString, text);
    QString error;
    const auto url = WebSocketUrl::parse(text, &error);
    QVERIFY2(url.has_value(), qPrintable(error));
    QTEST(url->toString(), "expected");
}

void TestWebSocketUrl::errors_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("empty") << ""
                           << "empty";
    QTest::newRow("no scheme") << "example.org:8080"
                               << "scheme";
    QTest::newRow("ftp") << "ftp://example.org/"
                         << "unsupported scheme \"ftp\"";
    QTest::newRow("no host") << "ws:///path"
                             << "host is missing";
    QTest::newRow("invalid port") << "ws://h:99999/"
                                  << "not a valid URL";
}

void TestWebSocketUrl::errors()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!WebSocketUrl::parse(text, &error).has_value());
    QVERIFY2(error.contains(expected), qPrintable(error));
}

void TestWebSocketUrl::redirect_data()
{
    QTest::addColumn<QString>("base");
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("expected");
    QTest::newRow("absolute https") << "ws://a/"
                                    << "https://b/t"
                                    << "wss://b/t";
    QTest::newRow("absolute http") << "wss://a/"
                                   << "http://b:81/"
                                   << "ws://b:81/";
    QTest::newRow("relative path keeps tls") << "wss://a/x/y"
                                             << "/z"
                                             << "wss://a/z";
    QTest::newRow("relative plain") << "ws://a:8080/x"
                                    << "tunnel"
                                    << "ws://a:8080/tunnel";
}

void TestWebSocketUrl::redirect()
{
    QFETCH(QString, base);
    QFETCH(QString, location);
    QString error;
    const auto url = WebSocketUrl::resolveRedirect(QUrl(base), location, &error);
    QVERIFY2(url.has_value(), qPrintable(error));
    QTEST(url->toString(), "expected");
}

void TestWebSocketUrl::redactedHidesCredentials()
{
    QString error;
    const auto url = WebSocketUrl::parse(QStringLiteral("wss://alice:s3cret@h/p"), &error);
    QVERIFY(url);
    const QString shown = WebSocketUrl::redacted(*url);
    QVERIFY2(!shown.contains(QLatin1String("s3cret")), qPrintable(shown));
    QVERIFY2(!shown.contains(QLatin1String("alice")), qPrintable(shown));
    QCOMPARE(shown, QStringLiteral("wss://h/p"));
}

void TestWebSocketUrl::errorsHideCredentials_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("bad port") << "wss://alice:s3cret@host:44x/";
    QTest::newRow("bad scheme") << "ftp://alice:s3cret@host/";
}

void TestWebSocketUrl::errorsHideCredentials()
{
    // Error messages end up on stderr and in the journal: no password there.
    QFETCH(QString, text);
    QString error;
    QVERIFY(!WebSocketUrl::parse(text, &error).has_value());
    QVERIFY2(!error.contains(QLatin1String("s3cret")), qPrintable(error));
    QVERIFY2(error.contains(QLatin1String("host")), qPrintable(error));
}

QTEST_APPLESS_MAIN(TestWebSocketUrl)
#include "tst_websocketurl.moc"

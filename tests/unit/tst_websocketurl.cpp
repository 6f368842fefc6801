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
    void redactedHidesCredentials_data();
    void redactedHidesCredentials();
    void secretQueryKeys_data();
    void secretQueryKeys();
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

void TestWebSocketUrl::redactedHidesCredentials_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("shown");
    QTest::newRow("user and password") << "wss://alice:s3cret@h/p"
                                       << "wss://h/p";
    // The server takes the token in the query for clients that cannot set headers.
    QTest::newRow("query token") << "ws://h:8080/?token=s3cret"
                                 << "ws://h:8080/?token=<hidden>";
    QTest::newRow("query token among others") << "wss://h/p?a=1&Token=s3cret&b=2"
                                              << "wss://h/p?a=1&Token=<hidden>&b=2";
    QTest::newRow("encoded delimiters in the value") << "wss://h/?token=s3%26cret%3Dx&b=2"
                                                     << "wss://h/?token=<hidden>&b=2";
    QTest::newRow("other credential names")
        << "wss://h/?access_token=s3cret&api_key=s3cret&password=s3cret&x=1"
        << "wss://h/?access_token=<hidden>&api_key=<hidden>&password=<hidden>&x=1";
    QTest::newRow("everything") << "https://alice:s3cret@h/?token=s3cret"
                                << "wss://h/?token=<hidden>";
    QTest::newRow("harmless query kept") << "wss://h/p?room=42&tokens_left=s"
                                         << "wss://h/p?room=42&tokens_left=s";
}

void TestWebSocketUrl::redactedHidesCredentials()
{
    QFETCH(QString, text);
    QString error;
    const auto url = WebSocketUrl::parse(text, &error);
    QVERIFY2(url, qPrintable(error));
    const QString shown = WebSocketUrl::redacted(*url);
    QVERIFY2(!shown.contains(QLatin1String("s3")), qPrintable(shown));
    QVERIFY2(!shown.contains(QLatin1String("alice")), qPrintable(shown));
    QTEST(shown, "shown");
    QCOMPARE(WebSocketUrl::redactedText(text).contains(QLatin1String("s3")), false);
}

void TestWebSocketUrl::secretQueryKeys_data()
{
    QTest::addColumn<QString>("key");
    QTest::addColumn<bool>("secret");
    QTest::newRow("token") << "token" << true;
    QTest::newRow("TOKEN") << "TOKEN" << true;
    QTest::newRow("access_token") << "access_token" << true;
    QTest::newRow("api-key") << "api-key" << true;
    QTest::newRow("password") << "password" << true;
    QTest::newRow("room") << "room" << false;
    QTest::newRow("tokens_left") << "tokens_left" << false;
}

void TestWebSocketUrl::secretQueryKeys()
{
    QFETCH(QString, key);
    QTEST(WebSocketUrl::isSecretQueryKey(key), "secret");
}

void TestWebSocketUrl::errorsHideCredentials_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("bad port") << "wss://alice:s3cret@host:44x/";
    QTest::newRow("bad scheme") << "ftp://alice:s3cret@host/";
    QTest::newRow("query token") << "gopher://host/?token=s3cret";
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

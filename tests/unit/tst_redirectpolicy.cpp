// Which headers a client request gets where once redirects are followed: the credentials only
// on the configured origin (scheme, host and port), and no redirect from wss:// down to ws://.
#include "client/redirectpolicy.h"

#include <QTest>

namespace {

ClientOptions configured()
{
    ClientOptions options;
    options.serverUrl = QUrl(QStringLiteral("wss://alice:pw@example.org/ssh/"));
    options.token = QStringLiteral("tok");
    options.headers = {{"Cookie", "sid=1"}, {"X-Team", "ops"}, {"proxy-authorization", "Basic x"}};
    return options;
}

QStringList lines(const RedirectPolicy::Headers &headers)
{
    QStringList out;
    for (const auto &header : headers)
        out.append(QString::fromLatin1(header.first + ": " + header.second));
    return out;
}

} // namespace

class TestRedirectPolicy : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void headersFor_data();
    void headersFor();
    void refusal_data();
    void refusal();
};

void TestRedirectPolicy::headersFor_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("trusted");
    QTest::addColumn<QStringList>("headers");
    const QStringList all = {"Authorization: Basic YWxpY2U6cHc=", "Authorization: Bearer tok",
                             "Cookie: sid=1", "X-Team: ops", "proxy-authorization: Basic x"};
    const QStringList harmless = {"X-Team: ops"};
    QTest::newRow("the configured URL") << "wss://alice:pw@example.org/ssh/" << true << all;
    QTest::newRow("another path") << "wss://example.org/elsewhere?x=1" << true << all;
    QTest::newRow("the default port spelt out") << "wss://EXAMPLE.org:443/" << true << all;
    QTest::newRow("another port") << "wss://example.org:8443/ssh/" << false << harmless;
    QTest::newRow("another host") << "wss://example.net/ssh/" << false << harmless;
    QTest::newRow("a subdomain") << "wss://www.example.org/ssh/" << false << harmless;
    QTest::newRow("without TLS, same host and port")
        << "ws://example.org:443/ssh/" << false << harmless;
    QTest::newRow("the https form of a probe") << "https://example.org/ssh/" << false << harmless;
}

void TestRedirectPolicy::headersFor()
{
    QFETCH(QString, url);
    const RedirectPolicy policy(configured());
    QTEST(policy.isTrusted(QUrl(url)), "trusted");
    QTEST(lines(policy.headersFor(QUrl(url))), "headers");
}

void TestRedirectPolicy::refusal_data()
{
    QTest::addColumn<QString>("from");
    QTest::addColumn<QString>("to");
    QTest::addColumn<bool>("refused");
    QTest::newRow("wss to ws") << "wss://example.org/"
                               << "ws://example.org/" << true;
    QTest::newRow("wss to ws elsewhere") << "wss://example.org/"
                                         << "ws://example.net:8080/" << true;
    QTest::newRow("https to http (a probe)") << "https://example.org/"
                                             << "http://example.org/" << true;
    QTest::newRow("wss to wss") << "wss://example.org/"
                                << "wss://example.net/" << false;
    QTest::newRow("ws to wss") << "ws://example.org/"
                               << "wss://example.org/" << false;
    QTest::newRow("ws to ws") << "ws://example.org/"
                              << "ws://example.org:8080/" << false;
}

void TestRedirectPolicy::refusal()
{
    QFETCH(QString, from);
    QFETCH(QString, to);
    QFETCH(bool, refused);
    const RedirectPolicy policy(configured());
    const QString why = policy.refusal(QUrl(from), QUrl(to));
    QCOMPARE(!why.isEmpty(), refused);
    if (refused)
        QVERIFY2(why.contains(QLatin1String("without TLS; not followed")), qPrintable(why));
}

QTEST_APPLESS_MAIN(TestRedirectPolicy)
#include "tst_redirectpolicy.moc"

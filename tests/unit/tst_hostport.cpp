// Address parsing as users write it on the command line, and the one rule for listening
// addresses that clash.
#include "net/hostport.h"

#include <QTest>

class TestHostPort : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parse_data();
    void parse();
    void errors_data();
    void errors();
    void listenAddress();
    void clash_data();
    void clash();
    void hostNames_data();
    void hostNames();
};

void TestHostPort::parse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("allowEmptyHost");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("canonical");

    QTest::newRow("any interface") << ":8080" << true << "" << 8080 << ":8080";
    QTest::newRow("ipv4") << "127.0.0.1:1234" << false << "127.0.0.1" << 1234 << "127.0.0.1:1234";
    QTest::newRow("ipv6") << "[::1]:5000" << false << "::1" << 5000 << "[::1]:5000";
    QTest::newRow("host name") << "github.com:22" << false << "github.com" << 22 << "github.com:22";
    QTest::newRow("localhost") << "localhost:80" << false << "localhost" << 80 << "localhost:80";
    QTest::newRow("spaces trimmed")
        << "  example.org:443 " << false << "example.org" << 443 << "example.org:443";
    QTest::newRow("port zero") << "127.0.0.1:0" << true << "127.0.0.1" << 0 << "127.0.0.1:0";
    QTest::newRow("max port") << ":65535" << true << "" << 65535 << ":65535";
}

void TestHostPort::parse()
{
    QFETCH(QString, text);
    QFETCH(bool, allowEmptyHost);
    QString error;
    const auto parsed = HostPort::parse(text, allowEmptyHost, &error);
    QVERIFY2(parsed.has_value(), qPrintable(error));
    QTEST(parsed->host, "host");
    QTEST(int(parsed->port), "port");
    QTEST(parsed->toString(), "canonical");
}

void TestHostPort::errors_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("allowEmptyHost");
    QTest::addColumn<QString>("expected"); // part of the message a user must see

    QTest::newRow("empty") << "" << true << "empty";
    QTest::newRow("no port") << "example.org" << false << "missing \":port\"";
    QTest::newRow("port not a number") << "example.org:ssh" << false << "is not a port number";
    QTest::newRow("port too big") << ":70000" << true << "out of range";
    QTest::newRow("empty port") << "example.org:" << false << "is not a port number";
    QTest::newRow("host required") << ":22" << false << "a host is required";
    QTest::newRow("ipv6 without brackets") << "::1:5000" << false << "brackets";
    QTest::newRow("unclosed bracket") << "[::1:5000" << false << "missing ']'";
    QTest::newRow("not ipv6 in brackets") << "[example.org]:1" << false << "not an IPv6 address";
    QTest::newRow("bad host") << "exa mple.org:1" << false << "not a valid host name";
    QTest::newRow("negative port") << "host:-1" << false << "is not a port number";
}

void TestHostPort::errors()
{
    QFETCH(QString, text);
    QFETCH(bool, allowEmptyHost);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!HostPort::parse(text, allowEmptyHost, &error).has_value());
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY2(error.contains(text.trimmed()), qPrintable(error)); // says which input was wrong
}

void TestHostPort::listenAddress()
{
    QString error;
    QCOMPARE(HostPort::parse(QStringLiteral(":80"), true, &error)->listenAddress(),
             QHostAddress(QHostAddress::Any));
    QCOMPARE(HostPort::parse(QStringLiteral("[::1]:80"), true, &error)->listenAddress(),
             QHostAddress(QHostAddress::LocalHostIPv6));
    QCOMPARE(HostPort::parse(QStringLiteral("localhost:80"), true, &error)->listenAddress(),
             QHostAddress(QHostAddress::LocalHost));
    QVERIFY(
        HostPort::parse(QStringLiteral("example.org:80"), true, &error)->listenAddress().isNull());
}

void TestHostPort::clash_data()
{
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::addColumn<bool>("clash");

    QTest::newRow("same address") << "127.0.0.1:2222"
                                  << "127.0.0.1:2222" << true;
    QTest::newRow("other port") << "127.0.0.1:2222"
                                << "127.0.0.1:2223" << false;
    QTest::newRow("other address") << "127.0.0.1:2222"
                                   << "127.0.0.2:2222" << false;
    QTest::newRow("every interface") << ":2222"
                                     << "127.0.0.1:2222" << true;
    QTest::newRow("every interface, IPv6") << ":2222"
                                           << "[::1]:2222" << true;
    QTest::newRow("0.0.0.0 takes IPv4") << "0.0.0.0:47003"
                                        << "127.0.0.1:47003" << true;
    QTest::newRow("0.0.0.0 takes a name") << "0.0.0.0:47003"
                                          << "myhost:47003" << true;
    QTest::newRow("0.0.0.0 leaves IPv6") << "0.0.0.0:47003"
                                         << "[::1]:47003" << false;
    QTest::newRow(":: takes IPv6") << "[::]:47003"
                                   << "[::1]:47003" << true;
    QTest::newRow(":: takes IPv4 (dual stack)") << "[::]:47003"
                                                << "127.0.0.1:47003" << true;
    QTest::newRow(":: and 0.0.0.0") << "[::]:47003"
                                    << "0.0.0.0:47003" << true;
    QTest::newRow("localhost is 127.0.0.1") << "localhost:2222"
                                            << "127.0.0.1:2222" << true;
    QTest::newRow("names ignore case") << "LocalHost:2222"
                                       << "localhost:2222" << true;
    QTest::newRow("IPv4-mapped") << "[::ffff:127.0.0.1]:2222"
                                 << "127.0.0.1:2222" << true;
    QTest::newRow("IPv6 spellings") << "[::1]:2222"
                                    << "[0:0::1]:2222" << true;
    QTest::newRow("loopbacks of two families") << "[::1]:2222"
                                               << "127.0.0.1:2222" << false;
    QTest::newRow("unknown name") << "myhost:2222"
                                  << "127.0.0.1:2222" << false;
}

void TestHostPort::clash()
{
    QFETCH(QString, a);
    QFETCH(QString, b);
    QFETCH(bool, clash);
    const auto first = HostPort::parse(a, true, nullptr);
    const auto second = HostPort::parse(b, true, nullptr);
    QVERIFY(first && second);
    QCOMPARE(first->clashesWith(*second), clash);
    QCOMPARE(second->clashesWith(*first), clash); // symmetric
}

void TestHostPort::hostNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("valid");
    QTest::newRow("plain") << "example.org" << true;
    QTest::newRow("IPv4") << "192.0.2.1" << true;
    QTest::newRow("internationalized") << QStringLiteral("b\u00fccher.example") << true;
    QTest::newRow("space") << "bad name" << false;
    QTest::newRow("empty") << "" << false;
    QTest::newRow("port") << "example.org:443" << false;
    QTest::newRow("leading dot") << ".example.org" << false;
}

void TestHostPort::hostNames()
{
    QFETCH(QString, name);
    QFETCH(bool, valid);
    QCOMPARE(HostPort::isValidHostName(name), valid);
}

QTEST_APPLESS_MAIN(TestHostPort)
#include "tst_hostport.moc"

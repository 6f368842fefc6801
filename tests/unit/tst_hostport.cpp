// Address parsing as users write it on the command line.
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

QTEST_APPLESS_MAIN(TestHostPort)
#include "tst_hostport.moc"

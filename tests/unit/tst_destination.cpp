// The Tow-Destination header value a client names per tunnel, and the Tow-Error tokens the
// server answers with (issue 23's wire).
#include "net/destination.h"

#include <QTest>

class TestDestination : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parse_data();
    void parse();
    void rejects_data();
    void rejects();
    void errorTokens();
};

void TestDestination::parse_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<bool>("udp");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QByteArray>("canonical");

    QTest::newRow("name") << QByteArray("db.corp.example:5432") << false << "db.corp.example"
                          << 5432 << QByteArray("db.corp.example:5432");
    QTest::newRow("ipv4") << QByteArray("10.0.0.5:22") << false << "10.0.0.5" << 22
                          << QByteArray("10.0.0.5:22");
    QTest::newRow("ipv6") << QByteArray("[fd00::1]:80") << false << "fd00::1" << 80
                          << QByteArray("[fd00::1]:80");
    QTest::newRow("udp ipv4") << QByteArray("udp/10.0.0.5:51820") << true << "10.0.0.5" << 51820
                              << QByteArray("udp/10.0.0.5:51820");
    QTest::newRow("udp ipv6") << QByteArray("udp/[::1]:53") << true << "::1" << 53
                              << QByteArray("udp/[::1]:53");
    QTest::newRow("udp name") << QByteArray("udp/vpn.internal:51820") << true << "vpn.internal"
                              << 51820 << QByteArray("udp/vpn.internal:51820");
    QTest::newRow("single label") << QByteArray("localhost:1") << false << "localhost" << 1
                                  << QByteArray("localhost:1");
    QTest::newRow("max port") << QByteArray("a.example:65535") << false << "a.example" << 65535
                              << QByteArray("a.example:65535");
    QTest::newRow("leading zeros") << QByteArray("a.example:00443") << false << "a.example" << 443
                                   << QByteArray("a.example:443");
    QTest::newRow("optional white space") << QByteArray(" \ta.example:443 ") << false << "a.example"
                                          << 443 << QByteArray("a.example:443");
    QTest::newRow("punycode") << QByteArray("xn--bcher-kva.example:443") << false
                              << "xn--bcher-kva.example" << 443
                              << QByteArray("xn--bcher-kva.example:443");
    QTest::newRow("253 characters")
        << QByteArray(QByteArray(249, 'a') + ".com:1") << false
        << QString(QString(249, QLatin1Char('a')) + QStringLiteral(".com")) << 1
        << QByteArray(QByteArray(249, 'a') + ".com:1");
}

void TestDestination::parse()
{
    QFETCH(QByteArray, value);
    const auto parsed = Destination::parse(value);
    QVERIFY(parsed.has_value());
    QTEST(parsed->udp, "udp");
    QTEST(parsed->target.host, "host");
    QTEST(int(parsed->target.port), "port");
    QTEST(parsed->headerValue(), "canonical");
    // What headerValue() writes, parse() reads back as the same destination.
    const auto again = Destination::parse(parsed->headerValue());
    QVERIFY(again.has_value());
    QCOMPARE(*again, *parsed);
}

void TestDestination::rejects_data()
{
    QTest::addColumn<QByteArray>("value");

    QTest::newRow("empty") << QByteArray("");
    QTest::newRow("spaces only") << QByteArray("   ");
    QTest::newRow("no port") << QByteArray("a.example");
    QTest::newRow("empty port") << QByteArray("a.example:");
    QTest::newRow("port zero") << QByteArray("a.example:0");
    QTest::newRow("port too big") << QByteArray("a.example:65536");
    QTest::newRow("port six digits") << QByteArray("a.example:000443");
    QTest::newRow("port sign") << QByteArray("a.example:+443");
    QTest::newRow("port hex") << QByteArray("a.example:0x1bb");
    QTest::newRow("port with space") << QByteArray("a.example: 443");
    QTest::newRow("no host") << QByteArray(":443");
    QTest::newRow("space in host") << QByteArray("a example:443");
    QTest::newRow("ipv6 without brackets") << QByteArray("fd00::1:80");
    QTest::newRow("ipv6 unclosed") << QByteArray("[fd00::1:80");
    QTest::newRow("brackets around ipv4") << QByteArray("[10.0.0.1]:80");
    QTest::newRow("brackets around name") << QByteArray("[a.example]:80");
    QTest::newRow("ipv6 zone") << QByteArray("[fe80::1%eth0]:80");
    QTest::newRow("empty brackets") << QByteArray("[]:80");
    QTest::newRow("hyphen first") << QByteArray("-a.example:80");
    QTest::newRow("trailing dot label") << QByteArray("a..example.:80");
    QTest::newRow("not ascii") << QByteArray("b\xc3\xbc"
                                             "cher.example:443");
    QTest::newRow("control character") << QByteArray("a.example\r:443");
    QTest::newRow("slash") << QByteArray("a.example/x:443");
    QTest::newRow("scheme") << QByteArray("tcp://a.example:443");
    QTest::newRow("udp twice") << QByteArray("udp/udp/a.example:53");
    QTest::newRow("udp capitals") << QByteArray("UDP/a.example:53");
    QTest::newRow("udp only") << QByteArray("udp/");
    QTest::newRow("254 characters") << QByteArray(QByteArray(250, 'a') + ".com:1");
}

void TestDestination::rejects()
{
    QFETCH(QByteArray, value);
    QVERIFY(!Destination::parse(value).has_value());
}

void TestDestination::errorTokens()
{
    const struct
    {
        Destination::Error error;
        const char *token;
        int status;
    } rows[] = {
        {Destination::Error::BadDestination, "bad-destination", 400},
        {Destination::Error::NotAllowed, "not-allowed", 403},
        {Destination::Error::NoSuchHost, "no-such-host", 502},
        {Destination::Error::Refused, "refused", 502},
        {Destination::Error::HostUnreachable, "host-unreachable", 502},
        {Destination::Error::NetworkUnreachable, "network-unreachable", 502},
        {Destination::Error::Timeout, "timeout", 504},
        {Destination::Error::Busy, "busy", 503},
        {Destination::Error::ShuttingDown, "shutting-down", 503},
    };
    for (const auto &row : rows) {
        QCOMPARE(Destination::errorToken(row.error), QByteArray(row.token));
        QCOMPARE(Destination::httpStatus(row.error), row.status);
        QCOMPARE(Destination::errorFromToken(row.token), std::optional(row.error));
    }
    QCOMPARE(Destination::errorFromToken("Refused"), std::nullopt);
    QCOMPARE(Destination::errorFromToken(""), std::nullopt);
    QCOMPARE(QByteArray(Destination::kHeader), QByteArray("Tow-Destination"));
    QCOMPARE(QByteArray(Destination::kErrorHeader), QByteArray("Tow-Error"));
}

QTEST_APPLESS_MAIN(TestDestination)
#include "tst_destination.moc"

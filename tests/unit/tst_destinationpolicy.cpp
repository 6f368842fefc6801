// Dynamic routes' allow lists: the rules as users write them, and which resolved addresses of a
// requested destination they let through, with the default denials that only an explicit
// address or network entry lifts.
#include "server/destinationpolicy.h"

#include <QNetworkInterface>
#include <QTest>

class TestDestinationPolicy : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parse_data();
    void parse();
    void errors_data();
    void errors();
    void allows_data();
    void allows();
    void mayAllow_data();
    void mayAllow();
    void thisHostIsDenied();
};

void TestDestinationPolicy::parse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("udp");
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("subnet"); // "address/prefix", or empty
    QTest::addColumn<QString>("ports"); // "first-last,..."

    using K = DestinationRule::Kind;
    QTest::newRow("subdomain") << "*.corp.example:443" << false << int(K::Subdomain)
                               << ".corp.example"
                               << ""
                               << "443-443";
    QTest::newRow("exact name, case")
        << "DB.Corp.Example:5432" << false << int(K::Name) << "db.corp.example"
        << ""
        << "5432-5432";
    QTest::newRow("any host") << "*:*" << false << int(K::AnyHost) << ""
                              << ""
                              << "1-65535";
    QTest::newRow("ipv4") << "127.0.0.1:5432" << false << int(K::Subnet) << ""
                          << "127.0.0.1/32"
                          << "5432-5432";
    QTest::newRow("cidr") << "10.0.0.0/8:1-65535" << false << int(K::Subnet) << ""
                          << "10.0.0.0/8"
                          << "1-65535";
    QTest::newRow("cidr host bits cleared") << "10.1.2.3/8:22" << false << int(K::Subnet) << ""
                                            << "10.0.0.0/8"
                                            << "22-22";
    QTest::newRow("ipv6") << "[::1]:80" << false << int(K::Subnet) << ""
                          << "::1/128"
                          << "80-80";
    QTest::newRow("ipv6 cidr") << "[fd00::/8]:443" << false << int(K::Subnet) << ""
                               << "fd00::/8"
                               << "443-443";
    QTest::newRow("udp") << "udp/10.0.0.5:51820" << true << int(K::Subnet) << ""
                         << "10.0.0.5/32"
                         << "51820-51820";
    QTest::newRow("port list") << "host.example:80,443,8000-8100" << false << int(K::Name)
                               << "host.example"
                               << ""
                               << "80-80,443-443,8000-8100";
    QTest::newRow("idn") << "*.b\u00fccher.example:443" << false << int(K::Subdomain)
                         << ".xn--bcher-kva.example"
                         << ""
                         << "443-443";
    QTest::newRow("spaces trimmed") << " *:22 " << false << int(K::AnyHost) << ""
                                    << ""
                                    << "22-22";
}

void TestDestinationPolicy::parse()
{
    QFETCH(QString, text);
    QString error;
    const auto rule = DestinationRule::parse(text, &error);
    QVERIFY2(rule.has_value(), qPrintable(error));
    QTEST(rule->udp, "udp");
    QTEST(int(rule->kind), "kind");
    QTEST(rule->name, "name");
    const QString subnet = rule->kind == DestinationRule::Kind::Subnet
        ? rule->subnet.first.toString() + QLatin1Char('/') + QString::number(rule->subnet.second)
        : QString();
    QTEST(subnet, "subnet");
    QStringList ports;
    for (const auto &range : rule->ports)
        ports.append(QStringLiteral("%1-%2").arg(range.first).arg(range.second));
    QTEST(ports.join(QLatin1Char(',')), "ports");
}

void TestDestinationPolicy::errors_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected"); // part of the message a user must see

    QTest::newRow("empty") << ""
                           << "empty";
    QTest::newRow("udp only") << "udp/"
                              << "empty";
    QTest::newRow("no ports") << "host.example"
                              << "missing \":PORTS\"";
    QTest::newRow("empty ports") << "host.example:"
                                 << "is not a port";
    QTest::newRow("port zero") << "host.example:0"
                               << "\"0\" is not a port";
    QTest::newRow("port too big") << "host.example:65536"
                                  << "\"65536\" is not a port";
    QTest::newRow("backwards range") << "host.example:90-80"
                                     << "ends before it starts";
    QTest::newRow("open range") << "host.example:80-"
                                << "\"80-\" is not a port";
    QTest::newRow("empty list item") << "host.example:80,,443"
                                     << "\"\" is not a port";
    QTest::newRow("ipv6 without brackets") << "fd00::1:80"
                                           << "in brackets";
    QTest::newRow("ipv6 unclosed") << "[fd00::1:80"
                                   << "missing ']'";
    QTest::newRow("ipv4 in brackets") << "[10.0.0.1]:80"
                                      << "not an IPv6 address";
    QTest::newRow("prefix too long") << "10.0.0.0/33:80"
                                     << "not an IPv4 network";
    QTest::newRow("prefix not a number") << "10.0.0.0/x:80"
                                         << "not an IPv4 network";
    QTest::newRow("ipv6 prefix too long") << "[fd00::/129]:80"
                                          << "not an IPv6 address";
    QTest::newRow("name with slash") << "host.example/8:80"
                                     << "not an IPv4 network";
    QTest::newRow("star in the middle") << "a.*.example:80"
                                        << "is not a host name";
    QTest::newRow("bare star dot") << "*.:80"
                                   << "is not a host name";
    QTest::newRow("scheme") << "tcp://host.example:80"
                            << "in brackets";
    QTest::newRow("tcp prefix") << "tcp/host.example:80"
                                << "is the only prefix";
}

void TestDestinationPolicy::errors()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!DestinationRule::parse(text, &error).has_value());
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY2(error.contains(text.trimmed()), qPrintable(error));
}

static DestinationPolicy policyOf(const QStringList &texts)
{
    QList<DestinationRule> rules;
    for (const QString &text : texts) {
        QString error;
        const auto rule = DestinationRule::parse(text, &error);
        if (!rule)
            qFatal("%s", qPrintable(error));
        rules.append(*rule);
    }
    // 192.0.2.10 and 2001:db8::10 stand for the server's own interface addresses.
    return DestinationPolicy(rules,
                             {QHostAddress(QStringLiteral("192.0.2.10")),
                              QHostAddress(QStringLiteral("2001:db8::10")),
                              QHostAddress(QStringLiteral("127.0.0.1"))});
}

void TestDestinationPolicy::allows_data()
{
    QTest::addColumn<QStringList>("rules");
    QTest::addColumn<QByteArray>("destination"); // the header value
    QTest::addColumn<QString>("address"); // one address it resolved to
    QTest::addColumn<bool>("allowed");

    const QStringList corp = {"*.corp.example:443"};
    QTest::newRow("subdomain, public address")
        << corp << QByteArray("git.corp.example:443") << "203.0.113.5" << true;
    QTest::newRow("subdomain, deeper")
        << corp << QByteArray("a.b.corp.example:443") << "203.0.113.5" << true;
    QTest::newRow("subdomain, any case")
        << corp << QByteArray("GIT.Corp.EXAMPLE:443") << "203.0.113.5" << true;
    QTest::newRow("subdomain, not the bare domain")
        << corp << QByteArray("corp.example:443") << "203.0.113.5" << false;
    QTest::newRow("subdomain, not a look-alike")
        << corp << QByteArray("evilcorp.example:443") << "203.0.113.5" << false;
    QTest::newRow("subdomain, wrong port")
        << corp << QByteArray("git.corp.example:80") << "203.0.113.5" << false;
    QTest::newRow("subdomain, not over udp")
        << corp << QByteArray("udp/git.corp.example:443") << "203.0.113.5" << false;
    QTest::newRow("name resolving to loopback")
        << corp << QByteArray("git.corp.example:443") << "127.0.0.1" << false;
    QTest::newRow("name resolving to loopback 127/8")
        << corp << QByteArray("git.corp.example:443") << "127.3.2.1" << false;
    QTest::newRow("name resolving to ipv6 loopback")
        << corp << QByteArray("git.corp.example:443") << "::1" << false;
    QTest::newRow("name resolving to mapped loopback")
        << corp << QByteArray("git.corp.example:443") << "::ffff:127.0.0.1" << false;
    QTest::newRow("name resolving to link-local")
        << corp << QByteArray("git.corp.example:443") << "169.254.169.254" << false;
    QTest::newRow("name resolving to ipv6 link-local")
        << corp << QByteArray("git.corp.example:443") << "fe80::1" << false;
    QTest::newRow("name resolving to unspecified")
        << corp << QByteArray("git.corp.example:443") << "0.0.0.0" << false;
    QTest::newRow("name resolving to ipv6 unspecified")
        << corp << QByteArray("git.corp.example:443") << "::" << false;
    QTest::newRow("name resolving to multicast")
        << corp << QByteArray("git.corp.example:443") << "239.1.2.3" << false;
    QTest::newRow("name resolving to ipv6 multicast")
        << corp << QByteArray("git.corp.example:443") << "ff02::1" << false;
    QTest::newRow("name resolving to broadcast")
        << corp << QByteArray("git.corp.example:443") << "255.255.255.255" << false;
    QTest::newRow("name resolving to the server")
        << corp << QByteArray("git.corp.example:443") << "192.0.2.10" << false;
    QTest::newRow("name resolving to the server, ipv6")
        << corp << QByteArray("git.corp.example:443") << "2001:db8::10" << false;
    QTest::newRow("name resolving next to the server")
        << corp << QByteArray("git.corp.example:443") << "192.0.2.11" << true;

    const QStringList exact = {"db.corp.example:5432"};
    QTest::newRow("exact name") << exact << QByteArray("db.corp.example:5432") << "10.1.1.1"
                                << true;
    QTest::newRow("exact name, not a subdomain")
        << exact << QByteArray("x.db.corp.example:5432") << "10.1.1.1" << false;

    const QStringList any = {"*:*"};
    QTest::newRow("star, name") << any << QByteArray("example.org:80") << "93.184.216.34" << true;
    QTest::newRow("star, literal") << any << QByteArray("8.8.8.8:53") << "8.8.8.8" << true;
    QTest::newRow("star, ipv6") << any << QByteArray("[2606:4700::1]:443") << "2606:4700::1"
                                << true;
    QTest::newRow("star, not loopback")
        << any << QByteArray("127.0.0.1:22") << "127.0.0.1" << false;
    QTest::newRow("star, not localhost") << any << QByteArray("localhost:22") << "::1" << false;
    QTest::newRow("star, not the server")
        << any << QByteArray("192.0.2.10:22") << "192.0.2.10" << false;
    QTest::newRow("star, tcp only") << any << QByteArray("udp/8.8.8.8:53") << "8.8.8.8" << false;

    const QStringList net = {"10.0.0.0/8:1-65535"};
    QTest::newRow("cidr inside") << net << QByteArray("10.20.30.40:22") << "10.20.30.40" << true;
    QTest::newRow("cidr outside") << net << QByteArray("11.0.0.1:22") << "11.0.0.1" << false;
    QTest::newRow("cidr, by address whatever the name")
        << net << QByteArray("anything.example:22") << "10.0.0.7" << true;
    QTest::newRow("cidr, name resolving outside")
        << net << QByteArray("anything.example:22") << "192.168.1.1" << false;
    QTest::newRow("cidr, mapped address inside")
        << net << QByteArray("anything.example:22") << "::ffff:10.0.0.7" << true;

    const QStringList everything = {"0.0.0.0/0:*", "[::/0]:*"};
    QTest::newRow("0/0 does not lift loopback")
        << everything << QByteArray("127.0.0.1:22") << "127.0.0.1" << false;
    QTest::newRow("::/0 does not lift loopback")
        << everything << QByteArray("[::1]:22") << "::1" << false;
    QTest::newRow("0/0 does not lift the server")
        << everything << QByteArray("192.0.2.10:22") << "192.0.2.10" << false;
    QTest::newRow("0/0 does not lift link-local")
        << everything << QByteArray("169.254.1.1:22") << "169.254.1.1" << false;
    QTest::newRow("0/0 reaches public")
        << everything << QByteArray("203.0.113.9:22") << "203.0.113.9" << true;
    QTest::newRow("::/0 reaches public")
        << everything << QByteArray("[2001:db8::99]:22") << "2001:db8::99" << true;

    const QStringList loopback = {"127.0.0.1:5432"};
    QTest::newRow("explicit loopback")
        << loopback << QByteArray("127.0.0.1:5432") << "127.0.0.1" << true;
    QTest::newRow("explicit loopback, by name")
        << loopback << QByteArray("localhost:5432") << "127.0.0.1" << true;
    QTest::newRow("explicit loopback, other port")
        << loopback << QByteArray("127.0.0.1:5433") << "127.0.0.1" << false;
    QTest::newRow("explicit loopback, other loopback address")
        << loopback << QByteArray("127.0.0.2:5432") << "127.0.0.2" << false;
    QTest::newRow("explicit loopback, not ::1")
        << loopback << QByteArray("localhost:5432") << "::1" << false;
    QTest::newRow("loopback network")
        << QStringList {"127.0.0.0/8:*"} << QByteArray("127.0.0.2:1") << "127.0.0.2" << true;
    QTest::newRow("explicit ipv6 loopback")
        << QStringList {"[::1]:80"} << QByteArray("[::1]:80") << "::1" << true;
    QTest::newRow("explicit link-local")
        << QStringList {"169.254.169.254:80"} << QByteArray("169.254.169.254:80")
        << "169.254.169.254" << true;
    QTest::newRow("explicit server address")
        << QStringList {"192.0.2.10:22"} << QByteArray("192.0.2.10:22") << "192.0.2.10" << true;
    QTest::newRow("network around the server does not lift it")
        << QStringList {"192.0.2.0/24:22"} << QByteArray("192.0.2.10:22") << "192.0.2.10" << false;
    QTest::newRow("network around the server reaches the rest")
        << QStringList {"192.0.2.0/24:22"} << QByteArray("192.0.2.12:22") << "192.0.2.12" << true;
    QTest::newRow("name rule does not lift loopback")
        << QStringList {"localhost:5432"} << QByteArray("localhost:5432") << "127.0.0.1" << false;

    const QStringList udp = {"udp/10.0.0.5:51820"};
    QTest::newRow("udp entry") << udp << QByteArray("udp/10.0.0.5:51820") << "10.0.0.5" << true;
    QTest::newRow("udp entry, not tcp")
        << udp << QByteArray("10.0.0.5:51820") << "10.0.0.5" << false;
    QTest::newRow("udp entry, other port")
        << udp << QByteArray("udp/10.0.0.5:51821") << "10.0.0.5" << false;

    const QStringList list = {"host.example:80,443,8000-8100"};
    QTest::newRow("port list, first")
        << list << QByteArray("host.example:80") << "203.0.113.1" << true;
    QTest::newRow("port list, range start")
        << list << QByteArray("host.example:8000") << "203.0.113.1" << true;
    QTest::newRow("port list, range end")
        << list << QByteArray("host.example:8100") << "203.0.113.1" << true;
    QTest::newRow("port list, past the range")
        << list << QByteArray("host.example:8101") << "203.0.113.1" << false;
    QTest::newRow("port list, between")
        << list << QByteArray("host.example:81") << "203.0.113.1" << false;

    QTest::newRow("no rules") << QStringList() << QByteArray("host.example:80") << "203.0.113.1"
                              << false;
    QTest::newRow("second rule matches") << QStringList {"a.example:80", "10.0.0.0/8:22"}
                                         << QByteArray("10.0.0.1:22") << "10.0.0.1" << true;
}

void TestDestinationPolicy::allows()
{
    QFETCH(QStringList, rules);
    QFETCH(QByteArray, destination);
    QFETCH(QString, address);
    const auto parsed = Destination::parse(destination);
    QVERIFY(parsed.has_value());
    QTEST(policyOf(rules).allows(*parsed, QHostAddress(address)), "allowed");
}

void TestDestinationPolicy::mayAllow_data()
{
    QTest::addColumn<QStringList>("rules");
    QTest::addColumn<QByteArray>("destination");
    QTest::addColumn<bool>("mayAllow");

    QTest::newRow("name taken") << QStringList {"*.corp.example:443"}
                                << QByteArray("a.corp.example:443") << true;
    QTest::newRow("name not taken")
        << QStringList {"*.corp.example:443"} << QByteArray("a.other.example:443") << false;
    QTest::newRow("port not taken")
        << QStringList {"*.corp.example:443"} << QByteArray("a.corp.example:22") << false;
    QTest::newRow("protocol not taken")
        << QStringList {"*.corp.example:443"} << QByteArray("udp/a.corp.example:443") << false;
    QTest::newRow("network: any name may resolve into it")
        << QStringList {"10.0.0.0/8:22"} << QByteArray("a.other.example:22") << true;
    QTest::newRow("network, other port")
        << QStringList {"10.0.0.0/8:22"} << QByteArray("a.other.example:23") << false;
}

void TestDestinationPolicy::mayAllow()
{
    QFETCH(QStringList, rules);
    QFETCH(QByteArray, destination);
    const auto parsed = Destination::parse(destination);
    QVERIFY(parsed.has_value());
    QTEST(policyOf(rules).mayAllow(*parsed), "mayAllow");
}

void TestDestinationPolicy::thisHostIsDenied()
{
    // The real interface addresses: each one is the server's own, or loopback or link-local.
    QString error;
    const auto rule = DestinationRule::parse(QStringLiteral("*:*"), &error);
    QVERIFY2(rule, qPrintable(error));
    const DestinationPolicy policy = DestinationPolicy::forThisHost({*rule});
    const auto all = QNetworkInterface::allAddresses();
    QVERIFY(!all.isEmpty());
    for (const QHostAddress &address : all) {
        QHostAddress bare = address;
        bare.setScopeId(QString());
        const auto destination =
            Destination::parse(HostPort {bare.toString(), 22}.toString().toLatin1());
        QVERIFY(destination);
        QVERIFY2(!policy.allows(*destination, address), qPrintable(address.toString()));
        QVERIFY(!policy.defaultDenial(address).isEmpty());
    }
    QCOMPARE(policy.defaultDenial(QHostAddress(QStringLiteral("203.0.113.1"))), QString());
}

QTEST_APPLESS_MAIN(TestDestinationPolicy)
#include "tst_destinationpolicy.moc"

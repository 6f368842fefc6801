// The SOCKS5 handshake as a SOCKS client drives it (RFC 1928, RFC 1929): every answer, every
// refusal, the bytes it takes (never those that follow the request) whether they come at once,
// byte by byte or in pieces.
#include "client/socks5handshake.h"

#include <QTest>

Q_DECLARE_METATYPE(Socks5Handshake::State)

namespace {

QByteArray hex(const char *text)
{
    return QByteArray::fromHex(QByteArray(text).replace(' ', ""));
}

const char *const kOk = "0500";
const char *const kNoMethod = "05ff";

} // namespace

class TestSocks5Handshake : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void handshake_data();
    void handshake();
    void pieces_data() { handshake_data(); }
    void pieces();
    void reply();
    void longestMessages();
};

void TestSocks5Handshake::handshake_data()
{
    QTest::addColumn<QByteArray>("user");
    QTest::addColumn<QByteArray>("password");
    QTest::addColumn<QByteArray>("input"); // what the client sends, maybe with data after
    QTest::addColumn<int>("taken"); // how many bytes of it the handshake takes
    QTest::addColumn<QByteArray>("answer");
    QTest::addColumn<Socks5Handshake::State>("state");
    QTest::addColumn<QString>("destination"); // when the state is Connect

    using S = Socks5Handshake::State;
    const QByteArray none;
    const QByteArray user = "alice";
    const QByteArray password = "s3cret";
    const QByteArray ipv4Request = hex("05 01 00 01 7f000001 0050"); // 127.0.0.1:80
    const QByteArray auth = hex("01 05") + user + hex("06") + password;

    QTest::newRow("no auth, ipv4") << none << none << hex("05 01 00") + ipv4Request << 13
                                   << hex(kOk) << S::Connect << "127.0.0.1:80";
    QTest::newRow("no auth among others") << none << none << hex("05 03 02 01 00") + ipv4Request
                                          << 15 << hex(kOk) << S::Connect << "127.0.0.1:80";
    QTest::newRow("ipv6") << none << none
                          << hex("05 01 00 05 01 00 04 20010db8000000000000000000000001 01bb") << 25
                          << hex(kOk) << S::Connect << "[2001:db8::1]:443";
    QTest::newRow("domain name") << none << none
                                 << hex("05 01 00 05 01 00 03 0b") + "example.org" + hex("1f90")
                                 << 21 << hex(kOk) << S::Connect << "example.org:8080";
    QTest::newRow("longest name") << none << none
                                  << hex("05 01 00 05 01 00 03 ff") + QByteArray(255, 'a')
            + hex("0016") << 3 + 5 + 255 + 2
                                  << hex(kOk) << S::Connect
                                  << QString(255, QLatin1Char('a')) + ":22";
    QTest::newRow("pipelined data stays")
        << none << none << hex("05 01 00") + ipv4Request + "GET / HTTP/1.1\r\n"
        << 13 << hex(kOk) << S::Connect << "127.0.0.1:80";
    QTest::newRow("pipelined data that looks like SOCKS stays")
        << none << none << hex("05 01 00") + ipv4Request + hex("05 01 00") << 13 << hex(kOk)
        << S::Connect << "127.0.0.1:80";
    QTest::newRow("greeting only")
        << none << none << hex("05 01 00") << 3 << hex(kOk) << S::Request << "";
    QTest::newRow("incomplete greeting")
        << none << none << hex("05 02 00") << 3 << QByteArray() << S::Greeting << "";
    QTest::newRow("incomplete request")
        << none << none << hex("05 01 00 05 01 00 03 0b") + "example" << 15 << hex(kOk)
        << S::Request << "";

    QTest::newRow("no acceptable method: only user/password offered")
        << none << none << hex("05 01 02") + ipv4Request << 3 << hex(kNoMethod) << S::Failed << "";
    QTest::newRow("no acceptable method: no methods")
        << none << none << hex("05 00") + ipv4Request << 2 << hex(kNoMethod) << S::Failed << "";
    QTest::newRow("no acceptable method: user required, no auth offered")
        << user << password << hex("05 01 00") + auth << 3 << hex(kNoMethod) << S::Failed << "";
    QTest::newRow("bad version: closed at the first byte")
        << none << none << QByteArray("GET / HTTP/1.1\r\n\r\n") << 1 << QByteArray() << S::Failed
        << "";
    QTest::newRow("SOCKS4: closed")
        << none << none << hex("04 01 0050 7f000001 00") << 1 << QByteArray() << S::Failed << "";
    QTest::newRow("bad version in the request")
        << none << none << hex("05 01 00 04 01 00 01 7f000001 0050") << 4 << hex(kOk) << S::Failed
        << "";

    QTest::newRow("user/password")
        << user << password << hex("05 02 00 02") + auth + ipv4Request << 4 + 14 + 10
        << hex("0502 0100") << S::Connect << "127.0.0.1:80";
    QTest::newRow("user/password, data after")
        << user << password << hex("05 01 02") + auth + ipv4Request + "data" << 3 + 14 + 10
        << hex("0502 0100") << S::Connect << "127.0.0.1:80";
    QTest::newRow("wrong password")
        << user << password << hex("05 01 02 01 05") + user + hex("06") + "s3creT" + ipv4Request
        << 3 + 14 << hex("0502 0101") << S::Failed << "";
    QTest::newRow("wrong user") << user << password
                                << hex("05 01 02 01 03") + "bob" + hex("06") + password
            + ipv4Request << 3 + 12
                                << hex("0502 0101") << S::Failed << "";
    QTest::newRow("password is a prefix")
        << user << password << hex("05 01 02 01 05") + user + hex("03") + "s3c" << 3 + 11
        << hex("0502 0101") << S::Failed << "";
    QTest::newRow("empty password")
        << user << password << hex("05 01 02 01 05") + user + hex("00") + ipv4Request << 3 + 8
        << hex("0502 0101") << S::Failed << "";
    QTest::newRow("bad sub-negotiation version") << user << password << hex("05 01 02 05 05") + user
                                                 << 4 << hex("0502 0101") << S::Failed << "";

    QTest::newRow("BIND: command not supported")
        << none << none << hex("05 01 00 05 02 00 01 7f000001 0050") << 3 + 4
        << hex(kOk) + hex("05 07 00 01 00000000 0000") << S::Failed << "";
    QTest::newRow("UDP ASSOCIATE: command not supported")
        << none << none << hex("05 01 00 05 03 00 01 00000000 0000") << 3 + 4
        << hex(kOk) + hex("05 07 00 01 00000000 0000") << S::Failed << "";
    QTest::newRow("address type 2: not supported")
        << none << none << hex("05 01 00 05 01 00 02 7f000001 0050") << 3 + 4
        << hex(kOk) + hex("05 08 00 01 00000000 0000") << S::Failed << "";
    QTest::newRow("address type 0: not supported")
        << none << none << hex("05 01 00 05 01 00 00") << 3 + 4
        << hex(kOk) + hex("05 08 00 01 00000000 0000") << S::Failed << "";
    QTest::newRow("empty name") << none << none << hex("05 01 00 05 01 00 03 00 0050") << 3 + 7
                                << hex(kOk) + hex("05 01 00 01 00000000 0000") << S::Failed << "";
    QTest::newRow("port 0") << none << none << hex("05 01 00 05 01 00 01 7f000001 0000") << 3 + 10
                            << hex(kOk) + hex("05 01 00 01 00000000 0000") << S::Failed << "";
}

void TestSocks5Handshake::handshake()
{
    QFETCH(QByteArray, user);
    QFETCH(QByteArray, password);
    QFETCH(QByteArray, input);
    QFETCH(int, taken);
    QFETCH(QByteArray, answer);
    QFETCH(Socks5Handshake::State, state);
    QFETCH(QString, destination);

    Socks5Handshake handshake(user, password);
    QByteArray sent;
    QCOMPARE(handshake.feed(input, &sent), qsizetype(taken));
    QCOMPARE(sent.toHex(' '), answer.toHex(' '));
    QCOMPARE(handshake.state(), state);
    if (state == Socks5Handshake::State::Connect)
        QCOMPARE(handshake.destination().toString(), destination);
    if (state == Socks5Handshake::State::Failed)
        QVERIFY(!handshake.failure().isEmpty());
    QCOMPARE(handshake.authenticated(),
             !user.isEmpty()
                 && (state == Socks5Handshake::State::Connect
                     || state == Socks5Handshake::State::Request));
    // Done: nothing more is taken.
    if (state == Socks5Handshake::State::Connect || state == Socks5Handshake::State::Failed) {
        QCOMPARE(handshake.feed(QByteArray("more"), &sent), qsizetype(0));
        QCOMPARE(sent.toHex(' '), answer.toHex(' '));
    }
}

// The same bytes byte by byte and in pieces of every size from 2 to 7: the same answer, the same
// bytes taken.
void TestSocks5Handshake::pieces()
{
    QFETCH(QByteArray, user);
    QFETCH(QByteArray, password);
    QFETCH(QByteArray, input);
    QFETCH(int, taken);
    QFETCH(QByteArray, answer);
    QFETCH(Socks5Handshake::State, state);
    QFETCH(QString, destination);

    for (int piece = 1; piece <= 7; ++piece) {
        Socks5Handshake handshake(user, password);
        QByteArray sent;
        qsizetype total = 0;
        for (qsizetype at = 0; at < input.size(); at += piece) {
            const QByteArray chunk = input.mid(at, piece);
            const qsizetype used = handshake.feed(chunk, &sent);
            QVERIFY(used <= chunk.size());
            total += used;
            if (used < chunk.size()) // it stops only at the end of the handshake
                QVERIFY(handshake.state() == Socks5Handshake::State::Connect
                        || handshake.state() == Socks5Handshake::State::Failed);
            if (handshake.state() == Socks5Handshake::State::Connect
                || handshake.state() == Socks5Handshake::State::Failed)
                break;
        }
        QCOMPARE(total, qsizetype(taken));
        QCOMPARE(sent.toHex(' '), answer.toHex(' '));
        QCOMPARE(handshake.state(), state);
        if (state == Socks5Handshake::State::Connect)
            QCOMPARE(handshake.destination().toString(), destination);
    }
}

void TestSocks5Handshake::reply()
{
    QCOMPARE(Socks5Handshake::reply(Socks5Handshake::Reply::Succeeded).toHex(' '),
             hex("05 00 00 01 00000000 0000").toHex(' '));
    QCOMPARE(Socks5Handshake::reply(Socks5Handshake::Reply::ConnectionRefused).toHex(' '),
             hex("05 05 00 01 00000000 0000").toHex(' '));
}

// The longest messages fit the bound the listener keeps its socket's read buffer to.
void TestSocks5Handshake::longestMessages()
{
    const QByteArray user(255, 'u');
    const QByteArray password(255, 'p');
    Socks5Handshake handshake(user, password);
    QByteArray sent;
    QByteArray greeting = hex("05 ff") + QByteArray(254, '\x01') + hex("02");
    QCOMPARE(greeting.size(), 257);
    QCOMPARE(handshake.feed(greeting, &sent), qsizetype(257));
    const QByteArray auth = hex("01 ff") + user + hex("ff") + password;
    QCOMPARE(auth.size(), Socks5Handshake::kMaxMessageBytes);
    QCOMPARE(handshake.feed(auth, &sent), Socks5Handshake::kMaxMessageBytes);
    QCOMPARE(sent.toHex(' '), hex("0502 0100").toHex(' '));
    QCOMPARE(handshake.state(), Socks5Handshake::State::Request);
}

QTEST_GUILESS_MAIN(TestSocks5Handshake)
#include "tst_socks5handshake.moc"

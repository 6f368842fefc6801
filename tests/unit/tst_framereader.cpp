// The relay's frame reader (FrameReader): data handed on in chunks whatever way the bytes arrive,
// fragments with control frames between them, close frames, and every protocol error RFC 6455
// asks a reader to refuse, each with its close code.
#include "feeddevice.h"
#include "relay/framereader.h"

#include <QIODevice>
#include <QRandomGenerator>
#include <QTest>
#include <QtEndian>

namespace {

QByteArray pattern(qsizetype size)
{
    QByteArray data(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        data[i] = char((i * 131 + 7) & 0xFF);
    return data;
}

struct FrameSpec
{
    int opcode = 2;
    bool fin = true;
    bool mask = true;
    int rsv = 0; // the three reserved bits, 0-7
    quint64 declaredLength = ~quint64(0); // what the header says, when not the payload's size
};

// A frame by the definition of RFC 6455 5.2, written independently of the code under test.
QByteArray frame(const QByteArray &payload, FrameSpec spec = {})
{
    QByteArray out;
    out.append(char((spec.fin ? 0x80 : 0) | (spec.rsv << 4) | spec.opcode));
    const quint64 length =
        spec.declaredLength != ~quint64(0) ? spec.declaredLength : quint64(payload.size());
    const char maskBit = spec.mask ? char(0x80) : char(0);
    if (length < 126) {
        out.append(char(maskBit | char(length)));
    } else if (length <= 0xFFFF) {
        out.append(char(maskBit | 126));
        out.append(char(length >> 8)).append(char(length & 0xFF));
    } else {
        out.append(char(maskBit | 127));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.append(char((length >> shift) & 0xFF));
    }
    QByteArray body = payload;
    if (spec.mask) {
        const quint32 key = 0x9A3C5E71;
        for (int shift = 24; shift >= 0; shift -= 8)
            out.append(char((key >> shift) & 0xFF));
        for (qsizetype i = 0; i < body.size(); ++i)
            body[i] = char(body[i] ^ char((key >> (8 * (3 - i % 4))) & 0xFF));
    }
    return out + body;
}

QByteArray closeBody(int code, const QByteArray &reason = {})
{
    QByteArray body(2, Qt::Uninitialized);
    qToBigEndian<quint16>(quint16(code), body.data());
    return body + reason;
}

using Kind = FrameReader::Event::Kind;

// Everything the reader reports for these bytes, fed in one go.
QList<FrameReader::Event> readAll(const QByteArray &bytes,
                                  FrameReader::Role role = FrameReader::Role::Server,
                                  qint64 maxFrame = 1 << 20, qint64 maxMessage = 1 << 20)
{
    FrameReader reader(role, maxFrame, maxMessage);
    FeedDevice feed;
    feed.append(bytes);
    QList<FrameReader::Event> events;
    for (;;) {
        FrameReader::Event event = reader.next(&feed, 1 << 20);
        if (event.kind == Kind::NeedMore)
            break;
        events.append(event);
    }
    return events;
}

} // namespace

class TestFrameReader : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void dataArrivesInAnyPieces_data();
    void dataArrivesInAnyPieces();
    void lengthClasses_data();
    void lengthClasses();
    void dataIsLimitedToWhatTheCallerTakes();
    void fragmentsWithControlFramesBetween();
    void emptyMessageIsAKeepAlive();
    void stagedBytesComeFirst();
    void closeFrames_data();
    void closeFrames();
    void textIsReported();
    void protocolErrors_data();
    void protocolErrors();
    void nothingIsReadAfterTheEnd();
};

void TestFrameReader::dataArrivesInAnyPieces_data()
{
    QTest::addColumn<int>("pieceSize");
    QTest::addColumn<bool>("masked");
    QTest::newRow("1 byte, masked") << 1 << true;
    QTest::newRow("3 bytes, masked") << 3 << true;
    QTest::newRow("7 bytes, masked") << 7 << true;
    QTest::newRow("1000 bytes, masked") << 1000 << true;
    QTest::newRow("random, masked") << 0 << true;
    QTest::newRow("5 bytes, unmasked (client)") << 5 << false;
}

void TestFrameReader::dataArrivesInAnyPieces()
{
    QFETCH(int, pieceSize);
    QFETCH(bool, masked);
    // Three messages of odd sizes: every chunk boundary falls at another key offset.
    const QList<QByteArray> messages {pattern(70001), pattern(13), pattern(4099)};
    QByteArray wire;
    for (const QByteArray &message : messages)
        wire += frame(message, FrameSpec {2, true, masked});

    FrameReader reader(masked ? FrameReader::Role::Server : FrameReader::Role::Client, 1 << 20,
                       1 << 20);
    FeedDevice feed;
    QByteArray received;
    QList<QByteArray> completed;
    auto *random = QRandomGenerator::global();
    for (qsizetype offset = 0; offset < wire.size();) {
        const qsizetype piece = pieceSize > 0 ? pieceSize : qsizetype(random->bounded(1, 5000));
        feed.append(wire.mid(offset, piece));
        offset += piece;
        for (;;) {
            const FrameReader::Event event = reader.next(&feed, 1 << 20);
            if (event.kind == Kind::NeedMore)
                break;
            QCOMPARE(event.kind, Kind::Data);
            received += event.payload;
            if (event.messageEnd) {
                completed.append(received);
                received.clear();
            }
        }
    }
    QCOMPARE(completed.size(), messages.size());
    for (int i = 0; i < messages.size(); ++i)
        QVERIFY2(completed[i] == messages[i], qPrintable(QStringLiteral("message %1").arg(i)));
    QVERIFY(received.isEmpty());
    QCOMPARE(reader.bufferedBytes(), 0);
}

void TestFrameReader::lengthClasses_data()
{
    QTest::addColumn<int>("size");
    for (int size : {0, 1, 125, 126, 127, 65535, 65536, 1 << 20})
        QTest::newRow(qPrintable(QString::number(size))) << size;
}

void TestFrameReader::lengthClasses()
{
    QFETCH(int, size);
    const QByteArray payload = pattern(size);
    const auto events = readAll(frame(payload) + frame({}, FrameSpec {0x9}));
    QByteArray received;
    int ends = 0;
    for (const auto &event : events) {
        if (event.kind == Kind::Data) {
            received += event.payload;
            ends += event.messageEnd ? 1 : 0;
        }
    }
    QCOMPARE(received.size(), payload.size());
    QVERIFY(received == payload);
    QCOMPARE(ends, 1);
    QCOMPARE(events.last().kind, Kind::Ping); // and the next frame is found behind it
}

void TestFrameReader::dataIsLimitedToWhatTheCallerTakes()
{
    // The relay takes only what TCP has room for; with no room, data waits but the header has
    // been read and nothing is lost.
    FrameReader reader(FrameReader::Role::Server, 1 << 20, 1 << 20);
    FeedDevice feed;
    const QByteArray payload = pattern(10000);
    feed.append(frame(payload));
    QCOMPARE(reader.next(&feed, 0).kind, Kind::NeedMore);
    QVERIFY(reader.isInsideFrame());
    QByteArray received;
    for (;;) {
        const auto event = reader.next(&feed, 333);
        if (event.kind == Kind::NeedMore)
            break;
        QVERIFY(event.payload.size() <= 333);
        received += event.payload;
        if (event.messageEnd)
            break;
    }
    QVERIFY(received == payload);
    QVERIFY(!reader.isInsideFrame());
}

void TestFrameReader::fragmentsWithControlFramesBetween()
{
    // RFC 6455 5.4: control frames may come between the fragments of a message.
    const QByteArray wire = frame("abc", FrameSpec {2, false}) + frame("p1", FrameSpec {0x9})
        + frame("def", FrameSpec {0, false}) + frame("p2", FrameSpec {0xA})
        + frame("ghi", FrameSpec {0, true});
    const auto events = readAll(wire);
    QCOMPARE(events.size(), 5);
    QCOMPARE(events[0].kind, Kind::Data);
    QCOMPARE(events[0].payload, QByteArray("abc"));
    QVERIFY(!events[0].messageEnd);
    QCOMPARE(events[1].kind, Kind::Ping);
    QCOMPARE(events[1].payload, QByteArray("p1"));
    QCOMPARE(events[2].payload, QByteArray("def"));
    QVERIFY(!events[2].messageEnd);
    QCOMPARE(events[3].kind, Kind::Pong);
    QCOMPARE(events[3].payload, QByteArray("p2"));
    QCOMPARE(events[4].payload, QByteArray("ghi"));
    QVERIFY(events[4].messageEnd);
}

void TestFrameReader::emptyMessageIsAKeepAlive()
{
    const auto events = readAll(frame({}) + frame("x"));
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[0].kind, Kind::Data);
    QVERIFY(events[0].payload.isEmpty());
    QVERIFY(events[0].messageEnd);
    QCOMPARE(events[1].payload, QByteArray("x"));
}

void TestFrameReader::stagedBytesComeFirst()
{
    // What was taken off the socket before the reader existed, then the socket.
    const QByteArray wire = frame(pattern(3000)) + frame("tail");
    FrameReader reader(FrameReader::Role::Server, 1 << 20, 1 << 20);
    reader.prepend(wire.left(1234));
    FeedDevice feed;
    feed.append(wire.mid(1234));
    QByteArray received;
    for (;;) {
        const auto event = reader.next(&feed, 1 << 20);
        if (event.kind == Kind::NeedMore)
            break;
        received += event.payload;
    }
    QVERIFY(received == pattern(3000) + "tail");
}

void TestFrameReader::closeFrames_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("reason");
    QTest::newRow("no body") << QByteArray() << 1005 << QString();
    QTest::newRow("1000") << closeBody(1000) << 1000 << QString();
    QTest::newRow("1001 with reason")
        << closeBody(1001, "going away") << 1001 << QStringLiteral("going away");
    QTest::newRow("UTF-8 reason") << closeBody(4000, "f\xc3\xbcr") << 4000
                                  << QStringLiteral("f\u00fcr");
}

void TestFrameReader::closeFrames()
{
    QFETCH(QByteArray, body);
    QFETCH(int, code);
    QFETCH(QString, reason);
    FrameReader reader(FrameReader::Role::Server, 1 << 20, 1 << 20);
    FeedDevice feed;
    feed.append(frame(body, FrameSpec {0x8}) + frame("after"));
    const auto event = reader.next(&feed, 1 << 20);
    QCOMPARE(event.kind, Kind::Close);
    QCOMPARE(event.closeCode, code);
    QCOMPARE(event.closeReason, reason);
    QVERIFY(reader.isFinished());
    QCOMPARE(reader.next(&feed, 1 << 20).kind, Kind::NeedMore); // nothing after a close
}

void TestFrameReader::textIsReported()
{
    const auto events = readAll(frame("hello", FrameSpec {1}));
    QCOMPARE(events.size(), 1);
    QCOMPARE(events[0].kind, Kind::Text);
}

void TestFrameReader::protocolErrors_data()
{
    QTest::addColumn<QByteArray>("wire");
    QTest::addColumn<int>("role");
    QTest::addColumn<int>("code");
    const int server = int(FrameReader::Role::Server);
    const int client = int(FrameReader::Role::Client);
    QTest::newRow("reserved bit") << frame("x", FrameSpec {2, true, true, 4}) << server << 1002;
    QTest::newRow("reserved opcode 3") << frame("x", FrameSpec {3}) << server << 1002;
    QTest::newRow("reserved opcode 0xB") << frame("x", FrameSpec {0xB}) << server << 1002;
    QTest::newRow("unmasked from a client")
        << frame("x", FrameSpec {2, true, false}) << server << 1002;
    QTest::newRow("masked from a server")
        << frame("x", FrameSpec {2, true, true}) << client << 1002;
    QTest::newRow("continuation without a message") << frame("x", FrameSpec {0}) << server << 1002;
    QTest::newRow("new message inside a fragmented one")
        << frame("a", FrameSpec {2, false}) + frame("b") << server << 1002;
    QTest::newRow("text inside a fragmented binary message")
        << frame("a", FrameSpec {2, false}) + frame("b", FrameSpec {1}) << server << 1002;
    QTest::newRow("fragmented ping") << frame("x", FrameSpec {0x9, false}) << server << 1002;
    QTest::newRow("126-byte ping") << frame(pattern(126), FrameSpec {0x9}) << server << 1002;
    QTest::newRow("length with its top bit set")
        << frame({}, FrameSpec {2, true, true, 0, quint64(1) << 63}) << server << 1002;
    // The limit is enforced from the header: a 200 MB frame is refused before its payload.
    QTest::newRow("frame above the limit")
        << frame({}, FrameSpec {2, true, true, 0, 200'000'000}) << server << 1009;
    QTest::newRow("message above the limit in fragments")
        << frame(pattern(600'000), FrameSpec {2, false}) + frame(pattern(600'000), FrameSpec {0})
        << server << 1009;
    QTest::newRow("close with a 1-byte body") << frame("x", FrameSpec {0x8}) << server << 1002;
    QTest::newRow("close code 1005 sent")
        << frame(closeBody(1005), FrameSpec {0x8}) << server << 1002;
    QTest::newRow("close code 999") << frame(closeBody(999), FrameSpec {0x8}) << server << 1002;
    QTest::newRow("close code 2000") << frame(closeBody(2000), FrameSpec {0x8}) << server << 1002;
    QTest::newRow("close reason not UTF-8")
        << frame(closeBody(1000, "\xff\xfe"), FrameSpec {0x8}) << server << 1007;
}

void TestFrameReader::protocolErrors()
{
    QFETCH(QByteArray, wire);
    QFETCH(int, role);
    QFETCH(int, code);
    const auto events =
        readAll(wire + frame("never read"), FrameReader::Role(role), 1 << 20, 1 << 20);
    QVERIFY(!events.isEmpty());
    const FrameReader::Event &last = events.last();
    QCOMPARE(last.kind, Kind::Error);
    QCOMPARE(last.closeCode, code);
    QVERIFY(!last.errorText.isEmpty());
    for (qsizetype i = 0; i + 1 < events.size(); ++i)
        QCOMPARE(events[i].kind, Kind::Data); // only what came before the error
}

void TestFrameReader::nothingIsReadAfterTheEnd()
{
    FrameReader reader(FrameReader::Role::Server, 1 << 20, 1 << 20);
    FeedDevice feed;
    feed.append(frame("x", FrameSpec {1}) + frame("y"));
    QCOMPARE(reader.next(&feed, 1 << 20).kind, Kind::Text);
    const qint64 left = feed.bytesAvailable();
    QCOMPARE(reader.next(&feed, 1 << 20).kind, Kind::NeedMore);
    QCOMPARE(feed.bytesAvailable(), left);
}

QTEST_APPLESS_MAIN(TestFrameReader)
#include "tst_framereader.moc"

// The relay's own frames (BinaryFrame): exact RFC 6455 headers for every length class, the fast
// mask against the byte-by-byte definition, data frames read from a device (in one buffer, or
// header and payload written apart), what a read asks its device for, and keep-alive, close and
// pong frames.
#include "feeddevice.h"
#include "relay/binaryframe.h"

#include <QBuffer>
#include <QList>
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

// The definition: payload byte i is XORed with key byte i % 4, most significant byte first.
QByteArray maskedByDefinition(QByteArray data, quint32 key)
{
    for (qsizetype i = 0; i < data.size(); ++i)
        data[i] = char(data[i] ^ char((key >> (8 * (3 - i % 4))) & 0xFF));
    return data;
}

struct Parsed
{
    bool ok = false;
    bool fin = false;
    int opcode = -1;
    bool masked = false;
    quint32 key = 0;
    QByteArray payload; // unmasked
};

// An independent reading of a frame, as a peer would do it.
Parsed parse(const QByteArray &frame)
{
    Parsed parsed;
    const auto *bytes = reinterpret_cast<const uchar *>(frame.constData());
    qsizetype at = 2;
    if (frame.size() < 2)
        return parsed;
    parsed.fin = bytes[0] & 0x80;
    parsed.opcode = bytes[0] & 0x0F;
    parsed.masked = bytes[1] & 0x80;
    quint64 length = bytes[1] & 0x7F;
    if (length == 126) {
        length = qFromBigEndian<quint16>(bytes + at);
        at += 2;
    } else if (length == 127) {
        length = qFromBigEndian<quint64>(bytes + at);
        at += 8;
    }
    if (parsed.masked) {
        parsed.key = qFromBigEndian<quint32>(bytes + at);
        at += 4;
    }
    if (quint64(frame.size() - at) != length)
        return parsed;
    parsed.payload = frame.mid(at);
    if (parsed.masked)
        parsed.payload = maskedByDefinition(parsed.payload, parsed.key);
    parsed.ok = true;
    return parsed;
}

} // namespace

class TestBinaryFrame : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void headerLengths_data();
    void headerLengths();
    void maskMatchesDefinition();
    void readFromTakesAtMostOneFrame_data();
    void readFromTakesAtMostOneFrame();
    void readFromEmptyDevice();
    void readReleasingBufferAsksForWhatIsThere_data();
    void readReleasingBufferAsksForWhatIsThere();
    void controlFrames_data();
    void controlFrames();
};

void TestBinaryFrame::headerLengths_data()
{
    QTest::addColumn<quint64>("payload");
    QTest::addColumn<bool>("mask");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("0") << quint64(0) << false << QByteArray::fromHex("8200");
    QTest::newRow("125") << quint64(125) << false << QByteArray::fromHex("827d");
    QTest::newRow("126") << quint64(126) << false << QByteArray::fromHex("827e007e");
    QTest::newRow("65535") << quint64(65535) << false << QByteArray::fromHex("827effff");
    QTest::newRow("65536") << quint64(65536) << false
                           << QByteArray::fromHex("827f0000000000010000");
    QTest::newRow("1 MiB masked") << quint64(1 << 20) << true
                                  << QByteArray::fromHex("82ff0000000000100000a1b2c3d4");
    QTest::newRow("5 masked") << quint64(5) << true << QByteArray::fromHex("8285a1b2c3d4");
}

void TestBinaryFrame::headerLengths()
{
    QFETCH(quint64, payload);
    QFETCH(bool, mask);
    QFETCH(QByteArray, expected);
    char out[BinaryFrame::kMaxHeaderBytes];
    const qsizetype length = BinaryFrame::writeHeader(out, payload, mask, 0xa1b2c3d4);
    QCOMPARE(QByteArray(out + BinaryFrame::kMaxHeaderBytes - length, length).toHex(),
             expected.toHex());
}

void TestBinaryFrame::maskMatchesDefinition()
{
    const quint32 keys[] = {0xa1b2c3d4u, 0x00000000u, 0xffffffffu, 0x01020304u};
    for (const quint32 key : keys) {
        for (qsizetype size = 0; size < 70; ++size) {
            QByteArray data = pattern(size);
            BinaryFrame::applyMask(data.data(), data.size(), key);
            QCOMPARE(data, maskedByDefinition(pattern(size), key));
        }
    }
    // Large and at an odd address: the word loop must not care about alignment.
    QByteArray big = pattern((1 << 20) + 3);
    BinaryFrame::applyMask(big.data() + 1, big.size() - 1, 0x5a6b7c8d);
    const QByteArray expected =
        pattern(1).append(maskedByDefinition(pattern((1 << 20) + 3).mid(1), 0x5a6b7c8d));
    QCOMPARE(big, expected);
}

void TestBinaryFrame::readFromTakesAtMostOneFrame_data()
{
    QTest::addColumn<qsizetype>("available");
    QTest::addColumn<qint64>("maxPayload");
    QTest::addColumn<bool>("mask");
    QTest::addColumn<bool>("relay"); // BinaryFrame::relay (header and payload written apart)
    for (const bool relay : {false, true}) {
        const char *path = relay ? ", relay" : ", readFrom";
        QTest::addRow("small, server%s", path)
            << qsizetype(100) << qint64(1 << 20) << false << relay;
        QTest::addRow("small, client%s", path)
            << qsizetype(100) << qint64(1 << 20) << true << relay;
        QTest::addRow("16-bit length, client%s", path)
            << qsizetype(40000) << qint64(1 << 20) << true << relay;
        QTest::addRow("64-bit length, server%s", path)
            << qsizetype(300000) << qint64(1 << 20) << false << relay;
        QTest::addRow("more than one frame, client%s", path)
            << qsizetype(3 << 20) << qint64(1 << 20) << true << relay;
    }
}

void TestBinaryFrame::readFromTakesAtMostOneFrame()
{
    QFETCH(qsizetype, available);
    QFETCH(qint64, maxPayload);
    QFETCH(bool, mask);
    QFETCH(bool, relay);
    const QByteArray source = pattern(available);
    QBuffer device;
    device.setData(source);
    QVERIFY(device.open(QIODevice::ReadOnly));
    QByteArray received;
    int frames = 0;
    while (device.bytesAvailable() > 0) {
        qint64 payloadBytes = -1;
        QByteArray frame;
        if (relay) {
            QBuffer sink(&frame);
            QVERIFY(sink.open(QIODevice::WriteOnly));
            payloadBytes =
                BinaryFrame::relay(&device, &sink, maxPayload, mask, 0x11223344u + frames);
        } else {
            frame = BinaryFrame::readFrom(&device, maxPayload, mask, 0x11223344u + frames,
                                          &payloadBytes);
        }
        const Parsed parsed = parse(frame);
        QVERIFY(parsed.ok);
        QVERIFY(parsed.fin);
        QCOMPARE(parsed.opcode, 2);
        QCOMPARE(parsed.masked, mask);
        if (mask)
            QCOMPARE(parsed.key, 0x11223344u + frames);
        QCOMPARE(payloadBytes, qint64(parsed.payload.size()));
        QVERIFY(payloadBytes > 0 && payloadBytes <= maxPayload);
        received += parsed.payload;
        ++frames;
    }
    QCOMPARE(received, source);
    QCOMPARE(frames, int((available + maxPayload - 1) / maxPayload));
}

void TestBinaryFrame::readFromEmptyDevice()
{
    QBuffer device;
    QVERIFY(device.open(QIODevice::ReadOnly));
    qint64 payloadBytes = -1;
    QVERIFY(BinaryFrame::readFrom(&device, 1 << 20, true, 1, &payloadBytes).isEmpty());
    QCOMPARE(payloadBytes, 0);
    QByteArray written;
    QBuffer sink(&written);
    QVERIFY(sink.open(QIODevice::WriteOnly));
    QCOMPARE(BinaryFrame::relay(&device, &sink, 1 << 20, true, 1), 0);
    QVERIFY(written.isEmpty()); // no frame at all, not an empty one
}

void TestBinaryFrame::readReleasingBufferAsksForWhatIsThere_data()
{
    QTest::addColumn<int>("held");
    QTest::addColumn<int>("wanted");
    QTest::addColumn<bool>("askPastBuffer");
    QTest::addColumn<int>("expected");
    QTest::addColumn<QList<qint64>>("asked");
    // A plain socket is never asked for more than it holds: a buffered QIODevice would reserve a
    // chunk for the rest and keep it.
    QTest::newRow("nothing there") << 0 << 2 << false << 0 << QList<qint64>();
    QTest::newRow("part of a header there") << 1 << 2 << false << 1 << QList<qint64> {1};
    QTest::newRow("more there than wanted") << 10 << 4 << false << 4 << QList<qint64> {4};
    QTest::newRow("exactly what is there") << 6 << 6 << false << 6 << QList<qint64> {6};
    // TLS: asking for the rest is what makes a QSslSocket decrypt more.
    QTest::newRow("tls: nothing there") << 0 << 2 << true << 0 << QList<qint64> {2};
    QTest::newRow("tls: part of a header there") << 1 << 2 << true << 1 << QList<qint64> {2};
    QTest::newRow("tls: exactly what is there") << 6 << 6 << true << 6 << QList<qint64> {6};
}

void TestBinaryFrame::readReleasingBufferAsksForWhatIsThere()
{
    QFETCH(int, held);
    QFETCH(int, wanted);
    QFETCH(bool, askPastBuffer);
    QFETCH(int, expected);
    QFETCH(QList<qint64>, asked);
    const QByteArray data = pattern(held);
    FeedDevice device;
    device.append(data);
    QByteArray out(wanted, '\0');
    QCOMPARE(BinaryFrame::readReleasingBuffer(&device, out.data(), wanted, askPastBuffer),
             qint64(expected));
    QCOMPARE(out.left(expected), data.left(expected));
    QCOMPARE(device.asked, asked);
}

void TestBinaryFrame::controlFrames_data()
{
    QTest::addColumn<int>("opcode");
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<bool>("mask");
    QTest::newRow("keep-alive from the server") << 2 << QByteArray() << false;
    QTest::newRow("keep-alive from the client") << 2 << QByteArray() << true;
    QTest::newRow("close 1000, client") << 8 << QByteArray("\x03\xe8", 2) << true;
    QTest::newRow("close with a reason, server") << 8 << QByteArray("\x03\xe9going away") << false;
    QTest::newRow("pong with 125 bytes, client") << 10 << pattern(125) << true;
}

void TestBinaryFrame::controlFrames()
{
    QFETCH(int, opcode);
    QFETCH(QByteArray, payload);
    QFETCH(bool, mask);
    const Parsed parsed = parse(BinaryFrame::frame(quint8(opcode), payload, mask, 0xCAFEBABEu));
    QVERIFY(parsed.ok);
    QVERIFY(parsed.fin);
    QCOMPARE(parsed.opcode, opcode);
    QCOMPARE(parsed.masked, mask);
    if (mask)
        QCOMPARE(parsed.key, 0xCAFEBABEu);
    QCOMPARE(parsed.payload, payload);
}

QTEST_GUILESS_MAIN(TestBinaryFrame)
#include "tst_binaryframe.moc"

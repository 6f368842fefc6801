#include "binaryframe.h"

#include <QIODevice>
#include <QtEndian>
#include <cstring>

qsizetype BinaryFrame::writeHeader(char *out, quint64 payloadBytes, bool mask, quint32 maskingKey,
                                   quint8 opcode)
{
    unsigned char header[kMaxHeaderBytes];
    qsizetype length = 0;
    header[length++] = 0x80 | opcode; // FIN
    const unsigned char maskBit = mask ? 0x80 : 0x00;
    if (payloadBytes < 126) {
        header[length++] = maskBit | static_cast<unsigned char>(payloadBytes);
    } else if (payloadBytes <= 0xFFFF) {
        header[length++] = maskBit | 126;
        qToBigEndian<quint16>(quint16(payloadBytes), header + length);
        length += 2;
    } else {
        header[length++] = maskBit | 127;
        qToBigEndian<quint64>(payloadBytes, header + length);
        length += 8;
    }
    if (mask) {
        qToBigEndian<quint32>(maskingKey, header + length);
        length += 4;
    }
    std::memcpy(out + kMaxHeaderBytes - length, header, size_t(length));
    return length;
}

void BinaryFrame::applyMask(char *data, qsizetype size, quint32 maskingKey)
{
    unsigned char key[8];
    qToBigEndian<quint32>(maskingKey, key);
    qToBigEndian<quint32>(maskingKey, key + 4);
    quint64 wideKey;
    std::memcpy(&wideKey, key, sizeof wideKey);
    qsizetype i = 0;
    // Byte i of the payload takes key byte i % 4; 32 or 8 bytes at a time keep that alignment.
#if defined(__GNUC__)
    // A vector type of the compiler's: SSE2 or AVX on x86-64, NEON on ARM, four words elsewhere.
    typedef quint64 Wide __attribute__((vector_size(32)));
    const Wide widerKey = {wideKey, wideKey, wideKey, wideKey};
    for (; i + qsizetype(sizeof(Wide)) <= size; i += qsizetype(sizeof(Wide))) {
        Wide block;
        std::memcpy(&block, data + i, sizeof block);
        block ^= widerKey;
        std::memcpy(data + i, &block, sizeof block);
    }
#endif
    for (; i + 8 <= size; i += 8) {
        quint64 word;
        std::memcpy(&word, data + i, sizeof word);
        word ^= wideKey;
        std::memcpy(data + i, &word, sizeof word);
    }
    for (; i < size; ++i)
        data[i] = char(data[i] ^ key[i % 4]);
}

QByteArray BinaryFrame::readFrom(QIODevice *source, qint64 maxPayloadBytes, bool mask,
                                 quint32 maskingKey, qint64 *payloadBytes)
{
    *payloadBytes = 0;
    // Sized for what is there, not for the largest frame: a queued frame holds its whole
    // allocation, and flow control only counts payload bytes.
    const qint64 wanted = qMin(source->bytesAvailable(), maxPayloadBytes);
    if (wanted <= 0)
        return {};
    QByteArray frame(kMaxHeaderBytes + wanted, Qt::Uninitialized);
    const qint64 read = readReleasingBuffer(source, frame.data() + kMaxHeaderBytes, wanted, false);
    if (read <= 0)
        return {};
    frame.truncate(kMaxHeaderBytes + read);
    *payloadBytes = read;
    if (mask)
        applyMask(frame.data() + kMaxHeaderBytes, read, maskingKey);
    const qsizetype headerBytes = writeHeader(frame.data(), quint64(read), mask, maskingKey);
    // Erasing from the front only moves the array's start (Qt 6): no copy.
    frame.remove(0, kMaxHeaderBytes - headerBytes);
    return frame;
}

QByteArray BinaryFrame::frame(quint8 opcode, const QByteArray &payload, bool mask,
                              quint32 maskingKey)
{
    QByteArray frame(kMaxHeaderBytes + payload.size(), Qt::Uninitialized);
    std::memcpy(frame.data() + kMaxHeaderBytes, payload.constData(), size_t(payload.size()));
    if (mask)
        applyMask(frame.data() + kMaxHeaderBytes, payload.size(), maskingKey);
    const qsizetype headerBytes =
        writeHeader(frame.data(), quint64(payload.size()), mask, maskingKey, opcode);
    frame.remove(0, kMaxHeaderBytes - headerBytes);
    return frame;
}

qint64 BinaryFrame::relay(QIODevice *source, QIODevice *sink, qint64 maxPayloadBytes, bool mask,
                          quint32 maskingKey)
{
    QByteArray payload = source->read(qMin(source->bytesAvailable(), maxPayloadBytes));
    if (payload.isEmpty())
        return 0;
    if (mask)
        applyMask(payload.data(), payload.size(), maskingKey);
    char header[kMaxHeaderBytes];
    const qsizetype headerBytes = writeHeader(header, quint64(payload.size()), mask, maskingKey);
    sink->write(header + kMaxHeaderBytes - headerBytes, headerBytes);
    sink->write(payload);
    return payload.size();
}

qint64 BinaryFrame::readReleasingBuffer(QIODevice *source, char *out, qint64 size,
                                        bool askPastBuffer)
{
    const qint64 available = source->bytesAvailable();
    if (askPastBuffer ? size != available : size < available)
        return qMax<qint64>(0, source->read(out, size));
    if (available <= 0)
        return 0;
    size = available;
    const QByteArray all = source->read(size);
    std::memcpy(out, all.constData(), size_t(all.size()));
    return all.size();
}

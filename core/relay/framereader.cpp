#include "framereader.h"

#include "binaryframe.h"

#include <QIODevice>
#include <QStringDecoder>
#include <QtEndian>
#include <cstring>

namespace {

// RFC 6455 7.4: the codes a peer may send in a close frame (1004-1006 and 1015 are reserved for
// local use, 1016-2999 for future standards, 3000-4999 for libraries and applications).
bool isValidCloseCode(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999);
}

// The key that masks a payload from byte `offset` on: byte i takes key byte (offset + i) % 4.
quint32 keyFrom(quint32 maskingKey, quint64 offset)
{
    const unsigned shift = unsigned(offset % 4) * 8;
    return shift == 0 ? maskingKey : (maskingKey << shift) | (maskingKey >> (32 - shift));
}

} // namespace

FrameReader::FrameReader(Role role, qint64 maxFrameBytes, qint64 maxMessageBytes)
    : m_role(role), m_maxFrameBytes(maxFrameBytes), m_maxMessageBytes(maxMessageBytes)
{
}

void FrameReader::prepend(const QByteArray &bytes)
{
    if (bytes.isEmpty())
        return;
    m_staged = bytes + m_staged.mid(m_stagedOffset);
    m_stagedOffset = 0;
}

qint64 FrameReader::available(QIODevice *source) const
{
    return (m_staged.size() - m_stagedOffset) + source->bytesAvailable();
}

qint64 FrameReader::readInto(QIODevice *source, char *out, qint64 size)
{
    qint64 done = 0;
    const qint64 staged = qMin<qint64>(size, m_staged.size() - m_stagedOffset);
    if (staged > 0) {
        std::memcpy(out, m_staged.constData() + m_stagedOffset, size_t(staged));
        m_stagedOffset += staged;
        done = staged;
        if (m_stagedOffset == m_staged.size()) {
            m_staged.clear();
            m_stagedOffset = 0;
        }
    }
    if (done < size)
        done += BinaryFrame::readReleasingBuffer(source, out + done, size - done, m_askPastBuffer);
    return done;
}

FrameReader::Event FrameReader::fail(int closeCode, const QString &text)
{
    m_finished = true;
    Event event;
    event.kind = Event::Kind::Error;
    event.closeCode = closeCode;
    event.errorText = text;
    return event;
}

bool FrameReader::readHeader(QIODevice *source, Event *event)
{
    // The first two bytes say how long the rest of the header is.
    if (m_header.size() < 2) {
        const qsizetype have = m_header.size();
        m_header.resize(2);
        m_header.resize(have + readInto(source, m_header.data() + have, 2 - have));
        if (m_header.size() < 2)
            return false;
        const auto b0 = quint8(m_header[0]);
        const auto b1 = quint8(m_header[1]);
        m_fin = (b0 & 0x80) != 0;
        m_opcode = b0 & 0x0F;
        m_masked = (b1 & 0x80) != 0;
        const int length7 = b1 & 0x7F;
        if ((b0 & 0x70) != 0) {
            *event = fail(1002,
                          QStringLiteral("a frame has reserved bits set (no extension was "
                                         "agreed)"));
            return false;
        }
        switch (m_opcode) {
        case BinaryFrame::kContinuation:
            if (!m_inMessage) {
                *event = fail(1002,
                              QStringLiteral("a continuation frame has no message to "
                                             "continue"));
                return false;
            }
            break;
        case BinaryFrame::kText:
        case BinaryFrame::kBinary:
            if (m_inMessage) {
                *event = fail(1002,
                              QStringLiteral("a new message began inside a fragmented "
                                             "one"));
                return false;
            }
            if (m_opcode == BinaryFrame::kText) {
                m_finished = true;
                event->kind = Event::Kind::Text;
                return false;
            }
            break;
        case BinaryFrame::kClose:
        case BinaryFrame::kPing:
        case BinaryFrame::kPong:
            if (!m_fin) {
                *event = fail(1002, QStringLiteral("a control frame is fragmented"));
                return false;
            }
            if (length7 > 125) {
                *event = fail(1002, QStringLiteral("a control frame is longer than 125 bytes"));
                return false;
            }
            break;
        default:
            *event = fail(1002, QStringLiteral("a frame has the reserved opcode %1").arg(m_opcode));
            return false;
        }
        if (m_masked != (m_role == Role::Server)) {
            *event = fail(1002,
                          m_role == Role::Server
                              ? QStringLiteral("a frame from the client is not masked")
                              : QStringLiteral("a frame from the server is masked"));
            return false;
        }
    }

    const int length7 = quint8(m_header[1]) & 0x7F;
    const qsizetype lengthBytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    const qsizetype headerBytes = 2 + lengthBytes + (m_masked ? 4 : 0);
    if (m_header.size() < headerBytes) {
        const qsizetype have = m_header.size();
        m_header.resize(headerBytes);
        m_header.resize(have + readInto(source, m_header.data() + have, headerBytes - have));
        if (m_header.size() < headerBytes)
            return false;
    }

    const auto *bytes = reinterpret_cast<const uchar *>(m_header.constData());
    if (lengthBytes == 2) {
        m_payloadLength = qFromBigEndian<quint16>(bytes + 2);
    } else if (lengthBytes == 8) {
        m_payloadLength = qFromBigEndian<quint64>(bytes + 2);
        if (m_payloadLength >> 63) {
            *event = fail(1002, QStringLiteral("a frame length has its most significant bit set"));
            return false;
        }
    } else {
        m_payloadLength = quint64(length7);
    }
    m_maskingKey = m_masked ? qFromBigEndian<quint32>(bytes + 2 + lengthBytes) : 0;
    m_payloadRead = 0;
    m_header.clear();

    if (m_opcode >= BinaryFrame::kClose) {
        m_control.resize(qsizetype(m_payloadLength));
    } else {
        if (m_payloadLength > quint64(m_maxFrameBytes)) {
            *event = fail(1009,
                          QStringLiteral("a frame of %1 bytes exceeds the limit of %2")
                              .arg(m_payloadLength)
                              .arg(m_maxFrameBytes));
            return false;
        }
        m_messageBytes =
            (m_opcode == BinaryFrame::kContinuation ? m_messageBytes : 0) + m_payloadLength;
        if (m_messageBytes > quint64(m_maxMessageBytes)) {
            *event = fail(1009,
                          QStringLiteral("a message of more than %1 bytes exceeds the limit "
                                         "of %2")
                              .arg(m_messageBytes)
                              .arg(m_maxMessageBytes));
            return false;
        }
        m_inMessage = !m_fin;
    }
    m_state = State::Payload;
    return true;
}

FrameReader::Event FrameReader::next(QIODevice *source, qint64 maxDataBytes)
{
    Event event;
    if (m_finished)
        return event;
    if (m_state == State::Header && !readHeader(source, &event))
        return event;

    const quint64 remaining = m_payloadLength - m_payloadRead;
    if (m_opcode >= BinaryFrame::kClose) {
        if (remaining > 0) {
            m_payloadRead +=
                quint64(readInto(source, m_control.data() + m_payloadRead, qint64(remaining)));
            if (m_payloadRead < m_payloadLength)
                return event;
        }
        return finishControlFrame();
    }

    event.kind = Event::Kind::Data;
    if (remaining > 0) {
        const qint64 size =
            qMin<qint64>(qMin<qint64>(qint64(remaining), available(source)), maxDataBytes);
        if (size <= 0)
            return Event();
        if (m_stagedOffset == m_staged.size()) {
            // QIODevice hands over a chunk of its buffer without copying it when asked for
            // exactly that chunk, which is what a socket read during a large frame holds.
            event.payload = source->read(size);
        } else {
            event.payload = QByteArray(size, Qt::Uninitialized);
            event.payload.truncate(readInto(source, event.payload.data(), size));
        }
        const qint64 read = event.payload.size();
        if (read <= 0)
            return Event();
        if (m_masked)
            BinaryFrame::applyMask(event.payload.data(), read,
                                   keyFrom(m_maskingKey, m_payloadRead));
        m_payloadRead += quint64(read);
    }
    if (m_payloadRead == m_payloadLength) {
        m_state = State::Header;
        event.messageEnd = m_fin;
    }
    return event;
}

FrameReader::Event FrameReader::finishControlFrame()
{
    m_state = State::Header;
    if (m_masked)
        BinaryFrame::applyMask(m_control.data(), m_control.size(), m_maskingKey);
    Event event;
    event.payload = m_control;
    m_control.clear();
    if (m_opcode == BinaryFrame::kPing) {
        event.kind = Event::Kind::Ping;
        return event;
    }
    if (m_opcode == BinaryFrame::kPong) {
        event.kind = Event::Kind::Pong;
        return event;
    }
    // Close (RFC 6455 5.5.1): no body, or a 2-byte code and a UTF-8 reason.
    if (event.payload.isEmpty()) {
        m_finished = true;
        event.kind = Event::Kind::Close;
        event.closeCode = 1005;
        return event;
    }
    if (event.payload.size() == 1)
        return fail(1002, QStringLiteral("a close frame has a 1-byte body"));
    const int code = qFromBigEndian<quint16>(event.payload.constData());
    if (!isValidCloseCode(code))
        return fail(1002, QStringLiteral("a close frame has the invalid code %1").arg(code));
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString reason =
        decoder(QByteArrayView(event.payload.constData() + 2, event.payload.size() - 2));
    if (decoder.hasError())
        return fail(1007, QStringLiteral("a close frame's reason is not UTF-8"));
    m_finished = true;
    event.kind = Event::Kind::Close;
    event.closeCode = code;
    event.closeReason = reason;
    event.payload.clear();
    return event;
}

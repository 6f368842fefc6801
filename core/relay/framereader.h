// Reads what a WebSocket peer sends after the opening handshake (RFC 6455 section 5), from the
// socket the WebSocket runs on, as the bytes arrive: a data frame is handed on in chunks, never
// buffered whole, and unmasked eight bytes at a time.
//
// Why not QWebSocket's reader: Qt 6.4 reads a frame only once it is wholly buffered (so a
// paused tunnel must buffer 4 MiB), copies it out of the socket's buffer and unmasks it one byte
// at a time, which was most of a server's CPU time for uploads (see README, Performance). And it
// has no way to stop reading, which flow control needs. The relay reads frames with this class;
// QWebSocket keeps the handshake.
#pragma once

#include <QByteArray>
#include <QString>

class QIODevice;

class FrameReader
{
public:
    // A server reads a client's frames, which must be masked; a client reads a server's, which
    // must not be (RFC 6455 5.1).
    enum class Role { Server, Client };

    struct Event
    {
        enum class Kind {
            NeedMore, // nothing complete yet: call again when more bytes arrive
            Data, // payload: the next bytes of a binary message (may be empty)
            Ping, // payload: the ping's application data, to echo in a pong
            Pong,
            Close, // closeCode (1005: none given) and closeReason
            Text, // a text message began: the wire contract has no use for it
            Error, // closeCode: what to close with (1002, 1007, 1009); errorText says why
        };
        Kind kind = Kind::NeedMore;
        QByteArray payload;
        bool messageEnd = false; // Data: this chunk ends its message
        int closeCode = 0;
        QString closeReason;
        QString errorText;
    };

    // Frames and messages larger than these are refused with 1009 as soon as their header says so.
    FrameReader(Role role, qint64 maxFrameBytes, qint64 maxMessageBytes);

    // Bytes already taken off the socket (by whoever read it before) that come before anything
    // still in it.
    void prepend(const QByteArray &bytes);

    // The next event from source, reading at most maxDataBytes of data payload (0: only headers
    // and control frames). After Text, Error or Close nothing more is read.
    Event next(QIODevice *source, qint64 maxDataBytes);

    // TLS (Qt 6.4): asking a QSslSocket for more than it has decrypted is what makes it decrypt
    // what its inner socket still holds (a queued call), so the reader asks for a whole header or
    // control frame even when fewer bytes are there. On a plain socket it asks only for what is
    // there (the default): asking for more would leave an empty buffer chunk allocated.
    void setAskPastBuffer(bool on) { m_askPastBuffer = on; }

    // Bytes this reader holds that no event has reported yet (a partial header or control frame).
    qint64 bufferedBytes() const { return m_staged.size() - m_stagedOffset + m_header.size(); }
    bool isFinished() const { return m_finished; }
    // Whether a frame's payload is being read (data reported in chunks, more to come).
    bool isInsideFrame() const { return m_state == State::Payload; }

private:
    enum class State { Header, Payload };

    qint64 available(QIODevice *source) const;
    qint64 readInto(QIODevice *source, char *out, qint64 size);
    bool readHeader(QIODevice *source, Event *event);
    Event finishControlFrame();
    Event fail(int closeCode, const QString &text);

    Role m_role;
    qint64 m_maxFrameBytes;
    qint64 m_maxMessageBytes;

    bool m_askPastBuffer = false;

    QByteArray m_staged;
    qsizetype m_stagedOffset = 0;

    State m_state = State::Header;
    QByteArray m_header; // the current header, as far as it has been read (at most 14 bytes)
    int m_opcode = 0;
    bool m_fin = false;
    bool m_masked = false;
    quint32 m_maskingKey = 0;
    quint64 m_payloadLength = 0;
    quint64 m_payloadRead = 0;
    QByteArray m_control; // a control frame's payload, read whole (at most 125 bytes)

    bool m_inMessage = false; // a fragmented binary message awaits its continuation frames
    quint64 m_messageBytes = 0;
    bool m_finished = false;
};

// The WebSocket data frames the relay sends, built without QWebSocket's send path: one
// unfragmented binary frame per chunk read from TCP, read straight into its final buffer behind
// room for the header, masked (client side) eight bytes at a time, and handed to the socket as
// one QByteArray, which QIODevice queues without copying.
//
// Why: Qt 6.4's QWebSocket copies a message three times on the way out and masks it one byte at
// a time, which was the largest single cost of a client's upload (see README, Performance).
// Keep-alives, close and pong frames are built here too; pings still go through QWebSocket
// (PingKeepAlive), on the same socket, so the order of everything sent stays the order in which
// it was asked for.
#pragma once

#include <QByteArray>

class QIODevice;

class BinaryFrame
{
public:
    // RFC 6455 5.2: 2 bytes, 8 for a 64-bit length, 4 for the masking key.
    static constexpr qsizetype kMaxHeaderBytes = 14;

    // Reads up to maxPayloadBytes from source into one final binary frame. With mask set, the
    // payload is masked with maskingKey (client to server frames, RFC 6455 5.3). Returns an
    // empty array when nothing could be read; *payloadBytes gets the payload's size.
    static QByteArray readFrom(QIODevice *source, qint64 maxPayloadBytes, bool mask,
                               quint32 maskingKey, qint64 *payloadBytes);

    // XORs data with the 4 key bytes (the key's most significant byte first, as on the wire).
    static void applyMask(char *data, qsizetype size, quint32 maskingKey);

    // The header of a final frame (binary unless told) with this payload size, written to the
    // end of out (out must have kMaxHeaderBytes); returns its length.
    static qsizetype writeHeader(char *out, quint64 payloadBytes, bool mask, quint32 maskingKey,
                                 quint8 opcode = kBinary);

    // Reads up to maxPayloadBytes from source as the payload of one final binary frame, queued
    // on sink as two writes: the header, then the payload as QIODevice handed it over (for large
    // reads a chunk of the source's buffer, not copied) and masked in place. Returns the payload
    // size (0: nothing could be read).
    static qint64 relay(QIODevice *source, QIODevice *sink, qint64 maxPayloadBytes, bool mask,
                        quint32 maskingKey);

    // A whole final frame: a keep-alive (empty binary), a close, ping or pong frame.
    static QByteArray frame(quint8 opcode, const QByteArray &payload, bool mask,
                            quint32 maskingKey);

    // Reads up to size bytes from source into out, returns how many. When that is everything
    // source holds, the bytes are taken as one QByteArray, so that Qt's buffer chunk (16 KiB)
    // leaves with them instead of staying allocated while the tunnel is idle; still one copy.
    // Without askPastBuffer no more than the buffer holds is asked for: QIODevice (Qt 6.4) would
    // reserve a fresh chunk for the rest, find nothing in a socket and keep the chunk. With it,
    // the rest is asked for: what makes a QSslSocket decrypt more (see FrameReader).
    static qint64 readReleasingBuffer(QIODevice *source, char *out, qint64 size,
                                      bool askPastBuffer);

    // RFC 6455 5.2 opcodes.
    static constexpr quint8 kContinuation = 0x0;
    static constexpr quint8 kText = 0x1;
    static constexpr quint8 kBinary = 0x2;
    static constexpr quint8 kClose = 0x8;
    static constexpr quint8 kPing = 0x9;
    static constexpr quint8 kPong = 0xA;
};

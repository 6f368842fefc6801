// A WebSocket client written byte by byte, for tests that send what a real client never would:
// oversized frame headers, text frames, interleaved control frames, floods. Blocking calls
// with timeouts; the server under test is another process.
#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QTcpSocket>

class RawWebSocket
{
public:
    enum Opcode : quint8 {
        Continuation = 0x0,
        Text = 0x1,
        Binary = 0x2,
        Close = 0x8,
        Ping = 0x9,
        Pong = 0xA
    };

    struct Frame
    {
        quint8 opcode = 0;
        bool fin = true;
        QByteArray payload;
    };

    // Connects and sends an upgrade request for target ("/path?query") with extra header lines
    // ("Authorization: Bearer x"). Returns the HTTP status (101 when upgraded), -1 when there
    // was no answer. The response head (status line and headers) is kept in responseHead().
    int upgrade(quint16 port, const QByteArray &target, const QList<QByteArray> &headers = {},
                int timeoutMs = 10000);
    QByteArray responseHead() const { return m_head; }

    // A client frame (masked unless told otherwise).
    static QByteArray frame(quint8 opcode, const QByteArray &payload, bool fin = true,
                            bool masked = true);
    // Only the header of a frame announcing payloadLength bytes, for oversized frames.
    static QByteArray frameHeader(quint8 opcode, quint64 payloadLength, bool fin = true);

    bool send(const QByteArray &bytes);
    bool sendBinary(const QByteArray &payload) { return send(frame(Binary, payload)); }

    // The next frame from the server; false on timeout or when the connection ended.
    bool readFrame(Frame *frame, int timeoutMs = 10000);
    // Binary payload until `size` bytes came (control frames answered or skipped).
    QByteArray readBinary(qint64 size, int timeoutMs = 10000);
    // Reads until the server's close frame: its code, or -1 if none came (timeout, reset).
    int waitForClose(int timeoutMs = 10000);
    // True when the server ends the connection (with or without a close frame) in time.
    bool waitForDisconnect(int timeoutMs = 10000);

    QTcpSocket &socket() { return m_socket; }

private:
    bool fill(qint64 bytes, int timeoutMs);

    QTcpSocket m_socket;
    QByteArray m_buffer;
    QByteArray m_head;
};

#include "rawwebsocket.h"

#include <QDeadlineTimer>
#include <QRandomGenerator>
#include <QtEndian>

int RawWebSocket::upgrade(quint16 port, const QByteArray &target, const QList<QByteArray> &headers,
                          int timeoutMs)
{
    m_socket.connectToHost(QHostAddress::LocalHost, port);
    if (!m_socket.waitForConnected(timeoutMs))
        return -1;
    QByteArray request = "GET " + target
        + " HTTP/1.1\r\n"
          "Host: 127.0.0.1\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n";
    for (const QByteArray &header : headers)
        request += header + "\r\n";
    request += "\r\n";
    send(request);
    QDeadlineTimer deadline(timeoutMs);
    while (!m_buffer.contains("\r\n\r\n")) {
        if (deadline.hasExpired() || !fill(m_buffer.size() + 1, int(deadline.remainingTime())))
            return -1;
    }
    const qsizetype end = m_buffer.indexOf("\r\n\r\n") + 4;
    m_head = m_buffer.left(end);
    m_buffer.remove(0, end);
    // "HTTP/1.1 101 Switching Protocols"
    const QList<QByteArray> statusLine = m_head.left(m_head.indexOf("\r\n")).split(' ');
    return statusLine.size() >= 2 ? statusLine.at(1).toInt() : -1;
}

QByteArray RawWebSocket::frameHeader(quint8 opcode, quint64 payloadLength, bool fin)
{
    QByteArray header;
    header.append(char((fin ? 0x80 : 0) | opcode));
    if (payloadLength < 126) {
        header.append(char(0x80 | payloadLength));
    } else if (payloadLength <= 0xFFFF) {
        header.append(char(0x80 | 126));
        header.append(char(payloadLength >> 8)).append(char(payloadLength & 0xFF));
    } else {
        header.append(char(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8)
            header.append(char((payloadLength >> shift) & 0xFF));
    }
    return header;
}

QByteArray RawWebSocket::frame(quint8 opcode, const QByteArray &payload, bool fin, bool masked)
{
    QByteArray out = frameHeader(opcode, quint64(payload.size()), fin);
    if (!masked) {
        out[1] = char(out[1] & 0x7F);
        return out + payload;
    }
    const quint32 mask = QRandomGenerator::global()->generate();
    char key[4];
    qToBigEndian(mask, key);
    out.append(key, 4);
    QByteArray body = payload;
    for (qsizetype i = 0; i < body.size(); ++i)
        body[i] = char(body[i] ^ key[i % 4]);
    return out + body;
}

bool RawWebSocket::send(const QByteArray &bytes)
{
    if (m_socket.write(bytes) != bytes.size())
        return false;
    while (m_socket.bytesToWrite() > 0) {
        if (!m_socket.waitForBytesWritten(10000))
            return false;
    }
    return true;
}

bool RawWebSocket::fill(qint64 bytes, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (m_buffer.size() < bytes) {
        if (m_socket.bytesAvailable() == 0
            && !m_socket.waitForReadyRead(int(qMax<qint64>(1, deadline.remainingTime()))))
            return false;
        m_buffer += m_socket.readAll();
        if (deadline.hasExpired() && m_buffer.size() < bytes)
            return false;
    }
    return true;
}

bool RawWebSocket::readFrame(Frame *frame, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    if (!fill(2, timeoutMs))
        return false;
    const quint8 first = quint8(m_buffer[0]);
    quint64 length = quint8(m_buffer[1]) & 0x7F;
    qsizetype headerSize = 2;
    if (length == 126) {
        if (!fill(4, int(deadline.remainingTime())))
            return false;
        length = qFromBigEndian<quint16>(m_buffer.constData() + 2);
        headerSize = 4;
    } else if (length == 127) {
        if (!fill(10, int(deadline.remainingTime())))
            return false;
        length = qFromBigEndian<quint64>(m_buffer.constData() + 2);
        headerSize = 10;
    }
    if (!fill(headerSize + qint64(length), int(qMax<qint64>(1, deadline.remainingTime()))))
        return false;
    frame->fin = first & 0x80;
    frame->opcode = first & 0x0F;
    frame->payload = m_buffer.mid(headerSize, qsizetype(length));
    m_buffer.remove(0, headerSize + qsizetype(length));
    return true;
}

QByteArray RawWebSocket::readBinary(qint64 size, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    QByteArray data;
    Frame next;
    while (data.size() < size && readFrame(&next, int(qMax<qint64>(1, deadline.remainingTime())))) {
        if (next.opcode == Binary || next.opcode == Continuation)
            data += next.payload;
        else if (next.opcode == Close)
            break;
    }
    return data;
}

int RawWebSocket::waitForClose(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    Frame next;
    while (readFrame(&next, int(qMax<qint64>(1, deadline.remainingTime())))) {
        if (next.opcode == Close)
            return next.payload.size() >= 2 ? qFromBigEndian<quint16>(next.payload.constData())
                                            : 1005;
    }
    return -1;
}

bool RawWebSocket::waitForDisconnect(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (m_socket.state() == QAbstractSocket::ConnectedState && !deadline.hasExpired()) {
        m_socket.waitForReadyRead(int(qMax<qint64>(1, deadline.remainingTime())));
        m_socket.readAll();
    }
    return m_socket.state() != QAbstractSocket::ConnectedState;
}

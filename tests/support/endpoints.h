// TCP endpoints the tests run on loopback: a sink that checksums what it reads (optionally at a
// limited rate), a source that sends a known pseudo-random stream, and an echo server.
#pragma once

#include <QByteArray>
#include <QCryptographicHash>
#include <QList>
#include <QTcpServer>
#include <QTcpSocket>

// Deterministic pseudo-random bytes, so sender and receiver can agree on a checksum.
QByteArray patternBytes(quint32 seed, qint64 size);
QByteArray sha256(const QByteArray &data);

// The "101 Switching Protocols" answer to a WebSocket upgrade request (its whole head), for test
// servers of a few lines that accept any upgrade.
QByteArray switchingProtocolsAnswer(const QByteArray &request);

struct StreamResult
{
    qint64 bytes = 0;
    QByteArray sha256;
};

class SinkServer : public QTcpServer
{
    Q_OBJECT
public:
    // bytesPerSecond 0: read as fast as possible.
    explicit SinkServer(qint64 bytesPerSecond = 0, QObject *parent = nullptr);
    QList<StreamResult> finished; // one entry per connection that ended
    qint64 bytesReadSoFar() const { return m_bytesSoFar; }
    void setRate(qint64 bytesPerSecond) { m_rate = bytesPerSecond; }

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    qint64 m_rate;
    qint64 m_bytesSoFar = 0;
};

class SourceServer : public QTcpServer
{
    Q_OBJECT
public:
    // Each connection gets `size` bytes of patternBytes(seed, size), then is closed.
    SourceServer(quint32 seed, qint64 size, QObject *parent = nullptr);
    int completed = 0; // connections whose bytes were all handed to the kernel

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    quint32 m_seed;
    qint64 m_size;
};

class EchoServer : public QTcpServer
{
    Q_OBJECT
public:
    explicit EchoServer(QObject *parent = nullptr);

protected:
    void incomingConnection(qintptr descriptor) override;
};

// Client side of a test stream: connects, optionally sends data, reads everything until the
// peer closes, checksumming it. Reads at a limited rate when asked.
class StreamClient : public QObject
{
    Q_OBJECT
public:
    explicit StreamClient(QObject *parent = nullptr);
    void start(quint16 port, const QByteArray &toSend, bool closeAfterSending,
               qint64 readBytesPerSecond = 0);
    void setRate(qint64 bytesPerSecond) { m_rate = bytesPerSecond; }
    void close() { m_socket.disconnectFromHost(); }

    bool done = false; // the peer closed the connection
    qint64 bytesRead = 0;
    QByteArray received; // kept only when keepData is set
    bool keepData = false;
    QByteArray digest() const { return m_hash.result(); }
    QTcpSocket &socket() { return m_socket; }

private:
    void readSome(qint64 limit);

    QTcpSocket m_socket;
    QCryptographicHash m_hash {QCryptographicHash::Sha256};
    QByteArray m_toSend;
    bool m_closeAfterSending = false;
    qint64 m_rate = 0;
};

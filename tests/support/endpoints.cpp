#include "endpoints.h"

#include <QCryptographicHash>
#include <QRandomGenerator>
#include <QTimer>
#include <functional>

namespace {
// Reading at a limited rate: this many bytes every kRateTickMs.
constexpr int kRateTickMs = 20;
constexpr qint64 kUnlimited = qint64(1) << 40;
// Read buffer of a slow reader: small, so the kernel pushes back on the sender.
constexpr qint64 kSlowReadBufferBytes = 64 * 1024;
// Tests open hundreds of connections at once; Qt's default backlog (50) would overflow.
constexpr int kListenBacklog = 1024;

// Reads through drain(limit): whatever arrives while rate is 0; otherwise on a timer, rate bytes
// per second from a small read buffer. Setting rate to 0 later switches to full speed.
void readAtRate(QTcpSocket *socket, QObject *context, const qint64 &rate,
                const std::function<void(qint64)> &drain)
{
    QObject::connect(socket, &QTcpSocket::readyRead, context, [&rate, drain] {
        if (rate == 0)
            drain(kUnlimited);
    });
    if (rate == 0)
        return;
    socket->setReadBufferSize(kSlowReadBufferBytes);
    auto *timer = new QTimer(context);
    QObject::connect(timer, &QTimer::timeout, context, [socket, timer, &rate, drain] {
        if (rate == 0) {
            timer->stop();
            socket->setReadBufferSize(0);
            drain(kUnlimited);
            return;
        }
        drain(rate * kRateTickMs / 1000);
        // Reading from a full buffer does not always restart the notifier (Qt 6.4).
        socket->setReadBufferSize(socket->readBufferSize() == kSlowReadBufferBytes
                                      ? kSlowReadBufferBytes + 1
                                      : kSlowReadBufferBytes);
    });
    timer->start(kRateTickMs);
}
} // namespace

QByteArray switchingProtocolsAnswer(const QByteArray &request)
{
    const qsizetype at = request.indexOf("Sec-WebSocket-Key: ") + 19;
    const QByteArray key = request.mid(at, request.indexOf("\r\n", at) - at);
    const QByteArray accept =
        QCryptographicHash::hash(QByteArray(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
                                 QCryptographicHash::Sha1)
            .toBase64();
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: "
        + accept + "\r\n\r\n";
}

QByteArray patternBytes(quint32 seed, qint64 size)
{
    QByteArray data(size, Qt::Uninitialized);
    QRandomGenerator generator(seed);
    const qint64 words = size / 4;
    generator.fillRange(reinterpret_cast<quint32 *>(data.data()), words);
    for (qint64 i = words * 4; i < size; ++i)
        data[i] = char(generator.generate());
    return data;
}

QByteArray sha256(const QByteArray &data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256);
}

SinkServer::SinkServer(qint64 bytesPerSecond, QObject *parent)
    : QTcpServer(parent), m_rate(bytesPerSecond)
{
    setListenBacklogSize(kListenBacklog);
}

void SinkServer::incomingConnection(qintptr descriptor)
{
    auto *socket = new QTcpSocket(this);
    socket->setSocketDescriptor(descriptor);
    auto hash = std::make_shared<QCryptographicHash>(QCryptographicHash::Sha256);
    auto count = std::make_shared<qint64>(0);
    auto drain = [this, socket, hash, count](qint64 limit) {
        while (socket->bytesAvailable() > 0 && limit > 0) {
            const QByteArray chunk = socket->read(qMin<qint64>(limit, 1 << 20));
            hash->addData(chunk);
            *count += chunk.size();
            m_bytesSoFar += chunk.size();
            limit -= chunk.size();
        }
    };
    readAtRate(socket, socket, m_rate, drain);
    connect(socket, &QTcpSocket::disconnected, this, [this, socket, hash, count, drain] {
        drain(kUnlimited);
        finished.append({*count, hash->result()});
        socket->deleteLater();
    });
}

SourceServer::SourceServer(quint32 seed, qint64 size, QObject *parent)
    : QTcpServer(parent), m_seed(seed), m_size(size)
{
    setListenBacklogSize(kListenBacklog);
}

void SourceServer::incomingConnection(qintptr descriptor)
{
    auto *socket = new QTcpSocket(this);
    socket->setSocketDescriptor(descriptor);
    // Write in pieces as the kernel accepts them, so memory stays small for large streams.
    auto data = std::make_shared<QByteArray>(patternBytes(m_seed, m_size));
    auto offset = std::make_shared<qint64>(0);
    auto pump = [this, socket, data, offset] {
        constexpr qint64 kChunk = 256 * 1024;
        while (*offset < data->size() && socket->bytesToWrite() < kChunk) {
            const qint64 n = qMin(kChunk, data->size() - *offset);
            socket->write(data->constData() + *offset, n);
            *offset += n;
        }
        if (*offset == data->size() && socket->bytesToWrite() == 0
            && socket->state() == QAbstractSocket::ConnectedState) {
            ++completed;
            socket->disconnectFromHost();
        }
    };
    connect(socket, &QTcpSocket::bytesWritten, socket, pump);
    connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
    pump();
}

EchoServer::EchoServer(QObject *parent) : QTcpServer(parent)
{
    setListenBacklogSize(kListenBacklog);
}

void EchoServer::incomingConnection(qintptr descriptor)
{
    auto *socket = new QTcpSocket(this);
    socket->setSocketDescriptor(descriptor);
    connect(socket, &QTcpSocket::readyRead, socket, [socket] { socket->write(socket->readAll()); });
    connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
}

StreamClient::StreamClient(QObject *parent) : QObject(parent)
{
    connect(&m_socket, &QTcpSocket::connected, this, [this] {
        if (!m_toSend.isEmpty())
            m_socket.write(m_toSend);
        if (m_closeAfterSending)
            m_socket.disconnectFromHost(); // waits for the write buffer to drain
    });
    connect(&m_socket, &QTcpSocket::disconnected, this, [this] {
        readSome(kUnlimited);
        done = true;
    });
}

void StreamClient::start(quint16 port, const QByteArray &toSend, bool closeAfterSending,
                         qint64 readBytesPerSecond)
{
    m_toSend = toSend;
    m_closeAfterSending = closeAfterSending;
    m_rate = readBytesPerSecond;
    readAtRate(&m_socket, this, m_rate, [this](qint64 limit) { readSome(limit); });
    m_socket.connectToHost(QHostAddress::LocalHost, port);
}

void StreamClient::readSome(qint64 limit)
{
    while (m_socket.bytesAvailable() > 0 && limit > 0) {
        const QByteArray chunk = m_socket.read(qMin<qint64>(limit, 1 << 20));
        m_hash.addData(chunk);
        if (keepData)
            received += chunk;
        bytesRead += chunk.size();
        limit -= chunk.size();
    }
}

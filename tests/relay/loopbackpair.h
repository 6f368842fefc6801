// A connected pair of TCP sockets on 127.0.0.1 and a byte pattern to send through them, for the
// tests of what the relay does with single sockets (WriteThrough, IdleBuffers).
#pragma once

#include <QByteArray>
#include <QNetworkProxy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <memory>

inline QByteArray pattern(qsizetype size)
{
    QByteArray data(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        data[i] = char((i * 131 + i / 4099 + 7) & 0xFF);
    return data;
}

// A connected pair on 127.0.0.1: the writer (set to NoProxy, as the relay's sockets are) and the
// accepted reader.
struct LoopbackPair
{
    QTcpServer server;
    std::unique_ptr<QTcpSocket> writer;
    std::unique_ptr<QTcpSocket> reader;

    bool open()
    {
        if (!server.listen(QHostAddress::LocalHost))
            return false;
        writer = std::make_unique<QTcpSocket>();
        writer->setProxy(QNetworkProxy::NoProxy);
        writer->connectToHost(QHostAddress::LocalHost, server.serverPort());
        if (!writer->waitForConnected(5000) || !server.waitForNewConnection(5000))
            return false;
        reader.reset(server.nextPendingConnection());
        return reader != nullptr;
    }

    // Reads until size bytes came or nothing more comes for 5 s; the writer's queue is written
    // meanwhile by the event loop.
    QByteArray readAll(qsizetype size)
    {
        QByteArray received;
        while (received.size() < size) {
            if (reader->bytesAvailable() == 0
                && !QTest::qWaitFor([this] { return reader->bytesAvailable() > 0; }, 5000))
                break;
            received += reader->readAll();
        }
        return received;
    }
};

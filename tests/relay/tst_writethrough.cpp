// Writing straight to the kernel (WriteThrough) on real loopback sockets: which sockets qualify,
// bytes in order behind what Qt already queued, what the kernel refuses queued by Qt and
// delivered, and a peer that is gone reported as an error, without a SIGPIPE.
#include "relay/writethrough.h"
#include "testmain.h"

#include <QNetworkProxy>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <csignal>
#include <memory>
#include <sys/socket.h>

namespace {

QByteArray pattern(qsizetype size)
{
    QByteArray data(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        data[i] = char((i * 131 + i / 4099 + 7) & 0xFF);
    return data;
}

// A connected pair on 127.0.0.1: the writer (set to NoProxy, as the relay's sockets are) and the
// accepted reader.
struct Pair
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

} // namespace

class TestWriteThrough : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void whichSocketsQualify();
    void idleSocketWritesStraightThrough();
    void queuedBytesStayAhead();
    void whatTheKernelRefusesIsQueued();
    void peerGoneIsAnError_data();
    void peerGoneIsAnError();
};

void TestWriteThrough::whichSocketsQualify()
{
    Pair pair;
    QVERIFY(pair.open());
    QVERIFY(WriteThrough::isPossible(pair.writer.get()));

    // Qt's default proxy setting might mean a proxy: only an explicit NoProxy qualifies.
    pair.writer->setProxy(QNetworkProxy::DefaultProxy);
    QVERIFY(!WriteThrough::isPossible(pair.writer.get()));
    pair.writer->setProxy(
        QNetworkProxy(QNetworkProxy::Socks5Proxy, QStringLiteral("127.0.0.1"), 1));
    QVERIFY(!WriteThrough::isPossible(pair.writer.get()));
    pair.writer->setProxy(QNetworkProxy::NoProxy);

    // Not connected (yet, or any more).
    QTcpSocket unconnected;
    unconnected.setProxy(QNetworkProxy::NoProxy);
    QVERIFY(!WriteThrough::isPossible(&unconnected));
    pair.writer->abort();
    QVERIFY(!WriteThrough::isPossible(pair.writer.get()));
}

void TestWriteThrough::idleSocketWritesStraightThrough()
{
    Pair pair;
    QVERIFY(pair.open());
    QSignalSpy written(pair.writer.get(), &QIODevice::bytesWritten);
    const QByteArray message = QByteArrayLiteral("a keystroke");
    QCOMPARE(WriteThrough::write(pair.writer.get(), message.constData(), message.size()),
             qint64(message.size()));
    // In the kernel already: nothing queued, nothing to report.
    QCOMPARE(pair.writer->bytesToWrite(), 0);
    QCOMPARE(pair.readAll(message.size()), message);
    QCOMPARE(written.count(), 0);
}

void TestWriteThrough::queuedBytesStayAhead()
{
    Pair pair;
    QVERIFY(pair.open());
    // Queued by Qt, not yet written (that waits for the event loop).
    QCOMPARE(pair.writer->write("first,"), qint64(6));
    QCOMPARE(pair.writer->bytesToWrite(), 6);
    QCOMPARE(WriteThrough::write(pair.writer.get(), "second", 6), qint64(6));
    QCOMPARE(pair.writer->bytesToWrite(), 12); // behind the first, not around it
    QCOMPARE(pair.readAll(12), QByteArrayLiteral("first,second"));
}

void TestWriteThrough::whatTheKernelRefusesIsQueued()
{
    Pair pair;
    QVERIFY(pair.open());
    // Far more than the kernel takes while nobody reads: the rest waits in Qt's queue.
    const QByteArray data = pattern(32 * 1024 * 1024);
    pair.reader->setReadBufferSize(64 * 1024);
    QCOMPARE(WriteThrough::write(pair.writer.get(), data.constData(), data.size()),
             qint64(data.size()));
    QVERIFY(pair.writer->bytesToWrite() > 0);
    QVERIFY(pair.writer->bytesToWrite() < data.size());
    pair.reader->setReadBufferSize(0);
    const QByteArray received = pair.readAll(data.size());
    QCOMPARE(received.size(), data.size());
    QVERIFY(received == data);
    QCOMPARE(pair.writer->bytesToWrite(), 0);
}

void TestWriteThrough::peerGoneIsAnError_data()
{
    QTest::addColumn<bool>("reset");
    // The peer closes with zero linger: the kernel answers the send with ECONNRESET.
    QTest::newRow("reset by the peer") << true;
    // Our side can send no more: EPIPE, which raises SIGPIPE unless the send says not to.
    QTest::newRow("shut down for writing") << false;
}

void TestWriteThrough::peerGoneIsAnError()
{
    QFETCH(bool, reset);
    Pair pair;
    QVERIFY(pair.open());
    QSignalSpy errors(pair.writer.get(), &QAbstractSocket::errorOccurred);
    if (reset) {
        const linger resetOnClose {1, 0};
        QCOMPARE(::setsockopt(int(pair.reader->socketDescriptor()), SOL_SOCKET, SO_LINGER,
                              &resetOnClose, sizeof resetOnClose),
                 0);
        pair.reader->abort();
    } else {
        QCOMPARE(::shutdown(int(pair.writer->socketDescriptor()), SHUT_WR), 0);
    }
    // Without the event loop in between, Qt still believes the socket connected.
    QVERIFY(WriteThrough::isPossible(pair.writer.get()));
    const QByteArray message = QByteArrayLiteral("too late");
    // SIGPIPE as a process has it before Qt first writes to a socket (Qt then ignores it for
    // good): a send without MSG_NOSIGNAL would end the test here.
    struct sigaction defaultAction = {};
    defaultAction.sa_handler = SIG_DFL;
    struct sigaction previous = {};
    QCOMPARE(::sigaction(SIGPIPE, &defaultAction, &previous), 0);
    const qint64 written =
        WriteThrough::write(pair.writer.get(), message.constData(), message.size());
    ::sigaction(SIGPIPE, &previous, nullptr);
    QCOMPARE(written, qint64(message.size()));
    // Refused by the kernel, so queued by Qt, whose own write reports the error: not lost, and
    // the process is still alive.
    QCOMPARE(pair.writer->bytesToWrite(), qint64(message.size()));
    QVERIFY(QTest::qWaitFor([&] { return !errors.isEmpty(); }, 5000));
    QVERIFY(QTest::qWaitFor(
        [&] { return pair.writer->state() == QAbstractSocket::UnconnectedState; }, 5000));
}

TOW_TEST_MAIN(TestWriteThrough)
#include "tst_writethrough.moc"

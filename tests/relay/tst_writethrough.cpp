// Writing straight to the kernel (WriteThrough) on real loopback sockets: which sockets qualify,
// bytes in order behind what Qt already queued, large writes left to Qt, what the kernel refuses
// queued by Qt and delivered, and a peer that is gone reported as an error, without a SIGPIPE.
#include "loopbackpair.h"
#include "relay/writethrough.h"
#include "testmain.h"

#include <QNetworkProxy>
#include <QSignalSpy>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <cerrno>
#include <csignal>
#include <memory>
#include <sys/socket.h>

class TestWriteThrough : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void whichSocketsQualify();
    void idleSocketWritesStraightThrough();
    void queuedBytesStayAhead();
    void largeWritesAreQueuedAsTheyAre();
    void whatTheKernelRefusesIsQueued();
    void peerGoneIsAnError_data();
    void peerGoneIsAnError();
};

void TestWriteThrough::whichSocketsQualify()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    QVERIFY(WriteThrough::isPossible(pair.writer.get()));

    // Qt's default proxy setting might mean a proxy: only an explicit NoProxy qualifies.
    pair.writer->setProxy(QNetworkProxy::DefaultProxy);
    QVERIFY(!WriteThrough::isPossible(pair.writer.get()));
    pair.writer->setProxy(
        QNetworkProxy(QNetworkProxy::Socks5Proxy, QStringLiteral("127.0.0.1"), 1));
    QVERIFY(!WriteThrough::isPossible(pair.writer.get()));
    // What our server and client say of the sockets they accept.
    WriteThrough::setDirect(pair.writer.get());
    QCOMPARE(pair.writer->proxy().type(), QNetworkProxy::NoProxy);
    QVERIFY(WriteThrough::isPossible(pair.writer.get()));

    // A QSslSocket, even before it encrypts: its bytes must go through TLS.
    QSslSocket tls;
    tls.setProxy(QNetworkProxy::NoProxy);
    tls.connectToHost(QHostAddress::LocalHost, pair.server.serverPort());
    QVERIFY(tls.waitForConnected(5000));
    QVERIFY(!WriteThrough::isPossible(&tls));

    // Not connected (yet, or any more).
    QTcpSocket unconnected;
    unconnected.setProxy(QNetworkProxy::NoProxy);
    QVERIFY(!WriteThrough::isPossible(&unconnected));
    pair.writer->abort();
    QVERIFY(!WriteThrough::isPossible(pair.writer.get()));
}

void TestWriteThrough::idleSocketWritesStraightThrough()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    QSignalSpy written(pair.writer.get(), &QIODevice::bytesWritten);
    const QByteArray message = QByteArrayLiteral("a keystroke");
    WriteThrough::Outcome outcome;
    QVERIFY(WriteThrough::write(pair.writer.get(), message, &outcome));
    QCOMPARE(outcome.bytesInKernel, message.size());
    QCOMPARE(outcome.error, 0);
    // In the kernel already: nothing queued, nothing to report.
    QCOMPARE(pair.writer->bytesToWrite(), 0);
    QCOMPARE(pair.readAll(message.size()), message);
    QCOMPARE(written.count(), 0);
}

void TestWriteThrough::queuedBytesStayAhead()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    // Queued by Qt, not yet written (that waits for the event loop).
    QCOMPARE(pair.writer->write("first,"), qint64(6));
    QCOMPARE(pair.writer->bytesToWrite(), 6);
    WriteThrough::Outcome outcome;
    QVERIFY(!WriteThrough::write(pair.writer.get(), QByteArrayLiteral("second"), &outcome));
    QCOMPARE(outcome.bytesInKernel, 0);
    QCOMPARE(pair.writer->bytesToWrite(), 12); // behind the first, not around it
    QCOMPARE(pair.readAll(12), QByteArrayLiteral("first,second"));
}

void TestWriteThrough::largeWritesAreQueuedAsTheyAre()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    // From 4 KiB on Qt queues the array itself, no copy: nothing to gain from the kernel.
    const QByteArray data = pattern(4096);
    QVERIFY(!WriteThrough::write(pair.writer.get(), data));
    QCOMPARE(pair.writer->bytesToWrite(), data.size());
    QCOMPARE(pair.readAll(data.size()), data);
    QCOMPARE(pair.writer->bytesToWrite(), 0);
}

void TestWriteThrough::whatTheKernelRefusesIsQueued()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    // Small messages while nobody reads, until the kernel takes one only in part or not at all:
    // from there on Qt queues, and every byte arrives in order.
    pair.reader->setReadBufferSize(64 * 1024);
    const QByteArray data = pattern(64 * 1024 * 1024);
    constexpr qsizetype kMessage = 4000;
    qsizetype offset = 0;
    WriteThrough::Outcome outcome;
    while (offset < data.size()
           && WriteThrough::write(pair.writer.get(), data.mid(offset, kMessage), &outcome))
        offset += kMessage;
    QVERIFY2(offset < data.size(), "the kernel took 64 MiB without a reader");
    QVERIFY(pair.writer->bytesToWrite() > 0);
    QVERIFY(pair.writer->bytesToWrite() <= kMessage);
    // What the kernel took of the refused message, and what Qt queued, make the whole of it.
    QCOMPARE(outcome.bytesInKernel + pair.writer->bytesToWrite(), kMessage);
    QCOMPARE(outcome.error, 0); // a full buffer is no error
    offset += kMessage;
    // More behind the refused one: queued too.
    QVERIFY(!WriteThrough::write(pair.writer.get(), data.mid(offset, kMessage)));
    offset += kMessage;
    pair.reader->setReadBufferSize(0);
    const QByteArray received = pair.readAll(offset);
    QCOMPARE(received.size(), offset);
    QVERIFY(received == data.left(offset));
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
    LoopbackPair pair;
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
#ifdef MSG_NOSIGNAL
    // SIGPIPE as a process has it before Qt first writes to a socket (Qt then ignores it for
    // good): a send without MSG_NOSIGNAL would end the test here. (Where there is no such flag,
    // WriteThrough relies on Qt's ignoring it, as the rest of the test does.)
    struct sigaction defaultAction = {};
    defaultAction.sa_handler = SIG_DFL;
    struct sigaction previous = {};
    QCOMPARE(::sigaction(SIGPIPE, &defaultAction, &previous), 0);
#endif
    WriteThrough::Outcome outcome;
    const bool inKernel = WriteThrough::write(pair.writer.get(), message, &outcome);
#ifdef MSG_NOSIGNAL
    ::sigaction(SIGPIPE, &previous, nullptr);
#endif
    QVERIFY(!inKernel);
    QCOMPARE(outcome.bytesInKernel, 0);
    // What a caller goes by to tell a reset (Qt's own write then reports a close).
    QCOMPARE(outcome.error, reset ? ECONNRESET : EPIPE);
    // Refused by the kernel, so queued by Qt, whose own write reports the error: not lost, and
    // the process is still alive.
    QCOMPARE(pair.writer->bytesToWrite(), qint64(message.size()));
    QVERIFY(QTest::qWaitFor([&] { return !errors.isEmpty(); }, 5000));
    QVERIFY(QTest::qWaitFor(
        [&] { return pair.writer->state() == QAbstractSocket::UnconnectedState; }, 5000));
}

TOW_TEST_MAIN(TestWriteThrough)
#include "tst_writethrough.moc"

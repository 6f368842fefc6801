// Giving an idle socket's buffers back (IdleBuffers) on real loopback sockets: the memory comes
// back, the socket goes on reading and writing, and a socket that still holds bytes either way,
// or in an open read transaction, keeps them. Then the C library's free pages handed back to the
// system.
#include "loopbackpair.h"
#include "relay/idlebuffers.h"
#include "testcertificates.h"
#include "testmain.h"

#include <QFile>
#include <QSslCertificate>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTemporaryDir>
#include <QTest>
#include <vector>

// What the memory checks read (tests/relay/CMakeLists.txt says which): glibc's counters and the
// process's resident size, or under the sanitizers their allocator's count.
#if defined(TOW_MEASURE_GLIBC_HEAP)
#include <malloc.h>
#include <unistd.h>
#elif defined(TOW_MEASURE_SANITIZER_HEAP)
#include <cstddef>
// The sanitizers' allocator interface (GCC ships no header for it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

#if defined(TOW_MEASURE_GLIBC_HEAP)
qint64 heapInUse()
{
    return qint64(mallinfo2().uordblks);
}

qint64 residentBytes()
{
    QFile statm(QStringLiteral("/proc/self/statm"));
    if (!statm.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> fields = statm.readAll().split(' ');
    return fields.size() > 1 ? fields[1].toLongLong() * sysconf(_SC_PAGESIZE) : -1;
}
#elif defined(TOW_MEASURE_SANITIZER_HEAP)
qint64 heapInUse()
{
    return qint64(__sanitizer_get_current_allocated_bytes());
}
#endif

// Sends data from one socket to the other, and back, each as it arrives.
bool roundTrip(LoopbackPair &pair, const QByteArray &data)
{
    pair.writer->write(data);
    if (pair.readAll(data.size()) != data)
        return false;
    pair.reader->write(data);
    QByteArray back;
    while (back.size() < data.size()) {
        if (pair.writer->bytesAvailable() == 0
            && !QTest::qWaitFor([&pair] { return pair.writer->bytesAvailable() > 0; }, 5000))
            break;
        back += pair.writer->readAll();
    }
    return back == data;
}

} // namespace

class TestIdleBuffers : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void usedBuffersComeBack();
    void socketGoesOnAfterwards();
    void queuedBytesAreKept();
    void unreadBytesAreKept();
    void bytesOfAnOpenTransactionAreKept();
    void onlyConnectedPlainSockets();
    void tlsSocketsGoOnAfterwards();
#ifdef TOW_MEASURE_GLIBC_HEAP
    void freePagesGoBackToTheSystem();
#endif
};

void TestIdleBuffers::usedBuffersComeBack()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    QVERIFY(roundTrip(pair, pattern(1000)));
#if defined(TOW_MEASURE_GLIBC_HEAP) || defined(TOW_MEASURE_SANITIZER_HEAP)
    const qint64 before = heapInUse();
#endif
    QVERIFY(IdleBuffers::release(pair.writer.get()));
    QVERIFY(IdleBuffers::release(pair.reader.get()));
#if defined(TOW_MEASURE_GLIBC_HEAP) || defined(TOW_MEASURE_SANITIZER_HEAP)
    // Each socket kept a chunk to read (16 KiB) and one to write (32 KiB).
    const qint64 freed = before - heapInUse();
    QVERIFY2(freed >= 2 * (16 + 32) * 1024, qPrintable(QString::number(freed)));
#endif
}

void TestIdleBuffers::socketGoesOnAfterwards()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    for (const qsizetype size : {1, 1000, 64 * 1024, 3 * 1024 * 1024}) {
        QVERIFY(roundTrip(pair, pattern(size)));
        QVERIFY(IdleBuffers::release(pair.writer.get()));
        QVERIFY(IdleBuffers::release(pair.reader.get()));
        QCOMPARE(pair.writer->state(), QAbstractSocket::ConnectedState);
        QCOMPARE(pair.writer->openMode(), QIODevice::ReadWrite);
    }
    QVERIFY(roundTrip(pair, pattern(12345)));
    // The end of the connection is still seen.
    pair.writer->disconnectFromHost();
    QTRY_COMPARE(pair.reader->state(), QAbstractSocket::UnconnectedState);
}

void TestIdleBuffers::queuedBytesAreKept()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    // More than the kernel takes while the reader reads nothing: the rest waits in Qt's queue.
    const QByteArray data = pattern(32 * 1024 * 1024);
    pair.writer->write(data);
    QVERIFY(pair.writer->bytesToWrite() > 0);
    QVERIFY(!IdleBuffers::release(pair.writer.get()));
    QCOMPARE(pair.readAll(data.size()), data);
}

void TestIdleBuffers::unreadBytesAreKept()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    const QByteArray data = pattern(5000);
    pair.writer->write(data);
    QTRY_COMPARE(pair.reader->bytesAvailable(), data.size());
    QVERIFY(!IdleBuffers::release(pair.reader.get()));
    QCOMPARE(pair.reader->readAll(), data);
}

void TestIdleBuffers::bytesOfAnOpenTransactionAreKept()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    const QByteArray data = pattern(300);
    pair.writer->write(data);
    QTRY_COMPARE(pair.reader->bytesAvailable(), data.size());
    // Read inside a transaction: nothing counts as available, but a rollback brings it back.
    pair.reader->startTransaction();
    QCOMPARE(pair.reader->readAll(), data);
    QCOMPARE(pair.reader->bytesAvailable(), 0);
    QVERIFY(!IdleBuffers::release(pair.reader.get()));
    pair.reader->rollbackTransaction();
    QCOMPARE(pair.reader->readAll(), data);
}

// Over TLS both levels are given back together (the QSslSocket's decrypted buffers and those of
// its inner plain socket), and only when all are empty; the session goes on after it.
void TestIdleBuffers::tlsSocketsGoOnAfterwards()
{
    QTemporaryDir directory;
    TestCertificates certificates;
    QString error;
    QVERIFY2(certificates.create(directory.path(), &error), qPrintable(error));
    QFile certificateFile(certificates.certificateFile());
    QFile keyFile(certificates.keyFile());
    QVERIFY(certificateFile.open(QIODevice::ReadOnly) && keyFile.open(QIODevice::ReadOnly));

    QSslServer server;
    QSslConfiguration serverConfiguration = QSslConfiguration::defaultConfiguration();
    serverConfiguration.setLocalCertificate(QSslCertificate(certificateFile.readAll()));
    serverConfiguration.setPrivateKey(QSslKey(keyFile.readAll(), QSsl::Ec));
    server.setSslConfiguration(serverConfiguration);
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QSslSocket client;
    QSslConfiguration clientConfiguration = client.sslConfiguration();
    clientConfiguration.setCaCertificates(QSslCertificate::fromPath(certificates.caFile()));
    client.setSslConfiguration(clientConfiguration);
    client.connectToHostEncrypted(QStringLiteral("localhost"), server.serverPort());
    QTRY_VERIFY_WITH_TIMEOUT(server.hasPendingConnections(), 10000);
    std::unique_ptr<QSslSocket> accepted(
        qobject_cast<QSslSocket *>(server.nextPendingConnection()));
    QVERIFY(accepted);
    QSslSocket &serverSide = *accepted;
    QTRY_VERIFY_WITH_TIMEOUT(client.isEncrypted() && serverSide.isEncrypted(), 10000);

    auto exchange = [&](const QByteArray &data) {
        client.write(data);
        QByteArray received;
        if (!QTest::qWaitFor(
                [&] {
                    received += serverSide.readAll();
                    return received.size() >= data.size();
                },
                10000))
            return false;
        serverSide.write(received);
        QByteArray back;
        return QTest::qWaitFor(
                   [&] {
                       back += client.readAll();
                       return back.size() >= data.size();
                   },
                   10000)
            && received == data && back == data;
    };
    QVERIFY(exchange(pattern(100000)));
    // Decrypted bytes not read yet: kept.
    client.write(pattern(100));
    QTRY_VERIFY(serverSide.bytesAvailable() == 100);
    QVERIFY(!IdleBuffers::release(&serverSide));
    QCOMPARE(serverSide.readAll(), pattern(100));
    QVERIFY(IdleBuffers::release(&client));
    QVERIFY(IdleBuffers::release(&serverSide));
    QVERIFY(exchange(pattern(200000)));
    QVERIFY(client.isEncrypted() && serverSide.isEncrypted());
}

void TestIdleBuffers::onlyConnectedPlainSockets()
{
    LoopbackPair pair;
    QVERIFY(pair.open());
    QSslSocket tls;
    tls.connectToHost(QHostAddress::LocalHost, pair.server.serverPort());
    QVERIFY(tls.waitForConnected(5000));
    QVERIFY(!IdleBuffers::release(&tls));
    QTcpSocket unconnected;
    QVERIFY(!IdleBuffers::release(&unconnected));
    QVERIFY(!IdleBuffers::release(nullptr));
}

#ifdef TOW_MEASURE_GLIBC_HEAP
void TestIdleBuffers::freePagesGoBackToTheSystem()
{
    // 64 MiB in 16 KiB blocks, each held apart from the next by a small block that stays, so
    // that freeing them leaves holes inside the heap, which free() itself never gives back.
    constexpr int kBlocks = 4096;
    std::vector<char *> large;
    std::vector<void *> small;
    for (int i = 0; i < kBlocks; ++i) {
        auto *block = static_cast<char *>(malloc(16 * 1024));
        QVERIFY(block);
        memset(block, i & 0xFF, 16 * 1024);
        large.push_back(block);
        small.push_back(malloc(64));
    }
    for (char *block : large)
        free(block);
    const qint64 before = residentBytes();
    // Two calls within a second are one.
    IdleBuffers::returnFreedPages();
    IdleBuffers::returnFreedPages();
    QTRY_VERIFY_WITH_TIMEOUT(before - residentBytes() >= 32 * 1024 * 1024, 5000);
    for (void *block : small)
        free(block);
}
#endif

TOW_TEST_MAIN(TestIdleBuffers)
#include "tst_idlebuffers.moc"

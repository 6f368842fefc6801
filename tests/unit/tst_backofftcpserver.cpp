// The listener at the descriptor limit (BackoffTcpServer), in one process on loopback: accept()
// fails with EMFILE while a connection waits; accepting pauses for longer each time instead of
// retrying in a loop, and picks the connection up once descriptors are free.
#include "net/backofftcpserver.h"
#include "testmain.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTcpSocket>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

Q_LOGGING_CATEGORY(lcTest, "tow.test")

namespace {

// Opens descriptors until the process has none left (under a limit lowered to at most 1024, so
// that it is quick); closes them and restores the limit when it goes.
class DescriptorFiller
{
public:
    DescriptorFiller()
    {
        ::getrlimit(RLIMIT_NOFILE, &m_saved);
        struct rlimit limit = m_saved;
        limit.rlim_cur = qMin<rlim_t>(limit.rlim_cur, 1024);
        ::setrlimit(RLIMIT_NOFILE, &limit);
        for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
            m_descriptors.push_back(fd);
        m_full = errno == EMFILE;
    }
    ~DescriptorFiller()
    {
        for (int fd : m_descriptors)
            ::close(fd);
        ::setrlimit(RLIMIT_NOFILE, &m_saved);
    }
    bool isFull() const { return m_full; }

private:
    struct rlimit m_saved = {};
    std::vector<int> m_descriptors;
    bool m_full = false;
};

} // namespace

class TestBackoffTcpServer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void acceptsConnections();
    void pausesAtTheDescriptorLimit();
};

void TestBackoffTcpServer::acceptsConnections()
{
    BackoffTcpServer server(lcTest);
    QString error;
    QVERIFY2(server.listenOn(HostPort {QStringLiteral("127.0.0.1"), 0}, &error), qPrintable(error));
    QSignalSpy available(&server, &QTcpServer::pendingConnectionAvailable);
    QTcpSocket clients[3];
    for (QTcpSocket &client : clients)
        client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTRY_COMPARE(available.count(), 3);
    for (int i = 0; i < 3; ++i)
        QVERIFY(server.nextPendingConnection());
    // Taking a pending connection switches QTcpServer's own notifier on again (it then switches
    // itself off): connections go on arriving.
    QTcpSocket late;
    late.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTRY_COMPARE(available.count(), 4);
    QVERIFY(server.nextPendingConnection());

    server.stopListening();
    QVERIFY(!server.isListening());
    QTcpSocket refused;
    refused.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(!refused.waitForConnected(5000)); // the port is closed, no descriptor kept it open
}

void TestBackoffTcpServer::pausesAtTheDescriptorLimit()
{
    BackoffTcpServer server(lcTest);
    QString error;
    QVERIFY2(server.listenOn(HostPort {QStringLiteral("127.0.0.1"), 0}, &error), qPrintable(error));
    QSignalSpy failures(&server, &BackoffTcpServer::acceptFailed);
    QSignalSpy available(&server, &QTcpServer::pendingConnectionAvailable);
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(client.waitForConnected(5000)); // in the kernel's queue, not accepted yet

    // Use up every descriptor this process may open: the accept of that connection fails.
    auto fillers = std::make_unique<DescriptorFiller>();
    QVERIFY(fillers->isFull());

    QElapsedTimer clock;
    clock.start();
    QTRY_VERIFY_WITH_TIMEOUT(failures.count() >= 4, 10000);
    const qint64 elapsedMs = clock.elapsed();
    const int attempts = int(failures.count());
    fillers.reset();
    QCOMPARE(available.count(), 0);
    // Pauses of 100, 200, 400, 800 ms between the attempts: not a retry per wake-up.
    QCOMPARE(failures.at(0).at(1).toInt(), BackoffTcpServer::kFirstPauseMs);
    QCOMPARE(failures.at(1).at(1).toInt(), 2 * BackoffTcpServer::kFirstPauseMs);
    QCOMPARE(failures.at(2).at(1).toInt(), 4 * BackoffTcpServer::kFirstPauseMs);
    QVERIFY2(attempts <= elapsedMs / BackoffTcpServer::kFirstPauseMs + 1,
             qPrintable(QStringLiteral("%1 attempts in %2 ms").arg(attempts).arg(elapsedMs)));
    QVERIFY2(failures.at(0).at(0).toString().contains(QLatin1String("descriptor limit")),
             qPrintable(failures.at(0).at(0).toString()));
    QCOMPARE(server.failedAccepts(), qint64(failures.count()));

    // Descriptors free again: the waiting connection is taken at the next attempt.
    QTRY_COMPARE_WITH_TIMEOUT(available.count(), 1, 5000);
    QVERIFY(server.nextPendingConnection());
    const int failed = int(failures.count());
    QTcpSocket next;
    next.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTRY_COMPARE(available.count(), 2);
    QCOMPARE(failures.count(), failed);
}

TOW_TEST_MAIN(TestBackoffTcpServer)
#include "tst_backofftcpserver.moc"

// One TLS context for many connections (SharedTlsContext over Qt's private API), with real
// sockets on loopback and certificates made by openssl: the server's connections share one
// context per certificate configuration, resume each other's sessions and get a new context when
// the configuration is replaced (SIGHUP); and a shared context does not skip a socket's own
// checks of the server's name.
#include "net/sharedtlscontext.h"
#include "server/tlsidentity.h"
#include "server/tunneltcpserver.h"
#include "testcertificates.h"

#include <QSignalSpy>
#include <QSslSocket>
#include <QTemporaryDir>
#include <QTest>
#include <memory>
#include <vector>

namespace {

constexpr int kTimeoutMs = 20000;
constexpr qint64 kReadBufferBytes = 64 * 1024;

// The server runs in this thread: wait with its event loop going. False when the handshake
// failed (the socket is closed then) or took too long.
bool encrypted(QSslSocket *socket)
{
    return QTest::qWaitFor(
               [socket] {
                   return socket->isEncrypted()
                       || socket->state() == QAbstractSocket::UnconnectedState;
               },
               kTimeoutMs)
        && socket->isEncrypted();
}

} // namespace

class TestSharedTlsContext : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void serverConnectionsShareOneContext();
    void serverResumesSessions();
    void newConfigurationGetsNewContext();
    void sharedContextStillChecksTheName();

private:
    // A client connection to the server; its sslErrors (a full handshake with an empty CA store
    // always has some, a resumed one has none) are counted and ignored, as with a pin.
    struct Client
    {
        std::unique_ptr<QSslSocket> socket = std::make_unique<QSslSocket>();
        int errorReports = 0;
        int tickets = 0; // TLS 1.3 sessions, which come after the handshake
    };
    std::unique_ptr<Client> connectWithoutCa(const QByteArray &session = {});
    QSslSocket *nextServerSocket();
    static bool waitForTicket(const Client &client);

    QTemporaryDir m_dir;
    TestCertificates m_certificates;
    QSslConfiguration m_serverConfiguration;
    std::unique_ptr<TunnelTcpServer> m_server;
    std::vector<QTcpSocket *> m_ready;
};

void TestSharedTlsContext::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(m_certificates.create(m_dir.path(), &error), qPrintable(error));
    const auto identity =
        TlsIdentity::load(m_certificates.certificateFile(), m_certificates.keyFile(), &error);
    QVERIFY2(identity, qPrintable(error));
    m_serverConfiguration = identity->configuration();
    QCOMPARE(QSslSocket::activeBackend(), QStringLiteral("openssl"));
}

void TestSharedTlsContext::init()
{
    m_server = std::make_unique<TunnelTcpServer>(kReadBufferBytes);
    m_server->setTlsConfiguration(m_serverConfiguration);
    m_ready.clear();
    connect(m_server.get(), &TunnelTcpServer::ready, this,
            [this](QTcpSocket *socket) { m_ready.push_back(socket); });
    QVERIFY(m_server->listen(QHostAddress::LocalHost));
}

void TestSharedTlsContext::cleanup()
{
    m_server.reset();
    QVERIFY(SharedTlsContext::working());
}

std::unique_ptr<TestSharedTlsContext::Client>
TestSharedTlsContext::connectWithoutCa(const QByteArray &session)
{
    auto client = std::make_unique<Client>();
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setCaCertificates({});
    configuration.setSslOption(QSsl::SslOptionDisableSessionPersistence, false);
    if (!session.isEmpty())
        configuration.setSessionTicket(session);
    client->socket->setSslConfiguration(configuration);
    Client *raw = client.get();
    connect(raw->socket.get(), &QSslSocket::sslErrors, this, [raw] {
        ++raw->errorReports;
        raw->socket->ignoreSslErrors();
    });
    connect(raw->socket.get(), &QSslSocket::newSessionTicketReceived, this,
            [raw] { ++raw->tickets; });
    raw->socket->connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort(),
                                        m_certificates.serverName());
    return client;
}

QSslSocket *TestSharedTlsContext::nextServerSocket()
{
    const size_t before = m_ready.size();
    if (!QTest::qWaitFor([&] { return m_ready.size() > before; }, kTimeoutMs))
        return nullptr;
    return qobject_cast<QSslSocket *>(m_ready.back());
}

// The socket's sessionTicket() then holds a resumable session (before, Qt's copy of the session
// at the end of the handshake, which has no ticket yet).
bool TestSharedTlsContext::waitForTicket(const Client &client)
{
    return QTest::qWaitFor([&client] { return client.tickets > 0; }, kTimeoutMs);
}

void TestSharedTlsContext::serverConnectionsShareOneContext()
{
    const auto first = connectWithoutCa();
    QSslSocket *firstOnServer = nextServerSocket();
    QVERIFY(firstOnServer);
    const auto second = connectWithoutCa();
    QSslSocket *secondOnServer = nextServerSocket();
    QVERIFY(secondOnServer);
    QVERIFY(encrypted(first->socket.get()));
    QVERIFY(encrypted(second->socket.get()));
    QVERIFY(m_server->sharesTlsContext(firstOnServer));
    QVERIFY(m_server->sharesTlsContext(secondOnServer));
}

// Tickets are encrypted with a key of the context: one context per connection would resume none.
void TestSharedTlsContext::serverResumesSessions()
{
    const auto first = connectWithoutCa();
    QVERIFY(encrypted(first->socket.get()));
    QCOMPARE(first->socket->sessionProtocol(), QSsl::TlsV1_3);
    QCOMPARE(first->errorReports, 1); // a full handshake: the certificate was checked
    QVERIFY(waitForTicket(*first));

    const auto second = connectWithoutCa(first->socket->sslConfiguration().sessionTicket());
    QVERIFY(encrypted(second->socket.get()));
    QCOMPARE(second->errorReports, 0); // resumed: no certificate came
    QCOMPARE(second->socket->peerCertificate(), first->socket->peerCertificate());
}

// A renewed certificate (SIGHUP) gets a context of its own; the sessions of the old one are not
// resumed with it.
void TestSharedTlsContext::newConfigurationGetsNewContext()
{
    const auto first = connectWithoutCa();
    QSslSocket *firstOnServer = nextServerSocket();
    QVERIFY(firstOnServer);
    QVERIFY(encrypted(first->socket.get()));
    QVERIFY(waitForTicket(*first));
    QVERIFY(m_server->sharesTlsContext(firstOnServer));

    m_server->setTlsConfiguration(m_serverConfiguration);
    const auto second = connectWithoutCa(first->socket->sslConfiguration().sessionTicket());
    QSslSocket *secondOnServer = nextServerSocket();
    QVERIFY(secondOnServer);
    QVERIFY(encrypted(second->socket.get()));
    QCOMPARE(second->errorReports, 1); // a full handshake
    QVERIFY(m_server->sharesTlsContext(secondOnServer));
    QVERIFY(!m_server->sharesTlsContext(firstOnServer));
}

// The context holds the CA store and the verification mode; the name is each socket's own: a
// socket that names another server fails on the shared context as it would on its own.
void TestSharedTlsContext::sharedContextStillChecksTheName()
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setCaCertificates(QSslCertificate::fromPath(m_certificates.caFile()));
    QSslSocket first;
    first.setSslConfiguration(configuration);
    first.connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort(),
                                 m_certificates.serverName());
    QVERIFY2(encrypted(&first), qPrintable(first.errorString()));
    SharedTlsContext shared;
    shared.keepFrom(&first);
    QVERIFY(shared.holds());

    QSslSocket second;
    second.setSslConfiguration(configuration);
    QSignalSpy errors(&second, &QSslSocket::sslErrors);
    second.connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort(),
                                  QStringLiteral("another.example"));
    QVERIFY(shared.give(&second));
    QVERIFY(!encrypted(&second));
    QCOMPARE(errors.size(), 1);
    const auto reported = errors.first().first().value<QList<QSslError>>();
    QCOMPARE(reported.size(), 1);
    QCOMPARE(reported.first().error(), QSslError::HostNameMismatch);
    QVERIFY(shared.isUsedBy(&first));
}

QTEST_GUILESS_MAIN(TestSharedTlsContext)
#include "tst_sharedtlscontext.moc"

// The deployment the README recommends, whole: our server with a token behind a real nginx that
// terminates TLS at a sub-path, our client with wss://, the test's CA and the token. Bulk data
// both ways, to a slow remote and to a slow local reader, must arrive complete and unaltered, and
// the server must see the client's address through X-Forwarded-For.
#include "endpoints.h"
#include "nginxprocess.h"
#include "testcertificates.h"
#include "towprocess.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

namespace {
constexpr qint64 kMiB = 1024 * 1024;
}

class TestClientBulkTls : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void uploadToSlowRemote();
    void downloadToSlowReader();

private:
    QTemporaryDir m_dir;
    TestCertificates m_certificates;
    QString m_tokenFile;
};

void TestClientBulkTls::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(m_certificates.create(m_dir.path(), &error), qPrintable(error));
    m_tokenFile = m_dir.filePath("token");
    QFile token(m_tokenFile);
    QVERIFY(token.open(QIODevice::WriteOnly));
    token.write("bulk-tls-token\n");
}

void TestClientBulkTls::uploadToSlowRemote()
{
    const qint64 size = 48 * kMiB;
    const qint64 rate = 8 * kMiB; // the slow remote: about 6 s of back-pressure
    SinkServer sink(rate);
    QVERIFY(sink.listen(QHostAddress::LocalHost));
    const quint16 remotePort = sink.serverPort();

    TowProcess server;
    QVERIFY(
        server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                      QStringLiteral("127.0.0.1:%1").arg(remotePort), "--token-file", m_tokenFile,
                      "--real-ip-header", "X-Forwarded-For", "--trusted-proxy", "127.0.0.1"}));
    NginxProcess nginx;
    NginxProcess::Config config;
    config.upstreamPort = server.port();
    config.certificateFile = m_certificates.certificateFile();
    config.keyFile = m_certificates.keyFile();
    config.locationExtra =
        QStringLiteral("            proxy_set_header X-Forwarded-For 198.51.100.7;\n");
    QString error;
    QVERIFY2(nginx.start(config, &error), qPrintable(error));

    TowProcess client;
    QVERIFY(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                          QStringLiteral("wss://localhost:%1/tunnel/").arg(nginx.port()),
                          "--ca-file", m_certificates.caFile(), "--token-file", m_tokenFile}));

    const QByteArray data = patternBytes(42, size);
    StreamClient stream;
    stream.start(client.port(), data, true);
    QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), 1, 120000);
    QCOMPARE(sink.finished[0].bytes, size);
    QCOMPARE(sink.finished[0].sha256, sha256(data));
    // The tunnel is attributed to the client nginx reported, not to nginx itself.
    QTRY_VERIFY(server.log().contains("198.51.100.7 /"));
    QVERIFY(!server.log().contains("bulk-tls-token"));
    QVERIFY(!client.log().contains("bulk-tls-token"));
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

// The client's QSslSocket stops decrypting once its inner socket's buffer is full (Qt 6.4.2):
// unless the relay restarts it, the download stalls until the next write, and the bytes left in
// the kernel are lost when nginx, done sending, resets the connection on that write.
void TestClientBulkTls::downloadToSlowReader()
{
    const qint64 size = 48 * kMiB;
    SourceServer source(41, size);
    QVERIFY(source.listen(QHostAddress::LocalHost));

    TowProcess server;
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                          QStringLiteral("127.0.0.1:%1").arg(source.serverPort()), "--token-file",
                          m_tokenFile}));
    NginxProcess nginx;
    NginxProcess::Config config;
    config.upstreamPort = server.port();
    config.certificateFile = m_certificates.certificateFile();
    config.keyFile = m_certificates.keyFile();
    QString error;
    QVERIFY2(nginx.start(config, &error), qPrintable(error));

    TowProcess client;
    QVERIFY(client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                          QStringLiteral("wss://localhost:%1/tunnel/").arg(nginx.port()),
                          "--ca-file", m_certificates.caFile(), "--token-file", m_tokenFile}));

    StreamClient stream;
    stream.start(client.port(), {}, false, 8 * kMiB);
    QTRY_VERIFY_WITH_TIMEOUT(stream.done, 120000);
    QCOMPARE(stream.bytesRead, size);
    QCOMPARE(stream.digest(), sha256(patternBytes(41, size)));
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

QTEST_GUILESS_MAIN(TestClientBulkTls)
#include "tst_clientbulktls.moc"

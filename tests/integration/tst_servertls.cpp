// The server's native TLS (--tls-cert/--tls-key), real processes on loopback with certificates
// made by openssl: our client with wss:// and the test CA, bulk data both ways with slow peers,
// TLS 1.2 or later only (checked with openssl s_client), plain HTTP and silent clients on the TLS
// port, bad certificate and key files, tails sent just before a close and a slow local reader
// (all delivered, memory bounded), and a renewed certificate loaded on SIGHUP while a tunnel
// stays open.
#include "endpoints.h"
#include "testcertificates.h"
#include "towprocess.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QSslCertificate>
#include <QSslSocket>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QWebSocket>
#include <algorithm>
#include <csignal>
#include <memory>
#include <vector>

namespace {

constexpr qint64 kMiB = 1024 * 1024;
constexpr int kBulkTimeoutMs = 240000;
// Bound on the server's peak resident memory while 48 MiB pass a slow peer: flow control keeps a
// few MiB per tunnel. Under AddressSanitizer its quarantine alone keeps up to 256 MiB of freed
// memory (about 355 MiB peak measured), so there the bound only catches gross growth.
#ifdef __SANITIZE_ADDRESS__
constexpr qint64 kMaxServerPeakRssBytes = 512 * kMiB;
#else
constexpr qint64 kMaxServerPeakRssBytes = 96 * kMiB;
#endif

bool copyFile(const QString &from, const QString &to)
{
    QFile::remove(to);
    return QFile::copy(from, to);
}

// What openssl s_client saw of a TLS handshake with 127.0.0.1:port.
struct Handshake
{
    bool established = false; // a cipher was negotiated
    QString protocol; // of the session: "TLSv1.1", "TLSv1.2", "TLSv1.3"
    QSslCertificate certificate; // the server's, as sent
    QString output;
};

Handshake handshake(quint16 port, const QStringList &extra = {})
{
    QProcess probe;
    probe.setProcessChannelMode(QProcess::MergedChannels);
    probe.start(QStringLiteral("openssl"),
                QStringList {QStringLiteral("s_client"), QStringLiteral("-connect"),
                             QStringLiteral("127.0.0.1:%1").arg(port),
                             QStringLiteral("-servername"), QStringLiteral("localhost")}
                    + extra);
    probe.closeWriteChannel(); // end the session once the handshake is done
    probe.waitForFinished(30000); // the server is another process: blocking is fine
    Handshake result;
    result.output = QString::fromLocal8Bit(probe.readAll());
    // "New, TLSv1.0, Cipher is X" names the cipher's version; the session's follows as
    // "Protocol  : TLSv1.1", except for TLS 1.3, whose session is printed only once a ticket came.
    static const QRegularExpression cipher(QStringLiteral("New, (\\S+), Cipher is (\\S+)"));
    static const QRegularExpression protocol(QStringLiteral("Protocol\\s*: (\\S+)"));
    const auto match = cipher.match(result.output);
    result.established = match.hasMatch() && match.captured(2) != QLatin1String("(NONE)");
    const auto session = protocol.match(result.output);
    result.protocol = session.hasMatch() ? session.captured(1) : match.captured(1);
    result.certificate = QSslCertificate::fromData(result.output.toLatin1(), QSsl::Pem).value(0);
    return result;
}

#if defined(Q_OS_UNIX) && defined(TOW_SHARED_TLS_CONTEXT) // sessionsResumeUntilReload() only
// A TLS 1.3 handshake by openssl s_client that ends once the server's first session ticket (sent
// after the handshake) arrived; -sess_out FILE in extra keeps the session, -sess_in FILE offers
// it. Returns what s_client printed: "New, TLSv1.3, ..." or "Reused, TLSv1.3, ...".
QString handshakeWithTicket(quint16 port, const QStringList &extra)
{
    QProcess probe;
    probe.setProcessChannelMode(QProcess::MergedChannels);
    probe.start(QStringLiteral("openssl"),
                QStringList {QStringLiteral("s_client"), QStringLiteral("-connect"),
                             QStringLiteral("127.0.0.1:%1").arg(port),
                             QStringLiteral("-servername"), QStringLiteral("localhost"),
                             QStringLiteral("-tls1_3")}
                    + extra);
    QString output;
    const bool ticket = QTest::qWaitFor(
        [&] {
            output += QString::fromLocal8Bit(probe.readAll());
            return output.contains(QLatin1String("New Session Ticket arrived"))
                || probe.state() == QProcess::NotRunning;
        },
        30000);
    Q_UNUSED(ticket); // the output tells
    probe.closeWriteChannel();
    probe.waitForFinished(30000);
    return output + QString::fromLocal8Bit(probe.readAll());
}
#endif

// Forces TLS 1.1 on openssl s_client, which Debian's OpenSSL 3 refuses by itself unless the
// security level allows SHA-1 signatures: only the server may be the one that says no.
const QStringList kTls11 = {QStringLiteral("-tls1_1"), QStringLiteral("-cipher"),
                            QStringLiteral("DEFAULT:@SECLEVEL=0")};
const QStringList kTls10 = {QStringLiteral("-tls1"), QStringLiteral("-cipher"),
                            QStringLiteral("DEFAULT:@SECLEVEL=0")};

// An HTTPS GET of our server's own paths, trusting the test CA.
QByteArray httpsGet(quint16 port, const QString &caFile, const QByteArray &path)
{
    QSslSocket socket;
    QSslConfiguration configuration = socket.sslConfiguration();
    configuration.setCaCertificates(QSslCertificate::fromPath(caFile));
    socket.setSslConfiguration(configuration);
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    if (!socket.waitForEncrypted(10000))
        return QByteArray();
    socket.write("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    QByteArray answer;
    while (socket.waitForReadyRead(5000))
        answer += socket.readAll();
    return answer + socket.readAll();
}

double metric(quint16 port, const QString &caFile, const QByteArray &sample)
{
    const QByteArray body = httpsGet(port, caFile, "/metrics");
    for (const QByteArray &line : body.split('\n')) {
        if (line.startsWith(QByteArray(sample + ' ')))
            return line.mid(sample.size() + 1).toDouble();
    }
    return -1;
}

// A TCP connection through our client to the echo remote, kept open across steps. The echo
// server runs in this thread: the waits keep its event loop going.
class EchoConnection
{
public:
    bool open(quint16 port)
    {
        m_socket.connectToHost(QHostAddress::LocalHost, port);
        return QTest::qWaitFor(
            [this] { return m_socket.state() == QAbstractSocket::ConnectedState; }, 10000);
    }
    bool roundTrip(const QByteArray &data)
    {
        m_socket.write(data);
        QByteArray received;
        const bool ended = QTest::qWaitFor(
            [&] {
                received += m_socket.readAll();
                return received.size() >= data.size()
                    || m_socket.state() != QAbstractSocket::ConnectedState;
            },
            30000);
        return ended && received == data;
    }

private:
    QTcpSocket m_socket;
};

} // namespace

class TestServerTls : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void ourClientThroughNativeTls();
    void uploadToSlowRemote();
    void downloadToSlowReader();
    void peerClosingBehindItsUploadLosesNothing();
    void tailBeforeClose_data();
    void tailBeforeClose();
    void slowLocalReaderKeepsClientBounded();
    void onlyTls12AndLater();
    void plainHttpIsClosed();
    void silentClientTimesOut();
    void tlsHandshakesAreCapped();
    void badFiles_data();
    void badFiles();
#ifdef Q_OS_UNIX // SIGHUP reloads; Windows has no such signal
    void reloadRenewsCertificate();
    void reloadWithoutConfigFile();
#ifdef TOW_SHARED_TLS_CONTEXT // built with the server's shared TLS context
    void sessionsResumeUntilReload();
#endif
#endif

private:
    bool startServer(TowProcess &server, quint16 remotePort, const QStringList &extra = {});
    bool startClient(TowProcess &client, quint16 serverPort);
    // A server with --tls-cert NAME.pem and --tls-key NAME.key, copies of the test certificate
    // and key that a test may replace before a reload.
    bool startWithCopies(TowProcess &server, const QString &name, QString *certificate,
                         QString *key);

    QTemporaryDir m_dir;
    TestCertificates m_certificates;
    QString m_renewedCertificate; // same name and CA, another key and serial
    QString m_renewedKey;
    EchoServer m_echo;
};

void TestServerTls::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(!QStandardPaths::findExecutable("openssl").isEmpty(),
             "openssl not found: install the Debian package openssl");
    QString error;
    QVERIFY2(m_certificates.create(m_dir.path(), &error), qPrintable(error));
    // A renewal as Let's Encrypt does it: a new key and certificate from the same CA.
    QString output;
    QVERIFY2(TestCertificates::runOpenssl(
                 {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", "renewed.key", "-out", "renewed.csr", "-subj", "/CN=localhost"},
                 m_dir.path(), &output),
             qPrintable(output));
    QVERIFY2(TestCertificates::runOpenssl({"x509", "-req", "-in", "renewed.csr", "-CA", "ca.pem",
                                           "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                                           "-extfile", "server.ext", "-out", "renewed.pem"},
                                          m_dir.path(), &output),
             qPrintable(output));
    m_renewedCertificate = m_dir.filePath("renewed.pem");
    m_renewedKey = m_dir.filePath("renewed.key");
    // Files that are no certificate or key, and an encrypted key.
    QVERIFY2(TestCertificates::runOpenssl({"pkey", "-in", "server.key", "-aes256", "-passout",
                                           "pass:secret", "-out", "encrypted.key"},
                                          m_dir.path(), &output),
             qPrintable(output));
    QFile garbage(m_dir.filePath("garbage.pem"));
    QVERIFY(garbage.open(QIODevice::WriteOnly));
    garbage.write("this is not PEM\n");
    garbage.close();
    QVERIFY(m_echo.listen(QHostAddress::LocalHost));
}

bool TestServerTls::startServer(TowProcess &server, quint16 remotePort, const QStringList &extra)
{
    if (!server.start(QStringList {"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                                   QStringLiteral("127.0.0.1:%1").arg(remotePort), "--tls-cert",
                                   m_certificates.certificateFile(), "--tls-key",
                                   m_certificates.keyFile()}
                      + extra)) {
        qWarning().noquote() << server.log();
        return false;
    }
    return true;
}

bool TestServerTls::startClient(TowProcess &client, quint16 serverPort)
{
    return client.start({"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws",
                         QStringLiteral("wss://localhost:%1/").arg(serverPort), "--ca-file",
                         m_certificates.caFile()});
}

bool TestServerTls::startWithCopies(TowProcess &server, const QString &name, QString *certificate,
                                    QString *key)
{
    *certificate = m_dir.filePath(name + QStringLiteral(".pem"));
    *key = m_dir.filePath(name + QStringLiteral(".key"));
    return copyFile(m_certificates.certificateFile(), *certificate)
        && copyFile(m_certificates.keyFile(), *key)
        && server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                         QStringLiteral("127.0.0.1:%1").arg(m_echo.serverPort()), "--tls-cert",
                         *certificate, "--tls-key", *key});
}

void TestServerTls::ourClientThroughNativeTls()
{
    TowProcess server, client;
    QVERIFY(startServer(server, m_echo.serverPort()));
    QVERIFY2(server.log().contains("(wss, TLS 1.2 or later)"), qPrintable(server.log()));
    // Logged after the listening line: it may not be in the pipe yet when start() returns.
    QTRY_VERIFY(server.log().contains("TLS certificate: localhost"));
    QVERIFY(startClient(client, server.port()));
    EchoConnection connection;
    QVERIFY(connection.open(client.port()));
    QVERIFY(connection.roundTrip(patternBytes(1, 300000)));
    QVERIFY(connection.roundTrip("and again"));
    // The server's own paths answer over HTTPS on the same port.
    QVERIFY(httpsGet(server.port(), m_certificates.caFile(), "/healthz").endsWith("ok\n"));
    QCOMPARE(metric(server.port(), m_certificates.caFile(),
                    "tcp_over_websocket_tunnels_total{route=\"/\"}"),
             1.0);
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

// The case that withdrew native TLS once: 48 MiB towards a remote reading 8 MiB/s keeps the
// server's TLS socket paused again and again; every byte must arrive, in order, and the server's
// memory must stay bounded while the client pushes.
void TestServerTls::uploadToSlowRemote()
{
    const qint64 size = 48 * kMiB;
    SinkServer sink(8 * kMiB);
    QVERIFY(sink.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    // The relay's flow-control decisions, to see that the TLS socket was really paused.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert("QT_LOGGING_RULES", "tow.relay.debug=true");
    server.process().setProcessEnvironment(environment);
    QVERIFY(startServer(server, sink.serverPort()));
    QVERIFY(startClient(client, server.port()));

    const QByteArray data = patternBytes(42, size);
    StreamClient stream;
    stream.start(client.port(), data, true);
    QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), 1, kBulkTimeoutMs);
    QCOMPARE(sink.finished[0].bytes, size);
    QCOMPARE(sink.finished[0].sha256, sha256(data));
    QVERIFY(server.log().contains("pause reading the websocket"));
    QVERIFY(server.log().contains("resume reading the websocket"));
    const qint64 peak = server.peakResidentBytes();
    qInfo() << "server peak RSS" << peak / kMiB << "MiB";
    QVERIFY2(peak > 0 && peak < kMaxServerPeakRssBytes, qPrintable(QString::number(peak)));
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

// 48 MiB from the remote to a local reader taking 8 MiB/s: the server's TLS socket holds
// encrypted bytes towards a client that pauses; the tail must not be lost at close.
void TestServerTls::downloadToSlowReader()
{
    const qint64 size = 48 * kMiB;
    SourceServer source(41, size);
    QVERIFY(source.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    QVERIFY(startServer(server, source.serverPort()));
    QVERIFY(startClient(client, server.port()));

    StreamClient stream;
    stream.start(client.port(), {}, false, 8 * kMiB);
    QTRY_VERIFY_WITH_TIMEOUT(stream.done, kBulkTimeoutMs);
    QCOMPARE(stream.bytesRead, size);
    QCOMPARE(stream.digest(), sha256(patternBytes(41, size)));
    const qint64 peak = server.peakResidentBytes();
    qInfo() << "server peak RSS" << peak / kMiB << "MiB";
    QVERIFY2(peak > 0 && peak < kMaxServerPeakRssBytes, qPrintable(QString::number(peak)));
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

// A peer that closes its connection right behind its close frame (Qt's QWebSocket, the original
// Go tool) while the server holds back reading for a slow remote: the last bytes, still
// encrypted in the server's socket when it sees the connection end, must all arrive.
void TestServerTls::peerClosingBehindItsUploadLosesNothing()
{
    const qint64 size = 24 * kMiB;
    SinkServer sink(4 * kMiB);
    QVERIFY(sink.listen(QHostAddress::LocalHost));
    TowProcess server;
    QVERIFY(startServer(server, sink.serverPort()));
    QWebSocket ws;
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(m_certificates.caFile()));
    ws.setSslConfiguration(tls);
    ws.open(QUrl(QStringLiteral("wss://localhost:%1/").arg(server.port())));
    QTRY_COMPARE_WITH_TIMEOUT(ws.state(), QAbstractSocket::ConnectedState, 10000);
    const QByteArray data = patternBytes(43, size);
    for (qint64 offset = 0; offset < size; offset += kMiB)
        ws.sendBinaryMessage(data.mid(offset, kMiB));
    ws.close();
    QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), 1, kBulkTimeoutMs);
    QCOMPARE(sink.finished[0].bytes, size);
    QCOMPARE(sink.finished[0].sha256, sha256(data));
    QCOMPARE(server.stop(), 0);
}

void TestServerTls::tailBeforeClose_data()
{
    QTest::addColumn<bool>("clientToServer");
    QTest::newRow("client to server") << true;
    QTest::newRow("server to client") << false;
}

// 1 MiB, then the sender closes at once, 30 times each way through TLS: the side that decrypts
// reads in batches once a pass of decryption is over (Relay::onTransportReadyRead), and must
// still deliver every byte before it closes.
void TestServerTls::tailBeforeClose()
{
    QFETCH(bool, clientToServer);
    constexpr int kRepetitions = 30;
    const qint64 size = 1 * kMiB;
    TowProcess server, client;
    if (clientToServer) {
        SinkServer sink;
        QVERIFY(sink.listen(QHostAddress::LocalHost));
        QVERIFY(startServer(server, sink.serverPort()));
        QVERIFY(startClient(client, server.port()));
        const QByteArray data = patternBytes(51, size);
        const QByteArray digest = sha256(data);
        for (int i = 0; i < kRepetitions; ++i) {
            StreamClient stream;
            stream.start(client.port(), data, true);
            QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), i + 1, 30000);
            QCOMPARE(sink.finished[i].bytes, size);
            QCOMPARE(sink.finished[i].sha256, digest);
        }
    } else {
        SourceServer source(52, size);
        QVERIFY(source.listen(QHostAddress::LocalHost));
        QVERIFY(startServer(server, source.serverPort()));
        QVERIFY(startClient(client, server.port()));
        const QByteArray digest = sha256(patternBytes(52, size));
        for (int i = 0; i < kRepetitions; ++i) {
            StreamClient stream;
            stream.start(client.port(), {}, false);
            QTRY_VERIFY_WITH_TIMEOUT(stream.done, 30000);
            QCOMPARE(stream.bytesRead, size);
            QCOMPARE(stream.digest(), digest);
        }
    }
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

// The client decrypts what the server sends and writes it to a local reader that takes 1 MB/s
// for a while: the client's queue towards it stays within its bound (the watermark plus what the
// TLS socket holds), its memory too, and every byte of the 96 MiB arrives once the reader speeds
// up.
void TestServerTls::slowLocalReaderKeepsClientBounded()
{
    const qint64 size = 96 * kMiB;
    constexpr qint64 kSlowBytesPerSecond = 1'000'000;
    constexpr qint64 kSlowPhaseBytes = 6'000'000; // longer than the relay's 5 s close timeout
    // The relay's 1 MiB high watermark, plus what a closed TLS socket still holds: its 1 MiB
    // read buffer, decrypted, and what was read from its inner socket with it (at most as much).
    constexpr qint64 kTcpQueueBound = 3 * kMiB + 64;
    SourceServer source(53, size);
    QVERIFY(source.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    QVERIFY(startServer(server, source.serverPort()));
    QVERIFY(startClient(client, server.port()));
    StreamClient stream;
    stream.start(client.port(), {}, false, kSlowBytesPerSecond);
    QTRY_VERIFY_WITH_TIMEOUT(stream.bytesRead >= kSlowPhaseBytes, 30000);
    const qint64 slowPeak = client.peakResidentBytes();
    stream.setRate(0);
    QTRY_VERIFY_WITH_TIMEOUT(stream.done, kBulkTimeoutMs);
    QCOMPARE(stream.bytesRead, size);
    QCOMPARE(stream.digest(), sha256(patternBytes(53, size)));
    qInfo() << "client peak RSS while the reader was slow" << slowPeak / kMiB << "MiB";
    QVERIFY2(slowPeak > 0 && slowPeak < kMaxServerPeakRssBytes,
             qPrintable(QString::number(slowPeak)));
    // The tunnel's closing line ("peak queued N to ws / M to tcp") comes once both sides closed.
    static const QRegularExpression peak(QStringLiteral("peak queued \\d+ to ws / (\\d+) to tcp"));
    QRegularExpressionMatch match;
    QTRY_VERIFY_WITH_TIMEOUT((match = peak.match(client.log())).hasMatch(), 15000);
    const qint64 queued = match.captured(1).toLongLong();
    QVERIFY2(queued > 0 && queued <= kTcpQueueBound, qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

void TestServerTls::onlyTls12AndLater()
{
    // The probe itself can do TLS 1.1 and 1.0: against openssl s_server allowing them, it
    // completes a handshake. Otherwise a refusal below would prove nothing about our server.
    QProcess reference;
    reference.setProcessChannelMode(QProcess::MergedChannels);
    reference.start("openssl",
                    {"s_server", "-accept", "127.0.0.1:0", "-cert",
                     m_certificates.certificateFile(), "-key", m_certificates.keyFile(), "-tls1_1",
                     "-cipher", "DEFAULT:@SECLEVEL=0"});
    // s_server ends at the end of its input: the write channel stays open until it is killed.
    QString referenceOutput;
    static const QRegularExpression accept("ACCEPT 127\\.0\\.0\\.1:(\\d+)");
    const bool started = QTest::qWaitFor(
        [&] {
            referenceOutput += QString::fromLocal8Bit(reference.readAll());
            return accept.match(referenceOutput).hasMatch()
                || reference.state() == QProcess::NotRunning;
        },
        20000);
    QVERIFY2(started, qPrintable("openssl s_server did not start: " + referenceOutput));
    const quint16 referencePort = quint16(accept.match(referenceOutput).captured(1).toUInt());
    QVERIFY2(referencePort != 0, qPrintable("openssl s_server failed: " + referenceOutput));
    const Handshake control = handshake(referencePort, kTls11);
    reference.kill();
    reference.waitForFinished();
    QVERIFY2(control.established && control.protocol == "TLSv1.1",
             qPrintable("openssl cannot negotiate TLS 1.1 with a server allowing it:\n"
                        + referenceOutput + control.output));

    TowProcess server;
    QVERIFY(startServer(server, m_echo.serverPort()));
    const quint16 port = server.port();
    const Handshake tls11 = handshake(port, kTls11);
    QVERIFY2(!tls11.established && tls11.certificate.isNull(), qPrintable(tls11.output));
    const Handshake tls10 = handshake(port, kTls10);
    QVERIFY2(!tls10.established && tls10.certificate.isNull(), qPrintable(tls10.output));

    const Handshake tls12 = handshake(port, {"-tls1_2"});
    QVERIFY2(tls12.established && tls12.protocol == "TLSv1.2", qPrintable(tls12.output));
    const Handshake tls13 = handshake(port, {"-tls1_3"});
    QVERIFY2(tls13.established && tls13.protocol == "TLSv1.3", qPrintable(tls13.output));
    QCOMPARE(tls13.certificate,
             QSslCertificate::fromPath(m_certificates.certificateFile()).value(0));

    QCOMPARE(metric(port, m_certificates.caFile(),
                    "tcp_over_websocket_handshake_failures_total{reason=\"tls\"}"),
             2.0);
    QCOMPARE(server.stop(), 0);
}

void TestServerTls::plainHttpIsClosed()
{
    TowProcess server, client;
    QVERIFY(startServer(server, m_echo.serverPort()));
    const quint16 port = server.port();

    // Plain HTTP, and bytes that are neither HTTP nor TLS: closed without an HTTP answer.
    for (const QByteArray &request :
         {QByteArray("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
          QByteArray("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n"),
          patternBytes(7, 64 * 1024)}) {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(socket.waitForConnected(5000));
        socket.write(request);
        QByteArray answer;
        const bool closed = QTest::qWaitFor(
            [&] {
                answer += socket.readAll();
                return socket.state() == QAbstractSocket::UnconnectedState;
            },
            15000);
        answer += socket.readAll();
        QVERIFY2(closed, "the server kept the connection open");
        QVERIFY2(!answer.startsWith("HTTP/"), answer.constData());
    }
    QCOMPARE(server.process().state(), QProcess::Running);

    // A normal tunnel still works.
    QVERIFY(startClient(client, port));
    EchoConnection connection;
    QVERIFY(connection.open(client.port()));
    QVERIFY(connection.roundTrip(patternBytes(2, 100000)));
    QVERIFY(metric(port, m_certificates.caFile(),
                   "tcp_over_websocket_handshake_failures_total{reason=\"tls\"}")
            >= 3.0);
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

void TestServerTls::silentClientTimesOut()
{
    TowProcess server;
    QVERIFY(startServer(server, m_echo.serverPort(), {"--handshake-timeout", "2"}));
    const quint16 port = server.port();
    // One client says nothing; the other starts a ClientHello (a TLS record header announcing
    // 512 bytes) and never finishes it.
    QTcpSocket silent, partial;
    silent.connectToHost(QHostAddress::LocalHost, port);
    partial.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(silent.waitForConnected(5000));
    QVERIFY(partial.waitForConnected(5000));
    partial.write(QByteArray::fromHex("1603010200010001fc0303"));
    QTRY_COMPARE_WITH_TIMEOUT(silent.state(), QAbstractSocket::UnconnectedState, 20000);
    QTRY_COMPARE_WITH_TIMEOUT(partial.state(), QAbstractSocket::UnconnectedState, 20000);
    QCOMPARE(metric(port, m_certificates.caFile(),
                    "tcp_over_websocket_handshake_failures_total{reason=\"timeout\"}"),
             2.0);
    QCOMPARE(server.process().state(), QProcess::Running);
    QCOMPARE(server.stop(), 0);
}

// Clients that open connections and never finish a TLS handshake hold at most
// --max-tls-handshakes of them (each holds OpenSSL's state, about 80 KB): every handshake beyond
// that closes the oldest one still in progress, and real clients go on.
void TestServerTls::tlsHandshakesAreCapped()
{
    TowProcess server, client;
    QVERIFY(startServer(server, m_echo.serverPort(),
                        {"--max-tls-handshakes", "4", "--handshake-timeout", "600"}));
    const quint16 port = server.port();
    std::vector<std::unique_ptr<QTcpSocket>> silent;
    for (int i = 0; i < 10; ++i) {
        silent.push_back(std::make_unique<QTcpSocket>());
        silent.back()->connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(silent.back()->waitForConnected(5000));
    }
    const auto closed = [&silent] {
        return std::count_if(silent.cbegin(), silent.cend(), [](const auto &socket) {
            return socket->state() == QAbstractSocket::UnconnectedState;
        });
    };
    QTRY_COMPARE_WITH_TIMEOUT(closed(), 6, 20000);
    // The scrape's own handshake is one more: it closes another silent one.
    QCOMPARE(metric(port, m_certificates.caFile(),
                    "tcp_over_websocket_handshake_failures_total{reason=\"evicted\"}"),
             7.0);
    QTRY_COMPARE_WITH_TIMEOUT(closed(), 7, 20000);
    // A real client's handshake takes its turn too, and its tunnel works.
    QVERIFY(startClient(client, port));
    EchoConnection connection;
    QVERIFY(connection.open(client.port()));
    QVERIFY(connection.roundTrip(patternBytes(3, 100000)));
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

void TestServerTls::badFiles_data()
{
    QTest::addColumn<QString>("certificate"); // file names in the test directory
    QTest::addColumn<QString>("key");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message"); // {cert}: certificate path, {key}: key path

    QTest::newRow("missing certificate")
        << "missing.pem"
        << "server.key" << 1 << "cannot read the TLS certificate {cert}: No such file or directory";
    QTest::newRow("missing key") << "server.pem"
                                 << "missing.key" << 1
                                 << "cannot read the TLS key {key}: No such file or directory";
    QTest::newRow("not a certificate") << "garbage.pem"
                                       << "server.key" << 1
                                       << "the TLS certificate {cert} holds no PEM certificate "
                                          "(expected -----BEGIN CERTIFICATE-----)";
    QTest::newRow("key for a certificate")
        << "server.pem"
        << "server.pem" << 1 << "the TLS key {key} holds no PEM RSA or EC private key";
    QTest::newRow("encrypted key")
        << "server.pem"
        << "encrypted.key" << 1
        << "the TLS key {key} is encrypted; the server needs it unencrypted";
    QTest::newRow("key of another certificate")
        << "server.pem"
        << "renewed.key" << 1 << "the TLS key {key} does not match the certificate {cert}";
    QTest::newRow("certificate without key") << "server.pem"
                                             << "" << 2 << "TLS needs both a certificate and a key";
    QTest::newRow("key without certificate")
        << ""
        << "server.key" << 2 << "TLS needs both a certificate and a key";
}

void TestServerTls::badFiles()
{
    QFETCH(QString, certificate);
    QFETCH(QString, key);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    const QString certificatePath = m_dir.filePath(certificate);
    const QString keyPath = m_dir.filePath(key);
    QStringList arguments = {"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp", "127.0.0.1:9"};
    if (!certificate.isEmpty())
        arguments += {"--tls-cert", certificatePath};
    if (!key.isEmpty())
        arguments += {"--tls-key", keyPath};
    const ProcessResult result = runTow(arguments);
    QCOMPARE(result.exitCode, exitCode);
    const QString expected = message.replace("{cert}", certificatePath).replace("{key}", keyPath);
    QVERIFY2(result.standardError.startsWith("tcp-over-websocket: " + expected),
             qPrintable(result.standardError));
    QVERIFY(!result.standardError.contains("listening on"));
}

#ifdef Q_OS_UNIX
void TestServerTls::reloadRenewsCertificate()
{
    // The configuration names its files relative to itself, as a deployment would.
    const QDir dir(m_dir.filePath("reload"));
    QVERIFY(QDir().mkpath(dir.filePath("tls")));
    const QString liveCertificate = dir.filePath("tls/fullchain.pem");
    const QString liveKey = dir.filePath("tls/privkey.pem");
    QVERIFY(copyFile(m_certificates.certificateFile(), liveCertificate));
    QVERIFY(copyFile(m_certificates.keyFile(), liveKey));
    const QString config = dir.filePath("server.json");
    auto writeConfig = [&](const QByteArray &tls) {
        QFile file(config);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write("{\"listen\": \"127.0.0.1:0\", " + tls
                   + "\"routes\": [{\"path\": \"/\", "
                     "\"remote\": \"127.0.0.1:"
                   + QByteArray::number(m_echo.serverPort()) + "\"}]}");
    };
    const QByteArray tls =
        "\"tls\": {\"cert\": \"tls/fullchain.pem\", \"key\": \"tls/privkey.pem\"}, ";
    writeConfig(tls);

    TowProcess server, client;
    QVERIFY(server.start({"server", "--config", config}));
    const quint16 port = server.port();
    const QSslCertificate original = QSslCertificate::fromPath(liveCertificate).value(0);
    const QSslCertificate renewed = QSslCertificate::fromPath(m_renewedCertificate).value(0);
    QVERIFY(!original.isNull() && !renewed.isNull());
    QVERIFY(original.serialNumber() != renewed.serialNumber());
    QCOMPARE(handshake(port).certificate, original);

    // A tunnel opened before the renewal.
    QVERIFY(startClient(client, port));
    EchoConnection before;
    QVERIFY(before.open(client.port()));
    QVERIFY(before.roundTrip("opened with the first certificate"));

    // Renewal: new files in place, then SIGHUP.
    QVERIFY(copyFile(m_renewedCertificate, liveCertificate));
    QVERIFY(copyFile(m_renewedKey, liveKey));
    ::kill(server.process().processId(), SIGHUP);
    QTRY_VERIFY(server.log().contains("configuration reloaded"));
    QVERIFY2(server.log().contains("TLS certificate for new connections: localhost, serial "
                                   + QString::fromLatin1(renewed.serialNumber())),
             qPrintable(server.log()));
    const Handshake after = handshake(port);
    QVERIFY2(after.established, qPrintable(after.output));
    QCOMPARE(after.certificate, renewed);
    QCOMPARE(after.certificate.serialNumber(), renewed.serialNumber());
    // The open tunnel goes on; a new one gets through with the new certificate.
    QVERIFY(before.roundTrip(patternBytes(3, 200000)));
    EchoConnection fresh;
    QVERIFY(fresh.open(client.port()));
    QVERIFY(fresh.roundTrip("opened with the renewed certificate"));

    // A key that does not fit is refused; the renewed certificate stays in use.
    QVERIFY(copyFile(m_certificates.keyFile(), liveKey));
    ::kill(server.process().processId(), SIGHUP);
    QTRY_VERIFY(server.log().contains("configuration not reloaded"));
    QVERIFY2(server.log().contains("the TLS key " + liveKey + " does not match the certificate "
                                   + liveCertificate),
             qPrintable(server.log()));
    QCOMPARE(handshake(port).certificate, renewed);

    // Switching TLS off needs a restart.
    writeConfig("");
    ::kill(server.process().processId(), SIGHUP);
    QTRY_VERIFY(server.log().contains("turning native TLS off needs a restart"));
    QCOMPARE(handshake(port).certificate, renewed);
    QVERIFY(before.roundTrip("still open"));
    QVERIFY(fresh.roundTrip("also still open"));
    QCOMPARE(metric(port, m_certificates.caFile(),
                    "tcp_over_websocket_config_reloads_total{result=\"success\"}"),
             1.0);
    QCOMPARE(metric(port, m_certificates.caFile(),
                    "tcp_over_websocket_config_reloads_total{result=\"failure\"}"),
             2.0);
    QCOMPARE(client.stop(), 0);
    QCOMPARE(server.stop(), 0);
}

// With --tls-cert and --tls-key on the command line, SIGHUP reads those files again.
void TestServerTls::reloadWithoutConfigFile()
{
    QString certificate;
    QString key;
    TowProcess server;
    QVERIFY(startWithCopies(server, QStringLiteral("flags"), &certificate, &key));
    const quint16 port = server.port();
    const QSslCertificate renewed = QSslCertificate::fromPath(m_renewedCertificate).value(0);
    QCOMPARE(handshake(port).certificate,
             QSslCertificate::fromPath(m_certificates.certificateFile()).value(0));

    // Only the certificate is renewed so far: refused, the old pair stays.
    QVERIFY(copyFile(m_renewedCertificate, certificate));
    ::kill(server.process().processId(), SIGHUP);
    QTRY_VERIFY(server.log().contains("TLS certificate not reloaded"));
    QVERIFY(server.log().contains("does not match"));
    QCOMPARE(handshake(port).certificate,
             QSslCertificate::fromPath(m_certificates.certificateFile()).value(0));

    QVERIFY(copyFile(m_renewedKey, key));
    ::kill(server.process().processId(), SIGHUP);
    QTRY_VERIFY(server.log().contains("TLS certificate for new connections"));
    QCOMPARE(handshake(port).certificate, renewed);
    QCOMPARE(server.stop(), 0);
}

// The server's connections share one TLS context per certificate, whose key encrypts the session
// tickets: a session the server gave is resumed on later connections, until a reload (SIGHUP)
// brings a new context. (With a context per connection, as Qt makes by default, none is.)
#ifdef TOW_SHARED_TLS_CONTEXT
void TestServerTls::sessionsResumeUntilReload()
{
    QString certificate;
    QString key;
    TowProcess server;
    QVERIFY(startWithCopies(server, QStringLiteral("resume"), &certificate, &key));
    const quint16 port = server.port();
    const QString session = m_dir.filePath("resume-session.pem");
    QFile::remove(session);

    const QString first = handshakeWithTicket(port, {"-sess_out", session});
    QVERIFY2(first.contains("New, TLSv1.3"), qPrintable(first));
    QVERIFY2(QFile::exists(session), qPrintable(first));
    for (int i = 0; i < 2; ++i) {
        const QString again = handshakeWithTicket(port, {"-sess_in", session});
        QVERIFY2(again.contains("Reused, TLSv1.3"), qPrintable(again));
    }

    ::kill(server.process().processId(), SIGHUP);
    QTRY_VERIFY(server.log().contains("configuration reloaded"));
    const QString afterReload = handshakeWithTicket(port, {"-sess_in", session});
    QVERIFY2(afterReload.contains("New, TLSv1.3"), qPrintable(afterReload));
    QCOMPARE(server.stop(), 0);
}
#endif // TOW_SHARED_TLS_CONTEXT
#endif

QTEST_GUILESS_MAIN(TestServerTls)
#include "tst_servertls.moc"

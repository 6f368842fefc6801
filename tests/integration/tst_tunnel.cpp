// End to end with real processes of our executable: client -> server -> remote endpoints on
// loopback. Data is verified by SHA-256; flow control by the peaks the processes report.
#include "endpoints.h"
#include "towprocess.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryFile>
#include <QTest>

namespace {

constexpr qint64 kMiB = 1024 * 1024;
// The relay's defaults: 1 MiB high watermark, plus what a closed WebSocket's socket still holds,
// at most its 1 MiB read buffer (see RelayOptions), whatever the frame size.
constexpr qint64 kTcpQueueBound = 1 * kMiB + 1 * kMiB + 64;

struct HttpAnswer
{
    int status = 0;
    QByteArray contentType;
    QByteArray body;
};

HttpAnswer httpGet(quint16 port, const QString &path)
{
    QNetworkAccessManager network;
    QNetworkReply *reply = network.get(
        QNetworkRequest(QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(port).arg(path))));
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    loop.exec();
    HttpAnswer answer;
    answer.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    answer.contentType = reply->header(QNetworkRequest::ContentTypeHeader).toByteArray();
    answer.body = reply->readAll();
    delete reply;
    return answer;
}

// The value of an unlabelled or labelled sample in Prometheus text, or -1.
double metricValue(const QByteArray &text, const QString &sample)
{
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(QByteArray(sample.toUtf8() + ' ')))
            return line.mid(sample.size() + 1).toDouble();
    }
    return -1;
}

// Peaks from the "tunnel closed" log lines: the largest "to tcp" queue any tunnel reported.
qint64 largestTcpPeak(const QString &log)
{
    static const QRegularExpression peak(
        QStringLiteral("peak queued (\\d+) to ws / (\\d+) to tcp"));
    qint64 largest = -1;
    auto it = peak.globalMatch(log);
    while (it.hasNext())
        largest = qMax(largest, it.next().captured(2).toLongLong());
    return largest;
}

} // namespace

class TestTunnel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void bulk_data();
    void bulk();
    void tailBeforeClose_data();
    void tailBeforeClose();
    void slowSink_data();
    void slowSink();
    void concurrentTunnels();
    void httpEndpoints();
    void metricsPassPromtool();
    void remoteUnreachableKeepsServing();
    void sigtermExitsCleanly();
    void credentialsNeverLogged_data();
    void credentialsNeverLogged();

private:
    // Starts server (towards remotePort) and client processes.
    bool startPair(quint16 remotePort, TowProcess &server, TowProcess &client,
                   const QStringList &serverOptions = {});
};

bool TestTunnel::startPair(quint16 remotePort, TowProcess &server, TowProcess &client,
                           const QStringList &serverOptions)
{
    if (!server.start(QStringList {QStringLiteral("server"), QStringLiteral("-listen_ws"),
                                   QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_tcp"),
                                   QStringLiteral("127.0.0.1:%1").arg(remotePort)}
                      + serverOptions)) {
        qWarning().noquote() << server.log();
        return false;
    }
    if (!client.start({QStringLiteral("client"), QStringLiteral("-listen_tcp"),
                       QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_ws"),
                       QStringLiteral("ws://127.0.0.1:%1/").arg(server.port())})) {
        qWarning().noquote() << client.log();
        return false;
    }
    return true;
}

void TestTunnel::bulk_data()
{
    QTest::addColumn<bool>("clientToServer");
    QTest::newRow("client to server") << true;
    QTest::newRow("server to client") << false;
}

void TestTunnel::bulk()
{
    QFETCH(bool, clientToServer);
    const qint64 size = 64 * kMiB;
    TowProcess server, client;
    if (clientToServer) {
        SinkServer sink;
        QVERIFY(sink.listen(QHostAddress::LocalHost));
        QVERIFY(startPair(sink.serverPort(), server, client));
        const QByteArray data = patternBytes(11, size);
        StreamClient stream;
        stream.start(client.port(), data, true);
        QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), 1, 120000);
        QCOMPARE(sink.finished[0].bytes, size);
        QCOMPARE(sink.finished[0].sha256, sha256(data));
    } else {
        SourceServer source(12, size);
        QVERIFY(source.listen(QHostAddress::LocalHost));
        QVERIFY(startPair(source.serverPort(), server, client));
        StreamClient stream;
        stream.start(client.port(), {}, false);
        QTRY_VERIFY_WITH_TIMEOUT(stream.done, 120000);
        QCOMPARE(stream.bytesRead, size);
        QCOMPARE(stream.digest(), sha256(patternBytes(12, size)));
    }
    QCOMPARE(server.stop(), 0);
    QCOMPARE(client.stop(), 0);
}

void TestTunnel::tailBeforeClose_data()
{
    bulk_data();
}

void TestTunnel::tailBeforeClose()
{
    // 100 times: 1 MiB, then the sender closes at once. All of it must arrive every time.
    QFETCH(bool, clientToServer);
    constexpr int kRepetitions = 100;
    const qint64 size = 1 * kMiB;
    TowProcess server, client;
    if (clientToServer) {
        SinkServer sink;
        QVERIFY(sink.listen(QHostAddress::LocalHost));
        QVERIFY(startPair(sink.serverPort(), server, client));
        const QByteArray data = patternBytes(21, size);
        const QByteArray digest = sha256(data);
        for (int i = 0; i < kRepetitions; ++i) {
            StreamClient stream;
            stream.start(client.port(), data, true);
            QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), i + 1, 20000);
            QCOMPARE(sink.finished[i].bytes, size);
            QCOMPARE(sink.finished[i].sha256, digest);
        }
    } else {
        SourceServer source(22, size);
        QVERIFY(source.listen(QHostAddress::LocalHost));
        QVERIFY(startPair(source.serverPort(), server, client));
        const QByteArray digest = sha256(patternBytes(22, size));
        for (int i = 0; i < kRepetitions; ++i) {
            StreamClient stream;
            stream.start(client.port(), {}, false);
            QTRY_VERIFY_WITH_TIMEOUT(stream.done, 20000);
            QCOMPARE(stream.bytesRead, size);
            QCOMPARE(stream.digest(), digest);
        }
    }
}

void TestTunnel::slowSink_data()
{
    bulk_data();
}

void TestTunnel::slowSink()
{
    // The source pushes 256 MiB while the sink reads 1 MB/s. After a while the sink speeds up
    // and reads the rest; every byte must arrive, and the tunnel processes must have queued no
    // more than their watermark allows (the peaks they report), not the 256 MiB.
    QFETCH(bool, clientToServer);
    const qint64 size = 256 * kMiB;
    constexpr qint64 kSlowBytesPerSecond = 1'000'000;
    // Longer than the relay's 5 s close timeout: a slow reader must not lose the tail.
    constexpr qint64 kSlowPhaseBytes = 6'000'000;
    TowProcess server, client;
    if (clientToServer) {
        SinkServer sink(kSlowBytesPerSecond);
        QVERIFY(sink.listen(QHostAddress::LocalHost));
        QVERIFY(startPair(sink.serverPort(), server, client));
        const QByteArray data = patternBytes(31, size);
        StreamClient stream;
        stream.start(client.port(), data, true);
        QTRY_VERIFY_WITH_TIMEOUT(sink.bytesReadSoFar() >= kSlowPhaseBytes, 30000);
        sink.setRate(0);
        QTRY_COMPARE_WITH_TIMEOUT(sink.finished.size(), 1, 120000);
        QCOMPARE(sink.finished[0].bytes, size);
        QCOMPARE(sink.finished[0].sha256, sha256(data));
        // The server's relay is the one writing to the slow sink.
        // Recorded when the tunnel finishes, which may be just after the sink saw the last byte.
        double peak = 0;
        QTRY_VERIFY_WITH_TIMEOUT(
            (peak = metricValue(httpGet(server.port(), QStringLiteral("/metrics")).body,
                                QStringLiteral("tcp_over_websocket_relay_peak_queued_bytes")))
                > 0,
            15000);
        QVERIFY2(peak <= kTcpQueueBound, qPrintable(QString::number(peak)));
        // The tunnel's closing line comes once both of its sides have closed.
        QTRY_VERIFY_WITH_TIMEOUT(largestTcpPeak(server.log()) >= 0, 15000);
        QCOMPARE(server.stop(), 0);
        const qint64 logged = largestTcpPeak(server.log());
        QVERIFY2(logged > 0 && logged <= kTcpQueueBound, qPrintable(server.log()));
    } else {
        SourceServer source(32, size);
        QVERIFY(source.listen(QHostAddress::LocalHost));
        QVERIFY(startPair(source.serverPort(), server, client));
        StreamClient stream;
        stream.start(client.port(), {}, false, kSlowBytesPerSecond);
        QTRY_VERIFY_WITH_TIMEOUT(stream.bytesRead >= kSlowPhaseBytes, 30000);
        stream.setRate(0);
        QTRY_VERIFY_WITH_TIMEOUT(stream.done, 120000);
        QCOMPARE(stream.bytesRead, size);
        QCOMPARE(stream.digest(), sha256(patternBytes(32, size)));
        // The client's relay is the one writing to the slow reader.
        QTRY_VERIFY_WITH_TIMEOUT(largestTcpPeak(client.log()) >= 0, 15000);
        QCOMPARE(client.stop(), 0);
        const qint64 logged = largestTcpPeak(client.log());
        QVERIFY2(logged > 0 && logged <= kTcpQueueBound, qPrintable(client.log()));
    }
}

void TestTunnel::concurrentTunnels()
{
    constexpr int kTunnels = 200;
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    QVERIFY(startPair(echo.serverPort(), server, client));
    std::vector<std::unique_ptr<StreamClient>> streams;
    QList<QByteArray> payloads;
    for (int i = 0; i < kTunnels; ++i) {
        payloads.append(patternBytes(100 + i, 32 * 1024 + i));
        auto stream = std::make_unique<StreamClient>();
        stream->keepData = true;
        stream->start(client.port(), payloads.last(), false);
        streams.push_back(std::move(stream));
    }
    // All tunnels are open at once: each echo comes back whole and unmixed.
    for (int i = 0; i < kTunnels; ++i) {
        QTRY_VERIFY2_WITH_TIMEOUT(
            streams[i]->received.size() == payloads[i].size(),
            qPrintable(QStringLiteral("tunnel %1: %2 of %3 bytes, state %4, %5")
                           .arg(i)
                           .arg(streams[i]->received.size())
                           .arg(payloads[i].size())
                           .arg(streams[i]->socket().state())
                           .arg(streams[i]->socket().errorString())),
            60000);
    }
    const HttpAnswer metrics = httpGet(server.port(), QStringLiteral("/metrics"));
    QCOMPARE(metricValue(metrics.body, QStringLiteral("http_to_tcp_active_connections")),
             double(kTunnels));
    for (int i = 0; i < kTunnels; ++i) {
        QCOMPARE(streams[i]->received, payloads[i]);
        streams[i]->close();
    }
    QTRY_COMPARE_WITH_TIMEOUT(metricValue(httpGet(server.port(), QStringLiteral("/metrics")).body,
                                          QStringLiteral("http_to_tcp_active_connections")),
                              0.0, 30000);
    QCOMPARE(metricValue(httpGet(server.port(), QStringLiteral("/metrics")).body,
                         QStringLiteral("http_to_tcp_connections{type=\"tcp\"}")),
             double(kTunnels));
}

void TestTunnel::httpEndpoints()
{
    TowProcess server;
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp", "127.0.0.1:9"}));
    const HttpAnswer health = httpGet(server.port(), QStringLiteral("/healthz"));
    QCOMPARE(health.status, 200);
    // Without --config every path is a tunnel path, as with the original: a plain GET on any of
    // them is told to upgrade.
    for (const QString &path : {QStringLiteral("/"), QStringLiteral("/nothing-here")}) {
        const HttpAnswer plain = httpGet(server.port(), path);
        QCOMPARE(plain.status, 426);
    }
    const HttpAnswer metrics = httpGet(server.port(), QStringLiteral("/metrics"));
    QCOMPARE(metrics.status, 200);
    QCOMPARE(metrics.contentType, QByteArray("text/plain; version=0.0.4; charset=utf-8"));
    // Each plain GET on a tunnel path counts as a failed upgrade, as in the original.
    QCOMPARE(metricValue(metrics.body, QStringLiteral("http_to_tcp_error{type=\"upgrade\"}")), 2.0);
    for (const char *name :
         {"http_to_tcp_connections{type=\"http\"}", "http_to_tcp_connections{type=\"tcp\"}",
          "http_to_tcp_active_connections", "http_to_tcp_error{type=\"dial_tcp\"}",
          "http_to_tcp_error{type=\"tcp_reset\"}", "process_resident_memory_bytes",
          "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
          "process_virtual_memory_bytes", "process_start_time_seconds",
          "tcp_over_websocket_handshake_failures_total{reason=\"timeout\"}",
          "tcp_over_websocket_relayed_bytes_total{route=\"/\",direction=\"ws_to_tcp\"}",
          "tcp_over_websocket_relayed_bytes_total{route=\"/\",direction=\"tcp_to_ws\"}",
          "tcp_over_websocket_active_tunnels{route=\"/\"}", "tcp_over_websocket_draining"})
        QVERIFY2(metricValue(metrics.body, QString::fromLatin1(name)) >= 0, name);
    QVERIFY(metricValue(metrics.body, QStringLiteral("process_resident_memory_bytes")) > 1e6);
    // As the Go client's process collector: the soft limit (which the server raises at start)
    // and the whole address space, never less than what is resident.
    QVERIFY(metricValue(metrics.body, QStringLiteral("process_max_fds"))
            >= metricValue(metrics.body, QStringLiteral("process_open_fds")));
    QVERIFY(metricValue(metrics.body, QStringLiteral("process_virtual_memory_bytes"))
            >= metricValue(metrics.body, QStringLiteral("process_resident_memory_bytes")));
    // A labelled family has one shape from the first scrape on: no unlabelled 0 before the first
    // failure, which Prometheus would keep as a series of its own.
    for (const char *family :
         {"tcp_over_websocket_handshake_failures_total", "tcp_over_websocket_http_requests_total",
          "tcp_over_websocket_tunnels_total", "tcp_over_websocket_limit_rejections_total"})
        QCOMPARE(metricValue(metrics.body, QString::fromLatin1(family)), -1.0);
}

void TestTunnel::metricsPassPromtool()
{
    const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
    QVERIFY2(!promtool.isEmpty(),
             "promtool is missing: install Debian's prometheus package "
             "(scripts/test.sh does)");
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    QVERIFY(startPair(echo.serverPort(), server, client));
    StreamClient stream; // some traffic, so every family has real samples
    stream.keepData = true;
    stream.start(client.port(), "metrics", false);
    QTRY_COMPARE(stream.received, QByteArray("metrics"));
    stream.close(); // a finished tunnel fills the duration histogram
    QTRY_VERIFY(
        httpGet(server.port(), QStringLiteral("/metrics"))
            .body.contains("tcp_over_websocket_tunnel_duration_seconds_count{route=\"/\"} 1"));
    const HttpAnswer metrics = httpGet(server.port(), QStringLiteral("/metrics"));
    QCOMPARE(metrics.status, 200);
    // Bounds written as the Prometheus client libraries write them, so that a selector such as
    // {le="0.1"} matches; the tunnel lasted well under a day.
    QCOMPARE(metricValue(metrics.body,
                         QStringLiteral("tcp_over_websocket_tunnel_duration_seconds_bucket{route="
                                        "\"/\",le=\"86400\"}")),
             1.0);
    QCOMPARE(metricValue(metrics.body,
                         QStringLiteral("tcp_over_websocket_tunnel_duration_seconds_bucket{route="
                                        "\"/\",le=\"+Inf\"}")),
             1.0);
    QVERIFY2(metricValue(metrics.body,
                         QStringLiteral("tcp_over_websocket_tunnel_duration_seconds_bucket{route="
                                        "\"/\",le=\"0.1\"}"))
                 >= 0,
             metrics.body.constData());
    QProcess check;
    check.start(promtool, {QStringLiteral("check"), QStringLiteral("metrics")});
    QVERIFY(check.waitForStarted());
    check.write(metrics.body);
    check.closeWriteChannel();
    QVERIFY(check.waitForFinished(30000));
    const QString output =
        QString::fromUtf8(check.readAllStandardOutput() + check.readAllStandardError());
    // promtool exits 1 on a format error and 3 when it only has lint remarks. The original Go
    // tool's counters lack the "_total" suffix; we keep their names so that existing dashboards
    // work, and accept exactly those two remarks, nothing else.
    QVERIFY2(check.exitCode() == 0 || check.exitCode() == 3, qPrintable(output));
    const QStringList allowed = {
        QStringLiteral("http_to_tcp_connections counter metrics should have \"_total\" suffix"),
        QStringLiteral("http_to_tcp_error counter metrics should have \"_total\" suffix"),
    };
    const QStringList remarks = output.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    for (const QString &remark : remarks)
        QVERIFY2(allowed.contains(remark.trimmed()), qPrintable(remark));
}

void TestTunnel::remoteUnreachableKeepsServing()
{
    QTcpServer closed;
    QVERIFY(closed.listen(QHostAddress::LocalHost));
    const quint16 port = closed.serverPort();
    closed.close();
    TowProcess server, client;
    QVERIFY(startPair(port, server, client));
    StreamClient failing;
    failing.start(client.port(), "lost", false);
    QTRY_VERIFY_WITH_TIMEOUT(failing.done, 10000); // the local connection is closed promptly
    QTRY_COMPARE(metricValue(httpGet(server.port(), QStringLiteral("/metrics")).body,
                             QStringLiteral("http_to_tcp_error{type=\"dial_tcp\"}")),
                 1.0);
    QTRY_VERIFY(client.log().contains(QLatin1String("1011")));
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost, port));
    StreamClient working;
    working.keepData = true;
    working.start(client.port(), "back", false);
    QTRY_COMPARE(working.received, QByteArray("back"));
}

void TestTunnel::sigtermExitsCleanly()
{
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    QVERIFY(startPair(echo.serverPort(), server, client, {"--drain-timeout", "1"}));
    StreamClient open;
    open.keepData = true;
    open.start(client.port(), "x", false);
    QTRY_COMPARE(open.received, QByteArray("x"));
    // A tunnel still open when the drain timeout ends is closed with "going away" and the
    // server exits 0.
    QCOMPARE(server.stop(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(open.done, 10000);
    // The client logs the close once both of its sides are closed, maybe just after the local
    // connection saw its end.
    QTRY_VERIFY2(client.log().contains(QLatin1String("1001")), qPrintable(client.log()));
    QCOMPARE(client.stop(), 0);
}

void TestTunnel::credentialsNeverLogged_data()
{
    QTest::addColumn<QString>("url"); // %1: the server's port
    QTest::addColumn<QString>("shown");
    QTest::addColumn<bool>("serverNeedsToken");
    QTest::newRow("basic auth") << "ws://alice:s3cr3t-pw@127.0.0.1:%1/"
                                << "ws://127.0.0.1:%1/" << false;
    // For clients that cannot set headers the server takes the token in the query.
    QTest::newRow("query token") << "ws://127.0.0.1:%1/?token=s3cr3t-pw"
                                 << "ws://127.0.0.1:%1/?token=<hidden>" << true;
}

void TestTunnel::credentialsNeverLogged()
{
    QFETCH(QString, url);
    QFETCH(QString, shown);
    QFETCH(bool, serverNeedsToken);
    EchoServer echo;
    QVERIFY(echo.listen(QHostAddress::LocalHost));
    TowProcess server, client;
    if (serverNeedsToken) {
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("TOW_TOKEN", "s3cr3t-pw");
        server.process().setProcessEnvironment(environment);
    }
    QVERIFY(server.start({"server", "-listen_ws", "127.0.0.1:0", "-remote_tcp",
                          QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())}));
    QVERIFY(client.start(
        {"client", "-listen_tcp", "127.0.0.1:0", "-remote_ws", url.arg(server.port())}));
    StreamClient stream;
    stream.keepData = true;
    stream.start(client.port(), "with credentials", false);
    QTRY_COMPARE(stream.received, QByteArray("with credentials"));
    stream.close();
    QTRY_VERIFY(client.log().contains(QLatin1String("tunnel closed")));
    QCOMPARE(client.stop(), 0);
    const QString log = client.log();
    QVERIFY2(!log.contains(QLatin1String("s3cr3t-pw")), qPrintable(log));
    QVERIFY2(!log.contains(QLatin1String("alice")), qPrintable(log));
    // At start, and in each tunnel's lines.
    QVERIFY2(log.count(shown.arg(server.port())) >= 3, qPrintable(log));
    QVERIFY2(!server.log().contains(QLatin1String("s3cr3t-pw")), qPrintable(server.log()));
}

QTEST_GUILESS_MAIN(TestTunnel)
#include "tst_tunnel.moc"

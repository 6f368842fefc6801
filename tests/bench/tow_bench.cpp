// tow_bench: measures tcp-over-websocket beside direct TCP, a socat two-hop relay and websockify
// (paired with our client) on the same machine in one run, and over TLS beside socat's TLS two-hop
// (our server's own TLS, and nginx terminating TLS in front of it), and checks every transfer.
// Through our route also a SOCKS5 setup rate (client --socks5) and a UDP datagram rate (client
// --udp), both to destinations the server allows with --allow-destination.
// Usage: tow_bench [--quick] [--json FILE] [--markdown FILE] [--tow PATH]
#include "endpoints.h"
#include "routes.h"
#include "testcertificates.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QThread>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace bench;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings
{
    bool quick = false;
    uint64_t bulkBytes = 1ull << 30;
    int bulkRuns = 3;
    int roundTrips = 10000;
    int setupSequential = 2000;
    int setupParallel = 2000;
    int parallelism = 32;
    std::vector<int> concurrency {1000, 10000};
    int holdSeconds = 15;
    uint64_t slowPushBytes = 512ull << 20;
    uint64_t slowRate = 5'000'000;
    double slowSeconds = 20;
    std::vector<uint64_t> tails {64 * 1024, 16ull << 20};
    int closeTrials = 20;
    int udpDatagrams = 200000;
    int udpWindow = 64;
    QStringList workloads {QStringLiteral("bulk"),   QStringLiteral("rtt"),
                           QStringLiteral("setup"),  QStringLiteral("concurrency"),
                           QStringLiteral("slow"),   QStringLiteral("close"),
                           QStringLiteral("socks5"), QStringLiteral("udp")};
    bool has(const char *workload) const { return workloads.contains(QLatin1String(workload)); }
};

double seconds(Clock::time_point since)
{
    return std::chrono::duration<double>(Clock::now() - since).count();
}

bool writeAll(int fd, const char *data, size_t size)
{
    while (size > 0) {
        const ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        size -= size_t(n);
    }
    return true;
}

bool readExactly(int fd, char *data, size_t size)
{
    while (size > 0) {
        const ssize_t n = read(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        size -= size_t(n);
    }
    return true;
}

// Sends `bytes` of the pattern. Returns false on a write error.
bool sendPattern(int fd, uint64_t bytes)
{
    for (uint64_t offset = 0; offset < bytes;) {
        const size_t n = size_t(std::min<uint64_t>(kPatternRun, bytes - offset));
        if (!writeAll(fd, patternAt(offset), n))
            return false;
        offset += n;
    }
    return true;
}

// Reads until EOF; returns the byte count and whether every byte was the pattern's.
std::pair<uint64_t, bool> receiveAll(int fd)
{
    std::vector<char> buffer(1 << 20);
    PatternCheck check;
    for (;;) {
        const ssize_t n = read(fd, buffer.data(), buffer.size());
        if (n <= 0)
            break;
        check.add(buffer.data(), size_t(n));
    }
    return {check.bytes(), check.intact()};
}

double cpuOf(const Route &route)
{
    double total = 0;
    for (const ProcessStats &stats : route.stats())
        total += stats.cpuSeconds();
    return total;
}

// Each tunnel holds two descriptors in every process it crosses (ours: the local and the
// WebSocket side; this one: the entry and the echo endpoint's). Where the hard RLIMIT_NOFILE is
// too low for the count asked for (it cannot be raised without CAP_SYS_RESOURCE), hold what it
// allows and say so: an EMFILE is a fact about the machine, not about a route.
int heldTunnels(int wanted)
{
    constexpr rlim_t kSpareDescriptors = 64; // listeners, epoll, eventfd, pipes, stdio
    rlimit limit {};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur == RLIM_INFINITY || rlim_t(wanted) * 2 + kSpareDescriptors <= limit.rlim_cur)
        return wanted;
    const int held = int((limit.rlim_cur - kSpareDescriptors) / 2);
    std::fprintf(stderr,
                 "note: %d tunnels need %d descriptors in each process; the hard limit here is "
                 "%llu, so %d are held\n",
                 wanted, wanted * 2 + int(kSpareDescriptors),
                 static_cast<unsigned long long>(limit.rlim_cur), held);
    return held;
}

// Adds each process's CPU seconds since `before` to *perProcess, by process name.
void addProcessCpu(const Route &route, const std::vector<ProcessStats> &before,
                   std::map<QString, double> *perProcess)
{
    const std::vector<ProcessStats> after = route.stats();
    const std::vector<QString> names = route.processNames();
    for (size_t p = 0; p < after.size() && p < before.size() && p < names.size(); ++p)
        (*perProcess)[names[p]] += after[p].cpuSeconds() - before[p].cpuSeconds();
}

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

class Bench
{
public:
    Bench(Settings settings, QString tow) : m_settings(std::move(settings)), m_tow(std::move(tow))
    {
    }

    int run(const std::vector<RouteKind> &kinds);
    QJsonObject json() const { return m_json; }
    QString markdown() const;

private:
    bool withRoute(RouteKind kind, uint16_t target, const std::function<void(Route &)> &body,
                   Route::Entry entry = Route::Entry::Forward);
    // A failed check of our route (or of direct TCP, which checks the harness) fails the run;
    // a baseline's failure is a finding about that baseline, reported but not fatal.
    void fail(const QString &what)
    {
        const bool ours = what.startsWith(Route::name(RouteKind::Ours))
            || what.startsWith(Route::name(RouteKind::Direct));
        std::fprintf(stderr, "%s: %s\n", ours ? "FAILED" : "baseline failed", qPrintable(what));
        if (ours)
            ++m_failures;
        else
            m_baselineFailures.append(what);
    }
    void record(RouteKind kind, const QString &metric, double value)
    {
        m_results[metric][kind] = value;
        std::printf("  %-26s %-28s %.2f\n", qPrintable(Route::name(kind)), qPrintable(metric),
                    value);
        std::fflush(stdout);
    }

    void bulk(RouteKind kind);
    void roundTrip(RouteKind kind);
    // Connection setup through a port forward, or (Socks5) through our client's SOCKS5 proxy:
    // greeting, CONNECT, success reply and one echoed byte per connection.
    void setup(RouteKind kind, Route::Entry entry = Route::Entry::Forward);
    // Numbered datagrams through our client's --udp port to a UDP echo and back.
    void udpRate(RouteKind kind);
    // "<prefix> <process> peak RSS MiB" for each process of the route.
    void recordPeakRss(RouteKind kind, const Route &route, const QString &prefix);
    void concurrency(RouteKind kind, int tunnels);
    void slowConsumer(RouteKind kind, bool clientToServer);
    void closeTails(RouteKind kind);

    Settings m_settings;
    QString m_tow;
    int m_failures = 0;
    QStringList m_baselineFailures;
    std::map<QString, std::map<RouteKind, double>> m_results;
    std::vector<QString> m_metricOrder;
    QJsonObject m_json;
};

bool Bench::withRoute(RouteKind kind, uint16_t target, const std::function<void(Route &)> &body,
                      Route::Entry entry)
{
    Route route(kind, m_tow);
    route.setEntry(entry);
    QString error;
    if (!route.start(target, &error)) {
        fail(Route::name(kind) + QStringLiteral(": ") + error);
        return false;
    }
    const int failuresBefore = m_failures;
    body(route);
    if (m_failures != failuresBefore && kind != RouteKind::Direct)
        std::fprintf(stderr, "%s", qPrintable(route.logTail(20)));
    route.stop();
    return true;
}

void Bench::bulk(RouteKind kind)
{
    const uint64_t bytes = m_settings.bulkBytes;
    const double gib = double(bytes) / double(1ull << 30);
    for (const bool clientToServer : {true, false}) {
        std::vector<double> rates;
        double cpu = 0;
        // Whether a transfer is bound by the CPU or by waiting: the share of all cores busy.
        double machineBusy = 0;
        double machineWall = 0;
        // Each process's own share: which side of a tunnel the bytes cost (TLS: the decrypting
        // one).
        std::map<QString, double> processCpu;
        for (int runIndex = 0; runIndex < m_settings.bulkRuns; ++runIndex) {
            if (clientToServer) {
                SinkEndpoint sink;
                withRoute(kind, sink.port(), [&](Route &route) {
                    const double cpuBefore = cpuOf(route);
                    const std::vector<ProcessStats> before = route.stats();
                    const double busyBefore = machineBusySeconds();
                    const auto start = Clock::now();
                    const int fd = connectLoopback(route.entryPort(), false);
                    const bool sent = fd >= 0 && sendPattern(fd, bytes);
                    if (fd >= 0)
                        close(fd);
                    SinkEndpoint::Result result;
                    if (!sent || !sink.waitResult(&result, 300000) || result.bytes != bytes
                        || !result.intact) {
                        fail(Route::name(kind)
                             + QStringLiteral(": bulk client->server lost or "
                                              "changed bytes"));
                        return;
                    }
                    machineWall += seconds(start);
                    machineBusy += machineBusySeconds() - busyBefore;
                    rates.push_back(double(bytes) / 1e6 / seconds(start));
                    cpu += cpuOf(route) - cpuBefore;
                    addProcessCpu(route, before, &processCpu);
                });
            } else {
                SourceEndpoint source(bytes);
                withRoute(kind, source.port(), [&](Route &route) {
                    const double cpuBefore = cpuOf(route);
                    const std::vector<ProcessStats> before = route.stats();
                    const double busyBefore = machineBusySeconds();
                    const auto start = Clock::now();
                    const int fd = connectLoopback(route.entryPort(), false);
                    const auto [received, intact] =
                        fd >= 0 ? receiveAll(fd) : std::pair<uint64_t, bool> {0, false};
                    if (fd >= 0)
                        close(fd);
                    if (received != bytes || !intact) {
                        fail(Route::name(kind)
                             + QStringLiteral(": bulk server->client got %1 "
                                              "of %2 bytes or changed bytes")
                                   .arg(received)
                                   .arg(bytes));
                        return;
                    }
                    machineWall += seconds(start);
                    machineBusy += machineBusySeconds() - busyBefore;
                    rates.push_back(double(bytes) / 1e6 / seconds(start));
                    // The route's processes have exited their connection by now: reaped
                    // children (socat) count in cutime.
                    QThread::msleep(50);
                    cpu += cpuOf(route) - cpuBefore;
                    addProcessCpu(route, before, &processCpu);
                });
            }
        }
        const QString direction =
            clientToServer ? QStringLiteral("client->server") : QStringLiteral("server->client");
        record(kind, QStringLiteral("bulk %1 MB/s").arg(direction), median(rates));
        if (kind != RouteKind::Direct && !rates.empty())
            record(kind, QStringLiteral("bulk %1 CPU s/GiB").arg(direction),
                   cpu / (gib * double(rates.size())));
        if (kind != RouteKind::Direct && !rates.empty()) {
            for (const auto &[process, processSeconds] : processCpu)
                record(kind, QStringLiteral("bulk %1 CPU s/GiB %2").arg(direction, process),
                       processSeconds / (gib * double(rates.size())));
        }
        if (machineWall > 0)
            record(kind, QStringLiteral("bulk %1 machine busy %").arg(direction),
                   100.0 * machineBusy
                       / (machineWall * std::max(1u, std::thread::hardware_concurrency())));
    }
}

void Bench::roundTrip(RouteKind kind)
{
    EchoEndpoint echo;
    withRoute(kind, echo.port(), [&](Route &route) {
        const int fd = connectLoopback(route.entryPort(), true);
        if (fd < 0) {
            fail(Route::name(kind) + QStringLiteral(": round trip: cannot connect"));
            return;
        }
        char out[64];
        char in[64];
        std::vector<double> micros;
        for (int i = -100; i < m_settings.roundTrips; ++i) {
            fillPattern(out, sizeof out, uint64_t(i + 100) * 64);
            const auto start = Clock::now();
            errno = 0;
            QString error;
            if (!writeAll(fd, out, sizeof out))
                error = QStringLiteral("write failed (%1)")
                            .arg(QString::fromLocal8Bit(std::strerror(errno)));
            else if (!readExactly(fd, in, sizeof in))
                error = errno != 0 ? QStringLiteral("read failed (%1)")
                                         .arg(QString::fromLocal8Bit(std::strerror(errno)))
                                   : QStringLiteral("the connection closed");
            else if (std::memcmp(in, out, sizeof in) != 0)
                error = QStringLiteral("wrong echo");
            if (!error.isEmpty()) {
                fail(Route::name(kind)
                     + QStringLiteral(": round trip %1: %2").arg(i + 100).arg(error));
                close(fd);
                return;
            }
            if (i >= 0) // the first 100 warm up
                micros.push_back(seconds(start) * 1e6);
        }
        close(fd);
        std::sort(micros.begin(), micros.end());
        record(kind, QStringLiteral("round trip p50 us"), micros[micros.size() / 2]);
        record(kind, QStringLiteral("round trip p99 us"), micros[micros.size() * 99 / 100]);
    });
}

void Bench::recordPeakRss(RouteKind kind, const Route &route, const QString &prefix)
{
    const std::vector<QString> names = route.processNames();
    const std::vector<ProcessStats> stats = route.stats();
    for (size_t p = 0; p < stats.size(); ++p)
        record(kind, QStringLiteral("%1 %2 peak RSS MiB").arg(prefix, names[p]),
               double(stats[p].peakRssKb) / 1024.0);
}

// The SOCKS5 handshake of a client without authentication asking for 127.0.0.1:port (RFC 1928),
// one step at a time as curl does; true when the proxy replied "succeeded".
bool socks5Connect(int fd, uint16_t port)
{
    const unsigned char greeting[] = {5, 1, 0};
    unsigned char method[2];
    if (!writeAll(fd, reinterpret_cast<const char *>(greeting), sizeof greeting)
        || !readExactly(fd, reinterpret_cast<char *>(method), sizeof method) || method[0] != 5
        || method[1] != 0)
        return false;
    const unsigned char request[] = {5, 1, 0, 1, 127, 0, 0, 1, uint8_t(port >> 8), uint8_t(port)};
    unsigned char reply[4];
    if (!writeAll(fd, reinterpret_cast<const char *>(request), sizeof request)
        || !readExactly(fd, reinterpret_cast<char *>(reply), sizeof reply) || reply[0] != 5
        || reply[1] != 0)
        return false;
    // The bound address: IPv4, IPv6 or a name, then the port.
    char rest[258];
    size_t restSize = reply[3] == 1 ? 6 : reply[3] == 4 ? 18 : 0;
    if (reply[3] == 3) {
        if (!readExactly(fd, rest, 1))
            return false;
        restSize = size_t(uint8_t(rest[0])) + 2;
    }
    return restSize != 0 && readExactly(fd, rest, restSize);
}

void Bench::setup(RouteKind kind, Route::Entry entry)
{
    const bool socks5 = entry == Route::Entry::Socks5;
    const QString prefix = socks5 ? QStringLiteral("socks5 setup") : QStringLiteral("setup");
    EchoEndpoint echo;
    const uint16_t echoPort = echo.port();
    withRoute(
        kind, echoPort,
        [&](Route &route) {
            auto probe = [&route, socks5, echoPort]() -> bool {
                const int fd = connectLoopback(route.entryPort(), true);
                if (fd < 0)
                    return false;
                timeval timeout {10, 0};
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
                char byte = 'x';
                const bool ok = (!socks5 || socks5Connect(fd, echoPort)) && writeAll(fd, &byte, 1)
                    && readExactly(fd, &byte, 1) && byte == 'x';
                close(fd);
                return ok;
            };
            int errors = 0;
            auto start = Clock::now();
            for (int i = 0; i < m_settings.setupSequential; ++i)
                errors += probe() ? 0 : 1;
            record(kind, prefix + QStringLiteral(" sequential conn/s"),
                   m_settings.setupSequential / seconds(start));
            std::atomic<int> parallelErrors {0};
            // Each thread makes its share; what does not divide evenly is not made.
            const int perThread = m_settings.setupParallel / m_settings.parallelism;
            const int parallelConnections = perThread * m_settings.parallelism;
            const std::vector<ProcessStats> before = route.stats();
            const double machineBefore = machineBusySeconds();
            start = Clock::now();
            std::vector<std::thread> threads;
            for (int t = 0; t < m_settings.parallelism; ++t) {
                threads.emplace_back([&] {
                    for (int i = 0; i < perThread; ++i)
                        parallelErrors += probe() ? 0 : 1;
                });
            }
            for (auto &thread : threads)
                thread.join();
            record(kind, prefix + QStringLiteral(" 32 parallel conn/s"),
                   parallelConnections / seconds(start));
            // What one connection costs, in parallel: the tunnel processes' own time, user space
            // and kernel apart, and the whole machine's (the endpoints and the kernel's network
            // work included), which bounds the rate two cores can reach.
            const double perConnection = 1e6 / parallelConnections;
            const std::vector<ProcessStats> after = route.stats();
            if (!after.empty()) {
                double user = 0;
                double system = 0;
                for (size_t p = 0; p < after.size() && p < before.size(); ++p) {
                    user += after[p].userSeconds - before[p].userSeconds;
                    system += after[p].systemSeconds - before[p].systemSeconds;
                }
                record(kind, prefix + QStringLiteral(" tunnel processes user CPU us/conn"),
                       user * perConnection);
                record(kind, prefix + QStringLiteral(" tunnel processes system CPU us/conn"),
                       system * perConnection);
            }
            record(kind, prefix + QStringLiteral(" machine CPU us/conn"),
                   (machineBusySeconds() - machineBefore) * perConnection);
            record(kind, prefix + QStringLiteral(" errors"), errors + parallelErrors);
            if (kind == RouteKind::OursNginx) {
                // Whether our client resumed TLS sessions, as the server end saw it: each process
                // has one log line per connection, written as the connection ends.
                QThread::msleep(200);
                const auto [handshakes, resumed] = route.nginxHandshakes();
                record(kind, QStringLiteral("setup TLS handshakes"), handshakes);
                record(kind, QStringLiteral("setup TLS handshakes resumed"), resumed);
            }
            // A tunnel that has ended must let go of its memory: one that outlives its connections
            // shows here, not in the rate.
            recordPeakRss(kind, route, prefix);
            if (errors + parallelErrors > 0)
                fail(Route::name(kind)
                     + QStringLiteral(": %1 %2s failed").arg(errors + parallelErrors).arg(prefix));
        },
        entry);
}

void Bench::udpRate(RouteKind kind)
{
    constexpr size_t kSize = 1200; // a datagram: its 8-byte number, then the pattern
    constexpr uint64_t kWarmUp = 1ull << 63; // numbers of the datagrams that open the flow
    auto fill = [](char *datagram, uint64_t number) {
        std::memcpy(datagram, &number, 8);
        std::memcpy(datagram + 8, patternAt(number * (kSize - 8)), kSize - 8);
    };
    UdpEchoEndpoint echo;
    withRoute(
        kind, echo.port(),
        [&](Route &route) {
            const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            const int bufferSize = 4 << 20;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferSize, sizeof bufferSize);
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufferSize, sizeof bufferSize);
            sockaddr_in to {};
            to.sin_family = AF_INET;
            to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            to.sin_port = htons(route.entryPort());
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr *>(&to), sizeof to) != 0) {
                fail(Route::name(kind) + QStringLiteral(": udp: cannot open a socket"));
                if (fd >= 0)
                    close(fd);
                return;
            }
            char out[kSize];
            char in[kSize + 1];
            auto waitReadable = [fd](int milliseconds) {
                pollfd readable {fd, POLLIN, 0};
                return poll(&readable, 1, milliseconds) > 0;
            };
            // The flow opens (a WebSocket) with its first datagram: one echoed before measuring.
            bool open = false;
            for (uint64_t attempt = 0; attempt < 10 && !open; ++attempt) {
                fill(out, kWarmUp + attempt);
                send(fd, out, kSize, 0);
                while (!open && waitReadable(1000)) {
                    const ssize_t n = recv(fd, in, sizeof in, MSG_DONTWAIT);
                    open = n == ssize_t(kSize);
                }
            }
            if (!open) {
                fail(Route::name(kind) + QStringLiteral(": udp: no datagram came back"));
                close(fd);
                return;
            }
            const uint64_t count = uint64_t(m_settings.udpDatagrams);
            std::vector<bool> seen(count);
            uint64_t sent = 0;
            uint64_t received = 0;
            uint64_t givenUp = 0; // in flight when nothing came back for a while: lost (or late)
            uint64_t corrupt = 0;
            uint64_t duplicates = 0;
            uint64_t reordered = 0;
            uint64_t highest = 0;
            uint64_t sendErrors = 0;
            bool stalled = false;
            auto take = [&](ssize_t n) {
                uint64_t number = 0;
                if (n >= 8)
                    std::memcpy(&number, in, 8);
                if (n >= 8 && number >= kWarmUp)
                    return; // a late answer to the warm-up
                if (n != ssize_t(kSize) || number >= count
                    || std::memcmp(in + 8, patternAt(number * (kSize - 8)), kSize - 8) != 0) {
                    ++corrupt;
                } else if (seen[number]) {
                    ++duplicates;
                } else {
                    seen[number] = true;
                    ++received;
                    if (number < highest)
                        ++reordered;
                    highest = std::max(highest, number);
                }
            };
            const std::vector<ProcessStats> before = route.stats();
            const auto start = Clock::now();
            auto lastProgress = Clock::now();
            while (received + givenUp < count || sent < count) {
                while (sent < count && sent < received + givenUp + uint64_t(m_settings.udpWindow)) {
                    fill(out, sent);
                    if (send(fd, out, kSize, 0) != ssize_t(kSize))
                        ++sendErrors;
                    ++sent;
                }
                if (!waitReadable(200)) {
                    // The window's datagrams are taken for lost; if nothing at all comes back
                    // for 10 s the tunnel is broken.
                    givenUp = sent - received;
                    if (seconds(lastProgress) > 10) {
                        stalled = true;
                        break;
                    }
                    continue;
                }
                for (;;) {
                    const ssize_t n = recv(fd, in, sizeof in, MSG_DONTWAIT);
                    if (n < 0)
                        break;
                    take(n);
                    lastProgress = Clock::now();
                }
            }
            const double elapsed = seconds(start);
            const std::vector<ProcessStats> after = route.stats();
            // Late ones still count as delivered (not in the rate).
            while (!stalled && received < count && waitReadable(500)) {
                const ssize_t n = recv(fd, in, sizeof in, MSG_DONTWAIT);
                if (n >= 0)
                    take(n);
            }
            close(fd);
            record(kind, QStringLiteral("udp datagrams/s"), double(received) / elapsed);
            record(kind, QStringLiteral("udp MB/s"),
                   double(received) * double(kSize) / 1e6 / elapsed);
            record(kind, QStringLiteral("udp loss %"),
                   100.0 * double(count - received) / double(count));
            record(kind, QStringLiteral("udp reordered"), double(reordered));
            record(kind, QStringLiteral("udp duplicates"), double(duplicates));
            double user = 0;
            double system = 0;
            for (size_t p = 0; p < after.size() && p < before.size(); ++p) {
                user += after[p].userSeconds - before[p].userSeconds;
                system += after[p].systemSeconds - before[p].systemSeconds;
            }
            // Per datagram echoed: each crosses the tunnel twice.
            record(kind, QStringLiteral("udp tunnel processes user CPU us/datagram"),
                   user * 1e6 / double(sent));
            record(kind, QStringLiteral("udp tunnel processes system CPU us/datagram"),
                   system * 1e6 / double(sent));
            recordPeakRss(kind, route, QStringLiteral("udp"));
            if (corrupt + sendErrors > 0 || stalled || received == 0)
                fail(Route::name(kind)
                     + QStringLiteral(": udp: %1 changed datagrams, %2 send errors, %3 of %4 "
                                      "echoed%5")
                           .arg(corrupt)
                           .arg(sendErrors)
                           .arg(received)
                           .arg(count)
                           .arg(stalled ? QStringLiteral(", nothing came back for 10 s")
                                        : QString()));
        },
        Route::Entry::Udp);
}

void Bench::concurrency(RouteKind kind, int tunnels)
{
    EchoEndpoint echo;
    withRoute(kind, echo.port(), [&](Route &route) {
        QThread::msleep(200);
        const std::vector<ProcessStats> idle = route.stats();
        std::vector<int> fds;
        // Which step failed, and the first error of each: a failure must be explainable.
        std::map<QString, std::pair<int, QString>> failed;
        auto failure = [&failed](const char *step) {
            auto &[count, firstError] = failed[QString::fromLatin1(step)];
            if (count++ == 0)
                firstError = QString::fromLocal8Bit(std::strerror(errno));
        };
        auto ping = [](int fd, char byte) {
            timeval timeout {30, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            char in = 0;
            errno = 0;
            return writeAll(fd, &byte, 1) && readExactly(fd, &in, 1) && in == byte;
        };
        for (int i = 0; i < tunnels; ++i) {
            const int fd = connectLoopback(route.entryPort(), true);
            if (fd < 0) {
                failure("connect");
                continue;
            }
            if (!ping(fd, 'a')) {
                failure("first echo");
                close(fd);
                continue;
            }
            fds.push_back(fd);
        }
        std::this_thread::sleep_for(std::chrono::seconds(m_settings.holdSeconds));
        const std::vector<ProcessStats> held = route.stats();
        for (const int fd : fds) {
            if (!ping(fd, 'b'))
                failure("echo after the hold");
        }
        for (const int fd : fds)
            close(fd);
        int failures = 0;
        QStringList steps;
        for (const auto &[step, countAndError] : failed) {
            failures += countAndError.first;
            steps.append(QStringLiteral("%1 at %2 (first: %3)")
                             .arg(countAndError.first)
                             .arg(step, countAndError.second));
        }
        record(kind, QStringLiteral("%1 tunnels failed").arg(tunnels), failures);
        if (failures > 0)
            fail(Route::name(kind)
                 + QStringLiteral(": %1 of %2 concurrent tunnels failed: %3")
                       .arg(failures)
                       .arg(tunnels)
                       .arg(steps.join(QStringLiteral(", "))));
        const std::vector<QString> names = route.processNames();
        for (size_t p = 0; p < held.size(); ++p) {
            record(kind, QStringLiteral("%1 tunnels %2 PSS MiB").arg(tunnels).arg(names[p]),
                   double(held[p].pssKb) / 1024.0);
            record(kind, QStringLiteral("%1 tunnels %2 KB/tunnel").arg(tunnels).arg(names[p]),
                   (double(held[p].pssKb) - double(idle[p].pssKb)) * 1.024 / tunnels);
        }
    });
}

void Bench::slowConsumer(RouteKind kind, bool clientToServer)
{
    const QString direction =
        clientToServer ? QStringLiteral("client->server") : QStringLiteral("server->client");
    auto report = [&](Route &route, uint64_t accepted, uint64_t consumed) {
        recordPeakRss(kind, route, QStringLiteral("slow %1").arg(direction));
        record(kind, QStringLiteral("slow %1 in flight MiB").arg(direction),
               double(accepted - std::min(accepted, consumed)) / double(1 << 20));
    };
    if (clientToServer) {
        SinkEndpoint sink;
        sink.setSlow(m_settings.slowRate, m_settings.slowSeconds + 3600);
        withRoute(kind, sink.port(), [&](Route &route) {
            const int fd = connectLoopback(route.entryPort(), false);
            fcntl(fd, F_SETFL, O_NONBLOCK);
            std::vector<char> buffer(1 << 20);
            fillPattern(buffer.data(), buffer.size(), 0);
            uint64_t accepted = 0;
            const auto start = Clock::now();
            while (seconds(start) < m_settings.slowSeconds && accepted < m_settings.slowPushBytes) {
                const ssize_t n = write(fd, buffer.data(), buffer.size());
                if (n > 0)
                    accepted += uint64_t(n);
                else
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            report(route, accepted, sink.bytesRead());
            close(fd);
        });
    } else {
        SourceEndpoint source(m_settings.slowPushBytes);
        withRoute(kind, source.port(), [&](Route &route) {
            const int fd = connectLoopback(route.entryPort(), false);
            int small = 64 * 1024;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
            std::vector<char> buffer(64 * 1024);
            uint64_t consumed = 0;
            const auto start = Clock::now();
            while (seconds(start) < m_settings.slowSeconds) {
                const uint64_t allowed = uint64_t(seconds(start) * double(m_settings.slowRate));
                if (consumed >= allowed) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    continue;
                }
                const ssize_t n =
                    read(fd, buffer.data(), std::min<size_t>(buffer.size(), allowed - consumed));
                if (n <= 0)
                    break;
                consumed += uint64_t(n);
            }
            report(route, source.bytesWritten(), consumed);
            close(fd);
        });
    }
}

void Bench::closeTails(RouteKind kind)
{
    for (const uint64_t tail : m_settings.tails) {
        int complete = 0;
        int trials = 0;
        {
            SinkEndpoint sink;
            withRoute(kind, sink.port(), [&](Route &route) {
                for (int i = 0; i < m_settings.closeTrials; ++i, ++trials) {
                    const int fd = connectLoopback(route.entryPort(), false);
                    if (fd < 0)
                        continue;
                    sendPattern(fd, tail);
                    close(fd);
                    SinkEndpoint::Result result;
                    if (sink.waitResult(&result, 60000) && result.bytes == tail && result.intact)
                        ++complete;
                }
            });
        }
        {
            SourceEndpoint source(tail);
            withRoute(kind, source.port(), [&](Route &route) {
                for (int i = 0; i < m_settings.closeTrials; ++i, ++trials) {
                    const int fd = connectLoopback(route.entryPort(), false);
                    if (fd < 0)
                        continue;
                    const auto [received, intact] = receiveAll(fd);
                    close(fd);
                    if (received == tail && intact)
                        ++complete;
                }
            });
        }
        const QString label = tail >= (1 << 20) ? QStringLiteral("%1 MiB").arg(tail >> 20)
                                                : QStringLiteral("%1 KiB").arg(tail >> 10);
        record(kind, QStringLiteral("close tail %1: complete of %2").arg(label).arg(trials),
               complete);
        if (complete != trials)
            fail(Route::name(kind)
                 + QStringLiteral(": close with a %1 tail: %2 of %3 complete")
                       .arg(label)
                       .arg(complete)
                       .arg(trials));
    }
}

int Bench::run(const std::vector<RouteKind> &kinds)
{
    // Workload by workload, each through every route before the next one starts: the figures a
    // ratio compares are then taken seconds apart, not minutes (this VM's speed drifts within
    // minutes by more than the margins of the targets).
    auto eachRoute = [&kinds](const char *workload, const std::function<void(RouteKind)> &run,
                              bool withDirect = true) {
        for (const RouteKind kind : kinds) {
            if (kind == RouteKind::Direct && !withDirect)
                continue;
            std::printf("== %s: %s\n", workload, qPrintable(Route::name(kind)));
            run(kind);
        }
    };
    if (m_settings.has("bulk"))
        eachRoute("bulk", [this](RouteKind kind) { bulk(kind); });
    if (m_settings.has("rtt"))
        eachRoute("round trip", [this](RouteKind kind) { roundTrip(kind); });
    if (m_settings.has("setup"))
        eachRoute("setup", [this](RouteKind kind) { setup(kind); });
    if (m_settings.has("concurrency")) {
        for (const int tunnels : m_settings.concurrency)
            eachRoute("concurrency",
                      [this, tunnels](RouteKind kind) { concurrency(kind, heldTunnels(tunnels)); });
    }
    if (m_settings.has("slow")) {
        // A slow reader of direct TCP measures no relay's memory.
        eachRoute(
            "slow consumer",
            [this](RouteKind kind) {
                slowConsumer(kind, true);
                slowConsumer(kind, false);
            },
            false);
    }
    if (m_settings.has("close"))
        eachRoute("close", [this](RouteKind kind) { closeTails(kind); });
    // Dynamic routes: our route only (the baselines have no SOCKS5 proxy or UDP).
    const bool ours = std::find(kinds.begin(), kinds.end(), RouteKind::Ours) != kinds.end();
    if (ours && m_settings.has("socks5")) {
        std::printf("== socks5 setup: %s\n", qPrintable(Route::name(RouteKind::Ours)));
        setup(RouteKind::Ours, Route::Entry::Socks5);
    }
    if (ours && m_settings.has("udp")) {
        std::printf("== udp: %s\n", qPrintable(Route::name(RouteKind::Ours)));
        udpRate(RouteKind::Ours);
    }
    QJsonArray rows;
    for (const auto &[metric, values] : m_results) {
        QJsonObject row {{QStringLiteral("metric"), metric}};
        for (const auto &[kind, value] : values)
            row.insert(Route::name(kind), value);
        rows.append(row);
    }
    m_json = QJsonObject {{QStringLiteral("quick"), m_settings.quick},
                          {QStringLiteral("failures"), m_failures},
                          {QStringLiteral("results"), rows}};
    return m_failures;
}

QString Bench::markdown() const
{
    // One table for the plain routes, one for TLS; a metric only where some route of the table
    // has it.
    struct Table
    {
        std::vector<RouteKind> kinds;
        RouteKind socat;
        std::vector<RouteKind> ours;
        RouteKind other; // a second baseline, or socat again
    };
    const std::vector<Table> tables {
        {{RouteKind::Direct, RouteKind::Socat, RouteKind::Websockify, RouteKind::Ours},
         RouteKind::Socat,
         {RouteKind::Ours},
         RouteKind::Websockify},
        {{RouteKind::SocatTls, RouteKind::OursTls, RouteKind::OursNginx},
         RouteKind::SocatTls,
         {RouteKind::OursTls, RouteKind::OursNginx},
         RouteKind::SocatTls},
    };
    QString out;
    for (const Table &table : tables) {
        auto present = [this](const std::vector<RouteKind> &kinds) {
            for (const auto &[metric, values] : m_results) {
                for (const RouteKind kind : kinds) {
                    if (values.count(kind) != 0)
                        return true;
                }
            }
            return false;
        };
        if (!present(table.kinds))
            continue;
        QStringList ratioNames;
        std::vector<std::pair<RouteKind, RouteKind>> ratios;
        for (const RouteKind ours : table.ours) {
            ratios.emplace_back(ours, table.socat);
            if (table.other != table.socat)
                ratios.emplace_back(ours, table.other);
        }
        out += out.isEmpty() ? QString() : QStringLiteral("\n");
        out += QStringLiteral("| metric |");
        for (const RouteKind kind : table.kinds)
            out += QLatin1Char(' ') + Route::name(kind) + QStringLiteral(" |");
        for (const auto &[ours, base] : ratios)
            out += QStringLiteral(" %1 / %2 |").arg(Route::name(ours), Route::name(base));
        out += QStringLiteral("\n|---|");
        for (size_t i = 0; i < table.kinds.size() + ratios.size(); ++i)
            out += QStringLiteral("---:|");
        out += QLatin1Char('\n');
        for (const auto &[metric, values] : m_results) {
            bool any = false;
            for (const RouteKind kind : table.kinds)
                any = any || values.count(kind) != 0;
            if (!any)
                continue;
            out += QStringLiteral("| ") + metric + QStringLiteral(" |");
            for (const RouteKind kind : table.kinds) {
                const auto it = values.find(kind);
                out += it == values.end() ? QStringLiteral(" |")
                                          : QStringLiteral(" %1 |").arg(it->second, 0, 'f', 2);
            }
            for (const auto &[oursKind, base] : ratios) {
                const auto ours = values.find(oursKind);
                const auto other = values.find(base);
                out += ours == values.end() || other == values.end() || other->second == 0
                    ? QStringLiteral(" |")
                    : QStringLiteral(" %1 |").arg(ours->second / other->second, 0, 'f', 2);
            }
            out += QLatin1Char('\n');
        }
    }
    for (const QString &failure : m_baselineFailures)
        out += QStringLiteral("\nBaseline check failed: ") + failure + QLatin1Char('\n');
    return out;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    // Peers closing first is part of the workloads: a write error, not a signal.
    std::signal(SIGPIPE, SIG_IGN);
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Benchmark of tcp-over-websocket beside direct TCP, socat and websockify."));
    parser.addHelpOption();
    const QCommandLineOption quick(QStringLiteral("quick"),
                                   QStringLiteral("Small sizes: a correctness smoke test."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Write results here."),
                                  QStringLiteral("file"));
    const QCommandLineOption markdown(QStringLiteral("markdown"),
                                      QStringLiteral("Write the Markdown table here."),
                                      QStringLiteral("file"));
    const QCommandLineOption tow(QStringLiteral("tow"), QStringLiteral("Our executable."),
                                 QStringLiteral("path"), QStringLiteral(TOW_EXECUTABLE));
    const QString allRoutes =
        QStringLiteral("direct,socat,websockify,ours,socat-tls,ours-tls,ours-nginx");
    const QCommandLineOption only(QStringLiteral("only"),
                                  QStringLiteral("Routes to measure: %1").arg(allRoutes),
                                  QStringLiteral("list"), allRoutes);
    const QCommandLineOption tunnels(QStringLiteral("tunnels"),
                                     QStringLiteral("Concurrent tunnel counts to hold (default "
                                                    "1000,10000; --quick: 100)."),
                                     QStringLiteral("list"));
    const QCommandLineOption workloads(
        QStringLiteral("workloads"),
        QStringLiteral("Workloads to run: bulk,rtt,setup,concurrency,slow,close,socks5,udp "
                       "(default: all; socks5 and udp through ours only)."),
        QStringLiteral("list"));
    const QCommandLineOption logs(
        QStringLiteral("logs"),
        QStringLiteral("Keep each tunnel process's log in this directory (<label>.log)."),
        QStringLiteral("dir"));
    parser.addOptions({quick, json, markdown, tow, only, tunnels, workloads, logs});
    parser.process(app);

    Settings settings;
    if (parser.isSet(quick)) {
        settings.quick = true;
        settings.bulkBytes = 256ull << 20; // enough to pause and resume many times at speed
        settings.bulkRuns = 1;
        settings.roundTrips = 500;
        settings.setupSequential = 100;
        settings.setupParallel = 128;
        settings.concurrency = {100};
        settings.holdSeconds = 1;
        settings.slowPushBytes = 64ull << 20;
        settings.slowSeconds = 2;
        settings.tails = {64 * 1024, 1ull << 20};
        settings.closeTrials = 3;
        settings.udpDatagrams = 5000;
    }
    if (parser.isSet(tunnels)) {
        settings.concurrency.clear();
        for (const QString &count : parser.value(tunnels).split(QLatin1Char(',')))
            settings.concurrency.push_back(count.toInt());
    }
    if (parser.isSet(workloads)) {
        const QStringList known = settings.workloads;
        settings.workloads = parser.value(workloads).split(QLatin1Char(','));
        for (const QString &name : std::as_const(settings.workloads)) {
            if (!known.contains(name)) {
                std::fprintf(stderr, "tow_bench: unknown workload \"%s\" (known: %s)\n",
                             qPrintable(name), qPrintable(known.join(QLatin1Char(','))));
                return 2;
            }
        }
    }
    // 10,000 tunnels need about 20,000 descriptors in each tunnel process (inherited limit).
    rlimit limit {};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, 65536);
    limit.rlim_max = std::max(limit.rlim_max, limit.rlim_cur);
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }

    std::vector<RouteKind> kinds;
    for (const QString &name : parser.value(only).split(QLatin1Char(','))) {
        if (name == QLatin1String("direct"))
            kinds.push_back(RouteKind::Direct);
        else if (name == QLatin1String("socat"))
            kinds.push_back(RouteKind::Socat);
        else if (name == QLatin1String("websockify"))
            kinds.push_back(RouteKind::Websockify);
        else if (name == QLatin1String("ours"))
            kinds.push_back(RouteKind::Ours);
        else if (name == QLatin1String("socat-tls"))
            kinds.push_back(RouteKind::SocatTls);
        else if (name == QLatin1String("ours-tls"))
            kinds.push_back(RouteKind::OursTls);
        else if (name == QLatin1String("ours-nginx"))
            kinds.push_back(RouteKind::OursNginx);
        else {
            std::fprintf(stderr, "tow_bench: unknown route \"%s\" (known: %s)\n", qPrintable(name),
                         qPrintable(allRoutes));
            return 2;
        }
    }
    for (const char *tool : {"socat", "websockify"}) {
        if (QStandardPaths::findExecutable(QString::fromLatin1(tool)).isEmpty()) {
            std::fprintf(stderr, "tow_bench: %s is missing (scripts/install-deps.sh test)\n", tool);
            return 2;
        }
    }
    // The TLS routes' certificates, made by openssl now and verified by every client side.
    QTemporaryDir certificateDirectory(QDir::tempPath() + QStringLiteral("/tow_bench-tls-XXXXXX"));
    if (std::any_of(kinds.begin(), kinds.end(), isTls)) {
        TestCertificates certificates;
        QString error;
        if (!certificateDirectory.isValid()
            || !certificates.create(certificateDirectory.path(), &error)) {
            std::fprintf(stderr, "tow_bench: cannot make the TLS certificates: %s\n",
                         qPrintable(error));
            return 2;
        }
        Route::setTlsFiles(
            {certificates.caFile(), certificates.certificateFile(), certificates.keyFile()});
    }

    if (parser.isSet(logs)) {
        if (!QDir().mkpath(parser.value(logs))) {
            std::fprintf(stderr, "tow_bench: cannot create the log directory %s\n",
                         qPrintable(parser.value(logs)));
            return 2;
        }
        Route::setLogDirectory(parser.value(logs));
    }
    Bench bench(settings, parser.value(tow));
    const int failures = bench.run(kinds);
    const QString table = bench.markdown();
    std::printf("\n%s", qPrintable(table));
    if (parser.isSet(markdown)) {
        QFile file(parser.value(markdown));
        if (file.open(QIODevice::WriteOnly))
            file.write(table.toUtf8());
    }
    if (parser.isSet(json)) {
        QFile file(parser.value(json));
        if (file.open(QIODevice::WriteOnly))
            file.write(QJsonDocument(bench.json()).toJson());
    }
    std::printf("\n%s\n", failures == 0 ? "all transfers verified" : "SOME CHECKS FAILED");
    return failures == 0 ? 0 : 1;
}

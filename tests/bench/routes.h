// The ways a TCP connection can reach an endpoint in the benchmark: directly (the limit), through
// two socat relays (the userspace-relay baseline), through our client and server, and through our
// client and websockify; over TLS: two socat relays speaking TLS between them (the TLS baseline),
// our client and server with the server's own TLS, and our client to nginx terminating TLS in front
// of our server (the README's deployment). Each route runs its processes and reports their memory
// and CPU.
#pragma once

#include <QProcess>
#include <QString>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace bench {

enum class RouteKind { Direct, Socat, Ours, Websockify, SocatTls, OursTls, OursNginx };

// The routes whose hop between the two sides is TLS (verified against a CA made at run time).
bool isTls(RouteKind kind);

// The certificates the TLS routes use: a CA and a server certificate for "localhost" it signed.
struct TlsFiles
{
    QString caFile;
    QString certificateFile;
    QString keyFile;
};

struct ProcessStats
{
    double userSeconds = 0; // user-space CPU time, including reaped children
    double systemSeconds = 0; // the kernel's CPU time on its behalf, including reaped children
    double cpuSeconds() const { return userSeconds + systemSeconds; }
    uint64_t peakRssKb = 0; // VmHWM (largest resident set since start), children summed
    uint64_t rssKb = 0;
    uint64_t pssKb = 0;
};

// CPU time the whole machine has been busy since boot, all processes and the kernel's interrupt
// work included (/proc/stat: everything but idle, I/O wait and time stolen by the hypervisor).
double machineBusySeconds();

class Route
{
public:
    Route(RouteKind kind, QString towExecutable);
    ~Route();

    static QString name(RouteKind kind);
    // Where each process's stderr is kept ("DIR/<label>.log", appended); by default a temporary
    // directory removed at exit.
    static void setLogDirectory(const QString &directory);
    // Needed before a TLS route starts.
    static void setTlsFiles(const TlsFiles &files);
    // What our client offers locally (Ours only): a port forward to the target (the default), a
    // SOCKS5 proxy whose server allows only the target, or a UDP port carried to the target (UDP).
    enum class Entry { Forward, Socks5, Udp };
    void setEntry(Entry entry) { m_entry = entry; }
    QString name() const { return name(m_kind); }
    RouteKind kind() const { return m_kind; }

    // Starts the route's processes towards targetPort; returns false with *error set. A port
    // picked free may be taken before a process binds it (as the local port of one of the
    // benchmark's own connections): then the route starts again on new ports, up to 3 times.
    bool start(uint16_t targetPort, QString *error);
    void stop();
    uint16_t entryPort() const { return m_entryPort; }

    // Per process of the route (the tunnel's processes; empty for Direct).
    std::vector<ProcessStats> stats() const;
    std::vector<QString> processNames() const;
    // The last lines each process of this route wrote to stderr, for a failure report.
    QString logTail(int lines) const;
    // nginx (OursNginx): the TLS handshakes of its access log so far, and how many of them resumed
    // an earlier session ($ssl_session_reused); {0, 0} for the other routes.
    std::pair<int, int> nginxHandshakes() const;

private:
    bool startOnce(uint16_t targetPort, QString *error);
    bool spawn(const QString &label, const QString &program, const QStringList &arguments,
               uint16_t waitPort, QString *error, bool udp = false);
    bool spawnNginx(uint16_t port, uint16_t upstreamPort, QString *error);

    RouteKind m_kind;
    Entry m_entry = Entry::Forward;
    QString m_tow;
    uint16_t m_entryPort = 0;
    std::vector<std::unique_ptr<QProcess>> m_processes;
    std::vector<QString> m_labels;
    std::vector<QString> m_logFiles;
    std::vector<qint64> m_logStarts; // where this route's part of each (appended) log begins
    QString m_nginxAccessLog;
};

uint16_t freePort();

} // namespace bench

#include "routes.h"

#include "endpoints.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QThread>
#include <algorithm>
#include <unistd.h>

namespace bench {

namespace {

QByteArray readProcFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

std::vector<qint64> withChildren(qint64 pid);

// Whether process pid (or a child of it) listens on 127.0.0.1:port, from /proc/net/tcp and the
// process's descriptors, without connecting: a probe connection would open a tunnel and disturb
// the endpoints. The owner matters: with tests running beside the benchmark another process may
// have taken the port between freePort() and our process's bind, which then failed.
// With udp, a UDP socket bound to the port (/proc/net/udp, state 07: not connected).
bool isListening(uint16_t port, qint64 pid, bool udp)
{
    const QByteArray wanted =
        QByteArray(":") + QByteArray::number(port, 16).toUpper().rightJustified(4, '0');
    QList<QByteArray> inodes;
    const QString table = udp ? QStringLiteral("/proc/net/udp") : QStringLiteral("/proc/net/tcp");
    for (const QByteArray &line : readProcFile(table).split('\n')) {
        const QList<QByteArray> fields = line.simplified().split(' ');
        if (fields.size() > 9 && fields[1].endsWith(wanted) && fields[3] == (udp ? "07" : "0A"))
            inodes.append("socket:[" + fields[9] + "]");
    }
    if (inodes.isEmpty())
        return false;
    for (const qint64 owner : withChildren(pid)) {
        const QDir fds(QStringLiteral("/proc/%1/fd").arg(owner));
        for (const QString &fd :
             fds.entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot)) {
            char target[64];
            const ssize_t length =
                readlink(QFile::encodeName(fds.filePath(fd)).constData(), target, sizeof target);
            if (length > 0 && inodes.contains(QByteArray(target, int(length))))
                return true;
        }
    }
    return false;
}

std::vector<qint64> withChildren(qint64 pid)
{
    std::vector<qint64> pids {pid};
    const QByteArray children = readProcFile(QStringLiteral("/proc/%1/task/%1/children").arg(pid));
    for (const QByteArray &child : children.simplified().split(' ')) {
        if (!child.isEmpty())
            pids.push_back(child.toLongLong());
    }
    return pids;
}

uint64_t statusKb(const QByteArray &status, const char *key)
{
    for (const QByteArray &line : status.split('\n')) {
        if (line.startsWith(key))
            return line.mid(int(strlen(key))).simplified().split(' ').value(0).toULongLong();
    }
    return 0;
}

} // namespace

uint16_t freePort()
{
    uint16_t port = 0;
    const int fd = listenLoopback(&port);
    close(fd);
    return port;
}

Route::Route(RouteKind kind, QString towExecutable) : m_kind(kind), m_tow(std::move(towExecutable))
{
}

Route::~Route()
{
    stop();
}

QString Route::name(RouteKind kind)
{
    switch (kind) {
    case RouteKind::Direct:
        return QStringLiteral("direct TCP");
    case RouteKind::Socat:
        return QStringLiteral("socat two-hop");
    case RouteKind::Ours:
        return QStringLiteral("tcp-over-websocket");
    case RouteKind::Websockify:
        return QStringLiteral("websockify + our client");
    case RouteKind::SocatTls:
        return QStringLiteral("socat TLS two-hop");
    case RouteKind::OursTls:
        return QStringLiteral("tcp-over-websocket wss (--tls-cert)");
    case RouteKind::OursNginx:
        return QStringLiteral("tcp-over-websocket wss via nginx");
    }
    return QString();
}

bool isTls(RouteKind kind)
{
    return kind == RouteKind::SocatTls || kind == RouteKind::OursTls
        || kind == RouteKind::OursNginx;
}

namespace {
QString g_logDirectory;
TlsFiles g_tlsFiles;

QString logDirectory()
{
    if (!g_logDirectory.isEmpty())
        return g_logDirectory;
    static QTemporaryDir temporary(QDir::tempPath() + QStringLiteral("/tow_bench-XXXXXX"));
    return temporary.path();
}
} // namespace

void Route::setLogDirectory(const QString &directory)
{
    g_logDirectory = directory;
}

void Route::setTlsFiles(const TlsFiles &files)
{
    g_tlsFiles = files;
}

std::pair<int, int> Route::nginxHandshakes() const
{
    QFile file(m_nginxAccessLog);
    if (m_nginxAccessLog.isEmpty() || !file.open(QIODevice::ReadOnly))
        return {0, 0};
    int handshakes = 0;
    int resumed = 0;
    for (const QByteArray &line : file.readAll().split('\n')) {
        // One line per connection (log_format "tls"): "<reused> <status>", reused "r" or ".".
        if (line.isEmpty())
            continue;
        ++handshakes;
        if (line.startsWith('r'))
            ++resumed;
    }
    return {handshakes, resumed};
}

QString Route::logTail(int lines) const
{
    QString tail;
    for (size_t i = 0; i < m_logFiles.size(); ++i) {
        QFile file(m_logFiles[i]);
        if (!file.open(QIODevice::ReadOnly) || !file.seek(m_logStarts[i]))
            continue;
        const QList<QByteArray> all = file.readAll().split('\n');
        tail += QStringLiteral("--- last lines of %1 (%2)\n").arg(m_labels[i], m_logFiles[i]);
        for (qsizetype line = std::max<qsizetype>(0, all.size() - lines - 1); line < all.size();
             ++line) {
            if (!all[line].isEmpty())
                tail += QString::fromLocal8Bit(all[line]) + QLatin1Char('\n');
        }
    }
    return tail;
}

bool Route::spawn(const QString &label, const QString &program, const QStringList &arguments,
                  uint16_t waitPort, QString *error, bool udp)
{
    auto process = std::make_unique<QProcess>();
    process->setProcessChannelMode(QProcess::ForwardedOutputChannel);
    QString logFile = logDirectory() + QLatin1Char('/') + label + QStringLiteral(".log");
    logFile.replace(QLatin1Char(' '), QLatin1Char('-'));
    process->setStandardErrorFile(logFile, QIODevice::Append);
    const qint64 logStart = QFileInfo(logFile).size();
    process->start(program, arguments);
    if (!process->waitForStarted(5000)) {
        *error = QStringLiteral("cannot start %1: %2").arg(program, process->errorString());
        return false;
    }
    m_processes.push_back(std::move(process));
    m_labels.push_back(label);
    m_logFiles.push_back(logFile);
    m_logStarts.push_back(logStart);
    QDeadlineTimer deadline(10000);
    while (!isListening(waitPort, m_processes.back()->processId(), udp)) {
        if (deadline.hasExpired() || m_processes.back()->state() != QProcess::Running) {
            *error = QStringLiteral("%1 did not listen on port %2\n%3")
                         .arg(label)
                         .arg(waitPort)
                         .arg(logTail(20));
            return false;
        }
        QThread::msleep(10);
    }
    return true;
}

bool Route::start(uint16_t targetPort, QString *error)
{
    for (int attempt = 1;; ++attempt) {
        if (startOnce(targetPort, error))
            return true;
        if (attempt == 3)
            return false;
        qWarning().noquote() << name() << "did not start, again on new ports:" << *error;
    }
}

bool Route::startOnce(uint16_t targetPort, QString *error)
{
    stop();
    const QString target = QStringLiteral("127.0.0.1:%1").arg(targetPort);
    switch (m_kind) {
    case RouteKind::Direct:
        m_entryPort = targetPort;
        return true;
    case RouteKind::Socat: {
        const uint16_t far = freePort();
        const uint16_t near = freePort();
        auto listen = [](uint16_t port) {
            return QStringLiteral(
                       "TCP-LISTEN:%1,bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay")
                .arg(port);
        };
        if (!spawn(QStringLiteral("socat (server side)"), QStringLiteral("socat"),
                   {listen(far), QStringLiteral("TCP:%1,nodelay").arg(target)}, far, error))
            return false;
        if (!spawn(QStringLiteral("socat (client side)"), QStringLiteral("socat"),
                   {listen(near), QStringLiteral("TCP:127.0.0.1:%1,nodelay").arg(far)}, near,
                   error))
            return false;
        m_entryPort = near;
        return true;
    }
    case RouteKind::SocatTls: {
        // The same two hops as Socat, the one between them TLS with the certificate ours uses,
        // verified by the client side against the CA (the name checked: localhost).
        const uint16_t far = freePort();
        const uint16_t near = freePort();
        if (!spawn(QStringLiteral("socat TLS (server side)"), QStringLiteral("socat"),
                   {QStringLiteral("OPENSSL-LISTEN:%1,bind=127.0.0.1,reuseaddr,fork,backlog=4096,"
                                   "nodelay,cert=%2,key=%3,verify=0")
                        .arg(far)
                        .arg(g_tlsFiles.certificateFile, g_tlsFiles.keyFile),
                    QStringLiteral("TCP:%1,nodelay").arg(target)},
                   far, error))
            return false;
        if (!spawn(
                QStringLiteral("socat TLS (client side)"), QStringLiteral("socat"),
                {QStringLiteral("TCP-LISTEN:%1,bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay")
                     .arg(near),
                 QStringLiteral("OPENSSL:127.0.0.1:%1,nodelay,verify=1,cafile=%2,"
                                "commonname=localhost")
                     .arg(far)
                     .arg(g_tlsFiles.caFile)},
                near, error))
            return false;
        m_entryPort = near;
        return true;
    }
    case RouteKind::Ours:
    case RouteKind::OursTls:
    case RouteKind::OursNginx:
    case RouteKind::Websockify: {
        const uint16_t wsPort = freePort();
        const uint16_t entryPort = freePort();
        // Every connection comes from 127.0.0.1: the benchmark measures capacity, not the
        // admission limits a public server sets.
        const Entry entry = m_kind == RouteKind::Ours ? m_entry : Entry::Forward;
        // A dynamic route allowing the target only (loopback needs an explicit entry).
        const QStringList destination = entry == Entry::Forward
            ? QStringList {QStringLiteral("-remote_tcp"), target}
            : QStringList {QStringLiteral("--allow-destination"),
                           (entry == Entry::Udp ? QStringLiteral("udp/") : QString()) + target};
        QStringList server {QStringLiteral("server"),
                            QStringLiteral("-listen_ws"),
                            QStringLiteral("127.0.0.1:%1").arg(wsPort),
                            QStringLiteral("--max-tunnels"),
                            QStringLiteral("0"),
                            QStringLiteral("--max-tunnels-per-ip"),
                            QStringLiteral("0")};
        server << destination;
        if (m_kind == RouteKind::OursTls)
            server << QStringLiteral("--tls-cert") << g_tlsFiles.certificateFile
                   << QStringLiteral("--tls-key") << g_tlsFiles.keyFile;
        QString url = QStringLiteral("ws://127.0.0.1:%1/").arg(wsPort);
        if (m_kind == RouteKind::OursTls)
            url = QStringLiteral("wss://127.0.0.1:%1/").arg(wsPort);
        if (m_kind != RouteKind::Websockify) {
            if (!spawn(QStringLiteral("server"), m_tow, server, wsPort, error))
                return false;
            if (m_kind == RouteKind::OursNginx) {
                const uint16_t nginxPort = freePort();
                if (!spawnNginx(nginxPort, wsPort, error))
                    return false;
                url = QStringLiteral("wss://127.0.0.1:%1/").arg(nginxPort);
            }
        } else if (!spawn(QStringLiteral("websockify"), QStringLiteral("websockify"),
                          {QStringLiteral("127.0.0.1:%1").arg(wsPort), target}, wsPort, error)) {
            return false;
        }
        const QString local = QStringLiteral("127.0.0.1:%1").arg(entryPort);
        QStringList client {QStringLiteral("client")};
        if (entry == Entry::Socks5)
            client << QStringLiteral("--socks5") << local;
        else if (entry == Entry::Udp)
            client << QStringLiteral("--udp") << local << QStringLiteral("--udp-remote") << target;
        else
            client << QStringLiteral("-listen_tcp") << local;
        client << QStringLiteral("-remote_ws") << url;
        // Verification stays on: the CA made at run time, the certificate's name.
        if (isTls(m_kind))
            client << QStringLiteral("--ca-file") << g_tlsFiles.caFile
                   << QStringLiteral("--server-name") << QStringLiteral("localhost");
        if (!spawn(QStringLiteral("client"), m_tow, client, entryPort, error, entry == Entry::Udp))
            return false;
        m_entryPort = entryPort;
        return true;
    }
    }
    return false;
}

bool Route::spawnNginx(uint16_t port, uint16_t upstreamPort, QString *error)
{
    // As the README's example: TLS ends at nginx, which forwards the upgrade to our server over
    // plain HTTP. One process (no master), as many connections as the workloads hold (two per
    // tunnel), a log line per connection saying whether its TLS session was resumed.
    const QString directory =
        logDirectory() + QStringLiteral("/nginx-%1").arg(QCoreApplication::applicationPid());
    QDir().mkpath(directory + QStringLiteral("/tmp"));
    m_nginxAccessLog = directory + QStringLiteral("/access-%1.log").arg(port);
    QFile::remove(m_nginxAccessLog);
    const QString text = QStringLiteral("daemon off;\n"
                                        "master_process off;\n"
                                        "worker_rlimit_nofile 65536;\n"
                                        "pid %1/nginx.pid;\n"
                                        "error_log %1/error.log warn;\n"
                                        "events { worker_connections 30000; }\n"
                                        "http {\n"
                                        "    log_format tls '$ssl_session_reused $status';\n"
                                        "    access_log %2 tls;\n"
                                        "    client_body_temp_path %1/tmp/body;\n"
                                        "    proxy_temp_path %1/tmp/proxy;\n"
                                        "    fastcgi_temp_path %1/tmp/fastcgi;\n"
                                        "    uwsgi_temp_path %1/tmp/uwsgi;\n"
                                        "    scgi_temp_path %1/tmp/scgi;\n"
                                        "    server {\n"
                                        "        listen 127.0.0.1:%3 ssl backlog=4096;\n"
                                        "        server_name localhost;\n"
                                        "        ssl_certificate %4;\n"
                                        "        ssl_certificate_key %5;\n"
                                        "        location / {\n"
                                        "            proxy_pass http://127.0.0.1:%6/;\n"
                                        "            proxy_http_version 1.1;\n"
                                        "            proxy_set_header Upgrade $http_upgrade;\n"
                                        "            proxy_set_header Connection \"upgrade\";\n"
                                        "            proxy_set_header Host $host;\n"
                                        "            proxy_read_timeout 3600s;\n"
                                        "            proxy_buffering off;\n"
                                        "            proxy_buffer_size 16k;\n"
                                        "            proxy_busy_buffers_size 16k;\n"
                                        "        }\n"
                                        "    }\n"
                                        "}\n")
                             .arg(directory, m_nginxAccessLog)
                             .arg(port)
                             .arg(g_tlsFiles.certificateFile, g_tlsFiles.keyFile)
                             .arg(upstreamPort);
    const QString configFile = directory + QStringLiteral("/nginx-%1.conf").arg(port);
    QFile file(configFile);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        *error = QStringLiteral("cannot write %1: %2").arg(configFile, file.errorString());
        return false;
    }
    file.write(text.toUtf8());
    file.close();
    QString nginx = QStandardPaths::findExecutable(QStringLiteral("nginx"));
    if (nginx.isEmpty())
        nginx = QStandardPaths::findExecutable(
            QStringLiteral("nginx"), {QStringLiteral("/usr/sbin"), QStringLiteral("/sbin")});
    if (nginx.isEmpty()) {
        *error = QStringLiteral("nginx is missing (scripts/install-deps.sh test)");
        return false;
    }
    return spawn(QStringLiteral("nginx"), nginx,
                 {QStringLiteral("-p"), directory, QStringLiteral("-c"), configFile,
                  QStringLiteral("-e"), directory + QStringLiteral("/error.log")},
                 port, error);
}

void Route::stop()
{
    for (auto &process : m_processes) {
        process->terminate();
        if (!process->waitForFinished(5000)) {
            process->kill();
            process->waitForFinished();
        }
    }
    m_processes.clear();
    m_labels.clear();
    m_logFiles.clear();
    m_logStarts.clear();
}

double machineBusySeconds()
{
    // "cpu  user nice system idle iowait irq softirq steal guest guest_nice", in clock ticks;
    // guest time is counted in user time already.
    const QByteArray stat = readProcFile(QStringLiteral("/proc/stat"));
    const QList<QByteArray> fields = stat.left(stat.indexOf('\n')).simplified().split(' ');
    if (fields.size() < 9 || fields[0] != "cpu")
        return 0;
    double busy = 0;
    for (const int field : {1, 2, 3, 6, 7})
        busy += fields[field].toDouble();
    return busy / double(sysconf(_SC_CLK_TCK));
}

std::vector<ProcessStats> Route::stats() const
{
    std::vector<ProcessStats> result;
    const double ticks = double(sysconf(_SC_CLK_TCK));
    for (const auto &process : m_processes) {
        ProcessStats stats;
        for (const qint64 pid : withChildren(process->processId())) {
            const QByteArray stat = readProcFile(QStringLiteral("/proc/%1/stat").arg(pid));
            const QList<QByteArray> fields = stat.mid(stat.lastIndexOf(')') + 2).split(' ');
            if (fields.size() > 14) {
                stats.userSeconds += (fields[11].toDouble() + fields[13].toDouble()) / ticks;
                stats.systemSeconds += (fields[12].toDouble() + fields[14].toDouble()) / ticks;
            }
            const QByteArray status = readProcFile(QStringLiteral("/proc/%1/status").arg(pid));
            stats.peakRssKb += statusKb(status, "VmHWM:");
            stats.rssKb += statusKb(status, "VmRSS:");
            stats.pssKb +=
                statusKb(readProcFile(QStringLiteral("/proc/%1/smaps_rollup").arg(pid)), "Pss:");
        }
        result.push_back(stats);
    }
    return result;
}

std::vector<QString> Route::processNames() const
{
    return m_labels;
}

} // namespace bench

#include "routes.h"

#include "endpoints.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
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
bool isListening(uint16_t port, qint64 pid)
{
    const QByteArray wanted =
        QByteArray(":") + QByteArray::number(port, 16).toUpper().rightJustified(4, '0');
    QList<QByteArray> inodes;
    for (const QByteArray &line : readProcFile(QStringLiteral("/proc/net/tcp")).split('\n')) {
        const QList<QByteArray> fields = line.simplified().split(' ');
        if (fields.size() > 9 && fields[1].endsWith(wanted) && fields[3] == "0A")
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
    }
    return QString();
}

namespace {
QString g_logDirectory;

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
                  uint16_t waitPort, QString *error)
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
    while (!isListening(waitPort, m_processes.back()->processId())) {
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
    case RouteKind::Ours:
    case RouteKind::Websockify: {
        const uint16_t wsPort = freePort();
        const uint16_t entry = freePort();
        if (m_kind == RouteKind::Ours) {
            if (!spawn(QStringLiteral("server"), m_tow,
                       {QStringLiteral("server"), QStringLiteral("-listen_ws"),
                        QStringLiteral("127.0.0.1:%1").arg(wsPort), QStringLiteral("-remote_tcp"),
                        target,
                        // Every connection comes from 127.0.0.1: the benchmark measures
                        // capacity, not the admission limits a public server sets.
                        QStringLiteral("--max-tunnels"), QStringLiteral("0"),
                        QStringLiteral("--max-tunnels-per-ip"), QStringLiteral("0")},
                       wsPort, error))
                return false;
        } else if (!spawn(QStringLiteral("websockify"), QStringLiteral("websockify"),
                          {QStringLiteral("127.0.0.1:%1").arg(wsPort), target}, wsPort, error)) {
            return false;
        }
        if (!spawn(QStringLiteral("client"), m_tow,
                   {QStringLiteral("client"), QStringLiteral("-listen_tcp"),
                    QStringLiteral("127.0.0.1:%1").arg(entry), QStringLiteral("-remote_ws"),
                    QStringLiteral("ws://127.0.0.1:%1/").arg(wsPort)},
                   entry, error))
            return false;
        m_entryPort = entry;
        return true;
    }
    }
    return false;
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

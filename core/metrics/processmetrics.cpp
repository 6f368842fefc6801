#include "processmetrics.h"

#include "metricsregistry.h"

#ifdef Q_OS_LINUX
#include <QDir>
#include <QFile>
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace ProcessMetrics {

void declare(MetricsRegistry &registry)
{
#ifdef Q_OS_LINUX
    using Type = MetricsRegistry::Type;
    registry.declare(QStringLiteral("process_cpu_seconds_total"), Type::Counter,
                     QStringLiteral("Total user and system CPU time spent in seconds."));
    registry.declare(QStringLiteral("process_open_fds"), Type::Gauge,
                     QStringLiteral("Number of open file descriptors."));
    registry.declare(QStringLiteral("process_max_fds"), Type::Gauge,
                     QStringLiteral("Maximum number of open file descriptors."));
    registry.declare(QStringLiteral("process_virtual_memory_bytes"), Type::Gauge,
                     QStringLiteral("Virtual memory size in bytes."));
    registry.declare(QStringLiteral("process_resident_memory_bytes"), Type::Gauge,
                     QStringLiteral("Resident memory size in bytes."));
    registry.declare(QStringLiteral("process_start_time_seconds"), Type::Gauge,
                     QStringLiteral("Start time of the process since unix epoch in seconds."));
#else
    Q_UNUSED(registry)
#endif
}

void update(MetricsRegistry &registry)
{
#ifdef Q_OS_LINUX
    const double ticksPerSecond = double(sysconf(_SC_CLK_TCK));
    const double pageBytes = double(sysconf(_SC_PAGESIZE));

    QFile statFile(QStringLiteral("/proc/self/stat"));
    if (statFile.open(QIODevice::ReadOnly)) {
        const QByteArray stat = statFile.readAll();
        // Field 2 (comm) may contain spaces; the fields we need follow its closing ')'.
        const qsizetype end = stat.lastIndexOf(')');
        const QList<QByteArray> fields = stat.mid(end + 2).split(' ');
        // fields[0] is field 3 (state): utime = 14, stime = 15, starttime = 22, vsize = 23 (in
        // bytes), rss = 24 (in pages); proc(5).
        if (fields.size() > 21) {
            const double utime = fields[11].toDouble();
            const double stime = fields[12].toDouble();
            registry.set(QStringLiteral("process_cpu_seconds_total"),
                         (utime + stime) / ticksPerSecond);
            registry.set(QStringLiteral("process_virtual_memory_bytes"), fields[20].toDouble());
            registry.set(QStringLiteral("process_resident_memory_bytes"),
                         fields[21].toDouble() * pageBytes);
            static double startTime = -1;
            if (startTime < 0) {
                QFile procStat(QStringLiteral("/proc/stat"));
                double bootTime = 0;
                if (procStat.open(QIODevice::ReadOnly)) {
                    for (const QByteArray &line : procStat.readAll().split('\n')) {
                        if (line.startsWith("btime "))
                            bootTime = line.mid(6).trimmed().toDouble();
                    }
                }
                startTime = bootTime + fields[19].toDouble() / ticksPerSecond;
            }
            registry.set(QStringLiteral("process_start_time_seconds"), startTime);
        }
    }
    const QDir fds(QStringLiteral("/proc/self/fd"));
    registry.set(QStringLiteral("process_open_fds"),
                 double(fds.entryList(QDir::Files | QDir::System | QDir::NoDotAndDotDot).size()));
    // The soft limit, which the client libraries read from /proc/self/limits ("Max open files");
    // it can change at run time (the program raises it at start), so it is read per scrape.
    struct rlimit limit = {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
        registry.set(QStringLiteral("process_max_fds"), double(limit.rlim_cur));
#else
    Q_UNUSED(registry)
#endif
}

} // namespace ProcessMetrics

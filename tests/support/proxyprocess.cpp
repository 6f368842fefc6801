#include "proxyprocess.h"

#include "loopbackport.h"
#include "processready.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>

namespace {

QString findProgram(const QString &name)
{
    const QString found = QStandardPaths::findExecutable(name);
    return found.isEmpty() ? QStandardPaths::findExecutable(
               name, {QStringLiteral("/usr/bin"), QStringLiteral("/usr/sbin")})
                           : found;
}

} // namespace

ProxyProcess::ProxyProcess()
{
    m_process.setProcessChannelMode(QProcess::MergedChannels);
}

ProxyProcess::~ProxyProcess()
{
    stop();
}

QString ProxyProcess::log()
{
    m_output += QString::fromLocal8Bit(m_process.readAll());
    if (m_kind == Kind::Socks5)
        return m_output;
    QFile file(QDir(m_directory.path()).filePath(QStringLiteral("tinyproxy.log")));
    if (!file.open(QIODevice::ReadOnly))
        return m_output;
    return m_output + QString::fromUtf8(file.readAll());
}

bool ProxyProcess::start(Kind kind, const QString &user, const QString &password, QString *error)
{
    m_kind = kind;
    const QString name =
        kind == Kind::HttpConnect ? QStringLiteral("tinyproxy") : QStringLiteral("microsocks");
    const QString program = findProgram(name);
    if (program.isEmpty()) {
        *error = QStringLiteral("%1 not found: install the Debian package %1 "
                                "(scripts/install-deps.sh build test)")
                     .arg(name);
        return false;
    }
    const QDir dir(m_directory.path());
    // Both need a number for their port. Should a program outside the tests have taken it all the
    // same, the proxy does not start: then another one.
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = reserveLoopbackPort();
        QStringList arguments;
        if (kind == Kind::HttpConnect) {
            QFile config(dir.filePath(QStringLiteral("tinyproxy.conf")));
            if (!config.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
                *error = config.errorString();
                return false;
            }
            // No ConnectPort line: CONNECT to any port (our server's port is chosen at run time).
            config.write(QStringLiteral("Port %1\n"
                                        "Listen 127.0.0.1\n"
                                        "Timeout 600\n"
                                        "LogLevel Info\n"
                                        "PidFile \"%2/tinyproxy.pid\"\n"
                                        "LogFile \"%2/tinyproxy.log\"\n"
                                        "MaxClients 100\n"
                                        "Allow 127.0.0.1\n"
                                        "BasicAuth %3 %4\n")
                             .arg(m_port)
                             .arg(dir.path(), user, password)
                             .toUtf8());
            config.close();
            arguments = {QStringLiteral("-d"), QStringLiteral("-c"), config.fileName()};
        } else {
            arguments = {QStringLiteral("-i"), QStringLiteral("127.0.0.1"),
                         QStringLiteral("-p"), QString::number(m_port),
                         QStringLiteral("-u"), user,
                         QStringLiteral("-P"), password};
        }
        m_process.start(program, arguments);
        if (!m_process.waitForStarted(10000)) {
            *error = QStringLiteral("cannot start %1: %2").arg(name, m_process.errorString());
            return false;
        }
        if (waitUntilAccepting(m_process, m_port))
            return true;
        stop();
    }
    *error = QStringLiteral("%1 did not start: %2").arg(name, log());
    return false;
}

void ProxyProcess::stop()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(10000)) {
        m_process.kill();
        m_process.waitForFinished(5000);
    }
    m_output += QString::fromLocal8Bit(m_process.readAll());
}

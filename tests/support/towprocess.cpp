#include "towprocess.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QTest>

TowProcess::TowProcess()
{
    m_process.setProgram(executable());
    m_process.setProcessChannelMode(QProcess::SeparateChannels);
}

TowProcess::~TowProcess()
{
    if (m_process.state() != QProcess::NotRunning)
        stop();
    // A failed test shows what the process said: usually the quickest way to the cause.
    if (QTest::currentTestFailed()) {
        // Every warning, then the end of the log (a busy test logs thousands of tunnel lines).
        const QStringList lines = log().split(QLatin1Char('\n'));
        QStringList shown;
        for (const QString &line : lines) {
            if (!line.contains(QLatin1String(" info ")))
                shown.append(line);
        }
        shown.append(QStringLiteral("... last lines:"));
        shown += lines.mid(qMax(0, int(lines.size()) - 20));
        qWarning().noquote() << "log of" << m_process.arguments().join(QLatin1Char(' ')) << "("
                             << lines.size() << "lines):\n"
                             << shown.join(QLatin1Char('\n'));
        QFile file(QDir::temp().filePath(
            QStringLiteral("tow-failed-%1.log").arg(QCoreApplication::applicationPid())));
        if (file.open(QIODevice::Append))
            file.write(m_log.toUtf8());
    }
}

QString TowProcess::executable()
{
    return QStringLiteral(TOW_EXECUTABLE);
}

bool TowProcess::start(const QStringList &arguments, int timeoutMs)
{
    m_process.setArguments(arguments);
    m_process.start();
    if (!m_process.waitForStarted(timeoutMs))
        return false;
    static const QRegularExpression listening(QStringLiteral("listening on \\S*:(\\d+)"));
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        const auto match = listening.match(log());
        if (match.hasMatch()) {
            m_port = quint16(match.captured(1).toUInt());
            return true;
        }
        if (m_process.state() == QProcess::NotRunning)
            return false;
        m_process.waitForReadyRead(50);
    }
    return false;
}

QString TowProcess::log()
{
    m_log += QString::fromUtf8(m_process.readAllStandardError());
    return m_log;
}

int TowProcess::stop(int timeoutMs)
{
    if (m_process.state() == QProcess::NotRunning) {
        log();
        return m_process.exitCode();
    }
    m_process.terminate();
    if (!m_process.waitForFinished(timeoutMs)) {
        m_process.kill();
        m_process.waitForFinished();
        log();
        return -1;
    }
    log();
    return m_process.exitStatus() == QProcess::NormalExit ? m_process.exitCode() : -1;
}

ProcessResult runTow(const QStringList &arguments, int timeoutMs)
{
    QProcess process;
    process.start(TowProcess::executable(), arguments);
    ProcessResult result;
    if (!process.waitForFinished(timeoutMs)) {
        process.kill();
        process.waitForFinished();
        result.standardError = QStringLiteral("<timed out>");
        return result;
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.standardOutput = QString::fromUtf8(process.readAllStandardOutput());
    result.standardError = QString::fromUtf8(process.readAllStandardError());
    return result;
}

qint64 TowProcess::statusBytes(const QByteArray &field) const
{
    QFile status(QStringLiteral("/proc/%1/status").arg(m_process.processId()));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith(QByteArray(field + ':')))
            return line.mid(field.size() + 1).trimmed().split(' ').value(0).toLongLong() * 1024;
    }
    return -1;
}

// Runs our tcp-over-websocket executable as a real process for integration tests: starts it,
// learns the port it listens on from its log, collects its stderr, stops it.
#pragma once

#include <QProcess>
#include <QString>
#include <QStringList>

class TowProcess
{
public:
    TowProcess();
    ~TowProcess();

    // Starts the program and waits until it logs "listening on HOST:PORT". Returns false (with
    // the log available through log()) if it exits or does not listen within the timeout.
    bool start(const QStringList &arguments, int timeoutMs = 10000);

    quint16 port() const { return m_port; }
    QString log(); // everything written to stderr so far
    QProcess &process() { return m_process; }

    // Resident memory of the running process from /proc/PID/status (Linux): now (VmRSS) and
    // its peak so far (VmHWM). -1 if unknown.
    qint64 residentBytes() const { return statusBytes("VmRSS"); }
    qint64 peakResidentBytes() const { return statusBytes("VmHWM"); }

    // SIGTERM, then wait; returns the exit code (or -1 when it had to be killed).
    int stop(int timeoutMs = 10000);

    static QString executable();

private:
    qint64 statusBytes(const QByteArray &field) const;

    QProcess m_process;
    QString m_log;
    quint16 m_port = 0;
};

// Runs the program to completion (for flag and exit-code tests).
struct ProcessResult
{
    int exitCode = -1;
    QString standardOutput;
    QString standardError;
};
ProcessResult runTow(const QStringList &arguments, int timeoutMs = 10000);

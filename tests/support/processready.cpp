#include "processready.h"

#include <QDeadlineTimer>
#include <QTcpSocket>

bool waitUntilAccepting(QProcess &process, quint16 port, int timeoutMs)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired() && process.state() == QProcess::Running) {
        QTcpSocket probe;
        probe.connectToHost(QHostAddress::LocalHost, port);
        if (probe.waitForConnected(500))
            return true;
        process.waitForFinished(100);
    }
    return false;
}

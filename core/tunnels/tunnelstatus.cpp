#include "tunnelstatus.h"

QString TunnelStatus::stateText() const
{
    switch (state) {
    case State::Stopped:
        return QStringLiteral("Stopped");
    case State::Listening:
        if (!serverProblem.isEmpty())
            return QStringLiteral("Listening — %1").arg(serverProblem);
        return serverFailing ? QStringLiteral("Listening, server unreachable")
                             : QStringLiteral("Listening");
    case State::Active:
        return connections == 1 ? QStringLiteral("Active: 1 connection")
                                : QStringLiteral("Active: %1 connections").arg(connections);
    case State::Error:
        return QStringLiteral("Error: %1").arg(lastError);
    }
    return QString();
}

QString TunnelStatus::rateText(double bytesPerSecond)
{
    if (bytesPerSecond < 1000)
        return QStringLiteral("%1 B/s").arg(qRound(bytesPerSecond));
    if (bytesPerSecond < 1000 * 1000)
        return QStringLiteral("%1 kB/s").arg(bytesPerSecond / 1000, 0, 'f', 1);
    return QStringLiteral("%1 MB/s").arg(bytesPerSecond / (1000 * 1000), 0, 'f', 1);
}

#include "tunnelstatus.h"

#include <limits>

QString TunnelStatus::stateText() const
{
    switch (state) {
    case State::Stopped:
        return tr("Stopped");
    case State::Listening:
        if (!serverProblem.isEmpty())
            return tr("Listening — %1").arg(serverProblem);
        return serverFailing ? tr("Listening, server unreachable") : tr("Listening");
    case State::Active:
        return tr("Active: %n connection(s)", nullptr, connections);
    case State::Error:
        return tr("Error: %1").arg(lastError);
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

QString TunnelStatus::droppedText() const
{
    if (datagramsDropped() == 0)
        return tr("none");
    return tr("%n datagram(s): ", nullptr,
              int(qMin<qint64>(datagramsDropped(), std::numeric_limits<int>::max())))
        + tr("%1 while the server was unreachable, %2 with a full queue, %3 too big")
              .arg(droppedBackingOff)
              .arg(droppedQueueFull)
              .arg(droppedTooBig);
}

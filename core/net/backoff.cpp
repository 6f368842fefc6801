#include "backoff.h"

#include <QtGlobal>

Backoff::Backoff(int firstPauseMs, int maxPauseMs)
{
    setPauses(firstPauseMs, maxPauseMs);
}

void Backoff::setPauses(int firstPauseMs, int maxPauseMs)
{
    m_firstPauseMs = qMax(0, firstPauseMs);
    m_maxPauseMs = qMax(m_firstPauseMs, maxPauseMs);
    m_nextPauseMs = m_firstPauseMs;
}

int Backoff::failed()
{
    if (m_episodeFailures++ == 0)
        m_episode.start();
    const int pauseMs = m_nextPauseMs;
    m_nextPauseMs = int(qMin<qint64>(2 * qint64(qMax(1, m_nextPauseMs)), m_maxPauseMs));
    return pauseMs;
}

int Backoff::succeeded()
{
    m_nextPauseMs = m_firstPauseMs;
    const int failures = m_episodeFailures;
    m_episodeFailures = 0;
    return failures;
}

// Pauses between attempts that keep failing: each failure doubles the pause up to a cap, a
// success starts over; and the episode they belong to (failures since the last success, since
// when), so that its owner logs an outage once when it starts and once when it ends.
#pragma once

#include <QElapsedTimer>

class Backoff
{
public:
    Backoff(int firstPauseMs, int maxPauseMs);

    // Sets the pauses (e.g. for tests); the next failure pauses firstPauseMs.
    void setPauses(int firstPauseMs, int maxPauseMs);
    int firstPauseMs() const { return m_firstPauseMs; }
    int maxPauseMs() const { return m_maxPauseMs; }

    // An attempt failed: returns how long to wait before the next one. The first failure after
    // a success starts an episode (episodeFailures() is then 1).
    int failed();
    // An attempt worked: the next failure pauses firstPauseMs again and starts a new episode.
    // Returns how many attempts the episode that ends had failed (0: there was none).
    int succeeded();

    int episodeFailures() const { return m_episodeFailures; }
    qint64 episodeElapsedMs() const { return m_episodeFailures > 0 ? m_episode.elapsed() : 0; }

private:
    int m_firstPauseMs;
    int m_maxPauseMs;
    int m_nextPauseMs;
    int m_episodeFailures = 0; // failed attempts since one last worked
    QElapsedTimer m_episode;
};

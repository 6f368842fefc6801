// Bounds how many lines one kind of event logs: at most a burst per window of time; what is
// left out is counted, and the count is logged once the flood is over, so a client that sends
// thousands of refused requests cannot flood the journal while every refusal is still counted
// in /metrics.
#pragma once

#include <QtGlobal>

class LogThrottle
{
public:
    LogThrottle(int linesPerWindow, qint64 windowMs);

    // True when an event at nowMs may log its line. *suppressed gets the number of events left
    // out before it, to be mentioned with that line (0 mostly).
    bool allow(qint64 nowMs, int *suppressed);

    // Events left out in a window that has ended, once (0 when none or the window still runs):
    // for a periodic check, so the count is told even if no event comes after the flood.
    int takeSuppressed(qint64 nowMs);

    int linesPerWindow() const { return m_linesPerWindow; }
    qint64 windowMs() const { return m_windowMs; }

private:
    void advance(qint64 nowMs);

    int m_linesPerWindow;
    qint64 m_windowMs;
    qint64 m_windowStartMs = 0;
    bool m_started = false;
    int m_linesInWindow = 0;
    int m_suppressed = 0;
};

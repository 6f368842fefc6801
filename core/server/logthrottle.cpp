#include "logthrottle.h"

LogThrottle::LogThrottle(int linesPerWindow, qint64 windowMs)
    : m_linesPerWindow(linesPerWindow), m_windowMs(windowMs)
{
}

void LogThrottle::advance(qint64 nowMs)
{
    if (!m_started || nowMs - m_windowStartMs >= m_windowMs) {
        m_started = true;
        m_windowStartMs = nowMs;
        m_linesInWindow = 0;
    }
}

bool LogThrottle::allow(qint64 nowMs, int *suppressed)
{
    advance(nowMs);
    *suppressed = 0;
    if (m_linesInWindow >= m_linesPerWindow) {
        ++m_suppressed;
        return false;
    }
    ++m_linesInWindow;
    *suppressed = m_suppressed;
    m_suppressed = 0;
    return true;
}

int LogThrottle::takeSuppressed(qint64 nowMs)
{
    if (m_suppressed == 0 || nowMs - m_windowStartMs < m_windowMs)
        return 0;
    const int suppressed = m_suppressed;
    m_suppressed = 0;
    return suppressed;
}

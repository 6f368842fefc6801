#include "pingkeepalive.h"

#include "logcategories.h"
#include "relay/relay.h"

#include <QAbstractSocket>
#include <QWebSocket>

PingKeepAlive::PingKeepAlive(QWebSocket *ws, Relay *relay, int intervalMs, int pongTimeoutMs,
                             const QString &description)
    : QObject(ws), m_ws(ws), m_relay(relay), m_description(description)
{
    m_interval.setInterval(intervalMs);
    m_deadline.setSingleShot(true);
    m_deadline.setInterval(pongTimeoutMs);
    connect(&m_interval, &QTimer::timeout, this, &PingKeepAlive::sendPing);
    connect(relay, &Relay::pongReceived, this, [this] { m_deadline.stop(); });
    connect(relay, &Relay::wsFramesReceived, this, [this] { m_sinceFrame.restart(); });
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        // While the relay holds back reading (a slow local peer), a pong may sit unread behind
        // data: the server is not to blame.
        if (m_relay && m_relay->isWsReadingPaused()) {
            m_deadline.start();
            return;
        }
        qCWarning(lcClient).noquote() << m_description << "- no pong within"
                                      << m_deadline.interval() / 1000.0 << "s: closing the tunnel";
        m_interval.stop();
        Q_EMIT timedOut();
        if (m_ws)
            m_ws->abort();
    });
    connect(ws, &QWebSocket::disconnected, this, [this] {
        m_interval.stop();
        m_deadline.stop();
    });
    m_interval.start();
}

void PingKeepAlive::sendPing()
{
    if (!m_ws || m_ws->state() != QAbstractSocket::ConnectedState)
        return;
    // Frames arriving prove the server alive. And a ping sent to a server that has already
    // closed behind its last bytes makes its kernel answer with a reset, which makes ours
    // discard what we have not read yet.
    if (m_sinceFrame.isValid() && !m_sinceFrame.hasExpired(m_interval.interval()))
        return;
    m_ws->ping();
    if (!m_deadline.isActive())
        m_deadline.start();
}

// A listening QTcpServer that survives running out of descriptors: when accepting fails
// (EMFILE, ENFILE, no memory) it stops accepting for a while, longer each time, instead of
// retrying in a busy loop, logs the episode once and counts every failed attempt.
#pragma once

#include "backoff.h"
#include "hostport.h"

#include <QLoggingCategory>
#include <QTcpServer>
#include <QTimer>

class QSocketNotifier;

class BackoffTcpServer : public QTcpServer
{
    Q_OBJECT
public:
    // The pause after a failed accept: doubles while accepting keeps failing.
    static constexpr int kFirstPauseMs = 100;
    static constexpr int kMaxPauseMs = 1000;

    using LogCategory = const QLoggingCategory &(*)();

    // category: where an episode is logged (a warning when it starts, a line when it ends).
    explicit BackoffTcpServer(LogCategory category, QObject *parent = nullptr);
    ~BackoffTcpServer() override;

    // Listens on address (see TcpListen::listen) and starts accepting.
    bool listenOn(const HostPort &address, QString *error);
    // Closes the listening socket. Use this rather than close(), which would leave the accepting
    // descriptor open.
    void stopListening();

    qint64 failedAccepts() const { return m_failedAccepts; }
    // Whether accepted sockets come with no delay and keep-alive with its timing already,
    // inherited from the listening socket (Linux; see TcpKeepAlive::enableForAccepted()).
    bool acceptedSocketsTuned() const { return m_acceptedSocketsTuned; }

    // QTcpServer's, leaving QTcpServer's own accepting switched off (see listenOn()).
    QTcpSocket *nextPendingConnection() override;

Q_SIGNALS:
    // An accept() failed for want of resources; accepting pauses for pauseMs.
    void acceptFailed(const QString &reason, int pauseMs);

private:
    void acceptPending();
    void accepted();
    void failed(int errorNumber);
    void resume();

    LogCategory m_category;
    QSocketNotifier *m_notifier = nullptr;
    qintptr m_descriptor = -1;
    QTimer m_resumeTimer;
    Backoff m_backoff {kFirstPauseMs, kMaxPauseMs};
    qint64 m_failedAccepts = 0;
    bool m_acceptedSocketsTuned = false;
};

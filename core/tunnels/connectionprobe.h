// A one-off check of a profile's server: opens a WebSocket to its URL and reports whether the
// upgrade succeeded, for the tunnels window's "Test" button.
#pragma once

#include "profiles/profile.h"

#include <QObject>
#include <QPointer>

class QWebSocket;

class ConnectionProbe : public QObject
{
    Q_OBJECT
public:
    static constexpr int kTimeoutMs = 15000;

    explicit ConnectionProbe(QObject *parent = nullptr);
    ~ConnectionProbe() override;

    // Starts the check; finished() follows exactly once (also for an invalid profile).
    void start(const Profile &profile);

Q_SIGNALS:
    void finished(bool ok, const QString &message);

private:
    void finish(bool ok, const QString &message);

    QPointer<QWebSocket> m_socket;
    bool m_done = false;
};

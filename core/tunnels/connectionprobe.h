// The tunnels window's "Test" button for a saved profile: runs the core ConnectionCheck with the
// profile's exact client options (proxy, TLS CA and pins, headers, token) and reports one
// verdict with the step-by-step diagnosis as text.
#pragma once

#include "profiles/profile.h"

#include <QObject>
#include <QPointer>

class ConnectionCheck;

class ConnectionProbe : public QObject
{
    Q_OBJECT
public:
    explicit ConnectionProbe(QObject *parent = nullptr);
    ~ConnectionProbe() override;

    // Starts the check; finished() follows exactly once (also for an invalid profile).
    void start(const Profile &profile);

Q_SIGNALS:
    // message: one line per step ("[ok] TLS: ..."), the failing step's explanation included.
    void finished(bool ok, const QString &message);

private:
    void finish(bool ok, const QString &message);

    QPointer<ConnectionCheck> m_check;
    bool m_done = false;
};

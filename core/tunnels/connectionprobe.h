// The tunnels window's "Test" button for a saved profile: runs the core ConnectionCheck with the
// profile's exact client options (proxy, TLS CA and pins, headers, token) and reports one
// verdict with the step-by-step diagnosis as text.
#pragma once

#include "profiles/profile.h"

#include <QObject>
#include <QPointer>
#include <functional>

class ConnectionCheck;

class ConnectionProbe : public QObject
{
    Q_OBJECT
public:
    explicit ConnectionProbe(QObject *parent = nullptr);
    ~ConnectionProbe() override;

    // Starts the check; finished() follows exactly once (also for an invalid profile).
    void start(const Profile &profile);

    // Checks profile with a probe that lives under context (destroying context ends the check
    // early) and calls done(ok, message) once, then deletes the probe. The tray app's "Test" hook.
    static void run(const Profile &profile, QObject *context,
                    std::function<void(bool, const QString &)> done);

Q_SIGNALS:
    // message: one line per step ("[ok] TLS: ..."), the failing step's explanation included.
    void finished(bool ok, const QString &message);

private:
    void finish(bool ok, const QString &message);

    QPointer<ConnectionCheck> m_check;
    bool m_done = false;
};

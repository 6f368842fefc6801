// Turns SIGINT/SIGTERM/SIGHUP into Qt signals delivered on the event loop (self-pipe), so the
// program can drain its tunnels instead of dying mid-transfer, and reload its configuration.
#pragma once

#include <QObject>

class QSocketNotifier;

class UnixSignals : public QObject
{
    Q_OBJECT
public:
    explicit UnixSignals(QObject *parent = nullptr);
    ~UnixSignals() override;

Q_SIGNALS:
    void terminationRequested(int signalNumber);
    void reloadRequested();

private:
    QSocketNotifier *m_notifier = nullptr;
};

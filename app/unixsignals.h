// Turns SIGINT/SIGTERM into a Qt signal delivered on the event loop (self-pipe), so the program
// can shut its tunnels down cleanly instead of dying mid-transfer.
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

private:
    QSocketNotifier *m_notifier = nullptr;
};

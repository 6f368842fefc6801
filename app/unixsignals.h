// Turns SIGINT/SIGTERM/SIGHUP into Qt signals delivered on the event loop (self-pipe), so the
// program can drain its tunnels instead of dying mid-transfer, and reload its configuration.
// On Windows, which has no such signals, Ctrl+C and Ctrl+Break in the console and the WM_CLOSE
// message of QProcess::terminate() request termination the same way; nothing requests a reload.
#pragma once

#include <QObject>
#include <memory>

class QAbstractNativeEventFilter;
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
    std::unique_ptr<QAbstractNativeEventFilter> m_closeFilter; // Windows
};

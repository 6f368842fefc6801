// What the tunnel manager knows about one tunnel: its state, connections, bytes and rates.
#pragma once

#include <QCoreApplication>
#include <QString>
#include <QtGlobal>

struct TunnelStatus
{
    // stateText() is shown in the tray app, in the words of its translation (Translations).
    Q_DECLARE_TR_FUNCTIONS(TunnelStatus)

public:
    enum class State { Stopped, Listening, Active, Error };

    State state = State::Stopped;
    int connections = 0; // local connections being carried now
    QString listenAddress; // where it actually listens, while it runs
    qint64 bytesUp = 0; // local -> server, since the tunnel started
    qint64 bytesDown = 0;
    double upBytesPerSecond = 0; // over the last sampling interval
    double downBytesPerSecond = 0;
    QString lastError; // why it stopped (State::Error) or why the last connection failed
    bool serverFailing = false; // running, but the last connection to the server failed
    // running, and the server was reached but answered wrongly (e.g. HTTP 404 at the URL's path),
    // by a connection or by the check run at start; empty otherwise
    QString serverProblem;
    // A UDP tunnel's datagrams dropped on this side since it started (UdpForwarder::Drops): of
    // new flows while the server was not tried again after a failure, with a full queue, and
    // from the server too big for a datagram.
    qint64 droppedBackingOff = 0;
    qint64 droppedQueueFull = 0;
    qint64 droppedTooBig = 0;

    bool isRunning() const { return state == State::Listening || state == State::Active; }

    // "Listening", "Listening — HTTP 404 ...", "Active: 3 connections", "Error: ..."
    QString stateText() const;
    static QString rateText(double bytesPerSecond); // "1.2 MB/s"
    qint64 datagramsDropped() const { return droppedBackingOff + droppedQueueFull + droppedTooBig; }
    // "none", or "12 datagrams: 10 while the server was unreachable, 2 with a full queue, 0 too
    // big"
    QString droppedText() const;
};

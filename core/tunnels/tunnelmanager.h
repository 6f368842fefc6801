// Runs any number of client tunnels, one per profile (a port forward, a SOCKS5 proxy or a UDP
// forwarder, by the profile's kind), and reports each one's state, connections, bytes and rates,
// for the tray app and the headless `client --profile`.
#pragma once

#include "client/socks5listener.h"
#include "profiles/profile.h"
#include "tunnelstatus.h"

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QTimer>
#include <map>
#include <memory>

class ClientTunnel;
class UdpForwarder;

class TunnelManager : public QObject
{
    Q_OBJECT
public:
    static constexpr int kSampleIntervalMs = 1000;
    static constexpr int kHistorySamples = 120; // two minutes of rates per tunnel

    struct RateSample
    {
        double upBytesPerSecond = 0;
        double downBytesPerSecond = 0;
    };

    explicit TunnelManager(QObject *parent = nullptr);
    ~TunnelManager() override;

    // Starts the profile's tunnel (restarts it if it runs). On failure the tunnel is in
    // State::Error with the reason, tunnelFailed() is emitted, and false is returned.
    bool start(const Profile &profile);
    void stop(const QString &name);
    void stopAll();
    // A profile was deleted or renamed: its tunnel stops and its status goes or moves.
    void forget(const QString &name);
    void rename(const QString &name, const QString &newName);

    bool isRunning(const QString &name) const;
    TunnelStatus status(const QString &name) const;
    QStringList runningNames() const;
    QList<RateSample> history(const QString &name) const; // oldest first, bounded
    // A running SOCKS5 tunnel's open destinations ("host:port" as the SOCKS client named it);
    // empty for other kinds and stopped tunnels.
    QHash<QString, Socks5Listener::DestinationCount> destinations(const QString &name) const;

    // The result of the connection check run when the tunnel started (the tray app runs one):
    // a failure marks a running tunnel as failing with the problem (problem: one line, e.g.
    // "HTTP upgrade: HTTP 404 Not Found: nothing answers at the path /nope/ ..."), as a failed
    // connection would; success clears it. Ignored when the tunnel no longer runs.
    void reportServerCheck(const QString &name, bool ok, const QString &problem);

Q_SIGNALS:
    void statusChanged(const QString &name);
    // A SOCKS5 tunnel's destinations() changed (opened, closed, bytes moved).
    void destinationsChanged(const QString &name);
    // The tunnel could not start, or the server could not be reached (once per outage).
    void tunnelFailed(const QString &name, const QString &reason);

private:
    struct Entry
    {
        // What runs: a ClientTunnel, Socks5Listener or UdpForwarder (the profile's kind).
        std::unique_ptr<QObject> tunnel;
        Socks5Listener *socks5 = nullptr; // tunnel, when it is a SOCKS5 proxy
        quint16 localPort = 0;
        bool udp = false;
        TunnelStatus status;
        qint64 bytesUpAtSample = 0;
        qint64 bytesDownAtSample = 0;
        qint64 droppedAtSample = 0; // datagrams dropped, when statusChanged() last said so
        QList<RateSample> history;
    };

    void sample();
    void setConnections(const QString &name, int count);
    void onTransferred(const QString &name, qint64 up, qint64 down);
    void onConnectionFailed(const QString &name, const QString &reason, int httpStatus);
    // "the port is already in use" (naming the profile of ours that holds it) plus which nearby
    // port is free.
    QString explainListenError(const QString &error, const QString &listen, bool udp) const;
    template<typename Source>
    void wire(Source *source, QObject *engine);

    std::map<QString, Entry> m_entries; // not QHash: Entry is move-only
    QTimer m_sampleTimer;
    QElapsedTimer m_sinceSample;
};

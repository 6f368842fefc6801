#include "tunnelmanager.h"

#include "client/clienttunnel.h"
#include "client/udpforwarder.h"
#include "logcategories.h"
#include "net/hostport.h"

#include <QTcpServer>
#include <QUdpSocket>

namespace {
// How far above a busy port we look for a free one to suggest.
constexpr int kPortSuggestionRange = 20;
} // namespace

TunnelManager::TunnelManager(QObject *parent) : QObject(parent)
{
    m_sampleTimer.setInterval(kSampleIntervalMs);
    connect(&m_sampleTimer, &QTimer::timeout, this, &TunnelManager::sample);
}

TunnelManager::~TunnelManager() = default;

bool TunnelManager::start(const Profile &profile)
{
    stop(profile.name);
    Entry &entry = m_entries[profile.name];
    entry.status = TunnelStatus();
    entry.bytesUpAtSample = 0;
    entry.bytesDownAtSample = 0;
    entry.droppedAtSample = 0;

    auto fail = [&](const QString &reason) {
        entry.status.state = TunnelStatus::State::Error;
        entry.status.lastError = reason;
        qCWarning(lcClient).noquote() << "profile" << profile.name << "cannot start:" << reason;
        Q_EMIT statusChanged(profile.name);
        Q_EMIT tunnelFailed(profile.name, reason);
        return false;
    };

    const QString problem = profile.validate();
    if (!problem.isEmpty())
        return fail(problem);
    QString error;
    const auto options = profile.toClientOptions(&error);
    if (!options)
        return fail(error);
    std::unique_ptr<QObject> tunnel;
    QHostAddress address;
    quint16 port = 0;
    Socks5Listener *socks5 = nullptr;
    switch (profile.kind) {
    case Profile::Kind::Forward: {
        auto forward = std::make_unique<ClientTunnel>(*options);
        if (!forward->listen(&error))
            return fail(explainListenError(error, profile.listen, false));
        wire(forward.get(), forward.get());
        address = forward->serverAddress();
        port = forward->serverPort();
        tunnel = std::move(forward);
        break;
    }
    case Profile::Kind::Socks5: {
        auto proxy = std::make_unique<Socks5Listener>(*options);
        if (!proxy->listen(&error))
            return fail(explainListenError(error, profile.listen, false));
        // Its connections run through the ClientTunnel it shares with port forwards.
        wire(proxy->tunnel(), proxy.get());
        socks5 = proxy.get();
        connect(socks5, &Socks5Listener::destinationsChanged, this, [this, socks5] {
            for (auto it = m_entries.cbegin(); it != m_entries.cend(); ++it) {
                if (it->second.socks5 == socks5) {
                    Q_EMIT destinationsChanged(it->first);
                    return;
                }
            }
        });
        address = proxy->serverAddress();
        port = proxy->serverPort();
        tunnel = std::move(proxy);
        break;
    }
    case Profile::Kind::Udp: {
        auto forwarder = std::make_unique<UdpForwarder>(*options);
        if (!forwarder->listen(&error))
            return fail(explainListenError(error, profile.listen, true));
        wire(forwarder.get(), forwarder.get());
        // Drops may come with every datagram: counted now, told with the next sample.
        UdpForwarder *udp = forwarder.get();
        connect(udp, &UdpForwarder::datagramsDropped, this, [this, udp] {
            for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
                if (it->second.tunnel.get() == udp) {
                    const UdpForwarder::Drops drops = udp->drops();
                    it->second.status.droppedBackingOff = drops.backingOff;
                    it->second.status.droppedQueueFull = drops.queueFull;
                    it->second.status.droppedTooBig = drops.tooBig;
                    return;
                }
            }
        });
        address = forwarder->localAddress();
        port = forwarder->localPort();
        tunnel = std::move(forwarder);
        break;
    }
    }

    entry.status.state = TunnelStatus::State::Listening;
    entry.status.listenAddress = HostPort {address.toString(), port}.toString();
    entry.localPort = port;
    entry.udp = profile.listensOnUdp();
    entry.socks5 = socks5;
    entry.tunnel = std::move(tunnel);
    m_sinceSample.start();
    m_sampleTimer.start();
    Q_EMIT statusChanged(profile.name);
    return true;
}

// Connects a running engine's signals (source: the object that emits them; engine: what the
// entry holds) to this manager, which finds the entry by the engine.
template<typename Source>
void TunnelManager::wire(Source *source, QObject *engine)
{
    auto nameOf = [this, engine]() -> QString {
        for (auto it = m_entries.cbegin(); it != m_entries.cend(); ++it) {
            if (it->second.tunnel.get() == engine)
                return it->first;
        }
        return QString();
    };
    connect(source, &Source::activeConnectionsChanged, this,
            [this, nameOf](int count) { setConnections(nameOf(), count); });
    connect(source, &Source::transferred, this,
            [this, nameOf](qint64 up, qint64 down) { onTransferred(nameOf(), up, down); });
    connect(source, &Source::connectionFailed, this,
            [this, nameOf](const QString &reason, int httpStatus) {
                onConnectionFailed(nameOf(), reason, httpStatus);
            });
}

void TunnelManager::stop(const QString &name)
{
    auto it = m_entries.find(name);
    if (it == m_entries.end())
        return;
    const bool wasActive =
        it->second.tunnel || it->second.status.state != TunnelStatus::State::Stopped;
    if (it->second.tunnel) {
        QObject *tunnel = it->second.tunnel.release();
        tunnel->disconnect(this);
        // Its connections close properly (in-flight bytes delivered, WebSocket close 1001, the
        // "tunnel closed" lines) while the port is free at once; the manager keeps the tunnel
        // until then.
        tunnel->setParent(this);
        if (auto *forward = qobject_cast<ClientTunnel *>(tunnel)) {
            forward->disconnect(this);
            connect(forward, &ClientTunnel::drained, forward, &QObject::deleteLater);
            forward->shutdown();
        } else if (auto *proxy = qobject_cast<Socks5Listener *>(tunnel)) {
            proxy->tunnel()->disconnect(this);
            connect(proxy->tunnel(), &ClientTunnel::drained, proxy, &QObject::deleteLater);
            proxy->shutdown();
        } else if (auto *forwarder = qobject_cast<UdpForwarder *>(tunnel)) {
            connect(forwarder, &UdpForwarder::drained, forwarder, &QObject::deleteLater);
            forwarder->shutdown();
        }
        it->second.socks5 = nullptr;
        it->second.localPort = 0;
        Q_EMIT destinationsChanged(name);
    }
    it->second.status.state = TunnelStatus::State::Stopped;
    it->second.status.connections = 0;
    it->second.status.serverFailing = false;
    it->second.status.serverProblem.clear();
    it->second.status.listenAddress.clear();
    it->second.status.upBytesPerSecond = 0;
    it->second.status.downBytesPerSecond = 0;
    if (runningNames().isEmpty())
        m_sampleTimer.stop();
    if (wasActive)
        Q_EMIT statusChanged(name);
}

void TunnelManager::stopAll()
{
    QStringList names;
    for (const auto &entry : m_entries)
        names << entry.first;
    for (const QString &name : std::as_const(names))
        stop(name);
}

void TunnelManager::forget(const QString &name)
{
    stop(name);
    m_entries.erase(name);
}

void TunnelManager::rename(const QString &name, const QString &newName)
{
    auto it = m_entries.find(name);
    if (name == newName || it == m_entries.end())
        return;
    m_entries[newName] = std::move(it->second);
    m_entries.erase(name);
    Q_EMIT statusChanged(newName);
}

bool TunnelManager::isRunning(const QString &name) const
{
    const auto it = m_entries.find(name);
    return it != m_entries.end() && it->second.tunnel;
}

TunnelStatus TunnelManager::status(const QString &name) const
{
    const auto it = m_entries.find(name);
    return it == m_entries.end() ? TunnelStatus() : it->second.status;
}

QStringList TunnelManager::runningNames() const
{
    QStringList names;
    for (auto it = m_entries.cbegin(); it != m_entries.cend(); ++it) {
        if (it->second.tunnel)
            names << it->first;
    }
    return names;
}

QList<TunnelManager::RateSample> TunnelManager::history(const QString &name) const
{
    const auto it = m_entries.find(name);
    return it == m_entries.end() ? QList<RateSample>() : it->second.history;
}

QHash<QString, Socks5Listener::DestinationCount>
TunnelManager::destinations(const QString &name) const
{
    const auto it = m_entries.find(name);
    if (it == m_entries.end() || !it->second.socks5)
        return {};
    return it->second.socks5->destinations();
}

void TunnelManager::sample()
{
    const double seconds = qMax<qint64>(1, m_sinceSample.restart()) / 1000.0;
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
        if (!it->second.tunnel)
            continue;
        TunnelStatus &status = it->second.status;
        const bool wasMoving = status.upBytesPerSecond > 0 || status.downBytesPerSecond > 0;
        status.upBytesPerSecond = (status.bytesUp - it->second.bytesUpAtSample) / seconds;
        status.downBytesPerSecond = (status.bytesDown - it->second.bytesDownAtSample) / seconds;
        it->second.bytesUpAtSample = status.bytesUp;
        it->second.bytesDownAtSample = status.bytesDown;
        it->second.history.append({status.upBytesPerSecond, status.downBytesPerSecond});
        while (it->second.history.size() > kHistorySamples)
            it->second.history.removeFirst();
        const bool dropped = status.datagramsDropped() != it->second.droppedAtSample;
        it->second.droppedAtSample = status.datagramsDropped();
        if (wasMoving || dropped || status.upBytesPerSecond > 0 || status.downBytesPerSecond > 0)
            Q_EMIT statusChanged(it->first);
    }
}

void TunnelManager::setConnections(const QString &name, int count)
{
    auto it = m_entries.find(name);
    if (it == m_entries.end() || !it->second.tunnel)
        return;
    if (count > it->second.status.connections) {
        it->second.status.serverFailing = false; // a connection got through
        it->second.status.serverProblem.clear();
    }
    it->second.status.connections = count;
    it->second.status.state =
        count > 0 ? TunnelStatus::State::Active : TunnelStatus::State::Listening;
    Q_EMIT statusChanged(name);
}

void TunnelManager::onTransferred(const QString &name, qint64 up, qint64 down)
{
    auto it = m_entries.find(name);
    if (it == m_entries.end())
        return;
    it->second.status.bytesUp += up;
    it->second.status.bytesDown += down;
}

void TunnelManager::onConnectionFailed(const QString &name, const QString &reason, int httpStatus)
{
    auto it = m_entries.find(name);
    if (it == m_entries.end())
        return;
    it->second.status.lastError = reason;
    // An HTTP answer means the server was reached: it refused or does not serve this path.
    it->second.status.serverProblem = httpStatus > 0 ? reason : QString();
    const bool firstFailure = !it->second.status.serverFailing;
    it->second.status.serverFailing = true;
    Q_EMIT statusChanged(name);
    if (firstFailure)
        Q_EMIT tunnelFailed(
            name,
            httpStatus > 0 ? QStringLiteral("the server answered with an error: %1").arg(reason)
                           : QStringLiteral("cannot reach the server: %1").arg(reason));
}

void TunnelManager::reportServerCheck(const QString &name, bool ok, const QString &problem)
{
    auto it = m_entries.find(name);
    if (it == m_entries.end() || !it->second.tunnel)
        return;
    TunnelStatus &status = it->second.status;
    if (ok) {
        if (!status.serverFailing)
            return;
        status.serverFailing = false;
        status.serverProblem.clear();
        Q_EMIT statusChanged(name);
        return;
    }
    const bool firstFailure = !status.serverFailing;
    status.serverFailing = true;
    status.serverProblem = problem;
    status.lastError = problem;
    Q_EMIT statusChanged(name);
    if (firstFailure)
        Q_EMIT tunnelFailed(name, QStringLiteral("the server check failed: %1").arg(problem));
}

QString TunnelManager::explainListenError(const QString &error, const QString &listen,
                                          bool udp) const
{
    const auto address = HostPort::parse(listen, true, nullptr);
    if (!address)
        return error;
    // One of our own tunnels holds the port: say which.
    for (auto it = m_entries.cbegin(); it != m_entries.cend(); ++it) {
        if (it->second.tunnel && it->second.udp == udp && it->second.localPort == address->port)
            return QStringLiteral("local port %1 is already in use by the profile “%2”; stop it "
                                  "or choose another local port")
                .arg(address->port)
                .arg(it->first);
    }
    const QHostAddress host = address->listenAddress();
    auto binds = [&](quint16 port, bool *inUse) {
        if (udp) {
            QUdpSocket socket;
            const bool bound = socket.bind(host, port);
            *inUse = !bound && socket.error() == QAbstractSocket::AddressInUseError;
            return bound;
        }
        QTcpServer server;
        const bool bound = server.listen(host, port);
        *inUse = !bound && server.serverError() == QAbstractSocket::AddressInUseError;
        return bound;
    };
    bool inUse = false;
    if (host.isNull() || binds(address->port, &inUse) || !inUse)
        return error;
    for (int port = address->port + 1;
         port <= address->port + kPortSuggestionRange && port <= 65535; ++port) {
        if (binds(quint16(port), &inUse)) {
            const HostPort suggestion {address->host, quint16(port)};
            return QStringLiteral("local port %1 is already in use (by another program or "
                                  "another profile); stop that program or choose another local "
                                  "port, e.g. %2, which is free now")
                .arg(address->port)
                .arg(suggestion.toString());
        }
    }
    return QStringLiteral("local port %1 is already in use (by another program or another "
                          "profile); stop that program or choose another local port")
        .arg(address->port);
}

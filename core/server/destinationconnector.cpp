#include "destinationconnector.h"

#include "relay/writethrough.h"

#include <QTcpSocket>

DestinationConnector::DestinationConnector(const Destination &destination,
                                           const DestinationPolicy &policy, NameLookups *lookups,
                                           const QString &client, int timeoutMs, QObject *parent)
    : QObject(parent),
      m_destination(destination),
      m_policy(policy),
      m_lookups(lookups),
      m_client(client),
      m_timeoutMs(timeoutMs)
{
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, [this] {
        fail(Destination::Error::Timeout,
             QStringLiteral("no connection within %1 s").arg(m_timeoutMs / 1000.0));
    });
}

DestinationConnector::~DestinationConnector()
{
    if (m_lookingUp && m_lookups)
        m_lookups->cancel(this);
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void DestinationConnector::start()
{
    m_timer.start(m_timeoutMs);
    const QHostAddress literal(m_destination.target.host);
    if (!literal.isNull()) {
        // An address as written: nothing to resolve. Reported later, as every outcome is.
        QHostInfo info;
        info.setAddresses({literal});
        QMetaObject::invokeMethod(
            this, [this, info] { resolved(info); }, Qt::QueuedConnection);
        return;
    }
    // Once: the addresses checked are the addresses connected to.
    m_lookingUp = m_lookups
        && m_lookups->lookUp(m_client, m_destination.target.host, this,
                             [this](const QHostInfo &info) { resolved(info); });
    if (!m_lookingUp) {
        QMetaObject::invokeMethod(
            this,
            [this] {
                fail(Destination::Error::Busy,
                     QStringLiteral("too many name lookups in progress or waiting"));
            },
            Qt::QueuedConnection);
    }
}

void DestinationConnector::resolved(const QHostInfo &info)
{
    m_lookingUp = false;
    if (m_done)
        return;
    if (info.error() != QHostInfo::NoError || info.addresses().isEmpty()) {
        fail(Destination::Error::NoSuchHost,
             QStringLiteral("%1 does not resolve").arg(m_destination.target.host));
        return;
    }
    QStringList denied;
    for (const QHostAddress &address : info.addresses()) {
        if (m_addresses.contains(address))
            continue;
        if (m_policy.allows(m_destination, address)) {
            m_addresses.append(address);
        } else {
            const QString why = m_policy.defaultDenial(address);
            denied.append(why.isEmpty() ? address.toString()
                                        : QStringLiteral("%1 (%2)").arg(address.toString(), why));
        }
    }
    if (m_addresses.isEmpty()) {
        fail(Destination::Error::NotAllowed,
             QStringLiteral("%1 is not allowed at %2")
                 .arg(QString::fromLatin1(m_destination.headerValue()),
                      denied.join(QLatin1String(", "))));
        return;
    }
    if (m_destination.udp) {
        m_done = true;
        m_timer.stop();
        Q_EMIT checked(m_addresses);
        return;
    }
    connectNext();
}

void DestinationConnector::connectNext()
{
    if (m_addresses.isEmpty()) {
        fail(m_lastError, m_lastDetail);
        return;
    }
    m_address = m_addresses.takeFirst();
    m_socket = new QTcpSocket(this);
    // Reached directly, as fixed remotes are: no proxy lookup per tunnel.
    WriteThrough::setDirect(m_socket);
    connect(m_socket, &QTcpSocket::connected, this, [this] {
        m_done = true;
        m_timer.stop();
        Q_EMIT connected();
    });
    connect(m_socket, &QTcpSocket::errorOccurred, this, &DestinationConnector::onSocketError);
    m_socket->connectToHost(m_address, m_destination.target.port);
}

void DestinationConnector::onSocketError()
{
    QTcpSocket *socket = m_socket;
    m_socket = nullptr;
    socket->disconnect(this);
    socket->deleteLater();
    if (m_done)
        return;
    const QString where = HostPort {m_address.toString(), m_destination.target.port}.toString();
    m_lastDetail = QStringLiteral("%1: %2").arg(where, socket->errorString());
    switch (socket->error()) {
    case QAbstractSocket::ConnectionRefusedError:
        m_lastError = Destination::Error::Refused;
        break;
    case QAbstractSocket::NetworkError:
        // Qt reports ENETUNREACH and EHOSTUNREACH both as NetworkError; only its (untranslated,
        // the server loads no translation) text tells them apart.
        m_lastError = socket->errorString().contains(QLatin1String("Network unreachable"),
                                                     Qt::CaseInsensitive)
            ? Destination::Error::NetworkUnreachable
            : Destination::Error::HostUnreachable;
        break;
    default:
        m_lastError = Destination::Error::HostUnreachable;
        break;
    }
    connectNext();
}

QTcpSocket *DestinationConnector::takeSocket()
{
    QTcpSocket *socket = m_socket;
    m_socket = nullptr;
    if (socket) {
        socket->disconnect(this);
        socket->setParent(nullptr);
    }
    return socket;
}

void DestinationConnector::fail(Destination::Error error, const QString &detail)
{
    if (m_done)
        return;
    m_done = true;
    m_timer.stop();
    if (m_lookingUp) {
        if (m_lookups)
            m_lookups->cancel(this);
        m_lookingUp = false;
    }
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
        m_socket->deleteLater();
        m_socket = nullptr;
    }
    Q_EMIT failed(error, detail);
}

// Reaches the destination a client named on a dynamic route before the server answers its
// upgrade: resolves the name once, checks every address it resolved to against the route's
// policy, and connects to checked addresses only (in the order resolved, until one answers),
// never to the name again, so that a second answer of the name's DNS cannot slip past the check.
#pragma once

#include "destinationpolicy.h"
#include "namelookups.h"
#include "net/destination.h"

#include <QHostAddress>
#include <QHostInfo>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QTimer>

class QTcpSocket;

class DestinationConnector : public QObject
{
    Q_OBJECT
public:
    // From the start to a connected socket: beyond it the client gets 504 timeout.
    static constexpr int kConnectTimeoutMs = 10000;

    // A name is looked up through lookups, as client's (whose lookups it bounds: a request it
    // refuses fails with Error::Busy).
    DestinationConnector(const Destination &destination, const DestinationPolicy &policy,
                         NameLookups *lookups, const QString &client,
                         int timeoutMs = kConnectTimeoutMs, QObject *parent = nullptr);
    ~DestinationConnector() override; // aborts a lookup or connection in progress

    // Begins; every outcome is reported later, through a signal, never from within start().
    void start();

    const Destination &destination() const { return m_destination; }
    // The address connected to (or last tried).
    QHostAddress address() const { return m_address; }

    // After connected(): the socket, which the caller then owns.
    QTcpSocket *takeSocket();

Q_SIGNALS:
    // TCP: a socket to a checked address is connected (takeSocket()).
    void connected();
    // UDP: the checked addresses, in the order resolved; nothing is connected.
    void checked(const QList<QHostAddress> &addresses);
    // The destination is not reached; detail says why, for the log and the answer's body.
    void failed(Destination::Error error, const QString &detail);

private:
    void resolved(const QHostInfo &info);
    void connectNext();
    void onSocketError();
    void fail(Destination::Error error, const QString &detail);

    Destination m_destination;
    DestinationPolicy m_policy;
    QPointer<NameLookups> m_lookups;
    QString m_client;
    int m_timeoutMs;
    QTimer m_timer;
    bool m_lookingUp = false;
    QList<QHostAddress> m_addresses; // checked, still to try
    QHostAddress m_address;
    QTcpSocket *m_socket = nullptr;
    Destination::Error m_lastError = Destination::Error::HostUnreachable;
    QString m_lastDetail;
    bool m_done = false;
};

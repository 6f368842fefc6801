#include "socks5listener.h"

#include "clienttunnel.h"
#include "logcategories.h"
#include "net/destination.h"
#include "relay/relay.h"
#include "relay/writethrough.h"

#include <QPointer>
#include <QTcpSocket>
#include <QTimer>
#include <memory>

namespace {

// A refused SOCKS client gets its answer, then this long to read it before the socket is
// dropped.
constexpr int kCloseGraceMs = 5000;

QString peerOf(const QTcpSocket *socket)
{
    return HostPort {socket->peerAddress().toString(), socket->peerPort()}.toString();
}

void writeTo(QTcpSocket *tcp, const QByteArray &bytes)
{
    if (WriteThrough::isPossible(tcp))
        WriteThrough::write(tcp, bytes);
    else
        tcp->write(bytes);
}

} // namespace

Socks5Listener::Socks5Listener(const ClientOptions &options, QObject *parent)
    : QObject(parent), m_options(options)
{
    ClientOptions tunnelOptions = options;
    tunnelOptions.listen = options.socks5Listen;
    m_tunnel = new ClientTunnel(tunnelOptions, this);
    m_tunnel->setAcceptHandler([this](QTcpSocket *tcp) { onAccepted(tcp); });
}

Socks5Listener::~Socks5Listener() = default;

bool Socks5Listener::listen(QString *error)
{
    if (!m_tunnel->listen(error))
        return false;
    qCInfo(lcClient).noquote() << "SOCKS5 proxy on"
                               << HostPort {serverAddress().toString(), serverPort()}.toString()
                               << (m_options.socks5User.isEmpty()
                                       ? QStringLiteral("without authentication")
                                       : QStringLiteral("for user %1").arg(m_options.socks5User));
    return true;
}

void Socks5Listener::close()
{
    m_tunnel->close();
}

void Socks5Listener::shutdown()
{
    m_tunnel->shutdown();
}

QHostAddress Socks5Listener::serverAddress() const
{
    return m_tunnel->serverAddress();
}

quint16 Socks5Listener::serverPort() const
{
    return m_tunnel->serverPort();
}

Socks5Handshake::Reply Socks5Listener::replyFor(const WebSocketConnector::Failure &failure)
{
    using Reply = Socks5Handshake::Reply;
    const auto error = Destination::errorFromToken(failure.errorToken);
    if (!error)
        return Reply::GeneralFailure; // the server itself: unreachable, 401, 5xx, ...
    switch (*error) {
    case Destination::Error::NotAllowed:
        return Reply::NotAllowed;
    case Destination::Error::Refused:
        return Reply::ConnectionRefused;
    case Destination::Error::NoSuchHost:
    case Destination::Error::HostUnreachable:
    case Destination::Error::Timeout:
        return Reply::HostUnreachable;
    case Destination::Error::NetworkUnreachable:
        return Reply::NetworkUnreachable;
    case Destination::Error::BadDestination:
    case Destination::Error::Busy: // the server's own condition, as an answer without a token
    case Destination::Error::ShuttingDown:
        break;
    }
    return Reply::GeneralFailure;
}

void Socks5Listener::onAccepted(QTcpSocket *tcp)
{
    // One session per connection, a child of the socket: its connections and timer go with it
    // once the handshake is over.
    auto *session = new QObject(tcp);
    auto handshake = std::make_shared<Socks5Handshake>(m_options.socks5User.toUtf8(),
                                                       m_options.socks5Password.toUtf8());
    auto *timeout = new QTimer(session);
    timeout->setSingleShot(true);
    connect(timeout, &QTimer::timeout, session, [tcp] {
        qCInfo(lcClient).noquote() << peerOf(tcp) << "- no SOCKS5 request in time; closing";
        tcp->abort();
        tcp->deleteLater();
    });
    timeout->start(m_options.handshakeTimeoutMs);
    connect(tcp, &QTcpSocket::readyRead, session,
            [this, tcp, handshake, session] { readHandshake(tcp, handshake.get(), session); });
    connect(tcp, &QTcpSocket::disconnected, session, [tcp] { tcp->deleteLater(); });
    readHandshake(tcp, handshake.get(), session);
}

void Socks5Listener::readHandshake(QTcpSocket *tcp, Socks5Handshake *handshake, QObject *session)
{
    QByteArray answer;
    // Only the handshake's bytes are taken from the socket: what follows the request stays there
    // for the relay.
    while (tcp->bytesAvailable() > 0) {
        const QByteArray available = tcp->peek(Socks5Handshake::kMaxMessageBytes);
        const qsizetype used = handshake->feed(available, &answer);
        tcp->skip(used);
        if (used < available.size() || handshake->state() == Socks5Handshake::State::Connect
            || handshake->state() == Socks5Handshake::State::Failed)
            break;
    }
    switch (handshake->state()) {
    case Socks5Handshake::State::Greeting:
    case Socks5Handshake::State::Authentication:
    case Socks5Handshake::State::Request:
        if (!answer.isEmpty())
            writeTo(tcp, answer);
        return;
    case Socks5Handshake::State::Failed:
        qCInfo(lcClient).noquote()
            << peerOf(tcp) << "- SOCKS5 handshake refused:" << handshake->failure();
        delete session;
        answerAndClose(tcp, answer);
        return;
    case Socks5Handshake::State::Connect:
        break;
    }
    if (!answer.isEmpty())
        writeTo(tcp, answer);
    const HostPort destination = handshake->destination();
    delete session; // the handshake is over: no more reading here, no timeout
    connectTo(tcp, destination);
}

void Socks5Listener::connectTo(QTcpSocket *tcp, const HostPort &target)
{
    Destination destination;
    destination.target = target;
    const QByteArray headerValue = destination.headerValue();
    const QString name = QString::fromLatin1(headerValue);
    if (!Destination::parse(headerValue)) {
        qCInfo(lcClient).noquote() << peerOf(tcp) << "- SOCKS5 request for" << name
                                   << "refused: not a host name or address the server takes";
        answerAndClose(tcp, Socks5Handshake::reply(Socks5Handshake::Reply::GeneralFailure));
        return;
    }
    // Until the answer comes, a client that goes away is dropped then.
    auto *session = new QObject(tcp);
    connect(tcp, &QTcpSocket::disconnected, session, [tcp] { tcp->deleteLater(); });

    ClientTunnel::Carry carry;
    carry.destination = headerValue;
    carry.failed = [this, tcp, session](const WebSocketConnector::Failure &failure) {
        delete session;
        answerAndClose(tcp, Socks5Handshake::reply(replyFor(failure)));
    };
    carry.opened = [tcp, session] {
        delete session;
        writeTo(tcp, Socks5Handshake::reply(Socks5Handshake::Reply::Succeeded));
    };
    carry.relayStarted = [this, name](Relay *relay) {
        DestinationCount &count = m_destinations[name];
        ++count.openTunnels;
        Q_EMIT destinationOpened(name);
        Q_EMIT destinationsChanged();
        connect(relay, &Relay::transferred, this, [this, name](qint64 sent, qint64 received) {
            const auto it = m_destinations.find(name);
            if (it == m_destinations.end())
                return;
            it->sentBytes += sent;
            it->receivedBytes += received;
            Q_EMIT destinationsChanged();
        });
        connect(relay, &Relay::finished, this, [this, name, relay] {
            const auto it = m_destinations.find(name);
            if (it != m_destinations.end() && --it->openTunnels <= 0)
                m_destinations.erase(it);
            Q_EMIT destinationClosed(name, relay->bytesTcpToWs(), relay->bytesWsToTcp());
            Q_EMIT destinationsChanged();
        });
    };
    m_tunnel->carry(tcp, carry, this);
}

void Socks5Listener::answerAndClose(QTcpSocket *tcp, const QByteArray &answer)
{
    if (!answer.isEmpty())
        writeTo(tcp, answer);
    connect(tcp, &QTcpSocket::disconnected, tcp, &QObject::deleteLater);
    QTimer::singleShot(kCloseGraceMs, tcp, [tcp] {
        tcp->abort();
        tcp->deleteLater();
    });
    tcp->disconnectFromHost(); // after the answer
}

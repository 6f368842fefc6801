#include "requestdispatcher.h"

#include "logcategories.h"

#include <QTcpSocket>
#include <QWebSocket>

namespace {

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return QByteArrayLiteral("Bad Request");
    case 401:
        return QByteArrayLiteral("Unauthorized");
    case 403:
        return QByteArrayLiteral("Forbidden");
    case 404:
        return QByteArrayLiteral("Not Found");
    case 426:
        return QByteArrayLiteral("Upgrade Required");
    case 429:
        return QByteArrayLiteral("Too Many Requests");
    case 431:
        return QByteArrayLiteral("Request Header Fields Too Large");
    case 502:
        return QByteArrayLiteral("Bad Gateway");
    case 503:
        return QByteArrayLiteral("Service Unavailable");
    case 504:
        return QByteArrayLiteral("Gateway Timeout");
    default:
        return QByteArrayLiteral("Error");
    }
}

} // namespace

RequestDispatcher::RequestDispatcher(Decide decide, QObject *parent)
    : QObject(parent),
      m_decide(std::move(decide)),
      m_webSockets(QStringLiteral("tcp-over-websocket"), QWebSocketServer::NonSecureMode)
{
    // websockify and noVNC-style clients offer "binary" (some insist on it); its frames are
    // exactly ours. Clients that offer nothing get no subprotocol, as from the original.
    m_webSockets.setSupportedSubprotocols({QStringLiteral("binary")});
    // The server's own sweep times out handshakes (and counts them); QWebSocketServer's default
    // of 10 s would race it.
    m_webSockets.setHandshakeTimeout(-1);
    connect(&m_webSockets, &QWebSocketServer::newConnection, this,
            &RequestDispatcher::onNewWebSocket);
}

RequestDispatcher::~RequestDispatcher()
{
    for (auto it = m_stages.cbegin(); it != m_stages.cend(); ++it)
        it.key()->disconnect(this);
}

void RequestDispatcher::take(QTcpSocket *socket)
{
    m_stages.insert(socket, Stage::FirstRequest);
    // Connected before anyone else's: this handler sees each request before it is read.
    connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
    connect(socket, &QObject::destroyed, this, [this, socket] {
        m_stages.remove(socket);
        m_deferred.remove(socket);
    });
    // Closed before its first request was read (the handshake timeout, the client gave up):
    // nobody else knows this socket.
    connect(socket, &QAbstractSocket::disconnected, this, [this, socket] {
        if (m_stages.value(socket, Stage::Plain) != Stage::FirstRequest)
            return;
        m_stages.remove(socket);
        socket->disconnect(this);
        socket->deleteLater();
    });
    if (socket->bytesAvailable() > 0)
        onReadyRead(socket);
}

void RequestDispatcher::onReadyRead(QTcpSocket *socket)
{
    switch (m_stages.value(socket, Stage::Plain)) {
    case Stage::FirstRequest:
        readFirstRequest(socket);
        break;
    case Stage::Plain:
        watchPlainConnection(socket);
        break;
    case Stage::Deferred:
        break; // read when the verdict comes (deliver())
    case Stage::Upgrading:
        watchUpgrade(socket);
        break;
    }
}

void RequestDispatcher::readFirstRequest(QTcpSocket *socket)
{
    HttpRequestHead head;
    qsizetype headBytes = 0;
    const QByteArray bytes = socket->peek(HttpRequestHead::kMaxHeadBytes + 1);
    switch (HttpRequestHead::parse(bytes, &head, &headBytes)) {
    case HttpRequestHead::Parse::Incomplete:
        return;
    case HttpRequestHead::Parse::Malformed:
        refuse(socket, nullptr, 400, QByteArrayLiteral("not an HTTP/1.x request"));
        return;
    case HttpRequestHead::Parse::TooLarge:
        refuse(socket, nullptr, 431, QByteArrayLiteral("request head too large"));
        return;
    case HttpRequestHead::Parse::Complete:
        break;
    }

    HttpRequestHead::Problem problem = head.framingProblem();
    if (problem.status == 0 && head.asksForWebSocket()) {
        problem = head.upgradeProblem();
        // RFC 6455 4.1: a client sends frames only after the server's answer. Bytes behind the
        // head would be taken by QWebSocket before the relay reads the stream: a hole in it.
        if (problem.status == 0 && socket->bytesAvailable() > headBytes)
            problem = {400, QByteArrayLiteral("data sent before the handshake was answered")};
    }
    if (problem.status != 0) {
        refuse(socket, &head, problem.status, problem.reason);
        return;
    }
    carryOut(socket, m_decide(Request {socket, &head, {}}), headBytes);
}

void RequestDispatcher::refuse(QTcpSocket *socket, const HttpRequestHead *head, int status,
                               const QByteArray &reason)
{
    const Verdict verdict = m_decide(Request {socket, head, {status, reason}});
    carryOut(socket, verdict, 0);
}

void RequestDispatcher::carryOut(QTcpSocket *socket, const Verdict &verdict, qsizetype headBytes)
{
    switch (verdict.kind) {
    case Verdict::Kind::Answer:
        m_stages.remove(socket);
        socket->disconnect(this);
        answer(socket, verdict.status, verdict.headers, verdict.body);
        return;
    case Verdict::Kind::Plain:
        m_stages.insert(socket, Stage::Plain);
        Q_EMIT plainRequest(socket);
        return;
    case Verdict::Kind::Defer:
        m_stages.insert(socket, Stage::Deferred);
        m_deferred.insert(socket, headBytes);
        connect(socket, &QAbstractSocket::disconnected, this, [this, socket] {
            if (m_stages.value(socket, Stage::Plain) != Stage::Deferred)
                return;
            m_stages.remove(socket);
            m_deferred.remove(socket);
            socket->disconnect(this);
            socket->deleteLater();
            Q_EMIT deferredAbandoned(socket);
        });
        return;
    case Verdict::Kind::Upgrade:
        break;
    }
    m_stages.insert(socket, Stage::Upgrading);
    const QString key = peerKey(socket->peerAddress(), socket->peerPort());
    m_upgrading.insert(key, {socket, headBytes, verdict.slot});
    connect(socket, &QAbstractSocket::disconnected, this, [this, socket, key] {
        const auto it = m_upgrading.constFind(key);
        if (it == m_upgrading.cend() || it->socket != socket)
            return;
        const TunnelAdmission::Slot slot = it->slot;
        m_upgrading.erase(it);
        m_stages.remove(socket);
        socket->disconnect(this);
        socket->deleteLater();
        Q_EMIT upgradeAbandoned(slot);
    });
    m_webSockets.handleConnection(socket);
}

void RequestDispatcher::deliver(QTcpSocket *socket, const Verdict &verdict)
{
    const auto it = m_deferred.find(socket);
    if (it == m_deferred.end() || verdict.kind == Verdict::Kind::Defer)
        return;
    const qsizetype headBytes = it.value();
    m_deferred.erase(it);
    if (verdict.kind == Verdict::Kind::Upgrade && socket->bytesAvailable() > headBytes) {
        // Frames sent before the answer (see readFirstRequest()), while the destination was
        // being reached.
        Q_EMIT upgradeAbandoned(verdict.slot);
        HttpRequestHead head;
        qsizetype ignored = 0;
        HttpRequestHead::parse(socket->peek(HttpRequestHead::kMaxHeadBytes + 1), &head, &ignored);
        refuse(socket, &head, 400,
               QByteArrayLiteral("data sent before the handshake was answered"));
        return;
    }
    carryOut(socket, verdict, headBytes);
}

void RequestDispatcher::watchUpgrade(QTcpSocket *socket)
{
    const auto it = m_upgrading.constFind(peerKey(socket->peerAddress(), socket->peerPort()));
    if (it == m_upgrading.cend() || it->socket != socket
        || socket->bytesAvailable() <= it->headBytes)
        return;
    // Frames arrived before the handshake was answered (see readFirstRequest): refused, and the
    // buffer emptied so that the handshake, queued in QWebSocketServer, finds no request.
    const TunnelAdmission::Slot slot = it->slot;
    m_upgrading.erase(it);
    Q_EMIT upgradeAbandoned(slot);
    HttpRequestHead head;
    qsizetype headBytes = 0;
    HttpRequestHead::parse(socket->peek(HttpRequestHead::kMaxHeadBytes + 1), &head, &headBytes);
    refuse(socket, &head, 400, QByteArrayLiteral("data sent before the handshake was answered"));
}

void RequestDispatcher::watchPlainConnection(QTcpSocket *socket)
{
    // The HTTP server reads this connection's requests, and may have begun to read one (its
    // read transaction is started then: the buffer goes on in the middle of that request). So is
    // it, with nothing read yet, while it waits for the next request (Qt 6.8 starts a transaction
    // on each readyRead, also on an empty buffer), so a started transaction says nothing. What
    // the buffer holds does: only a whole request head that asks for an upgrade, or whose
    // framing is broken, is acted on, and only ever by refusing it and closing the connection,
    // which is right for the middle of a request that looks like that too.
    HttpRequestHead head;
    qsizetype headBytes = 0;
    const auto parsed =
        HttpRequestHead::parse(socket->peek(HttpRequestHead::kMaxHeadBytes + 1), &head, &headBytes);
    if (parsed == HttpRequestHead::Parse::Complete
        && (head.asksForWebSocket() || head.framingProblem().status != 0)) {
        // A WebSocket upgrade after plain requests on one connection: QHttpServer would upgrade
        // or refuse it by its own rules (and warn per request). Ours are for first requests.
        const HttpRequestHead::Problem problem = head.asksForWebSocket()
            ? HttpRequestHead::Problem {400,
                                        QByteArrayLiteral("a WebSocket upgrade must be the first "
                                                          "request on its connection")}
            : head.framingProblem();
        refuse(socket, &head, problem.status, problem.reason);
        return;
    }
    if (parsed == HttpRequestHead::Parse::Complete && head.wantsClose()) {
        // QHttpServer (6.4) keeps the connection open after answering "Connection: close"; the
        // client waits for the end of it until the handshake timeout. Closed once answered.
        connect(socket, &QIODevice::bytesWritten, socket, [socket] {
            if (socket->bytesToWrite() == 0)
                socket->disconnectFromHost();
        });
    }
    Q_EMIT plainRequestArrived(socket);
}

void RequestDispatcher::answer(QTcpSocket *socket, int status, const Headers &headers,
                               const QByteArray &body)
{
    QByteArray out = "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status) + "\r\n";
    for (const auto &[name, value] : headers)
        out += name + ": " + value + "\r\n";
    out += "Content-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n";
    out += body;
    // What was sent is answered; whoever else reads this socket (a QHttpServer that is serving
    // it, a handshake queued in QWebSocketServer) finds nothing more.
    socket->skip(socket->bytesAvailable());
    socket->write(out);
    // Connected before the flush: a write that fails aborts the socket and emits disconnected()
    // at once, and nothing else deletes it any more.
    connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
    // Handed to the system now: a server that stops right after (a drain's last answers) still
    // sends it, as the event loop may not run again.
    socket->flush();
    socket->disconnectFromHost();
}

void RequestDispatcher::onNewWebSocket()
{
    while (m_webSockets.hasPendingConnections()) {
        QWebSocket *ws = m_webSockets.nextPendingConnection();
        if (!ws)
            continue;
        const auto it = m_upgrading.find(peerKey(ws->peerAddress(), ws->peerPort()));
        if (it == m_upgrading.end() || !it->socket) {
            // Cannot happen: every handshake started here. Closed rather than relayed blind.
            qCWarning(lcServer) << "a WebSocket without a known transport; closing it";
            if (it != m_upgrading.end())
                m_upgrading.erase(it);
            ws->abort();
            ws->deleteLater();
            continue;
        }
        QTcpSocket *transport = it->socket;
        const TunnelAdmission::Slot slot = it->slot;
        m_upgrading.erase(it);
        m_stages.remove(transport);
        transport->disconnect(this);
        Q_EMIT webSocketReady(ws, transport, slot);
    }
}

QString RequestDispatcher::peerKey(const QHostAddress &address, quint16 port)
{
    return address.toString() + QLatin1Char('#') + QString::number(port);
}

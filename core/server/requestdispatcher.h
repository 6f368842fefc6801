// Reads the first request of each connection the server accepts and sends the connection where
// it belongs: a WebSocket upgrade the server admits to QWebSocketServer's handshake, a plain
// request for the server's own pages to QHttpServer, anything else an HTTP answer. It reads
// nothing off a socket before deciding (it peeks), so the next reader sees the whole request.
#pragma once

#include "httprequesthead.h"
#include "tunneladmission.h"

#include <QHash>
#include <QList>
#include <QObject>
#include <QPair>
#include <QPointer>
#include <QWebSocketServer>
#include <functional>

class QTcpSocket;
class QWebSocket;

class RequestDispatcher : public QObject
{
    Q_OBJECT
public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;

    // What to do with a request.
    struct Verdict
    {
        enum class Kind {
            Upgrade, // hand to the WebSocket handshake; slot is the admission's
            Plain, // hand to the HTTP server (plainRequest())
            Answer, // answer with status, headers and body, then close
            // Decided later (a dynamic route's destination is being reached): deliver() brings
            // the verdict. Meanwhile nothing is read off the socket; if the client leaves,
            // deferredAbandoned() says so and the verdict is no longer wanted.
            Defer,
        };
        Kind kind = Kind::Answer;
        TunnelAdmission::Slot slot;
        int status = 404;
        Headers headers;
        QByteArray body;
    };

    // What the dispatcher knows of a request when it asks for a verdict. problem.status is not
    // 0 when the request cannot be served as it is (broken head, broken upgrade, data sent
    // before the handshake's answer): the verdict is then an answer with that status.
    struct Request
    {
        QTcpSocket *socket = nullptr;
        const HttpRequestHead *head = nullptr; // null when the head could not be read
        HttpRequestHead::Problem problem;
    };
    using Decide = std::function<Verdict(const Request &request)>;

    explicit RequestDispatcher(Decide decide, QObject *parent = nullptr);
    ~RequestDispatcher() override;

    // A connection ready to speak HTTP (accepted, or its TLS handshake done). It stays a child
    // of its server; the dispatcher deletes it when it answers and closes it.
    void take(QTcpSocket *socket);

    // The verdict on a request decided with Kind::Defer (Upgrade or Answer). Nothing happens if
    // the request is no longer deferred (its client left: deferredAbandoned() was emitted). An
    // upgrade whose client sent data behind the request is refused instead (upgradeAbandoned()).
    void deliver(QTcpSocket *socket, const Verdict &verdict);

    // Connections admitted as WebSockets whose handshake has not finished.
    int upgradesInProgress() const { return int(m_upgrading.size()); }

    // Writes a complete answer that closes the connection, and closes it once written.
    static void answer(QTcpSocket *socket, int status, const Headers &headers,
                       const QByteArray &body);

Q_SIGNALS:
    // The connection's first request is for the HTTP server; the request is still unread.
    void plainRequest(QTcpSocket *socket);
    // A request on a connection that the HTTP server serves (keep-alive) is about to be read.
    void plainRequestArrived(QTcpSocket *socket);
    // The handshake of an admitted upgrade is done: transport carries ws.
    void webSocketReady(QWebSocket *ws, QTcpSocket *transport, const TunnelAdmission::Slot &slot);
    // An admitted upgrade ended before its handshake did (the client left): free the slot.
    void upgradeAbandoned(const TunnelAdmission::Slot &slot);
    // A request decided with Kind::Defer lost its client before deliver(); the socket is
    // deleted later.
    void deferredAbandoned(QTcpSocket *socket);

private:
    enum class Stage { FirstRequest, Plain, Deferred, Upgrading };
    struct Upgrading
    {
        QPointer<QTcpSocket> socket;
        qsizetype headBytes = 0;
        TunnelAdmission::Slot slot;
    };

    void onReadyRead(QTcpSocket *socket);
    void readFirstRequest(QTcpSocket *socket);
    void watchPlainConnection(QTcpSocket *socket);
    void watchUpgrade(QTcpSocket *socket);
    void refuse(QTcpSocket *socket, const HttpRequestHead *head, int status,
                const QByteArray &reason);
    void carryOut(QTcpSocket *socket, const Verdict &verdict, qsizetype headBytes);
    void onNewWebSocket();
    static QString peerKey(const QHostAddress &address, quint16 port);

    Decide m_decide;
    QWebSocketServer m_webSockets;
    QHash<QTcpSocket *, Stage> m_stages;
    QHash<QString, Upgrading> m_upgrading; // by peerKey(): how QWebSocket names its transport
    QHash<QTcpSocket *, qsizetype> m_deferred; // the request head's size, for deliver()
};

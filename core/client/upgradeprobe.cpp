#include "upgradeprobe.h"

#include "logcategories.h"
#include "net/websocketurl.h"

#include <QAuthenticator>
#include <QRandomGenerator>
#include <QSslSocket>
#include <QTcpSocket>

namespace {

// A redirect's head is a few hundred bytes; more than this is no answer we follow.
constexpr qsizetype kMaxHeadBytes = 64 * 1024;

} // namespace

UpgradeProbe::UpgradeProbe(const TlsPolicy &tls, QObject *parent) : QObject(parent), m_tls(tls)
{
    qRegisterMetaType<UpgradeProbe::Answer>();
}

QByteArray UpgradeProbe::requestHead(const Request &request, const QByteArray &key)
{
    QUrl hostUrl = request.url;
    if (!request.serverName.isEmpty())
        hostUrl.setHost(request.serverName);
    // As QWebSocket (Qt 6.4, 6.8) writes it: host, brackets for IPv6, and the port when given.
    const QByteArray host =
        hostUrl
            .toString(QUrl::RemoveScheme | QUrl::RemoveUserInfo | QUrl::RemovePath
                      | QUrl::RemoveQuery | QUrl::RemoveFragment | QUrl::FullyEncoded)
            .mid(2)
            .toLatin1();
    QByteArray resource = request.url.path(QUrl::FullyEncoded).toLatin1();
    if (resource.isEmpty())
        resource = "/";
    if (request.url.hasQuery())
        resource += '?' + request.url.query(QUrl::FullyEncoded).toLatin1();

    QList<QPair<QByteArray, QByteArray>> headers;
    for (const auto &header : request.headers) {
        bool replaced = false;
        for (auto &existing : headers) {
            if (existing.first.compare(header.first, Qt::CaseInsensitive) == 0) {
                existing.second = header.second;
                replaced = true;
                break;
            }
        }
        if (!replaced)
            headers.append(header);
    }

    QByteArray head = "GET " + resource + " HTTP/1.1\r\nHost: " + host
        + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
        + "\r\nSec-WebSocket-Version: 13\r\n";
    for (const auto &header : headers) {
        // A line break in a configured header would start another header: never sent.
        if (header.first.contains('\n') || header.second.contains('\n')
            || header.first.contains('\r') || header.second.contains('\r'))
            continue;
        head += header.first + ": " + header.second + "\r\n";
    }
    return head + "\r\n";
}

void UpgradeProbe::start(const Request &request)
{
    const bool secure = request.url.scheme() == QLatin1String("wss");
    QByteArray nonce(16, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(nonce.data()),
                                          nonce.size() / int(sizeof(quint32)));
    m_head = requestHead(request, nonce.toBase64());

    QTcpSocket *socket = secure ? new QSslSocket(this) : new QTcpSocket(this);
    m_socket = socket;
    socket->setProxy(request.proxy);
    connect(socket, &QAbstractSocket::proxyAuthenticationRequired, this,
            [this, proxy = request.proxy](const QNetworkProxy &, QAuthenticator *authenticator) {
                // Asked again means the credentials were refused: fail rather than loop.
                if (++m_proxyAuthAttempts == 1 && !proxy.user().isEmpty()) {
                    authenticator->setUser(proxy.user());
                    authenticator->setPassword(proxy.password());
                }
            });
    connect(socket, &QAbstractSocket::errorOccurred, this, [this, socket] {
        finish(Answer {0, QByteArray(),
                       m_tlsFailure.isEmpty() ? socket->errorString() : m_tlsFailure});
    });
    connect(socket, &QAbstractSocket::disconnected, this, [this] {
        finish(Answer {0, QByteArray(),
                       QStringLiteral("the server closed the connection without answering")});
    });
    connect(socket, &QIODevice::readyRead, this, &UpgradeProbe::onReadyRead);

    const quint16 port = quint16(request.url.port(secure ? 443 : 80));
    qCDebug(lcClient).noquote() << "asking" << WebSocketUrl::redacted(request.url)
                                << "again for the target of its redirect";
    if (!secure) {
        connect(socket, &QAbstractSocket::connected, this,
                [this, socket] { socket->write(m_head); });
        socket->connectToHost(request.url.host(), port);
        return;
    }
    auto *ssl = static_cast<QSslSocket *>(socket);
    ssl->setSslConfiguration(m_tls.sslConfiguration());
    connect(ssl, &QSslSocket::sslErrors, this, [this, ssl](const QList<QSslError> &errors) {
        QString reason;
        if (m_tls.acceptsErrors(errors, ssl->peerCertificate(), &reason))
            ssl->ignoreSslErrors();
        else
            m_tlsFailure = reason;
    });
    connect(ssl, &QSslSocket::encrypted, this, [this, ssl] {
        QString reason;
        if (!m_tls.acceptsPeer(ssl->peerCertificate(), &reason)) {
            finish(Answer {0, QByteArray(), reason});
            return;
        }
        ssl->write(m_head);
    });
    ssl->connectToHostEncrypted(request.url.host(), port, request.serverName);
}

void UpgradeProbe::onReadyRead()
{
    if (!m_socket || m_done)
        return;
    m_received += m_socket->readAll();
    const qsizetype end = m_received.indexOf("\r\n\r\n");
    if (end < 0) {
        if (m_received.size() > kMaxHeadBytes)
            finish(Answer {0, QByteArray(), QStringLiteral("the answer's head is too large")});
        return;
    }
    const QList<QByteArray> lines = m_received.left(end).split('\n');
    // "HTTP/1.1 302 Found"
    const QList<QByteArray> statusLine = lines.constFirst().trimmed().split(' ');
    bool ok = false;
    const int status = statusLine.size() >= 2 && statusLine.constFirst().startsWith("HTTP/")
        ? statusLine.at(1).toInt(&ok)
        : 0;
    if (!ok || status < 100 || status > 999) {
        finish(Answer {0, QByteArray(), QStringLiteral("the answer is not HTTP")});
        return;
    }
    Answer answer;
    answer.status = status;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray &line = lines.at(i);
        const qsizetype colon = line.indexOf(':');
        if (colon > 0 && line.left(colon).trimmed().compare("Location", Qt::CaseInsensitive) == 0) {
            answer.location = line.mid(colon + 1).trimmed();
            break;
        }
    }
    finish(answer);
}

void UpgradeProbe::finish(Answer answer)
{
    if (m_done)
        return;
    m_done = true;
    if (m_socket) {
        QTcpSocket *socket = m_socket;
        m_socket.clear();
        socket->disconnect(this);
        socket->abort(); // the head is all we wanted; a 101 must not become a tunnel
        socket->deleteLater();
    }
    Q_EMIT finished(answer);
}

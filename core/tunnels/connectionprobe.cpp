#include "connectionprobe.h"

#include "net/websocketurl.h"

#include <QElapsedTimer>
#include <QNetworkRequest>
#include <QTimer>
#include <QWebSocket>
#include <memory>

ConnectionProbe::ConnectionProbe(QObject *parent) : QObject(parent) { }

ConnectionProbe::~ConnectionProbe()
{
    if (m_socket)
        m_socket->abort();
}

void ConnectionProbe::start(const Profile &profile)
{
    QString error;
    const auto options = profile.toClientOptions(&error);
    if (!options) {
        // Reported from the event loop, like every other answer.
        QTimer::singleShot(0, this, [this, error] { finish(false, error); });
        return;
    }
    const QUrl url = options->serverUrl;
    const QString shown = WebSocketUrl::redacted(url);
    m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    QUrl target = url;
    target.setUserInfo(QString());
    QNetworkRequest request(target);
    if (!url.userName().isEmpty()) {
        const QByteArray credentials =
            (url.userName(QUrl::FullyDecoded) + QLatin1Char(':') + url.password(QUrl::FullyDecoded))
                .toUtf8();
        request.setRawHeader("Authorization", "Basic " + credentials.toBase64());
    }
    // The token, headers, proxy and TLS pins join the check when the client supports them
    // (issue 5: the lead connects the core ConnectionCheck instead).
    if (options->insecure)
        connect(m_socket, &QWebSocket::sslErrors, m_socket,
                [socket = m_socket] { socket->ignoreSslErrors(); });
    auto elapsed = std::make_shared<QElapsedTimer>();
    elapsed->start();
    connect(m_socket, &QWebSocket::connected, this, [this, shown, elapsed] {
        finish(true,
               QStringLiteral("%1 accepted the WebSocket upgrade in %2 ms")
                   .arg(shown)
                   .arg(elapsed->elapsed()));
    });
    auto onError = [this, shown] {
        finish(false, QStringLiteral("%1: %2").arg(shown, m_socket->errorString()));
    };
#if QT_VERSION >= QT_VERSION_CHECK(6, 5, 0)
    connect(m_socket, &QWebSocket::errorOccurred, this, onError);
#else
    connect(m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this, onError);
#endif
    connect(m_socket, &QWebSocket::disconnected, this, onError);
    QTimer::singleShot(kTimeoutMs, this, [this, shown] {
        finish(false,
               QStringLiteral("%1: no answer within %2 s").arg(shown).arg(kTimeoutMs / 1000));
    });
    m_socket->open(request);
}

void ConnectionProbe::finish(bool ok, const QString &message)
{
    if (m_done)
        return;
    m_done = true;
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
        m_socket->deleteLater();
    }
    Q_EMIT finished(ok, message);
}

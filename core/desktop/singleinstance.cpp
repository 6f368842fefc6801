#include "singleinstance.h"

#include "logcategories.h"

#include <QCryptographicHash>
#include <QLocalServer>
#include <QLocalSocket>

namespace {
constexpr int kConnectTimeoutMs = 1000;
const QByteArray kActivate = QByteArrayLiteral("activate\n");
} // namespace

SingleInstance::SingleInstance(const QString &key, QObject *parent)
    : QObject(parent), m_key(key) { }

SingleInstance::~SingleInstance() = default;

QString SingleInstance::keyFor(const QString &configDirectory)
{
    // Local socket names are short on some systems: a digest of the user and the directory.
    const QByteArray digest =
        QCryptographicHash::hash(
            (qEnvironmentVariable("USER") + QLatin1Char('\n') + configDirectory).toUtf8(),
            QCryptographicHash::Sha256)
            .toHex()
            .left(16);
    return QStringLiteral("tcp-over-websocket-") + QString::fromLatin1(digest);
}

bool SingleInstance::claim()
{
    {
        QLocalSocket other;
        other.connectToServer(m_key);
        if (other.waitForConnected(kConnectTimeoutMs)) {
            other.write(kActivate);
            other.waitForBytesWritten(kConnectTimeoutMs);
            other.disconnectFromServer();
            return false;
        }
    }
    m_server = new QLocalServer(this);
    m_server->setSocketOptions(QLocalServer::UserAccessOption);
    // A server left behind by a crashed instance would make listen() fail.
    QLocalServer::removeServer(m_key);
    if (!m_server->listen(m_key)) {
        qCWarning(lcUi).noquote() << "cannot ensure a single instance:" << m_server->errorString();
        return true;
    }
    connect(m_server, &QLocalServer::newConnection, this, [this] {
        while (QLocalSocket *socket = m_server->nextPendingConnection()) {
            connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
            connect(socket, &QLocalSocket::readyRead, this, [this, socket] {
                if (socket->readAll().contains(kActivate.trimmed()))
                    Q_EMIT activationRequested();
            });
        }
    });
    return true;
}

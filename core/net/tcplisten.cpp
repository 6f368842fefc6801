#include "tcplisten.h"

#include <QHostInfo>
#include <QTcpServer>

namespace {
// Qt's default backlog (50) overflows when many connections open at once; the kernel then drops
// or resets them before they can be accepted. The kernel caps this at somaxconn.
constexpr int kListenBacklog = 1024;
} // namespace

namespace TcpListen {

bool listen(QTcpServer *server, const HostPort &address, QString *error)
{
    QHostAddress host = address.listenAddress();
    if (host.isNull()) {
        const QHostInfo info = QHostInfo::fromName(address.host);
        if (info.error() != QHostInfo::NoError || info.addresses().isEmpty()) {
            *error = QStringLiteral("cannot resolve listen address \"%1\": %2")
                         .arg(address.host, info.errorString());
            return false;
        }
        host = info.addresses().constFirst();
    }
    server->setListenBacklogSize(kListenBacklog);
    if (server->listen(host, address.port))
        return true;
    if (server->serverError() == QAbstractSocket::AddressInUseError)
        *error = QStringLiteral("cannot listen on %1: the port is already in use")
                     .arg(address.toString());
    else
        *error = QStringLiteral("cannot listen on %1: %2")
                     .arg(address.toString(), server->errorString());
    return false;
}

} // namespace TcpListen

// The TLS sessions a client may resume, one per server: a new connection offers the last session
// the server gave, which saves it the certificate exchange and its verification.
#pragma once

#include <QByteArray>
#include <QHash>
#include <QString>

class TlsSessionCache
{
public:
    // Which server a session belongs to: the address connected to and the name verified.
    static QString keyOf(const QString &host, int port, const QString &verifiedName);

    // The last session stored for key (serialized by Qt, QSslConfiguration::sessionTicket()), or
    // an empty array.
    QByteArray session(const QString &key) const { return m_sessions.value(key); }
    void store(const QString &key, const QByteArray &session);

private:
    // Bounded: the servers of one client tunnel (its URL and the redirects it follows).
    static constexpr int kMaxServers = 16;
    QHash<QString, QByteArray> m_sessions;
};

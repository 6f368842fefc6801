#include "tlssessioncache.h"

QString TlsSessionCache::keyOf(const QString &host, int port, const QString &verifiedName)
{
    return QStringLiteral("%1|%2|%3").arg(host).arg(port).arg(verifiedName);
}

void TlsSessionCache::store(const QString &key, const QByteArray &session)
{
    if (session.isEmpty())
        return;
    if (!m_sessions.contains(key) && m_sessions.size() >= kMaxServers)
        m_sessions.clear();
    m_sessions.insert(key, session);
}

#include "namelookups.h"

#include "logcategories.h"

NameLookups::NameLookups(QObject *parent) : QObject(parent) { }

bool NameLookups::lookUp(const QString &client, const QString &name, QObject *requester, Done done)
{
    Request request {client, name, requester, std::move(done)};
    if (m_inProgress.size() < kMaxInProgress
        && m_inProgressByClient.value(client) < kMaxInProgressPerClient) {
        start(std::move(request));
        return true;
    }
    if (m_waiting.size() >= kMaxWaiting
        || m_waitingByClient.value(client) >= kMaxWaitingPerClient) {
        refused(client);
        return false;
    }
    ++m_waitingByClient[client];
    m_waiting.append(std::move(request));
    return true;
}

void NameLookups::cancel(QObject *requester)
{
    for (auto it = m_inProgress.begin(); it != m_inProgress.end(); ++it) {
        if (it->requester == requester) {
            it->requester = nullptr;
            it->done = nullptr;
        }
    }
    for (qsizetype i = 0; i < m_waiting.size(); ++i) {
        if (m_waiting.at(i).requester != requester)
            continue;
        if (--m_waitingByClient[m_waiting.at(i).client] == 0)
            m_waitingByClient.remove(m_waiting.at(i).client);
        m_waiting.removeAt(i);
        break;
    }
    endBurst();
}

void NameLookups::start(Request request)
{
    ++m_inProgressByClient[request.client];
    // Never aborted (QHostInfo::abortHostLookup()): an aborted lookup reports nothing, and its
    // thread stays busy until the resolver answers; the count must last as long. A slot by
    // name, not a functor: Qt 6.4 leaks the functor of a lookup that reports nothing, or whose
    // context object is gone when it ends (QHostInfoResult; 6.8 frees it), as at the exit of a
    // server with lookups in progress. Results are always delivered later, never from here.
    const int id = QHostInfo::lookupHost(request.name, this, SLOT(finished(QHostInfo)));
    m_inProgress.insert(id, std::move(request));
}

void NameLookups::finished(const QHostInfo &info)
{
    const auto it = m_inProgress.find(info.lookupId());
    if (it == m_inProgress.end())
        return;
    const Request request = *it;
    m_inProgress.erase(it);
    if (--m_inProgressByClient[request.client] <= 0)
        m_inProgressByClient.remove(request.client);
    startWaiting();
    if (request.requester && request.done)
        request.done(info);
}

void NameLookups::startWaiting()
{
    for (qsizetype i = 0; i < m_waiting.size() && m_inProgress.size() < kMaxInProgress;) {
        const QString client = m_waiting.at(i).client;
        if (m_inProgressByClient.value(client) >= kMaxInProgressPerClient) {
            ++i;
            continue;
        }
        if (--m_waitingByClient[client] == 0)
            m_waitingByClient.remove(client);
        start(m_waiting.takeAt(i));
    }
    endBurst();
}

void NameLookups::refused(const QString &client)
{
    // Once per burst: a client in a loop would log a line per request.
    if (m_refusedInBurst++ == 0)
        qCWarning(lcServer).noquote()
            << QStringLiteral("name lookups: %1 in progress, %2 waiting; requests beyond the "
                              "limits (the first from %3) are refused (503 busy) until none waits")
                   .arg(m_inProgress.size())
                   .arg(m_waiting.size())
                   .arg(client);
}

void NameLookups::endBurst()
{
    if (!m_waiting.isEmpty() || m_refusedInBurst == 0)
        return;
    qCInfo(lcServer) << "name lookups: none waits any more;" << m_refusedInBurst
                     << "requests were refused (503 busy) meanwhile";
    m_refusedInBurst = 0;
}

// Bounds the name lookups that dynamic routes start: a few in progress per client address and
// fewer than Qt's lookup threads overall, the rest waiting in a bounded queue or refused, so
// that a client naming destinations whose DNS never answers cannot hold every lookup thread
// while other clients' lookups wait behind it.
#pragma once

#include <QHash>
#include <QHostInfo>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <functional>

class NameLookups : public QObject
{
    Q_OBJECT
public:
    // QHostInfo runs lookups on a pool of 20 threads (Qt 6.4 to 6.8, qhostinfo.cpp) shared by
    // the whole process, fixed routes' remotes included: some are left to them.
    static constexpr int kMaxInProgress = 16;
    static constexpr int kMaxInProgressPerClient = 4;
    // Beyond these a request is refused at once (503 busy) instead of waiting.
    static constexpr int kMaxWaiting = 256;
    static constexpr int kMaxWaitingPerClient = 32;

    using Done = std::function<void(const QHostInfo &info)>;

    explicit NameLookups(QObject *parent = nullptr);

    // Looks name up for client, at once or once a place is free; done is called later (never
    // from within), unless requester was destroyed or cancel()led first. Returns false, and
    // calls nothing, when too many of client's (or all clients') requests wait already.
    bool lookUp(const QString &client, const QString &name, QObject *requester, Done done);
    // The requester no longer wants its result. A lookup in progress still counts until it
    // ends: its thread is held until the resolver answers, whoever waits for it.
    void cancel(QObject *requester);

    int inProgress() const { return int(m_inProgress.size()); }
    int waiting() const { return int(m_waiting.size()); }

private Q_SLOTS:
    void finished(const QHostInfo &info);

private:
    struct Request
    {
        QString client;
        QString name;
        QPointer<QObject> requester;
        Done done;
    };

    void start(Request request);
    void startWaiting();
    void refused(const QString &client);
    void endBurst(); // logs the refusals of a burst that is over

    QHash<int, Request> m_inProgress; // by QHostInfo's lookup id
    QHash<QString, int> m_inProgressByClient;
    QList<Request> m_waiting; // first come, first started
    QHash<QString, int> m_waitingByClient;
    int m_refusedInBurst = 0; // since the queue was last empty: logged when it is again
};

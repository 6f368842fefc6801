#include "keychainvault.h"

#include <QCoreApplication>
#include <QMutex>
#include <QMutexLocker>
#include <QThread>
#include <QTimer>
#include <qt6keychain/keychain.h>

namespace {

// QtKeychain queues every job of the process in one executor that lives on the thread of the
// first job (QtKeychain 0.13 to 0.15): all jobs must be started on the same, lasting thread.
QThread *g_thread = nullptr;
QObject *g_worker = nullptr; // lives on g_thread

void stopKeychainThread()
{
    g_thread->quit();
    g_thread->wait();
    delete g_worker;
    delete g_thread;
    g_worker = nullptr;
    g_thread = nullptr;
}

QObject *keychainWorker()
{
    if (!g_thread) {
        g_thread = new QThread;
        g_thread->setObjectName(QStringLiteral("tow-keychain"));
        g_worker = new QObject;
        g_worker->moveToThread(g_thread);
        g_thread->start();
        qAddPostRoutine(stopKeychainThread);
    }
    return g_worker;
}

} // namespace

// What the keychain thread posts its answers to: the receiver on the asking thread, while it
// lives. The mutex keeps the receiver from being deleted while an answer is posted to it.
struct KeychainVault::Mailbox
{
    QMutex mutex;
    QObject *receiver = nullptr;

    template<typename Functor>
    void post(Functor functor)
    {
        QMutexLocker locker(&mutex);
        if (receiver)
            QMetaObject::invokeMethod(receiver, std::move(functor), Qt::QueuedConnection);
    }
};

KeychainVault::KeychainVault(const QString &service, int timeoutMs)
    : m_service(service),
      m_timeoutMs(timeoutMs),
      m_receiver(std::make_unique<QObject>()),
      m_mailbox(std::make_shared<Mailbox>())
{
    m_mailbox->receiver = m_receiver.get();
}

KeychainVault::~KeychainVault()
{
    {
        QMutexLocker locker(&m_mailbox->mutex);
        m_mailbox->receiver = nullptr;
    }
    // Answers already posted are dropped with the receiver; the jobs still running end on the
    // keychain thread and find no one to tell.
    m_receiver.reset();
}

QString KeychainVault::description() const
{
    return QStringLiteral("the keychain");
}

void KeychainVault::read(const QString &key, Callback done)
{
    start(Operation::Read, key, QByteArray(), std::move(done));
}

void KeychainVault::write(const QString &key, const QByteArray &data, Callback done)
{
    start(Operation::Write, key, data, std::move(done));
}

void KeychainVault::remove(const QString &key, Callback done)
{
    start(Operation::Remove, key, QByteArray(), std::move(done));
}

void KeychainVault::start(Operation operation, const QString &key, const QByteArray &data,
                          Callback done)
{
    // The first of the job's answer and the timeout is delivered; both run on this thread.
    auto answered = std::make_shared<bool>(false);
    auto deliver = [answered, done = std::move(done)](const Answer &answer) {
        if (*answered)
            return;
        *answered = true;
        done(answer);
    };
    QTimer::singleShot(m_timeoutMs, m_receiver.get(), [deliver, timeoutMs = m_timeoutMs] {
        Answer answer;
        answer.error = QStringLiteral("it did not answer within %1 seconds").arg(timeoutMs / 1000);
        deliver(answer);
    });

    const std::shared_ptr<Mailbox> mailbox = m_mailbox;
    const QString service = m_service;
    QMetaObject::invokeMethod(
        keychainWorker(),
        [operation, key, data, service, mailbox, deliver] {
            QKeychain::Job *job = nullptr;
            switch (operation) {
            case Operation::Read:
                job = new QKeychain::ReadPasswordJob(service);
                break;
            case Operation::Write: {
                auto *writeJob = new QKeychain::WritePasswordJob(service);
                // Text, not binary: the Secret Service keeps it as it is (not base64), so the
                // entry reads as JSON in Seahorse and `secret-tool lookup`.
                writeJob->setTextData(QString::fromUtf8(data));
                job = writeJob;
                break;
            }
            case Operation::Remove:
                job = new QKeychain::DeletePasswordJob(service);
                break;
            }
            job->setAutoDelete(true);
            // QtKeychain's own fallback is a plain-text QSettings file: ours is the 0600 file.
            job->setInsecureFallback(false);
            job->setKey(key);
            QObject::connect(job, &QKeychain::Job::finished, job,
                             [operation, mailbox, deliver](QKeychain::Job *finished) {
                                 Answer answer;
                                 if (finished->error() == QKeychain::NoError) {
                                     answer.status = Answer::Status::Done;
                                     if (operation == Operation::Read)
                                         answer.data =
                                             static_cast<QKeychain::ReadPasswordJob *>(finished)
                                                 ->textData()
                                                 .toUtf8();
                                 } else if (finished->error() == QKeychain::EntryNotFound) {
                                     answer.status = Answer::Status::NotFound;
                                 } else {
                                     answer.error = finished->errorString();
                                 }
                                 mailbox->post([deliver, answer] { deliver(answer); });
                             });
            job->start();
        },
        Qt::QueuedConnection);
}

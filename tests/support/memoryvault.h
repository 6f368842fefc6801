// A keychain in the test's own process: a real SecretVault that keeps its entries in memory and
// holds every answer until the test delivers it (answerAll), so that a test can look at the
// profile store while a request is pending ("still reading"), and make reads fail. No timing:
// nothing is answered by itself. With ignoreCase it names entries as Windows' Credential Manager
// does: "SSH" and "ssh" are one entry.
#pragma once

#include "profiles/secretvault.h"

#include <QHash>
#include <QList>
#include <QSet>
#include <QString>
#include <QStringList>
#include <functional>

class MemoryVault : public SecretVault
{
public:
    explicit MemoryVault(bool ignoreCase = false) : m_ignoreCase(ignoreCase) { }

    void read(const QString &key, Callback done) override
    {
        log << QStringLiteral("read ") + key;
        m_held.append([this, key, done] {
            Answer answer;
            if (failing.contains(key)) {
                answer.error = QStringLiteral("the test keychain is locked");
            } else if (const auto it = m_entries.constFind(fold(key)); it != m_entries.cend()) {
                answer.status = Answer::Status::Done;
                answer.data = *it;
            } else {
                answer.status = Answer::Status::NotFound;
            }
            done(answer);
        });
    }
    void write(const QString &key, const QByteArray &data, Callback done) override
    {
        log << QStringLiteral("write ") + key;
        m_held.append([this, key, data, done] {
            m_entries.insert(fold(key), data);
            Answer answer;
            answer.status = Answer::Status::Done;
            done(answer);
        });
    }
    void remove(const QString &key, Callback done) override
    {
        log << QStringLiteral("remove ") + key;
        m_held.append([this, key, done] {
            Answer answer;
            answer.status =
                m_entries.remove(fold(key)) > 0 ? Answer::Status::Done : Answer::Status::NotFound;
            done(answer);
        });
    }
    QString description() const override { return QStringLiteral("the test keychain"); }

    // Answers the requests in the order they came, also those that answers cause.
    void answerAll()
    {
        while (!m_held.isEmpty())
            m_held.takeFirst()();
    }
    bool pending() const { return !m_held.isEmpty(); }

    void setEntry(const QString &key, const QByteArray &data) { m_entries.insert(fold(key), data); }
    QByteArray entry(const QString &key) const { return m_entries.value(fold(key)); }
    bool contains(const QString &key) const { return m_entries.contains(fold(key)); }

    QStringList log; // "read NAME", "write NAME", "remove NAME" as asked
    QSet<QString> failing; // keys whose reads fail

private:
    QString fold(const QString &key) const { return m_ignoreCase ? key.toCaseFolded() : key; }

    bool m_ignoreCase;
    QHash<QString, QByteArray> m_entries;
    QList<std::function<void()>> m_held;
};

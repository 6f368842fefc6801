// The saved profiles: one JSON document with a schema version in the platform's config location,
// written atomically, plus their secrets: in the platform's keychain when the program gives the
// store one (setSecretVault) and it answers, else in an owner-only file. Shared by the tray app and
// the headless client.
#pragma once

#include "profile.h"
#include "secretvault.h"

#include <QHash>
#include <QJsonObject>
#include <QJsonValue>
#include <QList>
#include <QObject>
#include <QSet>
#include <QString>
#include <QStringList>
#include <optional>

class ProfileStore : public QObject
{
    Q_OBJECT
public:
    static constexpr int kSchemaVersion = 1;

    // directory empty: QStandardPaths::AppConfigLocation.
    explicit ProfileStore(const QString &directory = QString(), QObject *parent = nullptr);

    QString directory() const { return m_directory; } // where the files are
    QString filePath() const; // profiles.json
    QString secretsFilePath() const; // secrets.json, mode 0600

    // Secrets in the keychain. Call before load(); the vault must live while the store is used.
    // Each profile's secrets are one keychain entry named after the profile; secrets.json then
    // holds {"keychain": true} in its place. A secret leaves the file only after the keychain
    // confirmed the write; when the keychain fails once (no D-Bus session, locked, no answer),
    // the store keeps every secret in the file for the rest of the process, as without a vault.
    void setSecretVault(SecretVault *vault);
    // Moves secrets still kept in the file to the keychain (the tray app calls it after load();
    // the headless client only reads).
    void moveSecretsToVault();
    // True while secrets are read from the keychain after load(); changes are refused meanwhile.
    bool secretsLoading() const { return m_pendingReads > 0; }
    // True while the keychain has not answered every request yet.
    bool vaultBusy() const { return m_vaultRequests > 0; }
    // Why a profile's secrets are missing (its keychain entry could not be read), or empty.
    QString secretsProblem(const QString &name) const { return m_unreadable.value(name); }
    // Runs a local event loop until the keychain answered every read of load() (each request of
    // the vault ends by itself, in error at its timeout): for the headless client.
    void waitForSecrets();

    // Reads both files. A missing file is an empty store. A file that cannot be read at all (not
    // JSON, another schema) is renamed aside (never overwritten later) and the store starts
    // empty: returns false with a message that names the file, the key and what was expected,
    // and where the file was moved to. A profile with a bad field does not stop the others: it is
    // loaded as needing attention (see problem()) and written back as it was read until it is
    // changed.
    bool load(QString *error);

    const QList<Profile> &profiles() const { return m_profiles; }
    QStringList names() const;
    // Names are unique regardless of case, and found regardless of case, as the editor compares
    // them.
    std::optional<Profile> profile(const QString &name) const;
    bool contains(const QString &name) const;

    // Why a profile cannot start until it is edited, or empty: a field its file got wrong (it is
    // kept as read until then), or a local address that an earlier profile listens on already.
    QString problem(const QString &name) const;

    // Each change validates, keeps names unique and local addresses apart (HostPort::clashesWith,
    // against the profiles that need no attention), saves, and emits changed(). On failure
    // nothing changes and *error says why.
    bool add(const Profile &profile, QString *error);
    // May rename; not a profile whose keychain entry could not be read (secretsProblem()).
    // shown: the profile as the editor showed it; secrets the editor left as shown stay as
    // stored (they may have arrived from the keychain since).
    bool update(const QString &name, const Profile &profile, QString *error,
                const std::optional<Profile> &shown = std::nullopt);
    bool rename(const QString &name, const QString &newName, QString *error);
    bool remove(const QString &name, QString *error);
    // Adds a copy named "NAME (copy)", "NAME (copy 2)"... on a free local port
    // (freeListenAddress); returns the new name.
    std::optional<QString> duplicate(const QString &name, QString *error);

    // The name of another profile (one that needs no attention, other than ignoringName and the
    // profile's own name) whose local address clashes with the profile's, or empty.
    QString listenConflict(const Profile &profile, const QString &ignoringName = QString()) const;
    // listen itself when no profile's address clashes with it, otherwise the same host on the
    // next port that clashes with none (after 65535 it goes on from 1024). udp: the address is a
    // UDP port, which only UDP profiles' ports clash with.
    QString freeListenAddress(const QString &listen, bool udp = false) const;

    // Writes the named profiles (all when names is empty) to a JSON file of the same format;
    // secrets are left out unless asked for.
    bool exportProfiles(const QStringList &names, const QString &path, bool withSecrets,
                        QString *error) const;
    // Adds every profile of an exported file; a name already in use gets " (imported)", a local
    // address in use the next free port (and auto-start off). A profile with a bad field is added
    // too, as needing attention (problem() says why), so that it can be repaired in the editor.
    // Returns the names added; nothing is added when the file itself cannot be read.
    std::optional<QStringList> importProfiles(const QString &path, QString *error);

    // A name not used yet, built from base.
    QString uniqueName(const QString &base) const;

    bool save(QString *error);

Q_SIGNALS:
    void changed();
    void secretsLoaded(); // the last keychain read of load() has answered
    void vaultIdle(); // the keychain answered every request

private:
    // A profile that did not read as valid, as it was in the file: written back unchanged (also
    // its secrets entry) until the profile is changed.
    struct Kept
    {
        QJsonValue json;
        QString secretsName; // its key in the secrets file
        QJsonObject secrets;
        QString reason;
    };

    int indexOf(const QString &name) const;
    bool commit(const QList<Profile> &profiles, QString *error);
    bool writeSecretsFile(QString *error);
    void syncVault();
    void secretsRead(const QString &key, const QString &name, quint64 generation,
                     const SecretVault::Answer &answer);
    void secretsWritten(const QString &name, const QJsonObject &entry, quint64 generation,
                        const SecretVault::Answer &answer);
    void vaultAnswered();
    void vaultFailed(const QString &why);
    void updateProblems();
    static QString freeListenAddress(const QString &listen, bool udp,
                                     const QList<Profile> &profiles);

    QString m_directory;
    QList<Profile> m_profiles;
    QHash<QString, Kept> m_kept; // by profile name
    QHash<QString, QString> m_problems; // by profile name
    bool m_writable = true;

    SecretVault *m_vault = nullptr;
    bool m_vaultUsable = false;
    bool m_vaultWrites = false; // moveSecretsToVault() was called
    quint64 m_loadGeneration = 0; // answers to the reads of an earlier load() are dropped
    int m_pendingReads = 0;
    int m_vaultRequests = 0;
    // Per profile name: the secrets entry the keychain confirmed holding.
    QHash<QString, QJsonObject> m_inVault;
    // Per profile name: the entry being written now.
    QHash<QString, QJsonObject> m_writing;
    // Case-folded names whose keychain entry is being deleted now.
    QSet<QString> m_removing;
    // Per profile name: why its keychain entry could not be read (it stays there untouched).
    QHash<QString, QString> m_unreadable;
};

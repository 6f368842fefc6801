// The saved profiles: one JSON document with a schema version in the platform's config location,
// written atomically, plus an owner-only file for their secrets. Shared by the tray app and the
// headless client.
#pragma once

#include "profile.h"

#include <QList>
#include <QObject>
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

    QString filePath() const; // profiles.json
    QString secretsFilePath() const; // secrets.json, mode 0600

    // Reads both files. A missing file is an empty store. A file that cannot be read is renamed
    // aside (never overwritten later) and the store starts empty: returns false with a message
    // that names the file, the key and what was expected, and where the file was moved to.
    bool load(QString *error);

    const QList<Profile> &profiles() const { return m_profiles; }
    QStringList names() const;
    std::optional<Profile> profile(const QString &name) const;
    bool contains(const QString &name) const;

    // Each change validates, keeps names unique, saves, and emits changed(). On failure nothing
    // changes and *error says why.
    bool add(const Profile &profile, QString *error);
    bool update(const QString &name, const Profile &profile, QString *error); // may rename
    bool rename(const QString &name, const QString &newName, QString *error);
    bool remove(const QString &name, QString *error);
    // Adds a copy named "NAME (copy)", "NAME (copy 2)"...; returns the new name.
    std::optional<QString> duplicate(const QString &name, QString *error);

    // The name of another profile listening on the same local address, or empty.
    QString listenConflict(const Profile &profile, const QString &ignoringName = QString()) const;

    // Writes the named profiles (all when names is empty) to a JSON file of the same format;
    // secrets are left out unless asked for.
    bool exportProfiles(const QStringList &names, const QString &path, bool withSecrets,
                        QString *error) const;
    // Adds every profile of an exported file; a name already in use gets " (imported)". Returns
    // the names added. Nothing is added when any profile of the file is invalid.
    std::optional<QStringList> importProfiles(const QString &path, QString *error);

    // A name not used yet, built from base.
    QString uniqueName(const QString &base) const;

    bool save(QString *error);

Q_SIGNALS:
    void changed();

private:
    int indexOf(const QString &name) const;
    bool commit(const QList<Profile> &profiles, QString *error);

    QString m_directory;
    QList<Profile> m_profiles;
    bool m_writable = true;
};

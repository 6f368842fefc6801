#include "profilestore.h"

#include "logcategories.h"
#include "net/hostport.h"
#include "regularfile.h"
#include "secretvault.h"

#include <QDateTime>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QSaveFile>
#include <QSet>
#include <QStandardPaths>
#include <algorithm>

namespace {

const QLatin1String kSchemaKey("schema");
const QLatin1String kProfilesKey("profiles");
const QLatin1String kSecretsKey("secrets");
const QLatin1String kTokenKey("token");
const QLatin1String kServerPasswordKey("serverPassword");
const QLatin1String kProxyPasswordKey("proxyPassword");
const QLatin1String kSocks5PasswordKey("socks5Password");
const QLatin1String kServerQueryKey("serverQuery");
// In secrets.json in place of a profile's secrets: they are in the keychain.
const QLatin1String kKeychainKey("keychain");
constexpr QFileDevice::Permissions kOwnerOnly = QFileDevice::ReadOwner | QFileDevice::WriteOwner;
// Thousands of profiles take a few MiB; anything larger is not one of our files.
constexpr qint64 kMaxFileBytes = 16 * 1024 * 1024;

struct ReadResult
{
    bool missing = false;
    QByteArray data;
    QString error;
};

ReadResult readFile(const QString &path)
{
    ReadResult result;
    if (!QFileInfo::exists(path)) {
        result.missing = true;
        return result;
    }
    // Regular files only: a FIFO in their place must not freeze the tray app.
    QString why;
    const auto content = RegularFile::read(path, kMaxFileBytes + 1, &why);
    if (!content) {
        result.error = QStringLiteral("%1: cannot be read: %2").arg(path, why);
        return result;
    }
    if (content->size() > kMaxFileBytes) {
        result.error = QStringLiteral("%1: cannot be read: it is larger than 16 MiB; is this the "
                                      "right file?")
                           .arg(path);
        return result;
    }
    result.data = *content;
    return result;
}

// The top-level object of one of our files, with its schema checked.
std::optional<QJsonObject> parseTopLevel(const QByteArray &data, const QString &path,
                                         QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(data, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        *error = QStringLiteral("%1: not valid JSON at byte %2: %3")
                     .arg(path)
                     .arg(parseError.offset)
                     .arg(parseError.errorString());
        return std::nullopt;
    }
    if (!document.isObject()) {
        *error = QStringLiteral("%1: expected a JSON object {\"schema\": %2, ...} at the top")
                     .arg(path)
                     .arg(ProfileStore::kSchemaVersion);
        return std::nullopt;
    }
    const QJsonObject object = document.object();
    const QJsonValue schema = object.value(kSchemaKey);
    if (!schema.isDouble()) {
        *error = QStringLiteral("%1: key \"schema\": missing or not a number (expected %2)")
                     .arg(path)
                     .arg(ProfileStore::kSchemaVersion);
        return std::nullopt;
    }
    if (schema.toDouble() != ProfileStore::kSchemaVersion) {
        *error = QStringLiteral("%1: key \"schema\": expected %2, found %3%4")
                     .arg(path)
                     .arg(ProfileStore::kSchemaVersion)
                     .arg(schema.toDouble())
                     .arg(schema.toDouble() > ProfileStore::kSchemaVersion
                              ? QStringLiteral(" (written by a newer version of the program)")
                              : QString());
        return std::nullopt;
    }
    return object;
}

// One element of the file's "profiles" array.
struct ReadProfile
{
    Profile profile; // valid, or what could be read of it (Profile::readable)
    QJsonValue json; // as written
    QString originalName; // its "name", the key of its secrets
    QString reason; // empty when valid: "key \"listen\": ..."
};

// The file's profiles. Only the file as a whole can fail (not JSON, another schema, no
// "profiles" array); a profile that does not read is returned with its reason.
std::optional<QList<ReadProfile>> parseProfiles(const QByteArray &data, const QString &path,
                                                QString *error)
{
    const auto object = parseTopLevel(data, path, error);
    if (!object)
        return std::nullopt;
    for (auto it = object->begin(); it != object->end(); ++it) {
        if (it.key() != kSchemaKey && it.key() != kProfilesKey) {
            *error = QStringLiteral("%1: key \"%2\": unknown key (expected \"schema\" and "
                                    "\"profiles\")")
                         .arg(path, it.key());
            return std::nullopt;
        }
    }
    const QJsonValue list = object->value(kProfilesKey);
    if (!list.isArray()) {
        *error = QStringLiteral("%1: key \"profiles\": missing or not an array (expected "
                                "[{\"name\": ..., \"listen\": ..., \"server\": ...}, ...])")
                     .arg(path);
        return std::nullopt;
    }
    QList<ReadProfile> profiles;
    const QJsonArray array = list.toArray();
    for (qsizetype i = 0; i < array.size(); ++i) {
        ReadProfile read;
        read.json = array.at(i);
        if (!read.json.isObject()) {
            read.profile.listen.clear();
            read.reason = QStringLiteral("expected an object {\"name\": ..., \"listen\": ..., "
                                         "\"server\": ...}");
        } else {
            const QJsonObject object = read.json.toObject();
            read.originalName = object.value(QLatin1String("name")).toString();
            QString why;
            const auto profile = Profile::fromJson(object, &why);
            if (profile) {
                read.profile = *profile;
            } else {
                read.profile = Profile::readable(object);
                read.reason = why;
            }
        }
        profiles.append(read);
    }
    return profiles;
}

// Gives every read profile a name of its own: an unnamed one "Profile N", a name an earlier one
// has (in any case) a number. In a store's own file the second name needs attention (which of
// the two is meant?); on import it is only numbered.
void nameUniquely(QList<ReadProfile> *profiles, const QList<Profile> &existing,
                  bool sameNameNeedsAttention)
{
    auto taken = [&](const QString &name, qsizetype before) {
        for (const Profile &profile : existing) {
            if (profile.name.compare(name, Qt::CaseInsensitive) == 0)
                return true;
        }
        for (qsizetype i = 0; i < before; ++i) {
            if (profiles->at(i).profile.name.compare(name, Qt::CaseInsensitive) == 0)
                return true;
        }
        return false;
    };
    for (qsizetype i = 0; i < profiles->size(); ++i) {
        ReadProfile &read = (*profiles)[i];
        QString base = read.profile.name;
        if (base.trimmed().isEmpty())
            base = QStringLiteral("Profile %1").arg(i + 1);
        else if (!taken(base, i))
            continue;
        else if (read.reason.isEmpty() && sameNameNeedsAttention)
            read.reason = QStringLiteral("key \"name\": the name is used by an earlier profile "
                                         "too (names must be unique)");
        QString name = base;
        for (int n = 2; taken(name, i); ++n)
            name = QStringLiteral("%1 %2").arg(base).arg(n);
        read.profile.name = name;
    }
}

struct Secrets
{
    bool inKeychain = false; // {"keychain": true}: the rest is in the keychain
    QString token;
    QString serverPassword;
    QString proxyPassword;
    QList<QPair<QString, QString>> serverQuery; // ?token= and the like, by item name
    QString socks5Password;
};

// One profile's entry of secrets.json, or the data of its keychain entry (the same object);
// where: "FILE: secrets[\"NAME\"]".
std::optional<Secrets> parseSecretsEntry(const QJsonValue &value, const QString &where,
                                         QString *error)
{
    if (!value.isObject()) {
        *error = where + QStringLiteral(": expected an object");
        return std::nullopt;
    }
    const QJsonObject entry = value.toObject();
    Secrets item;
    const QJsonValue keychain = entry.value(kKeychainKey);
    if (!keychain.isUndefined()) {
        if (keychain != QJsonValue(true) || entry.size() != 1) {
            *error = where
                + QStringLiteral(", key \"%1\": expected {\"%1\": true} alone").arg(kKeychainKey);
            return std::nullopt;
        }
        item.inKeychain = true;
        return item;
    }
    const QList<QPair<QLatin1String, QString *>> fields = {
        {kTokenKey, &item.token},
        {kServerPasswordKey, &item.serverPassword},
        {kProxyPasswordKey, &item.proxyPassword},
        {kSocks5PasswordKey, &item.socks5Password}};
    for (const auto &field : fields) {
        const QJsonValue fieldValue = entry.value(field.first);
        if (fieldValue.isUndefined())
            continue;
        if (!fieldValue.isString()) {
            *error = where + QStringLiteral(", key \"%1\": expected a string").arg(field.first);
            return std::nullopt;
        }
        *field.second = fieldValue.toString();
    }
    const QJsonValue query = entry.value(kServerQueryKey);
    if (!query.isUndefined() && !query.isObject()) {
        *error = where + QStringLiteral(", key \"%1\": expected an object").arg(kServerQueryKey);
        return std::nullopt;
    }
    const QJsonObject queryItems = query.toObject();
    for (auto secret = queryItems.begin(); secret != queryItems.end(); ++secret) {
        if (!secret.value().isString()) {
            *error = where + QStringLiteral(", key \"%1\": expected strings").arg(kServerQueryKey);
            return std::nullopt;
        }
        item.serverQuery.append({secret.key(), secret.value().toString()});
    }
    return item;
}

std::optional<QHash<QString, Secrets>> parseSecrets(const QByteArray &data, const QString &path,
                                                    QJsonObject *raw, QString *error)
{
    const auto object = parseTopLevel(data, path, error);
    if (!object)
        return std::nullopt;
    const QJsonValue map = object->value(kSecretsKey);
    if (!map.isObject()) {
        *error = QStringLiteral("%1: key \"secrets\": missing or not an object (expected "
                                "{\"profile name\": {\"token\": ...}})")
                     .arg(path);
        return std::nullopt;
    }
    QHash<QString, Secrets> secrets;
    const QJsonObject entries = map.toObject();
    *raw = entries;
    for (auto it = entries.begin(); it != entries.end(); ++it) {
        const auto item = parseSecretsEntry(
            it.value(), QStringLiteral("%1: secrets[\"%2\"]").arg(path, it.key()), error);
        if (!item)
            return std::nullopt;
        secrets.insert(it.key(), *item);
    }
    return secrets;
}

void applySecrets(Profile *profile, const Secrets &item)
{
    profile->setSecrets(item.token, item.serverPassword, item.proxyPassword, item.serverQuery,
                        item.socks5Password);
}

// A profile's secrets as one object (empty when it has none): its entry of secrets.json, and the
// data of its keychain entry.
QJsonObject secretsEntry(const Profile &profile)
{
    QJsonObject entry;
    if (!profile.token.isEmpty())
        entry.insert(kTokenKey, profile.token);
    if (!profile.serverPassword().isEmpty())
        entry.insert(kServerPasswordKey, profile.serverPassword());
    if (!profile.proxyPassword().isEmpty())
        entry.insert(kProxyPasswordKey, profile.proxyPassword());
    // Only the kind's own: the profile file keeps no other kind's fields either.
    if (profile.kind == Profile::Kind::Socks5 && !profile.socks5Password.isEmpty())
        entry.insert(kSocks5PasswordKey, profile.socks5Password);
    QJsonObject query;
    for (const auto &secret : profile.serverQuerySecrets()) {
        if (!query.contains(secret.first))
            query.insert(secret.first, secret.second);
    }
    if (!query.isEmpty())
        entry.insert(kServerQueryKey, query);
    return entry;
}

// Moves a file that failed to load out of the way, so that saving never destroys it.
QString moveAside(const QString &path, QString *movedTo)
{
    const QString target = path + QStringLiteral(".broken-")
        + QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-hhmmss-zzz"));
    if (QFile::rename(path, target)) {
        *movedTo = target;
        return QString();
    }
    return QStringLiteral("it could not be moved aside to %1").arg(target);
}

bool writeFile(const QString &path, const QByteArray &data, bool ownerOnly, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    // QSaveFile writes a temporary file and renames it: restricting the temporary file keeps the
    // secrets unreadable by others at every moment.
    if (ownerOnly && !file.setPermissions(kOwnerOnly)) {
        *error = QStringLiteral("cannot make %1 readable by its owner only").arg(path);
        file.cancelWriting();
        return false;
    }
    file.write(data);
    if (!file.commit()) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

} // namespace

ProfileStore::ProfileStore(const QString &directory, QObject *parent)
    : QObject(parent),
      m_directory(directory.isEmpty()
                      ? QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation)
                      : directory)
{
}

QString ProfileStore::filePath() const
{
    return QDir(m_directory).filePath(QStringLiteral("profiles.json"));
}

QString ProfileStore::secretsFilePath() const
{
    return QDir(m_directory).filePath(QStringLiteral("secrets.json"));
}

bool ProfileStore::load(QString *error)
{
    m_profiles.clear();
    m_kept.clear();
    m_writable = true;
    ++m_loadGeneration;
    m_pendingReads = 0;
    m_inVault.clear();
    m_writing.clear();
    m_unreadable.clear();
    m_removing.clear();
    m_vaultUsable = m_vault != nullptr;
    QStringList problems;
    // Profiles whose secrets are in the keychain: the entry's name (the profile's name in the
    // file) and the profile's name here (another one when it was renamed apart on loading).
    QList<QPair<QString, QString>> keychainNames;

    const ReadResult profilesFile = readFile(filePath());
    if (!profilesFile.error.isEmpty()) {
        m_writable = false;
        *error = profilesFile.error + QStringLiteral("; profiles will not be saved until it can");
        updateProblems();
        Q_EMIT changed();
        return false;
    }
    QList<ReadProfile> read;
    if (!profilesFile.missing) {
        QString why;
        const auto profiles = parseProfiles(profilesFile.data, filePath(), &why);
        if (profiles) {
            read = *profiles;
        } else {
            QString movedTo;
            const QString moveError = moveAside(filePath(), &movedTo);
            if (moveError.isEmpty()) {
                problems << why
                        + QStringLiteral(". The file was kept as %1; starting with no "
                                         "profiles.")
                              .arg(movedTo);
            } else {
                m_writable = false;
                problems << why + QStringLiteral("; ") + moveError
                        + QStringLiteral(", so profiles will not be saved until it is fixed");
            }
        }
    }
    nameUniquely(&read, {}, true);

    QHash<QString, Secrets> secrets;
    QJsonObject secretEntries;
    const ReadResult secretsFile = readFile(secretsFilePath());
    if (!secretsFile.error.isEmpty()) {
        problems << secretsFile.error + QStringLiteral("; tokens and passwords are missing");
        m_writable = false;
    } else if (!secretsFile.missing) {
#ifndef Q_OS_WIN
        // Mode bits are Unix's. On Windows Qt gives every class of user the bits of the read-only
        // attribute (it reads no ACLs unless asked to), so every file would look readable by
        // others; the profile directory under %APPDATA% is private by its inherited ACL.
        if (QFile::permissions(secretsFilePath())
            & ~(kOwnerOnly | QFileDevice::ReadUser | QFileDevice::WriteUser)) {
            qCWarning(lcProfiles).noquote()
                << secretsFilePath() << "was readable by others; restricting it to its owner";
            QFile::setPermissions(secretsFilePath(), kOwnerOnly);
        }
#endif
        QString why;
        const auto parsed = parseSecrets(secretsFile.data, secretsFilePath(), &secretEntries, &why);
        if (parsed) {
            secrets = *parsed;
        } else {
            secretEntries = QJsonObject();
            QString movedTo;
            const QString moveError = moveAside(secretsFilePath(), &movedTo);
            if (moveError.isEmpty()) {
                problems << why
                        + QStringLiteral(". The file was kept as %1; tokens and "
                                         "passwords must be entered again.")
                              .arg(movedTo);
            } else {
                m_writable = false;
                problems << why + QStringLiteral("; ") + moveError;
            }
        }
    }

    for (qsizetype i = 0; i < read.size(); ++i) {
        ReadProfile &entry = read[i];
        const Secrets item = secrets.value(entry.originalName);
        if (item.inKeychain)
            keychainNames.append({entry.originalName, entry.profile.name});
        else
            applySecrets(&entry.profile, item);
        if (!entry.reason.isEmpty()) {
            qCWarning(lcProfiles).noquote()
                << QStringLiteral("%1: profiles[%2] (\"%3\"), %4; it needs attention")
                       .arg(filePath())
                       .arg(i)
                       .arg(entry.profile.name, entry.reason);
            m_kept.insert(entry.profile.name,
                          Kept {entry.json, entry.originalName,
                                secretEntries.value(entry.originalName).toObject(), entry.reason});
        }
        m_profiles.append(entry.profile);
    }
    updateProblems();

    for (const auto &wanted : std::as_const(keychainNames)) {
        const QString key = wanted.first;
        const QString name = wanted.second;
        if (!m_vault) {
            m_unreadable.insert(name,
                                QStringLiteral("its token and passwords are kept in the keychain, "
                                               "which this build of the program cannot reach"));
            continue;
        }
        ++m_pendingReads;
        ++m_vaultRequests;
        const quint64 generation = m_loadGeneration;
        m_vault->read(key,
                      [self = QPointer<ProfileStore>(this), key, name,
                       generation](const SecretVault::Answer &answer) {
                          if (self)
                              self->secretsRead(key, name, generation, answer);
                      });
    }

    Q_EMIT changed();
    if (problems.isEmpty())
        return true;
    *error = problems.join(QLatin1Char('\n'));
    return false;
}

void ProfileStore::secretsRead(const QString &key, const QString &name, quint64 generation,
                               const SecretVault::Answer &answer)
{
    if (generation == m_loadGeneration) {
        QString why;
        std::optional<Secrets> item;
        if (answer.status == SecretVault::Answer::Status::Done) {
            const QJsonDocument document = QJsonDocument::fromJson(answer.data);
            item = parseSecretsEntry(document.object(), QStringLiteral("keychain entry"), &why);
            if (!document.isObject() || (item && item->inKeychain)) {
                item.reset();
                why = QStringLiteral("its keychain entry is not one of ours");
            }
        } else if (answer.status == SecretVault::Answer::Status::NotFound) {
            why = QStringLiteral("its keychain entry is missing");
        } else {
            why = QStringLiteral("the keychain could not be read: ") + answer.error;
            vaultFailed(answer.error);
        }
        const int index = indexOf(name);
        if (item && index >= 0) {
            applySecrets(&m_profiles[index], *item);
            // The keychain holds them under this profile's name only when the entry has it.
            if (key == name)
                m_inVault.insert(name, secretsEntry(m_profiles.at(index)));
        } else if (!item) {
            qCWarning(lcProfiles).noquote() << QStringLiteral("profile \"%1\": %2").arg(name, why);
            m_unreadable.insert(name, why);
        }
        if (--m_pendingReads == 0) {
            Q_EMIT changed();
            Q_EMIT secretsLoaded();
            syncVault();
        }
    }
    vaultAnswered();
}

void ProfileStore::setSecretVault(SecretVault *vault)
{
    m_vault = vault;
    m_vaultUsable = vault != nullptr;
}

void ProfileStore::moveSecretsToVault()
{
    m_vaultWrites = true;
    syncVault();
}

void ProfileStore::waitForSecrets()
{
    if (!secretsLoading())
        return;
    QEventLoop loop;
    connect(this, &ProfileStore::secretsLoaded, &loop, &QEventLoop::quit);
    loop.exec();
}

void ProfileStore::vaultAnswered()
{
    if (--m_vaultRequests == 0)
        Q_EMIT vaultIdle();
}

void ProfileStore::vaultFailed(const QString &why)
{
    if (!m_vaultUsable)
        return;
    m_vaultUsable = false;
    const QString message =
        QStringLiteral("%1 does not answer (%2)").arg(m_vault->description(), why);
    if (m_vaultWrites)
        qCWarning(lcProfiles).noquote() << message
                + QStringLiteral("; tokens and passwords are kept in the owner-only file ")
                + secretsFilePath();
    else
        qCWarning(lcProfiles).noquote() << message;
}

// Brings the keychain in line with the profiles: writes the secrets it does not hold yet (the
// file keeps them until it confirmed), deletes the entries of profiles gone or without secrets.
// A profile that needs attention is left as it was read (its secrets stay where they are) until
// it is edited. An entry is written only once no deletion of the same name in another letter
// case is pending: keychains that ignore case (Windows' Credential Manager) would delete the new
// entry with the old one.
void ProfileStore::syncVault()
{
    if (!m_vault || !m_vaultUsable || !m_vaultWrites || !m_writable || m_pendingReads > 0)
        return;
    const quint64 generation = m_loadGeneration;
    QSet<QString> names;
    QStringList gone; // entries to delete: of profiles gone, or left without secrets
    for (const Profile &profile : std::as_const(m_profiles)) {
        names.insert(profile.name);
        if (!m_kept.contains(profile.name) && secretsEntry(profile).isEmpty()
            && m_inVault.contains(profile.name) && !m_unreadable.contains(profile.name))
            gone << profile.name;
    }
    for (auto it = m_inVault.cbegin(); it != m_inVault.cend(); ++it) {
        if (!names.contains(it.key()))
            gone << it.key();
    }
    for (auto it = m_unreadable.cbegin(); it != m_unreadable.cend(); ++it) {
        if (!names.contains(it.key()) && !gone.contains(it.key()))
            gone << it.key();
    }
    for (const Profile &profile : std::as_const(m_profiles)) {
        if (m_kept.contains(profile.name))
            continue;
        const QJsonObject entry = secretsEntry(profile);
        if (entry.isEmpty())
            continue; // deleted below, if the keychain holds it
        if (m_inVault.value(profile.name) == entry || m_writing.value(profile.name) == entry)
            continue;
        const QString name = profile.name;
        const QString folded = name.toCaseFolded();
        const bool deleting = m_removing.contains(folded)
            || std::any_of(gone.cbegin(), gone.cend(),
                           [&folded](const QString &old) { return old.toCaseFolded() == folded; });
        if (deleting)
            continue; // written once the deletion answered
        m_writing.insert(name, entry);
        ++m_vaultRequests;
        m_vault->write(name, QJsonDocument(entry).toJson(QJsonDocument::Compact),
                       [self = QPointer<ProfileStore>(this), name, entry,
                        generation](const SecretVault::Answer &answer) {
                           if (self)
                               self->secretsWritten(name, entry, generation, answer);
                       });
    }
    for (const QString &name : std::as_const(gone)) {
        m_inVault.remove(name);
        m_unreadable.remove(name);
        m_removing.insert(name.toCaseFolded());
        ++m_vaultRequests;
        m_vault->remove(name,
                        [self = QPointer<ProfileStore>(this), name,
                         generation](const SecretVault::Answer &answer) {
                            if (!self)
                                return;
                            if (generation == self->m_loadGeneration
                                && answer.status == SecretVault::Answer::Status::Failed)
                                qCWarning(lcProfiles).noquote()
                                    << QStringLiteral(
                                           "the keychain entry of the removed profile \"%1\" could "
                                           "not be deleted: %2")
                                           .arg(name, answer.error);
                            if (generation == self->m_loadGeneration) {
                                self->m_removing.remove(name.toCaseFolded());
                                self->syncVault(); // what waited for it
                            }
                            self->vaultAnswered();
                        });
    }
}

void ProfileStore::secretsWritten(const QString &name, const QJsonObject &entry, quint64 generation,
                                  const SecretVault::Answer &answer)
{
    if (generation == m_loadGeneration) {
        if (m_writing.value(name) == entry)
            m_writing.remove(name);
        if (answer.status == SecretVault::Answer::Status::Done) {
            m_inVault.insert(name, entry);
            m_unreadable.remove(name);
            // Only now the secret leaves the file.
            QString error;
            if (!writeSecretsFile(&error))
                qCWarning(lcProfiles).noquote() << error;
            syncVault(); // changed or removed meanwhile
        } else {
            vaultFailed(answer.error);
        }
    }
    vaultAnswered();
}

QStringList ProfileStore::names() const
{
    QStringList result;
    for (const Profile &profile : m_profiles)
        result << profile.name;
    return result;
}

int ProfileStore::indexOf(const QString &name) const
{
    for (int i = 0; i < m_profiles.size(); ++i) {
        if (m_profiles.at(i).name.compare(name, Qt::CaseInsensitive) == 0)
            return i;
    }
    return -1;
}

std::optional<Profile> ProfileStore::profile(const QString &name) const
{
    const int index = indexOf(name);
    if (index < 0)
        return std::nullopt;
    return m_profiles.at(index);
}

bool ProfileStore::contains(const QString &name) const
{
    return indexOf(name) >= 0;
}

QString ProfileStore::problem(const QString &name) const
{
    const int index = indexOf(name);
    return index < 0 ? QString() : m_problems.value(m_profiles.at(index).name);
}

void ProfileStore::updateProblems()
{
    m_problems.clear();
    QList<const Profile *> usable;
    for (const Profile &profile : std::as_const(m_profiles)) {
        const auto kept = m_kept.constFind(profile.name);
        if (kept != m_kept.cend()) {
            m_problems.insert(profile.name, kept->reason);
            continue;
        }
        // Only files of older versions (or edited by hand) hold such a pair: the later profile
        // waits, the earlier one starts.
        for (const Profile *earlier : std::as_const(usable)) {
            if (Profile::localAddressesClash(*earlier, profile)) {
                m_problems.insert(profile.name,
                                  QStringLiteral("key \"listen\": the profile \"%1\" listens on %2 "
                                                 "already; choose another port")
                                      .arg(earlier->name, earlier->listen));
                break;
            }
        }
        if (!m_problems.contains(profile.name))
            usable.append(&profile);
    }
}

QString ProfileStore::uniqueName(const QString &base) const
{
    auto used = [this](const QString &candidate) {
        for (const Profile &profile : m_profiles) {
            if (profile.name.compare(candidate, Qt::CaseInsensitive) == 0)
                return true;
        }
        return false;
    };
    if (!used(base))
        return base;
    for (int i = 2;; ++i) {
        const QString candidate = QStringLiteral("%1 %2").arg(base).arg(i);
        if (!used(candidate))
            return candidate;
    }
}

QString ProfileStore::listenConflict(const Profile &profile, const QString &ignoringName) const
{
    for (const Profile &other : m_profiles) {
        if (other.name.compare(ignoringName, Qt::CaseInsensitive) == 0
            || other.name.compare(profile.name, Qt::CaseInsensitive) == 0
            || m_problems.contains(other.name))
            continue;
        if (Profile::localAddressesClash(other, profile))
            return other.name;
    }
    return QString();
}

QString ProfileStore::freeListenAddress(const QString &listen, bool udp) const
{
    return freeListenAddress(listen, udp, m_profiles);
}

QString ProfileStore::freeListenAddress(const QString &listen, bool udp,
                                        const QList<Profile> &profiles)
{
    const auto address = HostPort::parse(listen, true, nullptr);
    if (!address || address->port == 0)
        return listen; // not an address a profile may have: its problem says so
    auto isFree = [&](const HostPort &candidate) {
        for (const Profile &profile : profiles) {
            if (profile.listensOnUdp() != udp)
                continue;
            const auto other = HostPort::parse(profile.listen, true, nullptr);
            if (other && other->clashesWith(candidate))
                return false;
        }
        return true;
    };
    if (isFree(*address))
        return listen;
    constexpr int kFirstUnprivilegedPort = 1024;
    HostPort candidate = *address;
    for (int step = 1; step <= 65535; ++step) {
        int port = address->port + step;
        if (port > 65535)
            port = kFirstUnprivilegedPort + (port - 65536) % (65536 - kFirstUnprivilegedPort);
        candidate.port = quint16(port);
        if (isFree(candidate))
            return candidate.toString();
    }
    return listen; // every port is taken by a profile: nothing better to suggest
}

bool ProfileStore::add(const Profile &profile, QString *error)
{
    const QString problem = profile.validate();
    if (!problem.isEmpty()) {
        *error = problem;
        return false;
    }
    if (uniqueName(profile.name) != profile.name) {
        *error = QStringLiteral("a profile named \"%1\" exists already").arg(profile.name);
        return false;
    }
    const QString conflict = listenConflict(profile);
    if (!conflict.isEmpty()) {
        *error = QStringLiteral("the profile \"%1\" listens on %2 already (%3 is free)")
                     .arg(conflict, profile.listen,
                          freeListenAddress(profile.listen, profile.listensOnUdp()));
        return false;
    }
    QList<Profile> next = m_profiles;
    next.append(profile);
    return commit(next, error);
}

bool ProfileStore::update(const QString &name, const Profile &changed, QString *error,
                          const std::optional<Profile> &shown)
{
    const int index = indexOf(name);
    if (index < 0) {
        *error = QStringLiteral("there is no profile named \"%1\"").arg(name);
        return false;
    }
    Profile profile = changed;
    // Secrets left as the editor showed them, which are not the stored ones (the keychain
    // answered after the editor opened): the stored ones stay; they are not cleared by accident.
    if (shown) {
        const Profile &stored = m_profiles.at(index);
        const QJsonObject shownSecrets = secretsEntry(*shown);
        if (secretsEntry(profile) == shownSecrets && secretsEntry(stored) != shownSecrets) {
            Secrets kept;
            kept.token = stored.token;
            kept.serverPassword = stored.serverPassword();
            kept.proxyPassword = stored.proxyPassword();
            kept.serverQuery = stored.serverQuerySecrets();
            kept.socks5Password = stored.socks5Password;
            applySecrets(&profile, kept);
        }
    }
    const QString problem = profile.validate();
    if (!problem.isEmpty()) {
        *error = problem;
        return false;
    }
    for (int i = 0; i < m_profiles.size(); ++i) {
        if (i != index && m_profiles.at(i).name.compare(profile.name, Qt::CaseInsensitive) == 0) {
            *error = QStringLiteral("a profile named \"%1\" exists already").arg(profile.name);
            return false;
        }
    }
    // The profile itself, under its old and its new name, never counts.
    const QString oldName = m_profiles.at(index).name;
    // Its keychain entry is named after it: one that cannot be read cannot be moved either.
    if (profile.name != oldName && m_unreadable.contains(oldName)) {
        *error =
            QStringLiteral(
                "\"%1\" cannot be renamed while its token and passwords cannot "
                "be read (%2); rename it once they can, or save it with them entered again first")
                .arg(oldName, m_unreadable.value(oldName));
        return false;
    }
    const QString conflict = listenConflict(profile, oldName);
    if (!conflict.isEmpty()) {
        *error = QStringLiteral("the profile \"%1\" listens on %2 already")
                     .arg(conflict, profile.listen);
        return false;
    }
    QList<Profile> next = m_profiles;
    next[index] = profile;
    const QHash<QString, Kept> previousKept = m_kept;
    m_kept.remove(oldName); // edited: from now on written as the profile it is
    if (!commit(next, error)) {
        m_kept = previousKept;
        updateProblems();
        return false;
    }
    return true;
}

bool ProfileStore::rename(const QString &name, const QString &newName, QString *error)
{
    auto renamed = profile(name);
    if (!renamed) {
        *error = QStringLiteral("there is no profile named \"%1\"").arg(name);
        return false;
    }
    renamed->name = newName;
    return update(name, *renamed, error);
}

bool ProfileStore::remove(const QString &name, QString *error)
{
    const int index = indexOf(name);
    if (index < 0) {
        *error = QStringLiteral("there is no profile named \"%1\"").arg(name);
        return false;
    }
    QList<Profile> next = m_profiles;
    next.removeAt(index);
    const QHash<QString, Kept> previousKept = m_kept;
    m_kept.remove(m_profiles.at(index).name);
    if (!commit(next, error)) {
        m_kept = previousKept;
        updateProblems();
        return false;
    }
    return true;
}

std::optional<QString> ProfileStore::duplicate(const QString &name, QString *error)
{
    auto copy = profile(name);
    if (!copy) {
        *error = QStringLiteral("there is no profile named \"%1\"").arg(name);
        return std::nullopt;
    }
    if (m_kept.contains(copy->name)) {
        *error = QStringLiteral("\"%1\" needs attention (%2); edit it before copying it")
                     .arg(copy->name, m_kept.value(copy->name).reason);
        return std::nullopt;
    }
    copy->name = uniqueName(copy->name.left(48) + QStringLiteral(" (copy)"));
    copy->listen = freeListenAddress(copy->listen, copy->listensOnUdp());
    copy->autoStart = false; // a copy is there to be changed; the original starts as before
    if (!add(*copy, error))
        return std::nullopt;
    return copy->name;
}

bool ProfileStore::commit(const QList<Profile> &profiles, QString *error)
{
    if (secretsLoading()) {
        *error = QStringLiteral("tokens and passwords are still being read from the keychain; "
                                "try again in a moment");
        return false;
    }
    const QList<Profile> previous = m_profiles;
    m_profiles = profiles;
    if (!save(error)) {
        m_profiles = previous;
        return false;
    }
    updateProblems();
    Q_EMIT changed();
    return true;
}

bool ProfileStore::save(QString *error)
{
    if (!m_writable) {
        *error = QStringLiteral("not saving: %1 or %2 could not be read and was not moved aside; "
                                "fix or remove it, then restart")
                     .arg(filePath(), secretsFilePath());
        return false;
    }
    if (!QDir().mkpath(m_directory)) {
        *error = QStringLiteral("cannot create the directory %1").arg(m_directory);
        return false;
    }
    QJsonArray list;
    for (const Profile &profile : std::as_const(m_profiles)) {
        const auto kept = m_kept.constFind(profile.name);
        list.append(kept != m_kept.cend() ? kept->json : QJsonValue(profile.toJson(false)));
    }
    const QJsonObject profilesDocument {{kSchemaKey, kSchemaVersion}, {kProfilesKey, list}};
    if (!writeSecretsFile(error)
        || !writeFile(filePath(), QJsonDocument(profilesDocument).toJson(), false, error))
        return false;
    syncVault();
    return true;
}

// A profile's secrets are in the file until the keychain confirmed holding exactly them; then
// the file only says {"keychain": true}. So nothing is lost when the keychain fails, or when the
// program ends before it answered. A profile that needs attention keeps its entry as it was read.
bool ProfileStore::writeSecretsFile(QString *error)
{
    QJsonObject secrets;
    // The kept entries first: a profile of the same name that was saved since has the newer
    // secrets.
    for (const Profile &profile : std::as_const(m_profiles)) {
        const auto kept = m_kept.constFind(profile.name);
        if (kept != m_kept.cend() && !kept->secrets.isEmpty())
            secrets.insert(kept->secretsName, kept->secrets);
    }
    for (const Profile &profile : std::as_const(m_profiles)) {
        if (m_kept.contains(profile.name))
            continue;
        const QJsonObject entry = secretsEntry(profile);
        const bool inVault = entry.isEmpty() ? m_unreadable.contains(profile.name)
                                             : m_inVault.value(profile.name) == entry;
        if (inVault)
            secrets.insert(profile.name, QJsonObject {{kKeychainKey, true}});
        else if (!entry.isEmpty())
            secrets.insert(profile.name, entry);
    }
    const QJsonObject secretsDocument {{kSchemaKey, kSchemaVersion}, {kSecretsKey, secrets}};
    return writeFile(secretsFilePath(), QJsonDocument(secretsDocument).toJson(), true, error);
}

bool ProfileStore::exportProfiles(const QStringList &names, const QString &path, bool withSecrets,
                                  QString *error) const
{
    QJsonArray list;
    for (const Profile &profile : m_profiles) {
        if (names.isEmpty() || names.contains(profile.name))
            list.append(profile.toJson(withSecrets));
    }
    for (const QString &name : names) {
        if (!contains(name)) {
            *error = QStringLiteral("there is no profile named \"%1\"").arg(name);
            return false;
        }
    }
    const QJsonObject document {{kSchemaKey, kSchemaVersion}, {kProfilesKey, list}};
    return writeFile(path, QJsonDocument(document).toJson(), withSecrets, error);
}

std::optional<QStringList> ProfileStore::importProfiles(const QString &path, QString *error)
{
    const ReadResult file = readFile(path);
    if (file.missing) {
        *error = QStringLiteral("%1: no such file").arg(path);
        return std::nullopt;
    }
    if (!file.error.isEmpty()) {
        *error = file.error;
        return std::nullopt;
    }
    auto imported = parseProfiles(file.data, path, error);
    if (!imported)
        return std::nullopt;
    // A name in use gets " (imported)" first, then a number.
    for (ReadProfile &read : *imported) {
        if (uniqueName(read.profile.name) != read.profile.name)
            read.profile.name = read.profile.name.left(48) + QStringLiteral(" (imported)");
    }
    nameUniquely(&*imported, m_profiles, false);

    QStringList added;
    QList<Profile> next = m_profiles;
    const QHash<QString, Kept> previousKept = m_kept;
    for (ReadProfile &read : *imported) {
        Profile &profile = read.profile;
        const QString listen = freeListenAddress(profile.listen, profile.listensOnUdp(), next);
        if (listen != profile.listen) {
            profile.listen = listen;
            profile.autoStart = false; // on another port than the file says: look first
        }
        if (!read.reason.isEmpty()) {
            // Kept as written but with the name and port it got here, and without its secrets
            // (an export with secrets holds them): those go to the secrets file.
            QJsonValue json = read.json;
            QJsonObject secrets;
            if (json.isObject()) {
                QJsonObject object = json.toObject();
                if (object.value(QLatin1String("name")).isString()
                    || profile.name != read.originalName)
                    object.insert(QLatin1String("name"), profile.name);
                if (object.value(QLatin1String("listen")).isString())
                    object.insert(QLatin1String("listen"), profile.listen);
                if (object.value(QLatin1String("autoStart")).isBool())
                    object.insert(QLatin1String("autoStart"), profile.autoStart);
                object.remove(kTokenKey);
                object.remove(kSocks5PasswordKey);
                if (object.value(QLatin1String("server")).isString())
                    object.insert(QLatin1String("server"), profile.serverUrlWithoutPassword());
                if (object.value(QLatin1String("proxy")).isString())
                    object.insert(QLatin1String("proxy"), profile.proxyWithoutPassword());
                json = object;
                secrets = secretsEntry(profile);
            }
            m_kept.insert(profile.name, Kept {json, profile.name, secrets, read.reason});
        }
        next.append(profile);
        added << profile.name;
    }
    if (!commit(next, error)) {
        m_kept = previousKept;
        updateProblems();
        return std::nullopt;
    }
    return added;
}

#include "serverconfigfile.h"

#include "regularfile.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

namespace {

constexpr qint64 kMaxConfigFileBytes = 1024 * 1024;
constexpr int kMaxSeconds = 7 * 24 * 3600;

const QStringList kReservedPaths = {QStringLiteral("/metrics"), QStringLiteral("/healthz"),
                                    QStringLiteral("/readyz")};

// Reads typed values out of JSON objects, remembering the first error with the key's path
// ("routes[1].remote").
class Reader
{
public:
    explicit Reader(QString configDir) : m_configDir(std::move(configDir)) { }

    bool failed() const { return !m_error.isEmpty(); }
    QString error() const { return m_error; }

    void fail(const QString &key, const QString &message)
    {
        if (m_error.isEmpty())
            m_error = key + QLatin1String(": ") + message;
    }

    // Every key of object must be one of known: a typo must not be silently ignored.
    void checkKeys(const QJsonObject &object, const QString &where, const QStringList &known)
    {
        for (auto it = object.begin(); it != object.end(); ++it) {
            if (!known.contains(it.key()))
                fail(join(where, it.key()),
                     QStringLiteral("unknown key (expected one of: %1)")
                         .arg(known.join(QLatin1String(", "))));
        }
    }

    static QString join(const QString &where, const QString &key)
    {
        return where.isEmpty() ? key : where + QLatin1Char('.') + key;
    }

    void readString(const QJsonObject &object, const QString &where, const QString &key,
                    QString *out)
    {
        const QJsonValue value = object.value(key);
        if (value.isUndefined())
            return;
        if (!value.isString()) {
            fail(join(where, key), QStringLiteral("expected a string"));
            return;
        }
        *out = value.toString();
    }

    void readBool(const QJsonObject &object, const QString &where, const QString &key, bool *out)
    {
        const QJsonValue value = object.value(key);
        if (value.isUndefined())
            return;
        if (!value.isBool()) {
            fail(join(where, key), QStringLiteral("expected true or false"));
            return;
        }
        *out = value.toBool();
    }

    void readInt(const QJsonObject &object, const QString &where, const QString &key, qint64 min,
                 qint64 max, qint64 *out)
    {
        const QJsonValue value = object.value(key);
        if (value.isUndefined())
            return;
        const double number = value.toDouble(-1);
        if (!value.isDouble() || number != double(qint64(number)) || number < double(min)
            || number > double(max)) {
            fail(join(where, key),
                 QStringLiteral("expected a whole number from %1 to %2").arg(min).arg(max));
            return;
        }
        *out = qint64(number);
    }

    void readInt(const QJsonObject &object, const QString &where, const QString &key, int min,
                 int max, int *out)
    {
        qint64 value = *out;
        readInt(object, where, key, qint64(min), qint64(max), &value);
        *out = int(value);
    }

    // Seconds in the file, milliseconds in the options.
    void readSeconds(const QJsonObject &object, const QString &where, const QString &key,
                     int *outMs)
    {
        qint64 seconds = *outMs / 1000;
        const bool present = object.contains(key);
        readInt(object, where, key, 0, kMaxSeconds, &seconds);
        if (present && !failed())
            *outMs = int(seconds * 1000);
    }

    void readStringList(const QJsonObject &object, const QString &where, const QString &key,
                        QStringList *out)
    {
        const QJsonValue value = object.value(key);
        if (value.isUndefined())
            return;
        if (!value.isArray()) {
            fail(join(where, key), QStringLiteral("expected an array of strings"));
            return;
        }
        QStringList list;
        const QJsonArray array = value.toArray();
        for (qsizetype i = 0; i < array.size(); ++i) {
            if (!array.at(i).isString()) {
                fail(QStringLiteral("%1[%2]").arg(join(where, key)).arg(i),
                     QStringLiteral("expected a string"));
                return;
            }
            list.append(array.at(i).toString());
        }
        *out = list;
    }

    void readAddress(const QJsonObject &object, const QString &where, const QString &key,
                     bool forListening, HostPort *out)
    {
        QString text;
        if (!object.contains(key))
            return;
        readString(object, where, key, &text);
        if (failed())
            return;
        QString why;
        const auto parsed = HostPort::parse(text, forListening, &why);
        if (!parsed)
            fail(join(where, key), why);
        else if (!forListening && parsed->port == 0)
            fail(join(where, key), QStringLiteral("port 0 cannot be connected to"));
        else
            *out = *parsed;
    }

    // A file named in the configuration: relative paths are relative to the file.
    QString resolvePath(const QString &path) const
    {
        return QFileInfo(path).isRelative() ? QDir(m_configDir).filePath(path) : path;
    }

private:
    QString m_configDir;
    QString m_error;
};

} // namespace

std::optional<QPair<QHostAddress, int>> ServerConfigFile::parseTrustedProxy(const QString &text)
{
    if (text.contains(QLatin1Char('/'))) {
        const auto subnet = QHostAddress::parseSubnet(text);
        if (subnet.first.isNull())
            return std::nullopt;
        return subnet;
    }
    const QHostAddress address(text);
    if (address.isNull())
        return std::nullopt;
    return qMakePair(address, address.protocol() == QAbstractSocket::IPv6Protocol ? 128 : 32);
}

bool ServerConfigFile::validate(const ServerOptions &options, QString *error)
{
    if (options.routes.isEmpty()) {
        *error = QStringLiteral("no route: give -remote_tcp HOST:PORT or routes in --config");
        return false;
    }
    QSet<QString> paths;
    for (qsizetype i = 0; i < options.routes.size(); ++i) {
        const ServerRoute &route = options.routes.at(i);
        const QString where = QStringLiteral("routes[%1].path").arg(i);
        if (!route.path.startsWith(QLatin1Char('/'))) {
            *error = QStringLiteral("%1: \"%2\" must start with /").arg(where, route.path);
            return false;
        }
        if (kReservedPaths.contains(route.path)) {
            *error = QStringLiteral("%1: %2 is served by the server itself").arg(where, route.path);
            return false;
        }
        if (paths.contains(route.path)) {
            *error = QStringLiteral("%1: %2 is used by another route").arg(where, route.path);
            return false;
        }
        paths.insert(route.path);
        if ((route.remote.host.isEmpty() || route.remote.port == 0) && route.allow.isEmpty()) {
            *error = QStringLiteral("routes[%1].remote: expected HOST:PORT (or destinations "
                                    "clients may name in routes[%1].allow)")
                         .arg(i);
            return false;
        }
    }
    if (options.tlsCertFile.isEmpty() != options.tlsKeyFile.isEmpty()) {
        *error = QStringLiteral("TLS needs both a certificate and a key (--tls-cert and "
                                "--tls-key, or tls.cert and tls.key in the configuration file)");
        return false;
    }
    return true;
}

std::optional<ServerOptions> ServerConfigFile::load(const QString &path,
                                                    const ServerOptions &defaults, QString *error)
{
    auto fail = [&](const QString &message) -> std::optional<ServerOptions> {
        *error = path + QLatin1String(": ") + message;
        return std::nullopt;
    };

    QString why;
    const auto read = RegularFile::read(path, kMaxConfigFileBytes + 1, &why);
    if (!read) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, why);
        return std::nullopt;
    }
    const QByteArray &content = *read;
    if (content.size() > kMaxConfigFileBytes)
        return fail(QStringLiteral("larger than 1 MiB; is this the right file?"));
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(content, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        const int line = int(content.left(parseError.offset).count('\n')) + 1;
        return fail(
            QStringLiteral("line %1: invalid JSON: %2").arg(line).arg(parseError.errorString()));
    }
    if (!document.isObject())
        return fail(QStringLiteral("expected a JSON object at the top level"));

    const QJsonObject root = document.object();
    Reader reader(QFileInfo(path).absolutePath());
    ServerOptions options = defaults;
    options.routes.clear();

    reader.checkKeys(root, QString(),
                     {QStringLiteral("listen"), QStringLiteral("routes"), QStringLiteral("limits"),
                      QStringLiteral("realIpHeader"), QStringLiteral("trustedProxies"),
                      QStringLiteral("tls"), QStringLiteral("drainTimeoutSeconds"),
                      QStringLiteral("keepaliveSeconds"), QStringLiteral("stallTimeoutSeconds")});
    reader.readAddress(root, QString(), QStringLiteral("listen"), true, &options.listen);
    reader.readString(root, QString(), QStringLiteral("realIpHeader"), &options.realIpHeader);
    QStringList proxies;
    reader.readStringList(root, QString(), QStringLiteral("trustedProxies"), &proxies);
    for (qsizetype i = 0; i < proxies.size() && !reader.failed(); ++i) {
        const auto subnet = parseTrustedProxy(proxies.at(i));
        if (!subnet)
            reader.fail(
                QStringLiteral("trustedProxies[%1]").arg(i),
                QStringLiteral("expected an address or a subnet like 10.0.0.0/8, not \"%1\"")
                    .arg(proxies.at(i)));
        else
            options.trustedProxies.append(*subnet);
    }
    if (!options.realIpHeader.isEmpty() && options.trustedProxies.isEmpty() && !reader.failed())
        reader.fail(QStringLiteral("realIpHeader"),
                    QStringLiteral("needs trustedProxies (the addresses of your reverse proxies); "
                                   "otherwise any client could choose its address"));
    reader.readSeconds(root, QString(), QStringLiteral("drainTimeoutSeconds"),
                       &options.drainTimeoutMs);
    reader.readSeconds(root, QString(), QStringLiteral("keepaliveSeconds"),
                       &options.relay.keepAliveIntervalMs);
    reader.readSeconds(root, QString(), QStringLiteral("stallTimeoutSeconds"),
                       &options.relay.stallTimeoutMs);

    const QJsonValue tls = root.value(QStringLiteral("tls"));
    if (!tls.isUndefined()) {
        if (!tls.isObject()) {
            reader.fail(QStringLiteral("tls"),
                        QStringLiteral("expected an object with cert and key (PEM file names)"));
        } else {
            const QJsonObject object = tls.toObject();
            reader.checkKeys(object, QStringLiteral("tls"),
                             {QStringLiteral("cert"), QStringLiteral("key")});
            reader.readString(object, QStringLiteral("tls"), QStringLiteral("cert"),
                              &options.tlsCertFile);
            reader.readString(object, QStringLiteral("tls"), QStringLiteral("key"),
                              &options.tlsKeyFile);
            if (!options.tlsCertFile.isEmpty())
                options.tlsCertFile = reader.resolvePath(options.tlsCertFile);
            if (!options.tlsKeyFile.isEmpty())
                options.tlsKeyFile = reader.resolvePath(options.tlsKeyFile);
        }
    }

    const QJsonValue limits = root.value(QStringLiteral("limits"));
    if (!limits.isUndefined()) {
        if (!limits.isObject()) {
            reader.fail(QStringLiteral("limits"), QStringLiteral("expected an object"));
        } else {
            const QJsonObject object = limits.toObject();
            const QString where = QStringLiteral("limits");
            reader.checkKeys(object, where,
                             {QStringLiteral("maxTunnels"), QStringLiteral("maxTunnelsPerIp"),
                              QStringLiteral("handshakeTimeoutSeconds"),
                              QStringLiteral("maxPendingConnections"),
                              QStringLiteral("idleTimeoutSeconds"), QStringLiteral("maxFrameBytes"),
                              QStringLiteral("maxTlsHandshakes")});
            reader.readInt(object, where, QStringLiteral("maxTunnels"), 0, 1000000,
                           &options.limits.maxTunnels);
            reader.readInt(object, where, QStringLiteral("maxTunnelsPerIp"), 0, 1000000,
                           &options.limits.maxTunnelsPerIp);
            reader.readInt(object, where, QStringLiteral("maxPendingConnections"), 1, 1000000,
                           &options.limits.maxPendingConnections);
            reader.readInt(object, where, QStringLiteral("maxTlsHandshakes"), 1, 1000000,
                           &options.limits.maxTlsHandshakes);
            reader.readSeconds(object, where, QStringLiteral("handshakeTimeoutSeconds"),
                               &options.limits.handshakeTimeoutMs);
            if (object.contains(QStringLiteral("handshakeTimeoutSeconds"))
                && options.limits.handshakeTimeoutMs == 0)
                reader.fail(where + QStringLiteral(".handshakeTimeoutSeconds"),
                            QStringLiteral("expected at least 1"));
            reader.readSeconds(object, where, QStringLiteral("idleTimeoutSeconds"),
                               &options.limits.idleTimeoutMs);
            reader.readInt(object, where, QStringLiteral("maxFrameBytes"), qint64(1024),
                           qint64(64) * 1024 * 1024, &options.relay.maxIncomingFrameBytes);
        }
    }

    const QJsonValue routes = root.value(QStringLiteral("routes"));
    if (!routes.isArray() || routes.toArray().isEmpty()) {
        reader.fail(QStringLiteral("routes"),
                    QStringLiteral("expected an array with at least one route, e.g. "
                                   "[{\"path\": \"/\", \"remote\": \"127.0.0.1:22\"}]"));
    } else {
        const QJsonArray array = routes.toArray();
        for (qsizetype i = 0; i < array.size() && !reader.failed(); ++i) {
            const QString where = QStringLiteral("routes[%1]").arg(i);
            if (!array.at(i).isObject()) {
                reader.fail(where, QStringLiteral("expected an object with path and remote"));
                break;
            }
            const QJsonObject object = array.at(i).toObject();
            reader.checkKeys(object, where,
                             {QStringLiteral("path"), QStringLiteral("prefix"),
                              QStringLiteral("remote"), QStringLiteral("token"),
                              QStringLiteral("tokenFile"), QStringLiteral("allowedOrigins"),
                              QStringLiteral("maxTunnels"), QStringLiteral("maxTunnelsPerIp"),
                              QStringLiteral("idleTimeoutSeconds"), QStringLiteral("allow")});
            ServerRoute route;
            reader.readString(object, where, QStringLiteral("path"), &route.path);
            reader.readBool(object, where, QStringLiteral("prefix"), &route.prefix);
            // A dynamic route (allow) may go without a fixed remote.
            if (!object.contains(QStringLiteral("remote"))
                && !object.contains(QStringLiteral("allow")))
                reader.fail(where + QStringLiteral(".remote"),
                            QStringLiteral("missing; expected HOST:PORT, e.g. \"127.0.0.1:22\" "
                                           "(or an allow list of destinations)"));
            reader.readAddress(object, where, QStringLiteral("remote"), false, &route.remote);
            reader.readString(object, where, QStringLiteral("token"), &route.token);
            // An empty token would make the route an open relay without a word: a mistake, not a
            // way to switch authentication off (leaving the key out does that).
            if (object.contains(QStringLiteral("token")) && route.token.trimmed().isEmpty())
                reader.fail(where + QStringLiteral(".token"),
                            QStringLiteral("empty; give the token, or leave the key out for a "
                                           "route that needs none"));
            QString tokenFile;
            reader.readString(object, where, QStringLiteral("tokenFile"), &tokenFile);
            if (object.contains(QStringLiteral("tokenFile")) && tokenFile.trimmed().isEmpty())
                reader.fail(where + QStringLiteral(".tokenFile"),
                            QStringLiteral("empty; give the name of the file holding the token"));
            if (!tokenFile.isEmpty() && !reader.failed()) {
                if (!route.token.isEmpty()) {
                    reader.fail(where + QStringLiteral(".tokenFile"),
                                QStringLiteral("give either token or tokenFile, not both"));
                } else {
                    QString why;
                    const auto token = RegularFile::readSecret(reader.resolvePath(tokenFile), &why);
                    if (!token)
                        reader.fail(where + QStringLiteral(".tokenFile"), why);
                    else
                        route.token = *token;
                }
            }
            QStringList allow;
            reader.readStringList(object, where, QStringLiteral("allow"), &allow);
            if (object.contains(QStringLiteral("allow")) && allow.isEmpty() && !reader.failed())
                reader.fail(where + QStringLiteral(".allow"),
                            QStringLiteral("empty; list the destinations clients may name (e.g. "
                                           "\"*.corp.example:443\"), or leave the key out"));
            for (qsizetype j = 0; j < allow.size() && !reader.failed(); ++j) {
                QString why;
                const auto rule = DestinationRule::parse(allow.at(j), &why);
                if (!rule)
                    reader.fail(QStringLiteral("%1.allow[%2]").arg(where).arg(j), why);
                else
                    route.allow.append(*rule);
            }
            reader.readStringList(object, where, QStringLiteral("allowedOrigins"),
                                  &route.allowedOrigins);
            reader.readInt(object, where, QStringLiteral("maxTunnels"), 0, 1000000,
                           &route.maxTunnels);
            reader.readInt(object, where, QStringLiteral("maxTunnelsPerIp"), 0, 1000000,
                           &route.maxTunnelsPerIp);
            if (object.contains(QStringLiteral("idleTimeoutSeconds"))) {
                route.idleTimeoutMs = 0;
                reader.readSeconds(object, where, QStringLiteral("idleTimeoutSeconds"),
                                   &route.idleTimeoutMs);
            }
            options.routes.append(route);
        }
    }

    if (reader.failed())
        return fail(reader.error());
    if (!validate(options, &why))
        return fail(why);
    return options;
}

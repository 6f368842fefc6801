#include "profile.h"

#include "client/proxyresolver.h"
#include "client/tlspolicy.h"
#include "net/hostport.h"
#include "net/websocketurl.h"

#include <QJsonArray>
#include <QRegularExpression>
#include <QUrl>

namespace {

constexpr int kMaxNameLength = 64;
constexpr int kMaxKeepAliveMs = 86400 * 1000;
constexpr int kMaxUdpIdleTimeoutMs = 86400 * 1000;
// RFC 1929: ULEN and PLEN are one octet each.
constexpr int kMaxSocks5CredentialBytes = 255;

const QLatin1String kKeyName("name");
const QLatin1String kKeyListen("listen");
const QLatin1String kKeyServer("server");
const QLatin1String kKeyHeaders("headers");
const QLatin1String kKeyToken("token");
const QLatin1String kKeyProxy("proxy");
const QLatin1String kKeyCaFile("caFile");
const QLatin1String kKeyPins("pinsSha256");
const QLatin1String kKeyServerName("serverName");
const QLatin1String kKeyInsecure("insecure");
const QLatin1String kKeyBinarySubprotocol("binarySubprotocol");
const QLatin1String kKeyKeepAliveMode("keepAliveMode");
const QLatin1String kKeyKeepAliveSeconds("keepAliveSeconds");
const QLatin1String kKeyAutoStart("autoStart");
const QLatin1String kKeyKind("kind");
const QLatin1String kKeySocks5User("socks5User");
const QLatin1String kKeySocks5Password("socks5Password");
const QLatin1String kKeyUdpRemote("udpRemote");
const QLatin1String kKeyUdpIdleSeconds("udpIdleSeconds");

QString typeName(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::Null:
        return QStringLiteral("null");
    case QJsonValue::Bool:
        return QStringLiteral("a boolean");
    case QJsonValue::Double:
        return QStringLiteral("a number");
    case QJsonValue::String:
        return QStringLiteral("a string");
    case QJsonValue::Array:
        return QStringLiteral("an array");
    case QJsonValue::Object:
        return QStringLiteral("an object");
    case QJsonValue::Undefined:
        break;
    }
    return QStringLiteral("nothing");
}

QString keyError(const QString &key, const QString &message)
{
    return QStringLiteral("key \"%1\": %2").arg(key, message);
}

bool hasLineBreakOrNul(const QString &text)
{
    return text.contains(QLatin1Char('\r')) || text.contains(QLatin1Char('\n'))
        || text.contains(QChar(0));
}

QString withoutPassword(const QString &text)
{
    QUrl url(text);
    if (!url.isValid() || url.password().isEmpty())
        return text;
    url.setPassword(QString());
    return url.toString(QUrl::FullyEncoded);
}

QString passwordOf(const QString &text)
{
    const QUrl url(text);
    return url.isValid() ? url.password(QUrl::FullyDecoded) : QString();
}

QString withPassword(const QString &text, const QString &password)
{
    if (password.isEmpty())
        return text;
    QUrl url(text);
    if (!url.isValid())
        return text;
    url.setPassword(password, QUrl::DecodedMode);
    return url.toString(QUrl::FullyEncoded);
}

// The query items of a URL as written (percent-encoded), split at the first '='.
QList<QPair<QString, QString>> queryItems(const QUrl &url)
{
    QList<QPair<QString, QString>> items;
    const QStringList parts =
        url.query(QUrl::FullyEncoded).split(QLatin1Char('&'), Qt::SkipEmptyParts);
    for (const QString &part : parts) {
        const qsizetype equals = part.indexOf(QLatin1Char('='));
        items.append({part.left(equals), equals < 0 ? QString() : part.mid(equals + 1)});
    }
    return items;
}

bool isSecretItem(const QString &encodedKey)
{
    return WebSocketUrl::isSecretQueryKey(QUrl::fromPercentEncoding(encodedKey.toUtf8()));
}

// Sets each query item that carries a credential (?token=) to value(key): the public part of a
// profile keeps "token=" in place, the secrets file the value.
template<typename Value>
QString withQuerySecrets(const QString &text, Value value)
{
    QUrl url(text, QUrl::StrictMode);
    if (!url.isValid() || !url.hasQuery())
        return text;
    QStringList parts;
    bool changed = false;
    for (const auto &item : queryItems(url)) {
        QString itemValue = item.second;
        if (isSecretItem(item.first)) {
            const QString replacement = value(item.first, item.second);
            changed = changed || replacement != itemValue;
            itemValue = replacement;
        }
        parts.append(item.first + QLatin1Char('=') + itemValue);
    }
    if (!changed)
        return text;
    url.setQuery(parts.join(QLatin1Char('&')), QUrl::StrictMode);
    return url.toString(QUrl::FullyEncoded);
}

// The value of the "Host" header among headers, or empty.
QString hostHeaderOf(const QList<QPair<QByteArray, QByteArray>> &headers)
{
    for (const auto &header : headers) {
        if (header.first.compare("host", Qt::CaseInsensitive) == 0)
            return QString::fromUtf8(header.second);
    }
    return QString();
}

} // namespace

QString Profile::validate(QString *key, Use use) const
{
    auto fail = [key](QLatin1String which, const QString &message) {
        if (key)
            *key = which;
        return message;
    };
    if (use == Use::Saved) {
        const QString trimmedName = name.trimmed();
        if (trimmedName.isEmpty())
            return fail(kKeyName, QStringLiteral("a name is required (e.g. \"SSH home\")"));
        if (trimmedName != name)
            return fail(kKeyName, QStringLiteral("the name must not start or end with spaces"));
        if (name.size() > kMaxNameLength)
            return fail(
                kKeyName,
                QStringLiteral("the name is longer than %1 characters").arg(kMaxNameLength));
        for (const QChar c : name) {
            if (c.category() == QChar::Other_Control)
                return fail(kKeyName, QStringLiteral("the name contains a control character"));
        }
    }

    QString why;
    const auto address = HostPort::parse(listen, true, &why);
    if (!address)
        return fail(kKeyListen, why);
    if (address->port == 0 && use == Use::Saved)
        return fail(kKeyListen,
                    QStringLiteral("port 0 would pick a different port each time; "
                                   "choose one, e.g. 127.0.0.1:2222"));
    if (!WebSocketUrl::parse(serverUrl, &why))
        return fail(kKeyServer, why);
    if (kind == Kind::Socks5) {
        if (socks5User.toUtf8().size() > kMaxSocks5CredentialBytes)
            return fail(kKeySocks5User,
                        QStringLiteral("the SOCKS5 user name is longer than %1 bytes")
                            .arg(kMaxSocks5CredentialBytes));
        if (socks5Password.toUtf8().size() > kMaxSocks5CredentialBytes)
            return fail(kKeySocks5Password,
                        QStringLiteral("the SOCKS5 password is longer than %1 bytes")
                            .arg(kMaxSocks5CredentialBytes));
        for (const QChar c : socks5User) {
            if (c.category() == QChar::Other_Control)
                return fail(kKeySocks5User,
                            QStringLiteral("the SOCKS5 user name contains a control character"));
        }
        if (socks5User.isEmpty() && !socks5Password.isEmpty())
            return fail(kKeySocks5User,
                        QStringLiteral("a SOCKS5 password needs a user name; give both or "
                                       "neither"));
    } else if (kind == Kind::Udp) {
        // A UDP socket binds one address; it does not resolve names as the TCP listeners do.
        if (address->listenAddress().isNull())
            return fail(kKeyListen,
                        QStringLiteral("a UDP profile listens on an IP address (e.g. "
                                       "127.0.0.1:51820), not on the name \"%1\"")
                            .arg(address->host));
        const auto remote = HostPort::parse(udpRemote, false, &why);
        if (udpRemote.trimmed().isEmpty())
            return fail(kKeyUdpRemote,
                        QStringLiteral("a UDP profile needs the destination the server sends "
                                       "the datagrams to (e.g. vpn.internal:51820)"));
        if (!remote)
            return fail(kKeyUdpRemote, why);
        if (remote->port == 0)
            return fail(kKeyUdpRemote,
                        QStringLiteral("the UDP destination needs a port between 1 and 65535"));
        if (udpIdleTimeoutMs < 1000 || udpIdleTimeoutMs > kMaxUdpIdleTimeoutMs)
            return fail(kKeyUdpIdleSeconds,
                        QStringLiteral("the UDP idle timeout must be between 1 and 86400 "
                                       "seconds"));
    }

    static const QRegularExpression headerName(QStringLiteral("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"));
    static const QStringList handshakeHeaders = {QStringLiteral("upgrade"),
                                                 QStringLiteral("connection"),
                                                 QStringLiteral("sec-websocket-key"),
                                                 QStringLiteral("sec-websocket-version"),
                                                 QStringLiteral("sec-websocket-extensions"),
                                                 QStringLiteral("sec-websocket-protocol")};
    int hostHeaders = 0;
    for (const auto &header : headers) {
        const QString headerText = QString::fromUtf8(header.first);
        if (!headerName.match(headerText).hasMatch())
            return fail(kKeyHeaders,
                        QStringLiteral("\"%1\" is not a valid HTTP header name").arg(headerText));
        if (header.second.contains('\r') || header.second.contains('\n')
            || header.second.contains('\0'))
            return fail(
                kKeyHeaders,
                QStringLiteral("the value of header \"%1\" contains a line break").arg(headerText));
        const QString lower = headerText.toLower();
        if (handshakeHeaders.contains(lower))
            return fail(kKeyHeaders,
                        QStringLiteral("%1: this header is set by the WebSocket handshake%2")
                            .arg(headerText,
                                 lower == QLatin1String("sec-websocket-protocol")
                                     ? QStringLiteral(" (offer the binary subprotocol instead)")
                                     : QString()));
        if (lower == QLatin1String("host")) {
            if (++hostHeaders > 1)
                return fail(kKeyHeaders, QStringLiteral("Host is given more than once"));
            const QString host = QString::fromUtf8(header.second).trimmed();
            if (!HostPort::isValidHostName(host))
                return fail(kKeyHeaders,
                            QStringLiteral("Host: \"%1\" is not a host name (the Host header "
                                           "names the server, without a port)")
                                .arg(host));
            if (!serverName.isEmpty() && serverName.compare(host, Qt::CaseInsensitive) != 0)
                return fail(kKeyHeaders,
                            QStringLiteral("Host \"%1\" and the server name \"%2\" differ; both "
                                           "name the server, give one of them")
                                .arg(host, serverName));
        }
    }
    for (const QChar c : token) {
        if (c.isSpace() || c.category() == QChar::Other_Control)
            return fail(kKeyToken,
                        QStringLiteral("the token must not contain spaces or control "
                                       "characters"));
    }
    if (!ProxyResolver::validate(proxy, &why))
        return fail(kKeyProxy, why);
    if (hasLineBreakOrNul(caFile))
        return fail(kKeyCaFile, QStringLiteral("the CA file name contains a line break"));
    for (const QString &pin : pinsSha256) {
        const QString problem = TlsPolicy::pinProblem(pin);
        if (!problem.isEmpty())
            return fail(kKeyPins, problem);
    }
    if (!serverName.isEmpty() && !HostPort::isValidHostName(serverName))
        return fail(kKeyServerName,
                    QStringLiteral("\"%1\" is not a valid host name").arg(serverName));
    if (keepAliveIntervalMs < 0 || keepAliveIntervalMs > kMaxKeepAliveMs)
        return fail(kKeyKeepAliveSeconds,
                    QStringLiteral("the keep-alive interval must be between 0 and 86400 seconds"));
    return QString();
}

std::optional<ClientOptions> Profile::toClientOptions(QString *error, Use use) const
{
    const QString problem = validate(nullptr, use);
    if (!problem.isEmpty()) {
        *error = QStringLiteral("profile \"%1\": %2").arg(name, problem);
        return std::nullopt;
    }
    // validate() lets a user name go without its password: the password is a secret that arrives
    // later (from the keychain). A proxy that nobody could log in to does not start.
    if (kind == Kind::Socks5 && !socks5User.isEmpty() && socks5Password.isEmpty()) {
        *error = QStringLiteral("profile \"%1\": the SOCKS5 password is missing (a user name "
                                "needs one)")
                     .arg(name);
        return std::nullopt;
    }
    ClientOptions options;
    const HostPort local = *HostPort::parse(listen, true, nullptr);
    switch (kind) {
    case Kind::Forward:
        options.listen = local;
        break;
    case Kind::Socks5:
        options.socks5Listen = local;
        options.socks5User = socks5User;
        options.socks5Password = socks5Password;
        break;
    case Kind::Udp:
        options.udpListen = local;
        options.udpRemote = *HostPort::parse(udpRemote, false, nullptr);
        options.udpIdleTimeoutMs = udpIdleTimeoutMs;
        break;
    }
    options.serverUrl = *WebSocketUrl::parse(serverUrl, nullptr);
    options.insecure = insecure;
    if (binarySubprotocol)
        options.subprotocol = QStringLiteral("binary");
    options.relay.keepAliveIntervalMs = keepAliveIntervalMs;
    // A Host header is the server name by another spelling (validate() made sure they agree):
    // QWebSocket writes its own Host line from the URL, so a second one would reach the server,
    // which must refuse a request with two (RFC 9112, 3.2).
    for (const auto &header : headers) {
        if (header.first.compare("host", Qt::CaseInsensitive) != 0)
            options.headers.append(header);
    }
    options.token = token;
    options.proxy = proxy;
    options.caFile = caFile;
    options.pinsSha256 = pinsSha256;
    options.serverName = serverName;
    const QString hostHeader = hostHeaderOf(headers).trimmed();
    if (options.serverName.isEmpty())
        options.serverName = hostHeader;
    options.keepAliveMode = keepAliveMode == KeepAliveMode::Ping
        ? ClientOptions::KeepAliveMode::Ping
        : ClientOptions::KeepAliveMode::Empty;
    return options;
}

QString Profile::serverPassword() const
{
    return passwordOf(serverUrl);
}

QString Profile::proxyPassword() const
{
    return passwordOf(proxy);
}

QString Profile::serverUrlWithoutPassword() const
{
    return withQuerySecrets(withoutPassword(serverUrl),
                            [](const QString &, const QString &) { return QString(); });
}

QList<QPair<QString, QString>> Profile::serverQuerySecrets() const
{
    QList<QPair<QString, QString>> secrets;
    const QUrl url(serverUrl, QUrl::StrictMode);
    if (!url.isValid())
        return secrets;
    for (const auto &item : queryItems(url)) {
        if (isSecretItem(item.first) && !item.second.isEmpty())
            secrets.append(item);
    }
    return secrets;
}

QString Profile::proxyWithoutPassword() const
{
    return withoutPassword(proxy);
}

void Profile::setSecrets(const QString &newToken, const QString &serverPassword,
                         const QString &proxyPassword,
                         const QList<QPair<QString, QString>> &serverQuerySecrets,
                         const QString &newSocks5Password)
{
    token = newToken;
    socks5Password = newSocks5Password;
    serverUrl = withPassword(serverUrl, serverPassword);
    if (!serverQuerySecrets.isEmpty()) {
        serverUrl = withQuerySecrets(serverUrl, [&](const QString &key, const QString &current) {
            if (!current.isEmpty())
                return current;
            for (const auto &secret : serverQuerySecrets) {
                if (secret.first == key)
                    return secret.second;
            }
            return current;
        });
    }
    proxy = withPassword(proxy, proxyPassword);
}

bool Profile::localAddressesClash(const Profile &a, const Profile &b)
{
    if (a.listensOnUdp() != b.listensOnUdp())
        return false;
    const auto first = HostPort::parse(a.listen, true, nullptr);
    const auto second = HostPort::parse(b.listen, true, nullptr);
    return first && second && first->clashesWith(*second);
}

QString Profile::kindName(Kind kind)
{
    switch (kind) {
    case Kind::Forward:
        break;
    case Kind::Socks5:
        return QStringLiteral("socks5");
    case Kind::Udp:
        return QStringLiteral("udp");
    }
    return QStringLiteral("forward");
}

std::optional<Profile::Kind> Profile::kindFromName(const QString &name)
{
    for (const Kind kind : {Kind::Forward, Kind::Socks5, Kind::Udp}) {
        if (kindName(kind) == name)
            return kind;
    }
    return std::nullopt;
}

QString Profile::keepAliveModeName(KeepAliveMode mode)
{
    return mode == KeepAliveMode::Ping ? QStringLiteral("ping") : QStringLiteral("empty");
}

QJsonObject Profile::toJson(bool withSecrets) const
{
    QJsonObject object;
    object.insert(kKeyName, name);
    // Only the chosen kind's keys: a port forward is written as before there were kinds.
    if (kind != Kind::Forward)
        object.insert(kKeyKind, kindName(kind));
    if (kind == Kind::Socks5) {
        if (!socks5User.isEmpty())
            object.insert(kKeySocks5User, socks5User);
        if (withSecrets && !socks5Password.isEmpty())
            object.insert(kKeySocks5Password, socks5Password);
    } else if (kind == Kind::Udp) {
        object.insert(kKeyUdpRemote, udpRemote);
        object.insert(kKeyUdpIdleSeconds, udpIdleTimeoutMs / 1000.0);
    }
    object.insert(kKeyListen, listen);
    object.insert(kKeyServer, withSecrets ? serverUrl : serverUrlWithoutPassword());
    QJsonArray headerArray;
    for (const auto &header : headers)
        headerArray.append(
            QJsonObject {{QStringLiteral("name"), QString::fromUtf8(header.first)},
                         {QStringLiteral("value"), QString::fromUtf8(header.second)}});
    object.insert(kKeyHeaders, headerArray);
    if (withSecrets && !token.isEmpty())
        object.insert(kKeyToken, token);
    object.insert(kKeyProxy, withSecrets ? proxy : proxyWithoutPassword());
    object.insert(kKeyCaFile, caFile);
    object.insert(kKeyPins, QJsonArray::fromStringList(pinsSha256));
    object.insert(kKeyServerName, serverName);
    object.insert(kKeyInsecure, insecure);
    object.insert(kKeyBinarySubprotocol, binarySubprotocol);
    object.insert(kKeyKeepAliveMode, keepAliveModeName(keepAliveMode));
    object.insert(kKeyKeepAliveSeconds, keepAliveIntervalMs / 1000.0);
    object.insert(kKeyAutoStart, autoStart);
    return object;
}

std::optional<Profile> Profile::fromJson(const QJsonObject &object, QString *error)
{
    auto fail = [error](const QString &key, const QString &message) -> std::optional<Profile> {
        *error = keyError(key, message);
        return std::nullopt;
    };
    static const QStringList known = {
        kKeyName,          kKeyListen,           kKeyServer,    kKeyHeaders,           kKeyToken,
        kKeyProxy,         kKeyCaFile,           kKeyPins,      kKeyServerName,        kKeyInsecure,
        kKeyKeepAliveMode, kKeyKeepAliveSeconds, kKeyAutoStart, kKeyBinarySubprotocol, kKeyKind,
        kKeySocks5User,    kKeySocks5Password,   kKeyUdpRemote, kKeyUdpIdleSeconds};
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (!known.contains(it.key()))
            return fail(it.key(),
                        QStringLiteral("unknown key (expected one of: %1)")
                            .arg(known.join(QStringLiteral(", "))));
    }

    Profile profile;
    // Each reader returns false after setting *error.
    auto readString = [&](QLatin1String key, QString *out, bool required) {
        const QJsonValue value = object.value(key);
        if (value.isUndefined()) {
            if (!required)
                return true;
            *error = keyError(key, QStringLiteral("missing (expected a string)"));
            return false;
        }
        if (!value.isString()) {
            *error =
                keyError(key, QStringLiteral("expected a string, found %1").arg(typeName(value)));
            return false;
        }
        *out = value.toString();
        return true;
    };
    auto readBool = [&](QLatin1String key, bool *out) {
        const QJsonValue value = object.value(key);
        if (value.isUndefined())
            return true;
        if (!value.isBool()) {
            *error = keyError(
                key, QStringLiteral("expected true or false, found %1").arg(typeName(value)));
            return false;
        }
        *out = value.toBool();
        return true;
    };
    if (!readString(kKeyName, &profile.name, true) || !readString(kKeyListen, &profile.listen, true)
        || !readString(kKeyServer, &profile.serverUrl, true)
        || !readString(kKeyToken, &profile.token, false)
        || !readString(kKeyProxy, &profile.proxy, false)
        || !readString(kKeyCaFile, &profile.caFile, false)
        || !readString(kKeyServerName, &profile.serverName, false)
        || !readBool(kKeyInsecure, &profile.insecure)
        || !readBool(kKeyBinarySubprotocol, &profile.binarySubprotocol)
        || !readBool(kKeyAutoStart, &profile.autoStart)
        || !readString(kKeySocks5User, &profile.socks5User, false)
        || !readString(kKeySocks5Password, &profile.socks5Password, false)
        || !readString(kKeyUdpRemote, &profile.udpRemote, false))
        return std::nullopt;

    const QJsonValue kind = object.value(kKeyKind);
    if (!kind.isUndefined()) {
        const auto known = kindFromName(kind.toString());
        if (!kind.isString() || !known)
            return fail(kKeyKind, QStringLiteral("expected \"forward\", \"socks5\" or \"udp\""));
        profile.kind = *known;
    }
    // Keys of another kind are a mistake in the file (they would be dropped on the next save).
    const QList<QPair<QLatin1String, Kind>> kindKeys = {{kKeySocks5User, Kind::Socks5},
                                                        {kKeySocks5Password, Kind::Socks5},
                                                        {kKeyUdpRemote, Kind::Udp},
                                                        {kKeyUdpIdleSeconds, Kind::Udp}};
    for (const auto &kindKey : kindKeys) {
        if (object.contains(kindKey.first) && profile.kind != kindKey.second)
            return fail(kindKey.first,
                        QStringLiteral("only for \"kind\": \"%1\" (this profile is \"%2\")")
                            .arg(kindName(kindKey.second), kindName(profile.kind)));
    }
    const QJsonValue idle = object.value(kKeyUdpIdleSeconds);
    if (!idle.isUndefined()) {
        if (!idle.isDouble() || idle.toDouble() < 1 || idle.toDouble() > 86400)
            return fail(kKeyUdpIdleSeconds,
                        QStringLiteral("expected a number of seconds between 1 and 86400"));
        profile.udpIdleTimeoutMs = int(idle.toDouble() * 1000);
    }

    const QJsonValue headers = object.value(kKeyHeaders);
    if (!headers.isUndefined()) {
        if (!headers.isArray())
            return fail(kKeyHeaders,
                        QStringLiteral("expected an array of {\"name\", \"value\"} "
                                       "objects, found %1")
                            .arg(typeName(headers)));
        const QJsonArray array = headers.toArray();
        for (qsizetype i = 0; i < array.size(); ++i) {
            const QJsonObject header = array.at(i).toObject();
            const QJsonValue headerName = header.value(QLatin1String("name"));
            const QJsonValue headerValue = header.value(QLatin1String("value"));
            if (!array.at(i).isObject() || !headerName.isString() || !headerValue.isString()
                || header.size() != 2)
                return fail(QStringLiteral("%1[%2]").arg(kKeyHeaders).arg(i),
                            QStringLiteral("expected {\"name\": string, \"value\": string}"));
            profile.headers.append(
                {headerName.toString().toUtf8(), headerValue.toString().toUtf8()});
        }
    }

    const QJsonValue pins = object.value(kKeyPins);
    if (!pins.isUndefined()) {
        if (!pins.isArray())
            return fail(kKeyPins,
                        QStringLiteral("expected an array of base64 strings, found %1")
                            .arg(typeName(pins)));
        const QJsonArray array = pins.toArray();
        for (qsizetype i = 0; i < array.size(); ++i) {
            if (!array.at(i).isString())
                return fail(QStringLiteral("%1[%2]").arg(kKeyPins).arg(i),
                            QStringLiteral("expected a base64 string, found %1")
                                .arg(typeName(array.at(i))));
            profile.pinsSha256.append(array.at(i).toString());
        }
    }

    const QJsonValue mode = object.value(kKeyKeepAliveMode);
    if (!mode.isUndefined()) {
        if (mode == QJsonValue(QStringLiteral("empty")))
            profile.keepAliveMode = KeepAliveMode::Empty;
        else if (mode == QJsonValue(QStringLiteral("ping")))
            profile.keepAliveMode = KeepAliveMode::Ping;
        else
            return fail(kKeyKeepAliveMode, QStringLiteral("expected \"empty\" or \"ping\""));
    }

    const QJsonValue seconds = object.value(kKeyKeepAliveSeconds);
    if (!seconds.isUndefined()) {
        if (!seconds.isDouble() || seconds.toDouble() < 0 || seconds.toDouble() > 86400)
            return fail(kKeyKeepAliveSeconds,
                        QStringLiteral("expected a number of seconds between 0 and 86400"));
        profile.keepAliveIntervalMs = int(seconds.toDouble() * 1000);
    }

    QString key;
    const QString problem = profile.validate(&key);
    if (!problem.isEmpty())
        return fail(key, problem);
    return profile;
}

Profile Profile::readable(const QJsonObject &object)
{
    Profile profile;
    profile.listen.clear();
    const QList<QPair<QLatin1String, QString *>> strings = {
        {kKeyName, &profile.name},
        {kKeyListen, &profile.listen},
        {kKeyServer, &profile.serverUrl},
        {kKeyToken, &profile.token},
        {kKeyProxy, &profile.proxy},
        {kKeyCaFile, &profile.caFile},
        {kKeyServerName, &profile.serverName},
        {kKeySocks5User, &profile.socks5User},
        {kKeySocks5Password, &profile.socks5Password},
        {kKeyUdpRemote, &profile.udpRemote}};
    for (const auto &field : strings) {
        if (object.value(field.first).isString())
            *field.second = object.value(field.first).toString();
    }
    const QList<QPair<QLatin1String, bool *>> booleans = {
        {kKeyInsecure, &profile.insecure},
        {kKeyBinarySubprotocol, &profile.binarySubprotocol},
        {kKeyAutoStart, &profile.autoStart}};
    for (const auto &field : booleans) {
        if (object.value(field.first).isBool())
            *field.second = object.value(field.first).toBool();
    }
    const QJsonArray headers = object.value(kKeyHeaders).toArray();
    for (const QJsonValue &header : headers) {
        const QJsonObject pair = header.toObject();
        if (pair.value(QLatin1String("name")).isString())
            profile.headers.append({pair.value(QLatin1String("name")).toString().toUtf8(),
                                    pair.value(QLatin1String("value")).toString().toUtf8()});
    }
    const QJsonArray pins = object.value(kKeyPins).toArray();
    for (const QJsonValue &pin : pins) {
        if (pin.isString())
            profile.pinsSha256.append(pin.toString());
    }
    if (const auto kind = kindFromName(object.value(kKeyKind).toString()))
        profile.kind = *kind;
    const QJsonValue idle = object.value(kKeyUdpIdleSeconds);
    if (idle.isDouble() && idle.toDouble() >= 1 && idle.toDouble() <= 86400)
        profile.udpIdleTimeoutMs = int(idle.toDouble() * 1000);
    if (object.value(kKeyKeepAliveMode) == QJsonValue(QStringLiteral("ping")))
        profile.keepAliveMode = KeepAliveMode::Ping;
    const QJsonValue seconds = object.value(kKeyKeepAliveSeconds);
    if (seconds.isDouble() && seconds.toDouble() >= 0 && seconds.toDouble() <= 86400)
        profile.keepAliveIntervalMs = int(seconds.toDouble() * 1000);
    return profile;
}

bool operator==(const Profile &a, const Profile &b)
{
    return a.name == b.name && a.listen == b.listen && a.serverUrl == b.serverUrl
        && a.headers == b.headers && a.token == b.token && a.proxy == b.proxy
        && a.caFile == b.caFile && a.pinsSha256 == b.pinsSha256 && a.serverName == b.serverName
        && a.insecure == b.insecure && a.keepAliveMode == b.keepAliveMode
        && a.keepAliveIntervalMs == b.keepAliveIntervalMs && a.autoStart == b.autoStart
        && a.binarySubprotocol == b.binarySubprotocol && a.kind == b.kind
        && a.socks5User == b.socks5User && a.socks5Password == b.socks5Password
        && a.udpRemote == b.udpRemote && a.udpIdleTimeoutMs == b.udpIdleTimeoutMs;
}

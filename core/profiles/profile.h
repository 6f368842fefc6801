// One saved client tunnel: a name, the local address, the server and the client options, as the
// tray app and `client --profile NAME` use them.
#pragma once

#include "client/clientoptions.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>
#include <optional>

struct Profile
{
    enum class KeepAliveMode { Empty, Ping };

    QString name;
    QString listen = QStringLiteral("127.0.0.1:2222"); // as the user wrote it
    QString serverUrl; // may carry user:password@ (the password is a secret, stored apart)
    QList<QPair<QByteArray, QByteArray>> headers; // extra HTTP headers of the upgrade request
    QString token; // secret: sent as "Authorization: Bearer <token>"
    QString proxy; // "" environment, "none", "system", or http://user:pass@host:port, socks5://...
    QString caFile; // extra CA certificates (PEM) for wss://
    QStringList pinsSha256; // base64 SHA-256 of the server's public key (SPKI)
    QString serverName; // TLS SNI / certificate name, when it differs from the URL's host
    bool insecure = false;
    // Offer the "binary" subprotocol (websockify-style servers that require it); not required.
    bool binarySubprotocol = false;
    KeepAliveMode keepAliveMode = KeepAliveMode::Empty;
    int keepAliveIntervalMs = 10000; // 0: no keep-alive
    bool autoStart = false; // started when the tray app starts, and by `client --all-autostart`

    // Everything a person may have got wrong, as one sentence naming the field ("local address:
    // ..."), or an empty string when the profile is valid. Port conflicts between profiles are
    // the store's business.
    // *key receives the JSON key of the faulty field ("listen").
    QString validate(QString *key = nullptr) const;

    // The settings of the client tunnel this profile describes; std::nullopt with a reason when
    // the profile is invalid.
    std::optional<ClientOptions> toClientOptions(QString *error) const;

    // Secrets split off the public part: the Basic-auth password of serverUrl, the values of its
    // query items that carry credentials (?token=, as written, percent-encoded), the proxy's
    // password and the token.
    QString serverPassword() const;
    QString proxyPassword() const;
    QList<QPair<QString, QString>> serverQuerySecrets() const; // (name, value) pairs
    // serverUrl without its password, and with "token=" and the like left empty.
    QString serverUrlWithoutPassword() const;
    QString proxyWithoutPassword() const;
    void setSecrets(const QString &token, const QString &serverPassword,
                    const QString &proxyPassword,
                    const QList<QPair<QString, QString>> &serverQuerySecrets = {});

    // JSON form. Without secrets the token and passwords are left out (they live in the owner-only
    // secrets file, or are not exported).
    QJsonObject toJson(bool withSecrets) const;
    // Reads one profile; on failure returns std::nullopt and "key \"listen\": expected ..." in
    // *error (the caller adds the file and the profile's position).
    static std::optional<Profile> fromJson(const QJsonObject &object, QString *error);

    static QString keepAliveModeName(KeepAliveMode mode);

    friend bool operator==(const Profile &a, const Profile &b);
    friend bool operator!=(const Profile &a, const Profile &b) { return !(a == b); }
};

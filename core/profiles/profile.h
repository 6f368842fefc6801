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
    // What the profile runs: a port forward to the server's fixed remote, a SOCKS5 proxy that
    // names a destination per connection, or a UDP forwarder to one destination. JSON key "kind"
    // ("forward", "socks5", "udp"); absent: forward, so files of earlier versions read unchanged.
    enum class Kind { Forward, Socks5, Udp };

    QString name;
    Kind kind = Kind::Forward;
    // The local address of every kind, as the user wrote it: the port forward's TCP port, the
    // SOCKS5 proxy's TCP port, or the UDP forwarder's UDP port.
    QString listen = QStringLiteral("127.0.0.1:2222");
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

    // SOCKS5 only: user name and password (RFC 1929) that local programs must give; both empty:
    // no authentication. The password is a secret, stored apart like the token.
    QString socks5User;
    QString socks5Password;
    // UDP only: the destination the server sends the datagrams to ("host:port"), and how long a
    // flow may be idle before it is closed.
    QString udpRemote;
    int udpIdleTimeoutMs = 60000;

    // Where the settings come from: a saved profile needs a name and a fixed local port (a user
    // comes back to it); the command line's one-off tunnel may listen on port 0 (a free port,
    // logged) and has no name.
    enum class Use { Saved, CommandLine };

    // The one check of a client tunnel's settings, for the command line, the profile file, import
    // and the editor: everything a person may have got wrong, as one sentence, or an empty string
    // when the settings are valid. *key receives the JSON key of the faulty field ("listen"); the
    // command line names its flag instead (CommandLine), the editor its label. Clashes of local
    // addresses between profiles are the store's business (HostPort::clashesWith).
    //
    // Headers: a "Host" header names the server as the server name does (Host line and, for
    // wss://, TLS name); both at once must agree. The WebSocket handshake's own headers (Upgrade,
    // Connection, Sec-WebSocket-*) are refused.
    QString validate(QString *key = nullptr, Use use = Use::Saved) const;

    // The settings of the client tunnel this profile describes; std::nullopt with a reason when
    // the profile is invalid.
    std::optional<ClientOptions> toClientOptions(QString *error, Use use = Use::Saved) const;

    // Whether the local address is a UDP port (a UDP and a TCP port of the same number do not
    // clash).
    bool listensOnUdp() const { return kind == Kind::Udp; }
    // Whether the local addresses of two profiles cannot both be bound: the same transport and
    // HostPort::clashesWith. False when either address does not parse.
    static bool localAddressesClash(const Profile &a, const Profile &b);

    static QString kindName(Kind kind); // "forward", "socks5", "udp": the JSON values
    static std::optional<Kind> kindFromName(const QString &name);

    // Secrets split off the public part: the Basic-auth password of serverUrl, the values of its
    // query items that carry credentials (?token=, as written, percent-encoded), the proxy's
    // password, the token and the SOCKS5 password.
    QString serverPassword() const;
    QString proxyPassword() const;
    QList<QPair<QString, QString>> serverQuerySecrets() const; // (name, value) pairs
    // serverUrl without its password, and with "token=" and the like left empty.
    QString serverUrlWithoutPassword() const;
    QString proxyWithoutPassword() const;
    void setSecrets(const QString &token, const QString &serverPassword,
                    const QString &proxyPassword,
                    const QList<QPair<QString, QString>> &serverQuerySecrets = {},
                    const QString &socks5Password = QString());

    // JSON form. Without secrets the token and passwords are left out (they live in the owner-only
    // secrets file, or are not exported).
    QJsonObject toJson(bool withSecrets) const;
    // Reads one profile; on failure returns std::nullopt and "key \"listen\": expected ..." in
    // *error (the caller adds the file and the profile's position).
    static std::optional<Profile> fromJson(const QJsonObject &object, QString *error);
    // Every field of the object that has the right type, the others left empty or at their
    // default: what the editor shows of a profile that fromJson() refused, so that it can be
    // repaired there. The string fields keep what was written, valid or not.
    static Profile readable(const QJsonObject &object);

    static QString keepAliveModeName(KeepAliveMode mode);

    friend bool operator==(const Profile &a, const Profile &b);
    friend bool operator!=(const Profile &a, const Profile &b) { return !(a == b); }
};

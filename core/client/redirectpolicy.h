// What a client request may carry where, once redirects are followed: the tunnel's credentials
// (--token-file's bearer token, Basic auth from the URL's user:password, and -H Authorization,
// Cookie and Proxy-Authorization) and --server-name go only to the origin they were configured
// for (scheme, host and port); a redirect from wss:// down to ws:// is not followed.
#pragma once

#include "clientoptions.h"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>
#include <QUrl>

class RedirectPolicy
{
public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;

    RedirectPolicy() = default;
    explicit RedirectPolicy(const ClientOptions &options);

    // Same scheme, host (case-insensitive) and port (the scheme's default when absent).
    static bool sameOrigin(const QUrl &a, const QUrl &b);
    static bool isSecretHeader(const QByteArray &name);

    // Whether url is on the configured server's origin: it gets the credentials and the
    // --server-name.
    bool isTrusted(const QUrl &url) const;
    // The headers of a request to url (an upgrade, or a redirect probe), in the order to set
    // them (a later one replaces an earlier one of the same name): the credentials only when
    // url is trusted, the other -H headers always.
    Headers headersFor(const QUrl &url) const;
    // Why the redirect from -> to must not be followed (one sentence), or an empty string.
    QString refusal(const QUrl &from, const QUrl &to) const;

private:
    QUrl m_serverUrl;
    QString m_token;
    Headers m_headers;
};

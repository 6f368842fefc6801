// Follows the HTTP redirects of a WebSocket URL: QWebSocket (Qt 6.4) fails on a 3xx answer and
// does not expose its Location header, so the redirect chain is walked with plain HTTP requests.
#pragma once

#include "redirectpolicy.h"
#include "tlspolicy.h"

#include <QByteArray>
#include <QList>
#include <QNetworkProxy>
#include <QObject>
#include <QPair>
#include <QUrl>
#include <functional>
#include <optional>

class QNetworkAccessManager;

class RedirectResolver : public QObject
{
    Q_OBJECT
public:
    using Callback = std::function<void(std::optional<QUrl> target, const QString &error)>;

    explicit RedirectResolver(QObject *parent = nullptr);

    // Requests url (as http/https) through proxy and follows 301/302/303/307/308 up to maxHops;
    // calls back with the final WebSocket URL, or with an error. Each hop gets the headers the
    // redirect policy gives it (credentials only on the configured origin), and a redirect the
    // policy refuses (wss:// down to ws://) ends with an error. The TLS policy verifies each
    // https hop as the WebSocket would be; serverName, when set, is the TLS name and Host header
    // of the hops on the configured origin (as --server-name does).
    void resolve(const QUrl &url, int maxHops, const TlsPolicy &tls, const QNetworkProxy &proxy,
                 const RedirectPolicy &policy, const QString &serverName, const QObject *context,
                 Callback callback);

private:
    void step(const QUrl &url, int hopsLeft, const QObject *context, Callback callback);

    QNetworkAccessManager *m_network;
    TlsPolicy m_tls;
    RedirectPolicy m_policy;
    QString m_serverName;
};

// Follows the HTTP redirects of a WebSocket URL: QWebSocket (Qt 6.4) fails on a 3xx answer and
// does not expose its Location header, so the redirect chain is walked with plain HTTP requests.
#pragma once

#include <QObject>
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

    // Requests url (as http/https) and follows 301/302/303/307/308 up to maxHops; calls back
    // with the final WebSocket URL, or with an error. insecure skips TLS verification.
    void resolve(const QUrl &url, int maxHops, bool insecure, const QObject *context,
                 Callback callback);

private:
    void step(const QUrl &url, int hopsLeft, bool insecure, const QObject *context,
              Callback callback);

    QNetworkAccessManager *m_network;
};

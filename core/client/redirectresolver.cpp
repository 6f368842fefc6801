#include "redirectresolver.h"

#include "net/websocketurl.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QSslConfiguration>

RedirectResolver::RedirectResolver(QObject *parent)
    : QObject(parent), m_network(new QNetworkAccessManager(this))
{
}

void RedirectResolver::resolve(const QUrl &url, int maxHops, const TlsPolicy &tls,
                               const QNetworkProxy &proxy, const RedirectPolicy &policy,
                               const QString &serverName, const QObject *context, Callback callback)
{
    m_tls = tls;
    m_policy = policy;
    m_serverName = serverName;
    m_network->setProxy(proxy);
    step(url, maxHops, context, std::move(callback));
}

void RedirectResolver::step(const QUrl &url, int hopsLeft, const QObject *context,
                            Callback callback)
{
    QUrl httpUrl = url;
    httpUrl.setScheme(url.scheme() == QLatin1String("wss") ? QStringLiteral("https")
                                                           : QStringLiteral("http"));
    httpUrl.setUserInfo(QString()); // credentials go as headers, and only where the policy says
    QNetworkRequest request(httpUrl);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    request.setTransferTimeout(15000);
    request.setSslConfiguration(m_tls.sslConfiguration());
    // Per hop: a hop on another origin gets none of the credentials.
    for (const auto &header : m_policy.headersFor(url))
        request.setRawHeader(header.first, header.second);
    if (!m_serverName.isEmpty() && m_policy.isTrusted(url)) {
        request.setPeerVerifyName(m_serverName);
        request.setRawHeader("Host",
                             url.port() == -1
                                 ? m_serverName.toUtf8()
                                 : m_serverName.toUtf8() + ':' + QByteArray::number(url.port()));
    }
    QNetworkReply *reply = m_network->get(request);
    connect(reply, &QNetworkReply::sslErrors, reply, [this, reply](const QList<QSslError> &errors) {
        QString reason;
        if (m_tls.acceptsErrors(errors, reply->sslConfiguration().peerCertificate(), &reason))
            reply->ignoreSslErrors();
    });
    QPointer<const QObject> guard(context);
    // Only the status line and headers matter: act on them as soon as they arrive and drop the
    // body, which may be large or never end.
    auto handled = std::make_shared<bool>(false);
    auto onHeaders = [this, reply, url, hopsLeft, guard, handled, callback = std::move(callback)] {
        const QVariant statusAttribute = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
        if (*handled || (!statusAttribute.isValid() && !reply->isFinished()))
            return;
        *handled = true;
        const QString errorText = reply->errorString();
        reply->abort();
        reply->deleteLater();
        if (!guard)
            return;
        const int status = statusAttribute.toInt();
        const bool isRedirect =
            status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
        if (status == 0) {
            callback(std::nullopt,
                     QStringLiteral("the redirect probe of %1 failed: %2")
                         .arg(WebSocketUrl::redacted(url), errorText));
            return;
        }
        if (!isRedirect) {
            // The server stopped redirecting: the previous hop is where to connect.
            callback(url, QString());
            return;
        }
        if (hopsLeft <= 0) {
            callback(std::nullopt, QStringLiteral("too many redirects"));
            return;
        }
        const QString location = QString::fromUtf8(reply->rawHeader("Location"));
        QString error;
        const auto next = WebSocketUrl::resolveRedirect(url, location, &error);
        if (!next) {
            callback(std::nullopt, QStringLiteral("bad redirect: %1").arg(error));
            return;
        }
        const QString refusal = m_policy.refusal(url, *next);
        if (!refusal.isEmpty()) {
            callback(std::nullopt, refusal);
            return;
        }
        step(*next, hopsLeft - 1, guard.data(), callback);
    };
    connect(reply, &QNetworkReply::metaDataChanged, this, onHeaders);
    connect(reply, &QNetworkReply::finished, this, onHeaders);
}

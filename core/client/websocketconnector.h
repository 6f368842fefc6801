// Opens one client WebSocket with every setting of a tunnel: proxy and its authentication, TLS
// verification and pins, server name, headers and token, subprotocol, handshake timeout, redirects.
// Reports each stage it passes as data, so the tunnel and the connection check share one code
// path.
//
// Redirects come from the answer to the upgrade request itself: 301, 302, 303, 307 and 308, at
// most ClientOptions::maxRedirects of them, to ws://, wss://, http:// or https:// only, never
// in a loop, never from wss:// down to ws://, credentials only on the configured origin.
#pragma once

#include "clientoptions.h"
#include "redirectpolicy.h"
#include "tlspolicy.h"

#include <QElapsedTimer>
#include <QNetworkProxy>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QUrl>

class QAbstractSocket;
class QWebSocket;
class UpgradeProbe;

class WebSocketConnector : public QObject
{
    Q_OBJECT
public:
    enum class Stage { Proxy, Connect, Tls, Upgrade, Redirect, Timeout };
    Q_ENUM(Stage)

    struct Failure
    {
        Stage stage = Stage::Connect;
        int httpStatus = 0; // the server's answer to the upgrade request, when there was one
        QString reason; // one readable sentence, without secrets
        // The Tow-Error header of the server's answer to the upgrade request ("not-allowed",
        // "refused", ...), when it sent one: why a destination named in Tow-Destination was not
        // reached.
        QByteArray errorToken;
    };

    // tls must come from TlsPolicy::create(options).
    WebSocketConnector(const ClientOptions &options, const TlsPolicy &tls,
                       QObject *parent = nullptr);
    ~WebSocketConnector() override;

    // Starts opening url; exactly one of opened() or failed() follows (never synchronously).
    void open(const QUrl &url);

    // The URL the WebSocket finally opened, after redirects (the credentials of the configured
    // URL are added again whenever it is on the configured origin).
    QUrl finalUrl() const { return m_url; }
    // Where later connections may start instead of the URL given to open(): moved along the
    // permanent redirects (301, 308) it met first, and no further than the first temporary one
    // (302, 303, 307), which is asked again each time, as the original Go tool does.
    QUrl rememberedUrl() const { return m_rememberedUrl; }

    // Hands the open WebSocket over (reparented to nullptr); call from opened().
    QWebSocket *takeWebSocket();

    // Upgrade request headers without secrets, for diagnostics ("Authorization: <hidden>").
    static QString describeHeaders(const ClientOptions &options);

Q_SIGNALS:
    void proxyChosen(const QNetworkProxy &proxy);
    void tcpConnected(const QString &peer);
    void tlsEstablished(const QString &subject, const QString &pin, const QString &protocol);
    void redirected(const QUrl &from, const QUrl &to, int httpStatus);
    void opened();
    void failed(const WebSocketConnector::Failure &failure);

private:
    void start(const QUrl &url, int redirectsLeft);
    void onError();
    void followRedirect(int httpStatus);
    void fail(Stage stage, const QString &reason, int httpStatus = 0,
              const QByteArray &errorToken = QByteArray());
    QByteArray refusalErrorToken();
    void dropWebSocket();

    ClientOptions m_options;
    TlsPolicy m_tls;
    RedirectPolicy m_policy;
    UpgradeProbe *m_probe = nullptr; // asks a redirecting server where it points
    QPointer<QWebSocket> m_ws;
    QPointer<QAbstractSocket> m_transport; // m_ws's socket, while it reads the upgrade answer
    QNetworkProxy m_proxy;
    QTimer m_timeout;
    QUrl m_url;
    QList<QUrl> m_chain; // the URLs asked so far, to tell a loop
    QUrl m_rememberedUrl;
    bool m_onlyPermanentSoFar = true;
    int m_redirectsLeft = 0;
    int m_proxyAuthAttempts = 0;
    bool m_tcpConnected = false;
    bool m_tlsDone = false;
    bool m_settled = false;
    QString m_tlsFailure; // why we refused the certificate, reported instead of Qt's text
};

Q_DECLARE_METATYPE(WebSocketConnector::Failure)

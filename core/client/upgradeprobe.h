// Asks a server again for its answer to a WebSocket upgrade and reads the status and Location
// that QWebSocket keeps to itself: a real upgrade request (the same headers, Upgrade,
// Sec-WebSocket-Key, ...) through the same proxy and TLS checks, closed as soon as the head of
// the answer has arrived. Qt 6.4 to 6.8 report a 3xx answer to an upgrade only as error text,
// without its headers, so this is how the client learns where a redirect points.
#pragma once

#include "tlspolicy.h"

#include <QByteArray>
#include <QList>
#include <QNetworkProxy>
#include <QObject>
#include <QPair>
#include <QPointer>
#include <QString>
#include <QUrl>

class QTcpSocket;

class UpgradeProbe : public QObject
{
    Q_OBJECT
public:
    struct Request
    {
        QUrl url; // ws:// or wss://; its user info is ignored
        // TLS name and Host header instead of the URL's host (--server-name), or empty.
        QString serverName;
        // In the order to set them: a later one replaces an earlier one of the same name, as
        // QNetworkRequest::setRawHeader() does for the upgrade QWebSocket sends.
        QList<QPair<QByteArray, QByteArray>> headers;
        QNetworkProxy proxy;
    };

    struct Answer
    {
        int status = 0; // 0 when no answer came
        QByteArray location; // the Location header, as sent
        QString error; // why no answer came: one sentence, without secrets
    };

    explicit UpgradeProbe(const TlsPolicy &tls, QObject *parent = nullptr);

    // Sends the request; finished() follows once (never synchronously). Deleting the probe
    // before that cancels it.
    void start(const Request &request);

    // The request head start() sends, for tests and for start() itself.
    static QByteArray requestHead(const Request &request, const QByteArray &key);

Q_SIGNALS:
    void finished(const UpgradeProbe::Answer &answer);

private:
    void onReadyRead();
    void finish(Answer answer);

    TlsPolicy m_tls;
    QPointer<QTcpSocket> m_socket;
    QByteArray m_head;
    QByteArray m_received;
    QString m_tlsFailure;
    int m_proxyAuthAttempts = 0;
    bool m_done = false;
};

Q_DECLARE_METATYPE(UpgradeProbe::Answer)

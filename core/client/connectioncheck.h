// Diagnoses whether a client tunnel would work: opens one WebSocket with exactly the tunnel's
// settings and reports each step (DNS, proxy, TCP, TLS, HTTP upgrade, round trip) as data with a
// sentence a person can act on. Used by the `check` command and the tray app's "Test" button.
#pragma once

#include "clientoptions.h"

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QTimer>

class QHostInfo;
class QWebSocket;
class WebSocketConnector;

class ConnectionCheck : public QObject
{
    Q_OBJECT
public:
    enum class StepKind { Dns, Proxy, Tcp, Tls, Upgrade, RoundTrip };
    Q_ENUM(StepKind)

    struct Step
    {
        StepKind kind = StepKind::Dns;
        bool ok = false;
        QString sentence; // one line, no secrets
        int httpStatus = 0; // for StepKind::Upgrade (and Proxy 407), when there was an answer
    };

    explicit ConnectionCheck(const ClientOptions &options, QObject *parent = nullptr);
    ~ConnectionCheck() override;

    // Starts the check; step() for each step, then finished() once. Never synchronous.
    void start();

    bool isFinished() const { return m_finished; }
    bool works() const { return m_works; }
    QList<Step> steps() const { return m_steps; }

    // "DNS", "TLS", ...: the label of a step for printing.
    static QString label(StepKind kind);

    // The meaning of an HTTP status answered instead of an upgrade, for people.
    static QString explainStatus(int status, const QUrl &url);

Q_SIGNALS:
    void step(const ConnectionCheck::Step &step);
    void finished(bool works);

private:
    void report(StepKind kind, bool ok, const QString &sentence, int httpStatus = 0);
    void finish(bool works);
    void onLookedUp(const QHostInfo &info);
    void openWebSocket();

    ClientOptions m_options;
    QList<Step> m_steps;
    WebSocketConnector *m_connector = nullptr;
    QPointer<QWebSocket> m_ws;
    QTimer m_pongTimeout;
    QTimer m_settle;
    double m_roundTripMs = 0;
    QElapsedTimer m_pingSent;
    QString m_lookupHost;
    int m_lookupId = -1;
    bool m_tcpDone = false;
    bool m_tlsDone = false;
    bool m_closeFrameSeen = false; // the server's close frame, before the connection ended
    bool m_finished = false;
    bool m_works = false;
};

Q_DECLARE_METATYPE(ConnectionCheck::Step)

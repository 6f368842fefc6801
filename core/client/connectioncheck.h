// Diagnoses whether a client tunnel would work: opens one WebSocket with exactly the tunnel's
// settings and reports each step (DNS, proxy, TCP, TLS, HTTP upgrade, destination, round trip) as
// data with a sentence a person can act on. Used by the `check` command and the tray app's "Test"
// button.
#pragma once

#include "clientoptions.h"
#include "net/destination.h"

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QTimer>
#include <optional>

class QHostInfo;
class QWebSocket;
class WebSocketConnector;

class ConnectionCheck : public QObject
{
    Q_OBJECT
public:
    enum class StepKind { Dns, Proxy, Tcp, Tls, Upgrade, Destination, RoundTrip };
    Q_ENUM(StepKind)

    struct Step
    {
        StepKind kind = StepKind::Dns;
        bool ok = false;
        QString sentence; // one line, no secrets
        // For StepKind::Upgrade and Destination (and Proxy 407), when there was an answer.
        int httpStatus = 0;
    };

    explicit ConnectionCheck(const ClientOptions &options, QObject *parent = nullptr);
    ~ConnectionCheck() override;

    // Names the destination the server is asked to reach (Tow-Destination), as a SOCKS5
    // connection or a UDP flow does; the server's verdict is the Destination step. Without one
    // (and without a Tow-Destination header in the options) the check asks for the route's fixed
    // remote, as a port forward does. Call before start().
    void setDestination(const Destination &destination);
    // Without a destination: whether a route that takes named destinations only passes. Such a
    // route refuses the unnamed tunnel with a Tow-Error answer, which proves the server, TLS, the
    // token and the path work: all that `check` without --destination and a SOCKS5 proxy (whose
    // programs name the destinations) need. A port forward needs the fixed remote (default).
    void setNamedDestinationsSuffice(bool suffice) { m_namedDestinationsSuffice = suffice; }

    // Starts the check; step() for each step, then finished() once. Never synchronous.
    void start();

    bool isFinished() const { return m_finished; }
    bool works() const { return m_works; }
    // The destination named to the server, from setDestination() or the options' headers.
    std::optional<Destination> destination() const { return m_destination; }
    // The server refused a tunnel without a destination with a Tow-Error answer: the route takes
    // named destinations only.
    bool routeTakesNamedDestinationsOnly() const { return m_namedOnlyRoute; }
    QList<Step> steps() const { return m_steps; }

    // "DNS", "TLS", ...: the label of a step for printing.
    static QString label(StepKind kind);

    // The meaning of an HTTP status answered instead of an upgrade, for people.
    static QString explainStatus(int status, const QUrl &url);
    // Why the server did not reach a named destination, from its Tow-Error token:
    // "not allowed by the route's rules (403 not-allowed)".
    static QString explainRefusal(const QByteArray &errorToken, int status);

Q_SIGNALS:
    void step(const ConnectionCheck::Step &step);
    void finished(bool works);

private:
    void report(StepKind kind, bool ok, const QString &sentence, int httpStatus = 0);
    void finish(bool works);
    void onLookedUp(const QHostInfo &info);
    void openWebSocket();
    void onRefused(int httpStatus, const QByteArray &errorToken);

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
    std::optional<Destination> m_destination;
    QByteArray m_destinationValue; // the Tow-Destination header sent; empty: none
    bool m_namedDestinationsSuffice = false;
    bool m_namedOnlyRoute = false;
    bool m_tcpDone = false;
    bool m_tlsDone = false;
    bool m_closeFrameSeen = false; // the server's close frame, before the connection ended
    bool m_finished = false;
    bool m_works = false;
};

Q_DECLARE_METATYPE(ConnectionCheck::Step)

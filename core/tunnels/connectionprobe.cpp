#include "connectionprobe.h"

#include "client/connectioncheck.h"
#include "net/destination.h"

#include <QStringList>
#include <QTimer>

ConnectionProbe::ConnectionProbe(QObject *parent) : QObject(parent) { }

ConnectionProbe::~ConnectionProbe() = default;

void ConnectionProbe::run(const Profile &profile, QObject *context,
                          std::function<void(bool, const QString &)> done)
{
    auto *probe = new ConnectionProbe(context);
    QObject::connect(probe, &ConnectionProbe::finished, context,
                     [probe, done = std::move(done)](bool ok, const QString &message) {
                         done(ok, message);
                         probe->deleteLater();
                     });
    probe->start(profile);
}

void ConnectionProbe::start(const Profile &profile)
{
    QString error;
    auto options = profile.toClientOptions(&error);
    if (!options) {
        // Reported from the event loop, like every other answer.
        QTimer::singleShot(0, this, [this, error] { finish(false, error); });
        return;
    }
    // The check opens one WebSocket as a port forward's connection does. A UDP profile's flows
    // name their one destination, so the check names it too (the server resolves, checks and
    // reaches it before it answers); a SOCKS5 proxy's destinations come from its programs, so the
    // check can only try the server's upgrade path without one.
    QString note;
    if (profile.kind == Profile::Kind::Udp) {
        options->headers.append({QByteArray(Destination::kHeader),
                                 Destination {true, options->udpRemote}.headerValue()});
        note = QStringLiteral(
                   "Note: a UDP profile's check tests the server's upgrade path to %1 (the server "
                   "must allow udp/%1); no datagram is sent.")
                   .arg(options->udpRemote.toString());
    } else if (profile.kind == Profile::Kind::Socks5) {
        note = QStringLiteral(
            "Note: a SOCKS5 proxy's check can only test the server's upgrade path, without a "
            "destination (each program names its own); a route that takes only named "
            "destinations answers 403 not-allowed here.");
    }
    m_check = new ConnectionCheck(*options, this);
    connect(m_check, &ConnectionCheck::finished, this, [this, note](bool works) {
        QStringList lines;
        for (const ConnectionCheck::Step &step : m_check->steps())
            lines.append(QStringLiteral("%1 %2: %3")
                             .arg(step.ok ? QStringLiteral("[ok]") : QStringLiteral("[failed]"),
                                  ConnectionCheck::label(step.kind), step.sentence));
        if (!note.isEmpty())
            lines.append(note);
        finish(works, lines.join(QLatin1Char('\n')));
    });
    m_check->start();
}

void ConnectionProbe::finish(bool ok, const QString &message)
{
    if (m_done)
        return;
    m_done = true;
    if (m_check)
        m_check->deleteLater();
    Q_EMIT finished(ok, message);
}

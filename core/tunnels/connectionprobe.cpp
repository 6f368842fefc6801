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
    // The check opens one WebSocket as one of the profile's connections does. A UDP profile's
    // flows name their one destination, so the check names it too: the server resolves, checks
    // and reaches it before it answers, and its verdict is the result. A SOCKS5 proxy's
    // destinations come from its programs: the check names none, and a route that takes named
    // destinations only (it refuses the unnamed tunnel with a Tow-Error answer, after the token and
    // path) is what the proxy needs. A port forward needs the route's fixed remote.
    m_check = new ConnectionCheck(*options, this);
    QString note;
    if (profile.kind == Profile::Kind::Udp) {
        m_check->setDestination(Destination {true, options->udpRemote});
        note = QStringLiteral("Note: no datagram is sent; the UDP service's own answer is not "
                              "tested.");
    } else if (profile.kind == Profile::Kind::Socks5) {
        m_check->setNamedDestinationsSuffice(true);
    }
    connect(
        m_check, &ConnectionCheck::finished, this, [this, note, kind = profile.kind](bool works) {
            QStringList lines;
            for (const ConnectionCheck::Step &step : m_check->steps())
                lines.append(QStringLiteral("%1 %2: %3")
                                 .arg(step.ok ? QStringLiteral("[ok]") : QStringLiteral("[failed]"),
                                      ConnectionCheck::label(step.kind), step.sentence));
            if (!note.isEmpty())
                lines.append(note);
            // A route with a fixed remote opens a tunnel without a destination, but refuses the
            // destinations a SOCKS5 proxy names.
            if (works && kind == Profile::Kind::Socks5
                && !m_check->routeTakesNamedDestinationsOnly())
                lines.append(
                    QStringLiteral("Note: the route opened a tunnel without a destination (it has "
                                   "a fixed remote); "
                                   "the proxy's destinations must also be in its allow list."));
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

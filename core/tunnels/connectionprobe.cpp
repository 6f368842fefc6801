#include "connectionprobe.h"

#include "client/connectioncheck.h"

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
    const auto options = profile.toClientOptions(&error);
    if (!options) {
        // Reported from the event loop, like every other answer.
        QTimer::singleShot(0, this, [this, error] { finish(false, error); });
        return;
    }
    m_check = new ConnectionCheck(*options, this);
    connect(m_check, &ConnectionCheck::finished, this, [this](bool works) {
        QStringList lines;
        for (const ConnectionCheck::Step &step : m_check->steps())
            lines.append(QStringLiteral("%1 %2: %3")
                             .arg(step.ok ? QStringLiteral("[ok]") : QStringLiteral("[failed]"),
                                  ConnectionCheck::label(step.kind), step.sentence));
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

#include "trafficgraph.h"

#include <QPainter>
#include <QPainterPath>

TrafficGraph::TrafficGraph(QWidget *parent) : QWidget(parent)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setAccessibleName(tr("Traffic graph"));
}

void TrafficGraph::setSamples(const QList<TunnelManager::RateSample> &samples, const QString &title)
{
    m_samples = samples;
    m_title = title;
    update();
}

QSize TrafficGraph::sizeHint() const
{
    return QSize(480, 110);
}

QSize TrafficGraph::minimumSizeHint() const
{
    return QSize(160, 80);
}

void TrafficGraph::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QRectF area = QRectF(rect()).adjusted(4, fontMetrics().height() + 6, -4, -4);
    painter.fillRect(rect(), palette().base());
    painter.setPen(palette().mid().color());
    painter.drawRect(area);

    double peak = 1;
    for (const auto &sample : m_samples)
        peak = qMax(peak, qMax(sample.upBytesPerSecond, sample.downBytesPerSecond));

    const QColor upColor(0x2e, 0x7d, 0xd1);
    const QColor downColor(0x2e, 0x9d, 0x4f);
    auto line = [&](bool up) {
        QPainterPath path;
        const int slotCount = TunnelManager::kHistorySamples;
        const int offset = slotCount - int(m_samples.size());
        for (int i = 0; i < m_samples.size(); ++i) {
            const double value =
                up ? m_samples.at(i).upBytesPerSecond : m_samples.at(i).downBytesPerSecond;
            const QPointF point(area.left() + area.width() * (offset + i) / (slotCount - 1),
                                area.bottom() - area.height() * value / peak);
            if (i == 0)
                path.moveTo(point);
            else
                path.lineTo(point);
        }
        painter.setPen(QPen(up ? upColor : downColor, 1.5));
        painter.drawPath(path);
    };
    line(true);
    line(false);

    painter.setPen(palette().text().color());
    const QString caption = m_title.isEmpty()
        ? tr("Select a tunnel to see its traffic")
        : tr("%1 — ↑ %2  ↓ %3  (peak %4, last two minutes)")
              .arg(m_title,
                   TunnelStatus::rateText(
                       m_samples.isEmpty() ? 0 : m_samples.constLast().upBytesPerSecond),
                   TunnelStatus::rateText(
                       m_samples.isEmpty() ? 0 : m_samples.constLast().downBytesPerSecond),
                   TunnelStatus::rateText(peak <= 1 ? 0 : peak));
    painter.drawText(QRectF(4, 2, width() - 8, fontMetrics().height() + 2),
                     Qt::AlignLeft | Qt::AlignVCenter, caption);
}

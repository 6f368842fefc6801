#include "trafficgraph.h"

#include <QPainter>
#include <QPainterPath>

TrafficGraph::TrafficGraph(QWidget *parent) : QWidget(parent)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding); // it lives in a splitter
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
    return QSize(480, 140);
}

QSize TrafficGraph::minimumSizeHint() const
{
    return QSize(200, fontMetrics().height() * 4 + 16);
}

double TrafficGraph::scaleTop() const
{
    // The peak, rounded up to 1, 2 or 5 times a power of ten, so the scale reads easily.
    double peak = 0;
    for (const auto &sample : m_samples)
        peak = qMax(peak, qMax(sample.upBytesPerSecond, sample.downBytesPerSecond));
    double step = 1;
    while (true) {
        for (double factor : {1.0, 2.0, 5.0}) {
            if (peak <= step * factor * 10)
                return step * factor * 10;
        }
        step *= 10;
    }
}

QStringList TrafficGraph::axisLabels() const
{
    const double top = scaleTop();
    const int seconds = TunnelManager::kHistorySamples * TunnelManager::kSampleIntervalMs / 1000;
    return {TunnelStatus::rateText(top), TunnelStatus::rateText(top / 2), tr("0"),
            tr("−%1 s").arg(seconds),    tr("−%1 s").arg(seconds / 2),    tr("now")};
}

void TrafficGraph::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics metrics = fontMetrics();
    const QStringList labels = axisLabels();
    int scaleWidth = 0;
    for (int i = 0; i < 3; ++i)
        scaleWidth = qMax(scaleWidth, metrics.horizontalAdvance(labels.at(i)));
    // Room for the caption above, the rate scale on the left and the time axis below.
    const QRectF area =
        QRectF(rect()).adjusted(scaleWidth + 10, metrics.height() + 6, -8, -(metrics.height() + 6));
    painter.fillRect(rect(), palette().base());
    QColor grid = palette().mid().color();
    painter.setPen(grid);
    painter.drawRect(area);
    grid.setAlpha(90);
    painter.setPen(QPen(grid, 1, Qt::DotLine));
    painter.drawLine(QPointF(area.left(), area.center().y()),
                     QPointF(area.right(), area.center().y()));
    painter.drawLine(QPointF(area.center().x(), area.top()),
                     QPointF(area.center().x(), area.bottom()));

    const double top = scaleTop();
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
                                area.bottom() - area.height() * value / top);
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
    // The rate scale, right-aligned against the plot.
    const qreal lineHeight = metrics.height();
    const QRectF scaleColumn(0, 0, scaleWidth + 4, lineHeight);
    painter.drawText(scaleColumn.translated(0, area.top() - lineHeight / 2),
                     Qt::AlignRight | Qt::AlignVCenter, labels.at(0));
    painter.drawText(scaleColumn.translated(0, area.center().y() - lineHeight / 2),
                     Qt::AlignRight | Qt::AlignVCenter, labels.at(1));
    painter.drawText(scaleColumn.translated(0, area.bottom() - lineHeight / 2),
                     Qt::AlignRight | Qt::AlignVCenter, labels.at(2));
    // The time axis.
    const qreal axisY = area.bottom() + 3;
    painter.drawText(QRectF(area.left(), axisY, area.width() / 3, lineHeight),
                     Qt::AlignLeft | Qt::AlignTop, labels.at(3));
    painter.drawText(
        QRectF(area.center().x() - area.width() / 6, axisY, area.width() / 3, lineHeight),
        Qt::AlignHCenter | Qt::AlignTop, labels.at(4));
    painter.drawText(QRectF(area.right() - area.width() / 3, axisY, area.width() / 3, lineHeight),
                     Qt::AlignRight | Qt::AlignTop, labels.at(5));

    const QString caption = m_title.isEmpty()
        ? tr("Select a tunnel to see its traffic")
        : tr("%1 — ↑ upload %2 (blue)  ↓ download %3 (green)")
              .arg(m_title,
                   TunnelStatus::rateText(
                       m_samples.isEmpty() ? 0 : m_samples.constLast().upBytesPerSecond),
                   TunnelStatus::rateText(
                       m_samples.isEmpty() ? 0 : m_samples.constLast().downBytesPerSecond));
    painter.drawText(QRectF(area.left(), 2, area.width(), lineHeight + 2),
                     Qt::AlignLeft | Qt::AlignVCenter, caption);
}

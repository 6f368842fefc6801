// A live graph of one tunnel's up and down rates over the last two minutes, with a rate scale
// and a time axis.
#pragma once

#include "tunnels/tunnelmanager.h"

#include <QList>
#include <QWidget>

class TrafficGraph : public QWidget
{
    Q_OBJECT
public:
    explicit TrafficGraph(QWidget *parent = nullptr);

    void setSamples(const QList<TunnelManager::RateSample> &samples, const QString &title);
    const QList<TunnelManager::RateSample> &samples() const { return m_samples; }

    // The labels drawn: the rate scale (top, middle, 0), then the time axis (oldest, middle, now).
    QStringList axisLabels() const;
    double scaleTop() const; // bytes per second at the top of the plot

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QList<TunnelManager::RateSample> m_samples;
    QString m_title;
};

// Counters and gauges with labels, rendered in the Prometheus text exposition format (0.0.4).
#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>
#include <map>

class MetricsRegistry
{
public:
    enum class Type { Counter, Gauge, Histogram };
    using Labels = QList<QPair<QString, QString>>;

    // Declares a metric family; rendering keeps declaration order. Declaring twice is a no-op.
    // A family whose series carry labels names them: it shows only its labelled series, and
    // nothing before the first one (never an unlabelled 0 that a labelled series replaces).
    void declare(const QString &name, Type type, const QString &help,
                 const QStringList &labelNames = {});

    // Declares a histogram with these upper bounds (ascending; +Inf is implied).
    void declareHistogram(const QString &name, const QString &help, const QList<double> &bounds);
    // Records one observation in a histogram.
    void observe(const QString &name, const Labels &labels, double value);

    // Adds to a counter or gauge (created at 0 if this label set is new).
    void add(const QString &name, const Labels &labels, double delta);
    void add(const QString &name, double delta) { add(name, {}, delta); }
    void set(const QString &name, const Labels &labels, double value);
    void set(const QString &name, double value) { set(name, {}, value); }
    // Keeps the largest value seen (for "peak" gauges).
    void setMax(const QString &name, double value);

    double value(const QString &name, const Labels &labels = {}) const;

    // The whole registry as Prometheus text. Families with no sample yet render as 0 when they
    // take no labels, so a scrape always shows every metric; labelled ones and histograms are left
    // out until their first series, as the Prometheus client libraries do.
    QByteArray render() const;

    // A number as the Prometheus client libraries write it (Go's strconv.FormatFloat(v, 'g', -1,
    // 64)): the shortest text that reads back as the same double, e.g. "0.1", "3600", "1e-05",
    // "+Inf". Histogram bounds are written so, so that a selector {le="0.1"} matches.
    static QString formatFloat(double value);

    static QByteArray contentType() { return "text/plain; version=0.0.4; charset=utf-8"; }

private:
    struct Buckets
    {
        QList<quint64> counts; // one per bound, not cumulative; the last is +Inf
        double sum = 0;
        quint64 count = 0;
    };

    struct Family
    {
        QString name;
        Type type;
        QString help;
        bool labelled = false;
        std::map<QString, double> samples; // rendered label set -> value
        QList<double> bounds; // histograms only
        std::map<QString, Buckets> histograms; // histograms only: label set -> buckets
    };

    Family *find(const QString &name);
    const Family *find(const QString &name) const;
    static QString renderLabels(const Labels &labels);
    static void renderHistogram(const Family &family, QString *out);

    QList<Family> m_families;
};

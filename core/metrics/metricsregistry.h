// Counters and gauges with labels, rendered in the Prometheus text exposition format (0.0.4).
#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>
#include <map>

class MetricsRegistry
{
public:
    enum class Type { Counter, Gauge };
    using Labels = QList<QPair<QString, QString>>;

    // Declares a metric family; rendering keeps declaration order. Declaring twice is a no-op.
    void declare(const QString &name, Type type, const QString &help);

    // Adds to a counter or gauge (created at 0 if this label set is new).
    void add(const QString &name, const Labels &labels, double delta);
    void add(const QString &name, double delta) { add(name, {}, delta); }
    void set(const QString &name, const Labels &labels, double value);
    void set(const QString &name, double value) { set(name, {}, value); }
    // Keeps the largest value seen (for "peak" gauges).
    void setMax(const QString &name, double value);

    double value(const QString &name, const Labels &labels = {}) const;

    // The whole registry as Prometheus text. Families with no sample yet render as 0 when they
    // take no labels, so a scrape always shows every metric.
    QByteArray render() const;

    static QByteArray contentType() { return "text/plain; version=0.0.4; charset=utf-8"; }

private:
    struct Family
    {
        QString name;
        Type type;
        QString help;
        std::map<QString, double> samples; // rendered label set -> value
    };

    Family *find(const QString &name);
    const Family *find(const QString &name) const;
    static QString renderLabels(const Labels &labels);

    QList<Family> m_families;
};

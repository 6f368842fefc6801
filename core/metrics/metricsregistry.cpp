#include "metricsregistry.h"

#include <QLocale>
#include <cmath>

namespace {

QString escapeLabelValue(const QString &value)
{
    QString out;
    out.reserve(value.size());
    for (const QChar c : value) {
        if (c == QLatin1Char('\\'))
            out += QLatin1String("\\\\");
        else if (c == QLatin1Char('"'))
            out += QLatin1String("\\\"");
        else if (c == QLatin1Char('\n'))
            out += QLatin1String("\\n");
        else
            out += c;
    }
    return out;
}

QString escapeHelp(const QString &help)
{
    QString out = help;
    out.replace(QLatin1String("\\"), QLatin1String("\\\\"));
    out.replace(QLatin1String("\n"), QLatin1String("\\n"));
    return out;
}

// Whole numbers (counters, bytes) in full, as people read them; the rest as Go clients write it.
QString formatValue(double value)
{
    if (value == std::floor(value) && std::fabs(value) < 9.0e15)
        return QString::number(qint64(value));
    return MetricsRegistry::formatFloat(value);
}

} // namespace

void MetricsRegistry::declare(const QString &name, Type type, const QString &help,
                              const QStringList &labelNames)
{
    if (find(name))
        return;
    m_families.append(Family {name, type, help, !labelNames.isEmpty(), {}, {}, {}});
}

void MetricsRegistry::declareHistogram(const QString &name, const QString &help,
                                       const QList<double> &bounds)
{
    if (find(name))
        return;
    m_families.append(Family {name, Type::Histogram, help, true, {}, bounds, {}});
}

void MetricsRegistry::observe(const QString &name, const Labels &labels, double value)
{
    Family *family = find(name);
    if (!family || family->type != Type::Histogram)
        return;
    Buckets &buckets = family->histograms[renderLabels(labels)];
    if (buckets.counts.isEmpty())
        buckets.counts.fill(0, family->bounds.size() + 1);
    qsizetype bucket = 0;
    while (bucket < family->bounds.size() && value > family->bounds.at(bucket))
        ++bucket;
    ++buckets.counts[bucket];
    buckets.sum += value;
    ++buckets.count;
}

void MetricsRegistry::add(const QString &name, const Labels &labels, double delta)
{
    if (Family *family = find(name))
        family->samples[renderLabels(labels)] += delta;
}

void MetricsRegistry::set(const QString &name, const Labels &labels, double value)
{
    if (Family *family = find(name))
        family->samples[renderLabels(labels)] = value;
}

void MetricsRegistry::setMax(const QString &name, double value)
{
    if (Family *family = find(name)) {
        double &current = family->samples[QString()];
        current = qMax(current, value);
    }
}

double MetricsRegistry::value(const QString &name, const Labels &labels) const
{
    const Family *family = find(name);
    if (!family)
        return 0;
    const auto it = family->samples.find(renderLabels(labels));
    return it == family->samples.end() ? 0 : it->second;
}

QByteArray MetricsRegistry::render() const
{
    QString out;
    for (const Family &family : m_families) {
        if (family.labelled && family.samples.empty() && family.histograms.empty())
            continue;
        out += QLatin1String("# HELP ") + family.name + QLatin1Char(' ') + escapeHelp(family.help)
            + QLatin1Char('\n');
        out += QLatin1String("# TYPE ") + family.name + QLatin1Char(' ')
            + (family.type == Type::Counter     ? QLatin1String("counter")
                   : family.type == Type::Gauge ? QLatin1String("gauge")
                                                : QLatin1String("histogram"))
            + QLatin1Char('\n');
        if (family.type == Type::Histogram) {
            renderHistogram(family, &out);
            continue;
        }
        if (family.samples.empty()) {
            out += family.name + QLatin1String(" 0\n");
            continue;
        }
        for (const auto &[labels, value] : family.samples)
            out += family.name + labels + QLatin1Char(' ') + formatValue(value) + QLatin1Char('\n');
    }
    return out.toUtf8();
}

MetricsRegistry::Family *MetricsRegistry::find(const QString &name)
{
    for (Family &family : m_families) {
        if (family.name == name)
            return &family;
    }
    return nullptr;
}

const MetricsRegistry::Family *MetricsRegistry::find(const QString &name) const
{
    for (const Family &family : m_families) {
        if (family.name == name)
            return &family;
    }
    return nullptr;
}

void MetricsRegistry::renderHistogram(const Family &family, QString *out)
{
    for (const auto &[labels, buckets] : family.histograms) {
        // "{a="b"}" -> "{a="b",le="0.5"}"; "" -> "{le="0.5"}"
        const QString prefix =
            labels.isEmpty() ? QStringLiteral("{") : labels.chopped(1) + QLatin1Char(',');
        quint64 cumulative = 0;
        for (qsizetype i = 0; i <= family.bounds.size(); ++i) {
            cumulative += buckets.counts.at(i);
            const QString bound = i < family.bounds.size() ? formatFloat(family.bounds.at(i))
                                                           : QStringLiteral("+Inf");
            *out += family.name + QLatin1String("_bucket") + prefix + QLatin1String("le=\"") + bound
                + QLatin1String("\"} ") + QString::number(cumulative) + QLatin1Char('\n');
        }
        *out += family.name + QLatin1String("_sum") + labels + QLatin1Char(' ')
            + formatValue(buckets.sum) + QLatin1Char('\n');
        *out += family.name + QLatin1String("_count") + labels + QLatin1Char(' ')
            + QString::number(buckets.count) + QLatin1Char('\n');
    }
}

QString MetricsRegistry::formatFloat(double value)
{
    if (std::isnan(value))
        return QStringLiteral("NaN");
    if (std::isinf(value))
        return value > 0 ? QStringLiteral("+Inf") : QStringLiteral("-Inf");
    if (value == 0)
        return QStringLiteral("0");
    // Qt gives the shortest digits that read back as the same double; Go's 'g' then picks the
    // exponent form when the decimal exponent is below -4 or at least 6 (strconv/ftoa.go:
    // "if precision was the shortest possible, use precision 6 for this decision"), whatever the
    // number of digits. Both write the exponent with a sign and at least two digits.
    const QString scientific = QString::number(value, 'e', QLocale::FloatingPointShortest);
    const int exponent = scientific.mid(scientific.indexOf(QLatin1Char('e')) + 1).toInt();
    if (exponent < -4 || exponent >= 6)
        return scientific;
    return QString::number(value, 'f', QLocale::FloatingPointShortest);
}

QString MetricsRegistry::renderLabels(const Labels &labels)
{
    if (labels.isEmpty())
        return QString();
    QString out = QStringLiteral("{");
    for (qsizetype i = 0; i < labels.size(); ++i) {
        if (i > 0)
            out += QLatin1Char(',');
        out += labels[i].first + QLatin1String("=\"") + escapeLabelValue(labels[i].second)
            + QLatin1Char('"');
    }
    out += QLatin1Char('}');
    return out;
}

// The Prometheus text format our /metrics serves.
#include "metrics/metricsregistry.h"

#include <QTest>

class TestMetricsRegistry : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void rendersFamiliesInOrder();
    void escapesLabelValues();
    void unlabelledFamilyShowsZero();
    void setMaxKeepsLargest();
    void fractionsAndLargeValues();
};

void TestMetricsRegistry::rendersFamiliesInOrder()
{
    MetricsRegistry registry;
    registry.declare(QStringLiteral("b_total"), MetricsRegistry::Type::Counter,
                     QStringLiteral("B things"));
    registry.declare(QStringLiteral("a"), MetricsRegistry::Type::Gauge, QStringLiteral("A"));
    registry.add(QStringLiteral("b_total"), {{QStringLiteral("type"), QStringLiteral("x")}}, 2);
    registry.add(QStringLiteral("b_total"), {{QStringLiteral("type"), QStringLiteral("x")}}, 3);
    registry.set(QStringLiteral("a"), 7);
    QCOMPARE(registry.render(),
             QByteArray("# HELP b_total B things\n"
                        "# TYPE b_total counter\n"
                        "b_total{type=\"x\"} 5\n"
                        "# HELP a A\n"
                        "# TYPE a gauge\n"
                        "a 7\n"));
    QCOMPARE(
        registry.value(QStringLiteral("b_total"), {{QStringLiteral("type"), QStringLiteral("x")}}),
        5.0);
}

void TestMetricsRegistry::escapesLabelValues()
{
    MetricsRegistry registry;
    registry.declare(QStringLiteral("m"), MetricsRegistry::Type::Counter,
                     QStringLiteral("help with \\ and\nnewline"));
    registry.add(QStringLiteral("m"),
                 {{QStringLiteral("path"), QStringLiteral("a\"b\\c\nd")},
                  {QStringLiteral("k"), QStringLiteral("v")}},
                 1);
    const QByteArray text = registry.render();
    QVERIFY2(text.contains("# HELP m help with \\\\ and\\nnewline\n"), text.constData());
    QVERIFY2(text.contains("m{path=\"a\\\"b\\\\c\\nd\",k=\"v\"} 1\n"), text.constData());
}

void TestMetricsRegistry::unlabelledFamilyShowsZero()
{
    MetricsRegistry registry;
    registry.declare(QStringLiteral("idle"), MetricsRegistry::Type::Gauge, QStringLiteral("x"));
    QVERIFY(registry.render().endsWith("idle 0\n"));
    registry.declare(QStringLiteral("idle"), MetricsRegistry::Type::Counter, QStringLiteral("y"));
    QCOMPARE(registry.render().count("# TYPE"), 1); // declaring twice keeps the first
}

void TestMetricsRegistry::setMaxKeepsLargest()
{
    MetricsRegistry registry;
    registry.declare(QStringLiteral("peak"), MetricsRegistry::Type::Gauge, QStringLiteral("p"));
    registry.setMax(QStringLiteral("peak"), 10);
    registry.setMax(QStringLiteral("peak"), 4);
    QCOMPARE(registry.value(QStringLiteral("peak")), 10.0);
}

void TestMetricsRegistry::fractionsAndLargeValues()
{
    MetricsRegistry registry;
    registry.declare(QStringLiteral("f"), MetricsRegistry::Type::Gauge, QStringLiteral("f"));
    registry.set(QStringLiteral("f"), 0.25);
    QVERIFY(registry.render().contains("f 0.25\n"));
    registry.set(QStringLiteral("f"), 1e12);
    QVERIFY(registry.render().contains("f 1000000000000\n"));
}

QTEST_APPLESS_MAIN(TestMetricsRegistry)
#include "tst_metricsregistry.moc"

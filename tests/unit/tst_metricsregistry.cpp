// The Prometheus text format our /metrics serves.
#include "metrics/metricsregistry.h"
#include "metrics/processmetrics.h"

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
    void formatFloatAsGoClients_data();
    void formatFloatAsGoClients();
    void histogramBoundsAsPrometheusClients();
    void labelledFamilyKeepsOneShape();
    void processMetrics();
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

void TestMetricsRegistry::formatFloatAsGoClients_data()
{
    // Expected: Go's strconv.FormatFloat(value, 'g', -1, 64), which client_golang's text format
    // writes for every number, histogram bounds included.
    QTest::addColumn<double>("value");
    QTest::addColumn<QString>("expected");
    QTest::newRow("0.1") << 0.1 << "0.1";
    QTest::newRow("0.005") << 0.005 << "0.005";
    QTest::newRow("0.25") << 0.25 << "0.25";
    QTest::newRow("1") << 1.0 << "1";
    QTest::newRow("2.5") << 2.5 << "2.5";
    QTest::newRow("0") << 0.0 << "0";
    QTest::newRow("-1.5") << -1.5 << "-1.5";
    QTest::newRow("3600") << 3600.0 << "3600";
    QTest::newRow("86400") << 86400.0 << "86400";
    QTest::newRow("999999") << 999999.0 << "999999";
    QTest::newRow("1e6") << 1e6 << "1e+06";
    QTest::newRow("123456789") << 123456789.0 << "1.23456789e+08";
    QTest::newRow("0.0001") << 0.0001 << "0.0001";
    QTest::newRow("0.00001") << 0.00001 << "1e-05";
    QTest::newRow("1/3") << 1.0 / 3 << "0.3333333333333333";
    QTest::newRow("1e21") << 1e21 << "1e+21";
    QTest::newRow("1e-300") << 1e-300 << "1e-300";
    QTest::newRow("+Inf") << qInf() << "+Inf";
    QTest::newRow("-Inf") << -qInf() << "-Inf";
}

void TestMetricsRegistry::formatFloatAsGoClients()
{
    QFETCH(double, value);
    QFETCH(QString, expected);
    QCOMPARE(MetricsRegistry::formatFloat(value), expected);
}

void TestMetricsRegistry::histogramBoundsAsPrometheusClients()
{
    MetricsRegistry registry;
    registry.declareHistogram(QStringLiteral("d"), QStringLiteral("d"), {0.1, 1, 86400});
    QCOMPARE(registry.render(), QByteArray()); // no series before the first observation
    registry.observe(QStringLiteral("d"), {{QStringLiteral("route"), QStringLiteral("/")}}, 0.05);
    registry.observe(QStringLiteral("d"), {{QStringLiteral("route"), QStringLiteral("/")}}, 2);
    QCOMPARE(registry.render(),
             QByteArray("# HELP d d\n"
                        "# TYPE d histogram\n"
                        "d_bucket{route=\"/\",le=\"0.1\"} 1\n"
                        "d_bucket{route=\"/\",le=\"1\"} 1\n"
                        "d_bucket{route=\"/\",le=\"86400\"} 2\n"
                        "d_bucket{route=\"/\",le=\"+Inf\"} 2\n"
                        "d_sum{route=\"/\"} 2.05\n"
                        "d_count{route=\"/\"} 2\n"));
}

void TestMetricsRegistry::labelledFamilyKeepsOneShape()
{
    // A family of labelled series never shows an unlabelled 0 first: a scrape before and after
    // the first event has the same shape.
    MetricsRegistry registry;
    registry.declare(QStringLiteral("failures_total"), MetricsRegistry::Type::Counter,
                     QStringLiteral("f"), {QStringLiteral("reason")});
    registry.declare(QStringLiteral("up"), MetricsRegistry::Type::Gauge, QStringLiteral("u"));
    QCOMPARE(registry.render(), QByteArray("# HELP up u\n# TYPE up gauge\nup 0\n"));
    registry.add(QStringLiteral("failures_total"),
                 {{QStringLiteral("reason"), QStringLiteral("timeout")}}, 1);
    QCOMPARE(registry.render(),
             QByteArray("# HELP failures_total f\n"
                        "# TYPE failures_total counter\n"
                        "failures_total{reason=\"timeout\"} 1\n"
                        "# HELP up u\n# TYPE up gauge\nup 0\n"));
}

void TestMetricsRegistry::processMetrics()
{
    MetricsRegistry registry;
    ProcessMetrics::declare(registry);
    ProcessMetrics::update(registry);
#ifdef Q_OS_LINUX
    // The process collector of the Prometheus client libraries, read from /proc.
    const QByteArray text = registry.render();
    for (const char *name : {"process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                             "process_virtual_memory_bytes", "process_resident_memory_bytes",
                             "process_start_time_seconds"})
        QVERIFY2(text.contains(QByteArray(QByteArray("\n") + name + ' ')), name);
    const double openFds = registry.value(QStringLiteral("process_open_fds"));
    const double maxFds = registry.value(QStringLiteral("process_max_fds"));
    QVERIFY2(openFds >= 3 && maxFds >= openFds, qPrintable(QString::number(maxFds)));
    const double resident = registry.value(QStringLiteral("process_resident_memory_bytes"));
    const double virtualBytes = registry.value(QStringLiteral("process_virtual_memory_bytes"));
    QVERIFY2(resident > 1e6 && virtualBytes >= resident, qPrintable(QString::number(virtualBytes)));
#else
    // Elsewhere they are absent rather than a constant 0.
    QCOMPARE(registry.render(), QByteArray());
#endif
}

QTEST_APPLESS_MAIN(TestMetricsRegistry)
#include "tst_metricsregistry.moc"

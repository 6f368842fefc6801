// One tray app per user and config: the first claim serves, a second one asks it to show itself.
#include "desktop/singleinstance.h"

#include <QSignalSpy>
#include <QTest>
#include <QUuid>

class TestSingleInstance : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void secondClaimActivatesFirst();
    void keysDifferByConfigDirectory();
    void claimAfterFirstEnds();
};

namespace {
QString uniqueKey()
{
    return SingleInstance::keyFor(QUuid::createUuid().toString());
}
} // namespace

void TestSingleInstance::secondClaimActivatesFirst()
{
    const QString key = uniqueKey();
    SingleInstance first(key);
    QSignalSpy activated(&first, &SingleInstance::activationRequested);
    QVERIFY(first.claim());
    SingleInstance second(key);
    QVERIFY(!second.claim());
    QTRY_COMPARE_WITH_TIMEOUT(activated.size(), 1, 30000);
}

void TestSingleInstance::keysDifferByConfigDirectory()
{
    QVERIFY(SingleInstance::keyFor(QStringLiteral("/a"))
            != SingleInstance::keyFor(QStringLiteral("/b")));
    QCOMPARE(SingleInstance::keyFor(QStringLiteral("/a")),
             SingleInstance::keyFor(QStringLiteral("/a")));
    QVERIFY(SingleInstance::keyFor(QStringLiteral("/a")).size() < 48); // short socket names
}

void TestSingleInstance::claimAfterFirstEnds()
{
    const QString key = uniqueKey();
    {
        SingleInstance first(key);
        QVERIFY(first.claim());
    }
    SingleInstance next(key);
    QVERIFY(next.claim());
}

QTEST_GUILESS_MAIN(TestSingleInstance)
#include "tst_singleinstance.moc"

// Start at login on Linux: an XDG autostart desktop file under $XDG_CONFIG_HOME/autostart.
#include "desktop/loginitem.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

class TestLoginItem : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void writesAndRemovesDesktopFile();

private:
    QTemporaryDir m_config;
};

void TestLoginItem::initTestCase()
{
    QVERIFY(m_config.isValid());
    // Before any QStandardPaths lookup: the file goes to the temporary directory.
    qputenv("XDG_CONFIG_HOME", m_config.path().toUtf8());
}

void TestLoginItem::writesAndRemovesDesktopFile()
{
    const QString expected =
        m_config.path() + QStringLiteral("/autostart/tcp-over-websocket.desktop");
    QCOMPARE(LoginItem::location(), expected);
    QVERIFY(!LoginItem::isEnabled());
    QString error;
    QVERIFY2(LoginItem::setEnabled(true, QStringLiteral("/opt/my apps/tcp-over-websocket"), &error),
             qPrintable(error));
    QVERIFY(LoginItem::isEnabled());
    QFile file(expected);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray text = file.readAll();
    QVERIFY(text.startsWith("[Desktop Entry]\n"));
    QVERIFY(text.contains("\nType=Application\n"));
    QVERIFY2(text.contains("\nExec=\"/opt/my apps/tcp-over-websocket\"\n"), text.constData());
    file.close();
    QVERIFY2(LoginItem::setEnabled(false, QString(), &error), qPrintable(error));
    QVERIFY(!LoginItem::isEnabled());
    QVERIFY(!QFile::exists(expected));
    // Disabling twice is fine.
    QVERIFY(LoginItem::setEnabled(false, QString(), &error));
}

QTEST_GUILESS_MAIN(TestLoginItem)
#include "tst_loginitem.moc"

// Reading the files a person names: a regular file is read up to the cap; a FIFO, a device, a
// directory is refused at once with a sentence, never waited on.
#include "regularfile.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#endif

class TestRegularFile : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void readsUpToTheCap();
    void refuses_data();
    void refuses();

private:
    QTemporaryDir m_dir;
};

void TestRegularFile::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QFile file(m_dir.filePath("token"));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("0123456789");
#ifdef Q_OS_UNIX
    QCOMPARE(::mkfifo(QFile::encodeName(m_dir.filePath("fifo")).constData(), 0600), 0);
#endif
}

void TestRegularFile::readsUpToTheCap()
{
    QString error;
    QCOMPARE(RegularFile::read(m_dir.filePath("token"), 100, &error).value_or("-"),
             QByteArray("0123456789"));
    QCOMPARE(RegularFile::read(m_dir.filePath("token"), 4, &error).value_or("-"),
             QByteArray("0123"));
}

void TestRegularFile::refuses_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("reason");
    QTest::newRow("missing") << m_dir.filePath("missing") << "No such file or directory";
    QTest::newRow("directory") << m_dir.path() << "not a regular file";
#ifdef Q_OS_UNIX
    // Without a writer, opening a FIFO for reading waits for one: it must not be tried.
    QTest::newRow("FIFO") << m_dir.filePath("fifo") << "it is a FIFO (named pipe), not a regular";
    QTest::newRow("device") << "/dev/zero"
                            << "it is a device, not a regular file";
#endif
}

void TestRegularFile::refuses()
{
    QFETCH(QString, path);
    QFETCH(QString, reason);
    QString error;
    QVERIFY(!RegularFile::read(path, 100, &error));
    QVERIFY2(error.contains(reason), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestRegularFile)
#include "tst_regularfile.moc"

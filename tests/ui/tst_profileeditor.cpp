// The profile editor: validation as the user types, OK disabled while invalid, the message naming
// the field, unique names and local-address conflicts with other profiles (wildcards included),
// the same rules as the store's; the common fields on top and the rest folded in "Advanced",
// labels with working mnemonics, a size within the screen.
#include "profileeditor.h"
#include "uitestbase.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QToolButton>

class TestProfileEditor : public QObject, public UiTestBase
{
    Q_OBJECT
private Q_SLOTS:
    void init() { createApp(); }
    void cleanup() { destroyApp(); }
    void validatesAsTheUserTypes_data();
    void validatesAsTheUserTypes();
    void uniqueNameAndPortConflict();
    void editingKeepsOwnNameAndAddress();
    void wildcardAddressClashes_data();
    void wildcardAddressClashes();
    void renameAfterOldDuplicate();
    void roundTripOfEveryField();
    void commonFieldsOnTopAdvancedFolded();
    void labelsHaveBuddies();
    void fitsTheScreen();
    void kindShowsItsFields();
    void kindsRoundTrip();
    void udpPortDoesNotClashWithTcp();
};

namespace {

QPushButton *okButton(ProfileEditor &editor)
{
    return editor.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok);
}

Profile valid(const QString &name = QStringLiteral("SSH"))
{
    Profile profile;
    profile.name = name;
    profile.listen = QStringLiteral("127.0.0.1:2222");
    profile.serverUrl = QStringLiteral("wss://example.org/ssh/");
    return profile;
}

} // namespace

void TestProfileEditor::validatesAsTheUserTypes_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("message");
    QTest::newRow("empty name") << "name"
                                << ""
                                << "Name: a name is required";
    QTest::newRow("listen without port") << "listen"
                                         << "127.0.0.1"
                                         << "Local address: invalid address \"127.0.0.1\"";
    QTest::newRow("listen bad port") << "listen"
                                     << "127.0.0.1:70000"
                                     << "out of range";
    QTest::newRow("url scheme") << "server"
                                << "ftp://example.org/"
                                << "Server URL: invalid WebSocket URL";
    QTest::newRow("proxy") << "proxy"
                           << "gopher://p:1"
                           << "Proxy: proxy scheme \"gopher\" is not supported";
    QTest::newRow("server name") << "serverName"
                                 << "a b"
                                 << "TLS server name: \"a b\"";
    QTest::newRow("headers") << "headers"
                             << "X-Good: 1\nno colon"
                             << "Headers, line 2";
    QTest::newRow("header name") << "headers"
                                 << "Bad Name: 1"
                                 << "not a valid HTTP header name";
    QTest::newRow("Host header and server name")
        << "headers"
        << "Host: front.example"
        << "Headers: Host \"front.example\" and the server "
           "name \"ssh.example.org\" differ";
    QTest::newRow("handshake header") << "headers"
                                      << "Upgrade: h2c"
                                      << "set by the WebSocket handshake";
    QTest::newRow("pins") << "pins"
                          << "tooshort"
                          << "Pinned keys: \"tooshort\"";
}

void TestProfileEditor::validatesAsTheUserTypes()
{
    QFETCH(QString, field);
    QFETCH(QString, typed);
    QFETCH(QString, message);
    Profile start = valid();
    start.serverName = QStringLiteral("ssh.example.org");
    ProfileEditor editor(store.get(), start, QString());
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    QVERIFY(okButton(editor)->isEnabled());
    auto *error = editor.findChild<QLabel *>(QStringLiteral("error"));
    QVERIFY(error);

    QWidget *widget = editor.findChild<QWidget *>(field);
    QVERIFY2(widget, qPrintable(field));
    if (auto *line = qobject_cast<QLineEdit *>(widget)) {
        line->selectAll();
        QTest::keyClick(line, Qt::Key_Backspace);
        QTest::keyClicks(line, typed);
    } else {
        qobject_cast<QPlainTextEdit *>(widget)->setPlainText(typed);
    }
    QVERIFY(!editor.isValid());
    QVERIFY(!okButton(editor)->isEnabled());
    QVERIFY2(error->text().contains(message), qPrintable(error->text()));
    QCOMPARE(widget->toolTip(), error->text());

    // Fixing it enables OK again.
    if (auto *line = qobject_cast<QLineEdit *>(widget))
        line->setText(field == QLatin1String("name")         ? QStringLiteral("SSH")
                          : field == QLatin1String("listen") ? QStringLiteral("127.0.0.1:2222")
                          : field == QLatin1String("server") ? QStringLiteral("ws://h/")
                                                             : QString());
    else
        qobject_cast<QPlainTextEdit *>(widget)->clear();
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    QVERIFY(okButton(editor)->isEnabled());
    QVERIFY(error->isHidden());
}

void TestProfileEditor::uniqueNameAndPortConflict()
{
    QString error;
    QVERIFY(store->add(valid(QStringLiteral("SSH home")), &error));
    Profile other = valid(QStringLiteral("Other"));
    other.listen = QStringLiteral("127.0.0.1:3000");
    ProfileEditor editor(store.get(), other, QString());
    QVERIFY(editor.isValid());
    auto *name = editor.findChild<QLineEdit *>(QStringLiteral("name"));
    name->setText(QStringLiteral("ssh HOME"));
    QVERIFY(!okButton(editor)->isEnabled());
    QVERIFY2(editor.problem().contains(QStringLiteral("a profile named “SSH home” exists")),
             qPrintable(editor.problem()));
    name->setText(QStringLiteral("Other"));
    auto *listen = editor.findChild<QLineEdit *>(QStringLiteral("listen"));
    listen->setText(QStringLiteral(":2222"));
    QVERIFY(!okButton(editor)->isEnabled());
    QVERIFY2(editor.problem().contains(QStringLiteral("the profile “SSH home” listens there")),
             qPrintable(editor.problem()));
    listen->setText(QStringLiteral("127.0.0.1:2223"));
    QVERIFY(okButton(editor)->isEnabled());
}

void TestProfileEditor::editingKeepsOwnNameAndAddress()
{
    QString error;
    QVERIFY(store->add(valid(QStringLiteral("SSH")), &error));
    ProfileEditor editor(store.get(), *store->profile(QStringLiteral("SSH")),
                         QStringLiteral("SSH"));
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
}

void TestProfileEditor::wildcardAddressClashes_data()
{
    QTest::addColumn<QString>("typed");
    QTest::addColumn<bool>("clash");
    QTest::newRow("0.0.0.0") << "0.0.0.0:47003" << true;
    QTest::newRow("::") << "[::]:47003" << true;
    QTest::newRow("every interface") << ":47003" << true;
    QTest::newRow("localhost") << "localhost:47003" << true;
    QTest::newRow("IPv6 loopback") << "[::1]:47003" << false;
    QTest::newRow("next port") << "0.0.0.0:47004" << false;
}

void TestProfileEditor::wildcardAddressClashes()
{
    // Accepting 0.0.0.0:47003 beside 127.0.0.1:47003 only moved the failure to Start.
    QFETCH(QString, typed);
    QFETCH(bool, clash);
    QString error;
    Profile loopback = valid(QStringLiteral("Loopback"));
    loopback.listen = QStringLiteral("127.0.0.1:47003");
    QVERIFY(store->add(loopback, &error));
    ProfileEditor editor(store.get(), valid(QStringLiteral("New")), QString());
    editor.findChild<QLineEdit *>(QStringLiteral("listen"))->setText(typed);
    QCOMPARE(okButton(editor)->isEnabled(), !clash);
    if (clash) {
        QVERIFY2(editor.problem().contains(QStringLiteral("the profile “Loopback” listens there "
                                                          "already")),
                 qPrintable(editor.problem()));
        QVERIFY2(editor.problem().contains(QStringLiteral(":47004 is free")),
                 qPrintable(editor.problem()));
    }
    // What the editor accepts, the store saves.
    Profile entered = editor.profile();
    QCOMPARE(store->add(entered, &error), !clash);
}

void TestProfileEditor::renameAfterOldDuplicate()
{
    // A file of an older version whose Duplicate kept the port: the profile that comes first
    // renames freely, and the later one's editor asks for another port.
    QString error;
    QVERIFY(store->add(valid(QStringLiteral("Original")), &error));
    QFile file(store->filePath());
    QVERIFY(file.open(QIODevice::ReadOnly));
    QByteArray json = file.readAll();
    file.close();
    const QByteArray copy = "{\"name\": \"Original (copy)\", \"listen\": \"0.0.0.0:2222\", "
                            "\"server\": \"ws://h/\"},";
    json.replace(QByteArray("\"profiles\": ["), QByteArray("\"profiles\": [" + copy));
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(json);
    file.close();
    QVERIFY2(store->load(&error), qPrintable(error));
    // The copy comes first in the file, so the original is the one that waits.
    QVERIFY(!store->problem(QStringLiteral("Original")).isEmpty());

    ProfileEditor copyEditor(store.get(), *store->profile(QStringLiteral("Original (copy)")),
                             QStringLiteral("Original (copy)"));
    copyEditor.findChild<QLineEdit *>(QStringLiteral("name"))->setText(QStringLiteral("Copy"));
    QVERIFY2(copyEditor.isValid(), qPrintable(copyEditor.problem()));

    ProfileEditor editor(store.get(), *store->profile(QStringLiteral("Original")),
                         QStringLiteral("Original"));
    editor.findChild<QLineEdit *>(QStringLiteral("name"))->setText(QStringLiteral("Renamed"));
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.problem().contains(QStringLiteral("“Original (copy)” listens there already")),
             qPrintable(editor.problem()));
    editor.findChild<QLineEdit *>(QStringLiteral("listen"))
        ->setText(QStringLiteral("127.0.0.1:2223"));
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    QVERIFY2(store->update(QStringLiteral("Original"), editor.profile(), &error),
             qPrintable(error));
    QCOMPARE(store->problem(QStringLiteral("Renamed")), QString());
    // And the copy, needing no attention any more, renames freely.
    QVERIFY2(store->rename(QStringLiteral("Original (copy)"), QStringLiteral("Copy"), &error),
             qPrintable(error));
}

void TestProfileEditor::roundTripOfEveryField()
{
    Profile full = valid();
    full.headers = {{"X-A", "1"}, {"X-B", "two words"}};
    full.token = QStringLiteral("tok");
    full.proxy = QStringLiteral("socks5://127.0.0.1:1080");
    full.caFile = QStringLiteral("/tmp/ca.pem");
    full.pinsSha256 = {QStringLiteral("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")};
    full.serverName = QStringLiteral("ssh.example.org");
    full.insecure = true;
    full.binarySubprotocol = true;
    full.keepAliveMode = Profile::KeepAliveMode::Ping;
    full.keepAliveIntervalMs = 42000;
    full.autoStart = true;
    ProfileEditor editor(store.get(), full, QString());
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    QCOMPARE(editor.profile(), full);
    editor.findChild<QCheckBox *>(QStringLiteral("autoStart"))->setChecked(false);
    QVERIFY(!editor.profile().autoStart);
    editor.findChild<QCheckBox *>(QStringLiteral("binarySubprotocol"))->setChecked(false);
    QVERIFY(!editor.profile().binarySubprotocol);
}

void TestProfileEditor::commonFieldsOnTopAdvancedFolded()
{
    ProfileEditor editor(store.get(), valid(), QString());
    editor.show();
    QVERIFY(!editor.isAdvancedVisible());
    for (const char *name : {"name", "listen", "server", "token", "autoStart"})
        QVERIFY2(editor.findChild<QWidget *>(QLatin1String(name))->isVisible(), name);
    for (const char *name : {"proxy", "caFile", "pins", "serverName", "headers", "keepAliveMode",
                             "insecure", "binarySubprotocol"})
        QVERIFY2(!editor.findChild<QWidget *>(QLatin1String(name))->isVisible(), name);
    // The toggle unfolds it.
    editor.findChild<QToolButton *>(QStringLiteral("advancedToggle"))->click();
    QVERIFY(editor.isAdvancedVisible());
    QVERIFY(editor.findChild<QWidget *>(QStringLiteral("proxy"))->isVisible());

    // A profile that uses an advanced setting shows it at once.
    Profile proxied = valid();
    proxied.proxy = QStringLiteral("socks5://127.0.0.1:1080");
    ProfileEditor second(store.get(), proxied, QString());
    QVERIFY(second.isAdvancedVisible());

    // A faulty advanced field is never hidden: the section unfolds.
    ProfileEditor third(store.get(), valid(), QString());
    QVERIFY(!third.isAdvancedVisible());
    third.findChild<QPlainTextEdit *>(QStringLiteral("headers"))->setPlainText(QStringLiteral("x"));
    QVERIFY(!third.isValid());
    QVERIFY(third.isAdvancedVisible());
}

void TestProfileEditor::labelsHaveBuddies()
{
    ProfileEditor editor(store.get(), valid(), QString());
    editor.setAdvancedVisible(true);
    int mnemonics = 0;
    for (QLabel *label : editor.findChildren<QLabel *>()) {
        if (!label->text().contains(QLatin1Char('&')))
            continue;
        ++mnemonics;
        // Without a buddy a QLabel draws the "&" instead of underlining the next letter.
        QVERIFY2(label->buddy(), qPrintable(label->text()));
    }
    QCOMPARE(mnemonics, 15);
    // The two rows whose field is a layout (a line edit with a button, a combo box with a spin
    // box).
    auto labelWithText = [&](const QString &text) -> QLabel * {
        for (QLabel *label : editor.findChildren<QLabel *>()) {
            if (label->text() == text)
                return label;
        }
        return nullptr;
    };
    QVERIFY(labelWithText(QStringLiteral("&CA file:")));
    QCOMPARE(labelWithText(QStringLiteral("&CA file:"))->buddy(),
             editor.findChild<QWidget *>(QStringLiteral("caFile")));
    QVERIFY(labelWithText(QStringLiteral("Keep-&alive:")));
    QCOMPARE(labelWithText(QStringLiteral("Keep-&alive:"))->buddy(),
             editor.findChild<QWidget *>(QStringLiteral("keepAliveMode")));
}

void TestProfileEditor::fitsTheScreen()
{
    // The editor, with Advanced open, stays within the screen's free area (with room for a title
    // bar): OK and Cancel are always reachable. The desktop test checks it at 200 % on 1280x800.
    Profile full = valid();
    full.headers = {{"X-A", "1"}};
    full.proxy = QStringLiteral("socks5://127.0.0.1:1080");
    ProfileEditor editor(store.get(), full, QString());
    QVERIFY(editor.isAdvancedVisible());
    editor.show();
    const QRect available = editor.screen()->availableGeometry();
    QVERIFY2(editor.height() <= available.height() - 40,
             qPrintable(QStringLiteral("%1 > %2").arg(editor.height()).arg(available.height())));
    QVERIFY(editor.width() <= available.width());
    // What does not fit scrolls, it is not cut off.
    auto *advanced = editor.findChild<QScrollArea *>(QStringLiteral("advanced"));
    QVERIFY(advanced && advanced->isVisible());
    QVERIFY(okButton(editor)->isVisible());
}

// The Kind choice shows the chosen kind's fields only, each with its label.
void TestProfileEditor::kindShowsItsFields()
{
    ProfileEditor editor(store.get(), valid(), QString());
    editor.show();
    auto *kind = editor.findChild<QComboBox *>(QStringLiteral("kind"));
    QVERIFY(kind);
    QCOMPARE(kind->count(), 3);
    QCOMPARE(kind->currentText(), QStringLiteral("Port forward"));
    const QStringList socks5Fields = {QStringLiteral("socks5User"),
                                      QStringLiteral("socks5Password")};
    const QStringList udpFields = {QStringLiteral("udpRemote"), QStringLiteral("udpIdleSeconds")};
    auto visible = [&](const QString &name) {
        QWidget *field = editor.findChild<QWidget *>(name);
        auto *form = editor.findChild<QFormLayout *>(QStringLiteral("commonForm"));
        QWidget *label = form->labelForField(field);
        return field->isVisible() && label && label->isVisible();
    };
    for (const QString &name : socks5Fields + udpFields)
        QVERIFY2(!visible(name), qPrintable(name));

    kind->setCurrentIndex(kind->findText(QStringLiteral("SOCKS5 proxy")));
    for (const QString &name : socks5Fields)
        QVERIFY2(visible(name), qPrintable(name));
    for (const QString &name : udpFields)
        QVERIFY2(!visible(name), qPrintable(name));
    QCOMPARE(editor.profile().kind, Profile::Kind::Socks5);
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    // A user name needs its password before OK.
    QTest::keyClicks(editor.findChild<QLineEdit *>(QStringLiteral("socks5User")), "me");
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.problem().contains(QStringLiteral("SOCKS5 password")),
             qPrintable(editor.problem()));
    QTest::keyClicks(editor.findChild<QLineEdit *>(QStringLiteral("socks5Password")), "pw");
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));

    kind->setCurrentIndex(kind->findText(QStringLiteral("UDP")));
    for (const QString &name : udpFields)
        QVERIFY2(visible(name), qPrintable(name));
    for (const QString &name : socks5Fields)
        QVERIFY2(!visible(name), qPrintable(name));
    // A UDP profile needs its destination; the message names the field by its label.
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.problem().startsWith(QStringLiteral("UDP destination: ")),
             qPrintable(editor.problem()));
    QTest::keyClicks(editor.findChild<QLineEdit *>(QStringLiteral("udpRemote")),
                     "vpn.internal:51820");
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    QVERIFY(okButton(editor)->isEnabled());
}

void TestProfileEditor::kindsRoundTrip()
{
    Profile socks5 = valid();
    socks5.kind = Profile::Kind::Socks5;
    socks5.listen = QStringLiteral("127.0.0.1:1080");
    socks5.socks5User = QStringLiteral("me");
    socks5.socks5Password = QStringLiteral("pw");
    ProfileEditor proxyEditor(store.get(), socks5, QString());
    QVERIFY2(proxyEditor.isValid(), qPrintable(proxyEditor.problem()));
    QCOMPARE(proxyEditor.profile(), socks5);
    QCOMPARE(proxyEditor.findChild<QLineEdit *>(QStringLiteral("socks5Password"))->echoMode(),
             QLineEdit::PasswordEchoOnEdit);

    Profile udp = valid();
    udp.kind = Profile::Kind::Udp;
    udp.listen = QStringLiteral("127.0.0.1:51820");
    udp.udpRemote = QStringLiteral("[fd00::5]:51820");
    udp.udpIdleTimeoutMs = 90000;
    ProfileEditor udpEditor(store.get(), udp, QString());
    QVERIFY2(udpEditor.isValid(), qPrintable(udpEditor.problem()));
    QCOMPARE(udpEditor.profile(), udp);
    udpEditor.findChild<QDoubleSpinBox *>(QStringLiteral("udpIdleSeconds"))->setValue(5);
    QCOMPARE(udpEditor.profile().udpIdleTimeoutMs, 5000);
}

// The editor applies the store's rule: a UDP port and a TCP port of one number are apart, two
// TCP ports (port forward and SOCKS5) clash.
void TestProfileEditor::udpPortDoesNotClashWithTcp()
{
    QString error;
    QVERIFY2(store->add(valid(QStringLiteral("SSH")), &error), qPrintable(error));
    Profile other = valid(QStringLiteral("Other"));
    other.udpRemote = QStringLiteral("vpn.internal:51820");
    ProfileEditor editor(store.get(), other, QString());
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.problem().contains(QStringLiteral("“SSH” listens there already")),
             qPrintable(editor.problem()));
    auto *kind = editor.findChild<QComboBox *>(QStringLiteral("kind"));
    kind->setCurrentIndex(kind->findText(QStringLiteral("UDP")));
    QVERIFY2(editor.isValid(), qPrintable(editor.problem()));
    kind->setCurrentIndex(kind->findText(QStringLiteral("SOCKS5 proxy")));
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.problem().contains(QStringLiteral("(127.0.0.1:2223 is free)")),
             qPrintable(editor.problem()));
}

QTEST_MAIN(TestProfileEditor)
#include "tst_profileeditor.moc"

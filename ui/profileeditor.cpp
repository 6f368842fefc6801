#include "profileeditor.h"

#include "profiles/profilestore.h"
#include "tunneltablemodel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHash>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace {

QLineEdit *lineEdit(const QString &objectName, const QString &text, const QString &placeholder)
{
    auto *edit = new QLineEdit(text);
    edit->setObjectName(objectName);
    edit->setPlaceholderText(placeholder);
    edit->setClearButtonEnabled(true);
    return edit;
}

QPlainTextEdit *textEdit(const QString &objectName, const QString &text, const QString &placeholder)
{
    auto *edit = new QPlainTextEdit(text);
    edit->setObjectName(objectName);
    edit->setPlaceholderText(placeholder);
    edit->setTabChangesFocus(true);
    edit->setFixedHeight(edit->fontMetrics().lineSpacing() * 3 + 12);
    return edit;
}

QStringList nonEmptyLines(const QString &text)
{
    QStringList lines;
    for (const QString &line : text.split(QLatin1Char('\n'))) {
        if (!line.trimmed().isEmpty())
            lines << line.trimmed();
    }
    return lines;
}

// A form label for a row whose field is a layout: QFormLayout::addRow(QString, QLayout *) gives
// its label no buddy, so "&CA file:" would show its ampersand instead of a mnemonic.
QLabel *buddyLabel(const QString &text, QWidget *buddy)
{
    auto *label = new QLabel(text);
    label->setBuddy(buddy);
    return label;
}

// Room for the title bar and borders a window manager adds, before the dialog is shown and its
// frame is known.
constexpr int kAssumedFrameHeight = 40;

} // namespace

ProfileEditor::ProfileEditor(const ProfileStore *store, const Profile &profile,
                             const QString &originalName, QWidget *parent)
    : QDialog(parent), m_store(store), m_originalName(originalName), m_base(profile)
{
    setWindowTitle(originalName.isEmpty() ? tr("New tunnel") : tr("Edit “%1”").arg(originalName));

    m_name = lineEdit(QStringLiteral("name"), profile.name, tr("e.g. SSH home"));
    m_kind = new QComboBox;
    m_kind->setObjectName(QStringLiteral("kind"));
    for (const auto kind : {Profile::Kind::Forward, Profile::Kind::Socks5, Profile::Kind::Udp})
        m_kind->addItem(TunnelTableModel::kindText(kind), int(kind));
    m_kind->setCurrentIndex(m_kind->findData(int(profile.kind)));
    m_kind->setToolTip(tr("Port forward: one local TCP port to the server's fixed service. "
                          "SOCKS5 proxy: programs name each destination (the server's allow "
                          "list decides). UDP: datagrams to one destination."));
    m_listen = lineEdit(QStringLiteral("listen"), profile.listen, tr("e.g. 127.0.0.1:2222"));
    m_socks5User = lineEdit(QStringLiteral("socks5User"), profile.socks5User,
                            tr("optional: programs must log in (RFC 1929)"));
    m_socks5Password =
        lineEdit(QStringLiteral("socks5Password"), profile.socks5Password, tr("with the user"));
    m_socks5Password->setEchoMode(QLineEdit::PasswordEchoOnEdit);
    m_udpRemote = lineEdit(QStringLiteral("udpRemote"), profile.udpRemote,
                           tr("where the server sends the datagrams, e.g. vpn.internal:51820"));
    m_udpIdleSeconds = new QDoubleSpinBox;
    m_udpIdleSeconds->setObjectName(QStringLiteral("udpIdleSeconds"));
    m_udpIdleSeconds->setRange(1, 86400);
    m_udpIdleSeconds->setDecimals(0);
    m_udpIdleSeconds->setSuffix(tr(" s"));
    m_udpIdleSeconds->setValue(profile.udpIdleTimeoutMs / 1000.0);
    m_server =
        lineEdit(QStringLiteral("server"), profile.serverUrl, tr("e.g. wss://example.org/ssh/"));
    m_token = lineEdit(QStringLiteral("token"), profile.token, tr("optional bearer token"));
    m_token->setEchoMode(QLineEdit::PasswordEchoOnEdit);
    m_proxy = lineEdit(QStringLiteral("proxy"), profile.proxy,
                       tr("empty: from the environment; none; system; http://host:port"));
    m_caFile = lineEdit(QStringLiteral("caFile"), profile.caFile, tr("system CA store"));
    auto *browse = new QPushButton(style()->standardIcon(QStyle::SP_DirOpenIcon), QString());
    browse->setToolTip(tr("Choose a CA certificate file"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(
            this, tr("CA certificates"),
            m_caFile->text().isEmpty() ? QDir::homePath() : m_caFile->text(),
            tr("PEM files (*.pem *.crt);;All files (*)"));
        if (!file.isEmpty())
            m_caFile->setText(file);
    });
    auto *caRow = new QHBoxLayout;
    caRow->addWidget(m_caFile);
    caRow->addWidget(browse);
    m_pins = textEdit(QStringLiteral("pins"), profile.pinsSha256.join(QLatin1Char('\n')),
                      tr("base64 SHA-256 of the server's public key, one per line"));
    m_serverName = lineEdit(QStringLiteral("serverName"), profile.serverName,
                            tr("TLS name when it differs from the URL's host"));
    QStringList headerLines;
    for (const auto &header : profile.headers)
        headerLines << QString::fromUtf8(header.first + ": " + header.second);
    m_headers = textEdit(QStringLiteral("headers"), headerLines.join(QLatin1Char('\n')),
                         tr("Name: value, one per line"));
    m_insecure = new QCheckBox(tr("Accept any TLS certificate (insecure)"));
    m_insecure->setObjectName(QStringLiteral("insecure"));
    m_insecure->setChecked(profile.insecure);
    m_binarySubprotocol =
        new QCheckBox(tr("Offer the binary subprotocol (for servers like websockify)"));
    m_binarySubprotocol->setObjectName(QStringLiteral("binarySubprotocol"));
    m_binarySubprotocol->setChecked(profile.binarySubprotocol);
    m_keepAliveMode = new QComboBox;
    m_keepAliveMode->setObjectName(QStringLiteral("keepAliveMode"));
    m_keepAliveMode->addItem(tr("Empty message (like the original)"),
                             int(Profile::KeepAliveMode::Empty));
    m_keepAliveMode->addItem(tr("WebSocket ping"), int(Profile::KeepAliveMode::Ping));
    m_keepAliveMode->setCurrentIndex(profile.keepAliveMode == Profile::KeepAliveMode::Ping ? 1 : 0);
    m_keepAliveSeconds = new QDoubleSpinBox;
    m_keepAliveSeconds->setObjectName(QStringLiteral("keepAliveSeconds"));
    m_keepAliveSeconds->setRange(0, 86400);
    m_keepAliveSeconds->setDecimals(0);
    m_keepAliveSeconds->setSuffix(tr(" s"));
    m_keepAliveSeconds->setSpecialValueText(tr("off"));
    m_keepAliveSeconds->setValue(profile.keepAliveIntervalMs / 1000.0);
    auto *keepAliveRow = new QHBoxLayout;
    keepAliveRow->addWidget(m_keepAliveMode, 1);
    keepAliveRow->addWidget(m_keepAliveSeconds);
    m_autoStart = new QCheckBox(tr("Start when the tray app starts"));
    m_autoStart->setObjectName(QStringLiteral("autoStart"));
    m_autoStart->setChecked(profile.autoStart);

    // What every tunnel needs, on top.
    auto *form = new QFormLayout;
    form->setObjectName(QStringLiteral("commonForm"));
    form->addRow(tr("&Name:"), m_name);
    form->addRow(tr("Kin&d:"), m_kind);
    form->addRow(tr("&Local address:"), m_listen);
    form->addRow(tr("&Server URL:"), m_server);
    form->addRow(tr("&Token:"), m_token);
    // The chosen kind's own fields; the others are hidden (and not saved).
    form->addRow(tr("SOCKS5 &user:"), m_socks5User);
    form->addRow(tr("SOCKS5 pass&word:"), m_socks5Password);
    form->addRow(tr("UDP destinat&ion:"), m_udpRemote);
    form->addRow(tr("UDP idle time&out:"), m_udpIdleSeconds);
    m_form = form;
    form->addRow(QString(), m_autoStart);

    // The rest, folded away unless the profile uses it.
    auto *advancedForm = new QFormLayout;
    advancedForm->setObjectName(QStringLiteral("advancedForm"));
    advancedForm->addRow(tr("&Proxy:"), m_proxy);
    advancedForm->addRow(buddyLabel(tr("&CA file:"), m_caFile), caRow);
    advancedForm->addRow(tr("Pinned &keys:"), m_pins);
    advancedForm->addRow(tr("TLS server na&me:"), m_serverName);
    advancedForm->addRow(tr("&Headers:"), m_headers);
    advancedForm->addRow(buddyLabel(tr("Keep-&alive:"), m_keepAliveMode), keepAliveRow);
    advancedForm->addRow(QString(), m_insecure);
    advancedForm->addRow(QString(), m_binarySubprotocol);
    auto *advancedFields = new QWidget;
    advancedFields->setLayout(advancedForm);
    // Scrolls when the screen is too small for all of it (e.g. 1280x800 at 200 %).
    m_advanced = new QScrollArea;
    m_advanced->setObjectName(QStringLiteral("advanced"));
    m_advanced->setWidget(advancedFields);
    m_advanced->setWidgetResizable(true);
    m_advanced->setFrameShape(QFrame::NoFrame);
    m_advanced->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_advanced->hide();
    m_advancedToggle = new QToolButton;
    m_advancedToggle->setObjectName(QStringLiteral("advancedToggle"));
    m_advancedToggle->setText(tr("A&dvanced"));
    m_advancedToggle->setCheckable(true);
    m_advancedToggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_advancedToggle->setArrowType(Qt::RightArrow);
    m_advancedToggle->setAutoRaise(true);
    connect(m_advancedToggle, &QToolButton::toggled, this, &ProfileEditor::setAdvancedVisible);

    m_errorIcon = new QLabel;
    m_errorIcon->setPixmap(style()->standardIcon(QStyle::SP_MessageBoxWarning).pixmap(16, 16));
    m_error = new QLabel;
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    auto *errorRow = new QHBoxLayout;
    errorRow->addWidget(m_errorIcon, 0, Qt::AlignTop);
    errorRow->addWidget(m_error, 1);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(m_buttons, &QDialogButtonBox::accepted, this, [this] {
        validate();
        if (isValid())
            accept();
    });
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_advancedToggle, 0, Qt::AlignLeft);
    layout->addWidget(m_advanced, 1);
    layout->addLayout(errorRow);
    layout->addWidget(m_buttons);

    for (QLineEdit *edit : {m_name, m_listen, m_server, m_token, m_proxy, m_caFile, m_serverName,
                            m_socks5User, m_socks5Password, m_udpRemote})
        connect(edit, &QLineEdit::textChanged, this, &ProfileEditor::validate);
    connect(m_udpIdleSeconds, &QDoubleSpinBox::valueChanged, this, &ProfileEditor::validate);
    connect(m_kind, &QComboBox::currentIndexChanged, this, [this] {
        showKindFields();
        validate();
        fitToScreen();
    });
    showKindFields();
    for (QPlainTextEdit *edit : {m_pins, m_headers})
        connect(edit, &QPlainTextEdit::textChanged, this, &ProfileEditor::validate);
    connect(m_keepAliveSeconds, &QDoubleSpinBox::valueChanged, this, &ProfileEditor::validate);
    const Profile defaults;
    const bool usesAdvanced = !profile.proxy.isEmpty() || !profile.caFile.isEmpty()
        || !profile.pinsSha256.isEmpty() || !profile.serverName.isEmpty()
        || !profile.headers.isEmpty() || profile.insecure || profile.binarySubprotocol
        || profile.keepAliveMode != defaults.keepAliveMode
        || profile.keepAliveIntervalMs != defaults.keepAliveIntervalMs;
    validate();
    if (usesAdvanced)
        setAdvancedVisible(true); // its settings stay in sight
    else
        fitToScreen();
}

void ProfileEditor::showKindFields()
{
    const auto kind = Profile::Kind(m_kind->currentData().toInt());
    m_form->setRowVisible(m_socks5User, kind == Profile::Kind::Socks5);
    m_form->setRowVisible(m_socks5Password, kind == Profile::Kind::Socks5);
    m_form->setRowVisible(m_udpRemote, kind == Profile::Kind::Udp);
    m_form->setRowVisible(m_udpIdleSeconds, kind == Profile::Kind::Udp);
    switch (kind) {
    case Profile::Kind::Forward:
        m_listen->setPlaceholderText(tr("e.g. 127.0.0.1:2222"));
        break;
    case Profile::Kind::Socks5:
        m_listen->setPlaceholderText(tr("the proxy's address, e.g. 127.0.0.1:1080"));
        break;
    case Profile::Kind::Udp:
        m_listen->setPlaceholderText(tr("a local UDP address, e.g. 127.0.0.1:51820"));
        break;
    }
}

bool ProfileEditor::isAdvancedVisible() const
{
    return m_advancedToggle->isChecked();
}

void ProfileEditor::setAdvancedVisible(bool visible)
{
    if (m_advancedToggle->isChecked() != visible) {
        m_advancedToggle->setChecked(visible); // toggled() comes back here
        return;
    }
    m_advancedToggle->setArrowType(visible ? Qt::DownArrow : Qt::RightArrow);
    m_advanced->setVisible(visible);
    fitToScreen();
}

void ProfileEditor::fitToScreen()
{
    const QScreen *screen = parentWidget() ? parentWidget()->screen() : this->screen();
    if (!screen)
        return;
    const QRect available = screen->availableGeometry();
    const int frameHeight =
        isVisible() ? frameGeometry().height() - geometry().height() : kAssumedFrameHeight;
    const int frameWidth = isVisible() ? frameGeometry().width() - geometry().width() : 0;
    // The scroll area asks for its contents' full height; the screen decides.
    QSize wanted = layout()->sizeHint();
    if (m_advanced->isVisible())
        wanted.rheight() +=
            m_advanced->widget()->sizeHint().height() - m_advanced->sizeHint().height();
    wanted.setWidth(qMax(wanted.width(), 560));
    const QSize size =
        wanted.boundedTo(QSize(available.width() - frameWidth, available.height() - frameHeight));
    setMaximumHeight(available.height() - frameHeight);
    resize(size);
    if (isVisible()) {
        // Keep it on the screen after growing.
        QRect frame = frameGeometry();
        if (frame.bottom() > available.bottom())
            frame.moveBottom(available.bottom());
        if (frame.top() < available.top())
            frame.moveTop(available.top());
        move(frame.topLeft());
    }
}

Profile ProfileEditor::profile() const
{
    Profile profile = m_base;
    profile.name = m_name->text();
    profile.kind = Profile::Kind(m_kind->currentData().toInt());
    profile.listen = m_listen->text().trimmed();
    profile.socks5User = m_socks5User->text();
    profile.socks5Password = m_socks5Password->text();
    profile.udpRemote = m_udpRemote->text().trimmed();
    profile.udpIdleTimeoutMs = int(m_udpIdleSeconds->value() * 1000);
    profile.serverUrl = m_server->text().trimmed();
    profile.token = m_token->text().trimmed();
    profile.proxy = m_proxy->text().trimmed();
    profile.caFile = m_caFile->text().trimmed();
    profile.pinsSha256 = nonEmptyLines(m_pins->toPlainText());
    profile.serverName = m_serverName->text().trimmed();
    profile.headers.clear();
    for (const QString &line : nonEmptyLines(m_headers->toPlainText())) {
        const qsizetype colon = line.indexOf(QLatin1Char(':'));
        profile.headers.append({line.left(colon).trimmed().toUtf8(),
                                colon < 0 ? QByteArray() : line.mid(colon + 1).trimmed().toUtf8()});
    }
    profile.insecure = m_insecure->isChecked();
    profile.binarySubprotocol = m_binarySubprotocol->isChecked();
    profile.keepAliveMode = Profile::KeepAliveMode(m_keepAliveMode->currentData().toInt());
    profile.keepAliveIntervalMs = int(m_keepAliveSeconds->value() * 1000);
    profile.autoStart = m_autoStart->isChecked();
    return profile;
}

QWidget *ProfileEditor::fieldFor(const QString &key) const
{
    static const QHash<QString, QString> objectNames = {
        {QStringLiteral("pinsSha256"), QStringLiteral("pins")}};
    return findChild<QWidget *>(objectNames.value(key, key));
}

void ProfileEditor::validate()
{
    const Profile entered = profile();
    QString key;
    QString problem;
    const QStringList headerLines = nonEmptyLines(m_headers->toPlainText());
    for (int i = 0; i < headerLines.size() && problem.isEmpty(); ++i) {
        if (!headerLines.at(i).contains(QLatin1Char(':'))) {
            key = QStringLiteral("headers");
            problem = tr("Headers, line %1: expected “Name: value”").arg(i + 1);
        }
    }
    if (problem.isEmpty()) {
        problem = entered.validate(&key);
        if (!problem.isEmpty()) {
            QString label;
            QWidget *field = fieldFor(key);
            for (auto *form : findChildren<QFormLayout *>()) {
                if (!field)
                    break;
                if (auto *labelWidget = qobject_cast<QLabel *>(form->labelForField(field)))
                    label = labelWidget->text().remove(QLatin1Char('&'));
            }
            if (!label.isEmpty())
                problem = label + QLatin1Char(' ') + problem;
        }
    }
    // The file may hold a user whose password is still to come (from the keychain); what the
    // editor saves must be able to start.
    if (problem.isEmpty() && entered.kind == Profile::Kind::Socks5 && !entered.socks5User.isEmpty()
        && entered.socks5Password.isEmpty()) {
        key = QStringLiteral("socks5Password");
        problem = tr("SOCKS5 password: needed with a user name");
    }
    if (problem.isEmpty() && m_store) {
        for (const Profile &other : m_store->profiles()) {
            if (other.name != m_originalName
                && other.name.compare(entered.name, Qt::CaseInsensitive) == 0) {
                key = QStringLiteral("name");
                problem = tr("Name: a profile named “%1” exists already").arg(other.name);
            }
        }
    }
    if (problem.isEmpty() && m_store) {
        const QString conflict = m_store->listenConflict(entered, m_originalName);
        if (!conflict.isEmpty()) {
            key = QStringLiteral("listen");
            problem = tr("Local address: the profile “%1” listens there already (%2 is free)")
                          .arg(conflict,
                               m_store->freeListenAddress(entered.listen, entered.listensOnUdp()));
        }
    }
    m_problem = problem;
    m_error->setText(problem);
    m_error->setVisible(!problem.isEmpty());
    m_errorIcon->setVisible(!problem.isEmpty());
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(problem.isEmpty());
    // The faulty field is marked for assistive technology and by its tooltip.
    for (QWidget *field : findChildren<QWidget *>()) {
        if (field->property("towInvalid").toBool()) {
            field->setProperty("towInvalid", false);
            field->setToolTip(QString());
        }
    }
    if (QWidget *field = problem.isEmpty() ? nullptr : fieldFor(key)) {
        field->setProperty("towInvalid", true);
        field->setToolTip(problem);
        // A faulty field is never hidden in the folded section.
        if (m_advanced->isAncestorOf(field) && !isAdvancedVisible())
            setAdvancedVisible(true);
    }
}

// The dialog that creates or edits a profile; it validates as the user types and keeps OK
// disabled while anything is wrong, saying what and where. The common fields are on top, the rest
// in a collapsible "Advanced" section; the dialog keeps within the screen (also at 200 %).
#pragma once

#include "profiles/profile.h"

#include <QDialog>

class ProfileStore;
class QCheckBox;
class QComboBox;
class QScrollArea;
class QToolButton;
class QDialogButtonBox;
class QLabel;
class QFormLayout;
class QLineEdit;
class QPlainTextEdit;
class QDoubleSpinBox;

class ProfileEditor : public QDialog
{
    Q_OBJECT
public:
    // originalName: the profile being edited (it may keep its name and address); empty for a new
    // one.
    ProfileEditor(const ProfileStore *store, const Profile &profile, const QString &originalName,
                  QWidget *parent = nullptr);

    // The profile as entered (valid when isValid()).
    Profile profile() const;
    bool isValid() const { return m_problem.isEmpty(); }
    QString problem() const { return m_problem; }

    bool isAdvancedVisible() const;
    void setAdvancedVisible(bool visible);

private:
    void validate();
    void fitToScreen(); // the size it wants, but never taller or wider than the screen's free area
    QWidget *fieldFor(const QString &key) const;

    const ProfileStore *m_store;
    QString m_originalName;
    Profile m_base; // fields the dialog does not show are kept as they were
    QString m_problem;

    void showKindFields();

    QLineEdit *m_name;
    QComboBox *m_kind;
    QLineEdit *m_socks5User;
    QLineEdit *m_socks5Password;
    QLineEdit *m_udpRemote;
    QDoubleSpinBox *m_udpIdleSeconds;
    QFormLayout *m_form;
    QLineEdit *m_listen;
    QLineEdit *m_server;
    QLineEdit *m_token;
    QLineEdit *m_proxy;
    QLineEdit *m_caFile;
    QPlainTextEdit *m_pins;
    QLineEdit *m_serverName;
    QPlainTextEdit *m_headers;
    QCheckBox *m_insecure;
    QCheckBox *m_binarySubprotocol;
    QComboBox *m_keepAliveMode;
    QDoubleSpinBox *m_keepAliveSeconds;
    QCheckBox *m_autoStart;
    QToolButton *m_advancedToggle;
    QScrollArea *m_advanced;
    QLabel *m_errorIcon;
    QLabel *m_error;
    QDialogButtonBox *m_buttons;
};

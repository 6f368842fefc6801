#include "tunnelswindow.h"

#include "desktop/loginitem.h"
#include "desktopapp.h"
#include "profileeditor.h"
#include "profiles/profilestore.h"
#include "trafficgraph.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"
#include "tunneltablemodel.h"

#include <QAction>
#include <QCloseEvent>
#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QStyle>
#include <QSystemTrayIcon>
#include <QTableView>
#include <QToolBar>
#include <QVBoxLayout>

TunnelsWindow::TunnelsWindow(DesktopApp *app, QWidget *parent)
    : QMainWindow(parent),
      m_app(app),
      m_model(new TunnelTableModel(app->store(), app->manager(), this))
{
    setWindowTitle(tr("Tunnels — tcp-over-websocket"));
    setWindowIcon(TrayIcons::icon(TrayIcons::State::Active));

    m_view = new QTableView;
    m_view->setObjectName(QStringLiteral("tunnels"));
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setAlternatingRowColors(true);
    m_view->setShowGrid(false);
    m_view->setWordWrap(false);
    m_view->setTextElideMode(Qt::ElideMiddle);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(false);
    m_view->horizontalHeader()->setSectionResizeMode(TunnelTableModel::Server,
                                                     QHeaderView::Stretch);
    m_view->setColumnWidth(TunnelTableModel::State, 190);
    m_view->setColumnWidth(TunnelTableModel::Name, 160);
    m_view->setColumnWidth(TunnelTableModel::LocalAddress, 130);
    connect(m_view, &QTableView::doubleClicked, this, &TunnelsWindow::editSelected);

    m_graph = new TrafficGraph;
    m_graph->setObjectName(QStringLiteral("graph"));

    m_notice = new QLabel(tr("No system tray was found, so this window stays open; closing it "
                             "quits the program and stops its tunnels."));
    m_notice->setObjectName(QStringLiteral("noTrayNotice"));
    m_notice->setWordWrap(true);
    m_notice->setFrameShape(QFrame::StyledPanel);
    m_notice->setMargin(6);
    m_notice->hide();

    auto *central = new QWidget;
    auto *layout = new QVBoxLayout(central);
    layout->addWidget(m_notice);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_graph);
    setCentralWidget(central);

    createActions();
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        updateActions();
        updateGraph();
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        // Something stays selected, so the keyboard shortcuts act at once.
        if (selectedName().isEmpty() && m_model->rowCount() > 0)
            m_view->selectRow(0);
        updateActions();
    });
    connect(m_model, &QAbstractItemModel::dataChanged, this, [this] {
        updateActions();
        updateGraph();
    });
    connect(m_model, &TunnelTableModel::toggleRequested, app, &DesktopApp::setRunning);
    connect(app->manager(), &TunnelManager::tunnelFailed, this,
            [this](const QString &name, const QString &reason) {
                showStatus(tr("%1: %2").arg(name, reason));
            });
    statusBar();
    resize(860, 440);
    if (m_model->rowCount() > 0)
        m_view->selectRow(0);
    updateActions();
}

TunnelsWindow::~TunnelsWindow() = default;

void TunnelsWindow::createActions()
{
    QStyle *s = style();
    auto make = [this](const QString &text, const QIcon &icon, const QKeySequence &shortcut,
                       void (TunnelsWindow::*slot)()) {
        auto *action = new QAction(icon, text, this);
        action->setShortcut(shortcut);
        action->setToolTip(
            shortcut.isEmpty()
                ? text
                : QStringLiteral("%1 (%2)").arg(
                    QString(text).remove(QLatin1Char('&')).remove(QStringLiteral("…")),
                    shortcut.toString(QKeySequence::NativeText)));
        connect(action, &QAction::triggered, this, slot);
        return action;
    };
    m_toggle = new QAction(s->standardIcon(QStyle::SP_MediaPlay), tr("&Start"), this);
    m_toggle->setObjectName(QStringLiteral("toggle"));
    m_toggle->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    connect(m_toggle, &QAction::triggered, this, [this] {
        const QString name = selectedName();
        if (!name.isEmpty())
            m_app->setRunning(name, !m_app->manager()->isRunning(name));
    });
    QAction *add = make(tr("&Add…"), s->standardIcon(QStyle::SP_FileIcon), QKeySequence::New,
                        &TunnelsWindow::addProfile);
    add->setObjectName(QStringLiteral("add"));
    m_edit = make(tr("&Edit…"), s->standardIcon(QStyle::SP_FileDialogDetailedView),
                  QKeySequence(Qt::CTRL | Qt::Key_E), &TunnelsWindow::editSelected);
    m_duplicate = make(tr("D&uplicate"), s->standardIcon(QStyle::SP_FileDialogNewFolder),
                       QKeySequence(Qt::CTRL | Qt::Key_D), &TunnelsWindow::duplicateSelected);
    m_delete = make(tr("&Delete"), s->standardIcon(QStyle::SP_TrashIcon), QKeySequence::Delete,
                    &TunnelsWindow::deleteSelected);
    m_test = make(tr("&Test"), s->standardIcon(QStyle::SP_BrowserReload),
                  QKeySequence(Qt::CTRL | Qt::Key_T), &TunnelsWindow::testSelected);
    m_test->setObjectName(QStringLiteral("test"));
    m_edit->setObjectName(QStringLiteral("edit"));
    m_duplicate->setObjectName(QStringLiteral("duplicate"));
    m_delete->setObjectName(QStringLiteral("delete"));
    QAction *import = make(tr("&Import…"), s->standardIcon(QStyle::SP_DialogOpenButton),
                           QKeySequence(Qt::CTRL | Qt::Key_I), &TunnelsWindow::importDialog);
    m_exportOne = new QAction(s->standardIcon(QStyle::SP_DialogSaveButton), tr("E&xport…"), this);
    connect(m_exportOne, &QAction::triggered, this, [this] { exportDialog(false); });
    auto *exportAll = new QAction(tr("Export &All…"), this);
    exportAll->setShortcut(QKeySequence::SaveAs);
    connect(exportAll, &QAction::triggered, this, [this] { exportDialog(true); });
    auto *startAll = new QAction(tr("Start A&ll"), this);
    connect(startAll, &QAction::triggered, m_app, &DesktopApp::startAll);
    auto *stopAll = new QAction(tr("St&op All"), this);
    connect(stopAll, &QAction::triggered, m_app, &DesktopApp::stopAll);
    auto *close = new QAction(tr("&Close Window"), this);
    close->setShortcut(QKeySequence::Close);
    connect(close, &QAction::triggered, this, &QWidget::close);
    auto *quit = new QAction(tr("&Quit"), this);
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, m_app, &DesktopApp::quitRequested);
    m_loginItem = new QAction(tr("Start at &Login"), this);
    m_loginItem->setCheckable(true);
    m_loginItem->setChecked(LoginItem::isEnabled());
    m_loginItem->setToolTip(LoginItem::location());
    connect(m_loginItem, &QAction::triggered, this, [this](bool on) {
        QString error;
        if (!LoginItem::setEnabled(on, m_app->executablePath(), &error)) {
            m_loginItem->setChecked(!on);
            showStatus(error);
            return;
        }
        showStatus(on ? tr("Starts at login (%1)").arg(LoginItem::location())
                      : tr("No longer starts at login"));
    });

    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(import);
    file->addAction(m_exportOne);
    file->addAction(exportAll);
    file->addSeparator();
    file->addAction(m_loginItem);
    file->addSeparator();
    file->addAction(close);
    file->addAction(quit);
    QMenu *tunnel = menuBar()->addMenu(tr("&Tunnel"));
    tunnel->addActions({m_toggle, startAll, stopAll});
    tunnel->addSeparator();
    tunnel->addActions({add, m_edit, m_duplicate, m_delete});
    tunnel->addSeparator();
    tunnel->addAction(m_test);

    QToolBar *toolbar = addToolBar(tr("Tunnels"));
    toolbar->setObjectName(QStringLiteral("toolbar"));
    toolbar->setMovable(false);
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolbar->addActions({m_toggle, add, m_edit, m_duplicate, m_delete});
    toolbar->addSeparator();
    toolbar->addActions({import, m_exportOne});
    toolbar->addSeparator();
    toolbar->addAction(m_test);
    m_loginItem->setEnabled(!m_app->executablePath().isEmpty() || LoginItem::isEnabled());
}

QString TunnelsWindow::selectedName() const
{
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : m_model->nameAt(rows.constFirst().row());
}

void TunnelsWindow::selectName(const QString &name)
{
    const int row = m_model->rowOf(name);
    if (row >= 0)
        m_view->selectRow(row);
}

void TunnelsWindow::updateActions()
{
    const QString name = selectedName();
    const bool selected = !name.isEmpty();
    const bool running = selected && m_app->manager()->isRunning(name);
    // A profile that needs attention starts (and is tested) only once it is edited.
    const bool needsAttention = selected && !m_app->store()->problem(name).isEmpty();
    m_toggle->setEnabled(selected && (running || !needsAttention));
    m_toggle->setText(running ? tr("&Stop") : tr("&Start"));
    m_toggle->setIcon(style()->standardIcon(running ? QStyle::SP_MediaStop : QStyle::SP_MediaPlay));
    for (QAction *action : {m_edit, m_duplicate, m_delete, m_exportOne, m_test})
        action->setEnabled(selected);
    m_test->setEnabled(selected && !needsAttention && bool(m_app->connectionTester()));
    m_loginItem->setEnabled(!m_app->executablePath().isEmpty() || LoginItem::isEnabled());
}

void TunnelsWindow::updateGraph()
{
    const QString name = selectedName();
    m_graph->setSamples(name.isEmpty() ? QList<TunnelManager::RateSample>()
                                       : m_app->manager()->history(name),
                        name);
}

void TunnelsWindow::showStatus(const QString &message)
{
    m_status = message;
    statusBar()->showMessage(message);
}

QString TunnelsWindow::statusText() const
{
    return m_status;
}

void TunnelsWindow::setNoTrayNotice(bool shown)
{
    m_notice->setVisible(shown);
}

void TunnelsWindow::closeEvent(QCloseEvent *event)
{
    // With a tray the window only hides; without one, closing it is quitting.
    if (!QSystemTrayIcon::isSystemTrayAvailable() && m_notice->isVisible()) {
        Q_EMIT m_app->quitRequested();
    }
    event->accept();
}

void TunnelsWindow::addProfile()
{
    Profile profile;
    profile.name = m_app->store()->uniqueName(tr("New tunnel"));
    ProfileEditor editor(m_app->store(), profile, QString(), this);
    if (editor.exec() != QDialog::Accepted)
        return;
    QString error;
    if (!m_app->store()->add(editor.profile(), &error)) {
        QMessageBox::warning(this, tr("Cannot save the tunnel"), error);
        return;
    }
    selectName(editor.profile().name);
    showStatus(tr("Added “%1”").arg(editor.profile().name));
}

void TunnelsWindow::editSelected()
{
    const QString name = selectedName();
    const auto profile = m_app->store()->profile(name);
    if (!profile)
        return;
    ProfileEditor editor(m_app->store(), *profile, name, this);
    if (editor.exec() != QDialog::Accepted)
        return;
    const Profile edited = editor.profile();
    const bool wasRunning = m_app->manager()->isRunning(name);
    QString error;
    if (!m_app->store()->update(name, edited, &error)) {
        QMessageBox::warning(this, tr("Cannot save the tunnel"), error);
        return;
    }
    m_app->manager()->rename(name, edited.name);
    if (wasRunning && edited != *profile)
        m_app->manager()->start(edited); // apply the new settings
    selectName(edited.name);
}

void TunnelsWindow::duplicateSelected()
{
    QString error;
    const auto copy = m_app->store()->duplicate(selectedName(), &error);
    if (!copy) {
        showStatus(error);
        return;
    }
    selectName(*copy);
    const auto profile = m_app->store()->profile(*copy);
    showStatus(tr("Duplicated as “%1”, listening on %2")
                   .arg(*copy, profile ? profile->listen : QString()));
}

void TunnelsWindow::deleteSelected()
{
    const QString name = selectedName();
    if (name.isEmpty())
        return;
    if (QMessageBox::question(this, tr("Delete tunnel"),
                              tr("Delete the tunnel “%1”? Its settings, token and passwords are "
                                 "removed.")
                                  .arg(name),
                              QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel)
        != QMessageBox::Yes)
        return;
    QString error;
    m_app->manager()->forget(name);
    if (!m_app->store()->remove(name, &error))
        QMessageBox::warning(this, tr("Cannot delete the tunnel"), error);
}

bool TunnelsWindow::importFrom(const QString &path)
{
    QString error;
    const auto added = m_app->store()->importProfiles(path, &error);
    if (!added) {
        showStatus(tr("Import failed: %1").arg(error));
        return false;
    }
    QStringList needAttention;
    for (const QString &name : *added) {
        const QString problem = m_app->store()->problem(name);
        if (!problem.isEmpty())
            needAttention << tr("“%1” (%2)").arg(name, problem);
    }
    QString message = tr("Imported %n tunnel(s): %1", nullptr, int(added->size()))
                          .arg(added->join(QStringLiteral(", ")));
    if (!needAttention.isEmpty())
        message +=
            tr("; %n need(s) attention before starting: %1", nullptr, int(needAttention.size()))
                .arg(needAttention.join(QStringLiteral(", ")));
    showStatus(message);
    if (!added->isEmpty())
        selectName(added->constFirst());
    return true;
}

bool TunnelsWindow::exportTo(const QStringList &names, const QString &path, bool withSecrets)
{
    QString error;
    if (!m_app->store()->exportProfiles(names, path, withSecrets, &error)) {
        showStatus(tr("Export failed: %1").arg(error));
        return false;
    }
    showStatus(tr("Exported to %1%2")
                   .arg(path, withSecrets ? tr(" (with tokens and passwords)") : QString()));
    return true;
}

void TunnelsWindow::importDialog()
{
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Import tunnels"), QString(), tr("Tunnel profiles (*.json);;All files (*)"));
    if (path.isEmpty())
        return;
    if (!importFrom(path))
        QMessageBox::warning(this, tr("Import failed"), statusText());
}

void TunnelsWindow::exportDialog(bool all)
{
    const QString name = selectedName();
    if (!all && name.isEmpty())
        return;
    const QString path = QFileDialog::getSaveFileName(
        this, all ? tr("Export all tunnels") : tr("Export “%1”").arg(name),
        (all ? QStringLiteral("tunnels") : name) + QStringLiteral(".json"),
        tr("Tunnel profiles (*.json)"));
    if (path.isEmpty())
        return;
    const auto answer = QMessageBox::question(
        this, tr("Include secrets?"),
        tr("Include tokens and passwords in the file? Anyone who can read it can then use them."),
        QMessageBox::Yes | QMessageBox::No | QMessageBox::Cancel, QMessageBox::No);
    if (answer == QMessageBox::Cancel)
        return;
    if (!exportTo(all ? QStringList() : QStringList {name}, path, answer == QMessageBox::Yes))
        QMessageBox::warning(this, tr("Export failed"), statusText());
}

void TunnelsWindow::testSelected()
{
    const auto profile = m_app->store()->profile(selectedName());
    if (!profile || !m_app->connectionTester())
        return;
    const QString name = profile->name;
    m_test->setEnabled(false);
    showStatus(tr("Testing “%1”…").arg(name));
    m_app->connectionTester()(*profile, this, [this, name](bool ok, const QString &message) {
        showStatus(ok ? tr("Test of “%1” passed: %2").arg(name, message)
                      : tr("Test of “%1” failed: %2").arg(name, message));
        updateActions();
    });
}

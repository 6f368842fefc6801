#include "tunnelswindow.h"

#include "desktop/loginitem.h"
#include "desktopapp.h"
#include "net/websocketurl.h"
#include "profileeditor.h"
#include "profiles/profilestore.h"
#include "trafficgraph.h"
#include "traycontroller.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"
#include "tunneltablemodel.h"

#include <QAction>
#include <QCloseEvent>
#include <QCoreApplication>
#include <QDir>
#include <QFileDialog>
#include <QFontDatabase>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QStyle>
#include <QStyledItemDelegate>
#include <QSystemTrayIcon>
#include <QTabWidget>
#include <QTableView>
#include <QTextCursor>
#include <QTextDocument>
#include <QTime>
#include <QToolBar>
#include <QUrl>
#include <QVBoxLayout>
#include <algorithm>

namespace {
QString secretsLoadingMessage()
{
    return TunnelsWindow::tr("Tokens and passwords are still being read from the keychain; try "
                             "again in a moment");
}

// The State column holds sentences: cut at their end, where the view's middle elision (meant for
// URLs) would keep the sentence's last words without its subject.
class ElideRightDelegate : public QStyledItemDelegate
{
public:
    using QStyledItemDelegate::QStyledItemDelegate;

protected:
    void initStyleOption(QStyleOptionViewItem *option, const QModelIndex &index) const override
    {
        QStyledItemDelegate::initStyleOption(option, index);
        option->textElideMode = Qt::ElideRight;
    }
};

const QLatin1String kGeometryKey("window/geometry");
const QLatin1String kColumnsKey("window/columns");
const QLatin1String kSplitterKey("window/splitter");

QPlainTextEdit *readOnlyText(const QString &objectName)
{
    auto *text = new QPlainTextEdit;
    text->setObjectName(objectName);
    text->setReadOnly(true);
    // Selectable and copyable, by mouse and by keyboard.
    text->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    text->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    return text;
}
} // namespace

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
    // URLs differ at their end (port, path): keep both ends visible.
    m_view->setTextElideMode(Qt::ElideMiddle);
    m_view->verticalHeader()->hide();
    QHeaderView *header = m_view->horizontalHeader();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    // The state carries the error sentences: it takes the room that is left.
    header->setSectionResizeMode(TunnelTableModel::State, QHeaderView::Stretch);
    m_view->setItemDelegateForColumn(TunnelTableModel::State, new ElideRightDelegate(m_view));
    m_view->setColumnWidth(TunnelTableModel::Name, 130);
    m_view->setColumnWidth(TunnelTableModel::LocalAddress, 120);
    m_view->setColumnWidth(TunnelTableModel::Server, 190);
    for (int column :
         {TunnelTableModel::Connections, TunnelTableModel::UpRate, TunnelTableModel::DownRate})
        m_view->setColumnWidth(column,
                               header->fontMetrics().horizontalAdvance(
                                   m_model->headerData(column, Qt::Horizontal).toString())
                                   + 16);
    connect(m_view, &QTableView::doubleClicked, this, &TunnelsWindow::editSelected);
    m_view->installEventFilter(this); // Return opens the editor

    m_details = readOnlyText(QStringLiteral("details"));
    m_details->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_graph = new TrafficGraph;
    m_graph->setObjectName(QStringLiteral("graph"));
    m_log = readOnlyText(QStringLiteral("log"));
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_log->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_tabs = new QTabWidget;
    m_tabs->setObjectName(QStringLiteral("detailsTabs"));
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(m_details, tr("&Details"));
    m_tabs->addTab(m_graph, tr("T&raffic"));
    m_tabs->addTab(m_log, tr("&Log"));

    m_splitter = new QSplitter(Qt::Vertical);
    m_splitter->setObjectName(QStringLiteral("splitter"));
    m_splitter->setChildrenCollapsible(false);
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(m_tabs);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 2);

    // First run: what a tunnel is, in one line, and the button to add one.
    m_emptyPage = new QWidget;
    m_emptyPage->setObjectName(QStringLiteral("emptyState"));
    auto *emptyTitle = new QLabel(tr("Add your first tunnel"));
    emptyTitle->setObjectName(QStringLiteral("emptyTitle"));
    QFont titleFont = emptyTitle->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.5);
    titleFont.setBold(true);
    emptyTitle->setFont(titleFont);
    emptyTitle->setAlignment(Qt::AlignCenter);
    auto *emptyText = new QLabel(
        tr("A tunnel listens on a port of this computer and carries each connection to it "
           "(SSH, RDP, a database…) over a WebSocket to your tcp-over-websocket server, through "
           "networks that only let the web out."));
    emptyText->setObjectName(QStringLiteral("emptyText"));
    emptyText->setWordWrap(true);
    emptyText->setAlignment(Qt::AlignCenter);
    auto *emptyAdd = new QPushButton(style()->standardIcon(QStyle::SP_FileIcon), tr("Add Tunnel…"));
    emptyAdd->setObjectName(QStringLiteral("emptyAdd"));
    emptyAdd->setDefault(true);
    connect(emptyAdd, &QPushButton::clicked, this, &TunnelsWindow::addProfile);
    auto *emptyLayout = new QVBoxLayout(m_emptyPage);
    // No alignment for the wrapped text: an aligned item gets its width but not the height that
    // width needs (the text was cut); wide margins keep its lines short instead.
    emptyLayout->setContentsMargins(48, 24, 48, 24);
    emptyLayout->addStretch(1);
    emptyLayout->addWidget(emptyTitle);
    emptyLayout->addWidget(emptyText);
    emptyLayout->addSpacing(12);
    emptyLayout->addWidget(emptyAdd, 0, Qt::AlignHCenter);
    emptyLayout->addStretch(2);

    m_stack = new QStackedWidget;
    m_stack->addWidget(m_emptyPage);
    m_stack->addWidget(m_splitter);

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
    layout->addWidget(m_stack, 1);
    setCentralWidget(central);

    createActions();
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        refreshActions();
        updateGraph();
        updateDetails();
        updateLog();
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        // Something stays selected, so the keyboard shortcuts act at once.
        if (selectedName().isEmpty() && m_model->rowCount() > 0)
            m_view->selectRow(0);
        updateEmptyState();
        refreshActions();
        updateDetails();
        updateLog();
    });
    connect(m_model, &QAbstractItemModel::dataChanged, this, [this] {
        refreshActions();
        updateGraph();
        updateDetails();
    });
    // A SOCKS5 tunnel's destinations change without its status (bytes of open tunnels move).
    connect(app->manager(), &TunnelManager::destinationsChanged, this, [this](const QString &name) {
        if (name == selectedName())
            updateDetails();
    });
    connect(m_model, &TunnelTableModel::toggleRequested, app,
            [app](const QString &name, bool on) { app->setRunning(name, on); });
    connect(app->manager(), &TunnelManager::tunnelFailed, this,
            [this](const QString &name, const QString &reason) {
                showStatus(tr("%1: %2").arg(name, reason));
            });
    connect(app, &DesktopApp::logAppended, this, [this](const QString &name) {
        if (name == selectedName())
            updateLog();
    });
    statusBar();
    // 900x520, or less on a small screen (1280x800 at 200 % leaves 640x400).
    const QSize available = screen() ? screen()->availableGeometry().size() : QSize(900, 520);
    resize(
        QSize(900, 520).boundedTo(QSize(available.width() * 9 / 10, available.height() * 9 / 10)));
    if (m_model->rowCount() > 0)
        m_view->selectRow(0);
    updateEmptyState();
    refreshActions();
    updateDetails();
    restoreLayout();
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
    m_exportAll = new QAction(tr("Export &All…"), this);
    m_exportAll->setShortcut(QKeySequence::SaveAs);
    connect(m_exportAll, &QAction::triggered, this, [this] { exportDialog(true); });
    m_startAll = new QAction(tr("Start A&ll"), this);
    m_startAll->setObjectName(QStringLiteral("startAll"));
    connect(m_startAll, &QAction::triggered, m_app, &DesktopApp::startAll);
    m_stopAll = new QAction(tr("St&op All"), this);
    m_stopAll->setObjectName(QStringLiteral("stopAll"));
    connect(m_stopAll, &QAction::triggered, m_app, &DesktopApp::stopAll);
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
    auto *about = new QAction(tr("&About tcp-over-websocket"), this);
    about->setObjectName(QStringLiteral("about"));
    about->setMenuRole(QAction::AboutRole);
    connect(about, &QAction::triggered, this,
            [this] { QMessageBox::about(this, tr("About tcp-over-websocket"), aboutText()); });

    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(import);
    file->addAction(m_exportOne);
    file->addAction(m_exportAll);
    file->addSeparator();
    file->addAction(m_loginItem);
    file->addSeparator();
    file->addAction(close);
    file->addAction(quit);
    QMenu *tunnel = menuBar()->addMenu(tr("&Tunnel"));
    tunnel->addActions({m_toggle, m_startAll, m_stopAll});
    tunnel->addSeparator();
    tunnel->addActions({add, m_edit, m_duplicate, m_delete});
    tunnel->addSeparator();
    tunnel->addAction(m_test);
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(about);

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

QString TunnelsWindow::aboutText() const
{
    const QString version = QCoreApplication::applicationVersion();
    return tr("<h3>tcp-over-websocket %1</h3>"
              "<p>Carries TCP connections over WebSockets, through networks that only let "
              "HTTP(S) out.</p>"
              "<p>Qt %2 (built with Qt %3)</p>")
        .arg(version.isEmpty() ? tr("(development build)") : version.toHtmlEscaped(),
             QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR));
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

bool TunnelsWindow::showsEmptyState() const
{
    return m_stack->currentWidget() == m_emptyPage;
}

void TunnelsWindow::updateEmptyState()
{
    m_stack->setCurrentWidget(m_model->rowCount() == 0 ? m_emptyPage
                                                       : static_cast<QWidget *>(m_splitter));
}

void TunnelsWindow::refreshActions()
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
    m_test->setEnabled(selected && !needsAttention && bool(m_app->connectionTester())
                       && !m_tests.value(name).running);
    const int profiles = m_model->rowCount();
    const int runningCount = int(m_app->manager()->runningNames().size());
    m_startAll->setEnabled(runningCount < profiles);
    m_stopAll->setEnabled(runningCount > 0);
    m_exportAll->setEnabled(profiles > 0);
    m_loginItem->setEnabled(!m_app->executablePath().isEmpty() || LoginItem::isEnabled());
}

void TunnelsWindow::updateGraph()
{
    const QString name = selectedName();
    m_graph->setSamples(name.isEmpty() ? QList<TunnelManager::RateSample>()
                                       : m_app->manager()->history(name),
                        name);
}

// One line per destination of a SOCKS5 tunnel, sorted by name: its open tunnels and the bytes
// they carried so far.
QStringList TunnelsWindow::destinationLines(
    const QHash<QString, Socks5Listener::DestinationCount> &destinations) const
{
    if (destinations.isEmpty())
        return {tr("Destinations:  none open")};
    QStringList names = destinations.keys();
    std::sort(names.begin(), names.end());
    QStringList lines {tr("Destinations:")};
    for (const QString &destination : std::as_const(names)) {
        const Socks5Listener::DestinationCount count = destinations.value(destination);
        lines << tr("  %1  %2 open, %3 sent, %4 received")
                     .arg(destination)
                     .arg(count.openTunnels)
                     .arg(QLocale().formattedDataSize(count.sentBytes))
                     .arg(QLocale().formattedDataSize(count.receivedBytes));
    }
    return lines;
}

void TunnelsWindow::updateDetails()
{
    const QString name = selectedName();
    const auto profile = m_app->store()->profile(name);
    if (!profile) {
        m_details->clear();
        return;
    }
    const TunnelStatus status = m_app->manager()->status(name);
    QStringList lines;
    lines << tr("Name:          %1").arg(profile->name);
    lines << tr("Kind:          %1").arg(TunnelTableModel::kindText(profile->kind));
    lines << tr("Local address: %1")
                 .arg(status.listenAddress.isEmpty() ? profile->listen : status.listenAddress);
    if (profile->kind == Profile::Kind::Udp)
        lines << tr("Destination:   %1").arg(profile->udpRemote);
    lines << tr("Server:        %1").arg(WebSocketUrl::redacted(QUrl(profile->serverUrl)));
    lines << tr("State:         %1").arg(status.stateText());
    if (!status.lastError.isEmpty() && status.state != TunnelStatus::State::Error)
        lines << tr("Last problem:  %1").arg(status.lastError);
    if (profile->kind == Profile::Kind::Udp && status.isRunning())
        lines << tr("Dropped:       %1").arg(status.droppedText());
    if (profile->kind == Profile::Kind::Socks5 && status.isRunning())
        lines << QString() << destinationLines(m_app->manager()->destinations(name));
    const auto test = m_tests.constFind(name);
    if (test != m_tests.constEnd()) {
        lines << QString();
        if (test->running) {
            lines << tr("Test: running…");
        } else {
            lines << (test->ok ? tr("Test at %1: passed").arg(test->time)
                               : tr("Test at %1: FAILED").arg(test->time));
            lines << test->message.split(QLatin1Char('\n'));
            if (!test->ok)
                lines << QString()
                      << tr("What to do: %1").arg(DesktopApp::failingStep(test->message));
        }
    }
    const QString text = lines.join(QLatin1Char('\n'));
    if (m_details->toPlainText() != text) // rates change every second: keep the selection
        m_details->setPlainText(text);
}

void TunnelsWindow::updateLog()
{
    const QString text = m_app->log(selectedName()).join(QLatin1Char('\n'));
    if (m_log->toPlainText() == text)
        return;
    m_log->setPlainText(text);
    m_log->verticalScrollBar()->setValue(m_log->verticalScrollBar()->maximum());
}

QString TunnelsWindow::detailsText() const
{
    return m_details->toPlainText();
}

QString TunnelsWindow::logText() const
{
    return m_log->toPlainText();
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

void TunnelsWindow::saveLayout() const
{
    QSettings *settings = m_app->settings();
    settings->setValue(kGeometryKey, saveGeometry());
    settings->setValue(kColumnsKey, m_view->horizontalHeader()->saveState());
    settings->setValue(kSplitterKey, m_splitter->saveState());
    settings->sync();
}

void TunnelsWindow::restoreLayout()
{
    QSettings *settings = m_app->settings();
    const QByteArray geometry = settings->value(kGeometryKey).toByteArray();
    if (!geometry.isEmpty())
        restoreGeometry(geometry);
    const QByteArray columns = settings->value(kColumnsKey).toByteArray();
    if (!columns.isEmpty())
        m_view->horizontalHeader()->restoreState(columns);
    const QByteArray splitter = settings->value(kSplitterKey).toByteArray();
    if (!splitter.isEmpty())
        m_splitter->restoreState(splitter);
}

bool TunnelsWindow::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_view && event->type() == QEvent::KeyPress) {
        const auto *key = static_cast<QKeyEvent *>(event);
        if ((key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter)
            && (key->modifiers() & ~Qt::KeypadModifier) == Qt::NoModifier
            && !selectedName().isEmpty()) {
            editSelected();
            return true;
        }
    }
    return QMainWindow::eventFilter(watched, event);
}

void TunnelsWindow::closeEvent(QCloseEvent *event)
{
    saveLayout();
    // With a tray the window only hides (and says once that the tunnels keep running); without
    // one, closing it is quitting.
    if (!QSystemTrayIcon::isSystemTrayAvailable() && m_notice->isVisible()) {
        Q_EMIT m_app->quitRequested();
    } else if (m_app->tray()) {
        m_app->tray()->tellKeepsRunningOnce();
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
    // The editor would show it without them, and saving could clear them.
    if (m_app->store()->secretsLoading()) {
        showStatus(secretsLoadingMessage());
        return;
    }
    ProfileEditor editor(m_app->store(), *profile, name, this);
    if (editor.exec() != QDialog::Accepted)
        return;
    const Profile edited = editor.profile();
    const bool wasRunning = m_app->manager()->isRunning(name);
    const bool restart = wasRunning && edited != *profile;
    // Applying new settings restarts the tunnel, which closes its connections: ask first.
    if (restart && !m_app->confirmClosingConnections(name, tr("Apply the changes to")))
        return;
    QString error;
    if (!m_app->store()->update(name, edited, &error, profile)) {
        QMessageBox::warning(this, tr("Cannot save the tunnel"), error);
        return;
    }
    m_app->manager()->rename(name, edited.name);
    if (restart) {
        m_app->setRunning(edited.name, false, false);
        m_app->setRunning(edited.name, true); // apply the new settings
    }
    selectName(edited.name);
}

void TunnelsWindow::duplicateSelected()
{
    if (m_app->store()->secretsLoading()) {
        showStatus(secretsLoadingMessage());
        return;
    }
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
    m_tests.remove(name);
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
            tr("; needing attention before they can start: %1", nullptr, int(needAttention.size()))
                .arg(needAttention.join(QStringLiteral(", ")));
    showStatus(message);
    if (!added->isEmpty())
        selectName(added->constFirst());
    return true;
}

bool TunnelsWindow::exportTo(const QStringList &names, const QString &path, bool withSecrets)
{
    if (withSecrets && m_app->store()->secretsLoading()) {
        showStatus(tr("Export failed: %1").arg(secretsLoadingMessage()));
        return false;
    }
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
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Import tunnels"), QDir::homePath(),
                                     tr("Tunnel profiles (*.json);;All files (*)"));
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
        QDir::home().filePath((all ? QStringLiteral("tunnels") : name) + QStringLiteral(".json")),
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
    TestResult running;
    running.running = true;
    m_tests.insert(name, running);
    showStatus(tr("Testing “%1”…").arg(name));
    m_tabs->setCurrentWidget(m_details);
    refreshActions();
    updateDetails();
    m_app->connectionTester()(*profile, this, [this, name](bool ok, const QString &message) {
        TestResult &result = m_tests[name];
        result.running = false;
        result.ok = ok;
        result.message = message;
        result.time = QTime::currentTime().toString(QStringLiteral("HH:mm:ss"));
        // One short line here; the steps, one a line, are in the details pane.
        showStatus(ok ? tr("Test of “%1” passed (see Details)").arg(name)
                      : tr("Test of “%1” failed: %2").arg(name, DesktopApp::failingStep(message)));
        m_app->appendLog(name,
                         ok ? tr("Test passed")
                            : tr("Test failed: %1").arg(DesktopApp::failingStep(message)));
        refreshActions();
        updateDetails();
        // The result in sight, also in a short pane: its first line as high as it goes.
        if (name == selectedName()) {
            QScrollBar *bar = m_details->verticalScrollBar();
            bar->setValue(bar->maximum());
            QTextCursor heading = m_details->document()->find(tr("Test at "));
            if (!heading.isNull()) {
                heading.clearSelection();
                m_details->setTextCursor(heading);
                m_details->ensureCursorVisible();
            }
        }
    });
}

// The tunnels window: the profiles with their live state in a table, and below it (in a
// splitter) the selected one's details with its last test, its traffic graph and its log; the
// actions to add, edit, duplicate, delete, import, export and test them. With no profile yet it
// shows how to add the first one.
#pragma once

#include "client/socks5listener.h"

#include <QHash>
#include <QMainWindow>

class DesktopApp;
class QAction;
class QLabel;
class QPlainTextEdit;
class QSplitter;
class QStackedWidget;
class QTabWidget;
class QTableView;
class TrafficGraph;
class TunnelTableModel;

class TunnelsWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit TunnelsWindow(DesktopApp *app, QWidget *parent = nullptr);
    ~TunnelsWindow() override;

    TunnelTableModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    TrafficGraph *graph() const { return m_graph; }
    QSplitter *splitter() const { return m_splitter; }
    QTabWidget *tabs() const { return m_tabs; }
    QString selectedName() const;
    void selectName(const QString &name);
    bool showsEmptyState() const; // no profile yet: "Add your first tunnel"

    // The steps behind the buttons, without their dialogs (the tests drive these).
    bool importFrom(const QString &path);
    bool exportTo(const QStringList &names, const QString &path, bool withSecrets);
    void testSelected();
    void addProfile(); // opens the editor for a new profile (modal)
    QString statusText() const; // the last message shown in the status bar
    QString detailsText() const; // the details pane: the selected tunnel, its last test
    QString logText() const; // the Log tab: the selected tunnel's recent events
    QString aboutText() const; // the About box: version, Qt version
    void setNoTrayNotice(bool shown);
    void refreshActions(); // enables what applies to the selection
    // Window geometry, column widths and the splitter, kept in the app's settings.
    void saveLayout() const;
    void restoreLayout();

protected:
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    struct TestResult
    {
        bool running = false;
        bool ok = false;
        QString message; // the tester's lines
        QString time;
    };

    void createActions();
    void updateGraph();
    void updateDetails();
    QStringList
    destinationLines(const QHash<QString, Socks5Listener::DestinationCount> &destinations) const;
    void updateLog();
    void updateEmptyState();
    void editSelected();
    void duplicateSelected();
    void deleteSelected();
    void importDialog();
    void exportDialog(bool all);
    void showStatus(const QString &message);

    DesktopApp *m_app;
    TunnelTableModel *m_model;
    QStackedWidget *m_stack;
    QWidget *m_emptyPage;
    QSplitter *m_splitter;
    QTableView *m_view;
    QTabWidget *m_tabs;
    QPlainTextEdit *m_details;
    TrafficGraph *m_graph;
    QPlainTextEdit *m_log;
    QLabel *m_notice;
    QString m_status;
    QHash<QString, TestResult> m_tests;
    QAction *m_toggle = nullptr;
    QAction *m_edit = nullptr;
    QAction *m_duplicate = nullptr;
    QAction *m_delete = nullptr;
    QAction *m_exportOne = nullptr;
    QAction *m_exportAll = nullptr;
    QAction *m_startAll = nullptr;
    QAction *m_stopAll = nullptr;
    QAction *m_test = nullptr;
    QAction *m_loginItem = nullptr;
};

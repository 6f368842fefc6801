// The tunnels window: the profiles with their live state in a table, a traffic graph of the
// selected one, and the actions to add, edit, duplicate, delete, import, export and test them.
#pragma once

#include <QMainWindow>

class DesktopApp;
class QAction;
class QLabel;
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
    QString selectedName() const;
    void selectName(const QString &name);

    // The steps behind the buttons, without their dialogs (the tests drive these).
    bool importFrom(const QString &path);
    bool exportTo(const QStringList &names, const QString &path, bool withSecrets);
    void testSelected();
    QString statusText() const; // the last message shown in the status bar
    void setNoTrayNotice(bool shown);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createActions();
    void updateActions();
    void updateGraph();
    void addProfile();
    void editSelected();
    void duplicateSelected();
    void deleteSelected();
    void importDialog();
    void exportDialog(bool all);
    void showStatus(const QString &message);

    DesktopApp *m_app;
    TunnelTableModel *m_model;
    QTableView *m_view;
    TrafficGraph *m_graph;
    QLabel *m_notice;
    QString m_status;
    QAction *m_toggle = nullptr;
    QAction *m_edit = nullptr;
    QAction *m_duplicate = nullptr;
    QAction *m_delete = nullptr;
    QAction *m_exportOne = nullptr;
    QAction *m_test = nullptr;
    QAction *m_loginItem = nullptr;
};

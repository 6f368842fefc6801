// The tunnels table: one row per profile with name, address, server, state, connections and
// rates, following profile changes and live tunnel state; the full text of every cell that may be
// elided in its tooltip; a port held by another profile names that profile.
#include "tunneltablemodel.h"
#include "uitestbase.h"

#include <QSignalSpy>

class TestTunnelTableModel : public QObject, public UiTestBase
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(Translations::install(QCoreApplication::instance()));
        QVERIFY(startServer());
    }
    void cleanupTestCase() { QCOMPARE(server.stop(), 0); }
    void init() { createApp(); }
    void cleanup() { destroyApp(); }
    void contentsFollowProfiles();
    void liveStateAndConnections();
    void portInUseShowsError();
    void portHeldByAnotherProfileNamesIt();
};

void TestTunnelTableModel::contentsFollowProfiles()
{
    TunnelTableModel model(store.get(), manager.get());
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), int(TunnelTableModel::ColumnCount));
    QCOMPARE(model.headerData(TunnelTableModel::UpRate, Qt::Horizontal).toString(),
             QStringLiteral("↑ Rate"));
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);

    Profile ssh = profile(QStringLiteral("SSH home"));
    ssh.serverUrl = QStringLiteral("wss://alice:secret@example.org/ssh/?token=secret");
    QString error;
    QVERIFY2(store->add(ssh, &error), qPrintable(error));
    QVERIFY2(store->add(profile(QStringLiteral("RDP office")), &error), qPrintable(error));
    QCOMPARE(reset.size(), 2);
    QCOMPARE(model.rowCount(), 2);
    auto cell = [&](int row, int column, int role = Qt::DisplayRole) {
        return model.data(model.index(row, column), role);
    };
    QCOMPARE(cell(0, TunnelTableModel::Name).toString(), QStringLiteral("SSH home"));
    QCOMPARE(cell(0, TunnelTableModel::LocalAddress).toString(), ssh.listen);
    // The password and the token never reach the screen.
    QCOMPARE(cell(0, TunnelTableModel::Server).toString(),
             QStringLiteral("wss://example.org/ssh/?token=<hidden>"));
    QCOMPARE(cell(0, TunnelTableModel::State).toString(), QStringLiteral("Stopped"));
    // What the view elides (in the middle, for URLs) is whole in the tooltip.
    QCOMPARE(cell(0, TunnelTableModel::Server, Qt::ToolTipRole).toString(),
             QStringLiteral("wss://example.org/ssh/?token=<hidden>"));
    QCOMPARE(cell(0, TunnelTableModel::LocalAddress, Qt::ToolTipRole).toString(), ssh.listen);
    QCOMPARE(cell(0, TunnelTableModel::State, Qt::ToolTipRole).toString(),
             QStringLiteral("Stopped"));
    QCOMPARE(cell(0, TunnelTableModel::Connections).toInt(), 0);
    QCOMPARE(cell(0, TunnelTableModel::Name, Qt::CheckStateRole).toInt(), int(Qt::Unchecked));
    QVERIFY(model.flags(model.index(0, TunnelTableModel::Name)) & Qt::ItemIsUserCheckable);
    QCOMPARE(cell(1, TunnelTableModel::Name).toString(), QStringLiteral("RDP office"));

    QVERIFY(store->rename(QStringLiteral("RDP office"), QStringLiteral("RDP"), &error));
    QCOMPARE(cell(1, TunnelTableModel::Name).toString(), QStringLiteral("RDP"));
    QVERIFY(store->remove(QStringLiteral("SSH home"), &error));
    QCOMPARE(model.rowCount(), 1);
    QCOMPARE(model.nameAt(0), QStringLiteral("RDP"));
}

void TestTunnelTableModel::liveStateAndConnections()
{
    TunnelTableModel model(store.get(), manager.get());
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    QSignalSpy toggles(&model, &TunnelTableModel::toggleRequested);
    QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);
    connect(&model, &TunnelTableModel::toggleRequested, app.get(),
            [this](const QString &name, bool on) { app->setRunning(name, on); });

    // Ticking the check box asks for the tunnel; the row follows the manager.
    QVERIFY(model.setData(model.index(0, TunnelTableModel::Name), Qt::Checked, Qt::CheckStateRole));
    QCOMPARE(toggles.size(), 1);
    QVERIFY(manager->isRunning(ssh.name));
    QVERIFY(!changes.isEmpty());
    auto cell = [&](int column) { return model.data(model.index(0, column)); };
    QCOMPARE(cell(TunnelTableModel::State).toString(), QStringLiteral("Listening"));
    QCOMPARE(model.data(model.index(0, TunnelTableModel::Name), Qt::CheckStateRole).toInt(),
             int(Qt::Checked));
    QCOMPARE(cell(TunnelTableModel::UpRate).toString(), QStringLiteral("0 B/s"));

    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    QTRY_COMPARE_WITH_TIMEOUT(cell(TunnelTableModel::Connections).toInt(), 1, kUiTimeoutMs);
    QCOMPARE(cell(TunnelTableModel::State).toString(), QStringLiteral("Active: 1 connection"));
    QTcpSocket second;
    second.connectToHost(QHostAddress::LocalHost, portOf(ssh));
    QTRY_COMPARE_WITH_TIMEOUT(cell(TunnelTableModel::Connections).toInt(), 2, kUiTimeoutMs);
    QCOMPARE(cell(TunnelTableModel::State).toString(), QStringLiteral("Active: 2 connections"));
    second.disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(cell(TunnelTableModel::Connections).toInt(), 1, kUiTimeoutMs);
    QByteArray echoed;
    connect(&socket, &QTcpSocket::readyRead, this, [&] { echoed += socket.readAll(); });
    const QByteArray data(200000, 'x');
    socket.write(data);
    QTRY_COMPARE_WITH_TIMEOUT(echoed.size(), data.size(), kUiTimeoutMs);
    // Some sampling interval saw the bytes move: its rate was shown.
    QTRY_VERIFY_WITH_TIMEOUT(
        cell(TunnelTableModel::UpRate).toString().contains(QLatin1String("kB/s")), kUiTimeoutMs);
    socket.disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(cell(TunnelTableModel::Connections).toInt(), 0, kUiTimeoutMs);

    QVERIFY(
        model.setData(model.index(0, TunnelTableModel::Name), Qt::Unchecked, Qt::CheckStateRole));
    QVERIFY(!manager->isRunning(ssh.name));
    QCOMPARE(cell(TunnelTableModel::State).toString(), QStringLiteral("Stopped"));
    QCOMPARE(cell(TunnelTableModel::UpRate).toString(), QString());
}

void TestTunnelTableModel::portInUseShowsError()
{
    QTcpServer occupant;
    QVERIFY(occupant.listen(QHostAddress::LocalHost, 0));
    Profile busy = profile(QStringLiteral("Busy"));
    busy.listen = QStringLiteral("127.0.0.1:%1").arg(occupant.serverPort());
    QString error;
    QVERIFY(store->add(busy, &error));
    TunnelTableModel model(store.get(), manager.get());
    app->setRunning(busy.name, true);
    const QString state = model.data(model.index(0, TunnelTableModel::State)).toString();
    QVERIFY2(
        state.startsWith(
            QStringLiteral("Error: local port %1 is already in use").arg(occupant.serverPort())),
        qPrintable(state));
    QVERIFY(model.data(model.index(0, TunnelTableModel::State), Qt::ToolTipRole)
                .toString()
                .contains(QStringLiteral("choose another local port")));
    QVERIFY(!model.data(model.index(0, TunnelTableModel::State), Qt::DecorationRole)
                 .value<QIcon>()
                 .isNull());
}

void TestTunnelTableModel::portHeldByAnotherProfileNamesIt()
{
    // The store keeps saved profiles from clashing, but the manager also runs profiles it is
    // given directly (an older file's clashing pair, `client --profile` twice): the one in the way
    // is named.
    const Profile ssh = profile(QStringLiteral("SSH"));
    QString error;
    QVERIFY(store->add(ssh, &error));
    app->setRunning(ssh.name, true);
    QVERIFY(manager->isRunning(ssh.name));
    Profile other = ssh;
    other.name = QStringLiteral("Other");
    QVERIFY(!manager->start(other));
    QVERIFY(!manager->isRunning(other.name));
    const QString state = manager->status(other.name).stateText();
    QVERIFY2(state.contains(QStringLiteral("already in use by the profile “SSH”")),
             qPrintable(state));
}

QTEST_MAIN(TestTunnelTableModel)
#include "tst_tunneltablemodel.moc"

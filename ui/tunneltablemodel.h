// The saved profiles with their live tunnel state, as a table for the tunnels window: name, kind,
// local address, server, state, connections, up and down rates.
#pragma once

#include "profiles/profile.h"

#include <QAbstractTableModel>
#include <QPointer>

class ProfileStore;
class TunnelManager;

class TunnelTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column {
        Name,
        Kind,
        LocalAddress,
        Server,
        State,
        Connections,
        UpRate,
        DownRate,
        ColumnCount
    };
    static constexpr int kNameRole = Qt::UserRole + 1;

    TunnelTableModel(ProfileStore *store, TunnelManager *manager, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    // The name column's check box switches the tunnel on and off (through toggleRequested).
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    QString nameAt(int row) const;
    // "Port forward", "SOCKS5 proxy", "UDP": the editor's names of the kinds.
    static QString kindText(Profile::Kind kind);
    int rowOf(const QString &name) const;

Q_SIGNALS:
    void toggleRequested(const QString &name, bool on);

private:
    void onStatusChanged(const QString &name);

    QPointer<ProfileStore> m_store;
    QPointer<TunnelManager> m_manager;
};

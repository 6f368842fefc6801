#include "tunneltablemodel.h"

#include "net/websocketurl.h"
#include "profiles/profilestore.h"
#include "trayicons.h"
#include "tunnels/tunnelmanager.h"

#include <QUrl>

TunnelTableModel::TunnelTableModel(ProfileStore *store, TunnelManager *manager, QObject *parent)
    : QAbstractTableModel(parent), m_store(store), m_manager(manager)
{
    // Profiles come and go rarely: a reset is simplest; live state updates touch one row.
    connect(store, &ProfileStore::changed, this, [this] {
        beginResetModel();
        endResetModel();
    });
    connect(manager, &TunnelManager::statusChanged, this, &TunnelTableModel::onStatusChanged);
}

int TunnelTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_store ? 0 : int(m_store->profiles().size());
}

int TunnelTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString TunnelTableModel::nameAt(int row) const
{
    if (!m_store || row < 0 || row >= m_store->profiles().size())
        return QString();
    return m_store->profiles().at(row).name;
}

int TunnelTableModel::rowOf(const QString &name) const
{
    return m_store ? int(m_store->names().indexOf(name)) : -1;
}

QVariant TunnelTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || !m_store || !m_manager || index.row() >= m_store->profiles().size())
        return QVariant();
    const Profile &profile = m_store->profiles().at(index.row());
    const TunnelStatus status = m_manager->status(profile.name);
    if (role == kNameRole)
        return profile.name;
    // A profile that cannot start until it is edited (a bad field in its file, a local address
    // an earlier profile has): said in the State column, the reason in the tooltip.
    const QString problem = status.isRunning() ? QString() : m_store->problem(profile.name);
    if (!problem.isEmpty()) {
        if (role == Qt::ToolTipRole && (index.column() == State || index.column() == Name))
            return tr("Needs attention: %1. Edit the tunnel to fix it.").arg(problem);
        if (role == Qt::DecorationRole && index.column() == State)
            return TrayIcons::icon(TrayIcons::State::Error);
        if (role == Qt::DisplayRole && index.column() == State)
            return tr("Needs attention");
    }
    if (role == Qt::CheckStateRole && index.column() == Name)
        return status.isRunning() ? Qt::Checked : Qt::Unchecked;
    if (role == Qt::DecorationRole && index.column() == State)
        return TrayIcons::forStatus(status);
    if (role == Qt::ToolTipRole) {
        // The full text of what a narrow column elides.
        switch (index.column()) {
        case Name:
        case State:
            if (!status.lastError.isEmpty() && !status.stateText().contains(status.lastError))
                return QString(status.stateText() + QLatin1Char('\n') + status.lastError);
            return status.stateText();
        case LocalAddress:
        case Server:
            return data(index, Qt::DisplayRole);
        default:
            return QVariant();
        }
    }
    if (role == Qt::TextAlignmentRole && index.column() >= Connections)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return QVariant();
    switch (index.column()) {
    case Name:
        return profile.name;
    case Kind:
        return kindText(profile.kind);
    case LocalAddress:
        return status.listenAddress.isEmpty() ? profile.listen : status.listenAddress;
    case Server:
        return WebSocketUrl::redacted(QUrl(profile.serverUrl));
    case State:
        return status.stateText();
    case Connections:
        return status.connections;
    case UpRate:
        return status.isRunning() ? TunnelStatus::rateText(status.upBytesPerSecond) : QString();
    case DownRate:
        return status.isRunning() ? TunnelStatus::rateText(status.downBytesPerSecond) : QString();
    default:
        return QVariant();
    }
}

QString TunnelTableModel::kindText(Profile::Kind kind)
{
    switch (kind) {
    case Profile::Kind::Forward:
        break;
    case Profile::Kind::Socks5:
        return tr("SOCKS5 proxy");
    case Profile::Kind::Udp:
        return tr("UDP");
    }
    return tr("Port forward");
}

QVariant TunnelTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Name:
        return tr("Name");
    case Kind:
        return tr("Kind");
    case LocalAddress:
        return tr("Local address");
    case Server:
        return tr("Server");
    case State:
        return tr("State");
    case Connections:
        return tr("Connections");
    case UpRate:
        return tr("↑ Rate");
    case DownRate:
        return tr("↓ Rate");
    default:
        return QVariant();
    }
}

Qt::ItemFlags TunnelTableModel::flags(const QModelIndex &index) const
{
    Qt::ItemFlags flags = QAbstractTableModel::flags(index);
    if (index.isValid() && index.column() == Name)
        flags |= Qt::ItemIsUserCheckable;
    return flags;
}

bool TunnelTableModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (role != Qt::CheckStateRole || index.column() != Name)
        return false;
    Q_EMIT toggleRequested(nameAt(index.row()), value.toInt() == Qt::Checked);
    return true; // the row changes when the manager reports the new state
}

void TunnelTableModel::onStatusChanged(const QString &name)
{
    const int row = rowOf(name);
    if (row >= 0)
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

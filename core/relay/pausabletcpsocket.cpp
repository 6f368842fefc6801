#include "pausabletcpsocket.h"

PausableTcpSocket::PausableTcpSocket(QObject *parent) : QTcpSocket(parent) { }

qint64 PausableTcpSocket::bytesAvailable() const
{
    return m_paused ? 0 : QTcpSocket::bytesAvailable();
}

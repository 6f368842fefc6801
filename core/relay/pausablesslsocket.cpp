#include "pausablesslsocket.h"

PausableSslSocket::PausableSslSocket(QObject *parent) : QSslSocket(parent) { }

qint64 PausableSslSocket::bytesAvailable() const
{
    return m_paused ? 0 : QSslSocket::bytesAvailable();
}

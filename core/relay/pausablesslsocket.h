// The TLS twin of PausableTcpSocket: a server-side QSslSocket whose decrypted bytes can be
// hidden from QWebSocket while the relay's TCP side is congested.
#pragma once

#include "pausabletransport.h"

#include <QSslSocket>

class PausableSslSocket : public QSslSocket, public PausableTransport
{
    Q_OBJECT
public:
    explicit PausableSslSocket(QObject *parent = nullptr);

    void setPaused(bool paused) override { m_paused = paused; }
    bool isPaused() const override { return m_paused; }
    qint64 bufferedBytes() const override { return QSslSocket::bytesAvailable(); }

    qint64 bytesAvailable() const override;

private:
    bool m_paused = false;
};

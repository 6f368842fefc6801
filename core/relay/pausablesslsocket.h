// The TLS twin of PausableTcpSocket: a server-side QSslSocket whose decrypted bytes can be
// hidden from QWebSocket while the relay's TCP side is congested.
#pragma once

#include "pausabletransport.h"

#include <QSslSocket>

// While paused, QSslSocket (Qt 6.4) still decrypts into its own buffer, but only up to the read
// buffer size: then it leaves the encrypted bytes in its inner socket, whose buffer is bounded
// too, and the kernel pushes back on the client. It judges that from its internal buffer, not
// from bytesAvailable(), so hiding the bytes from QWebSocket does not stop it early.
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

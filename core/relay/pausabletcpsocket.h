// A QTcpSocket whose incoming bytes can be hidden from QWebSocket, so that a relay can stop
// reading WebSocket frames while its TCP side is congested.
#pragma once

#include "pausabletransport.h"

#include <QTcpSocket>

// Qt 6.4's QWebSocket has no public way to stop reading: it parses every frame as soon as the
// socket reports bytes available, so a slow TCP sink makes memory grow without bound. Its parser
// loops on bytesAvailable(), which is virtual: reporting 0 while paused stops it between frames,
// while the real data stays in the (bounded) read buffer and the kernel applies back-pressure.
// Only used on the server side, where our QTcpServer creates the sockets QWebSocket runs on.
class PausableTcpSocket : public QTcpSocket, public PausableTransport
{
    Q_OBJECT
public:
    explicit PausableTcpSocket(QObject *parent = nullptr);

    void setPaused(bool paused) override { m_paused = paused; }
    bool isPaused() const override { return m_paused; }
    qint64 bufferedBytes() const override { return QTcpSocket::bytesAvailable(); }

    qint64 bytesAvailable() const override;

private:
    bool m_paused = false;
};

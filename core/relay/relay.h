// One tunnel: joins a TCP socket and a WebSocket, relays bytes both ways with flow control,
// keep-alive and the close rules of the wire contract.
#pragma once

#include "relayoptions.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <limits>

class QAbstractSocket;
class QSslSocket;
class QTcpSocket;
class QWebSocket;
class PausableTransport;

class Relay : public QObject
{
    Q_OBJECT
public:
    // Takes ownership of both sockets. The WebSocket must be open; the TCP socket may still be
    // connecting (server side), its writes are then buffered until it connects.
    // serverTransport is the socket the WebSocket runs on when our server accepted it (paused
    // directly when it is a PausableTransport: PausableTcpSocket or PausableSslSocket); nullptr
    // on the client side, where QWebSocket owns its socket.
    // description names the tunnel in logs ("127.0.0.1:5312 -> example.org:22"); no secrets.
    Relay(QTcpSocket *tcp, QWebSocket *ws, QTcpSocket *serverTransport, const RelayOptions &options,
          const QString &description, QObject *parent = nullptr);
    ~Relay() override;

    qint64 bytesTcpToWs() const { return m_bytesTcpToWs; }
    qint64 bytesWsToTcp() const { return m_bytesWsToTcp; }

    // Largest number of bytes ever queued towards each side. Flow control keeps them near the
    // high watermark: these are what the tests assert to prove memory stays bounded.
    qint64 peakTcpQueuedBytes() const { return m_peakTcpQueued; }
    qint64 peakWsQueuedBytes() const { return m_peakWsQueued; }

    // Why the tunnel ended, for logs and tests ("tcp closed", "websocket closed (1000)", ...).
    QString closeReason() const { return m_closeReason; }
    bool isFinished() const { return m_finished; }

    // Server side: connects the TCP socket (given unconnected) once the relay watches it, so that
    // even an immediate failure is reported through tcpConnectFailed().
    void connectTcp(const QString &host, quint16 port);

    // Asks both sides to close (e.g. at shutdown): WebSocket close code 1001, TCP after its
    // pending bytes.
    void shutdown();

Q_SIGNALS:
    // Bytes just moved, for live counters and metrics.
    void transferred(qint64 tcpToWsBytes, qint64 wsToTcpBytes);
    // The TCP side could not be connected (server side: remote unreachable).
    void tcpConnectFailed(const QString &error);
    // Both sides are closed; the relay can be deleted (deleteLater).
    void finished();

private:
    void onTcpConnected();
    void onTcpReadyRead();
    void onTcpBytesWritten();
    void onTcpDisconnected();
    void onTcpError();
    void onWsFrame(const QByteArray &frame, bool isLastFrame);
    void onWsText();
    void onWsDisconnected();
    void onWsBytesWritten();

    // Bytes queued towards the WebSocket peer, including those already encrypted (TLS).
    qint64 wsQueuedBytes() const;
    void pumpTcpToWs();
    qint64 sendToWs(); // one frame from TCP's buffer; returns its payload size
    void closeWs(int code, const QString &reason);
    void sendDeferredClose();
    void closeTcpAfterFlush();
    void checkCloseProgress();
    void pauseWsReading();
    void resumeWsReading();
    void drainWsTransport(); // after the disconnect: QWebSocket parses what is buffered
    void endWs();
    void scheduleTransportKick();
    void scheduleTransportRead();
    void scheduleTcpFlush();
    void kickTransport();
    void stopFrameWaitTimers();
    void sendKeepAlive();
    void checkIdle();
    void setReason(const QString &reason);
    void checkFinished();

    QTcpSocket *m_tcp;
    QWebSocket *m_ws;
    QPointer<QAbstractSocket> m_transport; // the socket QWebSocket reads from
    QPointer<QSslSocket> m_sslTransport; // the same, when it is a TLS socket
    QPointer<QTcpSocket> m_serverTransport; // may be deleted by QWebSocket first
    PausableTransport *m_pausable = nullptr; // m_serverTransport when it can be paused directly
    PausableTransport *pausable() const { return m_serverTransport ? m_pausable : nullptr; }
    bool m_serverSide;
    bool m_maskFrames; // client side: frames to the server are masked (RFC 6455 5.3)
    RelayOptions m_options;
    QString m_description;
    qint64 m_transportReadBufferBytes;

    QTimer m_keepAliveTimer;
    QTimer m_closeTimer;
    QTimer m_pausePollTimer;
    QTimer m_idleTimer;
    QElapsedTimer m_sinceData; // since the last byte moved either way
    QElapsedTimer m_age;
    QElapsedTimer m_wsClosingSince; // since the last progress of the closing WebSocket
    QElapsedTimer m_tcpClosingSince; // since the last progress of the closing TCP socket
    qint64 m_wsPendingAtLastCheck = std::numeric_limits<qint64>::max();
    qint64 m_tcpPendingAtLastCheck = std::numeric_limits<qint64>::max();

    qint64 m_bytesTcpToWs = 0;
    qint64 m_bytesWsToTcp = 0;
    qint64 m_peakTcpQueued = 0;
    qint64 m_peakWsQueued = 0;
    QString m_closeReason;

    bool m_tcpConnected = false;
    bool m_tcpEnded = false; // no more bytes will come from TCP
    bool m_tcpClosing = false; // we asked TCP to close once its queue is written
    bool m_wsEnded = false; // no more frames will come from the WebSocket
    bool m_wsClosing = false; // we sent (or are about to send) a close frame
    bool m_wsDisconnected = false; // QWebSocket reported disconnected (frames may remain)
    bool m_paused = false;
    bool m_closeAfterTail = false; // TCP ended: close the WebSocket once its tail is queued
    int m_tailCloseCode = 0;
    QString m_tailCloseReason;
    bool m_closeDeferred = false; // TLS: close once the queued bytes are sent (see closeWs)
    int m_deferredCloseCode = 0;
    QString m_deferredCloseReason;
    bool m_kickPending = false;
    bool m_tcpFlushPending = false;
    bool m_pumping = false;
    bool m_draining = false;
    bool m_finished = false;
};

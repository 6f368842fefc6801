// One tunnel: joins a TCP socket and a WebSocket, relays bytes both ways with flow control,
// keep-alive and the close rules of the wire contract.
#pragma once

#include "framereader.h"
#include "relayoptions.h"
#include "relaystate.h"

#include <QBasicTimer>
#include <QElapsedTimer>
#include <QObject>
#include <QPointer>

class QAbstractSocket;
class QSslSocket;
class QTcpSocket;
class QWebSocket;

class Relay : public QObject
{
    Q_OBJECT
public:
    // Takes ownership of both sockets. The WebSocket must be open (its handshake done); the TCP
    // socket may still be connecting (server side), its writes are then buffered until it
    // connects. From here on the relay reads the WebSocket's frames itself (FrameReader) and
    // writes its data, close, pong and keep-alive frames itself (BinaryFrame), on the socket
    // QWebSocket runs on; QWebSocket only sends pings (PingKeepAlive) and reports the socket's
    // state.
    // serverTransport is that socket when our server accepted it; nullptr on the client side,
    // where QWebSocket made it (frames we send are then masked).
    // description names the tunnel in logs ("127.0.0.1:5312 -> example.org:22"); no secrets.
    Relay(QTcpSocket *tcp, QWebSocket *ws, QTcpSocket *serverTransport, const RelayOptions &options,
          const QString &description, QObject *parent = nullptr);
    ~Relay() override;

    // Bytes relayed each way, as transferred() reports them. TCP -> WebSocket: payload queued
    // in frames towards the peer. WebSocket -> TCP: what was written to the TCP socket's kernel,
    // which bytesWsAccepted() may exceed by what was still queued when the tunnel ended.
    qint64 bytesTcpToWs() const { return m_bytesTcpToWs; }
    qint64 bytesWsToTcp() const { return m_bytesWsToTcp; }
    // Payload taken from the WebSocket peer's frames for the TCP side, written or not.
    qint64 bytesWsAccepted() const { return m_bytesWsAccepted; }

    // Largest number of bytes ever queued towards each side. Flow control keeps them near the
    // high watermark: these are what the tests assert to prove memory stays bounded.
    qint64 peakTcpQueuedBytes() const { return m_peakTcpQueued; }
    qint64 peakWsQueuedBytes() const { return m_peakWsQueued; }

    // Why the tunnel ended, for logs and tests ("tcp closed", "tcp reset",
    // "websocket closed (1000)", ...).
    QString closeReason() const { return m_state.reason(); }
    // Whether the TCP peer reset the connection (RST) rather than closing it. Known only where
    // the event loop can tell (SocketErrorWatch: the headless faces on Linux); elsewhere a reset
    // looks like a normal close and this stays false.
    bool tcpWasReset() const;
    bool isFinished() const { return m_state.isFinished(); }
    // Whether reading the WebSocket is held back (its TCP side is slow): frames then wait.
    bool isWsReadingPaused() const { return m_state.wsReadPaused(); }
    // How often the tunnel went idle and gave its sockets' buffers back.
    int bufferReleases() const { return m_bufferReleases; }

    // Server side: connects the TCP socket (given unconnected) once the relay watches it, so that
    // even an immediate failure is reported through tcpConnectFailed().
    void connectTcp(const QString &host, quint16 port);

    // Asks both sides to close (e.g. at shutdown): WebSocket close code 1001, TCP after its
    // pending bytes. reason ends the "tunnel closed" log line (empty: "server shutting down").
    void shutdown(const QString &reason = QString());

Q_SIGNALS:
    // Bytes just moved, for live counters and metrics (what bytesTcpToWs() and bytesWsToTcp()
    // count).
    void transferred(qint64 tcpToWsBytes, qint64 wsToTcpBytes);
    // Frames arrived from the WebSocket peer (data, keep-alives or control frames).
    void wsFramesReceived();
    // The WebSocket peer answered a ping.
    void pongReceived();
    // The TCP side could not be connected (server side: remote unreachable).
    void tcpConnectFailed(const QString &error);
    // Both sides are closed; the relay can be deleted (deleteLater).
    void finished();

protected:
    void timerEvent(QTimerEvent *event) override;

private:
    void onTcpConnected();
    void onTcpBytesWritten(int channel, qint64 bytes);
    void watch(); // keep-alive, probes and stalls, at every keep-alive interval
    void closeStalled(RelayState::WatchAction stall);
    void onTcpDisconnected();
    void onTcpError();
    void watchTcpErrors(); // the TCP socket has just connected
    void takeTcpError(); // the TCP socket has just closed
    void onWsDisconnected();
    void onTransportDisconnected(); // after onWsDisconnected(); for TLS, after the last decrypt
    void readRestAndEndWs(); // the transport is closed: deliver what it holds, then end
    void onWsBytesWritten();

    // Bytes queued towards the WebSocket peer, including those already encrypted (TLS).
    qint64 wsQueuedBytes() const;
    void pumpTcpToWs();
    qint64 sendToWs(); // one frame from TCP's buffer; returns its payload size
    void writeWsFrame(quint8 opcode, const QByteArray &payload);
    quint32 nextMaskingKey() const;

    // The WebSocket -> TCP direction: frames are read as long as TCP keeps up.
    void readWsFrames();
    void onTransportReadyRead(); // TLS: one read per pass of decryption, not per 4 KiB
    // false: stop reading. accepted: payload taken for TCP; written: the part of it written to
    // the kernel at once.
    bool handleWsEvent(FrameReader::Event &event, qint64 *accepted, qint64 *written);
    void failWs(const RelayState::CloseFrame &frame, const QString &logText);
    void pauseWsReading();
    void resumeWsReading(); // when both queues have room again
    void scheduleWsRead();
    void kickTransport();

    void closeWs(const RelayState::CloseFrame &frame);
    void closeTransportAfterWrite();
    void closeTcpAfterFlush();
    void checkCloseProgress();
    void endWs();
    void checkIdle();
    void scheduleBufferRelease(); // the sockets' buffers were just used
    void releaseIdleBuffers();
    void checkFinished();

    QTcpSocket *m_tcp;
    QWebSocket *m_ws;
    QPointer<QAbstractSocket> m_transport; // the socket the WebSocket runs on
    QPointer<QSslSocket> m_sslTransport; // the same, when it is a TLS socket
    bool m_maskFrames; // client side: frames to the server are masked (RFC 6455 5.3)
    bool m_wsWriteThrough = false; // small frames may go straight to the kernel (plain ws://)
    RelayOptions m_options;
    QString m_description;
    FrameReader m_reader;
    // Each side's state and the close rules; the reason the tunnel ended.
    RelayState m_state;

    // Basic timers: no object, no connection and no allocation each, for many thousand tunnels.
    QBasicTimer m_watchTimer; // single shot: keep-alive, probes and stalls (watch())
    QBasicTimer m_closeTimer; // repeats while closing
    QBasicTimer m_idleTimer; // single shot
    QBasicTimer m_releaseTimer; // single shot, started when buffers are used
    QElapsedTimer m_sinceData; // since the last byte moved either way
    QElapsedTimer m_age;
    // Since each side last took bytes queued for it (or had nothing queued): how stalls are seen,
    // open or closing.
    QElapsedTimer m_tcpProgress;
    QElapsedTimer m_wsProgress;

    qint64 m_bytesTcpToWs = 0;
    qint64 m_bytesWsToTcp = 0;
    qint64 m_bytesWsAccepted = 0;
    qint64 m_peakTcpQueued = 0;
    qint64 m_peakWsQueued = 0;
    int m_bufferReleases = 0;
    // The TCP socket's descriptor while SocketErrorWatch records its error (-1: not watched),
    // and the error it recorded (an errno value; 0: none).
    qintptr m_tcpWatchedDescriptor = -1;
    int m_tcpSocketError = 0;

    bool m_tcpWriteThrough = false; // small writes may go straight to the kernel (WriteThrough)
    // Re-entry guards and queued work, not states.
    bool m_wsReadPending = false;
    bool m_pumping = false;
    bool m_reading = false;
    bool m_tlsReadQueued = false; // onTransportReadyRead() queued a read
    bool m_endWsAfterRead = false; // the transport closed while frames were being read
};

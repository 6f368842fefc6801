// Tuning of one relay: watermarks, frame limits and keep-alive, with the defaults we ship.
#pragma once

#include <QtGlobal>

struct RelayOptions
{
    // Bytes queued towards one side above which we stop reading from the other side, and below
    // which we start again. They bound the memory of a tunnel whatever the speed of either peer.
    qint64 highWatermarkBytes = 1024 * 1024;
    qint64 lowWatermarkBytes = 256 * 1024;

    // Largest WebSocket frame and message we accept; bigger ones are refused with close code 1009
    // as soon as their header arrives. The original sends 1 KiB frames. Frames are read as they
    // arrive, never buffered whole, so this bounds no memory: it is a policy limit.
    qint64 maxIncomingFrameBytes = 4 * 1024 * 1024;

    // Most bytes read ahead from the socket a WebSocket runs on before the kernel applies
    // back-pressure (the same for TLS, decrypted).
    qint64 wsReadBufferBytes = 1024 * 1024;

    // Largest frame we send. 1 MiB measured best with Qt 6.4 (fewer, larger writes).
    qint64 maxOutgoingFrameBytes = 1024 * 1024;

    // Most bytes read ahead from the TCP socket before the kernel applies back-pressure.
    qint64 tcpReadBufferBytes = 1024 * 1024;

    // An empty binary message is sent after this much idleness (0: never), as the original does.
    int keepAliveIntervalMs = 10000;

    // A tunnel that moves no data either way for this long is closed (0: never). Keep-alive
    // messages do not count as data.
    int idleTimeoutMs = 0;

    // This long after data last moved, a tunnel gives back the buffers its sockets keep
    // (IdleBuffers), so that idle tunnels cost little memory (0: never). Keep-alives and pongs
    // do not count as data: what they used is given back at the next look.
    int bufferReleaseDelayMs = 2000;

    // How long a closing WebSocket may take to finish its closing handshake before it is aborted.
    int closeTimeoutMs = 5000;

    // A side that takes none of the bytes queued for it for this long is given up: the tunnel is
    // closed, logged as such (0: never). A peer may pause for a while (the remote busy with a
    // long query), but one that reads nothing for minutes holds the tunnel's buffers for good.
    // Checked at every keep-alive interval (every 10 s at most), so a tunnel closes up to that
    // much later.
    int stallTimeoutMs = 120000;

    // While closing, a side that takes none of its last bytes for this long is given up, counted
    // from its last progress (also when that was before the close).
    int closeStallTimeoutMs = 30000;

    // Not a setting: set by whoever accepted the tunnel's accepted socket (the client's TCP
    // socket, the server's WebSocket transport) when it came with no delay and keep-alive with
    // its timing already, inherited from its listening socket (BackoffTcpServer). The relay then
    // sets them only on the other socket.
    bool acceptedSocketTuned = false;
};

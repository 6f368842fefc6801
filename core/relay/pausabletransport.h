// What a relay needs from a server-side socket it can pause: hide its incoming bytes from
// QWebSocket (see PausableTcpSocket for why), for plain and TLS sockets alike.
#pragma once

#include <QtGlobal>

class PausableTransport
{
public:
    virtual ~PausableTransport() = default;

    virtual void setPaused(bool paused) = 0;
    virtual bool isPaused() const = 0;
    // The bytes really buffered, also while paused.
    virtual qint64 bufferedBytes() const = 0;
};

// Sends a few bytes to a local port that leads (through a tunnel) to an EchoServer and tells
// whether the same bytes come back: the end-to-end "does this tunnel work" of integration tests.
#pragma once

#include <QString>
#include <QtGlobal>

// True when the bytes came back within timeoutMs; otherwise false with what happened in *why.
bool echoThrough(quint16 port, QString *why, int timeoutMs = 30000);

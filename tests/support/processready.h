// Waiting for a third-party server started by a test (nginx, tinyproxy, microsocks) to accept
// connections on its loopback port.
#pragma once

#include <QProcess>

// True once 127.0.0.1:port accepts a connection while process runs; false if the process ends
// or timeoutMs passes first.
bool waitUntilAccepting(QProcess &process, quint16 port, int timeoutMs = 20000);

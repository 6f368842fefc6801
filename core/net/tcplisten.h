// Starting a QTcpServer on an address as the user wrote it, with the errors a person can read.
#pragma once

#include "hostport.h"

class QTcpServer;

namespace TcpListen {

// Resolves address (host names included), sets a backlog large enough for bursts of connections
// and listens. On failure returns false with one readable line in *error ("cannot listen on
// :8080: the port is already in use").
bool listen(QTcpServer *server, const HostPort &address, QString *error);

} // namespace TcpListen

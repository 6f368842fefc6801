// A loopback port number for what must be given one instead of listening on port 0 and reporting
// the port it got: a profile (which refuses port 0), nginx's and tinyproxy's configurations, an
// address where nothing listens.
#pragma once

#include <QtGlobal>

// A port on 127.0.0.1 that nothing listens on, and that the system does not hand out to anyone
// else for a minute: not to a listen on port 0, nor as the local end of a connection, which is
// how every other test running at the same time (ctest -j2) gets its ports. A probe that only
// listens on port 0 and closes leaves the number free for them to take before our server binds
// it. A server given the number can listen on it (with SO_REUSEADDR, which QTcpServer, nginx,
// tinyproxy and microsocks set). 0 on failure.
//
// How: the port is left holding a connection in TIME_WAIT, which Linux keeps for 60 s and passes
// over when it picks a port, as long as it has others free. Elsewhere: a port free a moment ago.
quint16 reserveLoopbackPort();

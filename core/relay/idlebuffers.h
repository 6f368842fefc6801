// Giving back what an idle tunnel's sockets hold in memory, so that thousands of mostly idle
// tunnels (SSH sessions, database pools) cost little.
//
// Why: once a buffered QAbstractSocket (Qt 6.4) has read or written, it keeps a buffer chunk each
// way (16 KiB to read, 32 KiB to write), emptied but allocated, for as long as it lives. And
// glibc keeps the pages of freed memory inside its heap unless asked to give them back. Between
// them they were 2-4 KB of an idle tunnel's 18-21 KB in each process (see README, Performance).
#pragma once

class QAbstractSocket;

namespace IdleBuffers {

// Frees socket's buffer chunks when nothing is in them: both its read and write buffers empty,
// no read transaction open (its bytes are not counted as available), connected. A QSslSocket
// once encrypted, with the buffers of its inner plain socket, all empty too. The next read or
// write allocates again. Returns whether it freed them.
bool release(QAbstractSocket *socket);

// Has the C library give the free pages in its heap back to the system, once for all calls
// made within a second (glibc's malloc_trim(); elsewhere nothing). Needs an event loop.
void returnFreedPages();

// How many passes returnFreedPages() has made in this process so far (malloc_trim() calls, what
// ever each gave back).
int returnPasses();

} // namespace IdleBuffers

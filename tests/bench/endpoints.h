// Loopback endpoints for the benchmark, on plain POSIX sockets and threads so that they cost
// little next to the tunnels measured: a sink (counts and checksums, optionally reading slowly),
// a source (sends a known stream, then closes) and an epoll echo server for thousands of
// connections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bench {

// A cheap checksum both ends compute over the byte stream: FNV-style multiply chains over
// 8-byte words in four interleaved lanes (independent chains run in parallel on the CPU), the
// trailing bytes and the length folded in at the end. The same stream gives the same value
// however it is split into add() calls.
class Checksum
{
public:
    void add(const char *data, size_t size);
    uint64_t value() const;

private:
    void addWord(uint64_t word) { mix(m_lanes[m_words++ & 3], word); }
    static void mix(uint64_t &lane, uint64_t word)
    {
        lane ^= word;
        lane *= 1099511628211ull;
    }

    uint64_t m_lanes[4] = {14695981039346656037ull, 1, 2, 3};
    uint64_t m_words = 0;
    unsigned char m_pending[8] = {};
    size_t m_pendingSize = 0;
};

// The pattern byte at a stream offset: sender and receiver agree without storing data. Byte x is
// byte x % 8 (little-endian) of a 64-bit hash of x / 8, cheap to make eight bytes at a time.
void fillPattern(char *buffer, size_t size, uint64_t offset);

int listenLoopback(uint16_t *port);
int connectLoopback(uint16_t port, bool noDelay = true);
void setNoDelay(int fd);

// Accepts connections on a loopback port and serves each on its own thread; the destructor stops
// accepting and waits for every connection's thread.
class ThreadPerConnectionServer
{
public:
    explicit ThreadPerConnectionServer(std::function<void(int fd)> serve);
    ~ThreadPerConnectionServer();
    uint16_t port() const { return m_port; }

private:
    std::function<void(int fd)> m_serve;
    int m_listenFd = -1;
    uint16_t m_port = 0;
    std::vector<std::thread> m_threads;
    std::thread m_acceptThread;
};

class SinkEndpoint
{
public:
    struct Result
    {
        uint64_t bytes = 0;
        uint64_t checksum = 0;
    };
    uint16_t port() const { return m_server.port(); }
    // Slow reading: bytesPerSecond for `seconds` after each accept, then full speed.
    void setSlow(uint64_t bytesPerSecond, double seconds);
    uint64_t bytesRead() const { return m_bytesRead.load(); }
    // Waits for the next finished connection (false on timeout).
    bool waitResult(Result *result, int timeoutMs);

private:
    void serve(int fd);

    std::atomic<uint64_t> m_bytesRead {0};
    uint64_t m_slowRate = 0;
    double m_slowSeconds = 0;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<Result> m_results;
    // Last: its threads use the members above, so it stops before they go.
    ThreadPerConnectionServer m_server {[this](int fd) { serve(fd); }};
};

class SourceEndpoint
{
public:
    explicit SourceEndpoint(uint64_t bytesPerConnection) : m_bytes(bytesPerConnection) { }
    uint16_t port() const { return m_server.port(); }
    void setBytes(uint64_t bytes) { m_bytes = bytes; }
    // Bytes the kernel accepted from us so far, over all connections.
    uint64_t bytesWritten() const { return m_written.load(); }

private:
    void serve(int fd);

    std::atomic<uint64_t> m_bytes;
    std::atomic<uint64_t> m_written {0};
    ThreadPerConnectionServer m_server {[this](int fd) { serve(fd); }}; // last, as above
};

class EchoEndpoint
{
public:
    EchoEndpoint();
    ~EchoEndpoint();
    uint16_t port() const { return m_port; }

private:
    void loop();

    int m_listenFd = -1;
    int m_epollFd = -1;
    int m_wakeFd = -1;
    uint16_t m_port = 0;
    std::atomic<bool> m_stop {false};
    std::thread m_thread;
};

} // namespace bench

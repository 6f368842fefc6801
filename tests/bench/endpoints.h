// Loopback endpoints for the benchmark, on plain POSIX sockets and threads so that they cost
// little next to the tunnels measured: a sink (counts and compares with the pattern, optionally
// reading slowly), a source (sends a known stream, then closes) and an epoll echo server for
// thousands of connections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bench {

// The stream every workload sends: a block of pseudo-random bytes, repeated. Senders write
// straight from it and receivers compare with it, so the endpoints do no work per byte beyond a
// memcmp and stay cheap beside the tunnels they measure. The period is not a power of two, so it
// lines up with no buffer or frame size: a lost, repeated or reordered piece shows as a mismatch
// (a count check catches the rest).
constexpr size_t kPatternPeriod = (1 << 20) + 4099;
// Most bytes patternAt() has in a row.
constexpr size_t kPatternRun = 1 << 20;

// The pattern from a stream offset on: at least kPatternRun bytes in a row.
const char *patternAt(uint64_t offset);
void fillPattern(char *buffer, size_t size, uint64_t offset);

// Compares a received stream with the pattern, however it is split into add() calls.
class PatternCheck
{
public:
    void add(const char *data, size_t size);
    uint64_t bytes() const { return m_bytes; }
    bool intact() const { return m_intact; }

private:
    uint64_t m_bytes = 0;
    bool m_intact = true;
};

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
        bool intact = false; // every byte as sent
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

// Echoes every datagram to its sender, on 127.0.0.1, from its own thread.
class UdpEchoEndpoint
{
public:
    UdpEchoEndpoint();
    ~UdpEchoEndpoint();
    uint16_t port() const { return m_port; }

private:
    void loop();

    int m_fd = -1;
    uint16_t m_port = 0;
    std::atomic<bool> m_stop {false};
    std::thread m_thread;
};

} // namespace bench

#include "endpoints.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bench {

namespace {
constexpr size_t kIoChunk = 1 << 20;
using Clock = std::chrono::steady_clock;
} // namespace

namespace {

// Byte x of the pattern is byte x % 8 (little-endian) of a 64-bit hash of x / 8.
char patternByte(uint64_t offset)
{
    uint64_t x = (offset / 8 + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return char(x >> (8 * (offset % 8)));
}

// One period and kPatternRun bytes more, so that a run from any offset is contiguous.
const std::vector<char> &patternBlock()
{
    static const std::vector<char> block = [] {
        std::vector<char> bytes(kPatternPeriod + kPatternRun);
        for (size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = patternByte(i % kPatternPeriod);
        return bytes;
    }();
    return block;
}

} // namespace

const char *patternAt(uint64_t offset)
{
    return patternBlock().data() + offset % kPatternPeriod;
}

void fillPattern(char *buffer, size_t size, uint64_t offset)
{
    for (size_t done = 0; done < size;) {
        const size_t n = std::min(size - done, kPatternRun);
        std::memcpy(buffer + done, patternAt(offset + done), n);
        done += n;
    }
}

void PatternCheck::add(const char *data, size_t size)
{
    for (size_t done = 0; done < size;) {
        const size_t n = std::min(size - done, kPatternRun);
        if (m_intact && std::memcmp(data + done, patternAt(m_bytes), n) != 0)
            m_intact = false;
        done += n;
        m_bytes += n;
    }
}

void setNoDelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int listenLoopback(uint16_t *port)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0
        || listen(fd, 4096) != 0) {
        close(fd);
        return -1;
    }
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length);
    *port = ntohs(address.sin_port);
    return fd;
}

int connectLoopback(uint16_t port, bool noDelay)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
        const int error = errno; // for the caller's report
        close(fd);
        errno = error;
        return -1;
    }
    if (noDelay)
        setNoDelay(fd);
    return fd;
}

ThreadPerConnectionServer::ThreadPerConnectionServer(std::function<void(int fd)> serve)
    : m_serve(std::move(serve))
{
    m_listenFd = listenLoopback(&m_port);
    m_acceptThread = std::thread([this] {
        for (;;) {
            const int fd = accept4(m_listenFd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0)
                break; // shut down by the destructor
            m_threads.emplace_back(m_serve, fd);
        }
    });
}

ThreadPerConnectionServer::~ThreadPerConnectionServer()
{
    shutdown(m_listenFd, SHUT_RDWR);
    m_acceptThread.join();
    for (auto &thread : m_threads)
        thread.join();
    close(m_listenFd);
}

void SinkEndpoint::setSlow(uint64_t bytesPerSecond, double seconds)
{
    m_slowRate = bytesPerSecond;
    m_slowSeconds = seconds;
}

void SinkEndpoint::serve(int fd)
{
    std::vector<char> buffer(kIoChunk);
    PatternCheck check;
    uint64_t total = 0;
    const auto start = Clock::now();
    if (m_slowRate > 0) {
        int small = 64 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    for (;;) {
        size_t want = buffer.size();
        if (m_slowRate > 0) {
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            if (elapsed < m_slowSeconds) {
                const uint64_t allowed = uint64_t(elapsed * double(m_slowRate)) + 1;
                if (total >= allowed) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    continue;
                }
                want = std::min<size_t>(want, allowed - total);
            }
        }
        const ssize_t n = read(fd, buffer.data(), want);
        if (n <= 0)
            break;
        check.add(buffer.data(), size_t(n));
        total += uint64_t(n);
        m_bytesRead += uint64_t(n);
    }
    close(fd);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_results.push_back({total, check.intact()});
    m_cv.notify_all();
}

bool SinkEndpoint::waitResult(Result *result, int timeoutMs)
{
    std::unique_lock<std::mutex> lock(m_mutex);
    if (!m_cv.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                       [this] { return !m_results.empty(); }))
        return false;
    *result = m_results.front();
    m_results.erase(m_results.begin());
    return true;
}

void SourceEndpoint::serve(int fd)
{
    const uint64_t bytes = m_bytes;
    uint64_t sent = 0;
    while (sent < bytes) {
        const size_t n = size_t(std::min<uint64_t>(kPatternRun, bytes - sent));
        const ssize_t w = write(fd, patternAt(sent), n);
        if (w <= 0)
            break;
        sent += uint64_t(w);
        m_written += uint64_t(w);
    }
    close(fd);
}

EchoEndpoint::EchoEndpoint()
{
    m_listenFd = listenLoopback(&m_port);
    fcntl(m_listenFd, F_SETFL, O_NONBLOCK);
    m_epollFd = epoll_create1(EPOLL_CLOEXEC);
    m_wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event event {};
    event.events = EPOLLIN;
    event.data.fd = m_listenFd;
    epoll_ctl(m_epollFd, EPOLL_CTL_ADD, m_listenFd, &event);
    event.data.fd = m_wakeFd;
    epoll_ctl(m_epollFd, EPOLL_CTL_ADD, m_wakeFd, &event);
    m_thread = std::thread([this] { loop(); });
}

EchoEndpoint::~EchoEndpoint()
{
    m_stop = true;
    const uint64_t one = 1;
    [[maybe_unused]] const auto written = write(m_wakeFd, &one, sizeof one);
    m_thread.join();
    close(m_listenFd);
    close(m_epollFd);
    close(m_wakeFd);
}

void EchoEndpoint::loop()
{
    std::vector<epoll_event> events(256);
    std::vector<char> buffer(64 * 1024);
    std::vector<int> open;
    while (!m_stop) {
        const int count = epoll_wait(m_epollFd, events.data(), int(events.size()), 200);
        for (int i = 0; i < count; ++i) {
            const int fd = events[i].data.fd;
            if (fd == m_wakeFd)
                continue;
            if (fd == m_listenFd) {
                for (;;) {
                    const int client =
                        accept4(m_listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (client < 0)
                        break;
                    setNoDelay(client);
                    epoll_event event {};
                    event.events = EPOLLIN;
                    event.data.fd = client;
                    epoll_ctl(m_epollFd, EPOLL_CTL_ADD, client, &event);
                    open.push_back(client);
                }
                continue;
            }
            const ssize_t n = read(fd, buffer.data(), buffer.size());
            if (n <= 0) {
                epoll_ctl(m_epollFd, EPOLL_CTL_DEL, fd, nullptr);
                close(fd);
                open.erase(std::remove(open.begin(), open.end(), fd), open.end());
                continue;
            }
            // Echo traffic is small (round trips, setup probes): a blocking-style retry is fine.
            ssize_t done = 0;
            while (done < n) {
                const ssize_t w = write(fd, buffer.data() + done, size_t(n - done));
                if (w > 0)
                    done += w;
                else if (w < 0 && errno != EAGAIN)
                    break;
            }
        }
    }
    for (int fd : open)
        close(fd);
}

UdpEchoEndpoint::UdpEchoEndpoint()
{
    m_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int buffer = 4 << 20;
    setsockopt(m_fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    setsockopt(m_fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    // Wakes up now and then to see m_stop.
    timeval timeout {0, 100000};
    setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(m_fd, reinterpret_cast<sockaddr *>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(m_fd, reinterpret_cast<sockaddr *>(&address), &length);
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { loop(); });
}

UdpEchoEndpoint::~UdpEchoEndpoint()
{
    m_stop = true;
    m_thread.join();
    close(m_fd);
}

void UdpEchoEndpoint::loop()
{
    std::vector<char> buffer(65536);
    while (!m_stop) {
        sockaddr_storage from {};
        socklen_t length = sizeof from;
        const ssize_t n = recvfrom(m_fd, buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr *>(&from), &length);
        if (n >= 0)
            sendto(m_fd, buffer.data(), size_t(n), 0, reinterpret_cast<sockaddr *>(&from), length);
    }
}

} // namespace bench

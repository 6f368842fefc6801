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

void Checksum::add(const char *data, size_t size)
{
    while (size > 0 && m_pendingSize > 0) {
        m_pending[m_pendingSize++] = static_cast<unsigned char>(*data++);
        --size;
        if (m_pendingSize == 8) {
            uint64_t word;
            std::memcpy(&word, m_pending, 8);
            addWord(word);
            m_pendingSize = 0;
        }
    }
    while (size >= 8 && (m_words & 3) != 0) {
        uint64_t word;
        std::memcpy(&word, data, 8);
        addWord(word);
        data += 8;
        size -= 8;
    }
    // Lane i takes word i of every 32 bytes: four chains with no dependency between them.
    while (size >= 32) {
        uint64_t words[4];
        std::memcpy(words, data, 32);
        for (int lane = 0; lane < 4; ++lane)
            mix(m_lanes[lane], words[lane]);
        m_words += 4;
        data += 32;
        size -= 32;
    }
    while (size >= 8) {
        uint64_t word;
        std::memcpy(&word, data, 8);
        addWord(word);
        data += 8;
        size -= 8;
    }
    while (size > 0) {
        m_pending[m_pendingSize++] = static_cast<unsigned char>(*data++);
        --size;
    }
}

uint64_t Checksum::value() const
{
    uint64_t result = 14695981039346656037ull;
    for (const uint64_t lane : m_lanes)
        mix(result, lane);
    uint64_t tail = 0;
    std::memcpy(&tail, m_pending, m_pendingSize);
    mix(result, tail);
    mix(result, m_words * 8 + m_pendingSize);
    return result;
}

namespace {

uint64_t patternWord(uint64_t index)
{
    uint64_t x = (index + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x); // stored with memcpy: the same bytes on every machine
#endif
    return x;
}

char patternByte(uint64_t offset)
{
    const uint64_t word = patternWord(offset / 8);
    char bytes[8];
    std::memcpy(bytes, &word, 8);
    return bytes[offset % 8];
}

} // namespace

void fillPattern(char *buffer, size_t size, uint64_t offset)
{
    size_t i = 0;
    // Up to the next word boundary of the stream, then whole words, then the rest.
    while (i < size && (offset + i) % 8 != 0) {
        const uint64_t x = offset + i;
        buffer[i++] = patternByte(x);
    }
    for (; i + 8 <= size; i += 8) {
        const uint64_t word = patternWord((offset + i) / 8);
        std::memcpy(buffer + i, &word, 8);
    }
    for (; i < size; ++i) {
        const uint64_t x = offset + i;
        buffer[i] = patternByte(x);
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
    Checksum checksum;
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
        checksum.add(buffer.data(), size_t(n));
        total += uint64_t(n);
        m_bytesRead += uint64_t(n);
    }
    close(fd);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_results.push_back({total, checksum.value()});
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
    std::vector<char> buffer(kIoChunk);
    uint64_t sent = 0;
    while (sent < bytes) {
        const size_t n = size_t(std::min<uint64_t>(buffer.size(), bytes - sent));
        fillPattern(buffer.data(), n, sent);
        size_t done = 0;
        while (done < n) {
            const ssize_t w = write(fd, buffer.data() + done, n - done);
            if (w <= 0) {
                close(fd);
                return;
            }
            done += size_t(w);
            m_written += uint64_t(w);
        }
        sent += n;
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

} // namespace bench

// backend_loop.h - the skeleton the single-threaded epoll benchmark backends
// (tcp_backend, http_backend, ws_echo_backend) share: signal setup, loopback
// listeners, accepting into a connection table indexed by fd, and the bounded
// event loop. Each backend keeps only its protocol.
//
// Header-only like ws_common.h: each tool is built with a single g++ command.
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "ws_common.h"

namespace bench {

// epoll data of an event: a connection's fd, or kListener | i for listener i.
constexpr uint64_t kListener = uint64_t(1) << 32;

// EPOLL_CTL_ADD / EPOLL_CTL_MOD of fd with the given events and data.
inline bool epoll_set(int ep, int op, int fd, uint32_t events, uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(ep, op, fd, &ev) == 0;
}

// The same for a connection: its data is its fd.
inline bool epoll_set(int ep, int op, int fd, uint32_t events) {
    return epoll_set(ep, op, fd, events, uint64_t(fd));
}

// SIGINT/SIGTERM run on_stop, SIGUSR1 on_usr1 (if given: otherwise it keeps
// its default, exit); SIGPIPE is ignored.
inline void install_signals(void (*on_stop)(int), void (*on_usr1)(int) = nullptr) {
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa{};
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    if (on_usr1) {
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, nullptr);
    }
}

// Listens on 127.0.0.1:port as listener idx of ep and announces it with
// "LISTENING 127.0.0.1:PORT" on stdout (run.sh waits for that line).
// Returns the fd, or -1 after saying why on stderr.
inline int open_listener(const char* tool, int ep, uint16_t port, size_t idx = 0) {
    int lfd = listen_loopback(port);
    if (lfd < 0) {
        fprintf(stderr, "%s: listen 127.0.0.1:%u: %s\n", tool, port, strerror(errno));
        return -1;
    }
    epoll_set(ep, EPOLL_CTL_ADD, lfd, EPOLLIN, kListener | idx);
    printf("LISTENING 127.0.0.1:%u\n", port);
    fflush(stdout);
    return lfd;
}

// The connection an event is for, or nullptr: one closed earlier in the same
// batch leaves a null slot (and one accepted on its fd since may get a stale
// event, which the handlers take as a spurious wakeup).
template <class Conn>
Conn* conn_at(const std::vector<std::unique_ptr<Conn>>& conns, uint64_t fd) {
    return fd < conns.size() ? conns[size_t(fd)].get() : nullptr;
}

// Puts connections (a Conn has an int fd) into a table indexed by fd, watched
// for EPOLLIN, and counts them; the backend decrements live when it closes one.
struct Acceptor {
    const char* warn_as = nullptr;  // tool name for accept warnings on stderr; nullptr: none
    size_t max_live = SIZE_MAX;     // live at most; one more is closed at once
    int batch = 256;                // accepts per listener event, so connections take turns
    int reserve_fd = -1;            // see keep_reserve()
    bool warned = false;            // "out of file descriptors" is said once
    size_t live = 0;
    uint64_t accepted = 0;

    // Holds a spare fd so that at EMFILE/ENFILE one pending connection can be
    // accepted and dropped: level-triggered epoll would spin on it otherwise.
    void keep_reserve() { reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); }

    // Adds fd as a new Conn; nullptr (fd closed) if epoll refuses it.
    template <class Conn>
    Conn* adopt(int ep, std::vector<std::unique_ptr<Conn>>& conns, int fd) {
        if (!epoll_set(ep, EPOLL_CTL_ADD, fd, EPOLLIN)) {
            close(fd);
            return nullptr;
        }
        if (size_t(fd) >= conns.size()) conns.resize(size_t(fd) * 2 + 64);
        conns[size_t(fd)] = std::make_unique<Conn>();
        conns[size_t(fd)]->fd = fd;
        live++;
        return conns[size_t(fd)].get();
    }

    // Accepts what is pending on listener lfd; init(Conn&) fills in the
    // backend's own fields of each new connection.
    template <class Conn, class Init>
    void accept_all(int ep, int lfd, std::vector<std::unique_ptr<Conn>>& conns, Init&& init) {
        for (int i = 0; i < batch; i++) {
            int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if (errno != EAGAIN) accept_failed(lfd);
                return;
            }
            if (live >= max_live) {
                close(fd);
                continue;
            }
            set_nodelay(fd);
            if (Conn* c = adopt(ep, conns, fd)) {
                init(*c);
                accepted++;
            }
        }
    }

    template <class Conn>
    void accept_all(int ep, int lfd, std::vector<std::unique_ptr<Conn>>& conns) {
        accept_all(ep, lfd, conns, [](Conn&) {});
    }

  private:
    void accept_failed(int lfd) {
        int err = errno;
        if ((err == EMFILE || err == ENFILE) && reserve_fd >= 0) {
            close(reserve_fd);
            int t = accept(lfd, nullptr, nullptr);
            if (t >= 0) close(t);
            keep_reserve();
            if (warn_as && !warned) fprintf(stderr, "%s: out of file descriptors\n", warn_as);
            warned = true;
        } else if (warn_as) {
            fprintf(stderr, "%s: accept: %s\n", warn_as, strerror(err));
        }
    }
};

// Runs the event loop until stop is set or lifetime seconds have passed: each
// round calls before_wait(), waits up to 500 ms (so that stop and the deadline
// are seen) and calls on_event(data, events) for each event. Returns main's
// exit code: 0, or 1 when epoll_wait fails.
template <class BeforeWait, class OnEvent>
int serve_loop(const char* tool, int ep, double lifetime, const volatile sig_atomic_t& stop,
               BeforeWait&& before_wait, OnEvent&& on_event) {
    uint64_t deadline = now_ns() + uint64_t(lifetime * 1e9);
    std::vector<epoll_event> evs(1024);
    while (!stop) {
        before_wait();
        if (now_ns() >= deadline) {
            fprintf(stderr, "%s: lifetime (%.0fs) reached, exiting\n", tool, lifetime);
            break;
        }
        int n = epoll_wait(ep, evs.data(), int(evs.size()), 500);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) on_event(evs[size_t(i)].data.u64, evs[size_t(i)].events);
    }
    return 0;
}

}  // namespace bench

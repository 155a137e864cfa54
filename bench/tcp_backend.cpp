// tcp_backend - single-threaded epoll TCP server for the stream {} benchmarks.
// Listens on 127.0.0.1 only. The first byte a client sends picks the mode of
// its connection; that byte itself is consumed:
//
//   'E'  echo: every later byte is sent back (backpressure: while the client
//        does not take the echo, its input is not read)
//   'S'  sink: read and discard, never answer
//   'G'  source: send the byte pattern (see below) until the peer closes;
//        anything it sends is read and discarded
//
// any other first byte closes the connection. The peer's FIN closes the
// connection (an echo reads it only once its output is out). Reads and
// writes are 64 KiB.
//
// Source pattern: byte i of the stream (from 0) is 'a' + i % 23 (a 23-byte
// period, so that 64 KiB chunks do not line up with it); tcp_load checks it.
//
//   tcp_backend -p PORT [-T LIFETIME_S] [-q]
//   tcp_backend --selftest
//
// Bounded: exits after LIFETIME_S seconds (default 3600) or on SIGINT/SIGTERM.
// SIGUSR1 prints "STATS accepted=... bytes_in=... bytes_out=..." on stdout.
#include "backend_loop.h"

using namespace bench;

namespace {

constexpr size_t kChunk = 65536;
constexpr size_t kPeriod = 23;

enum class Mode : uint8_t { New, Echo, Sink, Source };

struct Conn {
    int fd = -1;
    Mode mode = Mode::New;
    bool out_interest = false;  // echo: waiting for EPOLLOUT (input not read meanwhile)
    std::vector<char> out;      // echo: bytes not yet sent back
    size_t out_off = 0;
    uint64_t src_off = 0;       // source: pattern bytes sent so far
};

struct Stats {
    uint64_t echo = 0, sink = 0, source = 0, bad = 0, bytes_in = 0, bytes_out = 0;
} g_stats;

int g_ep = -1;
bool g_quiet = false;
Acceptor g_acc;
std::vector<std::unique_ptr<Conn>> g_conns;  // indexed by fd
std::vector<char> g_buf(kChunk);
std::vector<char> g_pattern;  // kChunk + kPeriod bytes of the source pattern
volatile sig_atomic_t g_stop = 0, g_stats_wanted = 0;

void on_signal(int) { g_stop = 1; }
void on_usr1(int) { g_stats_wanted = 1; }

void build_pattern() {
    g_pattern.resize(kChunk + kPeriod);
    for (size_t i = 0; i < g_pattern.size(); i++) g_pattern[i] = char('a' + i % kPeriod);
}

void close_conn(Conn* c) {
    if (c->fd < 0) return;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    g_acc.live--;
    g_conns[size_t(c->fd)].reset();  // c is gone
}

void set_events(Conn* c, uint32_t ev) { epoll_set(g_ep, EPOLL_CTL_MOD, c->fd, ev); }

// Echo: sends p[0..n) after what is queued; keeps what the socket does not
// take and then waits for EPOLLOUT instead of reading. False: c was closed.
bool echo_send(Conn* c, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            g_stats.bytes_out += uint64_t(w);
            p += w;
            n -= size_t(w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
        close_conn(c);
        return false;
    }
    if (n > 0) {
        c->out.assign(p, p + n);
        c->out_off = 0;
        c->out_interest = true;
        set_events(c, EPOLLOUT);
    }
    return true;
}

// Echo: EPOLLOUT while output is queued. False: c was closed.
bool echo_flush(Conn* c) {
    while (c->out_off < c->out.size()) {
        ssize_t w = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            g_stats.bytes_out += uint64_t(w);
            c->out_off += size_t(w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        close_conn(c);
        return false;
    }
    c->out.clear();
    c->out.shrink_to_fit();  // an idle connection holds no buffer
    c->out_off = 0;
    c->out_interest = false;
    set_events(c, EPOLLIN);
    return true;
}

// Source: writes pattern chunks until the socket is full.
void source_write(Conn* c) {
    for (int k = 0; k < 4; k++) {
        size_t off = size_t(c->src_off % kPeriod);
        ssize_t w = send(c->fd, g_pattern.data() + off, kChunk, MSG_NOSIGNAL);
        if (w > 0) {
            g_stats.bytes_out += uint64_t(w);
            c->src_off += uint64_t(w);
            if (size_t(w) < kChunk) return;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
        close_conn(c);
        return;
    }
}

// Input on c: at most a few chunks per event, so connections take turns.
void on_readable(Conn* c) {
    for (int k = 0; k < 4; k++) {
        ssize_t n = recv(c->fd, g_buf.data(), kChunk, 0);
        if (n == 0) {  // (an echo with output queued is not read: its FIN waits)
            close_conn(c);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            close_conn(c);
            return;
        }
        g_stats.bytes_in += uint64_t(n);
        const char* p = g_buf.data();
        size_t len = size_t(n);
        if (c->mode == Mode::New) {
            switch (p[0]) {
                case 'E': c->mode = Mode::Echo; g_stats.echo++; break;
                case 'S': c->mode = Mode::Sink; g_stats.sink++; break;
                case 'G':
                    c->mode = Mode::Source;
                    g_stats.source++;
                    set_events(c, EPOLLIN | EPOLLOUT);
                    break;
                default:
                    g_stats.bad++;
                    close_conn(c);
                    return;
            }
            p++;
            len--;
        }
        if (c->mode == Mode::Echo && len > 0) {
            if (!echo_send(c, p, len)) return;
            if (c->out_interest) return;  // wait for EPOLLOUT before reading more
        }
        if (size_t(n) < kChunk) return;  // drained
    }
}

void print_stats(FILE* f, const char* prefix) {
    fprintf(f,
            "%saccepted=%llu echo=%llu sink=%llu source=%llu bad=%llu bytes_in=%llu bytes_out=%llu "
            "live=%zu\n",
            prefix, (unsigned long long)g_acc.accepted, (unsigned long long)g_stats.echo,
            (unsigned long long)g_stats.sink, (unsigned long long)g_stats.source,
            (unsigned long long)g_stats.bad, (unsigned long long)g_stats.bytes_in,
            (unsigned long long)g_stats.bytes_out, g_acc.live);
    fflush(f);
}

// A socketpair through the real handlers: each mode once.
bool backend_selftest() {
    build_pattern();
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) return false;
    bool ok = true;
    auto conn = [&](int& peer) -> Conn* {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return nullptr;
        peer = sv[1];
        return g_acc.adopt(g_ep, g_conns, sv[0]);
    };
    char buf[256];
    int p = -1;
    // echo
    Conn* c = conn(p);
    ok &= c && write(p, "Ehello", 6) == 6;
    if (c) on_readable(c);
    ok &= read(p, buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0;
    close(p);
    if (c) on_readable(c);  // EOF: closed
    // sink
    c = conn(p);
    ok &= c && write(p, "Sxyz", 4) == 4;
    if (c) on_readable(c);
    ok &= read(p, buf, sizeof buf) < 0 && errno == EAGAIN;
    ok &= c && c->mode == Mode::Sink;
    close(p);
    if (c) on_readable(c);
    // source
    c = conn(p);
    ok &= c && write(p, "G", 1) == 1;
    if (c) {
        on_readable(c);
        source_write(c);
    }
    ssize_t n = read(p, buf, sizeof buf);
    ok &= n == ssize_t(sizeof buf);
    for (ssize_t i = 0; ok && i < n; i++) ok &= buf[i] == char('a' + size_t(i) % kPeriod);
    close(p);
    if (c) on_readable(c);
    // bad first byte: closed at once
    c = conn(p);
    ok &= c && write(p, "X", 1) == 1;
    if (c) on_readable(c);
    ok &= read(p, buf, sizeof buf) == 0;
    close(p);
    ok &= g_stats.echo == 1 && g_stats.sink == 1 && g_stats.source == 1 && g_stats.bad == 1;
    for (auto& x : g_conns) ok &= x == nullptr;
    close(g_ep);
    return ok;
}

void usage() {
    fprintf(stderr,
            "usage: tcp_backend -p PORT [-T LIFETIME_S] [-q]\n"
            "       tcp_backend --selftest\n");
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    double lifetime = 3600;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) {
                usage();
                exit(2);
            }
            return argv[++i];
        };
        if (a == "--selftest") {
            bool ok = backend_selftest();
            printf("selftest %s\n", ok ? "ok" : "FAILED");
            return ok ? 0 : 1;
        } else if (a == "-p") {
            port = atoi(val());
        } else if (a == "-T") {
            lifetime = atof(val());
        } else if (a == "-q") {
            g_quiet = true;
        } else {
            usage();
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || !(lifetime > 0)) {
        usage();
        return 2;
    }
    build_pattern();
    install_signals(on_signal, on_usr1);
    raise_nofile();
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    int lfd = open_listener("tcp_backend", g_ep, uint16_t(port));
    if (lfd < 0) return 1;
    g_acc.batch = 64;
    g_acc.keep_reserve();   // out of descriptors: shed a pending connection instead of spinning
    g_acc.warn_as = g_quiet ? nullptr : "tcp_backend";

    auto before_wait = [] {
        if (g_stats_wanted) {
            g_stats_wanted = 0;
            print_stats(stdout, "STATS ");
        }
    };
    auto on_event = [&](uint64_t d, uint32_t e) {
        if (d & kListener) return g_acc.accept_all(g_ep, lfd, g_conns);
        Conn* c = conn_at(g_conns, d);
        if (!c) return;
        if (c->mode == Mode::Echo && c->out_interest) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                if (!echo_flush(c)) return;
                on_readable(c);  // drained: resume reading
            }
            return;
        }
        if (c->mode == Mode::Source && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            source_write(c);
            if (!conn_at(g_conns, d)) return;  // closed
        }
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    };
    if (int rc = serve_loop("tcp_backend", g_ep, lifetime, g_stop, before_wait, on_event))
        return rc;
    if (!g_quiet) print_stats(stderr, "tcp_backend: ");
    return 0;
}

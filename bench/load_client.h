// load_client.h - the client side shared by the load generators ws_load and
// tls_load: their common options, the non-blocking TCP connect, epoll
// dispatch, the measured window with the CPU time of watched processes, and
// the non-blocking OpenSSL client (context, connection, error text).
//
// Header-only like ws_common.h; a tool that includes it links OpenSSL
// (-lssl -lcrypto).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ws_common.h"

namespace bench {

// ------------------------------------------------------------ options ----

// The options both load generators take.
struct LoadOpts {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string path;
    double duration = 10, warmup = 2;
    std::vector<int> watch;   // --watch-pids
    int tls_max_version = 0;  // 0 = highest the library offers (TLS 1.3)
    std::string sni = "localhost";

    explicit LoadOpts(std::string default_path) : path(std::move(default_path)) {}
};

// Reads a command line; errors go to usage(), which exits.
struct Args {
    const char* tool;
    int argc;
    char** argv;
    void (*usage)(const char* msg);
    int i;  // argv[i]: the option being read

    // The next option, or nullptr after the last.
    const char* next() { return ++i < argc ? argv[i] : nullptr; }

    // The value of the current option.
    const char* value() {
        if (i + 1 >= argc) usage("missing option value");
        return argv[++i];
    }

    // s as a number in [lo, hi]; otherwise says so and exits with status 2.
    double number(const char* s, double lo, double hi, const char* what) const {
        char* e = nullptr;
        double v = strtod(s, &e);
        if (!e || *e || !(v >= lo && v <= hi)) {
            fprintf(stderr, "%s: bad %s '%s' (range %g..%g)\n", tool, what, s, lo, hi);
            exit(2);
        }
        return v;
    }
    double number(double lo, double hi, const char* what) { return number(value(), lo, hi, what); }

    // Reads option a if it is one of LoadOpts'; returns false if it is not.
    bool load_option(std::string_view a, LoadOpts& o) {
        if (a == "--port") o.port = int(number(1, 65535, "port"));
        else if (a == "--host") o.host = value();
        else if (a == "--path") o.path = value();
        else if (a == "--duration") o.duration = number(0.1, 3600, "duration");
        else if (a == "--warmup") o.warmup = number(0, 600, "warmup");
        else if (a == "--sni") o.sni = value();
        else if (a == "--tls-version") {
            std::string_view v = value();
            if (v == "1.3") o.tls_max_version = TLS1_3_VERSION;
            else if (v == "1.2") o.tls_max_version = TLS1_2_VERSION;
            else usage("--tls-version must be 1.3 or 1.2");
        } else if (a == "--watch-pids") {
            std::string s = value();
            size_t pos = 0;
            while (pos < s.size()) {
                size_t c = s.find(',', pos);
                if (c == std::string::npos) c = s.size();
                o.watch.push_back(int(number(s.substr(pos, c - pos).c_str(), 1, 1 << 30, "pid")));
                pos = c + 1;
            }
        } else {
            return false;
        }
        return true;
    }

    // --port given, --path a plain absolute path.
    void check_load_opts(const LoadOpts& o) {
        if (!o.port) usage("--port is required");
        if (o.path.empty() || o.path[0] != '/' ||
            o.path.find_first_of(" \r\n") != std::string::npos)
            usage("--path must start with / and contain no spaces");
    }
};

// The address of --host/--port; false (and a message) unless it is in 127.0.0.0/8.
inline bool loopback_target(const char* tool, const LoadOpts& o, sockaddr_in& addr) {
    addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1 ||
        (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "%s: refusing target '%s': only 127.0.0.0/8 addresses allowed\n", tool,
                o.host.c_str());
        return false;
    }
    return true;
}

// Ignores SIGPIPE; handler() for each of sigs, without SA_RESTART (so
// epoll_wait returns EINTR).
inline void catch_signals(void (*handler)(int), std::initializer_list<int> sigs) {
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa{};
    sa.sa_handler = handler;
    for (int sig : sigs) sigaction(sig, &sa, nullptr);
}

// Prints the error of connection id on stderr: the first 10 of a run, then a
// note that the rest are not shown. reported counts the calls.
inline void report_conn_error(const char* tool, uint32_t id, const std::string& why,
                              int& reported) {
    constexpr int kMaxReports = 10;
    if (reported < kMaxReports)
        fprintf(stderr, "%s: conn %u: %s\n", tool, id, why.c_str());
    else if (reported == kMaxReports)
        fprintf(stderr, "%s: (further connection errors not shown)\n", tool);
    reported++;
}

// A failed connection: reports it (the first few) and counts it. True once a
// run has had so many that something is plainly broken: stop.
inline bool count_conn_error(const char* tool, uint32_t id, const std::string& why, long& errors, int& reported) {
    constexpr long kMaxErrors = 1000;
    report_conn_error(tool, id, why, reported);
    if (++errors != kMaxErrors) return false;
    fprintf(stderr, "%s: %ld errors, giving up\n", tool, errors);
    return true;
}

// ------------------------------------------------------------- idle ----
// The idle modes (ws_load idle, tcp_load idle), after "READY n": hold until
// `stop` or `hold_s` seconds, repeating "READY n held=Ns" every 5 s for the
// driver while `poll(timeout_ms)` runs the event loop (which counts peers
// that close). Returns the seconds held.
template <class Ready, class Poll>
double hold_idle(double hold_s, volatile sig_atomic_t& stop, Ready&& ready_now, Poll&& poll) {
    uint64_t start = now_ns();
    uint64_t end = start + uint64_t(hold_s * 1e9);
    uint64_t beat = start + 5000000000ull;
    while (!stop) {
        uint64_t now = now_ns();
        if (now >= end) break;
        if (now >= beat) {
            printf("READY %ld held=%.0fs\n", long(ready_now()), double(now - start) / 1e9);
            fflush(stdout);
            beat += 5000000000ull;
        }
        poll(int(std::min<uint64_t>((std::min(end, beat) - now) / 1000000 + 1, 1000)));
    }
    return double(now_ns() - start) / 1e9;
}

// Their last lines; the exit code: 2 if some never got ready, 1 if some
// ready ones were dropped by the peer, else 0.
inline int idle_result(long closed, size_t conns, long ready, long failed, long dropped, double setup_s,
                       double held_s) {
    printf("CLOSED %ld dropped=%ld\n", closed, dropped);
    printf("RESULT mode=idle ok=%d conns=%zu ready=%ld failed=%ld dropped=%ld setup_s=%.3f held_s=%.3f\n",
           failed == 0 && dropped == 0 ? 1 : 0, conns, ready, failed, dropped, setup_s, held_s);
    fflush(stdout);
    return failed ? 2 : (dropped ? 1 : 0);
}

// ------------------------------------------------------------- slots ----
// The connection-slot clients (tls_load, tcp_load) keep one Slot per
// connection: fd, id, gen (bumped for each new connection, so events for a
// closed one are told apart) and the epoll interest it has now.

template <class Slot>
uint64_t slot_key(const Slot& s) { return uint64_t(s.gen) << 32 | s.id; }

template <class Slot>
void set_slot_interest(int ep, Slot& s, uint32_t ev) {
    if (s.interest == ev) return;
    epoll_event e{};
    e.events = ev;
    e.data.u64 = slot_key(s);
    epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &e);
    s.interest = ev;
}

// ------------------------------------------------------------- sockets ----

// Starts a non-blocking TCP connect to addr (TCP_NODELAY) and adds the socket
// to epoll ep with ev. Returns the socket, or -1 with the failed step and its
// error in why ("connect: Connection refused").
inline int start_tcp_connect(int ep, const sockaddr_in& addr, epoll_event ev, std::string& why) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        why = std::string("socket: ") + strerror(errno);
        return -1;
    }
    set_nodelay(fd);
    const char* step = nullptr;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS)
        step = "connect: ";
    else if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        step = "epoll_ctl: ";
    if (step) {
        why = step + std::string(strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

// After the connect of start_tcp_connect signalled writable: "" if it
// succeeded, else why it failed ("connect: Connection refused").
inline std::string tcp_connect_result(int fd) {
    int err = 0;
    socklen_t sl = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
    return err ? std::string("connect: ") + strerror(err) : std::string();
}

// Waits at most timeout_ms on ep and calls on_event(event) for each ready
// event; exits with status 2 if epoll_wait fails (EINTR: returns).
template <class Fn>
void poll_events(int ep, int timeout_ms, Fn&& on_event) {
    static std::vector<epoll_event> evs(1024);
    int n = epoll_wait(ep, evs.data(), int(evs.size()), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return;
        perror("epoll_wait");
        exit(2);
    }
    for (int i = 0; i < n; i++) on_event(evs[size_t(i)]);
}

// Frees ssl (if any) and closes fd (if open), removing it from epoll ep.
inline void close_client(int ep, SSL*& ssl, int& fd) {
    if (ssl) {
        SSL_free(ssl);
        ssl = nullptr;
    }
    if (fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        fd = -1;
    }
}

// ---------------------------------------------------------- CPU watching ----

// utime+stime (clock ticks) of the given processes, from /proc/PID/stat;
// ok becomes false if one could not be read.
inline long read_cpu_ticks(const std::vector<int>& pids, bool& ok) {
    long total = 0;
    for (int pid : pids) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE* f = fopen(path, "r");
        if (!f) {
            ok = false;
            continue;
        }
        char buf[2048];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char* p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        // after ") ": field 3 (state) ... utime is field 14, stime field 15
        if (!p ||
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
            ok = false;
            continue;
        }
        total += long(ut + st);
    }
    return total;
}

// This process's own CPU time (µs): is the load side the bottleneck?
inline uint64_t self_cpu_us() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& t) { return uint64_t(t.tv_sec) * 1000000 + uint64_t(t.tv_usec); };
    return us(ru.ru_utime) + us(ru.ru_stime);
}

// The measured window: its bounds, and the CPU time of the watched processes
// (--watch-pids) and of this one sampled at them.
struct Window {
    const std::vector<int>& watch;
    bool cpu_ok = true;
    long cpu0 = 0, cpu1 = 0;
    uint64_t m0 = 0, m1 = 0, self0 = 0, self1 = 0;

    explicit Window(const std::vector<int>& pids) : watch(pids) {}

    void open() {
        cpu0 = read_cpu_ticks(watch, cpu_ok);
        self0 = self_cpu_us();
        m0 = now_ns();
    }
    // was_open: open() was called (else the window is empty).
    void close(bool was_open) {
        cpu1 = read_cpu_ticks(watch, cpu_ok);
        self1 = self_cpu_us();
        m1 = now_ns();
        if (!was_open) {
            m0 = m1;
            self0 = self1;
        }
    }
    double secs() const { return double(m1 - m0) / 1e9; }
    // This process's CPU use over the window, % of one core.
    double self_pct() const { return secs() > 0 ? double(self1 - self0) / 1e4 / secs() : 0; }

    // With watched pids: prints their CPU use over the window to stderr
    // ("... us/<unit>" for n operations) and returns the RESULT fields
    // " cpu_ticks=T clk_tck=HZ cpu_us_per_<key>=X" (" cpu_ticks=NA" if a pid
    // vanished). Without: "".
    std::string cpu_report(uint64_t n, const char* unit, const char* key) const {
        if (watch.empty()) return "";
        if (!cpu_ok) {
            fprintf(stderr, "  watched pids cpu: unavailable (a pid vanished?)\n");
            return " cpu_ticks=NA";
        }
        long tck = sysconf(_SC_CLK_TCK);
        double cpu_s = double(cpu1 - cpu0) / double(tck);
        double per = n ? cpu_s * 1e6 / double(n) : 0;
        fprintf(stderr, "  watched pids cpu: %.2fs over window (%.0f%% of one core), %.2f us/%s\n",
                cpu_s, secs() > 0 ? 100.0 * cpu_s / secs() : 0, per, unit);
        char b[160];
        snprintf(b, sizeof b, " cpu_ticks=%ld clk_tck=%ld cpu_us_per_%s=%.3f", cpu1 - cpu0, tck,
                 key, per);
        return b;
    }
};

// The loop of a closed-loop run started at t0: warmup seconds not measured,
// then the window w of duration seconds (cut short by stop). measuring says
// whether completions count; step(timeout_ms) waits for and handles events.
template <class Step>
void run_window(uint64_t t0, double warmup, double duration, const volatile sig_atomic_t& stop,
                bool& measuring, Window& w, Step&& step) {
    uint64_t warm_end = t0 + uint64_t(warmup * 1e9);
    uint64_t end = warm_end + uint64_t(duration * 1e9);
    while (true) {
        uint64_t now = now_ns();
        if (!measuring && now >= warm_end && !stop) {
            w.open();
            measuring = true;
        }
        if ((measuring && now >= end) || stop) {
            w.close(measuring);
            measuring = false;
            return;
        }
        uint64_t next = measuring ? end : warm_end;
        step(int(std::min<uint64_t>((next - now) / 1000000 + 1, 100)));
    }
}

// ----------------------------------------------------------------- TLS ----

// A client context: TLS 1.2 up to max_version (0: the highest the library
// offers), server certificate not verified (a benchmark, on loopback).
// nullptr on failure.
inline SSL_CTX* new_client_ctx(int max_version) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return nullptr;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        (max_version && SSL_CTX_set_max_proto_version(ctx, max_version) != 1)) {
        SSL_CTX_free(ctx);
        return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return ctx;
}

// A client connection over the connected socket fd, with SNI sni (none if
// empty), in connect state. nullptr on failure (the OpenSSL error stays
// queued).
inline SSL* new_client_ssl(SSL_CTX* ctx, int fd, const std::string& sni) {
    SSL* ssl = SSL_new(ctx);
    if (!ssl) return nullptr;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
    SSL_set_connect_state(ssl);
    return ssl;
}

// Text for a failed SSL call's result r (SSL_get_error code e): the first
// queued OpenSSL error (the queue is cleared), else what e and errno say.
// peer names the other side in "close_notify from the <peer>".
inline std::string tls_error_text(int e, int r, const char* peer = "server") {
    unsigned long q = ERR_get_error();
    if (q) {
        char b[256];
        ERR_error_string_n(q, b, sizeof b);
        ERR_clear_error();
        return b;
    }
    if (e == SSL_ERROR_SYSCALL) return r == 0 || errno == 0 ? "unexpected EOF" : strerror(errno);
    if (e == SSL_ERROR_ZERO_RETURN) return std::string("close_notify from the ") + peer;
    return "SSL error " + std::to_string(e);
}

// What an SSL call on a non-blocking socket that returned r means.
enum class TlsIo {
    Done,       // r > 0: it did its work
    WantRead,   // retry once the socket is readable
    WantWrite,  // retry once the socket is writable
    Eof,        // the peer closed: close_notify, or the connection without it
    Error,
};

// Classifies r (see TlsIo); for Eof and Error, why gets tls_error_text.
inline TlsIo tls_io(SSL* ssl, int r, std::string& why, const char* peer = "server") {
    if (r > 0) return TlsIo::Done;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ) return TlsIo::WantRead;
    if (e == SSL_ERROR_WANT_WRITE) return TlsIo::WantWrite;
    bool eof = e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0);
    why = tls_error_text(e, r, peer);
    return eof ? TlsIo::Eof : TlsIo::Error;
}

}  // namespace bench

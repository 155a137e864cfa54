// tcp_load - single-threaded epoll load generator for plain TCP proxying
// (nginx's stream {} module, HAProxy's mode tcp), against tcp_backend.
// Talks to 127.0.0.0/8 only. Three modes:
//
//   tput  --conns (16) long connections, each moving bulk data through the
//         proxy. --dir both (default): the connection sends 'E' (echo), then
//         streams the byte pattern and reads the echo back, both directions
//         at once; every byte read is checked against the pattern. The rate
//         is the bytes delivered back to the client per second (one
//         direction); bytes sent are printed too. --dir up: 'S' (sink), send
//         only, the rate is bytes sent. --dir down: 'G' (source), read only,
//         the backend's pattern checked.
//   conn  --conns (32) slots, each a closed loop: connect, send 'E' and one
//         byte, read that byte back, close, reconnect at once. The rate is
//         completed connections per second.
//   idle  --conns (5000) connections held open and idle, for the proxy's
//         memory per session: each connects, sends 'E' and one byte and waits
//         for that byte to come back (so the session reached tcp_backend
//         through the proxy), then stays open without traffic. At most
//         --concurrency (128) are being set up at once, so the proxy's accept
//         backlog is not overrun. Once all are up (or --connect-timeout
//         seconds have passed: the rest count as failed) it prints "READY n"
//         (n established) and, if some failed, "FAILED k" on stdout, then
//         holds them until --hold (30) seconds pass or SIGUSR1/SIGTERM/SIGINT
//         arrives ("READY n held=Ts" every 5 s meanwhile), closes them and
//         prints "CLOSED n dropped=d" (d: ready ones the peer closed while
//         held). The same protocol as ws_load idle's, for run.sh.
//
//   tcp_load tput --port P [--conns 16] [--dir both|up|down] [--duration 10]
//                 [--warmup 2] [--timeout 10] [--watch-pids PID,...] [--host 127.0.0.1]
//   tcp_load conn --port P [--conns 32] [--duration 10] [--warmup 2] [--timeout 10]
//                 [--watch-pids PID,...] [--host 127.0.0.1]
//   tcp_load idle --port P [--conns 5000] [--hold 30] [--connect-timeout 30]
//                 [--concurrency 128] [--host 127.0.0.1]
//   tcp_load --selftest
//
// The byte pattern: byte i of a stream (from 0, after the mode byte) is
// 'a' + i % 23, the same as tcp_backend's source. Reads and writes are 64 KiB.
// MB are 10^6 bytes.
//
// Nothing is counted during the warmup. With --watch-pids the utime+stime of
// those processes is sampled at the exact window boundaries: proxy CPU µs per
// MB (of the rate, i.e. per MB that came back; with --dir both each of them
// also went through the proxy once the other way) or per connection.
//
// Errors (connect failures, unexpected EOF or reset, a pattern mismatch, no
// progress for --timeout seconds) are counted, the first 10 are printed, and
// the slot starts a new connection; after 1000 the run gives up. In idle mode
// nothing is retried: the first 10 errors are printed and a connection that
// fails counts as failed (or, once ready, as dropped).
// Machine-readable summary: one line starting with "RESULT " of key=value pairs.
// Exit status: 0 ok, 1 errors during the run (idle: connections dropped),
// 2 usage/setup failure (idle: connections that failed to establish).
#include <string>

#include "load_client.h"

using namespace bench;

namespace {

constexpr size_t kChunk = 65536;
constexpr size_t kPeriod = 23;  // pattern period (as tcp_backend's)

enum class Mode : uint8_t { Tput, Conn, Idle };
enum class Dir : uint8_t { Both, Up, Down };
enum class St : uint8_t { Idle, Connecting, Open };

struct Slot {
    int fd = -1;
    St st = St::Idle;
    uint32_t id = 0;
    uint32_t gen = 0;       // bumped per connection: stale epoll events are ignored
    uint32_t interest = 0;  // current epoll mask
    bool hello_sent = false;
    bool ready = false;     // idle: the byte came back
    uint64_t sent = 0, recvd = 0;  // pattern bytes sent / received on this connection
    uint64_t start_ns = 0, progress_ns = 0;
};

struct Opts : LoadOpts {
    Opts() : LoadOpts("/") {}
    Mode mode = Mode::Tput;
    Dir dir = Dir::Both;
    long conns = 0;  // 0: the mode's default
    double timeout = 10;
    double hold = 30, connect_timeout = 30;  // idle
    long concurrency = 128;                  // idle: connections set up at once
} O;

int g_ep = -1;
sockaddr_in g_addr{};
std::vector<Slot> g_slots;
std::vector<uint32_t> g_restart;  // slots to reconnect after the current event batch
std::vector<char> g_pattern;      // kChunk + kPeriod bytes of the pattern
std::vector<char> g_buf(kChunk);
volatile sig_atomic_t g_stop = 0;

bool g_measuring = false;
uint64_t g_rx = 0, g_tx = 0;            // pattern bytes in the window
uint64_t g_done = 0, g_warm_done = 0;   // conn: completed connections
long g_errors = 0;
int g_reported = 0;
Histogram g_hist;  // conn: connect .. byte back
long g_inflight = 0;                            // idle: connecting or awaiting the byte
long g_ready = 0, g_failed = 0, g_dropped = 0;  // idle

void on_signal(int) { g_stop = 1; }

void build_pattern() {
    g_pattern.resize(kChunk + kPeriod);
    for (size_t i = 0; i < g_pattern.size(); i++) g_pattern[i] = char('a' + i % kPeriod);
}

// Do the n bytes at p continue the pattern at stream offset off?
bool pattern_ok(const char* p, size_t n, uint64_t off) {
    const char* want = g_pattern.data() + off % kPeriod;
    while (n > 0) {  // n <= kChunk in practice; the loop keeps it safe for more
        size_t k = std::min(n, kChunk);
        if (memcmp(p, want, k) != 0) return false;
        p += k;
        n -= k;
        off += k;
        want = g_pattern.data() + off % kPeriod;
    }
    return true;
}

void close_slot(Slot& s) {
    SSL* none = nullptr;
    close_client(g_ep, none, s.fd);
    s.st = St::Idle;
}

void fail(Slot& s, const std::string& why) {
    if (O.mode == Mode::Idle) {  // no retry: the connection failed, or was dropped once ready
        if (s.st == St::Idle) return;
        report_conn_error("tcp_load", s.id, why, g_reported);
        if (s.ready) {
            g_dropped++;
        } else {
            g_inflight--;
            g_failed++;
        }
        close_slot(s);
        return;
    }
    if (count_conn_error("tcp_load", s.id, why, g_errors, g_reported)) g_stop = 1;
    close_slot(s);
    g_restart.push_back(s.id);
}

void start(Slot& s) {
    s.gen++;
    s.st = St::Connecting;
    s.start_ns = s.progress_ns = now_ns();
    s.hello_sent = false;
    s.ready = false;
    s.sent = s.recvd = 0;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = slot_key(s);
    std::string why;
    s.fd = start_tcp_connect(g_ep, g_addr, ev, why);
    if (s.fd < 0) {
        fail(s, why);
        return;
    }
    s.interest = EPOLLOUT;
}

// What the peer closing or failing means, for the message.
std::string read_error(ssize_t n, const Slot& s) {
    std::string what = n == 0 ? "connection closed by the peer" : std::string("recv: ") + strerror(errno);
    return what + " after " + std::to_string(s.sent) + " bytes sent, " + std::to_string(s.recvd) +
           " received";
}

// ------------------------------------------------------------------ tput ----

char hello_byte() { return O.dir == Dir::Both ? 'E' : O.dir == Dir::Up ? 'S' : 'G'; }

void tput_write(Slot& s) {
    if (!s.hello_sent) {
        char h = hello_byte();
        ssize_t w = send(s.fd, &h, 1, MSG_NOSIGNAL);
        if (w == 1) {
            s.hello_sent = true;
        } else {
            if (w < 0 && errno == EAGAIN) return;
            fail(s, std::string("send: ") + (w < 0 ? strerror(errno) : "nothing sent"));
            return;
        }
        if (O.dir == Dir::Down) {
            set_slot_interest(g_ep, s, EPOLLIN);
            return;
        }
    }
    for (int k = 0; k < 4; k++) {
        ssize_t w = send(s.fd, g_pattern.data() + s.sent % kPeriod, kChunk, MSG_NOSIGNAL);
        if (w > 0) {
            s.sent += uint64_t(w);
            if (g_measuring) g_tx += uint64_t(w);
            s.progress_ns = now_ns();
            if (size_t(w) < kChunk) return;
            continue;
        }
        if (w < 0 && errno == EAGAIN) return;
        fail(s, std::string("send: ") + (w < 0 ? strerror(errno) : "nothing sent") + " after " +
                    std::to_string(s.sent) + " bytes sent");
        return;
    }
}

// False: the slot failed.
bool tput_read(Slot& s) {
    for (int k = 0; k < 4; k++) {
        ssize_t n = recv(s.fd, g_buf.data(), kChunk, 0);
        if (n > 0) {
            if (O.dir == Dir::Up) {
                fail(s, "unexpected bytes from the sink");
                return false;
            }
            if (!pattern_ok(g_buf.data(), size_t(n), s.recvd)) {
                fail(s, "pattern mismatch in bytes " + std::to_string(s.recvd) + ".." +
                            std::to_string(s.recvd + uint64_t(n)));
                return false;
            }
            s.recvd += uint64_t(n);
            if (O.dir == Dir::Both && s.recvd > s.sent) {
                fail(s, "more bytes echoed than sent");
                return false;
            }
            if (g_measuring) g_rx += uint64_t(n);
            s.progress_ns = now_ns();
            if (size_t(n) < kChunk) return true;
            continue;
        }
        if (n < 0 && errno == EAGAIN) return true;
        fail(s, read_error(n, s));
        return false;
    }
    return true;
}

void tput_drive(Slot& s, uint32_t ev) {
    if (s.st == St::Connecting) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        std::string err = tcp_connect_result(s.fd);
        if (!err.empty()) {
            fail(s, err);
            return;
        }
        s.st = St::Open;
        // up: writes only (EPOLLIN too, to see the peer close); the others read
        set_slot_interest(g_ep, s, O.dir == Dir::Down ? EPOLLOUT : EPOLLIN | EPOLLOUT);
        tput_write(s);
        return;
    }
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !tput_read(s)) return;
    if (ev & EPOLLOUT) tput_write(s);
}

// ------------------------------------------------------------------ conn ----

char conn_byte(const Slot& s) { return char('a' + s.gen % kPeriod); }

// conn and idle: once connected, 'E' (the backend echoes) and one byte that
// must come back; then wait for it. False while still connecting or failed.
bool send_hello(Slot& s, uint32_t ev, char byte) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return false;
    std::string err = tcp_connect_result(s.fd);
    if (!err.empty()) {
        fail(s, err);
        return false;
    }
    char msg[2] = {'E', byte};
    ssize_t w = send(s.fd, msg, 2, MSG_NOSIGNAL);
    if (w != 2) {  // 2 bytes into an empty socket buffer
        fail(s, std::string("send: ") + (w < 0 ? strerror(errno) : "short write"));
        return false;
    }
    s.st = St::Open;
    set_slot_interest(g_ep, s, EPOLLIN);
    return true;
}

void conn_drive(Slot& s, uint32_t ev) {
    if (s.st == St::Connecting) {
        send_hello(s, ev, conn_byte(s));
        return;
    }
    if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    char b[16];
    ssize_t n = recv(s.fd, b, sizeof b, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        fail(s, read_error(n, s));
        return;
    }
    if (n != 1 || b[0] != conn_byte(s)) {
        fail(s, "unexpected answer (" + std::to_string(n) + " bytes)");
        return;
    }
    if (g_measuring) {
        g_done++;
        g_hist.add(now_ns() - s.start_ns);
    } else {
        g_warm_done++;
    }
    close_slot(s);
    g_restart.push_back(s.id);
}

// ------------------------------------------------------------------ idle ----

char idle_byte(const Slot& s) { return char('a' + s.id % kPeriod); }

void idle_drive(Slot& s, uint32_t ev) {
    if (s.st == St::Connecting) {   // EPOLLIN stays once ready: to see the peer close
        if (send_hello(s, ev, idle_byte(s))) s.sent = 1;
        return;
    }
    if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    char b[16];
    ssize_t n = recv(s.fd, b, sizeof b, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        fail(s, read_error(n, s) + (s.ready ? " (while idle)" : ""));
        return;
    }
    if (s.ready || n != 1 || b[0] != idle_byte(s)) {
        fail(s, "unexpected " + std::to_string(n) + " bytes" +
                    (s.ready ? " while idle" : " (not the byte sent)"));
        return;
    }
    s.recvd = 1;
    s.ready = true;
    g_inflight--;
    g_ready++;
}

// ------------------------------------------------------------------ run ----

void poll_once(int timeout_ms) {
    poll_events(g_ep, timeout_ms, [](const epoll_event& ev) {
        uint32_t id = uint32_t(ev.data.u64), gen = uint32_t(ev.data.u64 >> 32);
        if (id >= g_slots.size()) return;
        Slot& s = g_slots[id];
        if (s.gen != gen || s.st == St::Idle) return;
        if (O.mode == Mode::Tput) tput_drive(s, ev.events);
        else if (O.mode == Mode::Conn) conn_drive(s, ev.events);
        else idle_drive(s, ev.events);
    });
}

int run() {
    uint64_t t0 = now_ns();
    for (auto& s : g_slots) start(s);
    Window win(O.watch);
    uint64_t next_sweep = t0;
    run_window(t0, O.warmup, O.duration, g_stop, g_measuring, win, [&](int timeout_ms) {
        poll_once(timeout_ms);
        uint64_t t = now_ns();
        if (t >= next_sweep) {  // connections without progress for --timeout
            uint64_t limit = uint64_t(O.timeout * 1e9);
            for (auto& s : g_slots) {
                if (s.st != St::Idle && t - s.progress_ns > limit) {
                    const char* where = s.st == St::Connecting ? "connecting"
                                        : O.mode == Mode::Conn ? "waiting for the byte back"
                                                               : "without progress";
                    fail(s, "timeout after " + std::to_string(int(O.timeout)) + "s " + where);
                }
            }
            next_sweep = t + 100000000;
        }
        std::vector<uint32_t> again;
        again.swap(g_restart);
        if (!g_stop)
            for (uint32_t id : again) start(g_slots[id]);
    });
    long open_at_end = 0;
    for (auto& s : g_slots) {
        if (s.st != St::Idle) open_at_end++;
        close_slot(s);
    }
    double secs = win.secs();
    double self_pct = win.self_pct();
    bool ok;
    if (O.mode == Mode::Tput) {
        double rx_mbs = secs > 0 ? double(g_rx) / 1e6 / secs : 0;
        double tx_mbs = secs > 0 ? double(g_tx) / 1e6 / secs : 0;
        uint64_t rate_bytes = O.dir == Dir::Up ? g_tx : g_rx;
        double mbs = O.dir == Dir::Up ? tx_mbs : rx_mbs;
        const char* dir = O.dir == Dir::Both ? "both" : O.dir == Dir::Up ? "up" : "down";
        fprintf(stderr,
                "tcp_load: tput, %ld conns, dir %s, warmup %.1fs, measured %.3fs%s\n"
                "  received %.1f MB (%.1f MB/s)  sent %.1f MB (%.1f MB/s)  errors: %ld\n"
                "  tcp_load itself: %.0f%% of one core\n",
                O.conns, dir, O.warmup, secs, g_stop ? " (stopped early)" : "", double(g_rx) / 1e6,
                rx_mbs, double(g_tx) / 1e6, tx_mbs, g_errors, self_pct);
        std::string cpu;
        if (!O.watch.empty()) {
            if (!win.cpu_ok) {
                fprintf(stderr, "  watched pids cpu: unavailable (a pid vanished?)\n");
                cpu = " cpu_ticks=NA";
            } else {
                long tck = sysconf(_SC_CLK_TCK);
                double cpu_s = double(win.cpu1 - win.cpu0) / double(tck);
                double per = rate_bytes ? cpu_s * 1e6 / (double(rate_bytes) / 1e6) : 0;
                double per_both = g_rx + g_tx ? cpu_s * 1e6 / (double(g_rx + g_tx) / 1e6) : 0;
                fprintf(stderr,
                        "  watched pids cpu: %.2fs over window (%.0f%% of one core), %.2f us/MB "
                        "(%.2f us/MB counting both directions)\n",
                        cpu_s, secs > 0 ? 100.0 * cpu_s / secs : 0, per, per_both);
                char b[200];
                snprintf(b, sizeof b,
                         " cpu_ticks=%ld clk_tck=%ld cpu_pct=%.0f cpu_us_per_mb=%.3f "
                         "cpu_us_per_mb_both=%.3f",
                         win.cpu1 - win.cpu0, tck, secs > 0 ? 100.0 * cpu_s / secs : 0, per, per_both);
                cpu = b;
            }
        }
        ok = g_errors == 0 && !g_stop && rate_bytes > 0;
        printf("RESULT mode=tput ok=%d dir=%s conns=%ld secs=%.3f mb_per_s=%.1f rx_mb_per_s=%.1f "
               "tx_mb_per_s=%.1f rx_bytes=%llu tx_bytes=%llu errors=%ld open_at_end=%ld "
               "load_cpu_pct=%.0f%s\n",
               ok ? 1 : 0, dir, O.conns, secs, mbs, rx_mbs, tx_mbs, (unsigned long long)g_rx,
               (unsigned long long)g_tx, g_errors, open_at_end, self_pct, cpu.c_str());
    } else {
        double rate = secs > 0 ? double(g_done) / secs : 0;
        auto us = [](uint64_t ns) { return double(ns) / 1000.0; };
        fprintf(stderr,
                "tcp_load: conn, %ld slots, warmup %.1fs (%llu connections), measured %.3fs%s\n"
                "  connections: %llu (%.1f/s)  errors: %ld\n"
                "  connection time us (connect .. byte back): p50=%.1f p90=%.1f p99=%.1f max=%.1f\n"
                "  tcp_load itself: %.0f%% of one core\n",
                O.conns, O.warmup, (unsigned long long)g_warm_done, secs,
                g_stop ? " (stopped early)" : "", (unsigned long long)g_done, rate, g_errors,
                us(g_hist.percentile(0.50)), us(g_hist.percentile(0.90)), us(g_hist.percentile(0.99)),
                us(g_hist.max), self_pct);
        std::string cpu = win.cpu_report(g_done, "conn", "conn");
        if (!O.watch.empty() && win.cpu_ok && secs > 0) {  // how busy the proxy was
            char b[48];
            snprintf(b, sizeof b, " cpu_pct=%.0f",
                     100.0 * double(win.cpu1 - win.cpu0) / double(sysconf(_SC_CLK_TCK)) / secs);
            cpu += b;
        }
        ok = g_errors == 0 && !g_stop && g_done > 0;
        printf("RESULT mode=conn ok=%d conns=%ld secs=%.3f connections=%llu per_s=%.1f p50_us=%.1f "
               "p99_us=%.1f max_us=%.1f errors=%ld open_at_end=%ld load_cpu_pct=%.0f%s\n",
               ok ? 1 : 0, O.conns, secs, (unsigned long long)g_done, rate,
               us(g_hist.percentile(0.50)), us(g_hist.percentile(0.99)), us(g_hist.max), g_errors,
               open_at_end, self_pct, cpu.c_str());
    }
    fflush(stdout);
    return ok ? 0 : 1;
}

// idle: opens the connections at most O.concurrency at a time; returns when
// each is ready or failed, or at the connect timeout (the rest then fail).
void idle_connect_phase() {
    size_t next = 0;
    uint64_t deadline = now_ns() + uint64_t(O.connect_timeout * 1e9);
    while (!g_stop && (next < g_slots.size() || g_inflight > 0)) {
        while (next < g_slots.size() && g_inflight < O.concurrency) {
            g_inflight++;
            start(g_slots[next++]);
        }
        if (now_ns() >= deadline) break;
        poll_once(50);
    }
    std::string why = g_stop ? std::string("stopped")
                             : "timeout after " + std::to_string(int(O.connect_timeout)) + "s";
    for (auto& s : g_slots) {
        if (s.st == St::Connecting) fail(s, why + " connecting");
        else if (s.st == St::Open && !s.ready) fail(s, why + " waiting for the byte back");
    }
    g_failed += long(g_slots.size() - next);  // never started (stopped, or out of time)
}

int run_idle() {
    uint64_t t0 = now_ns();
    idle_connect_phase();
    double setup_s = double(now_ns() - t0) / 1e9;
    if (g_failed)
        fprintf(stderr, "tcp_load idle: %ld of %zu connections failed to establish\n", g_failed,
                g_slots.size());
    fprintf(stderr, "tcp_load idle: %ld connections ready in %.2fs\n", g_ready - g_dropped,
            setup_s);
    printf("READY %ld\n", g_ready - g_dropped);
    if (g_failed) printf("FAILED %ld\n", g_failed);
    fflush(stdout);
    double held_s = hold_idle(g_ready > g_dropped ? O.hold : 0, g_stop, [] { return g_ready - g_dropped; }, poll_once);
    long closed = 0;
    for (auto& s : g_slots) {
        if (s.st != St::Idle) closed++;
        close_slot(s);
    }
    fprintf(stderr, "tcp_load idle: held %ld connections for %.1fs, %ld dropped meanwhile\n",
            closed, held_s, g_dropped);
    return idle_result(closed, g_slots.size(), g_ready, g_failed, g_dropped, setup_s, held_s);
}

bool tcp_selftest() {
    build_pattern();
    bool ok = true;
    std::string s;
    for (size_t i = 0; i < 3 * kChunk; i++) s += char('a' + i % kPeriod);
    ok &= pattern_ok(s.data(), s.size(), 0);
    ok &= pattern_ok(s.data() + 5, 1000, 5);
    ok &= pattern_ok(s.data() + 77777, kChunk, 77777);
    ok &= !pattern_ok(s.data() + 5, 1000, 6);
    s[kChunk + 10] = '!';
    ok &= !pattern_ok(s.data(), s.size(), 0);
    ok &= pattern_ok(g_pattern.data() + 7, kChunk, 7);
    return ok;
}

[[noreturn]] void usage(const char* msg = nullptr) {
    if (msg) fprintf(stderr, "tcp_load: %s\n", msg);
    fprintf(stderr,
            "usage: tcp_load tput --port P [--conns 16] [--dir both|up|down] [--duration 10]\n"
            "                     [--warmup 2] [--timeout 10] [--watch-pids PID,...] [--host 127.0.0.1]\n"
            "       tcp_load conn --port P [--conns 32] [--duration 10] [--warmup 2] [--timeout 10]\n"
            "                     [--watch-pids PID,...] [--host 127.0.0.1]\n"
            "       tcp_load idle --port P [--conns 5000] [--hold 30] [--connect-timeout 30]\n"
            "                     [--concurrency 128] [--host 127.0.0.1]\n"
            "       tcp_load --selftest\n");
    exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "--selftest") {
        bool ok = tcp_selftest();
        printf("selftest %s\n", ok ? "ok" : "FAILED");
        return ok ? 0 : 1;
    }
    if (argc < 2) usage();
    std::string_view m = argv[1];
    if (m == "tput") O.mode = Mode::Tput;
    else if (m == "conn") O.mode = Mode::Conn;
    else if (m == "idle") O.mode = Mode::Idle;
    else usage("the first argument is the mode: tput, conn or idle");
    const bool idle = O.mode == Mode::Idle;
    Args args{"tcp_load", argc, argv, usage, 1};
    while (const char* opt = args.next()) {
        std::string_view a = opt;
        if (a == "--path" || a == "--sni" || a == "--tls-version") usage(("unknown option " + std::string(a)).c_str());
        if (idle && (a == "--duration" || a == "--warmup" || a == "--watch-pids" ||
                     a == "--timeout"))
            usage((std::string(a) + " is for tput and conn (idle: --hold, --connect-timeout)")
                      .c_str());
        if (!idle && (a == "--hold" || a == "--connect-timeout" || a == "--concurrency"))
            usage((std::string(a) + " is for idle").c_str());
        if (args.load_option(a, O)) continue;
        if (a == "--conns") O.conns = long(args.number(1, idle ? 100000 : 10000, "conns"));
        else if (a == "--timeout") O.timeout = args.number(0.1, 600, "timeout");
        else if (a == "--hold") O.hold = args.number(0, 3600, "hold");
        else if (a == "--connect-timeout")
            O.connect_timeout = args.number(0.1, 600, "connect timeout");
        else if (a == "--concurrency") O.concurrency = long(args.number(1, 10000, "concurrency"));
        else if (a == "--dir") {
            std::string_view v = args.value();
            if (v == "both") O.dir = Dir::Both;
            else if (v == "up") O.dir = Dir::Up;
            else if (v == "down") O.dir = Dir::Down;
            else usage("--dir must be both, up or down");
        } else usage(("unknown option " + std::string(a)).c_str());
    }
    if (O.mode != Mode::Tput && O.dir != Dir::Both) usage("--dir is for tput");
    if (!O.conns) O.conns = O.mode == Mode::Tput ? 16 : O.mode == Mode::Conn ? 32 : 5000;
    args.check_load_opts(O);
    if (!loopback_target("tcp_load", O, g_addr)) return 2;
    build_pattern();
    rlim_t lim = raise_nofile();
    if (idle && rlim_t(O.conns) + 32 > lim) {
        fprintf(stderr, "tcp_load: %ld connections need more file descriptors (limit %llu)\n",
                O.conns, (unsigned long long)lim);
        return 2;
    }
    if (idle) catch_signals(on_signal, {SIGINT, SIGTERM, SIGUSR1});  // SIGUSR1: run.sh's "done"
    else catch_signals(on_signal, {SIGINT, SIGTERM});
    g_slots.resize(size_t(O.conns));
    for (size_t i = 0; i < g_slots.size(); i++) g_slots[i].id = uint32_t(i);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) {
        perror("epoll_create1");
        return 2;
    }
    return idle ? run_idle() : run();
}

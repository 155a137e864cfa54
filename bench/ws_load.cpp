// ws_load - single-threaded epoll WebSocket (RFC 6455) load generator.
// Talks to 127.0.0.0/8 only. Client frames are masked with a fresh random
// key per frame; the server's Sec-WebSocket-Accept is verified with a built-in
// SHA-1; every echoed payload is compared byte for byte with what was sent.
//
//   ws_load echo --port P [--conns 256] [--size 32] [--duration 10] [--warmup 2]
//                [--watch-pids PID,PID...]
//   ws_load idle --port P [--conns 5000] [--hold 30] [--no-verify]
//   common: [--host 127.0.0.1] [--path /ws] [--concurrency 64]
//           [--connect-timeout 30] [--tls [--tls-version 1.3|1.2] [--sni localhost]]
//   ws_load --selftest
//
// echo: opens all connections first (handshake), then each connection runs a
//   closed loop: send one S-byte binary message, wait for its echo, repeat.
//   Nothing is counted during the warmup; then messages/s and latency
//   percentiles (log-linear histogram, <1.6% error) over the measured window.
//   With --watch-pids the utime+stime of those processes is sampled at the
//   exact window boundaries (-> proxy CPU microseconds per message).
// idle: opens N connections; each completes the handshake and (unless
//   --no-verify) one 16-byte echo round trip, proving the tunnel is wired end to
//   end. Then prints "READY n" (repeated every 5 s as a heartbeat) and holds the
//   connections idle until --hold seconds pass or SIGTERM/SIGINT/SIGUSR1
//   arrives; then closes them and prints "CLOSED n dropped=d".
//
// --tls: wss://. Each connection does a TLS handshake (OpenSSL, non-blocking,
//   full handshake, certificate not verified, SNI --sni) before the WebSocket
//   handshake, and all frames go through it. Without --tls no TLS code runs:
//   the plain mode behaves exactly as before.
//
// Machine-readable summary: one line starting with "RESULT " of key=value pairs.
// Exit status: 0 ok, 1 errors during the run, 2 usage/handshake/connect failure.
#include <algorithm>
#include <string>

#include "load_client.h"

using namespace bench;

namespace {

enum class Mode { Echo, Idle };
enum class St : uint8_t { Connecting, TlsHandshaking, Handshaking, Open, Closed };

struct Conn {
    int fd = -1;
    SSL* ssl = nullptr;  // --tls only
    St st = St::Connecting;
    bool out_interest = false;
    bool awaiting = false;  // a message is in flight
    bool ready = false;     // idle mode: verified
    uint32_t id = 0;
    char key[25] = {};
    uint64_t sent_ns = 0;
    uint64_t msg_recv = 0;  // bytes of the current echoed message received so far
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_off = 0;
};

struct Opts : LoadOpts {
    Opts() : LoadOpts("/ws") {}
    Mode mode = Mode::Echo;
    long conns = -1;
    size_t size = 32;
    double hold = 30, connect_timeout = 30;
    long concurrency = 64;
    bool verify = true;
    bool tls = false;
} O;

int g_ep = -1;
sockaddr_in g_addr{};
std::vector<Conn> g_conns;
std::vector<uint8_t> g_payload;  // what echo messages carry
std::vector<uint8_t> g_rbuf(64 * 1024);
std::vector<uint8_t> g_wbuf;
Rng g_rng;
SSL_CTX* g_tls_ctx = nullptr;  // --tls only
std::string g_tls_err;         // the last TLS I/O error (see io_error)
volatile sig_atomic_t g_stop = 0;

long g_inflight = 0;  // connecting/handshaking
long g_established = 0, g_failed = 0, g_ready = 0, g_dropped = 0, g_errors = 0;
int g_reported = 0;

// run state (echo)
bool g_running = false, g_measuring = false;
uint64_t g_msgs = 0, g_bytes_sent_frames = 0;
Histogram g_hist;

void on_signal(int) { g_stop = 1; }

void report(const Conn& c, const std::string& what) {
    report_conn_error("ws_load", c.id, what, g_reported);
}

void close_fd(Conn& c) {
    close_client(g_ep, c.ssl, c.fd);
    c.st = St::Closed;
    std::vector<uint8_t>().swap(c.in);
    std::vector<uint8_t>().swap(c.out);
}

// A connection failed before it was established (connect/handshake).
void fail_setup(Conn& c, const std::string& why) {
    if (c.st == St::Closed) return;
    report(c, why);
    close_fd(c);
    g_inflight--;
    g_failed++;
}

// A connection broke after it was established.
void fail_open(Conn& c, const std::string& why) {
    if (c.st == St::Closed) return;
    if (O.mode == Mode::Idle && !c.ready && O.verify) {
        // still in the verification round trip: a setup failure
        report(c, why);
        close_fd(c);
        g_failed++;
        g_established--;
        return;
    }
    report(c, why);
    close_fd(c);
    g_errors++;
    g_dropped++;
}

void set_interest(Conn& c, bool out) {
    if (c.out_interest == out) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
    ev.data.u32 = c.id;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c.fd, &ev);
    c.out_interest = out;
}

// ---- TLS (--tls) ----

// The reason of the last failed send/recv of c, for messages.
std::string io_error(const Conn& c) {
    return c.ssl ? g_tls_err : std::string(strerror(errno));
}

// Writes p[0..n) to the socket, queueing in c.out what it does not take now.
// Returns false if the connection broke.
bool write_now(Conn& c, const uint8_t* p, size_t n) {
    while (n) {
        ssize_t w = send(c.fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= size_t(w);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c.out.assign(p, p + n);
            set_interest(c, true);
            return true;
        } else {
            return false;
        }
    }
    return true;
}

// TLS counterpart of write_now: SSL_write, the rest queued on WANT_*.
bool tls_write_now(Conn& c, const uint8_t* p, size_t n) {
    while (n) {
        ERR_clear_error();
        int w = SSL_write(c.ssl, p, int(n));
        if (w > 0) {
            p += w;
            n -= size_t(w);
            continue;
        }
        TlsIo io = tls_io(c.ssl, w, g_tls_err, "peer");
        if (io == TlsIo::WantWrite || io == TlsIo::WantRead) {
            // retried by tls_write_queued (same bytes first: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
            c.out.assign(p, p + n);
            if (io == TlsIo::WantWrite) set_interest(c, true);
            return true;
        }
        return false;
    }
    return true;
}

// Sends (or queues) bytes. Returns false if the connection broke.
bool send_bytes(Conn& c, const uint8_t* p, size_t n) {
    if (c.out_off < c.out.size()) {
        c.out.insert(c.out.end(), p, p + n);
        return true;
    }
    c.out.clear();
    c.out_off = 0;
    return c.ssl ? tls_write_now(c, p, n) : write_now(c, p, n);
}

// Writes the queued bytes of c.out: 1 when all are written, 0 when the rest
// must wait for the socket, -1 if the connection broke.
int write_queued(Conn& c) {
    while (c.out_off < c.out.size()) {
        ssize_t w = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (w > 0) c.out_off += size_t(w);
        else if (w < 0 && errno == EINTR) continue;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        else return -1;
    }
    return 1;
}

// TLS counterpart of write_queued.
int tls_write_queued(Conn& c) {
    while (c.out_off < c.out.size()) {
        ERR_clear_error();
        int w = SSL_write(c.ssl, c.out.data() + c.out_off, int(c.out.size() - c.out_off));
        if (w > 0) {
            c.out_off += size_t(w);
            continue;
        }
        switch (tls_io(c.ssl, w, g_tls_err, "peer")) {
            case TlsIo::WantWrite:
                set_interest(c, true);
                return 0;
            case TlsIo::WantRead:  // retried on the next readable event
                set_interest(c, false);
                return 0;
            default:
                return -1;
        }
    }
    return 1;
}

// Writes queued bytes. Returns false if the connection broke.
bool flush(Conn& c) {
    int r = c.ssl ? tls_write_queued(c) : write_queued(c);
    if (r <= 0) return r == 0;
    c.out.clear();
    c.out_off = 0;
    set_interest(c, false);
    return true;
}

// Builds a masked client frame into g_wbuf.
void build_frame(uint8_t opcode, const uint8_t* payload, size_t n) {
    uint32_t m32 = uint32_t(g_rng.next());
    uint8_t mask[4];
    std::memcpy(mask, &m32, 4);
    g_wbuf.resize(14 + n);
    size_t hl = write_frame_header(g_wbuf.data(), true, opcode, n, mask);
    apply_mask(g_wbuf.data() + hl, payload, n, mask);
    g_wbuf.resize(hl + n);
}

bool send_message(Conn& c, size_t n) {
    build_frame(OP_BINARY, g_payload.data(), n);
    c.awaiting = true;
    c.msg_recv = 0;
    c.sent_ns = now_ns();
    g_bytes_sent_frames += g_wbuf.size();
    return send_bytes(c, g_wbuf.data(), g_wbuf.size());
}

void send_close_frame(Conn& c) {
    uint8_t code[2] = {0x03, 0xE8};  // 1000
    build_frame(OP_CLOSE, code, 2);
    if (c.ssl) {  // best effort: the socket is non-blocking
        ERR_clear_error();
        SSL_write(c.ssl, g_wbuf.data(), int(g_wbuf.size()));
        SSL_shutdown(c.ssl);
        ERR_clear_error();
        return;
    }
    // best effort, never blocks
    ssize_t w = send(c.fd, g_wbuf.data(), g_wbuf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
}

void start_connect(Conn& c) {
    c.st = St::Connecting;
    g_inflight++;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = c.id;
    std::string why;
    c.fd = start_tcp_connect(g_ep, g_addr, ev, why);
    if (c.fd < 0) {
        fail_setup(c, why);
        return;
    }
    c.out_interest = true;
}

void send_handshake(Conn& c) {
    uint8_t raw[16];
    uint64_t a = g_rng.next(), b = g_rng.next();
    std::memcpy(raw, &a, 8);
    std::memcpy(raw + 8, &b, 8);
    std::string k = base64(raw, 16);
    std::memcpy(c.key, k.data(), 24);
    c.key[24] = 0;
    std::string req = "GET " + O.path + " HTTP/1.1\r\nHost: " + O.host + ":" +
                      std::to_string(O.port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: " +
                      k + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    c.st = St::Handshaking;
    if (!send_bytes(c, reinterpret_cast<const uint8_t*>(req.data()), req.size())) {
        fail_setup(c, "send handshake: " + io_error(c));
        return;
    }
    if (c.out_off >= c.out.size()) set_interest(c, false);
}

void on_established(Conn& c) {
    g_inflight--;
    g_established++;
    if (O.mode == Mode::Idle) {
        if (O.verify) {
            if (!send_message(c, 16)) fail_open(c, "send: " + io_error(c));
        } else {
            c.ready = true;
            g_ready++;
        }
    }
}

// Handles one complete echo. Returns false if the connection broke.
bool on_echo_complete(Conn& c) {
    uint64_t now = now_ns();
    c.awaiting = false;
    if (O.mode == Mode::Idle) {
        if (!c.ready) {
            c.ready = true;
            g_ready++;
        }
        return true;
    }
    if (g_measuring) {
        g_msgs++;
        g_hist.add(now - c.sent_ns);
    }
    if (g_running && !g_stop) {
        if (!send_message(c, O.size)) {
            fail_open(c, "send: " + io_error(c));
            return false;
        }
    }
    return true;
}

// Parses frames from the server. Returns bytes consumed or -1 if the
// connection was failed.
long process_frames(Conn& c, const uint8_t* p, size_t n) {
    size_t off = 0;
    size_t expect = O.mode == Mode::Echo ? O.size : 16;
    while (off < n) {
        FrameHdr h;
        int r = parse_frame_header(p + off, n - off, h);
        if (r == 0) break;
        if (r < 0 || h.masked) {
            fail_open(c, r < 0 ? "protocol error in server frame" : "server frame is masked");
            return -1;
        }
        if (h.len > (64u << 20)) {
            fail_open(c, "server frame too large");
            return -1;
        }
        if (n - off - h.hdr_len < h.len) break;
        const uint8_t* pl = p + off + h.hdr_len;
        size_t len = size_t(h.len);
        off += h.hdr_len + len;
        switch (h.opcode) {
            case OP_PING: {
                build_frame(OP_PONG, pl, len);
                if (!send_bytes(c, g_wbuf.data(), g_wbuf.size())) {
                    fail_open(c, "send pong failed");
                    return -1;
                }
                break;
            }
            case OP_PONG:
                break;
            case OP_CLOSE: {
                unsigned code = len >= 2 ? (unsigned(pl[0]) << 8 | pl[1]) : 1005;
                fail_open(c, "server sent close frame, code " + std::to_string(code));
                return -1;
            }
            default: {  // data / continuation
                if (!c.awaiting) {
                    fail_open(c, "unexpected data frame (nothing in flight)");
                    return -1;
                }
                if (c.msg_recv + len > expect ||
                    std::memcmp(pl, g_payload.data() + c.msg_recv, len) != 0) {
                    fail_open(c, "echo payload mismatch");
                    return -1;
                }
                c.msg_recv += len;
                if (h.fin) {
                    if (c.msg_recv != expect) {
                        fail_open(c, "echo size mismatch: got " + std::to_string(c.msg_recv) +
                                         " want " + std::to_string(expect));
                        return -1;
                    }
                    if (!on_echo_complete(c)) return -1;
                }
            }
        }
    }
    return long(off);
}

// Parses the 101 response. Returns bytes consumed, 0 if incomplete, -1 failed.
long process_handshake(Conn& c, const uint8_t* p, size_t n) {
    std::string_view s(reinterpret_cast<const char*>(p), n);
    size_t end = s.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (n > 16384) {
            fail_setup(c, "handshake failed: response header larger than 16 KiB");
            return -1;
        }
        return 0;
    }
    std::string_view head = s.substr(0, end + 2);
    std::string_view status = head.substr(0, head.find("\r\n"));
    if (status.substr(0, 13) != "HTTP/1.1 101 ") {
        std::string st(status.substr(0, 200));
        for (char& ch : st)
            if (ch < 32 || ch > 126) ch = '?';
        fail_setup(c, "handshake failed: " + st);
        return -1;
    }
    std::string_view upgrade, connection, accept;
    for_each_header(head, [&](std::string_view k, std::string_view v) {
        if (ieq(k, "upgrade")) upgrade = v;
        else if (ieq(k, "connection")) connection = v;
        else if (ieq(k, "sec-websocket-accept")) accept = v;
    });
    std::string want = ws_accept(c.key);
    if (!has_token(upgrade, "websocket")) {
        fail_setup(c, "handshake failed: 101 without Upgrade: websocket");
        return -1;
    }
    if (!has_token(connection, "upgrade")) {
        fail_setup(c, "handshake failed: 101 without Connection: upgrade");
        return -1;
    }
    if (accept != want) {
        fail_setup(c, "handshake failed: bad Sec-WebSocket-Accept '" +
                          std::string(accept.substr(0, 64)) + "' (want " + want + ")");
        return -1;
    }
    c.st = St::Open;
    on_established(c);
    return long(end + 4);
}

void feed(Conn& c, const uint8_t* data, size_t n) {
    const uint8_t* p = data;
    size_t len = n;
    bool buffered = !c.in.empty();
    if (buffered) {
        c.in.insert(c.in.end(), data, data + n);
        p = c.in.data();
        len = c.in.size();
    }
    size_t consumed = 0;
    if (c.st == St::Handshaking) {
        long r = process_handshake(c, p, len);
        if (r < 0) return;
        if (r == 0) {
            if (!buffered) c.in.assign(data, data + n);
            return;
        }
        consumed = size_t(r);
    }
    if (c.st == St::Open && consumed < len) {
        long r = process_frames(c, p + consumed, len - consumed);
        if (r < 0) return;
        consumed += size_t(r);
    }
    if (c.st == St::Closed) return;
    size_t rest = len - consumed;
    if (buffered) {
        if (rest == 0) c.in.clear();
        else if (consumed) c.in.erase(c.in.begin(), c.in.begin() + long(consumed));
    } else if (rest) {
        c.in.assign(p + consumed, p + len);
    }
    if (c.in.empty() && c.in.capacity() > 4096) std::vector<uint8_t>().swap(c.in);
}

// Drives SSL_connect; once done, sends the WebSocket handshake through it.
void tls_handshake_step(Conn& c) {
    ERR_clear_error();
    std::string why;
    switch (tls_io(c.ssl, SSL_connect(c.ssl), why, "peer")) {
        case TlsIo::Done:
            send_handshake(c);
            break;
        case TlsIo::WantRead:
            set_interest(c, false);
            break;
        case TlsIo::WantWrite:
            set_interest(c, true);
            break;
        default:
            fail_setup(c, "TLS handshake failed: " + why);
    }
}

void start_tls(Conn& c) {
    c.ssl = new_client_ssl(g_tls_ctx, c.fd, O.sni);
    if (!c.ssl) {
        fail_setup(c, "SSL_new/SSL_set_fd failed");
        return;
    }
    c.st = St::TlsHandshaking;
    tls_handshake_step(c);
}

// A send/recv failure: before the 101 a setup failure, after it a broken connection.
void fail_io(Conn& c, const std::string& why) {
    if (c.st == St::Handshaking) fail_setup(c, why);
    else fail_open(c, why);
}

// The server closed the connection.
void on_peer_closed(Conn& c) {
    if (c.st == St::Handshaking) {
        std::string partial(c.in.begin(), c.in.end());
        partial = partial.substr(0, partial.find("\r\n"));
        fail_setup(c, partial.empty() ? "handshake failed: connection closed before any response"
                                      : "handshake failed: closed mid-response: " + partial);
    } else {
        fail_open(c, "connection closed by peer");
    }
}

// on_event for a TLS connection past the TCP connect. Reads until OpenSSL
// wants more from the socket: it may hold decrypted data that epoll no longer
// signals.
void on_event_tls(Conn& c) {
    if (c.st == St::TlsHandshaking) {
        tls_handshake_step(c);
        return;
    }
    if (c.out_off < c.out.size() && !flush(c)) {
        fail_io(c, "send: " + g_tls_err);
        return;
    }
    if (c.out_off >= c.out.size() && c.out_interest) set_interest(c, false);  // read wanted a write
    while (c.st != St::Closed) {
        ERR_clear_error();
        int r = SSL_read(c.ssl, g_rbuf.data(), int(g_rbuf.size()));
        if (r > 0) {
            feed(c, g_rbuf.data(), size_t(r));
            if (c.st == St::Closed || !SSL_has_pending(c.ssl)) break;
            continue;
        }
        std::string why;
        TlsIo io = tls_io(c.ssl, r, why, "peer");
        if (io == TlsIo::WantWrite) set_interest(c, true);
        else if (io == TlsIo::Eof) on_peer_closed(c);
        else if (io == TlsIo::Error) fail_io(c, "recv: " + why);
        break;
    }
}

void on_event(Conn& c, uint32_t ev) {
    if (c.st == St::Closed) return;
    if (c.st == St::Connecting) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        std::string err = tcp_connect_result(c.fd);
        if (!err.empty()) {
            fail_setup(c, err);
            return;
        }
        c.out_interest = true;  // registered with EPOLLOUT
        if (O.tls) start_tls(c);
        else send_handshake(c);
        return;
    }
    if (c.ssl) {
        on_event_tls(c);
        return;
    }
    if ((ev & EPOLLOUT) && c.out_interest) {
        if (!flush(c)) {
            fail_io(c, std::string("send: ") + strerror(errno));
            return;
        }
    }
    if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    for (int i = 0; i < 8 && c.st != St::Closed; i++) {
        ssize_t r = recv(c.fd, g_rbuf.data(), g_rbuf.size(), 0);
        if (r > 0) {
            feed(c, g_rbuf.data(), size_t(r));
            if (size_t(r) < g_rbuf.size()) break;
        } else if (r == 0) {
            on_peer_closed(c);
            break;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            fail_io(c, std::string("recv: ") + strerror(errno));
            break;
        }
    }
}

// Dispatches ready events; waits at most timeout_ms.
void poll_once(int timeout_ms) {
    poll_events(g_ep, timeout_ms, [](const epoll_event& ev) {
        if (ev.data.u32 < g_conns.size()) on_event(g_conns[ev.data.u32], ev.events);
    });
}

// Opens all connections with bounded concurrency. Returns when every
// connection is established (and, in idle mode, verified) or failed, or the
// timeout expires (stragglers then count as failed).
void connect_phase() {
    size_t next = 0;
    uint64_t deadline = now_ns() + uint64_t(O.connect_timeout * 1e9);
    auto done = [&] {
        long settled = g_failed + (O.mode == Mode::Idle ? g_ready : g_established);
        return next >= g_conns.size() && settled >= long(g_conns.size());
    };
    while (!done() && !g_stop) {
        while (next < g_conns.size() && g_inflight < O.concurrency) start_connect(g_conns[next++]);
        if (now_ns() >= deadline) break;
        poll_once(50);
    }
    for (auto& c : g_conns) {
        if (c.st == St::Connecting || c.st == St::TlsHandshaking || c.st == St::Handshaking) {
            fail_setup(c, std::string("timeout after ") + std::to_string(int(O.connect_timeout)) +
                              "s while " +
                              (c.st == St::Connecting       ? "connecting"
                               : c.st == St::TlsHandshaking ? "in the TLS handshake"
                                                            : "waiting for 101"));
        } else if (O.mode == Mode::Idle && c.st == St::Open && !c.ready) {
            fail_open(c, "timeout waiting for the verification echo");
        }
    }
    for (size_t i = next; i < g_conns.size(); i++) g_failed++;  // never started (stopped)
}

int run_echo() {
    connect_phase();
    if (g_failed > 0 || g_stop) {
        fprintf(stderr, "ws_load: %ld of %zu connections failed to establish; no measurement\n",
                g_failed, g_conns.size());
        printf("RESULT mode=echo ok=0 conns=%zu established=%ld failed=%ld\n", g_conns.size(),
               g_established, g_failed);
        return 2;
    }
    g_running = true;
    uint64_t t0 = now_ns();
    for (auto& c : g_conns)
        if (c.st == St::Open && !send_message(c, O.size))
            fail_open(c, "send: " + io_error(c));

    Window win(O.watch);
    run_window(t0, O.warmup, O.duration, g_stop, g_measuring, win, poll_once);
    g_running = false;
    long open_now = 0;
    for (auto& c : g_conns) {
        if (c.st == St::Open) {
            open_now++;
            send_close_frame(c);
        }
        close_fd(c);
    }
    double secs = win.secs();
    double rate = secs > 0 ? double(g_msgs) / secs : 0;
    auto us = [](uint64_t ns) { return double(ns) / 1000.0; };
    double mean = g_hist.count ? double(g_hist.sum / g_hist.count) : 0;
    fprintf(stderr,
            "ws_load echo: %zu conns, %zu-byte messages, warmup %.1fs, measured %.3fs%s\n"
            "  messages: %llu  (%.1f msg/s)   errors: %ld   still open at end: %ld\n"
            "  latency us: p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f mean=%.1f\n",
            g_conns.size(), O.size, O.warmup, secs, g_stop ? " (interrupted)" : "",
            (unsigned long long)g_msgs, rate, g_errors, open_now, us(g_hist.percentile(0.50)),
            us(g_hist.percentile(0.90)), us(g_hist.percentile(0.99)),
            us(g_hist.percentile(0.999)), us(g_hist.max), mean / 1000.0);
    std::string cpu = win.cpu_report(g_msgs, "msg", "msg");
    printf("RESULT mode=echo ok=%d conns=%zu size=%zu secs=%.3f msgs=%llu msgs_per_s=%.1f "
           "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f "
           "errors=%ld%s\n",
           g_errors == 0 && !g_stop ? 1 : 0, g_conns.size(), O.size, secs,
           (unsigned long long)g_msgs, rate, us(g_hist.percentile(0.50)),
           us(g_hist.percentile(0.90)), us(g_hist.percentile(0.99)), us(g_hist.percentile(0.999)),
           us(g_hist.max), mean / 1000.0, g_errors, cpu.c_str());
    fflush(stdout);
    return g_errors ? 1 : 0;
}

int run_idle() {
    uint64_t t0 = now_ns();
    connect_phase();
    double setup_s = double(now_ns() - t0) / 1e9;
    if (g_failed)
        fprintf(stderr, "ws_load idle: %ld of %zu connections failed to establish\n", g_failed,
                g_conns.size());
    fprintf(stderr, "ws_load idle: %ld tunnels ready in %.2fs\n", g_ready, setup_s);
    printf("READY %ld\n", g_ready);
    if (g_failed) printf("FAILED %ld\n", g_failed);
    fflush(stdout);
    double held_s = hold_idle(g_ready > 0 ? O.hold : 0, g_stop, [] { return g_ready - g_dropped; }, poll_once);
    long closed = 0;
    for (auto& c : g_conns) {
        if (c.st == St::Open) {
            send_close_frame(c);
            closed++;
        }
        close_fd(c);
    }
    return idle_result(closed, g_conns.size(), g_ready, g_failed, g_dropped, setup_s, held_s);
}

[[noreturn]] void usage(const char* msg = nullptr) {
    if (msg) fprintf(stderr, "ws_load: %s\n", msg);
    fprintf(stderr,
            "usage: ws_load echo --port P [--conns 256] [--size 32] [--duration 10] [--warmup 2]\n"
            "                    [--watch-pids PID,PID...]\n"
            "       ws_load idle --port P [--conns 5000] [--hold 30] [--no-verify]\n"
            "       common: [--host 127.0.0.1] [--path /ws] [--concurrency 64]\n"
            "               [--connect-timeout 30] [--tls [--tls-version 1.3|1.2] [--sni localhost]]\n"
            "       ws_load --selftest\n");
    exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "--selftest") {
        bool ok = selftest();
        Histogram h;
        for (uint64_t v = 1; v <= 1000000; v++) h.add(v * 1000);  // 1us..1s uniform
        double p50 = double(h.percentile(0.5)), p99 = double(h.percentile(0.99));
        ok &= p50 > 0.98 * 5e8 && p50 < 1.02 * 5e8 && p99 > 0.98 * 9.9e8 && p99 < 1.02 * 9.9e8;
        printf("selftest %s\n", ok ? "ok" : "FAILED");
        return ok ? 0 : 1;
    }
    if (argc < 2) usage();
    std::string_view mode = argv[1];
    if (mode == "echo") O.mode = Mode::Echo;
    else if (mode == "idle") O.mode = Mode::Idle;
    else usage("mode must be echo or idle");
    Args args{"ws_load", argc, argv, usage, 1};
    while (const char* opt = args.next()) {
        std::string_view a = opt;
        if (args.load_option(a, O)) continue;
        if (a == "--conns") O.conns = long(args.number(1, 100000, "conns"));
        else if (a == "--size") O.size = size_t(args.number(1, 1 << 20, "size"));
        else if (a == "--hold") O.hold = args.number(0, 3600, "hold");
        else if (a == "--connect-timeout") O.connect_timeout = args.number(0.1, 600, "timeout");
        else if (a == "--concurrency") O.concurrency = long(args.number(1, 10000, "concurrency"));
        else if (a == "--no-verify") O.verify = false;
        else if (a == "--tls") O.tls = true;
        else usage(("unknown option " + std::string(a)).c_str());
    }
    args.check_load_opts(O);
    if (O.conns < 0) O.conns = O.mode == Mode::Echo ? 256 : 5000;
    if (!loopback_target("ws_load", O, g_addr)) return 2;
    rlim_t lim = raise_nofile();
    if (rlim_t(O.conns) + 32 > lim) {
        fprintf(stderr, "ws_load: %ld connections need more file descriptors (limit %llu)\n",
                O.conns, (unsigned long long)lim);
        return 2;
    }
    catch_signals(on_signal, {SIGINT, SIGTERM, SIGUSR1});

    g_payload.resize(std::max<size_t>(O.size, 16));
    for (size_t i = 0; i < g_payload.size(); i++) g_payload[i] = uint8_t(i * 131 + 7);
    g_wbuf.reserve(O.size + 14);
    g_conns.resize(size_t(O.conns));
    for (size_t i = 0; i < g_conns.size(); i++) g_conns[i].id = uint32_t(i);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) {
        perror("epoll_create1");
        return 2;
    }
    if (O.tls) {
        g_tls_ctx = new_client_ctx(O.tls_max_version);
        if (!g_tls_ctx) {
            fprintf(stderr, "ws_load: cannot set up the TLS context\n");
            return 2;
        }
        SSL_CTX_set_session_cache_mode(g_tls_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_mode(g_tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_read_ahead(g_tls_ctx, 1);  // one recv per burst, not one per record part
    }
    return O.mode == Mode::Echo ? run_echo() : run_idle();
}

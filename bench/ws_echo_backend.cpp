// ws_echo_backend - single-threaded epoll WebSocket (RFC 6455) echo server for
// benchmarks. Listens on 127.0.0.1 only.
//
//   ws_echo_backend -p PORT [-m MAX_PAYLOAD] [-c MAX_CONNS] [-T LIFETIME_S] [-q]
//   ws_echo_backend --selftest
//
// * Handshake: GET with Upgrade: websocket + Sec-WebSocket-Key -> 101 with a
//   correct Sec-WebSocket-Accept (built-in SHA-1). Anything else gets 400/426.
// * Data frames (text/binary/continuation) are echoed unmasked with the same
//   opcode and FIN bit; ping -> pong; close -> close echoed, then closed.
// * Client frames must be masked (RFC 6455 5.1): an unmasked or otherwise
//   malformed frame gets close 1002. Payloads above MAX_PAYLOAD get 1009.
// * Idle connections cost ~100 bytes: buffers are only held while partial
//   input or unsent output exists.
// * Backpressure: while a connection has unsent output its input is not read.
// * Bounded: exits after LIFETIME_S seconds (default 3600) or on SIGINT/SIGTERM.
#include "backend_loop.h"

using namespace bench;

namespace {

constexpr size_t kMaxHandshake = 8192;
constexpr size_t kReadChunk = 256 * 1024;

enum class St : uint8_t { Handshake, Open, Closing };

struct Conn {
    int fd = -1;
    St st = St::Handshake;
    bool out_interest = false;  // EPOLLOUT registered (and EPOLLIN dropped)
    bool close_after_flush = false;
    std::vector<uint8_t> in;   // partial handshake / partial frame
    std::vector<uint8_t> out;  // unsent output
    size_t out_off = 0;
};

struct Stats {
    uint64_t upgraded = 0, rejected = 0, frames = 0, bytes = 0, proto_err = 0;
} g_stats;

int g_ep = -1;
uint64_t g_max_payload = 1 << 20;
Acceptor g_acc{.warn_as = "ws_echo_backend", .max_live = 100000};
bool g_quiet = false;
std::vector<std::unique_ptr<Conn>> g_conns;  // indexed by fd
std::vector<std::unique_ptr<Conn>> g_dead;   // closed this loop iteration, freed after it
std::vector<uint8_t> g_rbuf(kReadChunk);
std::vector<uint8_t> g_obuf;  // scratch output
volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

// Closes the socket; the Conn object stays valid (fd = -1) until the end of
// the current event-loop iteration, so callers can test c->fd < 0 safely.
void close_conn(Conn* c) {
    if (c->fd < 0) return;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    g_acc.live--;
    g_dead.push_back(std::move(g_conns[size_t(c->fd)]));
    c->fd = -1;
}

void set_interest(Conn* c, bool want_out) {
    if (c->out_interest == want_out) return;
    // no reading while output is pending
    epoll_set(g_ep, EPOLL_CTL_MOD, c->fd, want_out ? EPOLLOUT : EPOLLIN);
    c->out_interest = want_out;
}

// Tries to send data; keeps the remainder in c->out. Returns false if the
// connection was closed.
bool send_or_queue(Conn* c, const uint8_t* p, size_t n) {
    if (c->out.size() > c->out_off) {  // already queued: keep order
        c->out.insert(c->out.end(), p, p + n);
        return true;
    }
    c->out.clear();
    c->out_off = 0;
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= size_t(w);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->out.assign(p, p + n);
            set_interest(c, true);
            return true;
        } else {
            close_conn(c);
            return false;
        }
    }
    if (c->close_after_flush) {
        close_conn(c);
        return false;
    }
    return true;
}

bool flush(Conn* c) {
    while (c->out_off < c->out.size()) {
        ssize_t w = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off,
                         MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += size_t(w);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else {
            close_conn(c);
            return false;
        }
    }
    c->out.clear();
    c->out_off = 0;
    if (c->out.capacity() > 64 * 1024) std::vector<uint8_t>().swap(c->out);
    if (c->close_after_flush) {
        close_conn(c);
        return false;
    }
    set_interest(c, false);
    return true;
}

void append_close(std::vector<uint8_t>& o, uint16_t code) {
    uint8_t h[14];
    uint8_t payload[2] = {uint8_t(code >> 8), uint8_t(code)};
    size_t hl = write_frame_header(h, true, OP_CLOSE, 2, nullptr);
    o.insert(o.end(), h, h + hl);
    o.insert(o.end(), payload, payload + 2);
}

// Sends an HTTP error and closes after flushing.
bool http_error(Conn* c, const char* status, const char* extra) {
    g_stats.rejected++;
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     extra);
    c->close_after_flush = true;
    c->st = St::Closing;
    return send_or_queue(c, reinterpret_cast<uint8_t*>(buf), size_t(n));
}

// Parses the handshake from `data`. Returns the number of bytes consumed (0 if
// incomplete), or -1 if the connection was closed/failed.
long do_handshake(Conn* c, const uint8_t* data, size_t n) {
    std::string_view s(reinterpret_cast<const char*>(data), n);
    size_t end = s.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (n > kMaxHandshake) {
            http_error(c, "431 Request Header Fields Too Large", "");
            return -1;
        }
        return 0;
    }
    std::string_view head = s.substr(0, end + 2);
    if (head.substr(0, 4) != "GET ") {
        http_error(c, "405 Method Not Allowed", "Allow: GET\r\n");
        return -1;
    }
    std::string_view key, upgrade, version;
    for_each_header(head, [&](std::string_view k, std::string_view v) {
        if (ieq(k, "sec-websocket-key")) key = v;
        else if (ieq(k, "upgrade")) upgrade = v;
        else if (ieq(k, "sec-websocket-version")) version = v;
    });
    if (!has_token(upgrade, "websocket")) {
        http_error(c, "426 Upgrade Required", "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        return -1;
    }
    if (key.empty() || key.size() > 64 || (!version.empty() && version != "13")) {
        http_error(c, "400 Bad Request", "Sec-WebSocket-Version: 13\r\n");
        return -1;
    }
    std::string resp =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        ws_accept(key) + "\r\n\r\n";
    c->st = St::Open;
    g_stats.upgraded++;
    if (!send_or_queue(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size())) return -1;
    return long(end + 4);
}

// Processes complete frames in data[0..n) appending echoes to g_obuf.
// Returns bytes consumed, or -1 if the connection must be closed after
// flushing g_obuf (protocol error / close frame).
long do_frames(Conn* c, const uint8_t* data, size_t n) {
    size_t off = 0;
    while (off < n) {
        FrameHdr h;
        int r = parse_frame_header(data + off, n - off, h);
        if (r == 0) break;
        if (r < 0 || !h.masked) {
            g_stats.proto_err++;
            append_close(g_obuf, 1002);
            return -1;
        }
        if (h.len > g_max_payload) {
            g_stats.proto_err++;
            append_close(g_obuf, 1009);
            return -1;
        }
        if (n - off - h.hdr_len < h.len) break;  // payload incomplete
        const uint8_t* pl = data + off + h.hdr_len;
        size_t len = size_t(h.len);
        uint8_t opcode = h.opcode;
        if (opcode == OP_PONG) {
            off += h.hdr_len + len;
            continue;
        }
        if (opcode == OP_PING) opcode = OP_PONG;
        uint8_t hdr[14];
        size_t hl = write_frame_header(hdr, h.fin, opcode, len, nullptr);
        size_t base = g_obuf.size();
        g_obuf.resize(base + hl + len);
        std::memcpy(g_obuf.data() + base, hdr, hl);
        apply_mask(g_obuf.data() + base + hl, pl, len, h.mask);
        off += h.hdr_len + len;
        if (opcode == OP_CLOSE) return -1;  // close echoed; we are done
        g_stats.frames++;
        g_stats.bytes += len;
    }
    (void)c;
    return long(off);
}

// Feeds newly read bytes. Returns false if the connection is gone.
bool feed(Conn* c, const uint8_t* data, size_t n) {
    if (c->st == St::Closing) return true;  // discard input while closing
    const uint8_t* p = data;
    size_t len = n;
    bool buffered = !c->in.empty();
    if (buffered) {
        c->in.insert(c->in.end(), data, data + n);
        p = c->in.data();
        len = c->in.size();
    }
    size_t consumed = 0;
    if (c->st == St::Handshake) {
        long r = do_handshake(c, p, len);
        if (c->fd < 0) return false;
        if (r < 0) {  // error response queued, connection closes after flush
            c->in.clear();
            return true;
        }
        if (r == 0) {  // incomplete (size bound checked in do_handshake)
            if (!buffered) c->in.assign(data, data + n);
            return true;
        }
        consumed = size_t(r);
    }
    if (consumed < len) {  // St::Open
        g_obuf.clear();
        long r = do_frames(c, p + consumed, len - consumed);
        bool must_close = r < 0;
        if (must_close) {
            c->close_after_flush = true;
            c->st = St::Closing;
        } else {
            consumed += size_t(r);
        }
        if (!g_obuf.empty()) {
            send_or_queue(c, g_obuf.data(), g_obuf.size());
            if (c->fd < 0) return false;
        } else if (must_close) {
            close_conn(c);
            return false;
        }
        if (must_close) {
            c->in.clear();
            return true;
        }
    }
    // keep the unconsumed tail (a partial frame), bounded by max payload
    size_t rest = len - consumed;
    if (rest > g_max_payload + 14) {
        close_conn(c);
        return false;
    }
    if (buffered) {
        if (rest == 0) c->in.clear();
        else if (consumed) c->in.erase(c->in.begin(), c->in.begin() + long(consumed));
    } else if (rest) {
        c->in.assign(p + consumed, p + len);
    }
    if (c->in.empty() && c->in.capacity()) std::vector<uint8_t>().swap(c->in);  // idle: no buffers
    return true;
}

void on_readable(Conn* c) {
    for (int i = 0; i < 16; i++) {
        ssize_t r = recv(c->fd, g_rbuf.data(), g_rbuf.size(), 0);
        if (r > 0) {
            if (!feed(c, g_rbuf.data(), size_t(r))) return;
            if (c->out_interest || c->close_after_flush) return;  // backpressure
            if (size_t(r) < g_rbuf.size()) return;
        } else if (r == 0) {
            close_conn(c);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            close_conn(c);
            return;
        }
    }
}

void usage() {
    fprintf(stderr,
            "usage: ws_echo_backend -p PORT [-m MAX_PAYLOAD] [-c MAX_CONNS] [-T LIFETIME_S] [-q]\n"
            "       ws_echo_backend --selftest\n");
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
            bool ok = selftest();
            printf("selftest %s\n", ok ? "ok" : "FAILED");
            return ok ? 0 : 1;
        } else if (a == "-p") {
            port = atoi(val());
        } else if (a == "-m") {
            g_max_payload = strtoull(val(), nullptr, 10);
        } else if (a == "-c") {
            g_acc.max_live = strtoull(val(), nullptr, 10);
        } else if (a == "-T") {
            lifetime = atof(val());
        } else if (a == "-q") {
            g_quiet = true;
        } else {
            usage();
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || lifetime <= 0 || g_max_payload == 0 ||
        g_max_payload > (64u << 20)) {
        usage();
        return 2;
    }
    install_signals(on_signal);
    raise_nofile();
    g_acc.keep_reserve();
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    g_obuf.reserve(kReadChunk + 4096);
    int lfd = open_listener("ws_echo_backend", g_ep, uint16_t(port));
    if (lfd < 0) return 1;

    auto before_wait = [] { g_dead.clear(); };  // closed in the last batch: no event refers to them
    auto on_event = [lfd](uint64_t d, uint32_t e) {
        if (d & kListener) return g_acc.accept_all(g_ep, lfd, g_conns);
        Conn* c = conn_at(g_conns, d);
        if (!c) return;
        if (c->out_interest) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                if (!flush(c)) return;
                if (!c->out_interest && c->fd >= 0) on_readable(c);  // drained: resume
            }
        } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            on_readable(c);
        }
    };
    if (int rc = serve_loop("ws_echo_backend", g_ep, lifetime, g_stop, before_wait, on_event))
        return rc;
    if (!g_quiet)
        fprintf(stderr,
                "ws_echo_backend: accepted=%llu upgraded=%llu rejected=%llu frames=%llu "
                "bytes=%llu protocol_errors=%llu live=%zu\n",
                (unsigned long long)g_acc.accepted, (unsigned long long)g_stats.upgraded,
                (unsigned long long)g_stats.rejected, (unsigned long long)g_stats.frames,
                (unsigned long long)g_stats.bytes, (unsigned long long)g_stats.proto_err,
                g_acc.live);
    return 0;
}

// http_backend - tiny single-threaded epoll HTTP/1.1 keep-alive responder for
// proxy benchmarks. Listens on 127.0.0.1 only, on one or more ports (one
// process can stand in for several upstream servers; each response carries
// "X-Backend: <port>" so load distribution can be checked).
//
//   http_backend -p PORTS [-b BODY_BYTES] [-c MAX_CONNS] [-T LIFETIME_S] [-q]
//     PORTS: "18091" or "18091-18094" or "18091,18095"
//
// Every request gets "200 OK" with a fixed BODY_BYTES body (default 64).
// Keep-alive per HTTP/1.0/1.1 rules, pipelining, Content-Length request bodies
// are read and discarded; chunked request bodies get 501 and a close; headers
// over 16 KiB get 431; a malformed request line gets 400. While a connection
// has unsent output its input is not read (bounded memory).
// Exits after LIFETIME_S seconds (default 3600) or on SIGINT/SIGTERM.
// SIGUSR1 prints "STATS accepted=N requests=N errors=N live=N" on stdout
// (accepted = connections opened to this backend, i.e. by the proxy).
#include "backend_loop.h"

using namespace bench;

namespace {

constexpr size_t kMaxHeader = 16384;
constexpr size_t kReadChunk = 64 * 1024;

struct Conn {
    int fd = -1;
    uint16_t port_idx = 0;
    bool out_interest = false;
    bool close_after_flush = false;
    uint64_t body_left = 0;  // request body bytes still to discard
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_off = 0;
};

struct Resp {  // prebuilt response variants for one port
    std::string ka, close, ka10;  // HTTP/1.1 keep-alive, close, HTTP/1.0 keep-alive
    size_t body = 0;
};

int g_ep = -1;
Acceptor g_acc{.max_live = 100000};
std::vector<std::unique_ptr<Conn>> g_conns;
std::vector<std::unique_ptr<Conn>> g_dead;
std::vector<uint8_t> g_rbuf(kReadChunk);
std::vector<uint8_t> g_obuf;
std::vector<Resp> g_resp;
std::vector<int> g_lfds;
uint64_t g_requests = 0, g_errors = 0;
volatile sig_atomic_t g_stop = 0, g_dump = 0;

void on_signal(int) { g_stop = 1; }
void on_usr1(int) { g_dump = 1; }

void dump_stats() {
    printf("STATS accepted=%llu requests=%llu errors=%llu live=%zu\n",
           (unsigned long long)g_acc.accepted, (unsigned long long)g_requests,
           (unsigned long long)g_errors, g_acc.live);
    fflush(stdout);
}

void close_conn(Conn* c) {
    if (c->fd < 0) return;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    g_acc.live--;
    g_dead.push_back(std::move(g_conns[size_t(c->fd)]));
    c->fd = -1;
}

void set_interest(Conn* c, bool out) {
    if (c->out_interest == out) return;
    epoll_set(g_ep, EPOLL_CTL_MOD, c->fd, out ? EPOLLOUT : EPOLLIN);
    c->out_interest = out;
}

void send_or_queue(Conn* c, const uint8_t* p, size_t n) {
    if (c->out_off < c->out.size()) {
        c->out.insert(c->out.end(), p, p + n);
        return;
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
            return;
        } else {
            close_conn(c);
            return;
        }
    }
    if (c->close_after_flush) close_conn(c);
}

void flush(Conn* c) {
    while (c->out_off < c->out.size()) {
        ssize_t w = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off,
                         MSG_NOSIGNAL);
        if (w > 0) c->out_off += size_t(w);
        else if (w < 0 && errno == EINTR) continue;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        else {
            close_conn(c);
            return;
        }
    }
    c->out.clear();
    c->out_off = 0;
    if (c->out.capacity() > 64 * 1024) std::vector<uint8_t>().swap(c->out);
    if (c->close_after_flush) {
        close_conn(c);
        return;
    }
    set_interest(c, false);
}

void append(const std::string& s, size_t n) {
    g_obuf.insert(g_obuf.end(), s.begin(), s.begin() + long(n));
}

void append_error(const char* status) {
    g_errors++;
    char b[256];
    int n = snprintf(b, sizeof b,
                     "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    g_obuf.insert(g_obuf.end(), b, b + n);
}

// Parses as many complete requests as possible from p[0..n), appending
// responses to g_obuf. Returns bytes consumed; sets c->close_after_flush on a
// fatal error or "Connection: close".
size_t parse_requests(Conn* c, const uint8_t* p, size_t n) {
    size_t off = 0;
    const Resp& R = g_resp[c->port_idx];
    while (off < n && !c->close_after_flush) {
        if (c->body_left) {
            uint64_t k = std::min<uint64_t>(c->body_left, n - off);
            c->body_left -= k;
            off += size_t(k);
            continue;
        }
        std::string_view s(reinterpret_cast<const char*>(p + off), n - off);
        // tolerate empty lines between requests (RFC 9112 2.2)
        if (s[0] == '\r' || s[0] == '\n') {
            off++;
            continue;
        }
        size_t end = s.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            if (s.size() > kMaxHeader) {
                append_error("431 Request Header Fields Too Large");
                c->close_after_flush = true;
            }
            break;
        }
        std::string_view head = s.substr(0, end + 2);
        std::string_view line = head.substr(0, head.find("\r\n"));
        size_t sp1 = line.find(' ');
        size_t sp2 = line.rfind(' ');
        std::string_view ver = sp2 != std::string_view::npos ? line.substr(sp2 + 1) : "";
        if (sp1 == std::string_view::npos || sp1 == 0 || sp2 <= sp1 + 1 ||
            (ver != "HTTP/1.1" && ver != "HTTP/1.0")) {
            append_error("400 Bad Request");
            c->close_after_flush = true;
            break;
        }
        bool head_method = line.substr(0, sp1) == "HEAD";
        bool http10 = ver == "HTTP/1.0";
        bool conn_close = false, conn_ka = false, bad = false, chunked = false;
        uint64_t clen = 0;
        for_each_header(head, [&](std::string_view k, std::string_view v) {
            if (ieq(k, "content-length")) {
                if (v.empty() || v.size() > 12) bad = true;
                uint64_t x = 0;
                for (char ch : v) {
                    if (ch < '0' || ch > '9') bad = true;
                    x = x * 10 + uint64_t(ch - '0');
                }
                clen = x;
            } else if (ieq(k, "transfer-encoding")) {
                chunked = true;
            } else if (ieq(k, "connection")) {
                if (has_token(v, "close")) conn_close = true;
                if (has_token(v, "keep-alive")) conn_ka = true;
            }
        });
        off += end + 4;
        if (bad) {
            append_error("400 Bad Request");
            c->close_after_flush = true;
            break;
        }
        if (chunked) {
            append_error("501 Not Implemented");
            c->close_after_flush = true;
            break;
        }
        c->body_left = clen;
        bool keep = http10 ? (conn_ka && !conn_close) : !conn_close;
        const std::string& r = !keep ? R.close : (http10 ? R.ka10 : R.ka);
        append(r, head_method ? r.size() - R.body : r.size());
        g_requests++;
        if (!keep) c->close_after_flush = true;
    }
    return off;
}

void on_readable(Conn* c) {
    for (int i = 0; i < 8; i++) {
        ssize_t r = recv(c->fd, g_rbuf.data(), g_rbuf.size(), 0);
        if (r == 0) {
            close_conn(c);
            return;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(c);
            return;
        }
        const uint8_t* p = g_rbuf.data();
        size_t len = size_t(r);
        bool buffered = !c->in.empty();
        if (buffered) {
            c->in.insert(c->in.end(), p, p + len);
            p = c->in.data();
            len = c->in.size();
        }
        g_obuf.clear();
        size_t used = parse_requests(c, p, len);
        size_t rest = len - used;
        if (c->close_after_flush) rest = 0;
        if (buffered) {
            if (rest == 0) c->in.clear();
            else if (used) c->in.erase(c->in.begin(), c->in.begin() + long(used));
        } else if (rest) {
            c->in.assign(p + used, p + len);
        }
        if (c->in.empty() && c->in.capacity()) std::vector<uint8_t>().swap(c->in);
        if (!g_obuf.empty()) send_or_queue(c, g_obuf.data(), g_obuf.size());
        else if (c->close_after_flush) close_conn(c);
        if (c->fd < 0 || c->out_interest) return;
        if (size_t(r) < g_rbuf.size()) return;
    }
}

void usage() {
    fprintf(stderr,
            "usage: http_backend -p PORTS [-b BODY_BYTES] [-c MAX_CONNS] [-T LIFETIME_S] [-q]\n"
            "       PORTS: 18091 | 18091-18094 | 18091,18095\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<uint16_t> ports;
    long body = 64;
    double lifetime = 3600;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) {
                usage();
                exit(2);
            }
            return argv[++i];
        };
        if (a == "-p") {
            if (!parse_ports(val(), ports)) {
                usage();
                return 2;
            }
        } else if (a == "-b") {
            body = atol(val());
        } else if (a == "-c") {
            g_acc.max_live = strtoull(val(), nullptr, 10);
        } else if (a == "-T") {
            lifetime = atof(val());
        } else if (a == "-q") {
            quiet = true;
        } else {
            usage();
            return 2;
        }
    }
    if (ports.empty() || body < 0 || body > (1 << 20) || lifetime <= 0) {
        usage();
        return 2;
    }
    install_signals(on_signal, on_usr1);
    raise_nofile();
    g_acc.keep_reserve();
    g_ep = epoll_create1(EPOLL_CLOEXEC);

    std::string payload(size_t(body), 'x');
    for (size_t i = 0; i < payload.size(); i++) payload[i] = char('a' + i % 26);
    if (!payload.empty()) payload.back() = '\n';
    for (size_t i = 0; i < ports.size(); i++) {
        int lfd = open_listener("http_backend", g_ep, ports[i], i);
        if (lfd < 0) return 1;
        g_lfds.push_back(lfd);
        std::string common = "Server: bench-http-backend\r\nContent-Type: text/plain\r\n"
                             "Content-Length: " +
                             std::to_string(body) + "\r\nX-Backend: " + std::to_string(ports[i]) +
                             "\r\n";
        Resp r;
        r.body = payload.size();
        r.ka = "HTTP/1.1 200 OK\r\n" + common + "\r\n" + payload;
        r.close = "HTTP/1.1 200 OK\r\n" + common + "Connection: close\r\n\r\n" + payload;
        r.ka10 = "HTTP/1.1 200 OK\r\n" + common + "Connection: keep-alive\r\n\r\n" + payload;
        g_resp.push_back(std::move(r));
    }

    auto before_wait = [] {
        g_dead.clear();  // closed in the last batch: no event refers to them any more
        if (g_dump) {
            g_dump = 0;
            dump_stats();
        }
    };
    auto on_event = [](uint64_t d, uint32_t e) {
        if (d & kListener) {
            uint16_t idx = uint16_t(d & 0xFFFF);
            g_acc.accept_all(g_ep, g_lfds[idx], g_conns, [idx](Conn& c) { c.port_idx = idx; });
            return;
        }
        Conn* c = conn_at(g_conns, d);
        if (!c) return;
        if (c->out_interest) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                flush(c);
                if (c->fd >= 0 && !c->out_interest) on_readable(c);
            }
        } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            on_readable(c);
        }
    };
    if (int rc = serve_loop("http_backend", g_ep, lifetime, g_stop, before_wait, on_event))
        return rc;
    if (!quiet)
        fprintf(stderr, "http_backend: accepted=%llu requests=%llu errors=%llu live=%zu\n",
                (unsigned long long)g_acc.accepted, (unsigned long long)g_requests,
                (unsigned long long)g_errors, g_acc.live);
    return 0;
}

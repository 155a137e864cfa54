// tls_load - single-threaded epoll TLS handshake load generator (OpenSSL).
// Talks to 127.0.0.0/8 only. Each of --conns slots runs a closed loop:
//   TCP connect -> TLS handshake -> "GET PATH HTTP/1.1" (Connection: close)
//   -> read the whole response (status 200, Content-Length, body compared with
//   --expect) -> close_notify + close -> next connection at once.
// One connection = one handshake = one request.
//
//   tls_load --port P [--conns 32] [--duration 10] [--warmup 2] [--resume]
//            [--tls-version 1.3|1.2] [--path /tls] [--expect ok] [--sni localhost]
//            [--timeout 10] [--watch-pids PID,PID...] [--host 127.0.0.1]
//   tls_load --selftest
//
// Without --resume every handshake is a full one: the client has no session
// cache, so it never offers a session (the server's tickets are received and
// dropped, as a first-time visitor's would be). With --resume each slot keeps
// the latest resumable SSL_SESSION its connection was given (TLS 1.3
// NewSessionTicket, or the TLS 1.2 ticket/session id) and offers it on the
// slot's next connection; SSL_session_reused() tells whether the server
// accepted it. So a ticket is offered once, by one connection at a time, as
// RFC 8446 recommends (one session shared by concurrent connections was seen
// to be declined now and then, by nginx and switchyard alike). The first
// connection of each slot has nothing to offer and is a full handshake (in
// the warmup).
//
// Nothing is counted during the warmup; then handshakes/s, the resumed share,
// and the latency of a whole connection (connect to last response byte) over
// the measured window. With --watch-pids the utime+stime of those processes
// is sampled at the exact window boundaries (-> proxy CPU µs per handshake).
//
// The server certificate is not verified (a benchmark, on loopback).
// Machine-readable summary: one line starting with "RESULT " of key=value pairs.
// Exit status: 0 ok, 1 errors during the run, 2 usage/setup failure.
#include <string>

#include "load_client.h"

using namespace bench;

namespace {

enum class St : uint8_t { Idle, Connecting, Handshaking, Writing, Reading };

struct Slot {
    int fd = -1;
    SSL* ssl = nullptr;
    St st = St::Idle;
    uint32_t id = 0;
    uint32_t gen = 0;       // bumped per connection: stale epoll events are ignored
    uint32_t interest = 0;  // current epoll mask
    bool resumed = false;
    bool offered = false;   // --resume: a session was offered
    SSL_SESSION* sess = nullptr;  // --resume: the latest session this slot received
    uint64_t start_ns = 0;
    size_t req_off = 0;
    std::string resp;
};

struct Opts : LoadOpts {
    Opts() : LoadOpts("/tls") {}
    std::string expect = "ok";
    long conns = 32;
    double timeout = 10;
    bool resume = false;
} O;

int g_ep = -1;
sockaddr_in g_addr{};
SSL_CTX* g_ctx = nullptr;
std::vector<Slot> g_slots;
std::vector<uint32_t> g_restart;  // slots to reconnect after the current event batch
std::string g_req;
volatile sig_atomic_t g_stop = 0;

bool g_running = false, g_measuring = false;
uint64_t g_done = 0, g_resumed = 0, g_full = 0, g_warm_done = 0, g_tickets = 0;
uint64_t g_declined = 0;  // measured full handshakes although a session was offered
long g_errors = 0;
int g_reported = 0;
std::string g_protocol = "?", g_cipher = "?";
Histogram g_hist;

void on_signal(int) { g_stop = 1; }

void close_slot(Slot& s) {
    close_client(g_ep, s.ssl, s.fd);
    s.st = St::Idle;
    s.resp.clear();
}

void fail(Slot& s, const std::string& why) {
    if (count_conn_error("tls_load", s.id, why, g_errors, g_reported)) g_stop = 1;
    close_slot(s);
    g_restart.push_back(s.id);
}

// After an SSL call returned r <= 0: waits for what it wants, or fails the
// connection (what: the step, for the message). Returns false if it failed.
bool want(Slot& s, int r, const char* what) {
    std::string why;
    switch (tls_io(s.ssl, r, why)) {
        case TlsIo::WantRead:
            set_slot_interest(g_ep, s, EPOLLIN);
            return true;
        case TlsIo::WantWrite:
            set_slot_interest(g_ep, s, EPOLLOUT);
            return true;
        case TlsIo::Eof:
            if (s.st == St::Reading) {
                std::string line = s.resp.substr(0, s.resp.find("\r\n"));
                fail(s, line.empty() ? "connection closed before any response"
                                     : "connection closed mid-response: " + line.substr(0, 200));
                return false;
            }
            [[fallthrough]];
        default:
            fail(s, std::string(what) + ": " + why);
            return false;
    }
}

void start(Slot& s) {
    s.gen++;
    s.st = St::Connecting;
    s.start_ns = now_ns();
    s.req_off = 0;
    s.resumed = false;
    s.offered = false;
    s.resp.clear();
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

// Parses an HTTP/1.1 response. Returns 1 when it is complete and as expected,
// 0 when more bytes are needed, -1 on anything else (why says what).
int parse_response(std::string_view s, std::string_view expect, std::string& why) {
    size_t end = s.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (s.size() > 16384) {
            why = "response header larger than 16 KiB";
            return -1;
        }
        return 0;
    }
    std::string_view head = s.substr(0, end + 2);
    std::string_view status = head.substr(0, head.find("\r\n"));
    if (status.substr(0, 13) != "HTTP/1.1 200 " && status != "HTTP/1.1 200") {
        std::string st(status.substr(0, 200));
        for (char& ch : st)
            if (ch < 32 || ch > 126) ch = '?';
        why = "unexpected status: " + st;
        return -1;
    }
    long clen = -1;
    bool chunked = false;
    for_each_header(head, [&](std::string_view k, std::string_view v) {
        if (ieq(k, "content-length")) {
            clen = 0;
            for (char ch : v) {
                if (ch < '0' || ch > '9' || clen > (1L << 40)) {
                    clen = -2;
                    break;
                }
                clen = clen * 10 + (ch - '0');
            }
        } else if (ieq(k, "transfer-encoding")) {
            chunked = true;
        }
    });
    if (chunked || clen < 0) {
        why = chunked ? "chunked response (want Content-Length)" : "no valid Content-Length";
        return -1;
    }
    std::string_view body = s.substr(end + 4);
    if (body.size() < size_t(clen)) return 0;
    body = body.substr(0, size_t(clen));
    if (body != expect) {
        why = "unexpected body '" + std::string(body.substr(0, 64)) + "' (want '" +
              std::string(expect) + "')";
        return -1;
    }
    return 1;
}

void finish(Slot& s) {
    uint64_t now = now_ns();
    if (g_measuring) {
        g_done++;
        if (s.resumed) g_resumed++;
        else g_full++;
        if (!s.resumed && s.offered) g_declined++;
        g_hist.add(now - s.start_ns);
    } else {
        g_warm_done++;
    }
    if (g_protocol == "?") {
        g_protocol = SSL_get_version(s.ssl);
        const char* c = SSL_get_cipher_name(s.ssl);
        g_cipher = c ? c : "?";
    }
    // close_notify, without waiting for the server's (it closes too: Connection: close)
    ERR_clear_error();
    SSL_shutdown(s.ssl);
    ERR_clear_error();
    close_slot(s);
    g_restart.push_back(s.id);
}

void drive(Slot& s, uint32_t ev) {
    if (s.st == St::Connecting) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        std::string err = tcp_connect_result(s.fd);
        if (!err.empty()) {
            fail(s, err);
            return;
        }
        s.ssl = new_client_ssl(g_ctx, s.fd, O.sni);
        if (!s.ssl) {
            fail(s, "SSL_new/SSL_set_fd: " + tls_error_text(0, 0));
            return;
        }
        SSL_set_app_data(s.ssl, &s);
        if (O.resume && s.sess) s.offered = SSL_set_session(s.ssl, s.sess) == 1;
        s.st = St::Handshaking;
    }
    for (;;) {
        ERR_clear_error();
        switch (s.st) {
            case St::Handshaking: {
                int r = SSL_do_handshake(s.ssl);
                if (r != 1) {
                    want(s, r, "TLS handshake");
                    return;
                }
                s.resumed = SSL_session_reused(s.ssl) == 1;
                s.st = St::Writing;
                break;
            }
            case St::Writing: {
                int r = SSL_write(s.ssl, g_req.data() + s.req_off, int(g_req.size() - s.req_off));
                if (r <= 0) {
                    want(s, r, "send request");
                    return;
                }
                s.req_off += size_t(r);
                if (s.req_off == g_req.size()) s.st = St::Reading;
                break;
            }
            case St::Reading: {
                char buf[4096];
                int r = SSL_read(s.ssl, buf, int(sizeof buf));
                if (r > 0) {
                    s.resp.append(buf, size_t(r));
                    std::string why;
                    int p = parse_response(s.resp, O.expect, why);
                    if (p > 0) {
                        finish(s);
                        return;
                    }
                    if (p < 0) {
                        fail(s, why);
                        return;
                    }
                    break;
                }
                want(s, r, "read response");
                return;
            }
            default:
                return;
        }
    }
}

// --resume: the slot keeps the latest resumable session its connection got.
int on_new_session(SSL* ssl, SSL_SESSION* sess) {
    g_tickets++;
    auto* s = static_cast<Slot*>(SSL_get_app_data(ssl));
    if (!s || !SSL_SESSION_is_resumable(sess)) return 0;
    if (s->sess) SSL_SESSION_free(s->sess);
    s->sess = sess;
    return 1;  // we keep the reference
}

void poll_once(int timeout_ms) {
    poll_events(g_ep, timeout_ms, [](const epoll_event& ev) {
        uint32_t id = uint32_t(ev.data.u64), gen = uint32_t(ev.data.u64 >> 32);
        if (id >= g_slots.size()) return;
        Slot& s = g_slots[id];
        if (s.gen != gen || s.st == St::Idle) return;
        drive(s, ev.events);
    });
}

bool make_ctx() {
    g_ctx = new_client_ctx(O.tls_max_version);
    if (!g_ctx) return false;
    if (O.resume) {
        SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(g_ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
    }
    return true;
}

int run() {
    if (!make_ctx()) {
        fprintf(stderr, "tls_load: cannot set up the TLS context: %s\n", tls_error_text(0, 0).c_str());
        return 2;
    }
    g_req = "GET " + O.path + " HTTP/1.1\r\nHost: " + (O.sni.empty() ? O.host : O.sni) +
            "\r\nUser-Agent: tls_load\r\nConnection: close\r\n\r\n";
    g_running = true;
    uint64_t t0 = now_ns();
    for (auto& s : g_slots) start(s);

    Window win(O.watch);
    uint64_t next_sweep = t0;
    run_window(t0, O.warmup, O.duration, g_stop, g_measuring, win, [&](int timeout_ms) {
        poll_once(timeout_ms);
        if (now_ns() >= next_sweep) {  // connections stuck longer than --timeout
            uint64_t t = now_ns(), limit = uint64_t(O.timeout * 1e9);
            for (auto& s : g_slots) {
                if (s.st != St::Idle && t - s.start_ns > limit) {
                    const char* where = s.st == St::Connecting    ? "connecting"
                                        : s.st == St::Handshaking ? "in the TLS handshake"
                                        : s.st == St::Writing     ? "sending the request"
                                                                  : "waiting for the response";
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
    g_running = false;
    long open_at_end = 0;
    for (auto& s : g_slots) {
        if (s.st != St::Idle) open_at_end++;
        close_slot(s);
    }

    double secs = win.secs();
    double rate = secs > 0 ? double(g_done) / secs : 0;
    double rrate = secs > 0 ? double(g_resumed) / secs : 0;
    double rpct = g_done ? 100.0 * double(g_resumed) / double(g_done) : 0;
    auto us = [](uint64_t ns) { return double(ns) / 1000.0; };
    double self_pct = win.self_pct();
    fprintf(stderr,
            "tls_load: %ld conns, %s, %s (%s), warmup %.1fs (%llu handshakes), measured %.3fs%s\n"
            "  handshakes: %llu (%.1f/s)  resumed: %llu (%.2f%%)  full: %llu (%llu declined an "
            "offered session)  errors: %ld  sessions received: %llu\n"
            "  connection time us (connect .. response): p50=%.1f p90=%.1f p99=%.1f max=%.1f\n"
            "  tls_load itself: %.0f%% of one core\n",
            O.conns, O.resume ? "resuming sessions" : "full handshakes", g_protocol.c_str(),
            g_cipher.c_str(), O.warmup, (unsigned long long)g_warm_done, secs,
            g_stop ? " (stopped early)" : "", (unsigned long long)g_done, rate,
            (unsigned long long)g_resumed, rpct, (unsigned long long)g_full,
            (unsigned long long)g_declined, g_errors, (unsigned long long)g_tickets, us(g_hist.percentile(0.50)),
            us(g_hist.percentile(0.90)), us(g_hist.percentile(0.99)), us(g_hist.max), self_pct);
    std::string cpu = win.cpu_report(g_done, "handshake", "hs");
    // A full-handshake run that resumed something would measure the wrong thing.
    bool ok = g_errors == 0 && !g_stop && g_done > 0 && (O.resume || g_resumed == 0);
    printf("RESULT mode=%s ok=%d conns=%ld protocol=%s cipher=%s secs=%.3f handshakes=%llu "
           "per_s=%.1f resumed=%llu resumed_per_s=%.1f full=%llu declined=%llu resumed_pct=%.2f "
           "p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%ld open_at_end=%ld load_cpu_pct=%.0f%s\n",
           O.resume ? "resume" : "full", ok ? 1 : 0, O.conns, g_protocol.c_str(), g_cipher.c_str(),
           secs, (unsigned long long)g_done, rate, (unsigned long long)g_resumed, rrate,
           (unsigned long long)g_full, (unsigned long long)g_declined, rpct, us(g_hist.percentile(0.50)),
           us(g_hist.percentile(0.99)), us(g_hist.max), g_errors, open_at_end, self_pct, cpu.c_str());
    fflush(stdout);
    for (auto& s : g_slots)
        if (s.sess) SSL_SESSION_free(s.sess);
    SSL_CTX_free(g_ctx);
    return ok ? 0 : 1;
}

bool tls_selftest() {
    std::string why;
    bool ok = true;
    ok &= parse_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", why) == 1;
    ok &= parse_response("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\no", "ok", why) == 0;
    ok &= parse_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "ok", why) == 0;
    ok &= parse_response("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 2\r\n\r\nok", "ok", why) < 0;
    ok &= parse_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno", "ok", why) < 0;
    ok &= parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "ok", why) < 0;
    ok &= parse_response("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", "ok", why) < 0;
    ok &= make_ctx();
    return ok;
}

[[noreturn]] void usage(const char* msg = nullptr) {
    if (msg) fprintf(stderr, "tls_load: %s\n", msg);
    fprintf(stderr,
            "usage: tls_load --port P [--conns 32] [--duration 10] [--warmup 2] [--resume]\n"
            "                [--tls-version 1.3|1.2] [--path /tls] [--expect ok] [--sni localhost]\n"
            "                [--timeout 10] [--watch-pids PID,PID...] [--host 127.0.0.1]\n"
            "       tls_load --selftest\n");
    exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "--selftest") {
        bool ok = tls_selftest() && bench::selftest();
        printf("selftest %s\n", ok ? "ok" : "FAILED");
        return ok ? 0 : 1;
    }
    Args args{"tls_load", argc, argv, usage, 0};
    while (const char* opt = args.next()) {
        std::string_view a = opt;
        if (args.load_option(a, O)) continue;
        if (a == "--expect") O.expect = args.value();
        else if (a == "--conns") O.conns = long(args.number(1, 10000, "conns"));
        else if (a == "--timeout") O.timeout = args.number(0.1, 600, "timeout");
        else if (a == "--resume") O.resume = true;
        else usage(("unknown option " + std::string(a)).c_str());
    }
    args.check_load_opts(O);
    if (O.sni.find_first_of(" \r\n") != std::string::npos) usage("--sni must not contain spaces");
    if (!loopback_target("tls_load", O, g_addr)) return 2;
    raise_nofile();
    catch_signals(on_signal, {SIGINT, SIGTERM});
    g_slots.resize(size_t(O.conns));
    for (size_t i = 0; i < g_slots.size(); i++) g_slots[i].id = uint32_t(i);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) {
        perror("epoll_create1");
        return 2;
    }
    return run();
}

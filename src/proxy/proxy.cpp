#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/response.h"
#include "http/router.h"
#include "config/loader.h"
#include "upstream/balancer.h"
#include "upstream/round_robin.h"
#include "upstream/sticky.h"
#include "proxy/upstream_tls.h"
#include "tls/context.h"

namespace sy::proxy {

using http::ieq;

namespace {
enum { kTimerConnect = 0, kTimerSend = 1, kTimerRead = 2 };

// Request headers the proxy never copies from the client: nginx's default
// proxy_set_header list overrides them (Host, Connection, and the hop-by-hop
// and framing headers, which are regenerated).
constexpr std::string_view kDefaultOverridden[] = {"host", "connection", "keep-alive", "te", "expect", "upgrade",
                                                   "content-length", "transfer-encoding"};

// Upstream response headers never passed to the client (framing, hop-by-hop)
// and hidden by default (nginx's proxy_hide_header defaults).
constexpr std::string_view kHopByHop[] = {"connection", "keep-alive", "transfer-encoding", "content-length"};
constexpr std::string_view kHiddenByDefault[] = {"date", "server", "x-pad", "x-accel-expires", "x-accel-redirect",
                                                 "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset"};

// The proxy_next_upstream condition a response status is (0: none).
uint32_t status_ft(int status) {
    switch (status) {
    case 500: return conf::next_upstream::Http500;
    case 502: return conf::next_upstream::Http502;
    case 503: return conf::next_upstream::Http503;
    case 504: return conf::next_upstream::Http504;
    case 403: return conf::next_upstream::Http403;
    case 404: return conf::next_upstream::Http404;
    case 429: return conf::next_upstream::Http429;
    default: return 0;
    }
}

bool bad_value(std::string_view v) {
    for (char c : v)
        if (c == '\r' || c == '\n' || c == '\0') return true;
    return false;
}
}  // namespace

std::string_view to_string(ProxyState s) {
    switch (s) {
    case ProxyState::Init: return "Init";
    case ProxyState::WaitBody: return "WaitBody";
    case ProxyState::Connecting: return "Connecting";
    case ProxyState::Handshake: return "Handshake";
    case ProxyState::Sending: return "Sending";
    case ProxyState::ReadHead: return "ReadHead";
    case ProxyState::ReadBody: return "ReadBody";
    case ProxyState::Done: return "Done";
    case ProxyState::Dead: return "Dead";
    }
    return "?";
}

Proxy::Proxy(http::Exchange& s, const conf::ProxyPass& pp) : s_(s), pp_(pp) {
    timer_.owner = this;
}

Proxy::~Proxy() { close_upstream(); }

void Proxy::close_upstream() {
    end_try(false);
    s_.loop().disarm(timer_);
    if (c_) {
        s_.worker().pool().destroy(c_);
        c_ = nullptr;
        if (up_) {
            const conf::Peer& p = up_->peers[peer_];
            if (p.conns > 0) --p.conns;
        }
    }
}

// ---- target -------------------------------------------------------------------

bool Proxy::resolve_target(std::string& err) {
    http::Request& r = s_.req();
    bool has_uri = pp_.has_uri;
    std::string uri_part = pp_.uri;
    if (pp_.has_vars) {
        http::VarCtx vc = s_.vars();
        std::string url = http::eval(pp_.url_tpl, vc);
        bool https = url.compare(0, 8, "https://") == 0;
        if (url.compare(0, 7, "http://") != 0 && !(https && pp_.tls)) {
            err = "invalid URL prefix in \"" + url + "\"";
            return false;
        }
        tls_ = https ? pp_.tls.get() : nullptr;
        std::string rest = url.substr(https ? 8 : 7);
        size_t slash = rest.find('/');
        host_port_ = rest.substr(0, slash);
        has_uri = slash != std::string::npos;
        uri_part = has_uri ? rest.substr(slash) : "";
        up_ = nullptr;
        for (auto& u : s_.generation().cfg->http->upstreams)
            if (!u->implicit && u->name == host_port_) up_ = u.get();
        if (!up_) {
            std::vector<conf::SockAddr> addrs;
            std::string e;
            if (!conf::parse_addr(host_port_, https ? 443 : 80, addrs, e, false)) {
                std::string host = host_port_.substr(0, host_port_.rfind(':'));
                err = "no resolver defined to resolve " + host;
                return false;
            }
            dyn_up_.name = host_port_;
            dyn_up_.peers.clear();
            for (auto& a : addrs) {
                conf::Peer p;
                p.addr = a;
                p.name = a.text;
                p.pool_key = host_port_ + '|' + a.text;
                dyn_up_.peers.push_back(p);
            }
            up_ = &dyn_up_;
        }
        // With variables and a URI, the URI is used as it is.
        if (has_uri) {
            uri_ = uri_part;
        } else if (!r.uri_changed) {
            uri_ = std::string(r.head.target);
        } else {
            http::escape_uri(r.uri, uri_);
            if (!r.args.empty()) uri_ += "?" + r.args;
        }
    } else {
        up_ = pp_.upstream;
        host_port_ = pp_.host_port;
        tls_ = pp_.https ? pp_.tls.get() : nullptr;
        if (!has_uri) {
            if (!r.uri_changed && !r.internal) {
                std::string_view t = r.head.target;
                if (!t.empty() && t[0] != '/') {  // absolute-form: keep path and query
                    size_t p = t.find("://");
                    size_t sl = p == std::string_view::npos ? std::string_view::npos : t.find('/', p + 3);
                    t = sl == std::string_view::npos ? std::string_view("/") : t.substr(sl);
                }
                uri_ = std::string(t);
            } else {
                http::escape_uri(r.uri, uri_);
                if (!r.args.empty()) uri_ += "?" + r.args;
            }
        } else {
            if (r.uri_changed && r.loc->match != conf::Location::Match::Exact) {
                // rewrite ... break inside this location: the changed URI goes as is
                http::escape_uri(r.uri, uri_);
            } else {
                size_t cut = r.loc->name.size() <= r.uri.size() ? r.loc->name.size() : r.uri.size();
                if (r.loc->match == conf::Location::Match::Exact) cut = r.uri.size();
                uri_ = uri_part;
                http::escape_uri(std::string_view(r.uri).substr(cut), uri_);
            }
            if (!r.args.empty()) uri_ += "?" + r.args;
        }
    }
    if (host_port_.compare(0, 5, "unix:") == 0) {
        // nginx: a unix-socket upstream is "localhost" ($proxy_host, Host), no port
        r.proxy_host = "localhost";
        r.proxy_port.clear();
        return true;
    }
    r.proxy_host = host_port_;
    size_t colon = host_port_.rfind(':');
    bool bracket_only = host_port_[0] == '[' && host_port_.find(']') > colon;
    const char* default_port = tls_ ? "443" : "80";
    r.proxy_port = (colon == std::string::npos || bracket_only) ? default_port : host_port_.substr(colon + 1);
    if (colon != std::string::npos && host_port_.substr(colon + 1) == default_port && host_port_[0] != '[')
        r.proxy_host = host_port_.substr(0, colon);
    return true;
}

void Proxy::start() {
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    std::string err;
    if (!resolve_target(err)) {
        s_.log_error(Level::Error, err);
        finalize_error(502);
        return;
    }
    high_water_ = *lc.proxy_buffering
                      ? std::max<size_t>(65536, size_t(lc.proxy_buffers->first) * lc.proxy_buffers->second)
                      : std::max<size_t>(*lc.proxy_buffer_size, 16384);
    bool has_body = (r.head.content_length > 0 || r.head.chunked) && *lc.proxy_pass_request_body;
    // client_body_in_file_only: an empty body given as "Content-Length: 0"
    // still gets its (empty) file, as in nginx; no Content-Length: no body, no file
    if (r.head.content_length == 0 && *lc.proxy_pass_request_body && *lc.proxy_request_buffering &&
        *lc.client_body_in_file_only != conf::BodyInFile::Off)
        has_body = true;
    if (!has_body) {
        body_complete_ = true;
        connect_next();
        return;
    }
    // Unknown length towards an HTTP/1.0 upstream can only be sent buffered.
    buffering_body_ = *lc.proxy_request_buffering || (r.head.chunked && *lc.proxy_http_version == 10);
    if (buffering_body_) {
        state_ = ProxyState::WaitBody;
        reading_body_ = true;
        s_.read_body(this);
        return;
    }
    stream_body_ = true;
    chunk_body_ = r.head.chunked;
    connect_next();
    if (state_ == ProxyState::Dead || state_ == ProxyState::Done) return;
    reading_body_ = true;
    s_.read_body(this);
}

// An error page for the client. Exchange::finalize_error lets this Proxy go,
// so a body still arriving is first taken from it (the carrier discards the rest).
void Proxy::finalize_error(int status) {
    if (reading_body_ && !body_complete_) {
        reading_body_ = false;
        s_.read_body(nullptr);
    }
    s_.finalize_error(status);
}

void Proxy::on_body(std::string_view data) {
    if (state_ == ProxyState::Dead || state_ == ProxyState::Done) return;   // failed: the rest is discarded
    body_len_ += data.size();
    if (buffering_body_) {
        store_body(data);
        return;
    }

    // nginx streams through its client_body_buffer: when the whole body
    // fitted there, $request_body reads it afterwards (an error_page, a log)
    http::Request& r = s_.req();
    if (!body_spilled_) {
        if (r.request_body.size() + data.size() <= *r.lc->client_body_buffer_size) {
            r.request_body.append(data);
        } else {
            std::string().swap(r.request_body);
            body_spilled_ = true;
        }
    }
    if (chunk_body_) out_.append(fmt::format("{:x}\r\n", data.size()));
    out_.append(data);
    if (chunk_body_) out_.append("\r\n");
    if (out_.bytes() > high_water_) s_.pause_body(true);
    if (state_ == ProxyState::Sending || state_ == ProxyState::ReadHead || state_ == ProxyState::ReadBody) write_out();
}

void Proxy::on_body_end() {
    if (state_ == ProxyState::Dead || state_ == ProxyState::Done) return;
    body_complete_ = true;
    if (buffering_body_) {
        http::Request& r = s_.req();
        // client_body_in_file_only: a body that never reached the file (an
        // empty chunked one) still gets one, as nginx's does
        if (!body_file_ && *r.lc->client_body_in_file_only != conf::BodyInFile::Off && !store_body({})) return;
        if (body_file_) r.request_body_file = body_file_->name();
        connect_next();
        return;
    }
    if (chunk_body_) out_.append("0\r\n\r\n");
    if (state_ == ProxyState::Sending || state_ == ProxyState::ReadHead || state_ == ProxyState::ReadBody) write_out();
}

// Keeps the body in the Request while it fits client_body_buffer_size (and
// client_body_in_file_only is off); from the first byte beyond, the whole body
// goes to a temp file under client_body_temp_path, so memory holds at most
// one buffer of it whatever its size.
bool Proxy::store_body(std::string_view data) {
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    std::string err;
    if (!body_file_) {
        bool in_file = *lc.client_body_in_file_only != conf::BodyInFile::Off;
        if (!in_file && r.request_body.size() + data.size() <= *lc.client_body_buffer_size) {
            r.request_body.append(data);
            return true;
        }
        auto f = std::make_unique<http::TempFile>();
        if (!f->create(**lc.client_body_temp_path, in_file, *lc.client_body_in_file_only == conf::BodyInFile::Clean, err)) {
            body_failed(err);
            return false;
        }
        body_file_ = std::move(f);
        SY_LOG(Level::Debug, s_.number(), "request body to temp file {}", body_file_->name());
        if (!r.request_body.empty()) {
            if (!body_file_->write(r.request_body, err)) {
                body_failed(err);
                return false;
            }
            std::string().swap(r.request_body);
        }
    }
    if (!body_file_->write(data, err)) {
        body_failed(err);
        return false;
    }
    return true;
}

// A temp file could not be made, written or read: nginx's crit line and 500.
void Proxy::body_failed(const std::string& err) {
    s_.log_error(Level::Crit, err);
    state_ = ProxyState::Dead;
    close_upstream();
    if (s_.head_sent()) s_.abort_response();
    else finalize_error(500);   // never kept alive
}

// Tops the upstream queue up from the buffered body: at most four 16 KiB
// chunks ahead of the socket, read from the temp file (pread) or copied from
// memory, so a body of any size is sent with bounded memory, and resent from
// the start on a retry.
bool Proxy::fill_body_out() {
    if (!buffering_body_ || !body_complete_) return true;
    constexpr size_t kAhead = 4 * Buf::kSize;
    const std::string& mem = s_.req().request_body;
    while (out_.bytes() < kAhead && body_off_ < body_len_) {
        Buf b = Buf::take();
        size_t want = size_t(std::min<uint64_t>(b.room(), body_len_ - body_off_));
        if (body_file_) {
            std::string err;
            ssize_t n = body_file_->read(b.tail(), want, body_off_, err);
            if (n <= 0) {
                if (n == 0) err = fmt::format("pread() read only 0 of {} from \"{}\"", want, body_file_->name());
                body_failed(err);
                return false;
            }
            want = size_t(n);
        } else {
            std::memcpy(b.tail(), mem.data() + body_off_, want);
        }
        b.commit(want);
        body_off_ += want;
        out_.push(std::move(b));
    }
    return true;
}

// ---- request head -------------------------------------------------------------

bool Proxy::build_request_head() {
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    http::VarCtx vc = s_.vars();
    req_keepalive_ok_ = *lc.proxy_http_version == 11;
    std::string h;
    h.reserve(512 + r.raw.size());
    h += r.head.method;
    h += ' ';
    h += uri_;
    h += *lc.proxy_http_version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";

    auto overridden = [&](std::string_view name) {
        for (auto& e : *lc.proxy_set_header)
            if (ieq(e.name, name)) return true;
        for (auto d : kDefaultOverridden)
            if (ieq(d, name)) return true;
        return false;
    };
    bool host_set = false;
    std::string v;
    for (auto& e : *lc.proxy_set_header) {
        v.clear();
        http::eval(e.value, vc, v);
        if (ieq(e.name, "host")) host_set = true;
        if (ieq(e.name, "connection") && !v.empty() && !ieq(v, "keep-alive")) req_keepalive_ok_ = false;
        if (v.empty()) continue;
        if (bad_value(v)) {
            // A header value carrying CR/LF from a variable would split the request.
            s_.log_error(Level::Info, "client sent invalid characters that would end up in the \"" + e.name +
                                          "\" header sent to upstream");
            return false;
        }
        h += e.name;
        h += ": ";
        h += v;
        h += "\r\n";
    }
    if (!host_set) {
        h += "Host: ";
        h += r.proxy_host;
        h += "\r\n";
    }
    // nginx >= 1.29.7 sends no "Connection: close" by default; the upstream
    // connection is closed after the response all the same.
    if (buffering_body_) {
        h += "Content-Length: " + std::to_string(body_len_) + "\r\n";
    } else if (stream_body_ && chunk_body_) {
        h += "Transfer-Encoding: chunked\r\n";
    } else if (r.head.content_length >= 0 && *lc.proxy_pass_request_body && !r.head.chunked) {
        h += "Content-Length: " + std::to_string(r.head.content_length) + "\r\n";
    }
    if (*lc.proxy_pass_request_headers) {
        for (auto& hd : r.head.headers) {
            if (overridden(hd.name)) continue;
            h += hd.name;
            h += ": ";
            h += hd.value;
            h += "\r\n";
        }
    }
    h += "\r\n";
    head_ = std::move(h);
    return true;
}

// ---- connecting -----------------------------------------------------------------

void Proxy::connect_next() {
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    if (head_.empty() && !build_request_head()) {
        state_ = ProxyState::Dead;
        finalize_error(400);
        return;
    }
    uint64_t now = clock::now_ms();
    if (!balance_key_ready_) {
        balance_key_ready_ = true;
        if (up_->balance == conf::Balance::IpHash) {
            in6_addr a6;
            in_addr a4;
            const std::string& ra = s_.conn().remote_addr;
            if (inet_pton(AF_INET, ra.c_str(), &a4) == 1) balance_key_.assign(reinterpret_cast<char*>(&a4), 4);
            else if (inet_pton(AF_INET6, ra.c_str(), &a6) == 1) balance_key_.assign(reinterpret_cast<char*>(&a6), 16);
        } else if (up_->balance == conf::Balance::Hash || up_->balance == conf::Balance::HashConsistent) {
            http::VarCtx vc = s_.vars();
            balance_key_ = http::eval(up_->hash_key, vc);
        }
    }
    if (tried_.empty()) first_start_ = now;
    int i = -1;
    if (up_->sticky.on && tried_.empty()) {
        http::cookie_value(r.head, up_->sticky.name, sticky_cookie_);
        i = upstream::sticky_pick(*up_, sticky_cookie_, tried_, now);
    }
    if (i < 0) i = upstream::pick(*up_, tried_, now, balance_key_, pick_state_);
    if (i < 0) {
        state_ = ProxyState::Dead;
        s_.log_error(Level::Error, "no live upstreams while connecting to upstream",
                     "http://" + up_->name + uri_);
        r.upstream.push_back({up_->name, 502});
        finalize_error(502);
        return;
    }
    peer_ = size_t(i);
    try_ended_ = false;
    tried_.push_back(peer_);
    const conf::Peer& p = up_->peers[peer_];
    r.upstream.push_back({p.addr.text});
    try_start_ = clock::now_ms();

    // A streamed body not sent anywhere yet waits in out_ behind the head.
    if (!(stream_body_ && !request_sent_ && !out_.empty())) {
        out_.clear();
        out_.append(head_);
    }
    request_sent_ = false;
    rbuf_.release();
    hparsed_ = 0;
    parser_.reset();
    reused_ = false;
    conn_requests_ = 0;
    if (up_->keepalive > 0 && !no_reuse_) {
        upstream::UpConn* c = s_.worker().pool().take(pool_group(), p.pool_key);
        if (c && !replayable() && !c->looks_alive()) {
            s_.worker().pool().destroy(c);   // closed under us: never risk this request on it
            c = nullptr;
        }
        if (c) {
            c_ = c;
            c_->s.io.owner = this;
            conn_requests_ = c->requests;
            reused_ = true;
            ++p.conns;
            state_ = ProxyState::Connecting;
            writable_ = true;  // an idle connection's send buffer is empty
            readable_ = false;
            on_connected();
            return;
        }
    }
    int fd = ::socket(p.addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(502, Level::Alert, fmt::format("socket() failed ({}: {}) while connecting to upstream", errno, strerror(errno)), 0);
        return;
    }
    if (p.addr.family() != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c_ = new upstream::UpConn();
    c_->born_ms = now;
    c_->peer = p.pool_key;
    c_->s.io.fd = fd;
    c_->s.io.owner = this;
    ++p.conns;
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&p.addr.ss), p.addr.len);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        fail(502, Level::Error, fmt::format("connect() failed ({}: {}) while connecting to upstream", e, strerror(e)), conf::next_upstream::Error);
        return;
    }
    state_ = ProxyState::Connecting;
    writable_ = readable_ = false;
    if (!s_.loop().add(c_->s.io)) {
        fail(502, Level::Alert, fmt::format("epoll_ctl() failed ({}: {}) while connecting to upstream", errno, strerror(errno)), 0);
        return;
    }
    s_.loop().arm(timer_, *lc.proxy_connect_timeout);
    timer_.tag = kTimerConnect;
    if (rc == 0) on_tcp_connected();
}

std::string Proxy::pool_group() const { return tls_ ? up_->name + "|tls" : up_->name; }

void Proxy::on_tcp_connected() {
    if (!tls_) {
        on_connected();
        return;
    }
    // proxy_ssl_name (default $proxy_host) without its port names the backend
    std::string name;
    if (tls_->name) {
        http::VarCtx vc = s_.vars();
        name = http::eval(*tls_->name, vc);
    } else {
        name = host_port_;
    }
    ssl_name_ = ssl_name_host(name);
    std::string err;
    if (!upstream_tls_start(*c_, *tls_, ssl_name_, err)) {
        fail(502, Level::Alert, err + " while SSL handshaking to upstream", 0);
        return;
    }
    state_ = ProxyState::Handshake;
    step_handshake();
}

// The handshake runs under proxy_connect_timeout, as in nginx.
void Proxy::step_handshake() {
    int rc = c_->s.handshake();
    if (rc == 0) return;
    if (rc < 0) {
        upstream_tls_forget(*c_);
        fail(502, c_->s.upstream_level(), c_->s.error() + " while SSL handshaking to upstream", conf::next_upstream::Error);
        return;
    }
    std::string bad = upstream_tls_check(*c_, *tls_, ssl_name_);
    if (!bad.empty()) {
        upstream_tls_forget(*c_);
        fail(502, Level::Error, bad + " while SSL handshaking to upstream", conf::next_upstream::Error);
        return;
    }
    writable_ = readable_ = true;  // OpenSSL may hold records; try both ways once
    on_connected();
}

void Proxy::fail(int status, Level lvl, std::string_view msg, uint32_t ft) {
    http::Request& r = s_.req();
    if (reused_ && state_ != ProxyState::ReadBody && replayable() && !r.upstream.empty() &&
        r.upstream.back().bytes_received == 0) {
        // the backend closed an idle kept-alive connection as we reused it:
        // not the peer's fault, and the request goes again on a fresh one
        try_ended_ = true;
        close_upstream();
        r.upstream.pop_back();
        tried_.pop_back();
        no_reuse_ = true;
        state_ = ProxyState::Init;
        connect_next();
        return;
    }
    s_.log_error(lvl, msg, peer_name());
    if (!r.upstream.empty()) {
        auto& t = r.upstream.back();
        t.status = status;
        t.response_ms = clock::now_ms() - try_start_;
    }
    end_try(true);
    close_upstream();
    if (can_retry(ft)) {
        state_ = ProxyState::Init;
        connect_next();
        return;
    }
    state_ = ProxyState::Dead;
    if (s_.head_sent()) s_.abort_response();
    else finalize_error(status);
}

// Whether this request may be sent again after reaching a peer: its body is
// still at hand and it is idempotent (or proxy_next_upstream non_idempotent).
bool Proxy::replayable() const {
    if (stream_body_) return false;
    const http::Request& r = s_.req();
    std::string_view m = r.head.method;
    return !(m == "POST" || m == "LOCK" || m == "PATCH") ||
           (*r.lc->proxy_next_upstream & conf::next_upstream::NonIdempotent);
}

// nginx's peer.tries: every peer not marked down (backups included), capped by
// proxy_next_upstream_tries.
size_t Proxy::max_tries() const {
    size_t n = 0;
    for (auto& p : up_->peers) n += !p.down && !p.gone;
    uint32_t cap = *s_.req().lc->proxy_next_upstream_tries;
    return cap && cap < n ? cap : n;
}

// ngx_http_upstream_next's test: the condition is listed in proxy_next_upstream
// (with non_idempotent for a POST/LOCK/PATCH that reached the peer), a streamed
// body was not sent yet, tries and proxy_next_upstream_timeout remain, and the
// client has not seen a response head. A 101 never gets here: it is a tunnel.
bool Proxy::can_retry(uint32_t ft) const {
    if (!ft || !up_ || state_ == ProxyState::ReadBody || s_.head_sent()) return false;
    const http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    std::string_view m = r.head.method;
    if (request_sent_ && (m == "POST" || m == "LOCK" || m == "PATCH")) ft |= conf::next_upstream::NonIdempotent;
    if ((*lc.proxy_next_upstream & ft) != ft) return false;
    if (request_sent_ && stream_body_) return false;
    if (tried_.size() >= max_tries()) return false;
    conf::Msec limit = *lc.proxy_next_upstream_timeout;
    return !(limit && clock::now_ms() - first_start_ >= limit);
}

void Proxy::on_connected() {
    http::Request& r = s_.req();
    SY_LOG(Level::Debug, s_.number(), "upstream {} {}: {}", reused_ ? "reused" : "connected", up_->peers[peer_].addr.text,
           reused_ ? "keep-alive connection" : "new connection");
    auto& t = r.upstream.back();
    t.connected = true;
    t.connect_ms = clock::now_ms() - try_start_;
    state_ = ProxyState::Sending;
    s_.loop().disarm(timer_);
    // A buffered body stays in memory or its file, so a retry on the next
    // peer sends it again from the start.
    body_off_ = 0;
    write_out();
}

void Proxy::write_out() {
    // nothing goes to a socket still connecting (a retry may begin one under a caller)
    if (fd() < 0 || state_ == ProxyState::Connecting || state_ == ProxyState::Handshake) return;
    http::Request& r = s_.req();
    for (;;) {
        if (!fill_body_out()) return;
        if (out_.empty()) break;
        size_t before = out_.bytes();
        ssize_t n = c_->s.send(out_);
        if (n < 0) {
            fail(502, c_->s.upstream_level(), c_->s.error() + " while sending request to upstream", conf::next_upstream::Error);
            return;
        }
        if (before != out_.bytes()) request_sent_ = true;
        if (!r.upstream.empty()) r.upstream.back().bytes_sent += before - out_.bytes();
        if (stream_body_ && out_.bytes() < high_water_ / 2) s_.pause_body(false);
        if (!out_.empty()) {
            writable_ = false;
            timer_.tag = kTimerSend;
            s_.loop().arm(timer_, *r.lc->proxy_send_timeout);
            return;
        }
    }
    if (state_ == ProxyState::Sending && body_complete_) {
        state_ = ProxyState::ReadHead;
        timer_.tag = kTimerRead;
        s_.loop().arm(timer_, *r.lc->proxy_read_timeout);
    }
}

// ---- events ---------------------------------------------------------------------

void Proxy::on_io(int, uint32_t events) {
    if (fd() < 0 || state_ == ProxyState::Dead || state_ == ProxyState::Done) return;
    if (state_ == ProxyState::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(502, Level::Error, fmt::format("connect() failed ({}: {}) while connecting to upstream", err, strerror(err)), conf::next_upstream::Error);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        on_tcp_connected();
        // Connecting again: the try failed at once and the next one began; these
        // events were the old socket's
        if (fd() < 0 || state_ == ProxyState::Dead || state_ == ProxyState::Handshake ||
            state_ == ProxyState::Connecting)
            return;
    } else if (state_ == ProxyState::Handshake) {
        step_handshake();
        if (fd() < 0 || state_ == ProxyState::Dead || state_ == ProxyState::Handshake ||
            state_ == ProxyState::Connecting)
            return;
    }
    c_->s.on_events(events, readable_, writable_);
    if (writable_ && !out_.empty()) write_out();
    if (fd() < 0 || state_ == ProxyState::Dead) return;
    if (readable_ && !read_paused_) read_upstream();
}

void Proxy::on_timer(int tag) {
    if (state_ == ProxyState::Dead || state_ == ProxyState::Done) return;
    switch (tag) {
    case kTimerConnect:
        if (state_ == ProxyState::Handshake && c_) upstream_tls_forget(*c_);
        fail(504, Level::Error,
             state_ == ProxyState::Handshake ? "upstream timed out (110: Connection timed out) while SSL handshaking to upstream"
                                             : "upstream timed out (110: Connection timed out) while connecting to upstream",
             conf::next_upstream::Timeout);
        break;
    case kTimerSend:
        fail(504, Level::Error, "upstream timed out (110: Connection timed out) while sending request to upstream", conf::next_upstream::Timeout);
        break;
    default:
        if (state_ == ProxyState::ReadBody)
            fail(504, Level::Error, "upstream timed out (110: Connection timed out) while reading upstream", 0);
        else
            fail(504, Level::Error, "upstream timed out (110: Connection timed out) while reading response header from upstream", conf::next_upstream::Timeout);
        break;
    }
}

void Proxy::on_client_drained() {
    if (spool_ && (spool_->pending() > 0 || end_deferred_)) {
        // the carrier calls back here when the queue empties, also from
        // inside refill_from_spool() (its flush): the outer call loops instead
        if (refilling_) {
            refill_again_ = true;
            return;
        }
        refilling_ = true;
        do {
            refill_again_ = false;
            refill_from_spool();
        } while (refill_again_ && spool_ && spool_->pending() > 0 && state_ != ProxyState::Dead && !s_.closed());
        refilling_ = false;
        if (!spool_ || state_ == ProxyState::Dead || s_.closed() || spool_->pending() > 0) return;
        if (end_deferred_) {
            end_deferred_ = false;
            spool_.reset();
            s_.end_response(true);
            return;
        }
    }
    if (!read_paused_ || s_.pending_out() > high_water_ / 2) return;
    read_paused_ = false;
    if (readable_ && fd() >= 0) read_upstream();
    else if (fd() >= 0) {
        timer_.tag = kTimerRead;
        s_.loop().arm(timer_, *s_.req().lc->proxy_read_timeout);
    }
}

// Passive health, once per try, where nginx frees the peer: a failed try
// counts against the peer (max_fails), any other end (a response relayed, a
// 101, a client that went away, a 403/404 passed to the next peer) is a
// success. A try that never got a peer counts for nothing.
void Proxy::end_try(bool failed) {
    if (try_ended_ || !up_ || peer_ >= up_->peers.size()) return;
    try_ended_ = true;
    // nginx's "single" upstream (one server, no backup) keeps no health state
    if (up_->peers.size() == 1) return;
    const conf::Peer& p = up_->peers[peer_];
    uint64_t now = clock::now_ms();
    if (!failed) {
        upstream::peer_succeeded(p, now);
        return;
    }
    if (upstream::peer_failed(p, now)) {
        // nginx warns at every failure that leaves the peer at max_fails
        std::string_view phase = state_ == ProxyState::Connecting ? "connecting to upstream"
                                 : state_ == ProxyState::Handshake ? "SSL handshaking to upstream"
                                 : state_ == ProxyState::Sending  ? "sending request to upstream"
                                 : state_ == ProxyState::ReadBody ? "reading upstream"
                                                                  : "reading response header from upstream";
        s_.log_error(Level::Warn, fmt::format("upstream server temporarily disabled while {}", phase), peer_name());
    }
}

void Proxy::on_client_abort() {
    if (state_ != ProxyState::Done && state_ != ProxyState::Dead && !s_.req().upstream.empty()) {
        auto& t = s_.req().upstream.back();
        t.response_ms = clock::now_ms() - try_start_;
    }
    state_ = ProxyState::Dead;
    end_deferred_ = false;
    spool_.reset();   // the file goes with its fd (it was unlinked when made)
    close_upstream();
}

// ---- response -------------------------------------------------------------------

namespace {
// Queues what one upstream read produces and writes it to the client once.
struct HoldOutput {
    http::Exchange& s;
    explicit HoldOutput(http::Exchange& sess) : s(sess) { s.hold_output(true); }
    ~HoldOutput() { s.hold_output(false); }
};
}  // namespace

void Proxy::read_upstream() {
    HoldOutput hold(s_);
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    while (readable_ && !read_paused_ && fd() >= 0) {
        if (!rbuf_) rbuf_ = Buf::take();
        if (rbuf_.room() == 0) {
            if (state_ == ProxyState::ReadHead || state_ == ProxyState::Sending) {
                fail(502, Level::Error, "upstream sent too big header while reading response header from upstream", conf::next_upstream::InvalidHeader);
                return;
            }
            rbuf_.compact();
        }
        ssize_t n = c_->s.read(rbuf_.tail(), rbuf_.room());
        if (n < 0) {
            if (errno == EAGAIN) {
                readable_ = false;
                break;
            }
            if (state_ == ProxyState::ReadBody)
                fail(502, c_->s.upstream_level(), c_->s.error() + " while reading upstream", 0);
            else
                fail(502, c_->s.upstream_level(), c_->s.error() + " while reading response header from upstream", conf::next_upstream::Error);
            return;
        }
        if (!r.upstream.empty()) r.upstream.back().bytes_received += uint64_t(n);
        if (n == 0) {
            readable_ = false;
            if (state_ == ProxyState::ReadBody && (framing_ == Framing::Close || framing_ == Framing::CloseChunked)) {
                if (framing_ == Framing::CloseChunked) to_client(s_.last_chunk());
                if (state_ == ProxyState::Dead) return;
                finish();
                return;
            }
            if (state_ == ProxyState::ReadBody) {
                fail(502, Level::Error, "upstream prematurely closed connection while reading upstream", 0);
                return;
            }
            fail(502, Level::Error, "upstream prematurely closed connection while reading response header from upstream", conf::next_upstream::Error);
            return;
        }
        rbuf_.commit(size_t(n));
        if (state_ == ProxyState::Sending || state_ == ProxyState::ReadHead) {
            if (state_ == ProxyState::ReadHead) s_.loop().arm(timer_, *lc.proxy_read_timeout);
            size_t consumed = 0;
            if (s_.req().head.method == "HEAD") parser_.set_head_only(true);
            http::H1Parser::Event ev = parser_.feed(rbuf_.data(), hparsed_, rbuf_.size(), consumed);
            hparsed_ += consumed;
            if (ev == http::H1Parser::Event::Error) {
                if (parser_.error() == http::H1Parser::Error::InvalidStatus) {
                    fail(502, Level::Error, "upstream sent no valid HTTP/1.0 header while reading response header from upstream", conf::next_upstream::InvalidHeader);
                } else {
                    // nginx's form: the line up to the bad byte, that byte in hex, "..."
                    size_t from = parser_.bad_line_start(), at = parser_.bad_pos();
                    std::string_view line = from <= at && at <= rbuf_.size() ? std::string_view(rbuf_.data() + from, at - from) : std::string_view();
                    unsigned char bad = at < rbuf_.size() ? static_cast<unsigned char>(rbuf_.data()[at]) : 0;
                    fail(502, Level::Error, fmt::format("upstream sent invalid header: \"{}\\x{:02x}...\" while reading response header from upstream", line, bad), conf::next_upstream::InvalidHeader);
                }
                return;
            }
            if (ev == http::H1Parser::Event::NeedMore) {
                if (rbuf_.size() > *lc.proxy_buffer_size) {
                    fail(502, Level::Error, "upstream sent too big header while reading response header from upstream", conf::next_upstream::InvalidHeader);
                    return;
                }
                continue;
            }
            if (parser_.framing_error() != http::H1Parser::Framing::Ok) {
                framing_failed();
                return;
            }
            on_head();
            if (state_ != ProxyState::ReadBody) return;
            // what follows the head in this read is body
            rbuf_.consume(hparsed_);
            hparsed_ = 0;
            if (!process_body(rbuf_)) return;
            continue;
        }
        if (state_ == ProxyState::ReadBody) {
            s_.loop().arm(timer_, *lc.proxy_read_timeout);
            if (!process_body(rbuf_)) return;
        }
    }
    if (state_ == ProxyState::ReadBody && read_paused_) s_.loop().disarm(timer_);
}

// The framing headers of the response are refused (nginx >= 1.23's upstream
// header handlers): 502, a proxy_next_upstream "invalid_header" failure.
void Proxy::framing_failed() {
    const auto& hs = parser_.headers();
    size_t i = parser_.framing_header(), j = parser_.framing_previous();
    auto view = [this](http::H1Parser::Span sp) { return std::string_view(rbuf_.data() + sp.off, sp.len); };
    std::string why;
    switch (parser_.framing_error()) {
    case http::H1Parser::Framing::InvalidLength:
        why = fmt::format("upstream sent invalid \"Content-Length\" header: \"{}: {}\"", view(hs[i].name), view(hs[i].value));
        break;
    case http::H1Parser::Framing::DuplicateLength:
    case http::H1Parser::Framing::DuplicateEncoding:
        why = fmt::format("upstream sent duplicate header line: \"{}: {}\", previous value: \"{}: {}\"", view(hs[i].name),
                          view(hs[i].value), view(hs[j].name), view(hs[j].value));
        break;
    case http::H1Parser::Framing::UnknownEncoding:
        why = fmt::format("upstream sent unknown \"Transfer-Encoding\": \"{}\"", view(hs[i].value));
        break;
    default:
        why = "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time";
        break;
    }
    fail(502, Level::Error, why + " while reading response header from upstream", conf::next_upstream::InvalidHeader);
}

void Proxy::on_head() {
    http::Request& r = s_.req();
    SY_LOG(Level::Debug, s_.number(), "upstream response: {} from {}", parser_.status_code(), up_->peers[peer_].addr.text);
    auto& t = r.upstream.back();
    status_ = parser_.status_code();
    t.status = status_;
    t.got_header = true;
    t.header_ms = clock::now_ms() - try_start_;
    const char* base = rbuf_.data();
    auto view = [&](const http::H1Parser::Span& s) { return std::string_view(base + s.off, s.len); };
    const bool keep = s_.generation().cfg->http->keeps_response_headers;
    r.upstream_headers.clear();
    if (keep)
        for (auto& h : parser_.headers()) r.upstream_headers.emplace_back(std::string(view(h.name)), std::string(view(h.value)));

    if (status_ >= 100 && status_ < 200 && status_ != 101) {
        // interim response: drop it and parse the real one
        rbuf_.consume(hparsed_);
        hparsed_ = 0;
        parser_.reset();
        return;
    }
    if (uint32_t ft = status_ft(status_)) {
        if (can_retry(ft)) {
            // proxy_next_upstream http_5xx/403/404/429: nginx counts every one
            // but 403/404 as a failure of the peer
            t.response_ms = clock::now_ms() - try_start_;
            end_try(status_ != 403 && status_ != 404);
            SY_LOG(Level::Info, s_.number(), "upstream {} answered {}, trying the next one", up_->peers[peer_].addr.text, status_);
            close_upstream();
            state_ = ProxyState::Init;
            connect_next();
            return;
        }
    }
    if (status_ == 101) {
        if (!r.head.upgrade) {
            fail(502, Level::Error, "upstream sent unexpected \"101 Switching Protocols\" to a request that did not ask for an upgrade while reading response header from upstream", conf::next_upstream::InvalidHeader);
            return;
        }
        r.status = 101;
        http::HeadBuilder h(s_.head_scratch(), 101, view(parser_.status_text()), *r.lc->server_tokens);
        for (auto& hd : parser_.headers()) {
            std::string_view n = view(hd.name);
            if (ieq(n, "date") || ieq(n, "server") || ieq(n, "connection") || ieq(n, "keep-alive")) continue;
            h.add(n, view(hd.value));
        }
        add_sticky_cookie(h);
        h.add("Connection", "upgrade");  // as nginx's header filter writes it
        s_.send_head(h, true);
        if (s_.closed()) return;
        rbuf_.consume(hparsed_);
        hparsed_ = 0;
        OutQueue extra;
        if (!rbuf_.empty()) extra.push(std::move(rbuf_));
        s_.loop().disarm(timer_);
        s_.loop().remove(c_->s.io);
        int fd = c_->s.io.fd;
        SSL* ssl = c_->s.release_tls();
        c_->s.io.fd = -1;  // the tunnel owns it now
        s_.loop().defer_delete(c_);
        c_ = nullptr;
        state_ = ProxyState::Done;
        end_try(false);
        // the tunnel keeps the peer's conns count until it closes (the
        // Generation it holds keeps the upstream alive); an upstream owned by
        // this Proxy (proxy_pass with variables) is released here
        bool owned = up_ == &dyn_up_;
        if (owned && up_->peers[peer_].conns > 0) --up_->peers[peer_].conns;
        s_.upgrade(fd, ssl, std::move(extra), up_->peers[peer_].addr.text, owned ? nullptr : up_, peer_);
        return;
    }
    if (*r.lc->proxy_intercept_errors && status_ >= 300 && r.lc->error_page) {
        for (auto& ep : *r.lc->error_page)
            for (int c : ep.codes)
                if (c == status_) {
                    state_ = ProxyState::Dead;
                    close_upstream();
                    finalize_error(status_);
                    return;
                }
    }
    forward_head_to_client();
}

void Proxy::forward_head_to_client() {
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    const char* base = rbuf_.data();
    auto view = [&](const http::H1Parser::Span& s) { return std::string_view(base + s.off, s.len); };
    r.status = status_;
    http::HeadBuilder h(s_.head_scratch(), status_, view(parser_.status_text()), *lc.server_tokens);

    bool no_body = r.head.method == "HEAD" || status_ == 204 || status_ == 304;
    bool client11 = s_.client_chunked();
    if (no_body) framing_ = Framing::None;
    else if (parser_.chunked()) framing_ = client11 ? Framing::ChunkedRaw : Framing::ChunkedDecode;
    else if (parser_.has_length()) framing_ = Framing::Length;
    else framing_ = client11 ? Framing::CloseChunked : Framing::Close;
    remaining_ = parser_.has_length() ? parser_.content_length() : 0;
    resp_keepalive_ = parser_.keep_alive() && parser_.version() == 11;
    if (framing_ == Framing::Length && remaining_ == 0) framing_ = Framing::None;
    // X-Accel-Buffering: yes|no from the upstream overrides proxy_buffering
    // for this response (nginx honours it unless proxy_ignore_headers says so)
    bool buffered = *lc.proxy_buffering;
    for (auto& hd : parser_.headers())
        if (ieq(view(hd.name), "x-accel-buffering")) {
            if (ieq(view(hd.value), "no")) buffered = false;
            else if (ieq(view(hd.value), "yes")) buffered = true;
        }
    spool_ok_ = buffered && *lc.proxy_max_temp_file_size > 0 && framing_ != Framing::None;

    auto hidden = [&](std::string_view n) {
        for (auto& p : *lc.proxy_pass_header)
            if (ieq(p, n)) return false;
        for (auto d : kHiddenByDefault)
            if (ieq(d, n)) return true;
        for (auto& p : *lc.proxy_hide_header)
            if (ieq(p, n)) return true;
        return false;
    };
    for (auto& hd : parser_.headers()) {
        std::string_view n = view(hd.name), v = view(hd.value);
        bool hop = false;
        for (auto d : kHopByHop) hop |= ieq(d, n);
        if (hop || hidden(n)) continue;
        std::string value(v);
        if (ieq(n, "location")) {
            // nginx: a Location that proxy_redirect rewrote becomes the
            // response's location, which the header filter makes absolute
            if (rewrite_redirect(value, 0)) value = s_.absolute_location(value);
        } else if (ieq(n, "refresh")) {
            // "5; url=/path": proxy_redirect rewrites what follows url=
            static constexpr std::string_view kUrl = "url=";
            auto it = std::search(value.begin(), value.end(), kUrl.begin(), kUrl.end(),
                                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
            if (it != value.end()) rewrite_redirect(value, size_t(it - value.begin()) + 4);
        }
        h.add(n, value);
    }
    add_sticky_cookie(h);
    if (framing_ == Framing::Length || (no_body && parser_.has_length() && status_ != 204 && status_ != 304))
        h.add("Content-Length", std::to_string(parser_.content_length()));
    else if (framing_ == Framing::ChunkedRaw || framing_ == Framing::CloseChunked)
        h.add("Transfer-Encoding", "chunked");
    else if (framing_ == Framing::None && !no_body)
        h.add("Content-Length", "0");
    bool framed = framing_ != Framing::Close && framing_ != Framing::ChunkedDecode;
    s_.send_head(h, framed);
    if (s_.closed()) return;
    if (framing_ == Framing::None) {
        // no body (HEAD, 204, 304, length 0): the head is consumed, so a
        // connection with nothing after it goes back to the keep-alive pool
        if (hparsed_ > 0 && hparsed_ <= rbuf_.size()) {
            rbuf_.consume(hparsed_);
            hparsed_ = 0;
        }
        finish();
        return;
    }
    state_ = ProxyState::ReadBody;  // a chunked body: the parser continues from here
}

// proxy_redirect on `value` from `at` (Location: 0; Refresh: after "url=");
// true when a rule rewrote it.
bool Proxy::rewrite_redirect(std::string& value, size_t at) {
    http::Request& r = s_.req();
    const conf::LocConf& lc = *r.lc;
    std::string_view tail = std::string_view(value).substr(at);
    auto replace_with = [&](size_t from_len, const std::string& to) {
        value = value.substr(0, at) + to + std::string(tail.substr(from_len));
    };
    if (lc.proxy_redirect->mode == conf::ProxyRedirect::Mode::Default && !pp_.has_vars) {
        std::string from = "http://" + pp_.host_port + (pp_.has_uri ? pp_.uri : "/");
        if (tail.compare(0, from.size(), from) != 0) return false;
        replace_with(from.size(), pp_.has_uri ? r.loc->name : "/");
        return true;
    } else if (lc.proxy_redirect->mode == conf::ProxyRedirect::Mode::Replace) {
        http::VarCtx vc = s_.vars();
        for (auto& rule : lc.proxy_redirect->rules) {
            if (rule.regex) {
                // nginx: the match replaces the whole value (after the prefix)
                std::vector<int> caps;
                if (!rule.regex->match(tail, caps)) continue;
                http::set_captures(r, *rule.regex, tail, caps);
                replace_with(tail.size(), http::eval(rule.to, vc));
                return true;
            }
            std::string from = http::eval(rule.from, vc);
            if (!from.empty() && tail.compare(0, from.size(), from) == 0) {
                replace_with(from.size(), http::eval(rule.to, vc));
                return true;
            }
        }
    }
    return false;
}

// sticky cookie: a client whose cookie does not name the peer it got learns it.
void Proxy::add_sticky_cookie(http::HeadBuilder& h) {
    if (!up_->sticky.on) return;
    const conf::Peer& p = up_->peers[peer_];
    if (sticky_cookie_ == p.sticky_id) return;
    h.add("Set-Cookie", upstream::sticky_set_cookie(up_->sticky, p, int64_t(clock::wall_ms() / 1000)));
}

// The try's $upstream_response_length: body bytes as read from the upstream
// (spooled or not; $body_bytes_sent counts what reaches the client).
static void count_read(http::Request& r, uint64_t n) {
    if (!r.upstream.empty()) r.upstream.back().response_length += n;
}

void Proxy::emit(std::string_view data) {
    if (data.empty()) return;
    to_client(data, true);
}

void Proxy::on_body_data(std::string_view data) { emit(data); }

void Proxy::on_chunk_header(uint64_t size) {
    if (framing_ != Framing::ChunkedRaw) return;
    char line[24];
    auto r = fmt::format_to_n(line, sizeof line, "{:x}\r\n", size);
    to_client(std::string_view(line, r.size));
}

void Proxy::on_chunk_complete() {
    if (framing_ == Framing::ChunkedRaw) to_client(std::string_view("\r\n"));
}

// ---- response spool (proxy_buffering on, proxy_temp_path) ----------------------

// Bytes keep their order: once the spool holds some, everything after goes
// there too until it is drained. A full file (proxy_max_temp_file_size) takes
// no new spooling: the upstream read pauses instead, as with buffering off.
bool Proxy::spool_wanted() const {
    if (spool_ && spool_->pending() > 0) return true;
    if (!spool_ok_ || s_.pending_out() <= high_water_) return false;
    return !(spool_ && spool_->full());
}

// $body_bytes_sent counts payload bytes as they are queued for the client;
// spooled bytes count when they leave the spool (framing included then), so
// a client that goes away is not charged for what never left.
void Proxy::to_client(std::string_view data, bool payload) {
    if (data.empty() || state_ == ProxyState::Dead) return;
    if (spool_wanted()) {
        spool_append(data);
        return;
    }
    if (payload) s_.req().body_bytes_sent += data.size();
    s_.send(data);
}

void Proxy::to_client(Buf&& data, bool payload) {
    if (data.empty() || state_ == ProxyState::Dead) return;
    if (spool_wanted()) {
        spool_append(std::string_view(data.data(), data.size()));
        return;
    }
    if (payload) s_.req().body_bytes_sent += data.size();
    s_.send(std::move(data));
}

bool Proxy::spool_append(std::string_view data) {
    const conf::LocConf& lc = *s_.req().lc;
    if (!spool_) {
        size_t write_size = lc.proxy_temp_file_write_size
                                ? *lc.proxy_temp_file_write_size
                                : 2 * std::max(*lc.proxy_buffer_size, lc.proxy_buffers->second);
        spool_ = std::make_unique<ResponseSpool>(**lc.proxy_temp_path, *lc.proxy_max_temp_file_size, write_size);
    }
    bool had_file = spool_->has_file();
    std::string err;
    if (!spool_->append(data, err)) {
        spool_failed(err);
        return false;
    }
    if (!had_file && spool_->has_file())   // nginx's temp_file->warn, once per response
        s_.log_error(Level::Warn,
                     "an upstream response is buffered to a temporary file " + spool_->file_name() +
                         " while reading upstream",
                     peer_name());
    return true;
}

// A spool file could not be made, written or read: nginx's crit line, and
// the client's response is cut (its head is out).
void Proxy::spool_failed(const std::string& err) {
    s_.log_error(Level::Crit, err + " while reading upstream", peer_name());
    state_ = ProxyState::Dead;
    end_deferred_ = false;
    spool_.reset();
    close_upstream();
    s_.abort_response();
}

// At most 64 KiB per call and never past high_water_ in the client's queue:
// the file is read back as the client takes it, never whole.
void Proxy::refill_from_spool() {
    constexpr size_t kPerCall = 4 * Buf::kSize;
    HoldOutput hold(s_);
    size_t budget = kPerCall;
    while (spool_ && spool_->pending() > 0 && budget > 0 && s_.pending_out() < high_water_ && !s_.closed()) {
        Buf b = Buf::take();
        std::string err;
        ssize_t n = spool_->read(b.tail(), std::min(b.room(), budget), err);
        if (n <= 0) {
            spool_failed(n < 0 ? err : "spool read returned no bytes");
            return;
        }
        b.commit(size_t(n));
        budget -= size_t(n);
        s_.req().body_bytes_sent += uint64_t(n);
        s_.send(std::move(b));
    }
}

// The upstream response is complete (its connection already released or
// closed): the client's response ends now, or when the spool is drained.
void Proxy::end_response() {
    if (spool_ && spool_->pending() > 0) {
        end_deferred_ = true;
        return;
    }
    spool_.reset();
    s_.end_response(true);
}

// Forwards what `data` holds according to the framing. Returns false when the
// exchange ended (finished or failed) and the caller must stop.
bool Proxy::process_body(Buf& data) {
    while (!data.empty()) {
        switch (framing_) {
        case Framing::Length: {
            size_t n = data.size() < remaining_ ? data.size() : size_t(remaining_);
            remaining_ -= n;
            count_read(s_.req(), n);
            if (n == data.size()) {
                to_client(std::move(data), true);
                data = Buf();
            } else {
                to_client(std::string_view(data.data(), n), true);
                extra_ = true;  // bytes past the response: the connection is not reusable
                data.consume(data.size());
            }
            if (state_ == ProxyState::Dead) return false;
            if (remaining_ == 0) {
                finish();
                return false;
            }
            break;
        }
        case Framing::Close:
            count_read(s_.req(), data.size());
            to_client(std::move(data), true);
            data = Buf();
            break;
        case Framing::CloseChunked: {
            std::string head = fmt::format("{:x}\r\n", data.size());
            count_read(s_.req(), data.size());
            to_client(head);
            to_client(std::move(data), true);
            data = Buf();
            to_client(std::string_view("\r\n"));
            break;
        }
        case Framing::ChunkedRaw:
        case Framing::ChunkedDecode: {
            // the parser decodes the chunks (nginx's rules: bare LF lines,
            // extensions and trailers are accepted, broken framing is not);
            // a chunked client gets them framed anew, never the upstream's bytes
            size_t consumed = 0;
            parser_.set_sink(this);
            http::H1Parser::Event ev = parser_.feed(data.data(), 0, data.size(), consumed);
            parser_.set_sink(nullptr);
            if (state_ == ProxyState::Dead) return false;
            // nginx counts the upstream's body as read, chunk framing included
            count_read(s_.req(), consumed);
            if (ev == http::H1Parser::Event::Error) {
                fail(502, Level::Error, "upstream sent invalid chunked response while reading upstream", 0);
                return false;
            }
            data.consume(consumed);
            if (ev == http::H1Parser::Event::MessageDone) {
                if (framing_ == Framing::ChunkedRaw) to_client(s_.last_chunk());
                if (state_ == ProxyState::Dead) return false;
                extra_ = !data.empty();
                data = Buf();
                finish();
                return false;
            }
            break;
        }
        case Framing::None:
            data = Buf();
            break;
        }
        if (s_.closed() || state_ == ProxyState::Dead) return false;
    }
    // spooling: the upstream is read on until the file is full
    bool can_spool = spool_ok_ && !(spool_ && spool_->full());
    if (spool_ && spool_->pending() > 0) {
        if (spool_->full()) read_paused_ = true;
    } else if (s_.pending_out() > high_water_ && !can_spool) {
        read_paused_ = true;
    }
    return true;
}

void Proxy::finish() {
    http::Request& r = s_.req();
    if (!r.upstream.empty()) r.upstream.back().response_ms = clock::now_ms() - try_start_;
    state_ = ProxyState::Done;
    end_try(false);
    bool reuse = up_->keepalive > 0 && req_keepalive_ok_ && resp_keepalive_ && !extra_ && rbuf_.empty() &&
                 framing_ != Framing::Close && framing_ != Framing::CloseChunked && body_complete_ && out_.empty() &&
                 (!buffering_body_ || body_off_ == body_len_) &&
                 conn_requests_ + 1 < up_->keepalive_requests && c_ &&
                 clock::now_ms() - c_->born_ms < up_->keepalive_time;
    if (reuse) {
        s_.loop().disarm(timer_);
        const conf::Peer& p = up_->peers[peer_];
        if (p.conns > 0) --p.conns;
        c_->requests = conn_requests_ + 1;
        s_.worker().pool().put(pool_group(), c_, size_t(up_->keepalive), up_->keepalive_timeout);
        c_ = nullptr;
    }
    close_upstream();
    rbuf_.release();
    end_response();
}

}  // namespace sy::proxy

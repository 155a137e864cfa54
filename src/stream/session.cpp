#include "stream/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "config/loader.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/access_log.h"
#include "net/proxy_reader.h"
#include "proxy/upstream_tls.h"
#include "tls/context.h"
#include "tunnel/tunnel.h"

namespace sy::stream {

namespace {
enum { kClient = 0, kUpstream = 1 };

// listen ... ssl: the client's SNI picks the server among those on the
// address (server_name) and so its certificate.
int on_servername(SSL* ssl, int*, void*) {
    return tls::on_servername(ssl, [](void* s, const char* name) { return static_cast<Session*>(s)->on_sni(name); });
}

}  // namespace

const char* to_string(StreamState s) {
    switch (s) {
    case StreamState::ProxyHeader: return "ProxyHeader";
    case StreamState::Handshake: return "Handshake";
    case StreamState::Preread: return "Preread";
    case StreamState::Returning: return "Returning";
    case StreamState::Connecting: return "Connecting";
    case StreamState::UpHandshake: return "UpHandshake";
    case StreamState::Closed: return "Closed";
    }
    return "?";
}

Session::Session(http::Worker& w, int fd, const sockaddr_storage& peer, const http::ServerGroup* group)
    : w_(w), gen_(w.current()), group_(group), server_(group->default_server), req_(std::make_unique<http::Request>()),
      peer_addr_(peer) {
    client_.io.fd = fd;
    client_.io.owner = this;
    client_.io.tag = kClient;
    up_.s.io.owner = this;
    up_.s.io.tag = kUpstream;
    timer_.owner = this;
    info_.number = w.next_conn_number();
    net::addr_text(peer, info_.remote_addr, info_.remote_port);
    // a listen on one address is the local address (no getsockname)
    socklen_t len = sizeof local_addr_;
    if (!group->addr.is_wildcard() && group->addr.len <= sizeof local_addr_) {
        std::memcpy(&local_addr_, &group->addr.ss, group->addr.len);
        net::addr_text(local_addr_, info_.server_addr, info_.server_port);
    } else if (getsockname(fd, reinterpret_cast<sockaddr*>(&local_addr_), &len) == 0) {
        net::addr_text(local_addr_, info_.server_addr, info_.server_port);
    }
    http::Request& r = *req_;
    r.server = server_;
    r.lc = &server_->conf;
    r.start_ms = clock::wall_ms();
    r.start_mono = clock::now_ms();
    r.status = 200;
    w.conn_opened();
    w.track(this);
}

Session::~Session() {
    w_.untrack(this);
}

void Session::start() {
    SY_LOG(Level::Info, info_.number, "client {}:{} connected to {}", info_.remote_addr, info_.remote_port,
           group_->addr.text);
    // The client socket is polled only by phases that read it first; a
    // plain session leaves it to the tunnel.
    bool reads_first = (group_->listen && (group_->listen->proxy_protocol || group_->listen->ssl)) ||
                       *server_->conf.ssl_preread || returns();
    if (reads_first && !w_.loop().add(client_.io)) {
        finish(500, Level::Alert, fmt::format("epoll_ctl() failed ({}: {})", errno, strerror(errno)));
        return;
    }
    if (group_->listen && group_->listen->proxy_protocol) {
        state_ = StreamState::ProxyHeader;
        w_.loop().arm(timer_, *server_->conf.proxy_protocol_timeout);
        client_readable_ = true;
        read_proxy_header();
        return;
    }
    start_handshake();
}

// ---- client events -----------------------------------------------------------

void Session::on_io(int tag, uint32_t events) {
    if (state_ == StreamState::Closed) return;
    if (tag == kClient) {
        client_.on_events(events, client_readable_, client_writable_);
        switch (state_) {
        case StreamState::ProxyHeader: read_proxy_header(); break;
        case StreamState::Handshake: step_handshake(); break;
        case StreamState::Preread: step_preread(); break;
        case StreamState::Returning: write_return(); break;
        default: break;   // bytes wait in the socket for the tunnel
        }
        return;
    }
    up_.s.on_events(events, up_readable_, up_writable_);
    if (state_ == StreamState::Connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(up_.s.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err) {
            try_failed(Level::Error, fmt::format("connect() failed ({}: {}) while connecting to upstream", err, strerror(err)),
                       true);
            return;
        }
        on_tcp_connected();
    } else if (state_ == StreamState::UpHandshake) {
        step_up_handshake();
    }
}

void Session::on_timer(int) {
    switch (state_) {
    case StreamState::ProxyHeader:
        finish(200, Level::Info, "client timed out (110: Connection timed out) while reading PROXY protocol");
        break;
    case StreamState::Handshake:
        finish(200, Level::Info, "client timed out (110: Connection timed out) while SSL handshaking");
        break;
    case StreamState::Preread:
        // nginx goes on with what the preread found so far
        SY_LOG(Level::Debug, info_.number, "preread timed out");
        route();
        break;
    case StreamState::Returning:
        finish(200, Level::Info, "client timed out (110: Connection timed out) while sending to client");
        break;
    case StreamState::Connecting:
        try_failed(Level::Error, "upstream timed out (110: Connection timed out) while connecting to upstream", true);
        break;
    case StreamState::UpHandshake:
        try_failed(Level::Error, "upstream timed out (110: Connection timed out) while SSL handshaking to upstream", true);
        break;
    case StreamState::Closed: break;
    }
}

// ---- PROXY protocol (listen ... proxy_protocol) --------------------------------

void Session::read_proxy_header() {
    net::ProxyHeader h;
    std::string err;
    switch (net::read_proxy_header(client_.io.fd, h, err)) {
    case net::ProxyRead::Again: client_readable_ = false; return;
    case net::ProxyRead::Closed: finish(200, Level::Info, "client closed connection while reading PROXY protocol"); return;
    case net::ProxyRead::Invalid: finish(400, Level::Error, err + " while reading PROXY protocol"); return;
    case net::ProxyRead::Error: finish(200, Level::Info, err + " while reading PROXY protocol"); return;
    case net::ProxyRead::Done: break;
    }
    w_.loop().disarm(timer_);
    if (!h.local) {
        info_.proxy_protocol_addr = h.src_addr;
        info_.proxy_protocol_port = h.src_port;
        // realip: the header is believed only from a trusted peer
        if (net::trusted(*server_->conf.set_real_ip_from, reinterpret_cast<const sockaddr*>(&peer_addr_))) {
            info_.realip_remote_addr = info_.remote_addr;
            info_.realip_remote_port = info_.remote_port;
            info_.remote_addr = h.src_addr;
            info_.remote_port = h.src_port;
            peer_addr_ = h.src;
        }
    }
    SY_LOG(Level::Debug, info_.number, "PROXY protocol v{}: {}:{}", h.version, h.src_addr, h.src_port);
    start_handshake();
}

// ---- TLS termination (listen ... ssl) -------------------------------------------

void Session::start_handshake() {
    if (!(group_->listen && group_->listen->ssl) || !server_->tls) {
        start_preread();
        return;
    }
    state_ = StreamState::Handshake;
    if (!client_.start_server(server_->tls->ctx, this)) {
        finish(500, Level::Alert, client_.error() + " while SSL handshaking");
        return;
    }
    w_.loop().arm(timer_, *server_->conf.ssl_handshake_timeout);
    client_readable_ = true;
    step_handshake();
}

void Session::step_handshake() {
    int r = client_.handshake();
    if (r == 0) return;
    if (r < 0) {
        finish(500, client_.client_level(), client_.error() + " while SSL handshaking");
        return;
    }
    w_.loop().disarm(timer_);
    SSL* ssl = client_.ssl();
    info_.ssl = true;
    info_.ssl_protocol = SSL_get_version(ssl);
    info_.ssl_cipher = SSL_get_cipher_name(ssl);
    info_.ssl_reused = SSL_session_reused(ssl) == 1;
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info_.ssl_server_name = sni;
    info_.client_cert = tls::peer_cert(ssl);
    if (gen_->cfg->stream->keeps_ssl_session_vars) {
        info_.ssl_session_id = tls::session_id_hex(ssl);
        info_.ssl_ciphers = tls::client_ciphers(ssl);
    }
    // ssl_verify_client: a failed verification ends the session (nginx's ssl phase)
    std::string why;
    if (tls::client_verify_status(*server_->conf.ssl_verify_client, info_.client_cert.get(), why)) {
        finish(500, Level::Info, why + " while SSL handshaking");
        return;
    }
    start_preread();
}

// ---- ssl_preread ------------------------------------------------------------------

void Session::start_preread() {
    if (!*server_->conf.ssl_preread) {
        route();
        return;
    }
    state_ = StreamState::Preread;
    w_.loop().arm(timer_, *server_->conf.preread_timeout);
    client_readable_ = true;
    step_preread();
}

// Reads what the client has into in_ (kept for the backend), up to `limit`.
// False when the session ended.
bool Session::read_client() {
    size_t limit = *server_->conf.preread_buffer_size;
    char buf[16384];
    while (client_readable_ && !client_eof_ && in_.size() < limit) {
        ssize_t n = client_.read(buf, std::min(sizeof buf, limit - in_.size()));
        if (n > 0) {
            in_.append(buf, size_t(n));
            continue;
        }
        if (n == 0) {
            client_eof_ = true;
            break;
        }
        if (errno == EAGAIN) {
            client_readable_ = false;
            break;
        }
        finish(200, client_.client_level(), client_.error() + " while prereading client data");
        return false;
    }
    return true;
}

void Session::step_preread() {
    if (!read_client()) return;
    PrereadResult rc = preread_.feed(in_);
    if (rc == PrereadResult::NeedMore) {
        if (in_.size() >= *server_->conf.preread_buffer_size) {
            // nginx ends the session here (400, "ssl preread buffer full");
            // switchyard goes on without the ClientHello's facts, so such a
            // client reaches the default route instead of a reset
            SY_LOG(Level::Info, info_.number, "ssl preread buffer full ({} bytes), going on without the ClientHello{}",
                   in_.size(), context());
        } else if (!client_eof_) {
            return;   // wait for more (preread_timeout)
        }
    }
    if (rc == PrereadResult::NotTls) SY_LOG(Level::Debug, info_.number, "ssl preread: {}", preread_.error());
    const ClientHelloInfo& ch = preread_.info();
    info_.preread_server_name = ch.server_name;
    info_.preread_alpn = ch.alpn;
    info_.preread_protocol = ch.protocol;
    info_.preread_found = preread_.variables_found();
    choose_server(ch.server_name);
    route();
}

// ---- the upstream -------------------------------------------------------------------

bool Session::returns() const {
    return server_->stream_return && (server_->stream_return_last || !server_->stream_pass);
}

void Session::route() {
    w_.loop().disarm(timer_);
    if (returns()) {
        http::VarCtx vc = vars();
        out_ = http::eval(*server_->stream_return, vc);
        state_ = StreamState::Returning;
        w_.loop().arm(timer_, 5000);   // nginx's fixed send timeout for `return`
        write_return();
        return;
    }
    state_ = StreamState::Connecting;
    const conf::ProxyPass& pp = *server_->stream_pass;
    upstream_ = pp.upstream;
    std::string target = pp.host_port;
    if (pp.has_vars) {
        // a variable names an upstream block or gives an address literal
        http::VarCtx vc = vars();
        target = http::eval(pp.url_tpl, vc);
        for (auto& u : gen_->cfg->stream->upstreams)
            if (!u->implicit && u->name == target) upstream_ = u.get();
        if (!upstream_) {
            std::vector<conf::SockAddr> a;
            std::string e;
            if (!conf::parse_addr(target, -1, a, e, false) || a.empty()) {
                finish(502, Level::Error, fmt::format("no resolver defined to resolve {}", target));
                return;
            }
            own_upstream_ = std::make_unique<conf::Upstream>();
            own_upstream_->name = target;
            own_upstream_->implicit = true;
            for (auto& x : a) {
                conf::Peer p;
                p.addr = x;
                p.name = x.text;
                own_upstream_->peers.push_back(p);
            }
            upstream::finish_peers(*own_upstream_);
            upstream_ = own_upstream_.get();
        }
    }
    if (pp.tls) {
        std::string name = target;
        if (pp.tls->name) {
            http::VarCtx vc = vars();
            name = http::eval(*pp.tls->name, vc);
        }
        ssl_name_ = proxy::ssl_name_host(name);
    }
    if (upstream_->balance == conf::Balance::Hash || upstream_->balance == conf::Balance::HashConsistent) {
        http::VarCtx vc = vars();
        balance_key_ = http::eval(upstream_->hash_key, vc);
    }
    first_start_ = clock::now_ms();
    connect_next();
}

// `return`: the text goes to the client (over TLS on listen ... ssl), then
// the session ends with 200. What the client sent is not read.
void Session::write_return() {
    while (!out_.empty() && client_writable_) {
        ssize_t n = client_.write(out_.data(), out_.size());
        if (n > 0) {
            req_->bytes_sent += size_t(n);
            out_.erase(0, size_t(n));
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            client_writable_ = false;
            return;
        }
        finish(200, client_.client_level(), client_.error() + " while sending to client");
        return;
    }
    if (out_.empty()) finish(200, Level::Debug, "");
}

// nginx's peer.tries: every peer not down, capped by proxy_next_upstream_tries.
size_t Session::max_tries() const {
    size_t n = 0;
    for (auto& p : upstream_->peers) n += !p.down && !p.gone;
    uint32_t cap = *server_->conf.proxy_next_upstream_tries;
    return cap && cap < n ? cap : n;
}

bool Session::can_retry() const {
    const conf::LocConf& lc = server_->conf;
    if (!*lc.proxy_next_upstream) return false;
    if (tried_.size() >= max_tries()) return false;
    conf::Msec limit = *lc.proxy_next_upstream_timeout;
    return !(limit && clock::now_ms() - first_start_ >= limit);
}

void Session::connect_next() {
    http::Request& r = *req_;
    state_ = StreamState::Connecting;
    uint64_t now = clock::now_ms();
    int i = upstream::pick(*upstream_, tried_, now, balance_key_, pick_);
    if (i < 0) {
        r.upstream.push_back({upstream_->name});
        finish(502, Level::Error, "no live upstreams while connecting to upstream");
        return;
    }
    peer_ = size_t(i);
    tried_.push_back(peer_);
    const conf::Peer& p = upstream_->peers[peer_];
    r.upstream.push_back({p.addr.text});
    try_start_ = now;
    try_open_ = true;
    ++p.conns;
    int fd = ::socket(p.addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        try_failed(Level::Alert, fmt::format("socket() failed ({}: {}) while connecting to upstream", e, strerror(e)), false);
        return;
    }
    if (p.addr.family() != AF_UNIX && *server_->conf.tcp_nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    up_.s.io.fd = fd;
    up_.peer = p.pool_key;
    up_readable_ = up_writable_ = false;
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&p.addr.ss), p.addr.len);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        try_failed(Level::Error, fmt::format("connect() failed ({}: {}) while connecting to upstream", e, strerror(e)), true);
        return;
    }
    if (!w_.loop().add(up_.s.io)) {
        int e = errno;
        try_failed(Level::Alert, fmt::format("epoll_ctl() failed ({}: {}) while connecting to upstream", e, strerror(e)), false);
        return;
    }
    w_.loop().arm(timer_, *server_->conf.proxy_connect_timeout);
    if (rc == 0) on_tcp_connected();
}

void Session::on_tcp_connected() {
    auto& t = req_->upstream.back();
    t.connected = true;
    t.connect_ms = clock::now_ms() - try_start_;
    const conf::ProxyPass& pp = *server_->stream_pass;
    if (!pp.tls) {
        hand_off();
        return;
    }
    std::string err;
    if (!proxy::upstream_tls_start(up_, *pp.tls, ssl_name_, err)) {
        try_failed(Level::Alert, err + " while SSL handshaking to upstream", false);
        return;
    }
    state_ = StreamState::UpHandshake;
    step_up_handshake();
}

void Session::step_up_handshake() {
    int r = up_.s.handshake();
    if (r == 0) return;
    if (r < 0) {
        proxy::upstream_tls_forget(up_);
        try_failed(up_.s.upstream_level(), up_.s.error() + " while SSL handshaking to upstream", true);
        return;
    }
    std::string bad = proxy::upstream_tls_check(up_, *server_->stream_pass->tls, ssl_name_);
    if (!bad.empty()) {
        proxy::upstream_tls_forget(up_);
        try_failed(Level::Error, bad + " while SSL handshaking to upstream", true);
        return;
    }
    hand_off();
}

void Session::end_try(bool failed) {
    if (!try_open_) return;
    try_open_ = false;
    const conf::Peer& p = upstream_->peers[peer_];
    if (p.conns > 0) --p.conns;
    if (upstream_->peers.size() == 1) return;   // nginx keeps no health state for a single server
    uint64_t now = clock::now_ms();
    if (!failed) {
        upstream::peer_succeeded(p, now);
        return;
    }
    if (upstream::peer_failed(p, now))
        errlog().write(Level::Warn, info_.number, "upstream server temporarily disabled while connecting to upstream" + context());
}

void Session::try_failed(Level lvl, const std::string& why, bool retryable) {
    http::Request& r = *req_;
    if (errlog().enabled(lvl)) errlog().write(lvl, info_.number, why + context());
    if (!r.upstream.empty()) {
        auto& t = r.upstream.back();
        t.connected = false;
        t.response_ms = clock::now_ms() - try_start_;
    }
    end_try(true);
    close_upstream();
    if (retryable && can_retry()) {
        connect_next();
        return;
    }
    finish(502, Level::Debug, "");
}

// Both sockets (and their TLS objects) go to a Tunnel; what goes to the
// backend first: our PROXY header (proxy_protocol on), then the client bytes
// read by the preread.
void Session::hand_off() {
    http::Request& r = *req_;
    w_.loop().disarm(timer_);
    const conf::Peer& peer = upstream_->peers[peer_];
    SY_LOG(Level::Debug, info_.number, "proxy {}:{} connected to {}", info_.remote_addr, info_.remote_port, peer.addr.text);
    OutQueue to_upstream;
    if (*server_->conf.proxy_protocol) {
        // the client as we know it ($remote_addr: after realip) and the address it reached
        auto src = reinterpret_cast<const sockaddr*>(&peer_addr_);
        auto dst = reinterpret_cast<const sockaddr*>(&local_addr_);
        std::string h = *server_->conf.proxy_protocol_version == 2 ? net::proxy_v2(src, dst) : net::proxy_v1(src, dst);
        to_upstream.append(h);
        r.upstream.back().bytes_sent += h.size();   // nginx counts it in $upstream_bytes_sent
    }
    if (!in_.empty()) {
        to_upstream.append(in_);
        r.bytes_received += in_.size();
        r.upstream.back().bytes_sent += in_.size();
    }
    upstream::peer_succeeded(peer, clock::now_ms());
    try_open_ = false;   // the tunnel holds the peer's conns count from here
    SSL* ussl = up_.s.release_tls();
    SSL* cssl = client_.release_tls();
    tunnel::Tunnel::Params p;
    p.read_timeout = p.send_timeout = p.client_send_timeout = *server_->conf.proxy_timeout;
    p.upstream_addr = peer.addr.text;
    p.up = own_upstream_ ? nullptr : upstream_;
    p.peer = peer_;
    p.stream = true;
    p.half_close = *server_->conf.proxy_half_close;
    p.read_size = *server_->conf.proxy_buffer_size;
    if (own_upstream_ && peer.conns > 0) --peer.conns;
    state_ = StreamState::Closed;
    auto* tun = new tunnel::Tunnel(w_, gen_, std::move(req_), info_, p);   // counts the connection from now on
    tun->start_registered(client_.io, cssl, up_.s.io, ussl, std::move(to_upstream));
    w_.loop().defer_delete(this);
}

void Session::close_upstream() {
    w_.loop().disarm(timer_);
    if (up_.s.io.fd < 0) return;
    w_.loop().forget(up_.s.io);   // close() ends the registration
    up_.s.close();
}

void Session::finish(int status, Level lvl, const std::string& why) {
    if (state_ == StreamState::Closed) return;
    state_ = StreamState::Closed;
    if (!why.empty() && errlog().enabled(lvl)) errlog().write(lvl, info_.number, why + context());
    end_try(true);
    close_upstream();
    if (client_.io.fd >= 0) {
        w_.loop().forget(client_.io);
        client_.close();
    }
    req_->status = status;
    req_->bytes_received += in_.size();
    http::VarCtx vc = vars();
    http::write_access_log(*gen_, vc);
    w_.conn_closed();
    w_.loop().defer_delete(this);
}

std::string Session::context() const {
    std::string up;
    if (upstream_ && try_open_) up = upstream_->peers[peer_].addr.text;
    else if (req_ && !req_->upstream.empty()) up = req_->upstream.back().addr;
    std::string line = fmt::format(", client: {}, server: {}:{}", info_.remote_addr, info_.server_addr, info_.server_port);
    if (!up.empty()) line += fmt::format(", upstream: \"{}\"", up);
    line += fmt::format(", bytes from/to client:{}/0, bytes from/to upstream:0/0", in_.size());
    return line;
}

void install_tls_callbacks(const std::vector<http::ServerGroup>& groups) {
    for (auto& g : groups) {
        bool named = !g.exact.empty() || !g.wild_head.empty() || !g.wild_tail.empty() || !g.regex.empty();
        if (!g.stream || !named) continue;
        auto install = [](const conf::Server* s) {
            if (s && s->tls && s->tls->ctx) SSL_CTX_set_tlsext_servername_callback(s->tls->ctx, on_servername);
        };
        install(g.default_server);
        for (auto& [n, s] : g.exact) install(s);
        for (auto& [n, s] : g.wild_head) install(s);
        for (auto& [n, s] : g.wild_tail) install(s);
        for (auto& [re, s] : g.regex) install(s);
    }
}

// server_name (nginx 1.25.5): the TLS server name picks the server among
// those on this address; none, or none matching: the default one.
bool Session::choose_server(const std::string& name) {
    std::string host;
    if (name.empty() || !http::parse_host(name, host)) return false;
    const conf::Server* s = group_->find(host, req_.get());
    if (!s || s == server_) return false;
    SY_LOG(Level::Debug, info_.number, "stream server chosen by name \"{}\"", host);
    server_ = s;
    req_->server = s;
    req_->lc = &s->conf;
    return true;
}

SSL_CTX* Session::on_sni(const char* name) {
    choose_server(name);
    return server_->tls ? server_->tls->ctx : nullptr;
}

}  // namespace sy::stream

#include "stream/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "config/loader.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/access_log.h"
#include "tunnel/tunnel.h"
#include "upstream/round_robin.h"

namespace sy::stream {

namespace {
enum { kClient = 0, kUpstream = 1 };

void addr_to(const sockaddr_storage& ss, std::string& addr, uint16_t& port) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        port = ntohs(a->sin6_port);
    } else {
        addr = "unix:";
        port = 0;
        return;
    }
    addr = buf;
}
}  // namespace

Session::Session(http::Worker& w, int fd, const sockaddr_storage& peer, const http::ServerGroup* group)
    : w_(w), gen_(w.current()), group_(group), server_(group->default_server), req_(std::make_unique<http::Request>()) {
    client_.fd = fd;
    client_.owner = this;
    client_.tag = kClient;
    up_.owner = this;
    up_.tag = kUpstream;
    timer_.owner = this;
    info_.number = w.next_conn_number();
    addr_to(peer, info_.remote_addr, info_.remote_port);
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) addr_to(local, info_.server_addr, info_.server_port);
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
    const conf::ProxyPass& pp = *server_->stream_pass;
    upstream_ = pp.upstream;
    if (pp.has_vars) {
        // a variable names an upstream block or gives an address literal
        http::VarCtx vc = vars();
        std::string target = http::eval(pp.url_tpl, vc);
        for (auto& u : gen_->cfg->stream->upstreams)
            if (!u->implicit && u->name == target) upstream_ = u.get();
        if (!upstream_) {
            std::vector<conf::SockAddr> a;
            std::string e;
            if (!conf::parse_addr(target, -1, a, e, false) || a.empty()) {
                finish(502, Level::Error, fmt::format("no resolver defined to resolve {}", target));
                return;
            }
            auto* u = new conf::Upstream();   // this session's own; freed in finish()
            u->name = target;
            u->implicit = true;
            for (auto& x : a) {
                conf::Peer p;
                p.addr = x;
                p.name = x.text;
                u->peers.push_back(p);
            }
            upstream::finish_peers(*u);
            own_upstream_.reset(u);
            upstream_ = u;
        }
    }
    if (upstream_->balance == conf::Balance::Hash || upstream_->balance == conf::Balance::HashConsistent) {
        http::VarCtx vc = vars();
        balance_key_ = http::eval(upstream_->hash_key, vc);
    }
    first_start_ = clock::now_ms();
    connect_next();
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
    up_.fd = fd;
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&p.addr.ss), p.addr.len);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        try_failed(Level::Error, fmt::format("connect() failed ({}: {}) while connecting to upstream", e, strerror(e)), true);
        return;
    }
    if (!w_.loop().add(up_)) {
        int e = errno;
        try_failed(Level::Alert, fmt::format("epoll_ctl() failed ({}: {}) while connecting to upstream", e, strerror(e)), false);
        return;
    }
    w_.loop().arm(timer_, *server_->conf.proxy_connect_timeout);
    if (rc == 0) on_connected();
}

void Session::on_io(int tag, uint32_t events) {
    if (state_ != StreamState::Connecting || tag != kUpstream || up_.fd < 0) return;
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(up_.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) {
        try_failed(Level::Error, fmt::format("connect() failed ({}: {}) while connecting to upstream", err, strerror(err)), true);
        return;
    }
    on_connected();
}

void Session::on_timer(int) {
    if (state_ != StreamState::Connecting) return;
    // nginx's stream module: "upstream timed out (110: Connection timed out) while connecting to upstream"
    try_failed(Level::Error, "upstream timed out (110: Connection timed out) while connecting to upstream", true);
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
        t.status = 502;
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

void Session::on_connected() {
    http::Request& r = *req_;
    w_.loop().disarm(timer_);
    auto& t = r.upstream.back();
    t.connected = true;
    t.connect_ms = clock::now_ms() - try_start_;
    SY_LOG(Level::Debug, info_.number, "proxy {}:{} connected to {}", info_.remote_addr, info_.remote_port,
           upstream_->peers[peer_].addr.text);
    // The tunnel takes both sockets and the peer's conns count from here.
    w_.loop().remove(up_);
    int ufd = up_.fd;
    up_.fd = -1;
    int cfd = client_.fd;
    client_.fd = -1;
    try_open_ = false;
    upstream::peer_succeeded(upstream_->peers[peer_], clock::now_ms());
    tunnel::Tunnel::Params p;
    p.read_timeout = p.send_timeout = p.client_send_timeout = *server_->conf.proxy_timeout;
    p.upstream_addr = upstream_->peers[peer_].addr.text;
    p.up = own_upstream_ ? nullptr : upstream_;
    p.peer = peer_;
    p.stream = true;
    p.half_close = *server_->conf.proxy_half_close;
    if (own_upstream_) --upstream_->peers[peer_].conns;
    state_ = StreamState::Closed;
    auto* tun = new tunnel::Tunnel(w_, gen_, std::move(req_), info_, p);   // counts the connection from now on
    tun->start(cfd, nullptr, ufd, nullptr, OutQueue(), OutQueue(), OutQueue());
    w_.loop().defer_delete(this);
}

void Session::close_upstream() {
    w_.loop().disarm(timer_);
    if (up_.fd < 0) return;
    w_.loop().remove(up_);
    ::close(up_.fd);
    up_.fd = -1;
}

void Session::finish(int status, Level lvl, const std::string& why) {
    if (state_ == StreamState::Closed) return;
    state_ = StreamState::Closed;
    if (!why.empty() && errlog().enabled(lvl)) errlog().write(lvl, info_.number, why + context());
    end_try(true);
    close_upstream();
    if (client_.fd >= 0) {
        ::close(client_.fd);
        client_.fd = -1;
    }
    req_->status = status;
    http::VarCtx vc = vars();
    http::write_access_log(*gen_, vc);
    w_.conn_closed();
    w_.loop().defer_delete(this);
}

std::string Session::context() const {
    std::string up;
    if (upstream_ && try_open_) up = upstream_->peers[peer_].addr.text;
    else if (!req_->upstream.empty()) up = req_->upstream.back().addr;
    return fmt::format(", client: {}, server: {}:{}, upstream: \"{}\", bytes from/to client:0/0, bytes from/to "
                       "upstream:0/0", info_.remote_addr, info_.server_addr, info_.server_port, up);
}

}  // namespace sy::stream

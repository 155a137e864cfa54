#include "http/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/session.h"
#include "stream/session.h"
#include "upstream/balancer.h"

namespace sy::http {

Generation::~Generation() {
    for (auto& [p, fd] : access_fds) if (fd >= 0) ::close(fd);
}

static void collect_logs(const conf::LocConf& lc, std::vector<std::string>& out) {
    if (!lc.access_log) return;
    for (auto& a : *lc.access_log)
        if (!a.off) out.push_back(a.path);
}

static void collect_tree(const conf::LocationTree& t, std::vector<std::string>& out) {
    for (auto& l : t.all) {
        collect_logs(l->conf, out);
        if (l->nested) collect_tree(*l->nested, out);
    }
}

bool Generation::open_logs(std::string& err) {
    std::vector<std::string> paths;
    if (cfg->http) {
        collect_logs(cfg->http->conf, paths);
        for (auto& s : cfg->http->servers) {
            collect_logs(s->conf, paths);
            collect_tree(s->locations, paths);
        }
    }
    if (cfg->stream)
        for (auto& s : cfg->stream->servers) collect_logs(s->conf, paths);
    for (auto& p : paths) {
        if (access_fds.count(p)) continue;
        int fd = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            err = fmt::format("open() \"{}\" failed ({}: {})", p, errno, strerror(errno));
            return false;
        }
        access_fds[p] = fd;
    }
    return true;
}

void Generation::reopen_logs() {
    for (auto& [path, fd] : access_fds) {
        int nfd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (nfd < 0) {
            SY_LOG(Level::Alert, 0, "open() \"{}\" failed ({}: {})", path, errno, strerror(errno));
            continue;
        }
        ::dup2(nfd, fd);  // same descriptor number: writers need not know
        ::close(nfd);
    }
}

int Generation::log_fd(const std::string& path) const {
    auto it = access_fds.find(path);
    return it == access_fds.end() ? -1 : it->second;
}

Listener::~Listener() {
    if (io_.fd >= 0) ::close(io_.fd);
}

int Listener::release_fd() {
    int fd = io_.fd;
    w_.loop().remove(io_);
    io_.fd = -1;
    return fd;
}

void Listener::on_io(int, uint32_t) {
    for (int i = 0; i < 64; ++i) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        int fd = ::accept4(io_.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
            if (w_.accept_failed(errno)) continue;
            return;
        }
        const ServerGroup* g = w_.group_for(addr_);
        if (g && addr_.is_wildcard()) g = w_.group_for_local(fd, g);
        auto& gen = w_.current();
        if (!g || !gen) { ::close(fd); continue; }
        if (!w_.make_room(size_t(gen->cfg->worker_connections))) {
            ::close(fd);
            continue;
        }
        if (peer.ss_family != AF_UNIX && *g->default_server->conf.tcp_nodelay) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (g->stream) {
            auto* s = new stream::Session(w_, fd, peer, g);
            s->start();
            continue;
        }
        auto* s = new Session(w_, fd, peer, g);
        s->start();
    }
}

bool Worker::bind_socket(const conf::Listen& l, int& fd, std::string& err) {
    const conf::SockAddr& a = l.addr;
    fd = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = fmt::format("socket() {} failed ({}: {})", a.text, errno, strerror(errno));
        return false;
    }
    int one = 1;
    if (a.family() != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l.reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (a.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (a.family() == AF_UNIX) ::unlink(reinterpret_cast<const sockaddr_un*>(&a.ss)->sun_path);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) != 0) {
        err = fmt::format("bind() to {} failed ({}: {})", a.text, errno, strerror(errno));
        ::close(fd);
        fd = -1;
        return false;
    }
    if (::listen(fd, l.backlog) != 0) {
        err = fmt::format("listen() to {}, backlog {} failed ({}: {})", a.text, l.backlog, errno, strerror(errno));
        ::close(fd);
        fd = -1;
        return false;
    }
    return true;
}

// Like nginx, a specific address on a port that also has a wildcard listen is
// served by the wildcard socket; the server block is chosen by local address.
static bool covered_by_wildcard(const std::vector<ServerGroup>& groups, const ServerGroup& g) {
    if (g.addr.is_wildcard() || g.addr.family() == AF_UNIX) return false;
    for (auto& o : groups)
        if (o.addr.is_wildcard() && o.addr.family() == g.addr.family() && o.addr.port() == g.addr.port()) return true;
    return false;
}

bool Worker::activate(std::shared_ptr<Generation> gen, std::string& err) {
    // Bind what is new first; nothing changes unless every socket is ready.
    std::vector<std::unique_ptr<Listener>> fresh;
    for (auto& g : gen->groups) {
        if (covered_by_wildcard(gen->groups, g)) continue;
        bool have = false;
        for (auto& old : listeners_) have |= old->addr().text == g.addr.text;
        if (have) continue;
        int fd;
        if (!bind_socket(*g.listen, fd, err)) return false;  // `fresh` closes what it bound
        fresh.push_back(std::make_unique<Listener>(*this, fd, g.addr));
    }
    std::vector<std::unique_ptr<Listener>> next;
    for (auto& g : gen->groups) {
        if (covered_by_wildcard(gen->groups, g)) continue;
        for (auto* pool : {&listeners_, &fresh})
            for (auto& l : *pool)
                if (l && l->addr().text == g.addr.text) next.push_back(std::move(l));
    }
    for (auto& l : next)
        if (!l->io().registered && !accept_paused_) loop_.add_level_read(l->io());   // else when the pause ends
    for (auto& old : listeners_)
        if (old) retire(std::move(old));
    listeners_ = std::move(next);
    // Old re-resolvers stop first (their lookups in flight are cancelled); the
    // new ones start from the old peers' addresses, before the counters are
    // linked below, and send their first queries once the loop runs.
    resolvers_.reset();
    resolvers_ = upstream::DynamicPeers::create(loop_, gen->cfg, gen_ ? gen_->cfg.get() : nullptr);
    if (gen_) upstream::inherit_counters(*gen_->cfg, *gen->cfg);
    std::erase_if(gens_, [](const std::weak_ptr<Generation>& g) { return g.expired(); });
    gens_.push_back(gen);
    gen_ = std::move(gen);
    return true;
}

void Worker::reopen_logs() {
    std::erase_if(gens_, [](const std::weak_ptr<Generation>& g) { return g.expired(); });
    for (auto& weak : gens_)
        if (auto g = weak.lock()) g->reopen_logs();
}

void Worker::retire(std::unique_ptr<Listener> l) {
    loop_.remove(l->io());
    loop_.defer_delete(l.release());
}

Worker::~Worker() {
    resolvers_.reset();   // while the loop they use is alive
    loop_.disarm(accept_timer_);
}

const ServerGroup* Worker::group_for_local(int fd, const ServerGroup* wildcard) const {
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return wildcard;
    for (auto& g : gen_->groups) {
        if (g.addr.is_wildcard() || g.addr.family() != local.ss_family || g.addr.port() != wildcard->addr.port()) continue;
        if (local.ss_family == AF_INET &&
            reinterpret_cast<const sockaddr_in*>(&g.addr.ss)->sin_addr.s_addr == reinterpret_cast<sockaddr_in*>(&local)->sin_addr.s_addr)
            return &g;
        if (local.ss_family == AF_INET6 &&
            std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&g.addr.ss)->sin6_addr,
                        &reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr, sizeof(in6_addr)) == 0)
            return &g;
    }
    return wildcard;
}

const ServerGroup* Worker::group_for(const conf::SockAddr& a) const {
    if (!gen_) return nullptr;
    for (auto& g : gen_->groups)
        if (g.addr.text == a.text) return &g;
    return nullptr;
}

void Worker::close_connections(bool idle_only) {
    std::vector<Closable*> all(live_.begin(), live_.end());
    for (auto* c : all)
        if (!idle_only || c->idle()) c->close_now();
        else c->drain();
}

// ---- descriptor and connection shortage ---------------------------------------

void Worker::set_reusable(ReuseLink& l, bool on) {
    if (l.linked()) {
        l.prev->next = l.next;
        l.next->prev = l.prev;
        l.prev = l.next = nullptr;
        --reuse_n_;
    }
    if (!on) return;
    l.prev = &reuse_;
    l.next = reuse_.next;
    reuse_.next->prev = &l;
    reuse_.next = &l;
    ++reuse_n_;
}

bool Worker::make_room(size_t wc) {
    const uint64_t sec = clock::now_ms() / 1000;
    size_t free = conns_ < wc ? wc - conns_ : 0;
    if (free <= wc / 16 && reuse_n_ > 0) {
        // nginx closes in advance, while 1/16 is still free, so that a
        // connection that takes time to go does not hold up the new one.
        if (reuse_log_s_ != sec) {
            reuse_log_s_ = sec;
            SY_LOG(Level::Warn, 0, "{} worker_connections are not enough, reusing connections", wc);
        }
        size_t n = std::max<size_t>(std::min<size_t>(32, reuse_n_ / 8), 1);
        for (size_t closed = 0; closed < n && reuse_n_ > 0;) {
            ReuseLink* l = reuse_.prev;   // the oldest
            set_reusable(*l, false);
            if (!l->owner->idle()) continue;   // busy again since it was linked: not reusable
            SY_LOG(Level::Debug, 0, "reusing connection");
            l->owner->close_now();
            ++closed;
        }
    }
    if (conns_ < wc) return true;
    if (full_log_s_ != sec) {
        full_log_s_ = sec;
        SY_LOG(Level::Alert, 0, "{} worker_connections are not enough", wc);
    }
    return false;
}

// nginx (ngx_event_accept): EMFILE/ENFILE are [crit], other failures
// [alert]; on EMFILE/ENFILE every listener stops accepting for
// accept_mutex_delay (500 ms) and the pending connections wait in the listen
// backlog. We do the same for ENOBUFS/ENOMEM too (nginx retries those at once,
// which spins a level-triggered listener), and log at most once a second.
bool Worker::accept_failed(int err) {
    switch (err) {
    case EPROTO: case ENOPROTOOPT: case ENETDOWN: case ENONET: case EHOSTDOWN:
    case EHOSTUNREACH: case ENETUNREACH: case EOPNOTSUPP: case EPERM:
        // the pending connection failed (accept(2): "already pending network
        // errors"); it is consumed, the next one may be fine
        SY_LOG(Level::Error, 0, "accept4() failed ({}: {})", err, strerror(err));
        return true;
    default:
        break;
    }
    const uint64_t sec = clock::now_ms() / 1000;
    if (accept_log_s_ != sec) {
        accept_log_s_ = sec;
        SY_LOG(err == EMFILE || err == ENFILE ? Level::Crit : Level::Alert, 0, "accept4() failed ({}: {})", err, strerror(err));
    }
    // Whatever else it is (a shortage, or a listener gone bad), retrying at
    // once would fail the same way on every turn of the loop.
    if (!accept_paused_) {
        accept_paused_ = true;
        for (auto& l : listeners_) loop_.remove(l->io());
        loop_.arm(accept_timer_, kAcceptRetryMs);
    }
    return false;
}

void Worker::on_timer(int) {
    accept_paused_ = false;
    for (auto& l : listeners_)
        if (!l->io().registered) loop_.add_level_read(l->io());
}

void Worker::stop_accepting() {
    for (auto& l : listeners_) retire(std::move(l));
    listeners_.clear();
}

}  // namespace sy::http

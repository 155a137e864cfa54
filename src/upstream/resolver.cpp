// Why this is hand-integrated: c-ares does the DNS (query building, answer
// parsing, retransmission, fail-over between servers, TCP on truncation);
// what it does not have is a way to run inside *our* event loop. Debian 12's
// c-ares 1.18 has no event loop at all (later versions add one that runs on
// a thread of its own, which would mean locking around the peers the worker
// thread reads on every request). So the glue is ours, and it is small:
//
//  - c-ares says which sockets it wants watched, and for what, through
//    ARES_OPT_SOCK_STATE_CB; each socket gets a Watch (an Io) registered with
//    the EventLoop: level-triggered read normally, edge-triggered read+write
//    while c-ares has TCP bytes to send.
//  - one Timer follows ares_timeout() (retransmissions, query timeouts).
//  - readiness and the timer both end in ares_process_fd(), which calls the
//    query callbacks on the worker thread, where the peers they change live.
//
// Lifetime: c-ares reports a socket closed (readable = writable = 0) before it
// closes it; the Watch leaves epoll at once and is deleted after the current
// epoll batch (EventLoop::defer_delete), so a stale event in the same batch
// finds it unregistered. ~Resolver runs ares_destroy(), which calls every
// pending callback with ARES_EDESTRUCTION: those free their Query and call
// nothing else.
#include "upstream/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "core/event_loop.h"
#include "core/log.h"

namespace sy::upstream {

namespace {

// The text form config addresses use ("10.0.0.1:80", "[::1]:80").
std::string addr_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
}

}  // namespace

std::string Resolved::error() const {
    if (status == Status::NotFound) return "3: Host not found";
    switch (code) {
    case ARES_EFORMERR: return "1: Format error";
    case ARES_ESERVFAIL: return "2: Server failure";
    case ARES_ENOTIMP: return "4: Unimplemented";
    case ARES_EREFUSED: return "5: Operation refused";
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED: return "110: Operation timed out";
    default: return fmt::format("{}: {}", code, ares_strerror(code));
    }
}

struct Resolver::Impl : TimerHandler {
    // One socket c-ares asked us to watch.
    struct Watch : IoHandler, Deletable {
        Impl* r = nullptr;
        Io io;
        bool write = false;
        void on_io(int, uint32_t ev) override {
            Impl* impl = r;   // ares_process_fd may close this socket (and defer our deletion)
            ares_socket_t rfd = (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ? io.fd : ARES_SOCKET_BAD;
            ares_socket_t wfd = write && (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ? io.fd : ARES_SOCKET_BAD;
            ares_process_fd(impl->ch, rfd, wfd);
            impl->rearm();
        }
    };
    struct Query {
        Impl* r;
        Callback cb;
        uint16_t port;
    };

    EventLoop& loop;
    ares_channel ch = nullptr;
    int family = AF_UNSPEC;
    Timer timer;
    std::unordered_map<int, Watch*> watches;
    size_t pending = 0;
    bool closing = false;

    explicit Impl(EventLoop& l) : loop(l) { timer.owner = this; }

    ~Impl() override {
        closing = true;
        loop.disarm(timer);
        if (ch) ares_destroy(ch);   // pending callbacks get ARES_EDESTRUCTION; sockets report closed
        for (auto& [fd, w] : watches) {
            loop.remove(w->io);
            loop.defer_delete(w);
        }
    }

    void on_timer(int) override {
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);   // timeouts only
        rearm();
    }

    void rearm() {
        if (closing) return;
        timeval tv{};
        timeval* t = ares_timeout(ch, nullptr, &tv);
        if (!t) {
            loop.disarm(timer);
            return;
        }
        // rounded up: waking before c-ares's deadline would only re-arm
        loop.arm(timer, uint64_t(t->tv_sec) * 1000 + (uint64_t(t->tv_usec) + 999) / 1000);
    }

    static void sock_state_cb(void* data, ares_socket_t fd, int readable, int writable) {
        static_cast<Impl*>(data)->sock_state(int(fd), readable != 0, writable != 0);
    }

    void sock_state(int fd, bool rd, bool wr) {
        auto it = watches.find(fd);
        if (!rd && !wr) {   // about to be closed by c-ares
            if (it == watches.end()) return;
            Watch* w = it->second;
            watches.erase(it);
            loop.remove(w->io);
            loop.defer_delete(w);
            return;
        }
        Watch* w;
        if (it == watches.end()) {
            w = new Watch;
            w->r = this;
            w->io.fd = fd;
            w->io.owner = w;
            watches.emplace(fd, w);
        } else {
            w = it->second;
            if (w->io.registered && w->write == wr) return;
            loop.remove(w->io);
        }
        w->write = wr;
        if (!(wr ? loop.add(w->io) : loop.add_level_read(w->io)))
            SY_LOG(Level::Alert, 0, "epoll_ctl() failed ({}: {}) for a resolver socket", errno, strerror(errno));
    }

    static void answered(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
        std::unique_ptr<Query> q(static_cast<Query*>(arg));
        Impl* r = q->r;
        --r->pending;
        if (status == ARES_EDESTRUCTION || r->closing) {
            if (res) ares_freeaddrinfo(res);
            return;
        }
        Resolved out;
        out.code = status;
        if (status == ARES_SUCCESS && res) {
            bool first = true;
            for (ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
                conf::SockAddr a;
                if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(sockaddr_in)) {
                    std::memcpy(&a.ss, n->ai_addr, sizeof(sockaddr_in));
                    reinterpret_cast<sockaddr_in*>(&a.ss)->sin_port = htons(q->port);
                    a.len = sizeof(sockaddr_in);
                } else if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(sockaddr_in6)) {
                    std::memcpy(&a.ss, n->ai_addr, sizeof(sockaddr_in6));
                    reinterpret_cast<sockaddr_in6*>(&a.ss)->sin6_port = htons(q->port);
                    a.len = sizeof(sockaddr_in6);
                } else {
                    continue;
                }
                a.text = addr_text(a.ss);
                uint32_t ttl = n->ai_ttl > 0 ? uint32_t(n->ai_ttl) : 0;
                out.ttl = first ? ttl : std::min(out.ttl, ttl);
                first = false;
                bool dup = std::any_of(out.addrs.begin(), out.addrs.end(), [&](const conf::SockAddr& o) { return o.text == a.text; });
                if (!dup) out.addrs.push_back(std::move(a));
            }
            out.status = out.addrs.empty() ? Resolved::Status::NotFound : Resolved::Status::Ok;
        } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
            out.status = Resolved::Status::NotFound;
        } else {
            out.status = Resolved::Status::Failed;
        }
        if (res) ares_freeaddrinfo(res);
        q->cb(out);
    }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;

std::unique_ptr<Resolver> Resolver::create(EventLoop& loop, const conf::ResolverConf& rc, conf::Msec timeout_ms,
                                           std::string& err) {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });

    auto impl = std::make_unique<Impl>(loop);
    impl->family = rc.ipv4 && rc.ipv6 ? AF_UNSPEC : rc.ipv4 ? AF_INET : AF_INET6;

    // resolver_timeout bounds the whole lookup: 4 rounds over the servers with
    // c-ares's doubling per round (t, 2t, 4t, 8t per server) add up to it.
    constexpr int kTries = 4;
    uint64_t servers = std::max<size_t>(rc.servers.size(), 1);
    uint64_t per_try = std::clamp<uint64_t>(timeout_ms / (servers * ((1u << kTries) - 1)), 10, INT_MAX);

    ares_options o{};
    int mask = 0;
    // The name as written (no search domains, no HOSTALIASES); SERVFAIL and
    // REFUSED are answers to report, as nginx's resolver does, not a reason
    // to try again until the lookup times out.
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
    mask |= ARES_OPT_FLAGS;
    o.timeout = int(per_try);
    mask |= ARES_OPT_TIMEOUTMS;
    o.tries = kTries;
    mask |= ARES_OPT_TRIES;
    o.domains = nullptr;   // no search domains from resolv.conf
    o.ndomains = 0;
    mask |= ARES_OPT_DOMAINS;
    static char dns_only[] = "b";   // DNS only: not /etc/hosts (nginx's resolver does not read it)
    o.lookups = dns_only;
    mask |= ARES_OPT_LOOKUPS;
    o.sock_state_cb = &Impl::sock_state_cb;
    o.sock_state_cb_data = impl.get();
    mask |= ARES_OPT_SOCK_STATE_CB;
#ifdef ARES_OPT_QUERY_CACHE
    o.qcache_max_ttl = 0;   // c-ares >= 1.23 caches answers; `valid=` must be able to ask again sooner
    mask |= ARES_OPT_QUERY_CACHE;
#endif
    int rc_init = ares_init_options(&impl->ch, &o, mask);
    if (rc_init != ARES_SUCCESS) {
        impl->ch = nullptr;
        err = fmt::format("ares_init_options() failed ({})", ares_strerror(rc_init));
        return nullptr;
    }
    std::string csv;
    for (auto& s : rc.servers) {
        if (!csv.empty()) csv += ',';
        csv += s.text;   // "127.0.0.1:53", "[::1]:5353"
    }
    int rc_srv = ares_set_servers_ports_csv(impl->ch, csv.c_str());
    if (rc_srv != ARES_SUCCESS) {
        err = fmt::format("ares_set_servers_ports_csv(\"{}\") failed ({})", csv, ares_strerror(rc_srv));
        return nullptr;
    }
    return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

void Resolver::resolve(const std::string& name, uint16_t port, Callback cb) {
    Impl* r = impl_.get();
    auto* q = new Impl::Query{r, std::move(cb), port};
    ++r->pending;
    ares_addrinfo_hints hints{};
    hints.ai_family = r->family;
    hints.ai_flags = ARES_AI_NOSORT;   // sorting would connect() a UDP socket per address
    ares_getaddrinfo(r->ch, name.c_str(), nullptr, &hints, &Impl::answered, q);
    r->rearm();
}

size_t Resolver::in_flight() const { return impl_->pending; }

}  // namespace sy::upstream

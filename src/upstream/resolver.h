// Asynchronous DNS lookups (A/AAAA) for `server NAME resolve`, on c-ares,
// driven by switchyard's own EventLoop. See resolver.cpp for why the glue is
// hand-written.
//
// One Resolver = one c-ares channel configured from a `resolver` directive
// (its servers only: /etc/resolv.conf, /etc/hosts and search domains are not
// used, as in nginx). Worker thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/conf.h"

namespace sy {
class EventLoop;
}

namespace sy::upstream {

struct Resolved {
    enum class Status {
        Ok,          // addresses found
        NotFound,    // NXDOMAIN, or the name has no address of the families asked
        Failed,      // timeout, SERVFAIL, REFUSED, bad answer...: nothing learned
    };
    Status status = Status::Failed;
    int code = 0;                        // c-ares status (ARES_SUCCESS, ARES_ENOTFOUND...)
    std::vector<conf::SockAddr> addrs;   // with the port asked for, deduplicated, in answer order
    uint32_t ttl = 0;                    // seconds: the smallest TTL of the addresses

    // nginx's wording of a failure: "3: Host not found", "110: Operation timed out".
    std::string error() const;
};

class Resolver {
public:
    using Callback = std::function<void(const Resolved&)>;

    // `timeout_ms`: the whole lookup (resolver_timeout), retransmissions included.
    // Opens no socket until the first resolve(). Null with `err` set on failure.
    static std::unique_ptr<Resolver> create(EventLoop& loop, const conf::ResolverConf& rc, conf::Msec timeout_ms,
                                            std::string& err);
    ~Resolver();   // cancels lookups in flight: their callbacks are not called
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Looks up A and/or AAAA (the resolver's ipv4=/ipv6=) for `name`. `cb` runs
    // once, from the event loop (or from inside resolve() if c-ares fails at once).
    void resolve(const std::string& name, uint16_t port, Callback cb);
    size_t in_flight() const;

    struct Impl;

private:
    explicit Resolver(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace sy::upstream

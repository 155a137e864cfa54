// Upstream connections and the pool of idle ones kept for reuse by later
// plain-HTTP requests (`keepalive N` in an upstream block; nginx >= 1.29.7
// keeps 32 by default). As in nginx, N bounds one cache per upstream block,
// shared by its peers: a request takes the most recent idle connection to
// its peer, and a full cache drops its least recently used connection.
//
// An UpConn stays registered with epoll for its whole life; handing it
// between a Proxy and the pool only changes whose handler its Io calls, so
// reuse costs no system call. While pooled, any byte or close from the
// backend, or the idle timeout, drops it; a connection the backend closed
// just before reuse is caught by the proxy, which retries on a fresh one when
// the request can be sent again, and peeks at the socket before using it for
// one that can't (a streamed body, a POST without non_idempotent).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "tls/stream.h"

namespace sy::upstream {

class KeepalivePool;

// One upstream connection (TCP, or TLS over it for proxy_pass https://).
// Destroyed only through EventLoop::defer_delete.
struct UpConn final : IoHandler, TimerHandler, Deletable {
    tls::Stream s;                 // the socket (s.io) and its TLS state
    Timer idle;                    // armed only while pooled
    uint32_t requests = 0;         // requests served on it so far
    uint64_t born_ms = 0;          // when it was connected (keepalive_time)
    std::string peer;              // the peer's pool_key ("upstream|address")
    KeepalivePool* pool = nullptr; // set while pooled
    std::vector<UpConn*>* list = nullptr;

    UpConn() {
        idle.owner = this;
    }
    void on_io(int tag, uint32_t events) override;   // only while pooled
    void on_timer(int tag) override;                  // only while pooled
    // A non-blocking peek: false if the backend already closed it or sent
    // something unasked (a request that can't be sent again checks first).
    // TLS records that carry no data (session tickets) are consumed.
    bool looks_alive();
};

class KeepalivePool {
public:
    explicit KeepalivePool(EventLoop& loop) : loop_(loop) {}
    ~KeepalivePool();

    // The most recently pooled connection of upstream `group` to `peer`, or
    // nullptr. The caller becomes its owner (sets io.owner).
    UpConn* take(const std::string& group, const std::string& peer);
    // Keeps `c` (c->peer set) in `group`'s cache; closes the least recently
    // used connection of the group beyond `cap`.
    void put(const std::string& group, UpConn* c, size_t cap, uint64_t idle_timeout_ms);
    // Closes and frees a connection nobody will use again.
    void destroy(UpConn* c);
    size_t idle() const { return count_; }

private:
    friend struct UpConn;
    void drop(UpConn* c);

    EventLoop& loop_;
    std::unordered_map<std::string, std::vector<UpConn*>> idle_;
    size_t count_ = 0;
};

}  // namespace sy::upstream

// The serving side of one worker: listening sockets, the current config
// generation, and the count of live connections.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "config/conf.h"
#include "core/event_loop.h"
#include "http/router.h"
#include "upstream/dynamic_peers.h"
#include "upstream/keepalive_pool.h"

namespace sy::http {

// One loaded configuration with everything derived from it. Connections keep
// the generation they started with alive (shared_ptr) across reloads.
struct Generation {
    std::shared_ptr<const conf::Config> cfg;
    std::vector<ServerGroup> groups;
    std::map<std::string, int> access_fds;   // path -> fd, opened by open_logs()
    ~Generation();
    bool open_logs(std::string& err);
    int log_fd(const std::string& path) const;
    void reopen_logs();   // -s reopen: the same fds now write to freshly opened files
};

class Worker;

// nginx's reusable connections: an idle client connection (HTTP/1 keep-alive
// or waiting for its first request, HTTP/2 without streams) that the worker
// may close when worker_connections run out. Embedded in its owner; the
// Worker keeps the linked ones in a list, most recently idle first.
struct ReuseLink {
    ReuseLink* prev = nullptr;
    ReuseLink* next = nullptr;
    Closable* owner = nullptr;    // its idle() is checked again before it is closed
    bool linked() const { return next != nullptr; }
};

class Listener : public IoHandler, public Deletable {
public:
    Listener(Worker& w, int fd, conf::SockAddr addr) : w_(w), addr_(std::move(addr)) { io_.fd = fd; io_.owner = this; }
    ~Listener() override;
    void on_io(int tag, uint32_t events) override;
    const conf::SockAddr& addr() const { return addr_; }
    Io& io() { return io_; }
    int release_fd();             // hands the socket to someone else

private:
    Worker& w_;
    conf::SockAddr addr_;
    Io io_;
};

class Worker : public TimerHandler {
public:
    explicit Worker(EventLoop& loop) : loop_(loop), pool_(loop) {
        reuse_.prev = reuse_.next = &reuse_;
        accept_timer_.owner = this;
    }
    ~Worker();
    EventLoop& loop() { return loop_; }
    upstream::KeepalivePool& pool() { return pool_; }

    // Binds every listen address of `gen` (reusing sockets this worker already
    // has for the same address) and makes it current. Errors in nginx wording.
    bool activate(std::shared_ptr<Generation> gen, std::string& err);
    // Binds without activating (to fail early in the master before the pid file).
    static bool bind_socket(const conf::Listen& l, int& fd, std::string& err);

    const std::shared_ptr<Generation>& current() const { return gen_; }
    // -s reopen: every generation still alive (the current one, and older ones
    // that connections still hold) reopens its access logs.
    void reopen_logs();
    // Makes `gen` current without binding anything (fuzzers, tests over socketpairs).
    void adopt(std::shared_ptr<Generation> gen) { gen_ = std::move(gen); }
    const ServerGroup* group_for(const conf::SockAddr& a) const;
    // For a connection accepted on a wildcard socket: the group of its local address, if any.
    const ServerGroup* group_for_local(int fd, const ServerGroup* wildcard) const;

    uint64_t next_conn_number() { return ++conn_seq_; }
    size_t connections() const { return conns_; }
    void conn_opened() { ++conns_; }
    void conn_closed() { --conns_; }
    void stop_accepting();   // graceful shutdown: close listeners
    void track(Closable* c) { live_.insert(c); }
    void untrack(Closable* c) { live_.erase(c); }
    // Closes connections: all of them, or only idle keep-alive ones.
    void close_connections(bool idle_only);
    bool draining() const { return draining_; }
    void set_draining() { draining_ = true; }

    // Reusable connections (see ReuseLink). on: (re)inserted as the most
    // recently idle; off: unlinked. O(1); idempotent.
    void set_reusable(ReuseLink& l, bool on);
    size_t reusable_count() const { return reuse_n_; }
    // Called for each accepted connection before it gets an object (nginx's
    // ngx_get_connection): when at most worker_connections/16 are free, closes
    // the oldest reusable connections (1/8 of them, 1 to 32); then says
    // whether there is room for one more. Both of nginx's lines are logged at
    // most once a second.
    bool make_room(size_t worker_connections);
    // accept4() failed with `err`. An error of the pending connection alone
    // (EPROTO, ENETDOWN, ...) is logged and the listener goes on (true).
    // Anything else -- EMFILE/ENFILE (descriptors), ENOBUFS/ENOMEM -- is
    // logged at most once a second and stops accepting on every listener for
    // kAcceptRetryMs (nginx: accept_mutex_delay, 500 ms); returns false.
    bool accept_failed(int err);
    static constexpr uint64_t kAcceptRetryMs = 500;
    void on_timer(int tag) override;   // the accept pause is over

private:
    EventLoop& loop_;
    upstream::KeepalivePool pool_;
    std::shared_ptr<Generation> gen_;
    std::vector<std::weak_ptr<Generation>> gens_;   // every activated generation not yet freed
    std::vector<std::unique_ptr<Listener>> listeners_;
    void retire(std::unique_ptr<Listener> l);   // closed after the current epoll batch
    uint64_t conn_seq_ = 0;
    size_t conns_ = 0;
    std::unordered_set<Closable*> live_;
    bool draining_ = false;
    ReuseLink reuse_;             // list head: reuse_.next is the most recently idle, reuse_.prev the oldest
    size_t reuse_n_ = 0;
    uint64_t reuse_log_s_ = ~0ull, full_log_s_ = ~0ull, accept_log_s_ = ~0ull;   // once-a-second log limits
    Timer accept_timer_;
    bool accept_paused_ = false;
    // `server NAME resolve`: the re-resolvers of the current generation. Owned
    // here, not by the Generation: activate() replaces them with the new
    // generation's and ~Worker stops them while the loop is alive. They hold
    // the config they write peers into (see upstream/dynamic_peers.h).
    std::unique_ptr<upstream::DynamicPeers> resolvers_;
};

}  // namespace sy::http

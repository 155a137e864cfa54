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

class Worker {
public:
    explicit Worker(EventLoop& loop) : loop_(loop), pool_(loop) {}
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
    // `server NAME resolve`: the re-resolvers of the current generation. Owned
    // here, not by the Generation: activate() replaces them with the new
    // generation's and ~Worker stops them while the loop is alive. They hold
    // the config they write peers into (see upstream/dynamic_peers.h).
    std::unique_ptr<upstream::DynamicPeers> resolvers_;
};

}  // namespace sy::http

// Idle upstream connections kept for reuse by later plain-HTTP requests
// (`keepalive N` in an upstream block; nginx >= 1.29.7 keeps 32 by default).
// An idle connection is watched: any byte or close from the backend, or the
// idle timeout, drops it, so a reused connection is almost always alive.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "core/event_loop.h"

namespace sy::upstream {

class KeepalivePool {
public:
    explicit KeepalivePool(EventLoop& loop) : loop_(loop) {}
    ~KeepalivePool();

    struct Conn {
        int fd = -1;
        uint32_t requests = 0;    // requests already served on it
    };
    // A live idle connection for `key` (most recently used first), or fd -1.
    Conn take(const std::string& key);
    // Keeps `c` for reuse under `key`; closes the oldest beyond `cap`.
    void put(const std::string& key, Conn c, size_t cap, uint64_t idle_timeout_ms);
    size_t idle() const { return count_; }

private:
    // Destroyed only through EventLoop::defer_delete: an event for its fd may
    // still be queued in the current epoll batch.
    struct Idle : IoHandler, TimerHandler, Deletable {
        KeepalivePool* pool = nullptr;
        std::string key;
        Io io;
        Timer timer;
        uint32_t requests = 0;
        void on_io(int, uint32_t) override { pool->drop(this); }
        void on_timer(int) override { pool->drop(this); }
    };
    void drop(Idle* i);
    void close(Idle& i);

    EventLoop& loop_;
    std::unordered_map<std::string, std::deque<Idle*>> idle_;
    size_t count_ = 0;
};

}  // namespace sy::upstream

// Single-threaded event loop: edge-triggered epoll, a timer heap, deferred
// destruction. Hand-written because it is the heart of the hot path and must
// own exactly the semantics below (lazy timer re-arm, stale-event safety);
// libev/libuv would add a second object model around every socket.
//
// Ownership rules:
//  - An Io is embedded in the object that owns its fd; epoll points at the Io.
//  - Objects closed during an iteration are destroyed only after every event
//    of that iteration was dispatched (defer_delete), so a stale event can
//    never reach freed memory; owners ignore events once they closed the fd.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace sy {

class EventLoop;

class IoHandler {
public:
    virtual void on_io(int tag, uint32_t events) = 0;
    virtual ~IoHandler() = default;
};

// One registered file descriptor. `tag` tells the owner which of its fds fired.
struct Io {
    int fd = -1;
    int tag = 0;
    IoHandler* owner = nullptr;
    bool registered = false;
};

class TimerHandler {
public:
    virtual void on_timer(int tag) = 0;
    virtual ~TimerHandler() = default;
};

// Embedded in its owner. Re-arming to a later deadline is O(1): only the
// logical deadline moves, and the heap entry is re-pushed when it surfaces.
struct Timer {
    uint64_t deadline = 0;      // logical deadline (ms, monotonic)
    uint64_t key = 0;           // deadline the heap is ordered by (<= deadline)
    int32_t heap_idx = -1;
    int tag = 0;
    TimerHandler* owner = nullptr;
    bool armed() const { return heap_idx >= 0; }
};

class Deletable {
public:
    virtual ~Deletable() = default;
};

// A client connection the worker can close on shutdown (Session, Tunnel).
class Closable : public Deletable {
public:
    virtual void close_now() = 0;        // close sockets, defer own deletion
    virtual bool idle() const = 0;       // between requests: safe to drop on a graceful quit
    virtual void drain() {}              // a graceful quit leaves it running: say so to the peer (HTTP/2 GOAWAY)
};

class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge-triggered, registered once.
    bool add(Io& io);
    // Level-triggered read interest only (listening sockets, signalfd).
    bool add_level_read(Io& io);
    void remove(Io& io);        // before close(fd)
    // The registration of from.fd now reports to `to` (the same fd, a new
    // owner): one EPOLL_CTL_MOD instead of a remove and an add at a
    // hand-off; readiness is reported afresh.
    bool move(Io& from, Io& to);
    // For an fd closed right after and shared with no other process: closing
    // it ends the registration, so no EPOLL_CTL_DEL is spent on it.
    void forget(Io& io) { io.registered = false; }

    void arm(Timer& t, uint64_t after_ms);
    void disarm(Timer& t);

    void defer_delete(Deletable* obj) { graveyard_.push_back(obj); }
    void post(std::function<void()> fn) { posted_.push_back(std::move(fn)); }
    // Runs fn in the next iteration, after that iteration's I/O events were
    // dispatched (post() runs it in this one, before anything else gets a
    // turn): work that used up its budget continues there, so one busy
    // connection cannot starve the others.
    void post_next(std::function<void()> fn) { next_.push_back(std::move(fn)); }

    // Runs until stop(); returns when no more work should be done.
    void run();
    // One iteration: wait (at most max_wait_ms, -1 = until the next timer), dispatch, reap.
    void run_once(int max_wait_ms);
    void stop() { running_ = false; }
    bool running() const { return running_; }

private:
    int next_timeout() const;
    void run_timers();
    void heap_up(size_t i);
    void heap_down(size_t i);
    void heap_remove(size_t i);

    int ep_ = -1;
    bool running_ = false;
    std::vector<Timer*> heap_;
    std::vector<Deletable*> graveyard_;
    std::vector<std::function<void()>> posted_, running_posted_, next_, running_next_;
};

}  // namespace sy

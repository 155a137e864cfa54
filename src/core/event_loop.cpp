#include "core/event_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"

namespace sy {

EventLoop::EventLoop() { ep_ = epoll_create1(EPOLL_CLOEXEC); }

EventLoop::~EventLoop() {
    for (auto* d : graveyard_) delete d;
    if (ep_ >= 0) ::close(ep_);
}

bool EventLoop::add(Io& io) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &io;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, io.fd, &ev) != 0) return false;
    io.registered = true;
    return true;
}

bool EventLoop::add_level_read(Io& io) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &io;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, io.fd, &ev) != 0) return false;
    io.registered = true;
    return true;
}

bool EventLoop::move(Io& from, Io& to) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &to;
    if (!from.registered || epoll_ctl(ep_, EPOLL_CTL_MOD, from.fd, &ev) != 0) return false;
    from.registered = false;
    to.registered = true;
    return true;
}

void EventLoop::remove(Io& io) {
    if (!io.registered) return;
    epoll_ctl(ep_, EPOLL_CTL_DEL, io.fd, nullptr);
    io.registered = false;
}

void EventLoop::arm(Timer& t, uint64_t after_ms) {
    uint64_t when = clock::now_ms() + after_ms;
    t.deadline = when;
    if (t.armed()) {
        if (when >= t.key) return;  // surfaces early, re-pushed then
        t.key = when;
        heap_up(size_t(t.heap_idx));
        return;
    }
    t.key = when;
    t.heap_idx = int32_t(heap_.size());
    heap_.push_back(&t);
    heap_up(heap_.size() - 1);
}

void EventLoop::disarm(Timer& t) {
    if (!t.armed()) return;
    heap_remove(size_t(t.heap_idx));
}

void EventLoop::heap_up(size_t i) {
    Timer* t = heap_[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap_[p]->key <= t->key) break;
        heap_[i] = heap_[p];
        heap_[i]->heap_idx = int32_t(i);
        i = p;
    }
    heap_[i] = t;
    t->heap_idx = int32_t(i);
}

void EventLoop::heap_down(size_t i) {
    Timer* t = heap_[i];
    size_t n = heap_.size();
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_[c + 1]->key < heap_[c]->key) ++c;
        if (t->key <= heap_[c]->key) break;
        heap_[i] = heap_[c];
        heap_[i]->heap_idx = int32_t(i);
        i = c;
    }
    heap_[i] = t;
    t->heap_idx = int32_t(i);
}

void EventLoop::heap_remove(size_t i) {
    Timer* t = heap_[i];
    t->heap_idx = -1;
    Timer* last = heap_.back();
    heap_.pop_back();
    if (last == t) return;
    heap_[i] = last;
    last->heap_idx = int32_t(i);
    heap_up(i);
    heap_down(size_t(last->heap_idx));
}

int EventLoop::next_timeout() const {
    if (!posted_.empty() || !next_.empty()) return 0;
    if (heap_.empty()) return 1000;
    uint64_t now = clock::now_ms();
    uint64_t k = heap_[0]->key;
    if (k <= now) return 0;
    uint64_t d = k - now;
    return d > 1000 ? 1000 : int(d);
}

void EventLoop::run_timers() {
    uint64_t now = clock::now_ms();
    while (!heap_.empty() && heap_[0]->key <= now) {
        Timer* t = heap_[0];
        if (t->deadline > now) {  // re-armed later since it was pushed
            t->key = t->deadline;
            heap_down(0);
            continue;
        }
        heap_remove(0);
        t->owner->on_timer(t->tag);
    }
}

void EventLoop::run() {
    running_ = true;
    while (running_) run_once(-1);
}

void EventLoop::run_once(int max_wait_ms) {
    epoll_event evs[512];
    int wait = next_timeout();
    if (max_wait_ms >= 0 && wait > max_wait_ms) wait = max_wait_ms;
    int n = epoll_wait(ep_, evs, 512, wait);
    clock::update();
    if (n < 0 && errno != EINTR) {
        SY_LOG(Level::Alert, 0, "epoll_wait() failed ({}: {})", errno, strerror(errno));
        running_ = false;
        return;
    }
    for (int i = 0; i < n; ++i) {
        Io* io = static_cast<Io*>(evs[i].data.ptr);
        if (!io->registered) continue;  // closed earlier in this batch
        io->owner->on_io(io->tag, evs[i].events);
    }
    run_timers();
    if (!next_.empty()) {
        running_next_.swap(next_);       // what they post_next() waits for the next turn
        for (auto& f : running_next_) f();
        running_next_.clear();
    }
    while (!posted_.empty()) {
        running_posted_.swap(posted_);   // both keep their capacity
        for (auto& f : running_posted_) f();
        running_posted_.clear();
    }
    while (!graveyard_.empty()) {
        auto dead = std::move(graveyard_);
        graveyard_.clear();
        for (auto* d : dead) delete d;
    }
}

}  // namespace sy

#include "upstream/keepalive_pool.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sy::upstream {

void UpConn::on_io(int, uint32_t events) {
    // EPOLLOUT alone says nothing; data or a close from an idle backend ends
    // it, but a TLS backend may send session tickets after the handshake
    if (!pool || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    if (s.tls() && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && looks_alive()) return;
    pool->drop(this);
}

bool UpConn::looks_alive() {
    char b;
    if (s.tls()) {
        ssize_t n = s.read(&b, 1);
        return n < 0 && errno == EAGAIN;
    }
    ssize_t n = ::recv(s.io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void UpConn::on_timer(int) {
    if (pool) pool->drop(this);
}

KeepalivePool::~KeepalivePool() {
    for (auto& [k, q] : idle_)
        for (auto* c : q) {
            loop_.disarm(c->idle);
            loop_.remove(c->s.io);
            c->s.close();
            delete c;  // the loop goes away with the pool: no events can follow
        }
}

void KeepalivePool::destroy(UpConn* c) {
    loop_.disarm(c->idle);
    if (c->s.io.fd >= 0) {
        loop_.remove(c->s.io);
        c->s.close();
    }
    loop_.defer_delete(c);
}

UpConn* KeepalivePool::take(const std::string& group, const std::string& peer) {
    auto it = idle_.find(group);
    if (it == idle_.end()) return nullptr;
    auto& q = it->second;
    for (size_t i = q.size(); i-- > 0;) {
        UpConn* c = q[i];
        if (c->peer != peer) continue;
        q.erase(q.begin() + long(i));
        --count_;
        loop_.disarm(c->idle);
        c->pool = nullptr;
        c->list = nullptr;
        return c;
    }
    return nullptr;
}

void KeepalivePool::put(const std::string& group, UpConn* c, size_t cap, uint64_t idle_timeout_ms) {
    auto& q = idle_[group];
    while (q.size() >= cap && !q.empty()) {
        UpConn* old = q.front();
        q.erase(q.begin());
        --count_;
        old->pool = nullptr;
        destroy(old);
    }
    c->s.io.owner = c;
    c->pool = this;
    c->list = &q;
    loop_.arm(c->idle, idle_timeout_ms);
    q.push_back(c);
    ++count_;
}

void KeepalivePool::drop(UpConn* c) {
    if (c->list) {
        auto it = std::find(c->list->begin(), c->list->end(), c);
        if (it != c->list->end()) {
            c->list->erase(it);
            --count_;
        }
    }
    c->pool = nullptr;
    c->list = nullptr;
    destroy(c);
}

}  // namespace sy::upstream

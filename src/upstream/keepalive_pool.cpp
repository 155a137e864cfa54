#include "upstream/keepalive_pool.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sy::upstream {

KeepalivePool::~KeepalivePool() {
    for (auto& [k, q] : idle_)
        for (auto* i : q) {
            close(*i);
            delete i;  // the loop is going away with the pool: no events can follow
        }
}

void KeepalivePool::close(Idle& i) {
    loop_.disarm(i.timer);
    if (i.io.fd >= 0) {
        loop_.remove(i.io);
        ::close(i.io.fd);
        i.io.fd = -1;
    }
}

KeepalivePool::Conn KeepalivePool::take(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return {};
    auto& q = it->second;
    while (!q.empty()) {
        Idle* i = q.back();
        q.pop_back();
        --count_;
        loop_.disarm(i->timer);
        loop_.remove(i->io);
        int fd = i->io.fd;
        i->io.fd = -1;
        loop_.defer_delete(i);
        char c;
        ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return {fd, i->requests};
        ::close(fd);  // closed by the backend, or it sent something unasked
    }
    return {};
}

void KeepalivePool::put(const std::string& key, Conn c, size_t cap, uint64_t idle_timeout_ms) {
    auto& q = idle_[key];
    while (q.size() >= cap && !q.empty()) {
        close(*q.front());
        loop_.defer_delete(q.front());
        q.pop_front();
        --count_;
    }
    auto* i = new Idle();
    i->pool = this;
    i->key = key;
    i->requests = c.requests;
    i->io.fd = c.fd;
    i->io.owner = i;
    i->timer.owner = i;
    if (!loop_.add(i->io)) {
        ::close(c.fd);
        delete i;  // never registered: nothing can refer to it
        return;
    }
    loop_.arm(i->timer, idle_timeout_ms);
    q.push_back(i);
    ++count_;
}

void KeepalivePool::drop(Idle* i) {
    // EPOLLOUT fires right after registration: only readability or errors matter
    if (i->io.fd >= 0) {
        char c;
        ssize_t n = ::recv(i->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && i->timer.armed()) return;
    }
    auto& q = idle_[i->key];
    for (auto it = q.begin(); it != q.end(); ++it)
        if (*it == i) {
            close(*i);
            loop_.defer_delete(i);
            q.erase(it);
            --count_;
            return;
        }
}

}  // namespace sy::upstream

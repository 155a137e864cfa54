#include "core/buffer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace sy {

BufferPool& BufferPool::get() {
    static BufferPool pool;
    return pool;
}

char* BufferPool::alloc() {
    ++in_use_;
    if (free_) {
        Node* n = free_;
        free_ = n->next;
        --free_count_;
        return reinterpret_cast<char*>(n);
    }
    return static_cast<char*>(std::malloc(Buf::kSize));
}

void BufferPool::free(char* p) {
    --in_use_;
    if (free_count_ >= limit_) { std::free(p); return; }
    Node* n = reinterpret_cast<Node*>(p);
    n->next = free_;
    free_ = n;
    ++free_count_;
}

Buf& Buf::operator=(Buf&& o) noexcept {
    if (this != &o) {
        release();
        mem_ = o.mem_; pos_ = o.pos_; last_ = o.last_;
        o.mem_ = nullptr; o.pos_ = o.last_ = 0;
    }
    return *this;
}

Buf Buf::take() {
    Buf b;
    b.mem_ = BufferPool::get().alloc();
    return b;
}

void Buf::release() {
    if (mem_) BufferPool::get().free(mem_);
    mem_ = nullptr;
    pos_ = last_ = 0;
}

size_t Buf::append(std::string_view s) {
    size_t n = s.size() < room() ? s.size() : room();
    std::memcpy(tail(), s.data(), n);
    last_ += uint32_t(n);
    return n;
}

void Buf::compact() {
    if (pos_ == 0) return;
    std::memmove(mem_, mem_ + pos_, last_ - pos_);
    last_ -= pos_;
    pos_ = 0;
}

void OutQueue::append(std::string_view s) {
    bytes_ += s.size();
    while (!s.empty()) {
        if (no_chunks() || back().room() == 0) q_.push_back(Buf::take());
        size_t n = back().append(s);
        s.remove_prefix(n);
    }
}

void OutQueue::push(Buf&& b) {
    if (b.empty()) return;
    bytes_ += b.size();
    // Small tails are merged so many tiny frames don't pin many chunks.
    if (!no_chunks() && back().room() >= b.size() && b.size() < 1024) {
        back().append(b.view());
        b.release();
        return;
    }
    q_.push_back(std::move(b));
}

void OutQueue::splice(OutQueue&& o) {
    for (size_t i = o.head_; i < o.q_.size(); ++i) push(std::move(o.q_[i]));
    o.clear();
}

ssize_t OutQueue::write_to(int fd) {
    size_t total = 0;
    while (!no_chunks()) {
        iovec iov[16];
        int n = 0;
        size_t want = 0;
        for (size_t i = head_; i < q_.size() && n < 16; ++i, ++n) {
            iov[n].iov_base = q_[i].data();
            iov[n].iov_len = q_[i].size();
            want += q_[i].size();
        }
        ssize_t w = ::writev(fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            return -1;
        }
        total += size_t(w);
        consume(size_t(w));
        if (size_t(w) < want) break;  // kernel buffer full
    }
    return ssize_t(total);
}

void OutQueue::consume(size_t n) {
    bytes_ -= n;
    while (n > 0) {
        Buf& f = q_[head_];
        if (f.size() <= n) {
            n -= f.size();
            f.release();
            ++head_;
        } else {
            f.consume(n);
            n = 0;
        }
    }
    if (no_chunks()) {
        q_.clear();
        head_ = 0;
    }
}

}  // namespace sy

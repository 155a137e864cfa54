// Fixed-size pooled chunks and the output queue built from them.
//
// A Buf owns one chunk (or nothing). Invariant: 0 <= pos <= last <= kSize.
// Bytes [pos, last) are data; [last, kSize) is free space to read into.
// A Buf is moved between owners, never shared; an idle connection holds none.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>
#include <string_view>

namespace sy {

class BufferPool;

class Buf {
public:
    static constexpr size_t kSize = 16384;

    Buf() = default;
    Buf(Buf&& o) noexcept : mem_(o.mem_), pos_(o.pos_), last_(o.last_) { o.mem_ = nullptr; o.pos_ = o.last_ = 0; }
    Buf& operator=(Buf&& o) noexcept;
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
    ~Buf() { release(); }

    static Buf take();          // a chunk from the pool
    void release();             // back to the pool

    explicit operator bool() const { return mem_ != nullptr; }
    char* data() { return mem_ + pos_; }
    const char* data() const { return mem_ + pos_; }
    size_t size() const { return last_ - pos_; }
    bool empty() const { return pos_ == last_; }
    char* tail() { return mem_ + last_; }
    size_t room() const { return kSize - last_; }
    void commit(size_t n) { last_ += uint32_t(n); }
    void consume(size_t n) { pos_ += uint32_t(n); if (pos_ == last_) pos_ = last_ = 0; }
    std::string_view view() const { return {mem_ + pos_, size_t(last_ - pos_)}; }
    size_t append(std::string_view s);  // copies what fits, returns bytes copied
    void compact();

private:
    char* mem_ = nullptr;
    uint32_t pos_ = 0, last_ = 0;
};

class BufferPool {
public:
    static BufferPool& get();
    char* alloc();
    void free(char* p);
    size_t in_use() const { return in_use_; }
    size_t cached() const { return free_count_; }
    void set_cache_limit(size_t n) { limit_ = n; }

private:
    struct Node { Node* next; };
    Node* free_ = nullptr;
    size_t free_count_ = 0, in_use_ = 0, limit_ = 256;
};

// Bytes waiting to be written to one socket. Appending copies into the tail
// chunk; push() moves a whole chunk in without copying.
class OutQueue {
public:
    void append(std::string_view s);
    void push(Buf&& b);
    void splice(OutQueue&& o);          // moves o's chunks to the end
    bool empty() const { return bytes_ == 0; }
    size_t bytes() const { return bytes_; }
    // Writes as much as the socket takes. Returns bytes written, or -1 with
    // errno set on a hard error (EAGAIN is not an error: returns what it wrote).
    ssize_t write_to(int fd);
    // The first chunk's bytes (empty when the queue is), and dropping n bytes
    // from the front: for writers that cannot gather (TLS records).
    std::string_view front() const { return no_chunks() ? std::string_view() : q_[head_].view(); }
    void consume(size_t n);
    void clear() { q_.clear(); head_ = 0; bytes_ = 0; }

private:
    // Chunks [head_, size) hold data; a vector keeps its capacity across
    // requests on one connection (a deque would allocate per queue).
    std::vector<Buf> q_;
    size_t head_ = 0;
    size_t bytes_ = 0;
    Buf& back() { return q_.back(); }
    bool no_chunks() const { return head_ == q_.size(); }
};

}  // namespace sy

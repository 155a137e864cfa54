// Pipes for splice(2): a plain TCP tunnel moves bulk bytes socket -> pipe ->
// socket without copying them through user space. A direction takes a pipe
// only while bytes are in flight and gives it back empty, so an idle tunnel
// holds none; the pool keeps a few idle pipes open for the next taker, as
// HAProxy's pipe pool does. One pool per process (one event loop).
#pragma once

#include <cstddef>
#include <vector>

namespace sy {

struct Pipe {
    int r = -1, w = -1;
    explicit operator bool() const { return r >= 0; }
};

class PipePool {
public:
    // Bytes one pipe holds (the kernel's default, 16 pages): the most one
    // splice moves.
    static constexpr size_t kCapacity = 65536;

    static PipePool& get();
    ~PipePool();

    // A pipe, or an empty one when none can be made (out of descriptors):
    // the caller copies instead.
    Pipe take();
    // Back to the pool; closed instead if it still holds bytes or the pool
    // is full. `p` is empty afterwards.
    void give(Pipe& p, bool holds_bytes);

    size_t in_use() const { return in_use_; }
    size_t cached() const { return free_.size(); }
    void set_cache_limit(size_t n) { limit_ = n; }

private:
    std::vector<Pipe> free_;
    size_t in_use_ = 0;
    size_t limit_ = 32;   // idle pipes kept: 2 descriptors each, outside worker_connections
};

}  // namespace sy

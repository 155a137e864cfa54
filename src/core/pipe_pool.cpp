#include "core/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace sy {

PipePool& PipePool::get() {
    static PipePool pool;
    return pool;
}

PipePool::~PipePool() {
    for (Pipe& p : free_) {
        ::close(p.r);
        ::close(p.w);
    }
}

Pipe PipePool::take() {
    Pipe p;
    if (!free_.empty()) {
        p = free_.back();
        free_.pop_back();
    } else {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return p;
        p.r = fds[0];
        p.w = fds[1];
    }
    ++in_use_;
    return p;
}

void PipePool::give(Pipe& p, bool holds_bytes) {
    if (!p) return;
    --in_use_;
    if (!holds_bytes && free_.size() < limit_) {
        free_.push_back(p);
    } else {
        ::close(p.r);
        ::close(p.w);
    }
    p = Pipe{};
}

}  // namespace sy

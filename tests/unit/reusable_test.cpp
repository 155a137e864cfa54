// The worker's reusable connections (nginx's ngx_reusable_connection /
// ngx_drain_connections): the list order and what make_room() closes.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "core/event_loop.h"
#include "http/server.h"

namespace {

using sy::http::ReuseLink;
using sy::http::Worker;

// A connection as the worker sees it: counted, idle or not, closable.
struct Conn : sy::Closable {
    Worker& w;
    ReuseLink link;
    bool busy = false, closed = false;
    explicit Conn(Worker& wk) : w(wk) {
        link.owner = this;
        w.conn_opened();
    }
    void close_now() override {
        if (closed) return;
        closed = true;
        w.set_reusable(link, false);
        w.conn_closed();
    }
    bool idle() const override { return !busy && !closed; }
};

struct ReusableConnections : ::testing::Test {
    sy::EventLoop loop;
    Worker w{loop};
    std::vector<std::unique_ptr<Conn>> conns;
    void open(size_t n, bool reusable = true) {
        for (size_t i = 0; i < n; ++i) {
            conns.push_back(std::make_unique<Conn>(w));
            if (reusable) w.set_reusable(conns.back()->link, true);
        }
    }
    std::vector<size_t> closed() const {
        std::vector<size_t> out;
        for (size_t i = 0; i < conns.size(); ++i)
            if (conns[i]->closed) out.push_back(i);
        return out;
    }
    ~ReusableConnections() override {
        for (auto& c : conns) w.set_reusable(c->link, false);
    }
};

TEST_F(ReusableConnections, RoomLeftClosesNothing) {
    open(29);
    EXPECT_TRUE(w.make_room(32));   // 3 free > 32/16
    EXPECT_TRUE(closed().empty());
    EXPECT_EQ(w.reusable_count(), 29u);
}

TEST_F(ReusableConnections, ClosesTheOldestEighthInAdvance) {
    open(30);
    EXPECT_TRUE(w.make_room(32));   // 2 free <= 32/16: close 30/8 = 3
    EXPECT_EQ(closed(), (std::vector<size_t>{0, 1, 2}));
    EXPECT_EQ(w.connections(), 27u);
    EXPECT_EQ(w.reusable_count(), 27u);
}

TEST_F(ReusableConnections, AtLeastOneAtMostThirtyTwo) {
    open(4);
    EXPECT_TRUE(w.make_room(4));
    EXPECT_EQ(closed(), (std::vector<size_t>{0}));
    Worker big(loop);
    std::vector<std::unique_ptr<Conn>> many;
    for (int i = 0; i < 1024; ++i) {
        many.push_back(std::make_unique<Conn>(big));
        big.set_reusable(many.back()->link, true);
    }
    EXPECT_TRUE(big.make_room(1024));
    size_t n = 0;
    for (size_t i = 0; i < many.size(); ++i)
        if (many[i]->closed) {
            EXPECT_LT(i, 32u);
            ++n;
        }
    EXPECT_EQ(n, 32u);
    for (auto& c : many) big.set_reusable(c->link, false);
}

TEST_F(ReusableConnections, RelinkingMakesMostRecent) {
    open(8);
    w.set_reusable(conns[0]->link, true);   // idle again just now
    w.set_reusable(conns[1]->link, false);  // busy
    w.set_reusable(conns[1]->link, false);  // idempotent
    EXPECT_EQ(w.reusable_count(), 7u);
    EXPECT_TRUE(w.make_room(8));            // 0 free: close 7/8 -> 1, the oldest linked
    EXPECT_EQ(closed(), (std::vector<size_t>{2}));
}

TEST_F(ReusableConnections, BusyAgainIsSkippedNotClosed) {
    open(16);
    conns[0]->busy = true;   // linked, but no longer idle (unlinked lazily)
    EXPECT_TRUE(w.make_room(16));   // 16/8 = 2 closed, the busy one skipped
    EXPECT_EQ(closed(), (std::vector<size_t>{1, 2}));
    EXPECT_FALSE(conns[0]->link.linked());
    EXPECT_EQ(w.reusable_count(), 13u);
}

TEST_F(ReusableConnections, FullOfBusyConnectionsRefuses) {
    open(16, false);
    EXPECT_FALSE(w.make_room(16));
    EXPECT_TRUE(closed().empty());
    EXPECT_TRUE(w.make_room(17));
}

}  // namespace

#include "upstream/keepalive_pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace sy::upstream {
namespace {

// A pooled connection over one end of a socketpair; the test keeps the other.
struct Pair {
    UpConn* c = nullptr;
    int far = -1;
};

Pair make_conn(EventLoop& loop, const std::string& peer) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    Pair p;
    p.c = new UpConn();
    p.c->s.io.fd = sv[0];
    p.c->peer = peer;
    p.c->s.io.owner = p.c;
    loop.add(p.c->s.io);
    p.far = sv[1];
    return p;
}

TEST(KeepalivePool, OneCachePerUpstreamSharedByItsPeers) {
    EventLoop loop;
    KeepalivePool pool(loop);
    Pair a1 = make_conn(loop, "u|a"), b1 = make_conn(loop, "u|b"), a2 = make_conn(loop, "u|a");
    pool.put("u", a1.c, 2, 60000);
    pool.put("u", b1.c, 2, 60000);
    pool.put("u", a2.c, 2, 60000);   // the cache holds 2: a1, the least recently used, goes
    EXPECT_EQ(pool.idle(), 2u);
    EXPECT_EQ(pool.take("v", "u|a"), nullptr);      // another upstream's cache is separate
    EXPECT_EQ(pool.take("u", "u|c"), nullptr);      // no connection to that peer
    EXPECT_EQ(pool.take("u", "u|a"), a2.c);
    EXPECT_EQ(pool.take("u", "u|a"), nullptr);
    EXPECT_EQ(pool.take("u", "u|b"), b1.c);
    EXPECT_EQ(pool.idle(), 0u);
    pool.destroy(a2.c);
    pool.destroy(b1.c);
    loop.run_once(0);   // deferred deletes
    for (int fd : {a1.far, b1.far, a2.far}) ::close(fd);
}

TEST(KeepalivePool, ABackendClosingAnIdleConnectionDropsIt) {
    EventLoop loop;
    KeepalivePool pool(loop);
    Pair a = make_conn(loop, "u|a"), b = make_conn(loop, "u|a");
    pool.put("u", a.c, 4, 60000);
    pool.put("u", b.c, 4, 60000);
    EXPECT_TRUE(b.c->looks_alive());
    ::close(b.far);                  // the backend closes the newer one
    for (int i = 0; i < 3 && pool.idle() == 2; ++i) loop.run_once(10);
    EXPECT_EQ(pool.idle(), 1u);
    UpConn* got = pool.take("u", "u|a");
    EXPECT_EQ(got, a.c);
    EXPECT_TRUE(got->looks_alive());
    ::close(a.far);
    EXPECT_FALSE(got->looks_alive());   // what a request that can't be retried checks
    pool.destroy(got);
    loop.run_once(0);
}

}  // namespace
}  // namespace sy::upstream

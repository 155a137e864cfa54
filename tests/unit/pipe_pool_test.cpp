// PipePool (src/core/pipe_pool.h) and tls::Stream's splice_in/splice_out on
// real loopback TCP sockets: pooled pipes are reused only when empty, bytes
// move socket -> pipe -> socket byte-exact, and EAGAIN, EOF and a reset peer
// come back as read()/write() report them.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/pipe_pool.h"
#include "tls/stream.h"

namespace sy {
namespace {

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(PipePool, TakesAWorkingNonBlockingPipeAndReusesItOnlyEmpty) {
    PipePool& pool = PipePool::get();
    size_t used = pool.in_use();
    Pipe p = pool.take();
    ASSERT_TRUE(p);
    EXPECT_EQ(pool.in_use(), used + 1);
    EXPECT_TRUE(fcntl(p.r, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(p.w, F_GETFL) & O_NONBLOCK);
    char c = 0;
    EXPECT_EQ(read(p.r, &c, 1), -1);   // empty: would block, never waits
    EXPECT_EQ(errno, EAGAIN);

    int r = p.r, w = p.w;
    pool.give(p, false);
    EXPECT_FALSE(p);
    EXPECT_EQ(pool.in_use(), used);
    Pipe again = pool.take();   // the same pipe back from the cache
    EXPECT_EQ(again.r, r);
    EXPECT_EQ(again.w, w);

    ASSERT_EQ(write(again.w, "x", 1), 1);
    pool.give(again, true);     // holds a byte: closed, never handed out again
    EXPECT_FALSE(fd_open(r));
    EXPECT_FALSE(fd_open(w));
    EXPECT_EQ(pool.in_use(), used);
}

TEST(PipePool, KeepsAtMostItsLimitOpen) {
    PipePool& pool = PipePool::get();
    pool.set_cache_limit(pool.cached() + 1);
    Pipe a = pool.take(), b = pool.take();
    ASSERT_TRUE(a && b);
    int br = b.r;
    size_t cached = pool.cached();
    pool.give(a, false);
    pool.give(b, false);   // over the limit: closed
    EXPECT_EQ(pool.cached(), cached + 1);
    EXPECT_FALSE(fd_open(br));
    pool.set_cache_limit(256);
    Pipe empty;
    pool.give(empty, false);   // giving nothing is harmless
    EXPECT_EQ(pool.cached(), cached + 1);
}

// A connected loopback TCP pair, both ends non-blocking.
struct TcpPair {
    int a = -1, b = -1;
    TcpPair() {
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        EXPECT_EQ(bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        EXPECT_EQ(listen(l, 1), 0);
        EXPECT_EQ(getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len), 0);
        a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_EQ(connect(a, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        b = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        close(l);
        for (int fd : {a, b}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    ~TcpPair() {
        if (a >= 0) close(a);
        if (b >= 0) close(b);
    }
};

std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char('a' + i % 23);
    return s;
}

// Everything readable on fd now (non-blocking), appended to out.
void read_ready(int fd, std::string& out) {
    char buf[65536];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
}

TEST(StreamSplice, MovesBytesSocketToSocketByteExact) {
    TcpPair in, out;   // in.a -> [in.b =splice=> out.a] -> out.b
    tls::Stream from, to;
    from.io.fd = in.b;
    to.io.fd = out.a;
    in.b = out.a = -1;   // the Streams close them
    Pipe p = PipePool::get().take();
    ASSERT_TRUE(p);

    const std::string data = pattern(3 << 20);
    std::string got;
    size_t sent = 0, in_pipe = 0;
    for (int rounds = 0; got.size() < data.size() && rounds < 100000; ++rounds) {
        if (sent < data.size()) {
            ssize_t w = write(in.a, data.data() + sent, data.size() - sent);
            if (w > 0) sent += size_t(w);
        }
        if (in_pipe == 0) {
            ssize_t n = from.splice_in(p.w, PipePool::kCapacity);
            if (n > 0) in_pipe = size_t(n);
            else ASSERT_TRUE(n < 0 && errno == EAGAIN) << n << " " << from.error();
        }
        if (in_pipe > 0) {
            ssize_t n = to.splice_out(p.r, in_pipe);
            if (n > 0) in_pipe -= size_t(n);
            else ASSERT_TRUE(n < 0 && errno == EAGAIN) << n << " " << to.error();
        }
        read_ready(out.b, got);
    }
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);

    // drained: EAGAIN, no error recorded; then the peer's FIN is an EOF (0)
    EXPECT_EQ(from.splice_in(p.w, PipePool::kCapacity), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(from.error(), "");
    shutdown(in.a, SHUT_WR);
    ssize_t n = -1;
    for (int i = 0; i < 1000 && n < 0; ++i) n = from.splice_in(p.w, PipePool::kCapacity);
    EXPECT_EQ(n, 0);
    PipePool::get().give(p, false);
}

TEST(StreamSplice, AResetPeerIsAnErrorInNginxsWords) {
    signal(SIGPIPE, SIG_IGN);
    TcpPair pair;
    tls::Stream to;
    to.io.fd = pair.a;
    pair.a = -1;
    linger lg{1, 0};
    setsockopt(pair.b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(pair.b);   // RST
    pair.b = -1;
    usleep(20000);

    Pipe p = PipePool::get().take();
    ASSERT_TRUE(p);
    ASSERT_EQ(write(p.w, "hello", 5), 5);
    ssize_t n = to.splice_out(p.r, 5);
    if (n > 0) n = to.splice_out(p.r, 5);   // the first may still be taken before the RST is seen
    EXPECT_EQ(n, -1);
    EXPECT_TRUE(errno == ECONNRESET || errno == EPIPE) << errno;
    EXPECT_EQ(to.error().rfind("send() failed (", 0), 0u) << to.error();
    EXPECT_TRUE(to.error_is_peer());
    PipePool::get().give(p, true);
}

}  // namespace
}  // namespace sy

// Buf / BufferPool / OutQueue (src/core/buffer.h): chunk bookkeeping and
// writev() to a real pipe, read back byte-exact, including partial writes
// into a full pipe.
#include <gtest/gtest.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>

#include "core/buffer.h"

namespace sy {
namespace {

std::string pattern(size_t n, unsigned seed = 1) {
    std::string s(n, '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        s[i] = char(x >> 24);
    }
    return s;
}

struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int fds[2];
        EXPECT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        r = fds[0];
        w = fds[1];
    }
    ~Pipe() {
        if (r >= 0) close(r);
        if (w >= 0) close(w);
    }
    size_t capacity() const { return size_t(fcntl(w, F_GETPIPE_SZ)); }
    std::string drain() {
        std::string out;
        char buf[65536];
        for (;;) {
            ssize_t n = read(r, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, size_t(n));
        }
        return out;
    }
    size_t fill() {  // until EAGAIN
        std::string junk(65536, 'j');
        size_t total = 0;
        for (;;) {
            ssize_t n = write(w, junk.data(), junk.size());
            if (n <= 0) break;
            total += size_t(n);
        }
        return total;
    }
};

// Writes the whole queue through the pipe, draining as needed; returns what came out.
std::string pump(OutQueue& q, Pipe& p) {
    std::string out;
    for (int guard = 0; !q.empty() && guard < 100000; ++guard) {
        ssize_t n = q.write_to(p.w);
        EXPECT_GE(n, 0) << strerror(errno);
        if (n < 0) break;
        out += p.drain();
    }
    out += p.drain();
    return out;
}

// ---------------------------------------------------------------- Buf

TEST(Buffer, TakeGivesAnEmptyChunk) {
    Buf b = Buf::take();
    EXPECT_TRUE(bool(b));
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.room(), Buf::kSize);
    Buf none;
    EXPECT_FALSE(bool(none));
    EXPECT_EQ(none.size(), 0u);
}

TEST(Buffer, AppendCommitConsume) {
    Buf b = Buf::take();
    EXPECT_EQ(b.append("hello"), 5u);
    EXPECT_EQ(b.view(), "hello");
    std::memcpy(b.tail(), " world", 6);
    b.commit(6);
    EXPECT_EQ(b.view(), "hello world");
    EXPECT_EQ(b.room(), Buf::kSize - 11);
    b.consume(6);
    EXPECT_EQ(b.view(), "world");
    EXPECT_EQ(std::string_view(b.data(), b.size()), "world");
    b.consume(5);  // fully consumed: positions reset, room is back
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.room(), Buf::kSize);
}

TEST(Buffer, AppendCopiesOnlyWhatFits) {
    Buf b = Buf::take();
    std::string big = pattern(Buf::kSize + 100);
    EXPECT_EQ(b.append(big), Buf::kSize);
    EXPECT_EQ(b.room(), 0u);
    EXPECT_EQ(b.view(), std::string_view(big).substr(0, Buf::kSize));
    EXPECT_EQ(b.append("x"), 0u);
}

TEST(Buffer, Compact) {
    Buf b = Buf::take();
    b.append("abcdef");
    b.consume(2);
    size_t room = b.room();
    b.compact();
    EXPECT_EQ(b.view(), "cdef");
    EXPECT_EQ(b.room(), room + 2);
}

TEST(Buffer, MoveTransfersOwnership) {
    Buf a = Buf::take();
    a.append("data");
    Buf b(std::move(a));
    EXPECT_FALSE(bool(a));
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(b.view(), "data");
    Buf c = Buf::take();
    c = std::move(b);
    EXPECT_FALSE(bool(b));
    EXPECT_EQ(c.view(), "data");
}

TEST(Buffer, PoolCountsChunksInUse) {
    BufferPool& pool = BufferPool::get();
    size_t before = pool.in_use();
    {
        Buf a = Buf::take();
        Buf b = Buf::take();
        EXPECT_EQ(pool.in_use(), before + 2);
        a.release();
        EXPECT_EQ(pool.in_use(), before + 1);
        EXPECT_FALSE(bool(a));
    }
    EXPECT_EQ(pool.in_use(), before);
    // a released chunk is cached for reuse
    EXPECT_GE(pool.cached(), 1u);
}

// ---------------------------------------------------------------- OutQueue

TEST(Buffer, QueueAppendAcrossChunkBoundaries) {
    OutQueue q;
    EXPECT_TRUE(q.empty());
    std::string a = pattern(Buf::kSize - 10, 1), b = pattern(25, 2), c = pattern(2 * Buf::kSize + 7, 3);
    q.append(a);
    q.append(b);
    q.append(c);
    EXPECT_EQ(q.bytes(), a.size() + b.size() + c.size());
    EXPECT_FALSE(q.empty());
    Pipe p;
    EXPECT_EQ(pump(q, p), a + b + c);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.bytes(), 0u);
}

TEST(Buffer, QueueAppendEmptyIsNoop) {
    OutQueue q;
    q.append("");
    EXPECT_TRUE(q.empty());
    Pipe p;
    EXPECT_EQ(q.write_to(p.w), 0);
}

TEST(Buffer, WriteToPipeByteExact) {
    OutQueue q;
    std::string data = pattern(40000, 9);
    q.append(data);
    Pipe p;
    ssize_t n = q.write_to(p.w);
    ASSERT_EQ(n, ssize_t(data.size()));  // fits the default 64k pipe
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(p.drain(), data);
}

TEST(Buffer, PushMovesChunkAndMergesSmallTails) {
    OutQueue q;
    q.append("head-");
    size_t in_use = BufferPool::get().in_use();
    Buf small = Buf::take();
    small.append("small");
    q.push(std::move(small));
    EXPECT_FALSE(bool(small));
    EXPECT_EQ(BufferPool::get().in_use(), in_use);  // merged into the tail chunk, its chunk released
    Buf big = Buf::take();
    std::string bigdata = pattern(5000, 4);
    big.append(bigdata);
    q.push(std::move(big));
    EXPECT_EQ(BufferPool::get().in_use(), in_use + 1);  // kept as its own chunk
    q.append("-tail");
    EXPECT_EQ(q.bytes(), 5 + 5 + bigdata.size() + 5);
    Pipe p;
    EXPECT_EQ(pump(q, p), "head-small" + bigdata + "-tail");
}

TEST(Buffer, PushEmptyBufIsIgnored) {
    OutQueue q;
    Buf e = Buf::take();
    q.push(std::move(e));
    EXPECT_TRUE(q.empty());
    q.push(Buf());
    EXPECT_TRUE(q.empty());
}

TEST(Buffer, PushPartiallyConsumedBuf) {
    OutQueue q;
    Buf b = Buf::take();
    b.append("xxxxpayload");
    b.consume(4);
    q.push(std::move(b));
    EXPECT_EQ(q.bytes(), 7u);
    Pipe p;
    EXPECT_EQ(pump(q, p), "payload");
}

TEST(Buffer, SpliceKeepsOrderAndEmptiesSource) {
    OutQueue a, b;
    std::string x = pattern(20000, 5), y = pattern(300, 6), z = pattern(17000, 7);
    a.append(x);
    b.append(y);
    b.append(z);
    a.splice(std::move(b));
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.bytes(), 0u);
    EXPECT_EQ(a.bytes(), x.size() + y.size() + z.size());
    a.append("!");
    Pipe p;
    EXPECT_EQ(pump(a, p), x + y + z + "!");
}

TEST(Buffer, PartialWriteIntoFullPipe) {
    Pipe p;
    size_t cap = p.capacity();
    OutQueue q;
    std::string data = pattern(cap * 3 + 1234, 8);
    q.append(data);
    ssize_t first = q.write_to(p.w);
    ASSERT_GT(first, 0);
    EXPECT_LT(size_t(first), data.size());
    EXPECT_EQ(q.bytes(), data.size() - size_t(first));
    // the pipe is full now: nothing more goes, and that is not an error
    EXPECT_EQ(q.write_to(p.w), 0);
    EXPECT_EQ(q.bytes(), data.size() - size_t(first));
    std::string out = p.drain();
    EXPECT_EQ(out.size(), size_t(first));
    out += pump(q, p);
    EXPECT_EQ(out, data);
}

TEST(Buffer, WriteToAlreadyFullPipeReturnsZero) {
    Pipe p;
    ASSERT_GT(p.fill(), 0u);
    OutQueue q;
    q.append("abc");
    EXPECT_EQ(q.write_to(p.w), 0);
    EXPECT_EQ(q.bytes(), 3u);
    std::string junk = p.drain();
    EXPECT_FALSE(junk.empty());
    EXPECT_EQ(q.write_to(p.w), 3);
    EXPECT_EQ(p.drain(), "abc");
}

TEST(Buffer, MoreThanSixteenChunks) {
    OutQueue q;
    std::string data;
    for (int i = 0; i < 20; ++i) {
        Buf b = Buf::take();
        std::string part = pattern(Buf::kSize, unsigned(100 + i));
        b.append(part);
        data += part;
        q.push(std::move(b));
    }
    EXPECT_EQ(q.bytes(), data.size());
    Pipe p;
    EXPECT_EQ(pump(q, p), data);
}

TEST(Buffer, WriteToClosedPipeIsAnError) {
    signal(SIGPIPE, SIG_IGN);
    Pipe p;
    close(p.r);
    p.r = -1;
    OutQueue q;
    q.append("lost");
    errno = 0;
    EXPECT_EQ(q.write_to(p.w), -1);
    EXPECT_EQ(errno, EPIPE);
    EXPECT_EQ(q.bytes(), 4u);
}

TEST(Buffer, ClearDropsEverything) {
    OutQueue q;
    q.append(pattern(50000));
    q.clear();
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.bytes(), 0u);
    Pipe p;
    EXPECT_EQ(q.write_to(p.w), 0);
    EXPECT_EQ(p.drain(), "");
}

}  // namespace
}  // namespace sy

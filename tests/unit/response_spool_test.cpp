// The response spool (proxy/response_spool.h): bytes come back in order
// across the file and the staged memory part, the file is written
// proxy_temp_file_write_size at a time, never grows past
// proxy_max_temp_file_size (the rest waits in memory), is unlinked at once,
// and its fd goes with the object.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "test_support.h"
#include "config/conf.h"
#include "proxy/response_spool.h"

namespace sy::proxy {
namespace {

using test::TempDir;

std::string pattern(size_t n, uint32_t seed) {
    std::mt19937 g(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = char(g());
    return s;
}

std::string drain(ResponseSpool& sp, size_t piece) {
    std::string out, err;
    std::string buf(piece, '\0');
    for (;;) {
        ssize_t n = sp.read(buf.data(), piece, err);
        EXPECT_GE(n, 0) << err;
        if (n <= 0) break;
        out.append(buf.data(), size_t(n));
    }
    return out;
}

bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(ResponseSpool, NothingOnDiskBelowTheWriteSize) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    ResponseSpool sp(tp, 1 << 20, 8192);
    std::string err;
    ASSERT_TRUE(sp.append("hello ", err));
    ASSERT_TRUE(sp.append("world", err));
    EXPECT_FALSE(sp.has_file());
    EXPECT_EQ(sp.pending(), 11u);
    EXPECT_EQ(drain(sp, 4), "hello world");
    EXPECT_EQ(sp.pending(), 0u);
    EXPECT_FALSE(sp.has_file());
    EXPECT_EQ(sp.memory(), 0u);
}

TEST(ResponseSpool, OrderKeptAcrossInterleavedAppendsAndReads) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    tp.level[0] = 1;
    tp.level[1] = 2;
    ResponseSpool sp(tp, 64ull << 20, 16384);
    std::string all = pattern(3 << 20, 7), got, err;
    std::string buf(20000, '\0');
    size_t off = 0;
    std::mt19937 g(3);
    while (off < all.size() || sp.pending()) {
        if (off < all.size()) {
            size_t n = std::min<size_t>(all.size() - off, 1 + g() % 40000);
            ASSERT_TRUE(sp.append(std::string_view(all).substr(off, n), err)) << err;
            off += n;
        }
        size_t want = 1 + g() % buf.size();
        ssize_t r = sp.read(buf.data(), want, err);
        ASSERT_GE(r, 0) << err;
        got.append(buf.data(), size_t(r));
        EXPECT_LE(sp.memory(), 16384u + 40000u);
    }
    EXPECT_EQ(got.size(), all.size());
    EXPECT_TRUE(got == all);
    EXPECT_TRUE(sp.has_file());
    // unlinked when made: the level directories exist, the file does not
    EXPECT_FALSE(std::filesystem::exists(sp.file_name())) << sp.file_name();
    EXPECT_TRUE(std::filesystem::is_directory(std::filesystem::path(sp.file_name()).parent_path()));
}

TEST(ResponseSpool, FileCappedAtMaxRestInMemory) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    const uint64_t cap = 100000;
    ResponseSpool sp(tp, cap, 16384);
    std::string all = pattern(130000, 11), err;
    for (size_t off = 0; off < all.size(); off += 16384)
        ASSERT_TRUE(sp.append(std::string_view(all).substr(off, 16384), err)) << err;
    EXPECT_TRUE(sp.full());
    EXPECT_EQ(sp.file_size(), cap);
    EXPECT_EQ(sp.memory(), all.size() - cap);
    EXPECT_EQ(sp.pending(), all.size());
    std::string got = drain(sp, 7000);
    EXPECT_TRUE(got == all);
    EXPECT_EQ(sp.file_size(), cap);   // reading never writes past the cap
    EXPECT_EQ(sp.memory(), 0u);       // all read: the memory part is let go
    // after the cap, later bytes still come back in order (from memory)
    ASSERT_TRUE(sp.append("tail", err));
    EXPECT_EQ(drain(sp, 3), "tail");
    EXPECT_EQ(sp.file_size(), cap);
}

TEST(ResponseSpool, FdClosedWithTheObject) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    auto sp = std::make_unique<ResponseSpool>(tp, 1 << 20, 4096);
    std::string err;
    ASSERT_TRUE(sp->append(pattern(10000, 5), err)) << err;
    int fd = sp->fd();
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(fd_open(fd));
    sp.reset();
    EXPECT_FALSE(fd_open(fd));
    EXPECT_TRUE(std::filesystem::is_empty(d.path()));
}

TEST(ResponseSpool, CreateErrorIsNginxText) {
    conf::TempPath tp;
    tp.path = "/nonexistent-sy-spool-dir";
    ResponseSpool sp(tp, 1 << 20, 10);
    std::string err;
    EXPECT_FALSE(sp.append(pattern(100, 1), err));
    EXPECT_NE(err.find("open() \"/nonexistent-sy-spool-dir/"), std::string::npos) << err;
    EXPECT_NE(err.find("failed (2: No such file or directory)"), std::string::npos) << err;
}

}  // namespace
}  // namespace sy::proxy

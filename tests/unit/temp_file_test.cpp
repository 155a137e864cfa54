// Request-body temp files (http/temp_file.h) and the directives behind them:
// nginx's hashed names and levels, unlinked vs persistent vs clean files,
// appends and reads at offsets, error text, start-up mkdir, and how the
// loader stores client_body_temp_path & co (defaults, inheritance, sharing).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <variant>

#include "test_support.h"
#include "config/conf.h"
#include "config/loader.h"
#include "http/temp_file.h"

namespace sy::http {
namespace {

using test::TempDir;

bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

TEST(TempFile, UnlinkedAtOnceUnlessPersistent) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    std::string err;
    TempFile f;
    ASSERT_TRUE(f.create(tp, false, false, err)) << err;
    EXPECT_TRUE(std::regex_match(f.name(), std::regex(d.path() + "/\\d{10}"))) << f.name();
    EXPECT_FALSE(exists(f.name()));   // gone from the directory, open all the same
    ASSERT_TRUE(f.write("hello ", err)) << err;
    ASSERT_TRUE(f.write("world", err)) << err;
    EXPECT_EQ(f.size(), 11u);
    char buf[16] = {};
    EXPECT_EQ(f.read(buf, sizeof buf, 6, err), 5);
    EXPECT_EQ(std::string(buf, 5), "world");
    EXPECT_EQ(f.read(buf, sizeof buf, 11, err), 0);
}

TEST(TempFile, LevelsNameSubdirectoriesFromTheEnd) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path() + "/body";
    tp.level[0] = 1;
    tp.level[1] = 2;
    ASSERT_EQ(::mkdir(tp.path.c_str(), 0700), 0);
    std::string err;
    TempFile f;
    ASSERT_TRUE(f.create(tp, true, false, err)) << err;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(f.name(), m, std::regex(tp.path + "/(\\d)/(\\d\\d)/(\\d{10})"))) << f.name();
    std::string num = m[3];
    EXPECT_EQ(m[1].str(), num.substr(9, 1));
    EXPECT_EQ(m[2].str(), num.substr(7, 2));
    EXPECT_TRUE(exists(f.name()));   // persistent: kept
    struct stat st;
    ASSERT_EQ(::stat(f.name().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((tp.path + "/" + m[1].str()).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(TempFile, CleanIsRemovedWithTheObject) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    std::string err, name;
    {
        TempFile f;
        ASSERT_TRUE(f.create(tp, true, true, err)) << err;
        name = f.name();
        EXPECT_TRUE(exists(name));
    }
    EXPECT_FALSE(exists(name));
}

TEST(TempFile, SuccessiveFilesDiffer) {
    TempDir d;
    conf::TempPath tp;
    tp.path = d.path();
    std::string err;
    TempFile a, b;
    ASSERT_TRUE(a.create(tp, true, false, err)) << err;
    ASSERT_TRUE(b.create(tp, true, false, err)) << err;
    EXPECT_NE(a.name(), b.name());
}

TEST(TempFile, OpenErrorIsNginxText) {
    TempDir d;
    std::string file = d.write("plain", "x");
    conf::TempPath tp;
    tp.path = file;   // a file, not a directory
    std::string err;
    TempFile f;
    EXPECT_FALSE(f.create(tp, false, false, err));
    EXPECT_TRUE(std::regex_match(err, std::regex("open\\(\\) \"" + file + "/\\d{10}\" failed \\(20: Not a directory\\)")))
        << err;
}

TEST(TempPaths, CreatedWithOneMkdir) {
    TempDir d;
    conf::Config cfg;
    auto a = std::make_shared<conf::TempPath>();
    a->path = d.path() + "/a";
    cfg.temp_paths.push_back(a);
    std::string err;
    ASSERT_TRUE(create_temp_paths(cfg, err)) << err;
    EXPECT_TRUE(std::filesystem::is_directory(a->path));
    ASSERT_TRUE(create_temp_paths(cfg, err)) << err;   // existing: fine
    auto b = std::make_shared<conf::TempPath>();
    b->path = d.path() + "/no/b";
    cfg.temp_paths.push_back(b);
    EXPECT_FALSE(create_temp_paths(cfg, err));
    EXPECT_EQ(err, "mkdir() \"" + b->path + "\" failed (2: No such file or directory)");
}

// ---- the loader ---------------------------------------------------------------

std::variant<std::shared_ptr<conf::Config>, std::string> load_text(const TempDir& d, const std::string& text) {
    std::ofstream(d.path() + "/nginx.conf", std::ios::binary) << text;
    conf::LoadOptions o;
    o.prefix = d.path();
    o.conf_file = "nginx.conf";
    return conf::load(o);
}

TEST(TempPathConfig, DefaultsUnderThePrefix) {
    TempDir d;
    auto r = load_text(d, "events {} http { server { listen 127.0.0.1:1; location / { } } }");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<conf::Config>>(r)) << std::get<std::string>(r);
    auto& cfg = *std::get<std::shared_ptr<conf::Config>>(r);
    const conf::LocConf& lc = cfg.http->servers[0]->locations.all[0]->conf;
    EXPECT_EQ((*lc.client_body_temp_path)->path, d.path() + "/client_body_temp");
    EXPECT_EQ((*lc.proxy_temp_path)->path, d.path() + "/proxy_temp");
    EXPECT_EQ(*lc.client_body_in_file_only, conf::BodyInFile::Off);
    EXPECT_EQ(*lc.proxy_max_temp_file_size, size_t(1024) * 1024 * 1024);
    EXPECT_EQ(cfg.temp_paths.size(), 2u);
}

TEST(TempPathConfig, InheritedAndSharedByName) {
    TempDir d;
    auto r = load_text(d,
                       "events {} http { client_body_temp_path body 1 2; proxy_temp_path /abs/p/;"
                       " server { listen 127.0.0.1:1; client_body_in_file_only clean;"
                       " location / { client_body_temp_path body 1 2; } location /x { } } }");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<conf::Config>>(r)) << std::get<std::string>(r);
    auto& cfg = *std::get<std::shared_ptr<conf::Config>>(r);
    const auto& locs = cfg.http->servers[0]->locations.all;
    const conf::LocConf& a = locs[0]->conf;
    const conf::LocConf& b = locs[1]->conf;
    EXPECT_EQ((*a.client_body_temp_path)->path, d.path() + "/body");
    EXPECT_EQ((*a.client_body_temp_path)->level[1], 2);
    EXPECT_EQ(*a.client_body_temp_path, *b.client_body_temp_path);   // one registered path
    EXPECT_EQ((*b.proxy_temp_path)->path, "/abs/p");
    EXPECT_EQ(*b.client_body_in_file_only, conf::BodyInFile::Clean);
    EXPECT_EQ(cfg.temp_paths.size(), 2u);   // body, /abs/p: no defaults needed
}

TEST(TempPathConfig, SameNameDifferentLevelsRefused) {
    TempDir d;
    auto r = load_text(d,
                       "events {} http { client_body_temp_path t 1;"
                       " server { listen 127.0.0.1:1; proxy_temp_path t 2; } }");
    ASSERT_TRUE(std::holds_alternative<std::string>(r));
    EXPECT_TRUE(std::regex_search(std::get<std::string>(r),
                                  std::regex("the same path name \".*/t\" in .*nginx.conf:1 has the different levels than in "
                                             ".*nginx.conf:1")))
        << std::get<std::string>(r);
}

}  // namespace
}  // namespace sy::http

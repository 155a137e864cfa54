// Helpers shared by unit tests: a temporary directory removed on scope exit.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/conf.h"
#include "upstream/balancer.h"

namespace sy::test {

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/sy-unit-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        EXPECT_NE(p, nullptr);
        if (p != nullptr) path_ = p;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string file(const std::string& rel) const { return path_ + "/" + rel; }
    // Writes `text` to `rel` (parent folders created); returns the full path.
    std::string write(const std::string& rel, std::string_view text) const {
        std::string full = file(rel);
        std::filesystem::create_directories(std::filesystem::path(full).parent_path());
        std::ofstream(full, std::ios::binary) << text;
        return full;
    }

private:
    std::string path_;
};

// An upstream built from peer descriptions, for balancer tests.
struct PeerSpec {
    std::string name;
    int weight = 1;
    bool backup = false;
    bool down = false;
    int max_fails = 1;
    conf::Msec fail_timeout = 10000;
    int max_conns = 0;
};

inline conf::Upstream make_upstream(const std::vector<PeerSpec>& specs) {
    conf::Upstream u;
    u.name = "test";
    for (auto& sp : specs) {
        conf::Peer p;
        p.name = sp.name;
        p.addr.text = sp.name;
        p.weight = sp.weight;
        p.backup = sp.backup;
        p.down = sp.down;
        p.max_fails = sp.max_fails;
        p.fail_timeout = sp.fail_timeout;
        p.max_conns = sp.max_conns;
        u.peers.push_back(p);
    }
    upstream::index_peers(u);   // what finish_peers does at load (tests that change peers call it again)
    return u;
}

}  // namespace sy::test

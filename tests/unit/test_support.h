// Helpers shared by unit tests: a temporary directory removed on scope exit.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

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

}  // namespace sy::test

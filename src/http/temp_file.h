// Temp files under client_body_temp_path (nginx's ngx_create_temp_file):
// a 10-digit number, hashed into the path's level directories by its last
// digits, opened O_EXCL 0600 and unlinked at once unless it must outlive
// the open (client_body_in_file_only on|clean). Errors come back as
// nginx's crit text ("open() \"...\" failed (13: Permission denied)").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "config/conf.h"

namespace sy::http {

// Creates every directory in cfg.temp_paths as nginx does at start-up: one
// mkdir(0700) each, an existing one is fine. err: `mkdir() "..." failed (..)`.
bool create_temp_paths(const conf::Config& cfg, std::string& err);

class TempFile {
public:
    TempFile() = default;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile();   // closes; removes a `clean` file still on disk

    // persistent: keep the name on disk (client_body_in_file_only on|clean);
    // clean: remove it when this object goes.
    bool create(const conf::TempPath& tp, bool persistent, bool clean, std::string& err);
    // Appends at the end of what was written (pwrite, retried on short writes).
    bool write(std::string_view data, std::string& err);
    // Reads up to n bytes at `off`; returns bytes read (0 at end), -1 with err.
    ssize_t read(char* buf, size_t n, uint64_t off, std::string& err) const;

    int fd() const { return fd_; }
    const std::string& name() const { return name_; }
    uint64_t size() const { return size_; }

private:
    int fd_ = -1;
    std::string name_;
    uint64_t size_ = 0;
    bool clean_ = false, on_disk_ = false;
};

}  // namespace sy::http

// The part of a buffered response (proxy_buffering on) the client could not
// take yet: nginx's event-pipe temp file. One ordered byte stream per
// response, kept in a temp file under proxy_temp_path (http/temp_file.h:
// levels, numbering, unlinked right after it is opened), written
// proxy_temp_file_write_size at a time and read back in bounded pieces as
// the client drains. The file never grows past proxy_max_temp_file_size;
// what one upstream read brings beyond that waits in memory, and the caller
// stops reading the upstream while full() (backpressure, as without a file).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/conf.h"
#include "http/temp_file.h"

namespace sy::proxy {

class ResponseSpool {
public:
    ResponseSpool(const conf::TempPath& tp, uint64_t max_file, size_t write_size)
        : tp_(tp), max_file_(max_file), write_size_(write_size ? write_size : 1) {}

    // Appends at the end of the stream (the file is made on the first write
    // that reaches it). err: nginx's crit text of the failed call.
    bool append(std::string_view data, std::string& err);
    // Reads up to n of the next unread bytes; 0 when none are pending, -1 with err.
    ssize_t read(char* buf, size_t n, std::string& err);

    uint64_t pending() const { return (file_size() - file_read_) + (stage_.size() - stage_off_); }
    // The file reached proxy_max_temp_file_size: nothing more goes to disk.
    bool full() const { return file_size() >= max_file_; }
    bool has_file() const { return file_ != nullptr; }
    const std::string& file_name() const;
    uint64_t file_size() const { return file_ ? file_->size() : 0; }
    int fd() const { return file_ ? file_->fd() : -1; }
    size_t memory() const { return stage_.size() - stage_off_; }

private:
    // Writes the staged bytes to the file, as much as the cap lets.
    bool flush(std::string& err);

    const conf::TempPath& tp_;
    uint64_t max_file_;
    size_t write_size_;
    std::unique_ptr<http::TempFile> file_;
    // The stream, in order: the file's unread bytes [file_read_, size), then
    // stage_[stage_off_, size): bytes not written to the file (less than
    // write_size_, or beyond the cap).
    uint64_t file_read_ = 0;
    std::string stage_;
    size_t stage_off_ = 0;
};

}  // namespace sy::proxy

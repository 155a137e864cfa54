#include "proxy/response_spool.h"

#include <algorithm>
#include <cstring>

namespace sy::proxy {

const std::string& ResponseSpool::file_name() const {
    static const std::string none;
    return file_ ? file_->name() : none;
}

bool ResponseSpool::append(std::string_view data, std::string& err) {
    if (data.empty()) return true;
    if (stage_off_ == stage_.size()) {
        stage_.clear();
        stage_off_ = 0;
    }
    stage_.append(data);
    if (stage_.size() - stage_off_ >= write_size_) return flush(err);
    return true;
}

bool ResponseSpool::flush(std::string& err) {
    uint64_t fsz = file_size();
    size_t staged = stage_.size() - stage_off_;
    if (staged == 0 || fsz >= max_file_) return true;
    size_t n = size_t(std::min<uint64_t>(staged, max_file_ - fsz));
    if (!file_) {
        auto f = std::make_unique<http::TempFile>();
        if (!f->create(tp_, false, false, err)) return false;
        file_ = std::move(f);
    }
    if (!file_->write(std::string_view(stage_.data() + stage_off_, n), err)) return false;
    stage_.erase(0, stage_off_ + n);
    stage_off_ = 0;
    return true;
}

ssize_t ResponseSpool::read(char* buf, size_t n, std::string& err) {
    if (n == 0) return 0;
    uint64_t fsz = file_size();
    if (file_read_ < fsz) {
        size_t want = size_t(std::min<uint64_t>(n, fsz - file_read_));
        ssize_t r = file_->read(buf, want, file_read_, err);
        if (r < 0) return -1;
        if (r == 0) {
            err = "pread() read only 0 of " + std::to_string(want) + " from \"" + file_->name() + "\"";
            return -1;
        }
        file_read_ += uint64_t(r);
        return r;
    }
    // the file is read to its end: then what was never written to it
    size_t want = std::min(n, stage_.size() - stage_off_);
    std::memcpy(buf, stage_.data() + stage_off_, want);
    stage_off_ += want;
    if (stage_off_ == stage_.size()) {
        stage_.clear();
        stage_off_ = 0;
    }
    return ssize_t(want);
}

}  // namespace sy::proxy

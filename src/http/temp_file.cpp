#include "http/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include <fmt/format.h>

namespace sy::http {

namespace {

std::string sys_err(std::string_view call, const std::string& name, int e) {
    return fmt::format("{}() \"{}\" failed ({}: {})", call, name, e, strerror(e));
}

// nginx's ngx_next_temp_number: a per-process counter from 1; a collision
// (another process, files a previous run kept) jumps it by a random step.
uint32_t next_number(bool collision) {
    static uint32_t n = 0;
    static std::minstd_rand step{std::random_device{}() ^ uint32_t(getpid())};
    n += collision ? 1 + uint32_t(step() % 1000000u) : 1;
    return n;
}

// path/L1/L2/NNNNNNNNNN: each level directory is named by the digits just
// before the previous level's, counted from the end of the number.
std::string hashed_name(const conf::TempPath& tp, uint32_t n, std::vector<std::string>* dirs) {
    std::string num = fmt::format("{:010}", n);
    std::string name = tp.path;
    size_t end = num.size();
    for (int lvl : tp.level) {
        if (!lvl) break;
        size_t len = size_t(lvl) <= end ? size_t(lvl) : end;
        end -= len;
        name += '/';
        name += num.substr(end, len);
        if (dirs) dirs->push_back(name);
    }
    name += '/';
    name += num;
    return name;
}

}  // namespace

bool create_temp_paths(const conf::Config& cfg, std::string& err) {
    for (auto& tp : cfg.temp_paths) {
        if (::mkdir(tp->path.c_str(), 0700) != 0 && errno != EEXIST) {
            err = sys_err("mkdir", tp->path, errno);
            return false;
        }
    }
    return true;
}

TempFile::~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (on_disk_ && clean_) ::unlink(name_.c_str());
}

bool TempFile::create(const conf::TempPath& tp, bool persistent, bool clean, std::string& err) {
    uint32_t n = next_number(false);
    bool made_dirs = false;
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
        std::vector<std::string> dirs;
        name_ = hashed_name(tp, n, &dirs);
        fd_ = ::open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd_ >= 0) break;
        int e = errno;
        if (e == EEXIST) {
            n = next_number(true);
            made_dirs = false;
            continue;
        }
        if (dirs.empty() || e != ENOENT || made_dirs) {
            err = sys_err("open", name_, e);
            return false;
        }
        // the level directories are made on first use (ngx_create_path);
        // then the same name again
        made_dirs = true;
        for (auto& d : dirs) {
            if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
                err = sys_err("mkdir", d, errno);
                return false;
            }
        }
    }
    if (fd_ < 0) {
        err = sys_err("open", name_, EEXIST);
        return false;
    }
    on_disk_ = true;
    clean_ = clean;
    if (!persistent) {
        if (::unlink(name_.c_str()) != 0) {
            err = sys_err("unlink", name_, errno);
            return false;
        }
        on_disk_ = false;
    }
    return true;
}

bool TempFile::write(std::string_view data, std::string& err) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd_, data.data(), data.size(), off_t(size_));
        if (n < 0) {
            if (errno == EINTR) continue;
            err = sys_err("pwrite", name_, errno);
            return false;
        }
        size_ += uint64_t(n);
        data.remove_prefix(size_t(n));
    }
    return true;
}

ssize_t TempFile::read(char* buf, size_t n, uint64_t off, std::string& err) const {
    for (;;) {
        ssize_t r = ::pread(fd_, buf, n, off_t(off));
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        err = sys_err("pread", name_, errno);
        return -1;
    }
}

}  // namespace sy::http

#include "core/log.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/clock.h"

namespace sy {

namespace {
constexpr std::string_view kNames[] = {"", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};
}

std::string_view level_name(Level l) { return kNames[static_cast<int>(l)]; }

bool parse_level(std::string_view s, Level& out) {
    for (int i = 1; i <= 8; ++i)
        if (s == kNames[i]) { out = static_cast<Level>(i); return true; }
    return false;
}

ErrorLog& errlog() {
    static ErrorLog log = [] {
        ErrorLog l;
        l.set_targets({{"stderr", 2, Level::Notice}});
        return l;
    }();
    return log;
}

ErrorLog::~ErrorLog() {
    for (auto& t : targets_) if (t.fd > 2) ::close(t.fd);
}

void ErrorLog::set_targets(std::vector<Target> targets) {
    for (auto& t : targets_) {
        bool kept = false;
        for (auto& n : targets) kept |= n.fd == t.fd;
        if (t.fd > 2 && !kept) ::close(t.fd);
    }
    targets_ = std::move(targets);
    max_ = Level::Stderr;
    for (auto& t : targets_) if (t.level > max_) max_ = t.level;
}

void ErrorLog::reopen() {
    for (auto& t : targets_) {
        if (t.fd <= 2) continue;
        int fd = ::open(t.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) continue;
        ::dup2(fd, t.fd);
        ::close(fd);
    }
}

void ErrorLog::write(Level l, uint64_t conn, std::string_view msg) {
    fmt::memory_buffer b;
    auto out = std::back_inserter(b);
    fmt::format_to(out, "{} [{}] {}#0: ", clock::err_log_time(), level_name(l), getpid());
    if (conn) fmt::format_to(out, "*{} ", conn);
    b.append(msg);
    b.push_back('\n');
    for (auto& t : targets_)
        if (l <= t.level) {
            ssize_t n = ::write(t.fd, b.data(), b.size());
            (void)n;
        }
}

}  // namespace sy

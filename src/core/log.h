// Error log in nginx's format:
//   2026/11/21 15:06:38 [error] 1234#0: *5 message, client: ..., server: ...
// Several targets, each with its own minimum level (`error_log` may repeat).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace sy {

enum class Level : uint8_t { Stderr = 0, Emerg, Alert, Crit, Error, Warn, Notice, Info, Debug };

std::string_view level_name(Level l);
bool parse_level(std::string_view s, Level& out);

class ErrorLog {
public:
    struct Target {
        std::string path;   // "stderr" for fd 2
        int fd = -1;
        Level level = Level::Error;
    };

    // Replaces the targets (on start and reload); fds are owned by the log.
    void set_targets(std::vector<Target> targets);
    void reopen();          // -s reopen / SIGUSR1
    bool enabled(Level l) const { return l <= max_; }
    // `conn` is the connection number printed as "*N" (0: none).
    void write(Level l, uint64_t conn, std::string_view msg);
    ~ErrorLog();

private:
    std::vector<Target> targets_;
    Level max_ = Level::Notice;
};

ErrorLog& errlog();

}  // namespace sy

// Formats only when the level is enabled, so hot paths pay one compare.
#define SY_LOG(lvl, conn, ...)                                                          \
    do {                                                                                \
        if (::sy::errlog().enabled(lvl)) ::sy::errlog().write(lvl, conn, fmt::format(__VA_ARGS__)); \
    } while (0)

// Builds a Config snapshot from a configuration file: parse, walk the
// directive table, merge levels, resolve upstreams. Nothing here touches
// sockets or the running server, so a bad reload leaves the old snapshot.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "config/conf.h"

namespace sy::conf {

struct LoadOptions {
    std::string prefix;             // -p, trailing '/' added if missing
    std::string conf_file;          // -c, relative to prefix
    std::string global_directives;  // -g
};

// On failure returns the message as `-t` prints it after "[emerg] ",
// e.g. `unknown directive "foo" in /etc/nginx/nginx.conf:12`.
std::variant<std::shared_ptr<Config>, std::string> load(const LoadOptions& opt);

// Helpers shared with tests.
bool parse_msec(std::string_view s, Msec& out);
bool parse_size(std::string_view s, size_t& out);
bool parse_addr(std::string_view s, int default_port, std::vector<SockAddr>& out, std::string& err, bool resolve = true);

}  // namespace sy::conf

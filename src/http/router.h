// Routing: which server block serves a request (listen address, then Host),
// and which location within it (nginx's order: exact, longest prefix, ^~,
// regexes in config order, nested locations first).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/conf.h"
#include "http/request.h"

namespace sy::http {

// The servers that share one listening address, with their names indexed.
struct ServerGroup {
    conf::SockAddr addr;
    const conf::Listen* listen = nullptr;   // the options this socket was opened with
    const conf::Server* default_server = nullptr;
    bool stream = false;   // a stream {} server's address: connections go to a stream::Session
    std::unordered_map<std::string, const conf::Server*> exact;
    std::vector<std::pair<std::string, const conf::Server*>> wild_head, wild_tail;
    std::vector<std::pair<const conf::Regex*, const conf::Server*>> regex;

    void add(const conf::Server* s, const conf::Listen& l);
    const conf::Server* find(std::string_view host, Request* r) const;
};

// Groups every listen of the http block by address.
std::vector<ServerGroup> build_groups(const conf::Http& http);
// The stream block's listens grouped the same way (server_name picks among
// the servers of an address by the TLS server name, nginx 1.25.5).
void add_stream_groups(const conf::Http& stream, std::vector<ServerGroup>& groups);

enum class Match { None, Found, Redirect };
// Sets r.loc on Found; on Redirect r.loc is the location whose name is uri + "/".
Match find_location(const conf::Server& s, Request& r);

// Parses the request-target into a normalized path and the query string.
// False means a malformed target (400).
bool normalize_uri(std::string_view target, bool merge_slashes, std::string& uri, std::string& args);

// Validates a Host value and extracts the lowercase host without port.
bool parse_host(std::string_view value, std::string& host);

}  // namespace sy::http

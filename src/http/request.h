// One HTTP request as the server sees it: the parsed head (views into the
// connection's head buffer), routing results and the facts the access log
// and variables need. Owned by its HttpSession; lives until the response (or
// the tunnel that replaced it) is finished and logged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/conf.h"

namespace sy::http {

struct Header {
    std::string_view name;
    std::string_view value;
};

struct RequestHead {
    std::string_view method;
    std::string_view target;          // request-target as sent
    std::string_view request_line;    // "GET / HTTP/1.1"
    int version = 11;                 // 10 or 11 (9 for HTTP/0.9: refused)
    std::vector<Header> headers;      // in order, original case
    int64_t content_length = -1;
    bool chunked = false;
    bool keep_alive = false;          // client's wish, per version + Connection
    bool upgrade = false;             // client sent Upgrade (and Connection: upgrade)
    bool expect_continue = false;
    size_t head_bytes = 0;

    const Header* find(std::string_view lname) const;  // case-insensitive
};

struct UpstreamTry {
    std::string addr;                 // "127.0.0.1:3000"
    int status = 0;                   // 0 = none ("-" in logs), 502/504 on failure
    uint64_t connect_ms = 0, header_ms = 0;
    int64_t response_ms = -1;         // -1: the try has not ended ("-", as nginx)
    bool connected = false, got_header = false;
    uint64_t bytes_received = 0, bytes_sent = 0;
    uint64_t response_length = 0;     // body bytes of the response ($upstream_response_length)
};

struct Request {
    std::string raw;                  // the head as received; RequestHead views point here
    RequestHead head;
    std::string uri;                  // normalized, decoded path ($uri)
    std::string args;                 // query string without '?'
    bool uri_changed = false;         // by rewrite
    bool internal = false;            // after an error_page redirect
    const conf::Server* server = nullptr;
    const conf::Location* loc = nullptr;
    const conf::LocConf* lc = nullptr;
    std::string host;                 // $host: Host header without port, lowercased
    uint64_t start_ms = 0;            // wall clock at first byte
    uint64_t start_mono = 0;
    int status = 0;
    int forced_status = 0;            // error_page: the status the redirected response keeps
    std::string kept_location;        // `return 3xx URL` sent to an error_page: the Location its answer carries
    bool logged = false;
    uint64_t bytes_sent = 0;          // all bytes to the client
    uint64_t body_bytes_sent = 0;
    uint64_t request_length = 0;
    uint64_t bytes_received = 0;      // stream: all bytes from the client ($bytes_received)
    uint32_t conn_requests = 0;       // $connection_requests when it began (HTTP/2: its stream's number)
    std::vector<UpstreamTry> upstream;
    std::string proxy_host, proxy_port;
    // A buffered request body (proxy_request_buffering on): in memory up to
    // client_body_buffer_size ($request_body), else in a temp file ($request_body_file).
    std::string request_body;
    std::string request_body_file;
    // Regex captures: subject copy plus offsets.
    std::string cap_subject;
    std::vector<int> caps;
    const conf::Regex* cap_regex = nullptr;
    bool numbered_caps_off = false;   // a later regex failed: $1..$9 are empty, named captures keep their values
    // named captures are variables (nginx): the value of each name at its last successful match
    std::vector<std::pair<std::string, std::string>> named_caps;
    // `set` variables (conf::Http::user_var_names order); user_set[i]: has a value
    std::vector<std::string> user_vars;
    std::vector<uint8_t> user_set;
    // map results, computed once per request
    std::vector<std::string> map_cache;
    std::vector<uint8_t> map_done;
    // response headers sent (for $sent_http_*): name/value copies
    std::vector<std::pair<std::string, std::string>> sent_headers;
    std::vector<std::pair<std::string, std::string>> upstream_headers;
    // add_trailer fields evaluated so far ($sent_trailer_*)
    std::vector<std::pair<std::string, std::string>> sent_trailers;
};

}  // namespace sy::http

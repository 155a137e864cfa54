// Response heads and nginx's built-in error pages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/conf.h"

namespace sy::http {

std::string_view reason_phrase(int status);   // "" for unknown codes

// nginx's page: <html><head><title>502 Bad Gateway</title></head>...
std::string error_page_body(int status, bool server_tokens);

// The common head: status line, Server, Date, then caller headers.
struct HeadBuilder {
    std::string& out;
    // `buf` is the connection's scratch string: cleared, its capacity reused.
    HeadBuilder(std::string& buf, int status, std::string_view reason, bool server_tokens);
    void add(std::string_view name, std::string_view value);
    void finish() { out += "\r\n"; }
};

std::string server_header(bool tokens);  // "switchyard/0.1.0" or "switchyard"

// Appends nginx's ngx_escape_uri(NGX_ESCAPE_URI) of `s` to `out`.
void escape_uri(std::string_view s, std::string& out);

// ASCII case-insensitive equality (header names): inline, no locale.
inline bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x == y) continue;
        if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
    }
    return true;
}
bool has_token(std::string_view list, std::string_view token);  // comma list, case-insensitive

}  // namespace sy::http

// Request fields nginx lets a request carry once (ngx_http_request.c's
// headers_in handlers with ngx_http_process_unique_header_line; Host has its
// own handler and message): a second one is a 400, "client sent duplicate
// header line". Shared by the HTTP/1 and HTTP/2 carriers.
#pragma once

#include <string_view>

#include "http/response.h"

namespace sy::http {

inline constexpr std::string_view kUniqueHeaders[] = {
    "if-modified-since", "if-unmodified-since", "if-match", "if-none-match", "content-length",
    "content-range",     "if-range",            "transfer-encoding", "expect", "authorization",
};
inline constexpr int kUniqueHeaderCount = int(sizeof kUniqueHeaders / sizeof kUniqueHeaders[0]);

// The field's index in kUniqueHeaders, or -1.
inline int unique_header_index(std::string_view name) {
    for (int i = 0; i < kUniqueHeaderCount; ++i)
        if (ieq(name, kUniqueHeaders[i])) return i;
    return -1;
}

}  // namespace sy::http

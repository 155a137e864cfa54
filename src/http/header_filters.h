// Response header policy of nginx's filters that switchyard applies to a
// built head (HeadBuilder text): not_modified (conditional requests),
// headers (`expires`), charset (`charset`, `charset_types`).
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "config/conf.h"
#include "http/request.h"

namespace sy::http {

// nginx's headers filter statuses (add_header, expires): 200, 201, 204, 206,
// 301, 302, 303, 304, 307, 308.
inline bool headers_status(int st) {
    return st == 200 || st == 201 || st == 204 || st == 206 || st == 301 || st == 302 || st == 303 || st == 304 ||
           st == 307 || st == 308;
}

std::string http_time(time_t t);                        // "Tue, 14 Nov 2023 22:13:20 GMT"
bool parse_http_time(std::string_view s, time_t& out);  // RFC 1123, RFC 850, asctime

// nginx's not_modified filter for a 200 response with this Last-Modified
// time and ETag ("" when `etag off`): 412, 304, or 0 (send the response).
int conditional_status(const RequestHead& head, time_t last_modified, std::string_view etag);

// Header lines of a head under construction ("Name: value\r\n" lines after
// the status line): the first value of `name`, or false.
bool find_header(const std::string& head, std::string_view name, std::string& value);
void remove_header(std::string& head, std::string_view name);

// `expires`: replaces Expires and Cache-Control (statuses checked by the caller).
void apply_expires(std::string& head, const conf::Expires& e, time_t now);
// `charset`: "; charset=X" on a Content-Type of charset_types without one.
void apply_charset(std::string& head, const conf::LocConf& lc);

}  // namespace sy::http

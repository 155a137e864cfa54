// nginx's not_modified, headers (expires) and charset filters: see header_filters.h.
#include "http/header_filters.h"

#include <strings.h>

#include <cctype>
#include <cstring>

#include <fmt/format.h>

#include "http/response.h"

namespace sy::http {

std::string http_time(time_t t) {
    struct tm g;
    gmtime_r(&t, &g);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
    return std::string(buf, n);
}

bool parse_http_time(std::string_view s, time_t& out) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    std::string v(s);
    static const char* const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
    for (const char* f : formats) {
        struct tm tm{};
        const char* end = strptime(v.c_str(), f, &tm);
        if (end && *end == '\0') {
            out = timegm(&tm);
            return out != time_t(-1);
        }
    }
    return false;
}

namespace {

// nginx's ngx_http_test_if_match: `etag` in the comma list `v`; `weak`
// compares weak tags as strong ones (If-None-Match).
bool etag_matches(std::string_view v, std::string_view etag, bool weak) {
    if (v == "*") return true;   // nginx 1.22: even without an ETag
    if (etag.empty()) return false;
    if (weak && etag.size() > 2 && etag[0] == 'W' && etag[1] == '/') etag.remove_prefix(2);
    size_t i = 0;
    while (i < v.size()) {
        while (i < v.size() && (v[i] == ' ' || v[i] == ',')) ++i;
        if (i >= v.size()) break;
        if (weak && v.size() - i > 2 && v[i] == 'W' && v[i + 1] == '/') i += 2;
        if (v.substr(i, etag.size()) == etag) {
            size_t e = i + etag.size();
            if (e == v.size() || v[e] == ' ' || v[e] == ',') return true;
        }
        while (i < v.size() && v[i] != ',') ++i;
    }
    return false;
}

const Header* first(const RequestHead& head, std::string_view name) {
    for (auto& h : head.headers)
        if (ieq(h.name, name)) return &h;
    return nullptr;
}

}  // namespace

int conditional_status(const RequestHead& head, time_t lm, std::string_view etag) {
    if (const Header* h = first(head, "if-unmodified-since")) {
        time_t t;
        if (!parse_http_time(h->value, t) || t < lm) return 412;
    }
    if (const Header* h = first(head, "if-match")) {
        if (!etag_matches(h->value, etag, false)) return 412;
    }
    const Header* ims = first(head, "if-modified-since");
    const Header* inm = first(head, "if-none-match");
    if (!ims && !inm) return 0;
    if (ims) {
        time_t t;
        // if_modified_since exact (nginx's default): only the same time is "not modified"
        if (!parse_http_time(ims->value, t) || t != lm) return 0;
    }
    if (inm && !etag_matches(inm->value, etag, true)) return 0;
    return 304;
}

namespace {

// [begin, end) of each header line after the status line.
template <typename F>
void for_lines(const std::string& head, F&& f) {
    size_t p = head.find("\r\n");
    if (p == std::string::npos) return;
    p += 2;
    while (p < head.size()) {
        size_t e = head.find("\r\n", p);
        if (e == std::string::npos || e == p) return;
        if (!f(p, e + 2)) return;
        p = e + 2;
    }
}

bool line_is(const std::string& head, size_t b, size_t e, std::string_view name) {
    return e - b > name.size() + 1 && head[b + name.size()] == ':' && ieq(std::string_view(head).substr(b, name.size()), name);
}

}  // namespace

bool find_header(const std::string& head, std::string_view name, std::string& value) {
    bool found = false;
    for_lines(head, [&](size_t b, size_t e) {
        if (!line_is(head, b, e, name)) return true;
        size_t v = b + name.size() + 1;
        while (v < e && head[v] == ' ') ++v;
        value = head.substr(v, e - 2 - v);
        found = true;
        return false;
    });
    return found;
}

void remove_header(std::string& head, std::string_view name) {
    for (;;) {
        size_t from = 0, to = 0;
        for_lines(head, [&](size_t b, size_t e) {
            if (!line_is(head, b, e, name)) return true;
            from = b;
            to = e;
            return false;
        });
        if (to == 0) return;
        head.erase(from, to - from);
    }
}

void apply_expires(std::string& head, const conf::Expires& e, time_t now) {
    using M = conf::Expires::Mode;
    if (e.mode == M::Off) return;
    std::string expires, cc;
    if (e.mode == M::Epoch) {
        expires = "Thu, 01 Jan 1970 00:00:01 GMT";
        cc = "no-cache";
    } else if (e.mode == M::Max) {
        expires = "Thu, 31 Dec 2037 23:55:55 GMT";
        cc = "max-age=315360000";
    } else if (e.secs == 0 && e.mode != M::Daily) {
        expires = http_time(now);
        cc = "max-age=0";
    } else {
        time_t when;
        int64_t max_age;
        time_t lm = -1;
        std::string v;
        if (e.mode == M::Modified && find_header(head, "Last-Modified", v) && !parse_http_time(v, lm)) lm = -1;
        if (e.mode == M::Daily) {
            // nginx's ngx_next_time: the next occurrence of that local time of day
            struct tm tm;
            localtime_r(&now, &tm);
            tm.tm_hour = int(e.secs / 3600);
            tm.tm_min = int(e.secs % 3600 / 60);
            tm.tm_sec = int(e.secs % 60);
            when = mktime(&tm);
            if (when != time_t(-1) && when - now <= 0) {
                tm.tm_mday++;
                when = mktime(&tm);
            }
            max_age = when - now;
        } else if (e.mode == M::Access || lm == -1) {
            max_age = e.secs;
            when = now + time_t(e.secs);
        } else {
            when = lm + time_t(e.secs);
            max_age = when - now;
        }
        expires = http_time(when);
        cc = e.secs < 0 || max_age < 0 ? std::string("no-cache") : fmt::format("max-age={}", max_age);
    }
    remove_header(head, "Expires");
    remove_header(head, "Cache-Control");
    head += "Expires: " + expires + "\r\n";
    head += "Cache-Control: " + cc + "\r\n";
}

void apply_charset(std::string& head, const conf::LocConf& lc) {
    if (!lc.charset || lc.charset->empty()) return;
    std::string ct;
    if (!find_header(head, "Content-Type", ct) || ct.empty()) return;
    std::string lowered = ct;
    for (auto& ch : lowered) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (lowered.find("charset=") != std::string::npos) return;   // the response names its own
    std::string type = lowered.substr(0, lowered.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
    bool listed = false;
    for (auto& t : **lc.charset_types) listed |= t == "*" || t == type;
    if (!listed) return;
    size_t at = std::string::npos;
    for_lines(head, [&](size_t b, size_t e) {
        if (!line_is(head, b, e, "Content-Type")) return true;
        at = e - 2;
        return false;
    });
    if (at != std::string::npos) head.insert(at, "; charset=" + *lc.charset);
}

}  // namespace sy::http

#include "http/exchange.h"

namespace sy::http {

// nginx's headers filter (expires: statuses 200, 201, 204, 206, 301, 302,
// 303, 304, 307, 308) and charset filter, on every response head.
void Exchange::apply_header_filters(HeadBuilder& h) {
    Request& r = *req_;
    if (!r.lc) return;
    if (r.lc->expires && r.lc->expires->mode != conf::Expires::Mode::Off && headers_status(r.status))
        apply_expires(h.out, *r.lc->expires, time(nullptr));
    apply_charset(h.out, *r.lc);
}

}  // namespace sy::http

#include "http/response.h"

#include <cctype>

#include <fmt/format.h>

#include "build_info.h"
#include "core/clock.h"

namespace sy::http {

std::string_view reason_phrase(int s) {
    switch (s) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Time-out";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 494: return "Request Header Or Cookie Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Temporarily Unavailable";
    case 504: return "Gateway Time-out";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "";
    }
}

std::string server_header(bool tokens) { return tokens ? "switchyard/" SY_VERSION : "switchyard"; }

std::string error_page_body(int status, bool tokens) {
    // nginx shows these under a 400 status line
    std::string_view why = status == 494 ? "Request Header Or Cookie Too Large"
                           : status == 495 ? "The SSL certificate error"
                           : status == 496 ? "No required SSL certificate was sent"
                           : status == 497 ? "The plain HTTP request was sent to HTTPS port" : "";
    if (!why.empty())
        return fmt::format("<html>\r\n<head><title>400 {0}</title></head>\r\n<body>\r\n"
                           "<center><h1>400 Bad Request</h1></center>\r\n<center>{0}</center>\r\n"
                           "<hr><center>{1}</center>\r\n</body>\r\n</html>\r\n",
                           why, server_header(tokens));
    // nginx's pages differ from its status lines in two places
    std::string_view text = status == 302 ? "Found" : status == 401 ? "Authorization Required" : reason_phrase(status);
    std::string title = fmt::format("{} {}", status, text);
    return fmt::format("<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
                       "<hr><center>{1}</center>\r\n</body>\r\n</html>\r\n",
                       title, server_header(tokens));
}

HeadBuilder::HeadBuilder(std::string& buf, int status, std::string_view reason, bool tokens) : out(buf) {
    out.clear();
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason.empty() ? reason_phrase(status) : reason;
    out += "\r\nServer: ";
    out += server_header(tokens);
    out += "\r\nDate: ";
    out += clock::http_date();
    out += "\r\n";
}

void HeadBuilder::add(std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

void escape_uri(std::string_view s, std::string& out) {
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
        bool esc = c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '?' || c == '<' || c == '>' ||
                   c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}';
        if (!esc) { out += char(c); continue; }
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
    }
}

bool has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        size_t c = list.find(',');
        std::string_view t = list.substr(0, c);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (ieq(t, token)) return true;
        if (c == std::string_view::npos) break;
        list.remove_prefix(c + 1);
    }
    return false;
}

}  // namespace sy::http

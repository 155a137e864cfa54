// Response helpers (src/http/response.h): status lines' reason phrases,
// nginx's built-in error pages byte for byte, escape_uri and has_token.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <string_view>

#include "http/response.h"

namespace sy::http {
namespace {

TEST(Response, ReasonPhrasesAsNginxStatusLines) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(101), "Switching Protocols");
    EXPECT_EQ(reason_phrase(204), "No Content");
    EXPECT_EQ(reason_phrase(206), "Partial Content");
    EXPECT_EQ(reason_phrase(301), "Moved Permanently");
    EXPECT_EQ(reason_phrase(302), "Moved Temporarily");
    EXPECT_EQ(reason_phrase(303), "See Other");
    EXPECT_EQ(reason_phrase(304), "Not Modified");
    EXPECT_EQ(reason_phrase(307), "Temporary Redirect");
    EXPECT_EQ(reason_phrase(308), "Permanent Redirect");
    EXPECT_EQ(reason_phrase(400), "Bad Request");
    EXPECT_EQ(reason_phrase(403), "Forbidden");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(405), "Not Allowed");
    EXPECT_EQ(reason_phrase(408), "Request Time-out");
    EXPECT_EQ(reason_phrase(413), "Request Entity Too Large");
    EXPECT_EQ(reason_phrase(414), "Request-URI Too Large");
    EXPECT_EQ(reason_phrase(416), "Requested Range Not Satisfiable");
    EXPECT_EQ(reason_phrase(494), "Request Header Or Cookie Too Large");
    EXPECT_EQ(reason_phrase(500), "Internal Server Error");
    EXPECT_EQ(reason_phrase(501), "Not Implemented");
    EXPECT_EQ(reason_phrase(502), "Bad Gateway");
    EXPECT_EQ(reason_phrase(503), "Service Temporarily Unavailable");
    EXPECT_EQ(reason_phrase(504), "Gateway Time-out");
    EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(Response, UnknownCodesHaveNoReason) {
    EXPECT_EQ(reason_phrase(299), "");
    EXPECT_EQ(reason_phrase(999), "");
    EXPECT_EQ(reason_phrase(0), "");
}

TEST(Response, ServerHeader) {
    EXPECT_EQ(server_header(true), "switchyard/0.1.0");
    EXPECT_EQ(server_header(false), "switchyard");
}

TEST(Response, ErrorPage502ExactBytes) {
    EXPECT_EQ(error_page_body(502, true),
              "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              "<center><h1>502 Bad Gateway</h1></center>\r\n"
              "<hr><center>switchyard/0.1.0</center>\r\n</body>\r\n</html>\r\n");
}

TEST(Response, ErrorPageWithoutServerTokens) {
    EXPECT_EQ(error_page_body(404, false),
              "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
              "<center><h1>404 Not Found</h1></center>\r\n"
              "<hr><center>switchyard</center>\r\n</body>\r\n</html>\r\n");
}

TEST(Response, ErrorPage302TitleIsFound) {
    const std::string b = error_page_body(302, true);
    EXPECT_NE(b.find("<title>302 Found</title>"), std::string::npos) << b;
    EXPECT_NE(b.find("<h1>302 Found</h1>"), std::string::npos) << b;
    EXPECT_EQ(b.find("Moved Temporarily"), std::string::npos) << b;
}

TEST(Response, ErrorPage401TitleIsAuthorizationRequired) {
    const std::string b = error_page_body(401, true);
    EXPECT_NE(b.find("<title>401 Authorization Required</title>"), std::string::npos) << b;
}

TEST(Response, ErrorPage494ExactBytes) {
    EXPECT_EQ(error_page_body(494, true),
              "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n"
              "<center><h1>400 Bad Request</h1></center>\r\n"
              "<center>Request Header Or Cookie Too Large</center>\r\n"
              "<hr><center>switchyard/0.1.0</center>\r\n</body>\r\n</html>\r\n");
    EXPECT_NE(error_page_body(494, false).find("<hr><center>switchyard</center>"), std::string::npos);
}

TEST(Response, ErrorPagesUseStatusLineTextsOtherwise) {
    for (int code : {301, 400, 403, 404, 405, 408, 413, 414, 416, 500, 501, 503, 504, 505}) {
        const std::string title = std::to_string(code) + " " + std::string(reason_phrase(code));
        const std::string b = error_page_body(code, true);
        EXPECT_EQ(b.rfind("<html>\r\n<head><title>" + title + "</title></head>\r\n", 0), 0u) << b;
        EXPECT_NE(b.find("<center><h1>" + title + "</h1></center>\r\n"), std::string::npos) << b;
        const std::string tail = "<hr><center>switchyard/0.1.0</center>\r\n</body>\r\n</html>\r\n";
        ASSERT_GT(b.size(), tail.size());
        EXPECT_EQ(b.substr(b.size() - tail.size()), tail);
    }
}

TEST(Response, HeadBuilder) {
    std::string buf;
    HeadBuilder h(buf, 200, "", true);
    h.add("Content-Type", "text/plain");
    h.add("X-A", "b");
    h.finish();
    EXPECT_TRUE(std::regex_match(h.out, std::regex("HTTP/1\\.1 200 OK\r\nServer: switchyard/0\\.1\\.0\r\n"
                                                    "Date: [A-Z][a-z]{2}, \\d\\d [A-Z][a-z]{2} \\d{4} "
                                                    "\\d\\d:\\d\\d:\\d\\d GMT\r\n"
                                                    "Content-Type: text/plain\r\nX-A: b\r\n\r\n")))
        << h.out;
}

TEST(Response, HeadBuilderCustomReasonAndTokensOff) {
    std::string buf;
    HeadBuilder h(buf, 299, "Custom Thing", false);
    h.finish();
    EXPECT_EQ(h.out.rfind("HTTP/1.1 299 Custom Thing\r\nServer: switchyard\r\nDate: ", 0), 0u) << h.out;
    std::string buf2;
    HeadBuilder k(buf2, 302, "", true);
    EXPECT_EQ(k.out.rfind("HTTP/1.1 302 Moved Temporarily\r\n", 0), 0u) << k.out;
}

std::string esc(std::string_view s) {
    std::string out = "prefix:";
    escape_uri(s, out);
    return out.substr(7);
}

TEST(Response, EscapeUriAppends) {
    std::string out = "/base";
    escape_uri("/a b", out);
    EXPECT_EQ(out, "/base/a%20b");
}

TEST(Response, EscapeUriEscapesNginxSet) {
    EXPECT_EQ(esc("/a b"), "/a%20b");
    EXPECT_EQ(esc("/a#b"), "/a%23b");
    EXPECT_EQ(esc("/a%b"), "/a%25b");
    EXPECT_EQ(esc("/a?b"), "/a%3Fb");
    EXPECT_EQ(esc("/a\"b"), "/a%22b");
    EXPECT_EQ(esc(std::string_view("\x00\x01\x1f\x7f", 4)), "%00%01%1F%7F");
    EXPECT_EQ(esc("/caf\xC3\xA9"), "/caf%C3%A9");
    EXPECT_EQ(esc("\xff"), "%FF");
}

TEST(Response, EscapeUriKeepsAllowedCharacters) {
    const std::string ok = "/AZaz09-._~!$&'()*+,;=:@/[]";
    EXPECT_EQ(esc(ok), ok);
    EXPECT_EQ(esc(""), "");
}

// nginx conformance (a bug found by this test, now fixed): ngx_escape_uri(NGX_ESCAPE_URI) also escapes '<', '>', '\', '^', '`',
// '{', '|' and '}' (its uri[] table: 0xd000002d / 0x50000000 / 0xb8000001,
// the "not allowed" set of RFC 3986). switchyard leaves them as they are, so
// a client URI "/a%3Cb%3E" is sent upstream as "/a<b>" by proxy_pass with a
// URI part instead of "/a%3Cb%3E". End to end, `location /a/ { proxy_pass
// http://up/b/; }` with "/a/x%3Cy%3E%5C%5E%60%7B%7C%7D": nginx 1.22.1 sends
// "/b/x%3Cy%3E%5C%5E%60%7B%7C%7D", switchyard "/b/x<y>\^`{|}".
TEST(Response, EscapeUriEscapesRfc3986DisallowedCharacters) {
    EXPECT_EQ(esc("/a<b>"), "/a%3Cb%3E");
    EXPECT_EQ(esc("\\^`{|}"), "%5C%5E%60%7B%7C%7D");
}

TEST(Response, HasToken) {
    EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
    EXPECT_TRUE(has_token("Upgrade", "upgrade"));
    EXPECT_TRUE(has_token("  close  ", "close"));
    EXPECT_TRUE(has_token("a,\tb\t,c", "b"));
    EXPECT_TRUE(has_token("a,,b", "b"));
    EXPECT_TRUE(has_token("CHUNKED", "chunked"));
    EXPECT_FALSE(has_token("upgrade-insecure", "upgrade"));
    EXPECT_FALSE(has_token("keep-alive", "alive"));
    EXPECT_FALSE(has_token("", "close"));
    EXPECT_FALSE(has_token("gzip, chunked", "gzip, chunked"));
}

TEST(Response, Ieq) {
    EXPECT_TRUE(ieq("Content-Length", "content-length"));
    EXPECT_TRUE(ieq("", ""));
    EXPECT_FALSE(ieq("Host", "Hosts"));
    EXPECT_FALSE(ieq("a", "b"));
}

}  // namespace
}  // namespace sy::http

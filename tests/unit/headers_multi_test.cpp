// Repeated header fields (nginx 1.23+): joined variables, $upstream_cookie_*,
// $remote_user, $sent_trailer_*, the unique request fields, and add_trailer's
// config (syntax, inheritance as add_header's).
#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "test_support.h"
#include "config/loader.h"
#include "config/template.h"
#include "http/request.h"
#include "http/unique_headers.h"
#include "http/variables.h"

namespace sy::http {
namespace {

struct Req {
    std::deque<std::string> store;
    Request r;
    ConnInfo conn;
    conf::Http http;

    void header(std::string n, std::string v) {
        store.push_back(std::move(n));
        std::string_view name = store.back();
        store.push_back(std::move(v));
        r.head.headers.push_back({name, store.back()});
    }
    std::pair<bool, std::string> var(std::string_view name) {
        conf::VarRef ref;
        EXPECT_TRUE(conf::resolve_var(name, nullptr, ref)) << name;
        VarCtx ctx{conn, r, http};
        std::string out;
        bool f = get_var(ref, ctx, out);
        return {f, out};
    }
};

using Found = std::pair<bool, std::string>;
Found yes(std::string v) { return {true, std::move(v)}; }
Found no() { return {false, ""}; }

TEST(HeadersMulti, RequestFieldsJoined) {
    Req q;
    q.header("Foo", "foo");
    q.header("Cookie", "a=1, x=0; b=2");
    q.header("foo", "bar");
    q.header("Cookie", "c=3");
    EXPECT_EQ(q.var("http_foo"), yes("foo, bar"));
    EXPECT_EQ(q.var("http_cookie"), yes("a=1, x=0; b=2; c=3"));
    EXPECT_EQ(q.var("cookie_a"), yes("1, x=0"));
    EXPECT_EQ(q.var("cookie_c"), yes("3"));
    EXPECT_EQ(q.var("cookie_x"), no());
    EXPECT_EQ(q.var("http_bar"), no());
}

TEST(HeadersMulti, ResponseFieldsJoined) {
    Req q;
    q.r.upstream_headers = {{"Set-Cookie", "a=1; Path=/"}, {"Bar", "x"}, {"Set-Cookie", " b = 2 ;HttpOnly"}, {"bar", "y"},
                            {"Set-Cookie", "a=9"}};
    q.r.sent_trailers = {{"Foo", "f"}, {"FOO", "g"}};
    q.r.sent_headers = {{"Link", "l1"}, {"link", "l2"}};
    EXPECT_EQ(q.var("upstream_http_bar"), yes("x, y"));
    EXPECT_EQ(q.var("upstream_http_set_cookie"), yes("a=1; Path=/,  b = 2 ;HttpOnly, a=9"));
    EXPECT_EQ(q.var("upstream_cookie_a"), yes("1"));   // the first field that sets it
    EXPECT_EQ(q.var("upstream_cookie_path"), no());    // attributes are not cookies
    EXPECT_EQ(q.var("upstream_cookie_c"), no());
    EXPECT_EQ(q.var("sent_trailer_foo"), yes("f, g"));
    EXPECT_EQ(q.var("sent_trailer_bar"), no());
    EXPECT_EQ(q.var("sent_http_link"), yes("l1, l2"));
}

TEST(HeadersMulti, RemoteUser) {
    Req q;
    EXPECT_EQ(q.var("remote_user"), no());
    q.header("Authorization", "basic   dXNlcjpzZWNyZXQ=");
    EXPECT_EQ(q.var("remote_user"), yes("user"));
    Req bad;
    bad.header("Authorization", "Basic dXNlcg==");   // "user": no ':'
    EXPECT_EQ(bad.var("remote_user"), no());
    Req bearer;
    bearer.header("Authorization", "Bearer dXNlcjpzZWNyZXQ=");
    EXPECT_EQ(bearer.var("remote_user"), no());
}

TEST(HeadersMulti, ContentLengthAsWritten) {
    Req q;
    EXPECT_EQ(q.var("content_length"), no());
    q.header("Content-Length", "007");
    q.r.head.content_length = 7;
    EXPECT_EQ(q.var("content_length"), yes("007"));   // nginx: the field's value
    Req chunked;
    chunked.r.head.content_length = 12;               // a chunked body, read: its length
    EXPECT_EQ(chunked.var("content_length"), yes("12"));
}

TEST(HeadersMulti, Base64) {
    std::string out;
    EXPECT_TRUE(base64_decode("dXNlcjpzZWNyZXQ=", out));
    EXPECT_EQ(out, "user:secret");
    out.clear();
    EXPECT_TRUE(base64_decode("dXNlcjpzZWNyZXQ", out));   // padding optional
    EXPECT_EQ(out, "user:secret");
    out.clear();
    EXPECT_FALSE(base64_decode("dXN!", out));
    EXPECT_FALSE(base64_decode("d", out));
}

TEST(HeadersMulti, UniqueFields) {
    for (auto n : {"If-Modified-Since", "if-unmodified-since", "IF-MATCH", "If-None-Match", "Content-Length",
                   "Content-Range", "If-Range", "Transfer-Encoding", "Expect", "Authorization"})
        EXPECT_GE(unique_header_index(n), 0) << n;
    for (auto n : {"Host", "Cookie", "User-Agent", "Referer", "Via", "X-Forwarded-For", "Content-Type", "If-Matc"})
        EXPECT_EQ(unique_header_index(n), -1) << n;
}

TEST(HeadersMulti, SentTrailerIsAHeaderFamily) {
    conf::VarRef ref;
    ASSERT_TRUE(conf::resolve_var("sent_trailer_X_Foo", nullptr, ref));
    EXPECT_EQ(ref.kind, conf::Var::SentTrailer);
    EXPECT_EQ(ref.arg, "x-foo");
    ASSERT_TRUE(conf::resolve_var("upstream_cookie_Sess", nullptr, ref));
    EXPECT_EQ(ref.kind, conf::Var::UpstreamCookie);
    EXPECT_EQ(ref.arg, "sess");
}

std::variant<std::shared_ptr<conf::Config>, std::string> load_text(test::TempDir& dir, std::string_view text) {
    std::ofstream(dir.path() + "/nginx.conf", std::ios::binary) << text;
    conf::LoadOptions o;
    o.prefix = dir.path();
    o.conf_file = "nginx.conf";
    return conf::load(o);
}

TEST(HeadersMulti, AddTrailerConfig) {
    test::TempDir dir;
    auto r = load_text(dir, "events {}\nhttp {\nadd_trailer X-Http h;\nserver {\nlisten 8080;\n"
                            "location /a { add_trailer X-Loc $sent_trailer_x_http always; }\n"
                            "location /b { add_header X-H v; }\n}\n}\n");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<conf::Config>>(r)) << std::get<std::string>(r);
    auto& srv = *std::get<std::shared_ptr<conf::Config>>(r)->http->servers.at(0);
    auto& a = srv.locations.all.at(0)->conf;
    auto& b = srv.locations.all.at(1)->conf;
    ASSERT_EQ(a.add_trailer->size(), 1u);
    EXPECT_EQ(a.add_trailer->at(0).name, "X-Loc");
    EXPECT_TRUE(a.add_trailer->at(0).always);
    ASSERT_EQ(b.add_trailer->size(), 1u);   // inherited, as add_header
    EXPECT_EQ(b.add_trailer->at(0).name, "X-Http");
    EXPECT_EQ(b.add_header->size(), 1u);
    test::TempDir dir2;
    auto bad = load_text(dir2, "events {}\nhttp {\nserver {\nlisten 8080;\nadd_trailer X v sometimes;\n}\n}\n");
    ASSERT_TRUE(std::holds_alternative<std::string>(bad));
    EXPECT_NE(std::get<std::string>(bad).find("invalid parameter \"sometimes\""), std::string::npos) << std::get<std::string>(bad);
}

}  // namespace
}  // namespace sy::http

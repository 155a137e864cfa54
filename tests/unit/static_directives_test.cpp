// Static-file and response-header directives: parsing, nginx's -t messages
// with file:line, inheritance (alias travels with root, try_files does not),
// and the header filters (conditional requests, expires, charset) on heads.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "test_support.h"
#include "config/conf.h"
#include "config/loader.h"
#include "config/static_directives.h"
#include "http/header_filters.h"

namespace sy::conf {
namespace {

using test::TempDir;

struct Result {
    TempDir dir;
    std::shared_ptr<Config> cfg;
    std::string err;
};

std::unique_ptr<Result> load_text(std::string_view http_body) {
    auto r = std::make_unique<Result>();
    std::string text = "events {}\nhttp {\n";
    text += http_body;
    text += "\n}\n";
    std::ofstream(r->dir.path() + "/nginx.conf", std::ios::binary) << text;
    LoadOptions o;
    o.prefix = r->dir.path();
    o.conf_file = "nginx.conf";
    auto v = load(o);
    if (auto* e = std::get_if<std::string>(&v)) r->err = *e;
    else r->cfg = std::get<std::shared_ptr<Config>>(v);
    return r;
}

std::string error_of(std::string_view http_body) {
    auto r = load_text(http_body);
    EXPECT_FALSE(r->cfg) << "loaded: " << http_body;
    return r->err;
}

TEST(StaticDirectives, AliasPrefixAndRegex) {
    auto r = load_text(
        "server { listen 127.0.0.1:8080;\n"
        "  location /static/ { alias /data/; location /static/in/ { } }\n"
        "  location ~ ^/d/(.*)$ { alias /data/$1; }\n"
        "  location /r/ { root /srv; }\n"
        "}");
    ASSERT_TRUE(r->cfg) << r->err;
    auto& s = *r->cfg->http->servers[0];
    const Location& st = *s.locations.all[0];
    EXPECT_EQ(st.conf.alias, std::string("/static/").size());
    EXPECT_EQ(st.conf.root->literal(), "/data/");
    // a nested location inherits the alias with its length (nginx)
    const Location& in = *st.nested->all[0];
    EXPECT_EQ(in.conf.alias, st.conf.alias);
    EXPECT_EQ(in.conf.root->literal(), "/data/");
    EXPECT_EQ(s.locations.all[1]->conf.alias, LocConf::kAliasWhole);
    EXPECT_EQ(s.locations.all[2]->conf.alias, 0u);
}

TEST(StaticDirectives, ProxyRedirectRegexRulesAndErrors) {
    auto r = load_text("server { listen 127.0.0.1:8080;\n location / { proxy_pass http://127.0.0.1:9;\n"
                       " proxy_redirect ~^http://a/(.*)$ /b/$1;\n proxy_redirect ~*X /y;\n proxy_redirect http://c/ /d/; } }");
    ASSERT_TRUE(r->cfg) << r->err;
    auto& rules = r->cfg->http->servers[0]->locations.all[0]->conf.proxy_redirect->rules;
    ASSERT_EQ(rules.size(), 3u);
    ASSERT_TRUE(rules[0].regex);
    EXPECT_EQ(rules[0].regex->captures(), 1);
    ASSERT_TRUE(rules[1].regex);
    EXPECT_TRUE(rules[1].regex->match("axb"));   // ~*: caseless
    EXPECT_FALSE(rules[2].regex);
    EXPECT_EQ(rules[2].from.source, "http://c/");
    std::string e = error_of("server { listen 127.0.0.1:8080;\n location / { proxy_pass http://127.0.0.1:9;\n"
                             " proxy_redirect ~(unclosed /x; } }");
    EXPECT_NE(e.find("pcre2_compile() failed"), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:5"), std::string::npos) << e;
}

// geo (config/geo.cpp): networks sorted most specific first, 0.0.0.0/0 is
// the default, delete removes, ranges parse; errors name file:line.
TEST(StaticDirectives, GeoBlocksParseAndRefuseWithFileLine) {
    auto r = load_text("geo $g {\n 10.0.0.0/8 ten;\n 0.0.0.0/0 dflt;\n 10.1.0.0/16 ten-one;\n 192.168.0.0/16 lan;\n"
                       " delete 192.168.0.0/16;\n proxy 127.0.0.1;\n}\n"
                       "geo $arg_a $r {\n ranges;\n 1.0.0.0-1.0.0.9 a;\n}\n"
                       "server { listen 127.0.0.1:8080; location / { return 200 \"$g$r\"; } }");
    ASSERT_TRUE(r->cfg) << r->err;
    const auto& maps = r->cfg->http->maps;
    const MapConf* g = nullptr;
    const MapConf* rg = nullptr;
    for (auto& m : maps) {
        if (m->var_name == "g") g = m.get();
        if (m->var_name == "r") rg = m.get();
    }
    ASSERT_TRUE(g && g->geo && rg && rg->geo);
    ASSERT_EQ(g->geo->nets.size(), 2u);
    EXPECT_EQ(g->geo->nets[0].value, "ten-one");
    EXPECT_EQ(g->geo->nets[0].bits, 16u);
    EXPECT_EQ(g->geo->nets[1].value, "ten");
    EXPECT_EQ(g->geo->default_value, "dflt");
    EXPECT_EQ(g->geo->proxies.size(), 1u);
    EXPECT_FALSE(g->geo->source_given);
    EXPECT_TRUE(rg->geo->use_ranges && rg->geo->source_given);
    ASSERT_EQ(rg->geo->ranges.size(), 1u);
    EXPECT_EQ(rg->geo->ranges[0].to - rg->geo->ranges[0].from, 9u);
    std::string e = error_of("geo $g {\n default a;\n 10.0.0.0/33 b;\n}");
    EXPECT_NE(e.find("invalid network \"10.0.0.0/33\""), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:5"), std::string::npos) << e;
    e = error_of("geo $g {\n a b c;\n}");
    EXPECT_NE(e.find("invalid number of the geo parameters"), std::string::npos) << e;
    e = error_of("geo $g {\n 10.0.0.0/8 b;\n ranges;\n}");
    EXPECT_NE(e.find("\"ranges\" must be the first parameter"), std::string::npos) << e;
}

TEST(StaticDirectives, RootAliasConflictsNameTheLine) {
    std::string e = error_of("server { listen 127.0.0.1:8080;\n location / { root /a;\n alias /b/; } }");
    EXPECT_NE(e.find("\"alias\" directive is duplicate, \"root\" directive was specified earlier in "), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:5"), std::string::npos) << e;
    e = error_of("server { listen 127.0.0.1:8080;\n location / { alias /b/;\n root /a; } }");
    EXPECT_NE(e.find("\"root\" directive is duplicate, \"alias\" directive was specified earlier in "), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:5"), std::string::npos) << e;
    e = error_of("server { listen 127.0.0.1:8080;\n location @n {\n alias /b/; } }");
    EXPECT_NE(e.find("the \"alias\" directive cannot be used inside the named location in "), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:5"), std::string::npos) << e;
    e = error_of("server { listen 127.0.0.1:8080;\n location / { alias $document_root/x; } }");
    EXPECT_NE(e.find("the $document_root variable cannot be used in the \"alias\" directive"), std::string::npos) << e;
}

TEST(StaticDirectives, TryFilesParsingAndNoInheritance) {
    auto r = load_text(
        "server { listen 127.0.0.1:8080; try_files $uri /index.html;\n"
        "  location / { try_files $uri $uri/ =404; }\n"
        "  location /n/ { }\n"
        "}");
    ASSERT_TRUE(r->cfg) << r->err;
    auto& s = *r->cfg->http->servers[0];
    ASSERT_TRUE(s.conf.try_files);
    EXPECT_EQ(s.fallback.conf.try_files, s.conf.try_files);   // URIs matching no location
    auto& tf = *s.locations.all[0]->conf.try_files;
    ASSERT_EQ(tf.files.size(), 2u);
    EXPECT_FALSE(tf.files[0].test_dir);
    EXPECT_TRUE(tf.files[1].test_dir);
    EXPECT_EQ(tf.files[1].name.source, "$uri");
    EXPECT_EQ(tf.code, 404);
    EXPECT_FALSE(s.locations.all[1]->conf.try_files);   // not inherited (nginx)
    std::string e = error_of("server { listen 127.0.0.1:8080;\n location / { try_files $uri =1000; } }");
    EXPECT_NE(e.find("invalid code \"=1000\" in "), std::string::npos) << e;
    e = error_of("server { listen 127.0.0.1:8080;\n location / { try_files a =404;\n try_files b =404; } }");
    EXPECT_NE(e.find("\"try_files\" directive is duplicate in "), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:5"), std::string::npos) << e;
    e = error_of("try_files $uri =404;");
    EXPECT_NE(e.find("\"try_files\" directive is not allowed here"), std::string::npos) << e;
}

TEST(StaticDirectives, ExpiresParsing) {
    auto parse = [](std::string_view v, Expires::Mode m = Expires::Mode::Access) {
        Expires e;
        e.mode = m;
        std::string err = parse_expires(v, e);
        return std::make_pair(err, e);
    };
    EXPECT_EQ(parse("1h").second.secs, 3600);
    EXPECT_EQ(parse("1d12h").second.secs, 36 * 3600);
    EXPECT_EQ(parse("-1").second.secs, -1);
    EXPECT_EQ(parse("+30").second.secs, 30);
    EXPECT_EQ(parse("epoch").second.mode, Expires::Mode::Epoch);
    EXPECT_EQ(parse("max").second.mode, Expires::Mode::Max);
    EXPECT_EQ(parse("off").second.mode, Expires::Mode::Off);
    auto d = parse("@15h30m");
    EXPECT_EQ(d.second.mode, Expires::Mode::Daily);
    EXPECT_EQ(d.second.secs, 15 * 3600 + 30 * 60);
    EXPECT_EQ(parse("@25h").first, "daily time value must be less than 24 hours");
    EXPECT_EQ(parse("@1h", Expires::Mode::Modified).first, "daily time cannot be used with \"modified\" parameter");
    EXPECT_EQ(parse("1x").first, "invalid value");
    EXPECT_EQ(parse("10ms").first, "invalid value");
    std::string e = error_of("expires 1h;\nexpires 2h;");
    EXPECT_NE(e.find("\"expires\" directive is duplicate in "), std::string::npos) << e;
    e = error_of("expires later 2h;");
    EXPECT_NE(e.find("\"expires\" directive invalid value in "), std::string::npos) << e;
}

TEST(StaticDirectives, InheritanceAndDefaults) {
    auto r = load_text(
        "expires 1h; charset utf-8; etag off;\n"
        "server { listen 127.0.0.1:8080;\n"
        "  location / { }\n"
        "  location /x/ { expires off; charset off; etag on; charset_types text/css; }\n"
        "}");
    ASSERT_TRUE(r->cfg) << r->err;
    auto& s = *r->cfg->http->servers[0];
    const LocConf& a = s.locations.all[0]->conf;
    EXPECT_EQ(a.expires->mode, Expires::Mode::Access);
    EXPECT_EQ(*a.charset, "utf-8");
    EXPECT_FALSE(*a.etag);
    EXPECT_TRUE(*a.chunked_transfer_encoding);
    EXPECT_FALSE(*a.server_name_in_redirect);
    EXPECT_FALSE(*a.recursive_error_pages);
    EXPECT_EQ((*a.charset_types)->size(), 6u);
    const LocConf& b = s.locations.all[1]->conf;
    EXPECT_EQ(b.expires->mode, Expires::Mode::Off);
    EXPECT_EQ(*b.charset, "");
    EXPECT_TRUE(*b.etag);
    ASSERT_EQ((*b.charset_types)->size(), 2u);   // text/html always stays
    EXPECT_EQ((**b.charset_types)[0], "text/html");
    EXPECT_EQ((**b.charset_types)[1], "text/css");
}

TEST(StaticDirectives, CharsetConversionRefused) {
    std::string e = error_of("charset utf-8;\nserver { listen 127.0.0.1:8080;\n location / {\n source_charset koi8-r; } }");
    EXPECT_NE(e.find("no \"charset_map\" between the charsets \"koi8-r\" and \"utf-8\""), std::string::npos) << e;
    EXPECT_NE(e.find("not supported yet"), std::string::npos) << e;
    EXPECT_NE(e.find("nginx.conf:6"), std::string::npos) << e;
    auto ok = load_text("charset UTF-8; source_charset utf-8; server { listen 127.0.0.1:8080; }");
    EXPECT_TRUE(ok->cfg) << ok->err;
    auto off = load_text("source_charset koi8-r; server { listen 127.0.0.1:8080; }");   // charset off: nothing converts
    EXPECT_TRUE(off->cfg) << off->err;
}

TEST(StaticDirectives, AcceptedTuning) {
    auto r = load_text("sendfile_max_chunk 2m; aio threads; server { listen 127.0.0.1:8080; location / { aio off; chunked_transfer_encoding off; server_name_in_redirect on; recursive_error_pages on; } }");
    ASSERT_TRUE(r->cfg) << r->err;
    EXPECT_NE(error_of("sendfile_max_chunk lots;").find("\"sendfile_max_chunk\" directive invalid value"), std::string::npos);
    EXPECT_NE(error_of("aio maybe;").find("\"aio\" directive invalid value"), std::string::npos);
    EXPECT_NE(error_of("proxy_set_body x;").find("not supported yet"), std::string::npos);
}

}  // namespace
}  // namespace sy::conf

namespace sy::http {
namespace {

RequestHead head_with(std::initializer_list<std::pair<std::string_view, std::string_view>> hs) {
    RequestHead h;
    for (auto& [n, v] : hs) h.headers.push_back({n, v});
    return h;
}

TEST(HeaderFilters, HttpTime) {
    EXPECT_EQ(http_time(1700000000), "Tue, 14 Nov 2023 22:13:20 GMT");
    time_t t = 0;
    ASSERT_TRUE(parse_http_time("Tue, 14 Nov 2023 22:13:20 GMT", t));
    EXPECT_EQ(t, 1700000000);
    ASSERT_TRUE(parse_http_time("Tuesday, 14-Nov-23 22:13:20 GMT", t));
    EXPECT_EQ(t, 1700000000);
    ASSERT_TRUE(parse_http_time("Tue Nov 14 22:13:20 2023", t));
    EXPECT_EQ(t, 1700000000);
    EXPECT_FALSE(parse_http_time("yesterday", t));
}

TEST(HeaderFilters, ConditionalRequests) {
    const time_t lm = 1700000000;
    const std::string etag = "\"6553f100-6\"";
    EXPECT_EQ(conditional_status(head_with({}), lm, etag), 0);
    EXPECT_EQ(conditional_status(head_with({{"If-None-Match", "\"6553f100-6\""}}), lm, etag), 304);
    EXPECT_EQ(conditional_status(head_with({{"if-none-match", "\"a\", W/\"6553f100-6\""}}), lm, etag), 304);
    EXPECT_EQ(conditional_status(head_with({{"If-None-Match", "\"6553f100-6x\""}}), lm, etag), 0);
    EXPECT_EQ(conditional_status(head_with({{"If-None-Match", "*"}}), lm, etag), 304);
    EXPECT_EQ(conditional_status(head_with({{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}}), lm, etag), 304);
    EXPECT_EQ(conditional_status(head_with({{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:21 GMT"}}), lm, etag), 0);
    // both: both must say "not modified"
    EXPECT_EQ(conditional_status(head_with({{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}, {"If-None-Match", "\"b\""}}), lm, etag), 0);
    EXPECT_EQ(conditional_status(head_with({{"If-Match", "\"b\""}}), lm, etag), 412);
    EXPECT_EQ(conditional_status(head_with({{"If-Match", "W/\"6553f100-6\""}}), lm, etag), 412);   // strong comparison
    EXPECT_EQ(conditional_status(head_with({{"If-Match", "\"6553f100-6\""}}), lm, etag), 0);
    EXPECT_EQ(conditional_status(head_with({{"If-Match", "\"x\""}}), lm, ""), 412);
    EXPECT_EQ(conditional_status(head_with({{"If-Match", "*"}}), lm, ""), 0);
    EXPECT_EQ(conditional_status(head_with({{"If-Unmodified-Since", "Mon, 13 Nov 2023 22:13:20 GMT"}}), lm, etag), 412);
    EXPECT_EQ(conditional_status(head_with({{"If-Unmodified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}}), lm, etag), 0);
    EXPECT_EQ(conditional_status(head_with({{"If-Unmodified-Since", "garbage"}}), lm, etag), 412);
}

const std::string kHead = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: text/html\r\nCache-Control: private\r\n"
                          "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nExpires: never\r\n";

TEST(HeaderFilters, ExpiresReplacesUpstreamFields) {
    using M = conf::Expires::Mode;
    std::string h = kHead;
    apply_expires(h, conf::Expires{M::Access, 3600}, 1700000000);
    std::string v;
    ASSERT_TRUE(find_header(h, "Cache-Control", v));
    EXPECT_EQ(v, "max-age=3600");
    ASSERT_TRUE(find_header(h, "expires", v));
    EXPECT_EQ(v, "Tue, 14 Nov 2023 23:13:20 GMT");
    EXPECT_EQ(h.find("private"), std::string::npos);
    EXPECT_EQ(h.find("never"), std::string::npos);
    h = kHead;
    apply_expires(h, conf::Expires{M::Modified, 7200}, 1700000000 + 3600);
    ASSERT_TRUE(find_header(h, "Cache-Control", v));
    EXPECT_EQ(v, "max-age=3600");
    h = kHead;
    apply_expires(h, conf::Expires{M::Access, -60}, 1700000000);
    ASSERT_TRUE(find_header(h, "Cache-Control", v));
    EXPECT_EQ(v, "no-cache");
    h = kHead;
    apply_expires(h, conf::Expires{M::Epoch, 0}, 1700000000);
    ASSERT_TRUE(find_header(h, "Expires", v));
    EXPECT_EQ(v, "Thu, 01 Jan 1970 00:00:01 GMT");
    h = kHead;
    apply_expires(h, conf::Expires{M::Daily, 0}, 1700000000);   // @0s: the next midnight, local time
    ASSERT_TRUE(find_header(h, "Cache-Control", v));
    int age = std::stoi(v.substr(8));
    EXPECT_GT(age, 0);
    EXPECT_LE(age, 25 * 3600);
    h = kHead;
    apply_expires(h, conf::Expires{M::Off, 0}, 1700000000);
    EXPECT_EQ(h, kHead);
}

TEST(HeaderFilters, Charset) {
    conf::LocConf lc;
    lc.charset = "utf-8";
    lc.charset_types = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"text/html", "text/plain"});
    std::string h = kHead;
    apply_charset(h, lc);
    std::string v;
    ASSERT_TRUE(find_header(h, "Content-Type", v));
    EXPECT_EQ(v, "text/html; charset=utf-8");
    h = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=koi8-r\r\n";
    apply_charset(h, lc);
    ASSERT_TRUE(find_header(h, "Content-Type", v));
    EXPECT_EQ(v, "text/html; charset=koi8-r");   // the response names its own
    h = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n";
    apply_charset(h, lc);
    ASSERT_TRUE(find_header(h, "Content-Type", v));
    EXPECT_EQ(v, "image/png");
    lc.charset_types = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"*"});
    apply_charset(h, lc);
    ASSERT_TRUE(find_header(h, "Content-Type", v));
    EXPECT_EQ(v, "image/png; charset=utf-8");
    lc.charset = "";
    h = kHead;
    apply_charset(h, lc);
    EXPECT_EQ(h, kHead);
}

}  // namespace
}  // namespace sy::http

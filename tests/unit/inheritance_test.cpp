// Level inheritance (LocConf::merge_from / apply_defaults, driven by load()):
// nginx's defaults, http -> server -> location -> nested location, and the
// array directives (proxy_set_header, add_header, error_page) that are
// inherited only when the level defines none of its own.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "test_support.h"
#include "config/conf.h"
#include "config/loader.h"

namespace sy::conf {
namespace {

using test::TempDir;

struct Loaded {
    TempDir dir;
    std::shared_ptr<Config> cfg;

    const Http& http() const {
        if (!cfg || !cfg->http) throw std::runtime_error("config did not load");
        return *cfg->http;
    }
    const Server& server(size_t i = 0) const { return *http().servers.at(i); }
    const Location& loc(size_t i, size_t server_i = 0) const { return *server(server_i).locations.all.at(i); }
    const Location& nested(size_t outer, size_t inner) const { return *loc(outer).nested->all.at(inner); }
};

std::unique_ptr<Loaded> load_ok(std::string_view text) {
    auto l = std::make_unique<Loaded>();
    std::ofstream(l->dir.path() + "/nginx.conf", std::ios::binary) << text;
    LoadOptions o;
    o.prefix = l->dir.path();
    o.conf_file = "nginx.conf";
    auto r = load(o);
    if (auto* e = std::get_if<std::string>(&r)) ADD_FAILURE() << "unexpected error: " << *e;
    else l->cfg = std::get<std::shared_ptr<Config>>(r);
    return l;
}

std::vector<std::string> header_names(const std::optional<std::vector<HeaderEntry>>& v) {
    std::vector<std::string> out;
    if (v)
        for (auto& h : *v) out.push_back(h.name + "=" + h.value.source);
    return out;
}
std::vector<std::string> add_header_names(const std::optional<std::vector<AddHeader>>& v) {
    std::vector<std::string> out;
    if (v)
        for (auto& h : *v) out.push_back(h.name + "=" + h.value.source);
    return out;
}
using Strings = std::vector<std::string>;

size_t page_size() {
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? size_t(p) : 4096;
}

// Every inheritable field is set (no std::nullopt) after loading.
void expect_all_set(const LocConf& c) {
    EXPECT_TRUE(c.proxy_connect_timeout && c.proxy_read_timeout && c.proxy_send_timeout && c.send_timeout);
    EXPECT_TRUE(c.client_header_timeout && c.client_body_timeout && c.keepalive_timeout);
    EXPECT_TRUE(c.proxy_http_version && c.proxy_set_header);
    EXPECT_TRUE(c.proxy_pass_request_headers && c.proxy_pass_request_body && c.proxy_buffering &&
                c.proxy_request_buffering && c.tcp_nodelay && c.server_tokens && c.proxy_intercept_errors &&
                c.absolute_redirect && c.port_in_redirect && c.merge_slashes && c.log_not_found);
    EXPECT_TRUE(c.proxy_hide_header && c.proxy_pass_header);
    EXPECT_TRUE(c.proxy_buffer_size && c.client_max_body_size && c.client_body_buffer_size &&
                c.client_header_buffer_size);
    EXPECT_TRUE(c.proxy_buffers && c.large_client_header_buffers && c.proxy_redirect && c.root && c.index);
    EXPECT_TRUE(c.error_page && c.add_header && c.access_log && c.keepalive_requests && c.default_type && c.types);
}

// ---------------------------------------------------------------- defaults

TEST(Inheritance, NginxDefaultsReachALocation) {
    auto l = load_ok("events {}\nhttp {\nserver {\nlisten 8080;\nlocation / { }\n}\n}\n");
    const LocConf& c = l->loc(0).conf;
    expect_all_set(c);
    EXPECT_EQ(*c.proxy_read_timeout, 60000u);
    EXPECT_EQ(*c.proxy_connect_timeout, 60000u);
    EXPECT_EQ(*c.proxy_send_timeout, 60000u);
    EXPECT_EQ(*c.send_timeout, 60000u);
    EXPECT_EQ(*c.client_header_timeout, 60000u);
    EXPECT_EQ(*c.client_body_timeout, 60000u);
    EXPECT_EQ(*c.keepalive_timeout, 75000u);
    EXPECT_EQ(*c.keepalive_requests, 1000u);
    EXPECT_EQ(*c.proxy_http_version, 11);
    EXPECT_EQ(*c.client_max_body_size, 1024u * 1024);
    EXPECT_EQ(*c.client_header_buffer_size, 1024u);
    EXPECT_EQ(*c.large_client_header_buffers, std::make_pair(4, size_t(8192)));
    EXPECT_EQ(*c.proxy_buffer_size, page_size());
    EXPECT_EQ(*c.proxy_buffers, std::make_pair(8, page_size()));
    EXPECT_TRUE(*c.proxy_buffering);
    EXPECT_TRUE(*c.proxy_request_buffering);
    EXPECT_TRUE(*c.proxy_pass_request_headers);
    EXPECT_TRUE(*c.proxy_pass_request_body);
    EXPECT_FALSE(*c.proxy_intercept_errors);
    EXPECT_TRUE(*c.tcp_nodelay);
    EXPECT_TRUE(*c.server_tokens);
    EXPECT_TRUE(*c.absolute_redirect);
    EXPECT_TRUE(*c.port_in_redirect);
    EXPECT_TRUE(*c.merge_slashes);
    EXPECT_TRUE(*c.log_not_found);
    EXPECT_EQ(*c.default_type, "text/plain");
    EXPECT_EQ(c.proxy_redirect->mode, ProxyRedirect::Mode::Default);
    EXPECT_TRUE(c.proxy_set_header->empty());
    EXPECT_TRUE(c.add_header->empty());
    EXPECT_TRUE(c.error_page->empty());
    EXPECT_TRUE(c.proxy_hide_header->empty());
    EXPECT_TRUE(c.proxy_pass_header->empty());
    EXPECT_EQ(c.root->literal(), l->dir.path() + "/html");
    ASSERT_EQ(c.index->size(), 1u);
    EXPECT_EQ(c.index->at(0).literal(), "index.html");
    ASSERT_EQ(c.access_log->size(), 1u);
    EXPECT_EQ(c.access_log->at(0).path, l->dir.path() + "/logs/access.log");
    EXPECT_EQ((*c.types)->at("html"), "text/html");
}

TEST(Inheritance, DefaultsReachServerNestedLocationAndFallback) {
    auto l = load_ok("events {}\nhttp {\nserver {\nlocation /a/ {\nlocation /a/b/ { }\n}\n}\n}\n");
    expect_all_set(l->http().conf);
    expect_all_set(l->server().conf);
    expect_all_set(l->server().fallback.conf);
    expect_all_set(l->nested(0, 0).conf);
    EXPECT_EQ(*l->nested(0, 0).conf.proxy_read_timeout, 60000u);
    EXPECT_EQ(*l->server().fallback.conf.keepalive_timeout, 75000u);
}

// ---------------------------------------------------------------- scalars

TEST(Inheritance, HttpValueReachesServerAndLocation) {
    auto l = load_ok("events {}\nhttp {\nproxy_read_timeout 5s;\nclient_max_body_size 2m;\n"
                     "server {\nlocation / { }\n}\n}\n");
    EXPECT_EQ(*l->server().conf.proxy_read_timeout, 5000u);
    EXPECT_EQ(*l->loc(0).conf.proxy_read_timeout, 5000u);
    EXPECT_EQ(*l->loc(0).conf.client_max_body_size, 2u * 1024 * 1024);
    EXPECT_EQ(*l->server().fallback.conf.proxy_read_timeout, 5000u);
}

TEST(Inheritance, ServerOverridesHttpLocationOverridesServer) {
    auto l = load_ok("events {}\nhttp {\nproxy_read_timeout 5s;\nkeepalive_timeout 10s;\n"
                     "server {\nproxy_read_timeout 6s;\n"
                     "location /a { proxy_read_timeout 7s; }\n"
                     "location /b { }\n}\n"
                     "server { location / { } }\n}\n");
    EXPECT_EQ(*l->http().conf.proxy_read_timeout, 5000u);
    EXPECT_EQ(*l->server(0).conf.proxy_read_timeout, 6000u);
    EXPECT_EQ(*l->loc(0).conf.proxy_read_timeout, 7000u);
    EXPECT_EQ(*l->loc(1).conf.proxy_read_timeout, 6000u);
    EXPECT_EQ(*l->loc(0, 1).conf.proxy_read_timeout, 5000u);
    // untouched at every level: http's value
    EXPECT_EQ(*l->loc(0).conf.keepalive_timeout, 10000u);
}

TEST(Inheritance, NestedLocationInheritsFromParentLocation) {
    auto l = load_ok("events {}\nhttp {\nserver {\nproxy_buffering off;\n"
                     "location /a/ {\n  proxy_read_timeout 9s;\n  proxy_http_version 1.0;\n"
                     "  location /a/b/ { }\n"
                     "  location /a/c/ { proxy_read_timeout 3s; }\n"
                     "}\n}\n}\n");
    const LocConf& b = l->nested(0, 0).conf;
    EXPECT_EQ(*b.proxy_read_timeout, 9000u);
    EXPECT_EQ(*b.proxy_http_version, 10);
    EXPECT_FALSE(*b.proxy_buffering);  // from the server, through the parent
    const LocConf& c = l->nested(0, 1).conf;
    EXPECT_EQ(*c.proxy_read_timeout, 3000u);
    EXPECT_EQ(*c.proxy_http_version, 10);
}

TEST(Inheritance, FlagOffIsInheritedNotReplacedByDefault) {
    auto l = load_ok("events {}\nhttp {\nserver_tokens off;\nproxy_request_buffering off;\n"
                     "server { location / { } location /x { server_tokens on; } }\n}\n");
    EXPECT_FALSE(*l->loc(0).conf.server_tokens);
    EXPECT_FALSE(*l->loc(0).conf.proxy_request_buffering);
    EXPECT_TRUE(*l->loc(1).conf.server_tokens);
}

TEST(Inheritance, ServerLevelOnlyDirectivesReachLocations) {
    auto l = load_ok("events {}\nhttp {\nlarge_client_header_buffers 2 4k;\n"
                     "server {\nmerge_slashes off;\nclient_header_buffer_size 2k;\nlocation / { }\n}\n}\n");
    EXPECT_EQ(*l->server().conf.large_client_header_buffers, std::make_pair(2, size_t(4096)));
    EXPECT_FALSE(*l->server().conf.merge_slashes);
    EXPECT_EQ(*l->server().conf.client_header_buffer_size, 2048u);
    EXPECT_FALSE(*l->loc(0).conf.merge_slashes);
}

TEST(Inheritance, RelativeRootResolvesAgainstPrefix) {
    auto l = load_ok("events {}\nhttp {\nroot www;\nserver {\nlocation / { }\nlocation /abs { root /srv/x; }\n}\n}\n");
    EXPECT_EQ(l->loc(0).conf.root->literal(), l->dir.path() + "/www");
    EXPECT_EQ(l->loc(1).conf.root->literal(), "/srv/x");
}

// ---------------------------------------------------------------- arrays

TEST(Inheritance, ProxySetHeaderInheritedWhenLocationSetsNone) {
    auto l = load_ok("events {}\nhttp {\nserver {\n"
                     "proxy_set_header Host $host;\n"
                     "proxy_set_header X-Real-IP $remote_addr;\n"
                     "location / { }\n}\n}\n");
    EXPECT_EQ(header_names(l->loc(0).conf.proxy_set_header), (Strings{"Host=$host", "X-Real-IP=$remote_addr"}));
    EXPECT_EQ(header_names(l->server().fallback.conf.proxy_set_header),
              (Strings{"Host=$host", "X-Real-IP=$remote_addr"}));
}

TEST(Inheritance, ProxySetHeaderReplacedNotMergedWhenLocationSetsAny) {
    auto l = load_ok("events {}\nhttp {\nproxy_set_header X-From-Http 1;\nserver {\n"
                     "proxy_set_header Host $host;\n"
                     "proxy_set_header X-Real-IP $remote_addr;\n"
                     "location /a { proxy_set_header X-Only a; }\n"
                     "location /b { }\n}\n"
                     "server { location / { } }\n}\n");
    EXPECT_EQ(header_names(l->loc(0).conf.proxy_set_header), (Strings{"X-Only=a"}));
    EXPECT_EQ(header_names(l->loc(1).conf.proxy_set_header), (Strings{"Host=$host", "X-Real-IP=$remote_addr"}));
    // the second server sets none: the http list
    EXPECT_EQ(header_names(l->loc(0, 1).conf.proxy_set_header), (Strings{"X-From-Http=1"}));
}

TEST(Inheritance, ProxySetHeaderInNestedLocation) {
    auto l = load_ok("events {}\nhttp {\nserver {\nproxy_set_header S s;\n"
                     "location /a/ {\n  proxy_set_header A a;\n"
                     "  location /a/in/ { }\n"
                     "  location /a/own/ { proxy_set_header N n; }\n"
                     "}\n}\n}\n");
    EXPECT_EQ(header_names(l->nested(0, 0).conf.proxy_set_header), (Strings{"A=a"}));
    EXPECT_EQ(header_names(l->nested(0, 1).conf.proxy_set_header), (Strings{"N=n"}));
}

TEST(Inheritance, ProxySetHeaderOrderPreserved) {
    auto l = load_ok("events {}\nhttp {\nserver {\nlocation / {\n"
                     "proxy_set_header C 3;\nproxy_set_header A 1;\nproxy_set_header B 2;\n}\n}\n}\n");
    EXPECT_EQ(header_names(l->loc(0).conf.proxy_set_header), (Strings{"C=3", "A=1", "B=2"}));
}

TEST(Inheritance, AddHeaderSameRule) {
    auto l = load_ok("events {}\nhttp {\nadd_header X-Http h;\nserver {\n"
                     "add_header X-Server s always;\n"
                     "location /a { add_header X-Loc l; }\n"
                     "location /b { }\n"
                     "location /c/ {\n  location /c/d/ { }\n}\n}\n"
                     "server { location / { } }\n}\n");
    EXPECT_EQ(add_header_names(l->loc(0).conf.add_header), (Strings{"X-Loc=l"}));
    EXPECT_EQ(add_header_names(l->loc(1).conf.add_header), (Strings{"X-Server=s"}));
    EXPECT_TRUE(l->loc(1).conf.add_header->at(0).always);
    EXPECT_EQ(add_header_names(l->nested(2, 0).conf.add_header), (Strings{"X-Server=s"}));
    EXPECT_EQ(add_header_names(l->loc(0, 1).conf.add_header), (Strings{"X-Http=h"}));
}

TEST(Inheritance, ErrorPageSameRule) {
    auto l = load_ok("events {}\nhttp {\nserver {\nerror_page 404 /404.html;\nerror_page 502 /502.html;\n"
                     "location /a { error_page 500 /500.html; }\nlocation /b { }\n}\n}\n");
    ASSERT_EQ(l->loc(0).conf.error_page->size(), 1u);
    EXPECT_EQ(l->loc(0).conf.error_page->at(0).codes, std::vector<int>{500});
    ASSERT_EQ(l->loc(1).conf.error_page->size(), 2u);
    EXPECT_EQ(l->loc(1).conf.error_page->at(1).codes, std::vector<int>{502});
}

TEST(Inheritance, AccessLogSameRule) {
    auto l = load_ok("events {}\nhttp {\naccess_log logs/http.log;\nserver {\n"
                     "location /a { access_log logs/a.log; }\nlocation /b { }\nlocation /c { access_log off; }\n}\n}\n");
    ASSERT_EQ(l->loc(0).conf.access_log->size(), 1u);
    EXPECT_EQ(l->loc(0).conf.access_log->at(0).path, l->dir.path() + "/logs/a.log");
    ASSERT_EQ(l->loc(1).conf.access_log->size(), 1u);
    EXPECT_EQ(l->loc(1).conf.access_log->at(0).path, l->dir.path() + "/logs/http.log");
    EXPECT_TRUE(l->loc(2).conf.access_log->at(0).off);
}

TEST(Inheritance, ProxyHideHeaderAndRedirect) {
    auto l = load_ok("events {}\nhttp {\nproxy_hide_header X-Powered-By;\nproxy_redirect off;\nserver {\n"
                     "location /a { proxy_hide_header Server; }\nlocation /b { }\n"
                     "location /c { proxy_redirect http://up/ /; }\n}\n}\n");
    EXPECT_EQ(*l->loc(0).conf.proxy_hide_header, (Strings{"Server"}));
    EXPECT_EQ(*l->loc(1).conf.proxy_hide_header, (Strings{"X-Powered-By"}));
    EXPECT_EQ(l->loc(1).conf.proxy_redirect->mode, ProxyRedirect::Mode::Off);
    EXPECT_EQ(l->loc(2).conf.proxy_redirect->mode, ProxyRedirect::Mode::Replace);
    ASSERT_EQ(l->loc(2).conf.proxy_redirect->rules.size(), 1u);
}

// ---------------------------------------------------------------- merge_from directly

TEST(Inheritance, MergeFromFillsOnlyUnsetFields) {
    LocConf parent, child;
    parent.proxy_read_timeout = 1;
    parent.proxy_connect_timeout = 2;
    parent.proxy_set_header = std::vector<HeaderEntry>{{"A", {}}};
    child.proxy_read_timeout = 9;
    child.proxy_set_header = std::vector<HeaderEntry>{};  // set, but empty: still "set"
    child.merge_from(parent);
    EXPECT_EQ(*child.proxy_read_timeout, 9u);
    EXPECT_EQ(*child.proxy_connect_timeout, 2u);
    EXPECT_TRUE(child.proxy_set_header->empty());
    EXPECT_FALSE(child.proxy_send_timeout.has_value());
}

TEST(Inheritance, ApplyDefaultsKeepsSetFields) {
    LocConf c;
    c.keepalive_timeout = 5;
    c.proxy_http_version = 10;
    c.apply_defaults("/p/");
    EXPECT_EQ(*c.keepalive_timeout, 5u);
    EXPECT_EQ(*c.proxy_http_version, 10);
    EXPECT_EQ(*c.proxy_read_timeout, 60000u);
    EXPECT_EQ(c.root->literal(), "/p/html");
    // the default access_log (prefix/logs/access.log, combined) is load()'s job
    EXPECT_FALSE(c.access_log.has_value());
    c.access_log.emplace();
    expect_all_set(c);
}

}  // namespace
}  // namespace sy::conf

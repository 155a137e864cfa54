// compile_template / resolve_var (src/config/template.h): nginx's variable
// syntax ($name, ${name}, $1..$9, prefix families) and its error wording.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/template.h"

namespace sy::conf {
namespace {

Template compile_ok(std::string_view text, const VarScope* scope = nullptr) {
    Template t;
    std::string err;
    EXPECT_TRUE(compile_template(text, scope, t, err)) << "unexpected error for \"" << text << "\": " << err;
    return t;
}

std::string compile_err(std::string_view text, const VarScope* scope = nullptr) {
    Template t;
    std::string err;
    EXPECT_FALSE(compile_template(text, scope, t, err)) << "expected an error for \"" << text << "\"";
    return err;
}

// Segments as compact strings: L:literal, V:<kind>[:arg|#index]
std::string kind_name(Var v) {
    switch (v) {
    case Var::HttpHeader: return "http";
    case Var::SentHttp: return "sent_http";
    case Var::UpstreamHttp: return "upstream_http";
    case Var::Arg: return "arg";
    case Var::Cookie: return "cookie";
    case Var::Capture: return "capture";
    case Var::NamedCapture: return "named";
    case Var::Map: return "map";
    case Var::Host: return "host";
    case Var::RemoteAddr: return "remote_addr";
    case Var::RemotePort: return "remote_port";
    case Var::RequestUri: return "request_uri";
    case Var::Uri: return "uri";
    case Var::Args: return "args";
    case Var::Scheme: return "scheme";
    case Var::Status: return "status";
    case Var::ProxyAddXForwardedFor: return "proxy_add_x_forwarded_for";
    default: return "other(" + std::to_string(int(v)) + ")";
    }
}

std::vector<std::string> segs(const Template& t) {
    std::vector<std::string> out;
    for (auto& s : t.segs) {
        if (s.var.kind == Var::None) {
            out.push_back("L:" + s.literal);
            continue;
        }
        std::string v = "V:" + kind_name(s.var.kind);
        if (!s.var.arg.empty()) v += ":" + s.var.arg;
        if (s.var.kind == Var::Capture || s.var.kind == Var::Map) v += "#" + std::to_string(s.var.index);
        out.push_back(v);
    }
    return out;
}
using Strings = std::vector<std::string>;

class TestScope : public VarScope {
public:
    bool lookup(std::string_view name, VarRef& ref) const override {
        if (name == "mymap") {
            ref.kind = Var::Map;
            ref.index = 3;
            return true;
        }
        if (name == "user") {
            ref.kind = Var::NamedCapture;
            ref.arg = "user";
            return true;
        }
        return false;
    }
};

// ---------------------------------------------------------------- literals

TEST(Template, LiteralOnly) {
    Template t = compile_ok("hello world");
    EXPECT_EQ(segs(t), Strings{"L:hello world"});
    EXPECT_FALSE(t.has_vars());
    EXPECT_FALSE(t.empty());
    EXPECT_EQ(t.literal(), "hello world");
    EXPECT_EQ(t.source, "hello world");
}

TEST(Template, EmptyString) {
    Template t = compile_ok("");
    EXPECT_TRUE(t.empty());
    EXPECT_FALSE(t.has_vars());
    EXPECT_EQ(t.literal(), "");
}

TEST(Template, SpecialCharactersStayLiteral) {
    EXPECT_EQ(segs(compile_ok("{a} \"b\" 'c' %20 \\n")), Strings{"L:{a} \"b\" 'c' %20 \\n"});
}

// ---------------------------------------------------------------- variables

TEST(Template, SingleVariable) {
    Template t = compile_ok("$host");
    EXPECT_EQ(segs(t), Strings{"V:host"});
    EXPECT_TRUE(t.has_vars());
    EXPECT_EQ(t.source, "$host");
}

TEST(Template, VariablesAndLiteralsInterleaved) {
    EXPECT_EQ(segs(compile_ok("pre-$remote_addr:$remote_port/post")),
              (Strings{"L:pre-", "V:remote_addr", "L::", "V:remote_port", "L:/post"}));
    EXPECT_EQ(segs(compile_ok("$scheme://$host$request_uri")),
              (Strings{"V:scheme", "L:://", "V:host", "V:request_uri"}));
}

TEST(Template, VariableNameEndsAtNonNameCharacter) {
    EXPECT_EQ(segs(compile_ok("$uri.bak")), (Strings{"V:uri", "L:.bak"}));
    EXPECT_EQ(segs(compile_ok("$uri-x")), (Strings{"V:uri", "L:-x"}));
    EXPECT_EQ(segs(compile_ok("$args?")), (Strings{"V:args", "L:?"}));
}

TEST(Template, BracedVariableWithSuffix) {
    EXPECT_EQ(segs(compile_ok("${host}suffix")), (Strings{"V:host", "L:suffix"}));
    EXPECT_EQ(segs(compile_ok("a${uri}b${args}")), (Strings{"L:a", "V:uri", "L:b", "V:args"}));
}

TEST(Template, UnbracedNameSwallowsFollowingLetters) {
    // "$hostsuffix" is one (unknown) name, which is why ${} exists.
    EXPECT_EQ(compile_err("$hostsuffix"), "unknown \"hostsuffix\" variable");
}

TEST(Template, PositionalCaptures) {
    EXPECT_EQ(segs(compile_ok("$1")), Strings{"V:capture#1"});
    EXPECT_EQ(segs(compile_ok("/$2/$1")), (Strings{"L:/", "V:capture#2", "L:/", "V:capture#1"}));
    // like nginx, only one digit: "$10" is $1 followed by "0"
    EXPECT_EQ(segs(compile_ok("$10")), (Strings{"V:capture#1", "L:0"}));
    EXPECT_EQ(segs(compile_ok("$1x")), (Strings{"V:capture#1", "L:x"}));
    EXPECT_EQ(segs(compile_ok("${1}0")), (Strings{"V:capture#1", "L:0"}));
}

TEST(Template, HttpHeaderNameMapping) {
    EXPECT_EQ(segs(compile_ok("$http_x_forwarded_for")), Strings{"V:http:x-forwarded-for"});
    EXPECT_EQ(segs(compile_ok("$http_X_Real_IP")), Strings{"V:http:x-real-ip"});
    EXPECT_EQ(segs(compile_ok("$http_host")), Strings{"V:http:host"});
    EXPECT_EQ(segs(compile_ok("$sent_http_content_type")), Strings{"V:sent_http:content-type"});
    EXPECT_EQ(segs(compile_ok("$upstream_http_x_cache")), Strings{"V:upstream_http:x-cache"});
}

TEST(Template, ArgAndCookieKeepTheirNames) {
    EXPECT_EQ(segs(compile_ok("$arg_page")), Strings{"V:arg:page"});
    EXPECT_EQ(segs(compile_ok("$arg_a_b")), Strings{"V:arg:a_b"});
    EXPECT_EQ(segs(compile_ok("$cookie_session_id")), Strings{"V:cookie:session_id"});
}

// nginx conformance (a bug found by this test, now fixed): nginx accepts a prefix variable with an empty suffix ("$http_",
// "$arg_", "$cookie_" evaluate to an empty value; nginx 1.22.1 serves
// `return 200 "[$http_][$arg_][$cookie_]"` as "[][][]"); switchyard refuses
// the configuration with `unknown "http_" variable`.
TEST(Template, PrefixWithEmptySuffixIsAVariable) {
    EXPECT_EQ(segs(compile_ok("$http_")), Strings{"V:http"});
    EXPECT_EQ(segs(compile_ok("$arg_")), Strings{"V:arg"});
    EXPECT_EQ(segs(compile_ok("$cookie_")), Strings{"V:cookie"});
}

TEST(Template, ScopeResolvesUserVariables) {
    TestScope scope;
    EXPECT_EQ(segs(compile_ok("x$mymap", &scope)), (Strings{"L:x", "V:map#3"}));
    EXPECT_EQ(segs(compile_ok("${user}", &scope)), Strings{"V:named:user"});
    // without the scope they are unknown
    EXPECT_EQ(compile_err("$mymap"), "unknown \"mymap\" variable");
    // built-ins still resolve with a scope
    EXPECT_EQ(segs(compile_ok("$host", &scope)), Strings{"V:host"});
}

// ---------------------------------------------------------------- errors

TEST(Template, UnknownVariable) {
    EXPECT_EQ(compile_err("$foo"), "unknown \"foo\" variable");
    EXPECT_EQ(compile_err("a ${foo} b"), "unknown \"foo\" variable");
    EXPECT_EQ(compile_err("$host$nope"), "unknown \"nope\" variable");
}

TEST(Template, MissingClosingBracket) {
    EXPECT_EQ(compile_err("${host"), "the closing bracket in \"host\" variable is missing");
    EXPECT_EQ(compile_err("x${a"), "the closing bracket in \"a\" variable is missing");
}

// nginx conformance (a bug found by this test, now fixed): nginx stops the name at the first non-name character and names only
// that in the message (ngx_http_script_compile; checked with nginx 1.22.1):
// "${host rest" -> `the closing bracket in "host" variable is missing`
// (switchyard: `... in "host rest" variable ...`), and "${a-b}" -> `the
// closing bracket in "a" variable is missing` (switchyard: `invalid variable name`).
TEST(Template, MissingClosingBracketNamesOnlyTheVariable) {
    EXPECT_EQ(compile_err("${host rest"), "the closing bracket in \"host\" variable is missing");
    EXPECT_EQ(compile_err("${a-b}"), "the closing bracket in \"a\" variable is missing");
}

TEST(Template, InvalidVariableName) {
    EXPECT_EQ(compile_err("a$"), "invalid variable name");
    EXPECT_EQ(compile_err("$ x"), "invalid variable name");
    EXPECT_EQ(compile_err("${}"), "invalid variable name");
    EXPECT_EQ(compile_err("$-"), "invalid variable name");
}

// nginx conformance (a bug found by this test, now fixed): nginx variable names are case-insensitive (ngx_http_get_variable_index
// compares with ngx_strncasecmp and stores them lowercased), so `$Host` and
// `$REQUEST_URI` work in nginx (1.22.1: `return 200 "$Host"` answers the
// host); switchyard refuses the configuration: `unknown "Host" variable`.
TEST(Template, VariableNamesAreCaseInsensitive) {
    EXPECT_EQ(segs(compile_ok("$Host")), Strings{"V:host"});
    EXPECT_EQ(segs(compile_ok("$REQUEST_URI")), Strings{"V:request_uri"});
}

// ---------------------------------------------------------------- resolve_var

TEST(Template, ResolveVarDirect) {
    VarRef r;
    EXPECT_TRUE(resolve_var("host", nullptr, r));
    EXPECT_EQ(r.kind, Var::Host);
    EXPECT_TRUE(resolve_var("proxy_add_x_forwarded_for", nullptr, r));
    EXPECT_EQ(r.kind, Var::ProxyAddXForwardedFor);
    EXPECT_TRUE(resolve_var("status", nullptr, r));
    EXPECT_EQ(r.kind, Var::Status);
    EXPECT_TRUE(resolve_var("upstream_addr", nullptr, r));
    EXPECT_EQ(r.kind, Var::UpstreamAddr);
    EXPECT_TRUE(resolve_var("http_user_agent", nullptr, r));
    EXPECT_EQ(r.kind, Var::HttpHeader);
    EXPECT_EQ(r.arg, "user-agent");
    EXPECT_TRUE(resolve_var("7", nullptr, r));
    EXPECT_EQ(r.kind, Var::Capture);
    EXPECT_EQ(r.index, 7u);
    EXPECT_FALSE(resolve_var("nosuch", nullptr, r));
    EXPECT_EQ(r.kind, Var::None);
    EXPECT_FALSE(resolve_var("", nullptr, r));
}

TEST(Template, ResolveVarResetsOutput) {
    VarRef r;
    r.kind = Var::Host;
    r.arg = "stale";
    r.index = 9;
    EXPECT_TRUE(resolve_var("uri", nullptr, r));
    EXPECT_EQ(r.kind, Var::Uri);
    EXPECT_EQ(r.arg, "");
    EXPECT_EQ(r.index, 0u);
}

TEST(Template, EveryDocumentedCoreVariableResolves) {
    for (const char* n : {"host", "remote_addr", "remote_port", "binary_remote_addr", "server_addr", "server_port",
                          "server_name", "server_protocol", "scheme", "https", "request", "request_uri", "uri",
                          "document_uri", "args", "query_string", "is_args", "request_method", "content_length",
                          "content_type", "request_length", "request_body", "remote_user", "document_root",
                          "request_filename", "hostname", "pid", "nginx_version", "connection",
                          "connection_requests", "pipe", "proxy_host", "proxy_port", "proxy_add_x_forwarded_for",
                          "status", "body_bytes_sent", "bytes_sent", "request_time", "msec", "time_local",
                          "time_iso8601", "upstream_addr", "upstream_status", "upstream_response_time",
                          "upstream_connect_time", "upstream_header_time", "upstream_bytes_received",
                          "upstream_bytes_sent"}) {
        VarRef r;
        EXPECT_TRUE(resolve_var(n, nullptr, r)) << n;
        EXPECT_NE(r.kind, Var::None) << n;
    }
}

TEST(Template, RecompileResetsTheTemplate) {
    Template t;
    std::string err;
    ASSERT_TRUE(compile_template("$host-a", nullptr, t, err));
    ASSERT_TRUE(compile_template("b", nullptr, t, err));
    EXPECT_EQ(segs(t), Strings{"L:b"});
    EXPECT_EQ(t.source, "b");
}

}  // namespace
}  // namespace sy::conf

// ngx_http_rewrite_module's configuration: parse_if_condition() (every
// condition kind and nginx's messages) and what the loader builds for
// `set`, `if`, `break`, `rewrite_log`, `uninitialized_variable_warn`, with
// nginx's errors "in FILE:LINE".
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/conf.h"
#include "config/if_condition.h"
#include "config/loader.h"
#include "test_support.h"

namespace sy::conf {
namespace {

using Strings = std::vector<std::string>;

IfCondition cond_ok(const Strings& args) {
    IfCondition c;
    std::string err;
    EXPECT_TRUE(parse_if_condition(args, nullptr, c, err)) << err;
    return c;
}

std::string cond_err(const Strings& args) {
    IfCondition c;
    std::string err;
    EXPECT_FALSE(parse_if_condition(args, nullptr, c, err));
    return err;
}

TEST(IfCondition, VariableAlone) {
    auto c = cond_ok({"($host)"});
    EXPECT_EQ(c.kind, IfCondition::Kind::Var);
    ASSERT_EQ(c.lhs.segs.size(), 1u);
    EXPECT_EQ(c.lhs.segs[0].var.kind, Var::Host);
    EXPECT_EQ(cond_ok({"(", "$http_x_a", ")"}).lhs.segs[0].var.kind, Var::HttpHeader);
    EXPECT_EQ(cond_ok({"($1)"}).lhs.segs[0].var.kind, Var::Capture);
}

TEST(IfCondition, EqualAndNotEqual) {
    auto c = cond_ok({"($request_method", "=", "POST)"});
    EXPECT_EQ(c.kind, IfCondition::Kind::Equal);
    EXPECT_EQ(c.rhs.literal(), "POST");
    c = cond_ok({"(", "$uri", "!=", "/x$args", ")"});
    EXPECT_EQ(c.kind, IfCondition::Kind::NotEqual);
    EXPECT_TRUE(c.rhs.has_vars());
    c = cond_ok({"($arg_a", "=", "", ")"});   // `if ($arg_a = "")`
    EXPECT_EQ(c.kind, IfCondition::Kind::Equal);
    EXPECT_TRUE(c.rhs.empty());
}

TEST(IfCondition, RegexOperators) {
    struct { const char* op; bool caseless, negate; } ops[] = {
        {"~", false, false}, {"~*", true, false}, {"!~", false, true}, {"!~*", true, true}};
    for (auto& o : ops) {
        auto c = cond_ok({"($uri", o.op, "^/a(b)$)"});
        EXPECT_EQ(c.kind, IfCondition::Kind::Match) << o.op;
        EXPECT_EQ(c.negate, o.negate) << o.op;
        ASSERT_TRUE(c.regex) << o.op;
        EXPECT_EQ(c.regex->source(), "^/a(b)$");
        EXPECT_EQ(c.regex->match("/AB"), o.caseless) << o.op;
        EXPECT_TRUE(c.regex->match("/ab"));
    }
    // a regex ending in ')' keeps it: only the last one closes the condition
    EXPECT_EQ(cond_ok({"($uri", "~", "(a))"}).regex->source(), "(a)");
}

TEST(IfCondition, FileOperators) {
    for (char op : std::string("fdex")) {
        auto c = cond_ok({"(-" + std::string(1, op), "$request_filename)"});
        EXPECT_EQ(c.kind, IfCondition::Kind::File);
        EXPECT_EQ(c.file_op, op);
        EXPECT_FALSE(c.negate);
        c = cond_ok({"(", "!-" + std::string(1, op), "/etc/passwd", ")"});
        EXPECT_EQ(c.file_op, op);
        EXPECT_TRUE(c.negate);
        EXPECT_EQ(c.lhs.literal(), "/etc/passwd");
    }
}

TEST(IfCondition, NginxMessages) {
    EXPECT_EQ(cond_err({"$a)"}), "invalid condition \"$a)\"");
    EXPECT_EQ(cond_err({"($a"}), "invalid condition \"$a\"");
    EXPECT_EQ(cond_err({"(", "$a"}), "invalid condition \"$a\"");
    EXPECT_EQ(cond_err({"()"}), "invalid condition \")\"");
    EXPECT_EQ(cond_err({"(", ")"}), "invalid condition \")\"");
    EXPECT_EQ(cond_err({"(a)"}), "invalid condition \"a\"");
    EXPECT_EQ(cond_err({"($uri", "=", "b", "c)"}), "invalid condition \"$uri\"");
    EXPECT_EQ(cond_err({"($uri", "==", "b)"}), "unexpected \"==\" in condition");
    EXPECT_EQ(cond_err({"($uri", "<", "b)"}), "unexpected \"<\" in condition");
    EXPECT_EQ(cond_err({"(-z", "/x)"}), "invalid condition \"-z\"");
    EXPECT_EQ(cond_err({"(!-q", "/x)"}), "invalid condition \"!-q\"");
    EXPECT_EQ(cond_err({"(-f)"}), "invalid condition \"-f\"");
    EXPECT_EQ(cond_err({"(-f", "/a", "/b)"}), "invalid condition \"-f\"");
    EXPECT_EQ(cond_err({"($nosuchvar)"}), "unknown \"nosuchvar\" variable");
    EXPECT_EQ(cond_err({"($a1b2c)"}), "unknown \"a1b2c\" variable");
    EXPECT_EQ(cond_err({"($12)"}), "unknown \"12\" variable");
    EXPECT_EQ(cond_err({"($uri", "=", "$nosuch)"}), "unknown \"nosuch\" variable");
    std::string e = cond_err({"($uri", "~", "(a)"});   // `if ($uri ~ (a)`: the pattern is "(a"
    EXPECT_EQ(e.rfind("pcre2_compile() failed: missing closing parenthesis in \"(a\"", 0), 0u) << e;
    EXPECT_EQ(cond_err({}), "invalid condition \"\"");
}

TEST(IfCondition, RegexOfArgs) {
    bool ci = false;
    EXPECT_EQ(if_condition_regex({"($uri", "~*", "^/(?<x>a)$)"}, ci), "^/(?<x>a)$");
    EXPECT_TRUE(ci);
    EXPECT_EQ(if_condition_regex({"(", "$uri", "!~", "b", ")"}, ci), "b");
    EXPECT_FALSE(ci);
    EXPECT_EQ(if_condition_regex({"($uri", "=", "b)"}, ci), "");
}

// ---------------------------------------------------------------- loader

struct Loaded {
    test::TempDir dir;
    std::string conf;
    std::shared_ptr<Config> cfg;
    std::string err;
};

std::unique_ptr<Loaded> load_text(std::string_view text) {
    auto l = std::make_unique<Loaded>();
    l->conf = l->dir.write("nginx.conf", text);
    LoadOptions o;
    o.prefix = l->dir.path();
    o.conf_file = "nginx.conf";
    auto r = load(o);
    if (auto* e = std::get_if<std::string>(&r)) l->err = *e;
    else l->cfg = std::get<std::shared_ptr<Config>>(r);
    return l;
}

std::string err(std::string_view text) {
    auto l = load_text(text);
    EXPECT_FALSE(l->err.empty()) << "expected an error for:\n" << text;
    std::string e = l->err;
    for (size_t p; (p = e.find(l->conf)) != std::string::npos;) e.replace(p, l->conf.size(), "F");
    return e;
}

// "events {}" line 1, "http {" 2, "server {" 3, "location / {" 4: the body starts at line 5
std::string in_location(std::string_view body) {
    return "events {}\nhttp {\nserver {\nlocation / {\n" + std::string(body) + "\n}\n}\n}\n";
}
std::string in_server(std::string_view body) { return "events {}\nhttp {\nserver {\n" + std::string(body) + "\n}\n}\n"; }

TEST(RewriteConfig, IfErrorsHaveFileAndLine) {
    EXPECT_EQ(err(in_location("if ($uri ~ \"(a\") {\nreturn 200;\n}")).rfind(
                  "pcre2_compile() failed: missing closing parenthesis in \"(a\"", 0),
              0u);
    EXPECT_NE(err(in_location("if ($uri ~ \"(a\") {\nreturn 200;\n}")).find(" in F:5"), std::string::npos);
    EXPECT_EQ(err(in_location("\nif ($uri == b) { }")), "unexpected \"==\" in condition in F:6");
    EXPECT_EQ(err(in_location("if $a { }")), "invalid condition \"$a\" in F:5");
    EXPECT_EQ(err(in_location("if (-q /x) { }")), "invalid condition \"-q\" in F:5");
    EXPECT_EQ(err(in_server("if ($nosuch) { }")), "unknown \"nosuch\" variable in F:4");
    EXPECT_EQ(err(in_location("if ($uri) {\nlocation /x { }\n}")), "\"location\" directive is not allowed here in F:6");
    EXPECT_EQ(err(in_location("if ($uri) {\nif ($uri) { }\n}")), "\"if\" directive is not allowed here in F:6");
    EXPECT_EQ(err(in_location("if ($uri) {\nproxy_set_header A b;\n}")),
              "\"proxy_set_header\" directive is not allowed here in F:6");
    EXPECT_EQ(err(in_server("if ($uri) {\nroot /x;\n}")), "\"root\" directive is not allowed here in F:5");
    EXPECT_EQ(err(in_location("if ($uri) {\nno_such_directive;\n}")), "unknown directive \"no_such_directive\" in F:6");
    EXPECT_EQ(err(in_location("if ($uri) {\nproxy_pass http://127.0.0.1:9/x;\n}")),
              "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, "
              "or inside \"if\" statement, or inside \"limit_except\" block in F:6");
    EXPECT_EQ(err(in_location("if ($uri);")), "directive \"if\" has no opening \"{\" in F:5");
    EXPECT_EQ(err("events {}\nhttp {\nif ($uri) { }\n}\n"), "\"if\" directive is not allowed here in F:3");
}

TEST(RewriteConfig, SetErrors) {
    EXPECT_EQ(err(in_location("set a 1;")), "invalid variable name \"a\" in F:5");
    EXPECT_EQ(err(in_location("set $ 1;")), "invalid variable name \"$\" in F:5");
    EXPECT_EQ(err(in_location("set $uri /x;")), "the duplicate \"uri\" variable in F:5");
    EXPECT_EQ(err(in_location("set $a $nosuch;")), "unknown \"nosuch\" variable in F:5");
    EXPECT_EQ(err(in_location("set $a;")), "invalid number of arguments in \"set\" directive in F:5");
    EXPECT_EQ(err("events {}\nhttp {\nset $a 1;\n}\n"), "\"set\" directive is not allowed here in F:3");
    EXPECT_EQ(err(in_location("break 1;")), "invalid number of arguments in \"break\" directive in F:5");
    EXPECT_EQ(err(in_location("rewrite_log maybe;")),
              "invalid value \"maybe\" in \"rewrite_log\" directive, it must be \"on\" or \"off\" in F:5");
}

TEST(RewriteConfig, BuildsSteps) {
    auto l = load_text(
        "events {}\nhttp {\nlog_format f \"$v\";\nrewrite_log on;\nserver {\nset $v \"a$host\";\n"
        "if ($v = ah) { return 403; }\nlocation / {\nuninitialized_variable_warn off;\nroot html;\n"
        "proxy_pass http://127.0.0.1:9;\nif ($arg_a) { add_header X-A 1; break; }\n"
        "if ($arg_b) { root other; proxy_pass http://127.0.0.1:10; }\nset $args x=1;\n}\n}\n}\n");
    ASSERT_TRUE(l->cfg) << l->err;
    const Http& h = *l->cfg->http;
    ASSERT_EQ(h.user_var_names.size(), 1u);   // $v, seen by log_format before its `set`
    EXPECT_EQ(h.user_var_names[0], "v");
    EXPECT_EQ(h.log_formats.back()->fmt.segs.at(0).var.kind, Var::User);
    const Server& s = *h.servers.at(0);
    ASSERT_EQ(s.rewrites.size(), 2u);
    EXPECT_EQ(s.rewrites[0].kind, RewriteStep::Kind::Set);
    EXPECT_EQ(s.rewrites[0].target.kind, Var::User);
    EXPECT_EQ(s.rewrites[1].kind, RewriteStep::Kind::If);
    ASSERT_EQ(s.rewrites[1].block->rewrites.size(), 1u);
    EXPECT_EQ(s.rewrites[1].block->rewrites[0].kind, RewriteStep::Kind::Return);
    EXPECT_TRUE(*s.rewrites[1].block->conf.rewrite_log);   // merged from the server

    const Location& loc = *s.locations.all.at(0);
    ASSERT_EQ(loc.rewrites.size(), 3u);
    const Location& a = *loc.rewrites[0].block;
    EXPECT_EQ(a.if_parent, &loc);
    EXPECT_EQ(a.rewrites.at(0).kind, RewriteStep::Kind::Break);
    ASSERT_TRUE(a.conf.add_header);
    EXPECT_FALSE(loc.conf.add_header && !loc.conf.add_header->empty());
    EXPECT_FALSE(*a.conf.uninitialized_variable_warn);     // merged from the location
    ASSERT_TRUE(a.proxy_pass);                             // inherited, as nginx's unnamed locations
    EXPECT_EQ(a.proxy_pass->url, "http://127.0.0.1:9");
    EXPECT_EQ(a.conf.root->literal(), l->dir.path() + "/html");
    const Location& b = *loc.rewrites[1].block;
    EXPECT_EQ(b.proxy_pass->url, "http://127.0.0.1:10");
    ASSERT_TRUE(b.proxy_pass->upstream);
    EXPECT_EQ(b.conf.root->literal(), l->dir.path() + "/other");
    EXPECT_EQ(loc.rewrites[2].target.kind, Var::Args);
    EXPECT_TRUE(*h.conf.uninitialized_variable_warn);   // nginx: on by default
    EXPECT_TRUE(*h.conf.rewrite_log);
}

TEST(RewriteConfig, NamedCapturesOfIfAreVariables) {
    auto l = load_text(in_location("return 200 $who;\nif ($uri ~ ^/(?<who>\\w+)) { }"));
    EXPECT_TRUE(l->cfg) << l->err;
}

TEST(RewriteConfig, SetOnMapVariable) {
    auto l = load_text("events {}\nhttp {\nmap $uri $m { default a; }\nserver {\nset $m b;\n}\n}\n");
    ASSERT_TRUE(l->cfg) << l->err;
    EXPECT_EQ(l->cfg->http->servers[0]->rewrites.at(0).target.kind, Var::Map);
    EXPECT_TRUE(l->cfg->http->user_var_names.empty());
}

}  // namespace
}  // namespace sy::conf

#include "config/rewrite_directives.h"

#include <algorithm>
#include <cctype>

#include "config/if_condition.h"

namespace sy::conf {
namespace {

// A variable nginx defines itself and does not let `set` change.
bool is_core_fixed(const std::string& name) {
    VarRef ref;
    if (!resolve_var(name, nullptr, ref)) return false;
    switch (ref.kind) {
    case Var::None: case Var::HttpHeader: case Var::SentHttp: case Var::UpstreamHttp: case Var::Arg:
    case Var::UpstreamCookie: case Var::SentTrailer:
    case Var::Cookie: case Var::Capture: case Var::NamedCapture: case Var::Map: case Var::User:
    case Var::Args:   // $args is changeable
        return false;
    default:
        return true;
    }
}

// Directives nginx accepts inside `if` (NGX_HTTP_SIF_CONF / NGX_HTTP_LIF_CONF).
bool allowed_in_if(const std::string& n, bool server_level) {
    static constexpr std::string_view both[] = {"return", "rewrite", "set", "break", "rewrite_log",
                                                "uninitialized_variable_warn"};
    static constexpr std::string_view loc[] = {
        "root", "error_page", "access_log", "proxy_pass", "add_header", "add_trailer", "expires", "limit_rate",
        "limit_rate_after", "sendfile", "gzip", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass",
        "memcached_pass",
    };
    for (auto x : both)
        if (n == x) return true;
    if (server_level) return false;
    for (auto x : loc)
        if (n == x) return true;
    return false;
}

bool in_table(const std::string& n) {
    for (auto& s : directive_table())
        if (s.name == n) return true;
    return false;
}

}  // namespace

bool h_set(Ctx& c, const Directive& d) {
    const std::string& a0 = d.args[0].value;
    if (a0.empty() || a0[0] != '$') {
        c.err = "invalid variable name \"" + a0 + "\"";
        return false;
    }
    std::string name = ascii_lower(a0.substr(1));
    if (name.empty()) {
        c.err = "invalid variable name \"$\"";
        return false;
    }
    RewriteStep st;
    st.kind = RewriteStep::Kind::Set;
    st.where = d.where;
    if (auto it = c.http->map_index.find(name); it != c.http->map_index.end()) {
        st.target.kind = Var::Map;
        st.target.index = uint32_t(it->second);
    } else if (name == "args") {
        st.target.kind = Var::Args;
    } else if (is_core_fixed(name)) {
        c.err = "the duplicate \"" + name + "\" variable";
        return false;
    } else {
        auto it2 = c.http->user_var_index.find(name);
        if (it2 == c.http->user_var_index.end()) {   // prescan registers them all; defensive
            it2 = c.http->user_var_index.emplace(name, int(c.http->user_var_names.size())).first;
            c.http->user_var_names.push_back(name);
        }
        st.target.kind = Var::User;
        st.target.index = uint32_t(it2->second);
    }
    st.target.arg = name;
    if (!compile_value(c, d.args[1].value, st.replacement)) return false;
    c.rewrites->push_back(std::move(st));
    return true;
}

bool h_break(Ctx& c, const Directive& d) {
    RewriteStep st;
    st.kind = RewriteStep::Kind::Break;
    st.where = d.where;
    c.rewrites->push_back(std::move(st));
    return true;
}

bool h_if(Ctx& c, const Directive& d) {
    std::vector<std::string> args;
    for (auto& a : d.args) args.push_back(a.value);
    auto cond = std::make_shared<IfCondition>();
    std::string err;
    if (!parse_if_condition(args, &c.scope, *cond, err)) {
        c.err = err;
        return false;
    }
    if (cond->regex) c.note_named_captures(*cond->regex);
    bool server_level = c.context == kServer;
    auto blk = std::make_shared<Location>();
    blk->where = d.where;
    if (c.loc) {
        blk->name = c.loc->name;
        blk->match = c.loc->match;
        blk->regex = c.loc->regex;
        blk->internal = c.loc->internal;
        blk->if_parent = c.loc;
    } else {
        blk->if_parent = &c.server->fallback;
    }
    blk->nested = std::make_unique<LocationTree>();

    Ctx::Saved saved = c.save();
    c.loc = blk.get();
    c.lc = &blk->conf;
    c.tree = blk->nested.get();
    c.rewrites = &blk->rewrites;
    bool ok = true;
    for (auto& child : d.children) {
        if (!allowed_in_if(child.name, server_level) && in_table(child.name)) {
            c.err = "\"" + child.name + "\" directive is not allowed here";
            c.err_where = child.where;
            ok = false;
            break;
        }
        std::vector<Directive> one{child};
        if (!c.walk(one, server_level ? kServer : kLocation)) {
            ok = false;
            break;
        }
    }
    c.restore(saved);
    if (!ok) return false;

    RewriteStep st;
    st.kind = RewriteStep::Kind::If;
    st.where = d.where;
    st.cond = std::move(cond);
    st.block = std::move(blk);
    c.rewrites->push_back(std::move(st));
    return true;
}

void prescan_rewrite(Ctx& c, const std::vector<Directive>& list) {
    Http* http = c.http;
    std::vector<const std::vector<Directive>*> stack{&list};
    while (!stack.empty()) {
        auto* l = stack.back();
        stack.pop_back();
        for (auto& d : *l) {
            if (d.name == "set" && d.args.size() == 2 && d.args[0].value.size() > 1 && d.args[0].value[0] == '$') {
                std::string name = ascii_lower(d.args[0].value.substr(1));
                if (!http->map_index.count(name) && name != "args" && !is_core_fixed(name) &&
                    !http->user_var_index.count(name)) {
                    http->user_var_index[name] = int(http->user_var_names.size());
                    http->user_var_names.push_back(name);
                }
            }
            if (d.name == "if") {
                std::vector<std::string> args;
                for (auto& a : d.args) args.push_back(a.value);
                bool ci = false;
                std::string pat = if_condition_regex(args, ci);
                std::string err;
                if (!pat.empty())
                    if (auto re = Regex::compile(pat, ci, err)) c.note_named_captures(*re);
            }
            if (d.has_block && d.name != "map" && d.name != "geo" && d.name != "types") stack.push_back(&d.children);
        }
    }
}

void finish_if_blocks(std::vector<RewriteStep>& steps, const Location& parent, const std::string& prefix) {
    for (auto& st : steps) {
        if (st.kind != RewriteStep::Kind::If || !st.block) continue;
        Location& b = *st.block;
        if (b.conf.root && !b.conf.root->has_vars()) {   // a relative literal root: against the prefix
            std::string r = b.conf.root->literal();
            if (!r.empty() && r[0] != '/') {
                b.conf.root->segs.clear();
                b.conf.root->segs.push_back(Segment{prefix + r, {}});
            }
        }
        b.conf.merge_from(parent.conf);
        if (!b.proxy_pass && parent.proxy_pass) b.proxy_pass = parent.proxy_pass;
        finish_if_blocks(b.rewrites, b, prefix);
    }
}

}  // namespace sy::conf

// nginx's rewrite module at run time: the steps of one level (server or
// location) run in order — rewrite, return, set, if (with its block, nginx's
// unnamed pseudo-location whose settings then serve the request), break.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "http/exchange.h"

namespace sy::http {

namespace {
// A per-request value slot (user variables, map results), sized on first use.
template <class Values, class Flags>
void store_value(Values& values, Flags& set, size_t i, size_t count, std::string v) {
    if (values.size() <= i) {
        size_t n = std::max(count, i + 1);
        values.resize(n);
        set.resize(n);
    }
    values[i] = std::move(v);
    set[i] = 1;
}
}  // namespace

void Exchange::set_variable(const conf::RewriteStep& st) {
    Request& r = *req_;
    VarCtx vc = vars();
    std::string v = eval(st.replacement, vc);
    switch (st.target.kind) {
    case conf::Var::User:
        store_value(r.user_vars, r.user_set, st.target.index, gen_->cfg->http->user_var_names.size(), std::move(v));
        break;
    case conf::Var::Map:   // `set` on a map's variable overrides the map for this request
        store_value(r.map_cache, r.map_done, st.target.index, gen_->cfg->http->maps.size(), std::move(v));
        break;
    case conf::Var::Args: r.args = std::move(v); break;
    default: break;
    }
}

bool Exchange::test_condition(const conf::IfCondition& c) {
    using K = conf::IfCondition::Kind;
    Request& r = *req_;
    VarCtx vc = vars();
    switch (c.kind) {
    case K::Var: {
        std::string v = eval(c.lhs, vc);
        return !v.empty() && v != "0";
    }
    case K::Equal: case K::NotEqual: {
        std::string a = eval(c.lhs, vc);
        std::string b = eval(c.rhs, vc);
        return (a == b) == (c.kind == K::Equal);
    }
    case K::Match: {
        std::string subject = eval(c.lhs, vc);
        std::vector<int> caps;
        bool m = c.regex->match(subject, caps);
        if (*r.lc->rewrite_log)
            log_error(Level::Notice, "\"" + c.regex->source() + (m ? "\" matches \"" : "\" does not match \"") +
                                         subject + "\"");
        if (m) set_captures(r, *c.regex, subject, caps);
        else r.numbered_caps_off = true;   // nginx: no $1..$9 after a failed match (named ones stay)
        return m != c.negate;
    }
    case K::File: {
        std::string path = eval(c.lhs, vc);
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            int e = errno;
            if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG)
                log_error(Level::Crit, "stat() \"" + path + "\" failed (" + std::to_string(e) + ": " + std::strerror(e) + ")");
            return c.negate;
        }
        bool yes = false;
        switch (c.file_op) {
        case 'f': yes = S_ISREG(st.st_mode); break;
        case 'd': yes = S_ISDIR(st.st_mode); break;
        case 'e': yes = true; break;
        case 'x': yes = (st.st_mode & S_IXUSR) != 0; break;
        default: break;
        }
        return yes != c.negate;
    }
    }
    return false;
}

namespace {

// nginx's NGX_ESCAPE_ARGS: " ", "#", "%", "&", "+", ";", "?", controls and bytes >= 0x7f.
void escape_args(std::string_view in, std::string& out) {
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char c : in) {
        bool esc = c < 0x20 || c >= 0x7f || c == ' ' || c == '#' || c == '%' || c == '&' || c == '+' || c == ';' ||
                   c == '?';
        if (!esc) {
            out += char(c);
            continue;
        }
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
    }
}

// The replacement of a `rewrite`: as nginx, $1..$9 copied into the
// arguments part (or anywhere in a redirect) are escaped when the request's
// URI was escaped (had "%" or "+"), so "%25" stays "%25" there.
std::string eval_replacement(const conf::Template& t, VarCtx& vc, bool redirect, bool quoted) {
    std::string out;
    bool in_args = false;
    for (auto& seg : t.segs) {
        if (seg.var.kind == conf::Var::None) {
            out += seg.literal;
            in_args |= seg.literal.find('?') != std::string::npos;
        } else if (seg.var.kind == conf::Var::Capture && quoted && (in_args || redirect)) {
            std::string v;
            get_var(seg.var, vc, v);
            escape_args(v, out);
        } else {
            get_var(seg.var, vc, out);
        }
    }
    return out;
}

}  // namespace

bool Exchange::run_rewrites(const std::vector<conf::RewriteStep>& steps, bool& stop, bool& changed) {
    using Kind = conf::RewriteStep::Kind;
    using Flag = conf::RewriteStep::Flag;
    Request& r = *req_;
    for (auto& st : steps) {
        switch (st.kind) {
        case Kind::Return:
            handle_return(st);
            return false;
        case Kind::Break:
            changed = false;
            stop = true;
            return true;
        case Kind::Set:
            set_variable(st);
            continue;
        case Kind::If:
            if (!test_condition(*st.cond)) continue;
            // the block's settings serve the request from now on ("if is evil": the last true if wins)
            r.loc = st.block.get();
            r.lc = &st.block->conf;
            if (!run_rewrites(st.block->rewrites, stop, changed)) return false;
            if (stop) return true;
            continue;
        case Kind::Rewrite:
            break;
        }
        bool log = *r.lc->rewrite_log;
        std::vector<int> caps;
        if (!st.regex->match(r.uri, caps)) {
            if (log) log_error(Level::Notice, "\"" + st.regex->source() + "\" does not match \"" + r.uri + "\"");
            r.numbered_caps_off = true;
            continue;
        }
        if (log) log_error(Level::Notice, "\"" + st.regex->source() + "\" matches \"" + r.uri + "\"");
        set_captures(r, *st.regex, r.uri, caps);
        VarCtx vc = vars();
        const std::string& src = st.replacement.source;   // nginx decides by the replacement as written
        bool redirect = st.flag == Flag::Redirect || st.flag == Flag::Permanent || src.compare(0, 7, "http://") == 0 ||
                        src.compare(0, 8, "https://") == 0 || src.compare(0, 7, "$scheme") == 0;
        std::string_view path = r.head.target.substr(0, r.head.target.find('?'));
        bool quoted = path.find('%') != std::string_view::npos || path.find('+') != std::string_view::npos;
        std::string target = eval_replacement(st.replacement, vc, redirect, quoted);
        if (redirect) {
            int code = st.flag == Flag::Permanent ? 301 : 302;
            // a final "?" drops the request's arguments, otherwise they are added ("&" after the replacement's own)
            bool drop = !src.empty() && src.back() == '?';
            if (drop && !target.empty() && target.back() == '?') target.pop_back();
            else if (!drop && !r.args.empty()) target += (src.find('?') != std::string::npos ? "&" : "?") + r.args;
            if (log) log_error(Level::Notice, "rewritten redirect: \"" + target + "\"");
            send_redirect(code, absolute_location(target));
            return false;
        }
        size_t q = target.find('?');
        if (q != std::string::npos) {
            std::string nargs = target.substr(q + 1);
            bool drop = q == target.size() - 1;
            target.resize(q);
            if (!drop && !r.args.empty()) nargs += "&" + r.args;
            r.args = nargs;
        }
        if (log) log_error(Level::Notice, "rewritten data: \"" + target + "\", args: \"" + r.args + "\"");
        if (target.empty()) {
            log_error(Level::Error, "the rewritten URI has a zero length");
            finalize_error(500);
            return false;
        }
        r.uri = target;
        r.uri_changed = true;
        changed = st.flag != Flag::Break;
        if (st.flag == Flag::Last || st.flag == Flag::Break) {
            stop = true;
            return true;
        }
    }
    return true;
}

}  // namespace sy::http

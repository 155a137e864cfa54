// Static-file and response-header directives: see static_directives.h.
#include "config/static_directives.h"

#include <strings.h>

#include <cctype>
#include <cstring>
#include <functional>

#include "config/loader.h"

namespace sy::conf {

namespace {

// ngx_parse_time(value, is_sec = 1): "1y2M3w4d5h6m7s", a bare number is seconds.
bool parse_secs(std::string_view s, int64_t& out) {
    if (s.empty()) return false;
    int64_t total = 0, cur = 0;
    bool digits = false;
    for (size_t i = 0; i < s.size(); ++i) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            cur = cur * 10 + (ch - '0');
            if (cur > (int64_t(1) << 40)) return false;
            digits = true;
            continue;
        }
        if (!digits) return false;
        int64_t mul;
        switch (ch) {
            case 'y': mul = 365LL * 24 * 3600; break;
            case 'M': mul = 30LL * 24 * 3600; break;
            case 'w': mul = 7LL * 24 * 3600; break;
            case 'd': mul = 24LL * 3600; break;
            case 'h': mul = 3600; break;
            case 'm':
                if (i + 1 < s.size() && s[i + 1] == 's') return false;   // "ms": not in seconds
                mul = 60;
                break;
            case 's': mul = 1; break;
            default: return false;
        }
        total += cur * mul;
        cur = 0;
        digits = false;
    }
    out = total + cur;
    return true;
}

}  // namespace

std::string root_alias_conflict(const Ctx& c, bool alias) {
    if (!c.lc->root) return "";
    bool was_alias = c.lc->alias != 0;
    if (was_alias == alias) return "\"" + std::string(alias ? "alias" : "root") + "\" directive is duplicate";
    return "\"" + std::string(alias ? "alias" : "root") + "\" directive is duplicate, \"" + (was_alias ? "alias" : "root") +
           "\" directive was specified earlier";
}

// alias PATH (location): the location's prefix of the URI is replaced by PATH;
// in a regex location PATH (with captures) is the whole path.
bool h_alias(Ctx& c, const Directive& d) {
    std::string conflict = root_alias_conflict(c, true);
    if (!conflict.empty()) {
        c.err = conflict;
        return false;
    }
    if (c.loc->match == Location::Match::Named) {
        c.err = "the \"alias\" directive cannot be used inside the named location";
        return false;
    }
    const std::string& v = d.args[0].value;
    for (const char* var : {"$document_root", "${document_root}", "$realpath_root", "${realpath_root}"})
        if (v.find(var) != std::string::npos) {
            c.err = std::string("the ") + (strstr(var, "real") ? "$realpath_root" : "$document_root") +
                    " variable cannot be used in the \"alias\" directive";
            return false;
        }
    Template t;
    if (!compile_value(c, v, t)) return false;
    c.lc->root = std::move(t);
    c.lc->alias = c.loc->regex ? LocConf::kAliasWhole : c.loc->name.size();
    if (c.lc->alias == 0) c.lc->alias = LocConf::kAliasWhole;   // cannot happen: a prefix location has a name
    return true;
}

// try_files FILE ... URI | =CODE (server, location).
bool h_try_files(Ctx& c, const Directive& d) {
    if (c.lc->try_files) {
        c.err = "\"try_files\" directive is duplicate";
        return false;
    }
    auto tf = std::make_shared<TryFiles>();
    tf->where = d.where;
    size_t n = d.args.size();
    for (size_t i = 0; i + 1 < n; ++i) {
        std::string name = d.args[i].value;
        TryFile f;
        if (!name.empty() && name.back() == '/') {
            f.test_dir = true;
            name.pop_back();
        }
        if (!compile_value(c, name, f.name)) return false;
        tf->files.push_back(std::move(f));
    }
    const std::string& last = d.args[n - 1].value;
    if (!last.empty() && last[0] == '=') {
        std::string digits = last.substr(1);
        int code = 0;
        bool ok = !digits.empty() && digits.size() <= 9;
        for (char ch : digits) {
            if (ch < '0' || ch > '9') { ok = false; break; }
            code = code * 10 + (ch - '0');
        }
        if (!ok || code > 999) {
            c.err = "invalid code \"" + last + "\"";
            return false;
        }
        tf->code = code;
    } else if (!compile_value(c, last, tf->fallback)) {
        return false;
    }
    c.lc->try_files = std::move(tf);
    return true;
}

std::string parse_expires(std::string_view v, Expires& e) {
    if (v == "epoch") { e.mode = Expires::Mode::Epoch; return ""; }
    if (v == "max") { e.mode = Expires::Mode::Max; return ""; }
    if (v == "off") { e.mode = Expires::Mode::Off; return ""; }
    bool minus = false;
    if (!v.empty() && v[0] == '@') {
        v.remove_prefix(1);
        if (e.mode == Expires::Mode::Modified) return "daily time cannot be used with \"modified\" parameter";
        e.mode = Expires::Mode::Daily;
    } else if (!v.empty() && v[0] == '+') {
        v.remove_prefix(1);
    } else if (!v.empty() && v[0] == '-') {
        v.remove_prefix(1);
        minus = true;
    }
    int64_t secs;
    if (!parse_secs(v, secs)) return "invalid value";
    if (e.mode == Expires::Mode::Daily && secs > 24 * 60 * 60) return "daily time value must be less than 24 hours";
    e.secs = minus ? -secs : secs;
    return "";
}

// expires [modified] TIME | epoch | max | off
bool h_expires(Ctx& c, const Directive& d) {
    if (c.lc->expires) {
        c.err = "\"expires\" directive is duplicate";
        return false;
    }
    Expires e;
    e.mode = Expires::Mode::Access;
    size_t n = 0;
    if (d.args.size() == 2) {
        if (d.args[0].value != "modified") {
            c.err = "\"expires\" directive invalid value";
            return false;
        }
        e.mode = Expires::Mode::Modified;
        n = 1;
    }
    if (d.args[n].value.find('$') != std::string::npos) {
        c.err = "variables in \"expires\" are not supported yet by switchyard";
        return false;
    }
    std::string err = parse_expires(d.args[n].value, e);
    if (!err.empty()) {
        c.err = "\"expires\" directive " + err;
        return false;
    }
    c.lc->expires = e;
    return true;
}

// charset NAME | off: "; charset=NAME" on the charset_types responses.
bool h_charset(Ctx& c, const Directive& d) {
    if (c.lc->charset) {
        c.err = "\"charset\" directive is duplicate";
        return false;
    }
    const std::string& v = d.args[0].value;
    if (v.find('$') != std::string::npos) {
        c.err = "variables in \"charset\" are not supported yet by switchyard";
        return false;
    }
    c.lc->charset = v == "off" ? std::string() : v;
    return true;
}

bool h_source_charset(Ctx& c, const Directive& d) {
    if (c.lc->source_charset) {
        c.err = "\"source_charset\" directive is duplicate";
        return false;
    }
    const std::string& v = d.args[0].value;
    if (v.find('$') != std::string::npos) {
        c.err = "variables in \"source_charset\" are not supported yet by switchyard";
        return false;
    }
    TlsArg a;
    a.value = v == "off" ? std::string() : v;
    a.written = v;
    a.where = d.where;
    c.lc->source_charset = std::move(a);
    return true;
}

namespace {
// charset_types / ssi_types MIME ... ("*": any): nginx always keeps text/html.
bool set_mime_types(Ctx& c, const Directive& d,
                    std::optional<std::shared_ptr<const std::vector<std::string>>>& field) {
    if (field) {
        c.err = "\"" + d.name + "\" directive is duplicate";
        return false;
    }
    std::vector<std::string> v{"text/html"};
    for (auto& a : d.args) {
        std::string t = a.value == "*" ? "*" : ascii_lower(a.value);
        bool dup = false;
        for (auto& x : v) dup |= x == t;
        if (dup && t != "text/html") {
            c.err = "duplicate MIME type \"" + a.value + "\"";
            return false;
        }
        if (!dup) v.push_back(std::move(t));
    }
    field = std::make_shared<const std::vector<std::string>>(std::move(v));
    return true;
}
}  // namespace

bool h_charset_types(Ctx& c, const Directive& d) { return set_mime_types(c, d, c.lc->charset_types); }
bool h_ssi_types(Ctx& c, const Directive& d) { return set_mime_types(c, d, c.lc->ssi_types); }

// Accepted for compatibility: switchyard's static files never block the loop
// (16 KiB pread chunks through the output queue).
bool h_sendfile_max_chunk(Ctx& c, const Directive& d) {
    size_t v;
    if (!parse_size(d.args[0].value, v)) {
        c.err = "\"sendfile_max_chunk\" directive invalid value";
        return false;
    }
    return true;
}

bool h_aio(Ctx& c, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v == "on" || v == "off" || v == "threads" || v.compare(0, 8, "threads=") == 0) return true;
    c.err = "\"aio\" directive invalid value";
    return false;
}

std::string check_charsets(const Http& h) {
    auto check = [](const LocConf& lc) -> std::string {
        if (!lc.charset || !lc.source_charset) return "";
        const std::string& dst = *lc.charset;
        const std::string& src = lc.source_charset->value;
        if (dst.empty() || src.empty() || strcasecmp(dst.c_str(), src.c_str()) == 0) return "";
        return "no \"charset_map\" between the charsets \"" + src + "\" and \"" + dst +
               "\" (charset conversion is not supported yet by switchyard) in " + lc.source_charset->where.str();
    };
    std::string err;
    std::function<void(const LocationTree&)> walk = [&](const LocationTree& t) {
        for (auto& l : t.all) {
            if (!err.empty()) return;
            err = check(l->conf);
            if (err.empty() && l->nested) walk(*l->nested);
        }
    };
    for (auto& s : h.servers) {
        err = check(s->conf);
        if (err.empty()) walk(s->locations);
        if (!err.empty()) return err;
    }
    return "";
}

}  // namespace sy::conf

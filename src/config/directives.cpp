// The directive table: every directive switchyard accepts, where it may
// appear, how many arguments it takes and the handler that stores it. The
// walker in loader.cpp checks context, arity and block shape against the
// table and produces nginx's messages; handlers only validate values.
#include "config/directives.h"

#include <cctype>
#include <strings.h>
#include <unistd.h>

#include <cstring>

#include "config/loader.h"
#include "config/geo.h"
#include "config/rewrite_directives.h"
#include "config/static_directives.h"
#include "tls/context.h"

namespace sy::conf {
namespace {

bool dup(Ctx& c, const Directive& d) {
    c.err = "\"" + d.name + "\" directive is duplicate";
    return false;
}

bool invalid(Ctx& c, const Directive& d, const std::string& v) {
    c.err = "invalid value \"" + v + "\" in \"" + d.name + "\" directive";
    return false;
}

bool hash_family(Balance b) { return b == Balance::IpHash || b == Balance::Hash || b == Balance::HashConsistent; }

// ngx_conf_set_{msec,size,num}_slot: `"name" directive invalid value`
bool invalid_slot(Ctx& c, const Directive& d) {
    c.err = "\"" + d.name + "\" directive invalid value";
    return false;
}

// ngx_conf_set_enum_slot: `invalid value "x"`
bool invalid_enum(Ctx& c, const std::string& v) {
    c.err = "invalid value \"" + v + "\"";
    return false;
}

bool compile(Ctx& c, const std::string& text, Template& t) { return compile_value(c, text, t); }

// ---- generic slots over LocConf members ------------------------------------

template <auto M>
bool set_msec(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    Msec v;
    if (!parse_msec(d.args[0].value, v)) return invalid_slot(c, d);
    f = v;
    return true;
}

template <auto M>
bool set_size(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    size_t v;
    if (!parse_size(d.args[0].value, v)) return invalid_slot(c, d);
    f = v;
    return true;
}

template <auto M>
bool set_flag(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    const std::string& v = d.args[0].value;
    if (strcasecmp(v.c_str(), "on") == 0) f = true;
    else if (strcasecmp(v.c_str(), "off") == 0) f = false;
    else {
        c.err = "invalid value \"" + v + "\" in \"" + d.name + "\" directive, it must be \"on\" or \"off\"";
        return false;
    }
    return true;
}

template <auto M>
bool set_bufs(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    size_t sz;
    int n = 0;
    for (char ch : d.args[0].value) {
        if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 100000) return invalid(c, d, d.args[0].value);
        n = n * 10 + (ch - '0');
    }
    if (n == 0 || d.args[0].value.empty()) return invalid(c, d, d.args[0].value);
    if (!parse_size(d.args[1].value, sz) || sz == 0) return invalid(c, d, d.args[1].value);
    f = std::make_pair(n, sz);
    return true;
}

template <auto M>
bool add_string(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (!f) f.emplace();
    f->push_back(d.args[0].value);
    return true;
}

bool accept_noop(Ctx&, const Directive&) { return true; }

// ---- main / events -----------------------------------------------------------

bool h_daemon(Ctx& c, const Directive& d) {
    if (c.seen_daemon) return dup(c, d);
    c.seen_daemon = true;
    if (strcasecmp(d.args[0].value.c_str(), "on") == 0) c.cfg.daemon = true;
    else if (strcasecmp(d.args[0].value.c_str(), "off") == 0) c.cfg.daemon = false;
    else { c.err = "invalid value \"" + d.args[0].value + "\" in \"daemon\" directive, it must be \"on\" or \"off\""; return false; }
    return true;
}

bool h_pid(Ctx& c, const Directive& d) {
    if (c.seen_pid) return dup(c, d);
    c.seen_pid = true;
    c.cfg.pid_path = c.full_path(d.args[0].value);
    return true;
}

bool h_error_log(Ctx& c, const Directive& d) {
    ErrorLogConf e;
    e.path = d.args[0].value == "stderr" ? "stderr" : c.full_path(d.args[0].value);
    if (d.args.size() > 1) {
        if (!parse_level(d.args[1].value, e.level)) {
            c.err = "invalid log level \"" + d.args[1].value + "\"";
            return false;
        }
    }
    if (d.args.size() > 2) { c.err = "invalid number of arguments in \"error_log\" directive"; return false; }
    // Only the main-level error_log is used; lower levels are accepted as nginx does.
    if (c.context == kMain) c.cfg.error_logs.push_back(e);
    return true;
}

bool h_worker_processes(Ctx& c, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v == "auto") { c.cfg.worker_processes = 0; return true; }
    int n = 0;
    for (char ch : v) {
        if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 1024) return invalid(c, d, v);
        n = n * 10 + (ch - '0');
    }
    if (v.empty()) return invalid(c, d, v);
    c.cfg.worker_processes = n;
    return true;
}

bool h_worker_rlimit_nofile(Ctx& c, const Directive& d) {
    int n = 0;
    for (char ch : d.args[0].value) {
        if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 100000000) return invalid(c, d, d.args[0].value);
        n = n * 10 + (ch - '0');
    }
    c.cfg.worker_rlimit_nofile = n;
    return true;
}

bool h_worker_connections(Ctx& c, const Directive& d) {
    int n = 0;
    for (char ch : d.args[0].value) {
        if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 100000000) return invalid(c, d, d.args[0].value);
        n = n * 10 + (ch - '0');
    }
    if (n <= 0) return invalid(c, d, d.args[0].value);
    c.cfg.worker_connections = n;
    return true;
}

bool h_use(Ctx& c, const Directive& d) {
    if (d.args[0].value != "epoll") { c.err = "invalid event type \"" + d.args[0].value + "\""; return false; }
    return true;
}

bool h_events(Ctx& c, const Directive& d) {
    if (c.seen_events) { c.err = "\"events\" directive is duplicate"; return false; }
    c.seen_events = true;
    return c.walk(d.children, kEvents);
}

// ---- http --------------------------------------------------------------------

bool h_http(Ctx& c, const Directive& d) {
    if (c.cfg.http) { c.err = "\"http\" directive is duplicate"; return false; }
    c.cfg.http = std::make_unique<Http>();
    c.http = c.cfg.http.get();
    add_combined_format(*c.http);
    c.prescan_http(d.children);
    c.lc = &c.http->conf;
    c.http->end = d.end;
    return c.walk(d.children, kHttp);
}

// Adds a server block to the http or stream block being read and reads its
// directives (ctx: kServer or kStreamServer) with the server as the scope.
// Null when they failed.
Server* read_server(Ctx& c, const Directive& d, uint32_t ctx) {
    auto srv = std::make_unique<Server>();
    srv->where = d.where;
    Server* s = srv.get();
    c.http->servers.push_back(std::move(srv));
    Ctx::Saved saved = c.save();
    c.server = s;
    c.server_named = false;
    c.lc = &s->conf;
    c.loc = nullptr;
    bool http = ctx == kServer;   // a stream server has no locations and no rewrites
    c.tree = http ? &s->locations : nullptr;
    c.rewrites = http ? &s->rewrites : nullptr;
    bool ok = c.walk(d.children, ctx);
    c.restore(saved);
    return ok ? s : nullptr;
}

bool h_server(Ctx& c, const Directive& d) {
    Server* s = read_server(c, d, kServer);
    if (!s) return false;
    if (s->listens.empty()) {
        Listen l;
        std::string err;
        std::vector<SockAddr> a;
        parse_addr("*:80", 80, a, err, false);
        l.addr = a[0];
        l.where = d.where;
        s->listens.push_back(l);
    }
    if (s->names.empty()) s->first_name = "";
    return true;
}

// ---- stream ------------------------------------------------------------------

bool h_stream(Ctx& c, const Directive& d) {
    if (c.cfg.stream) { c.err = "\"stream\" directive is duplicate"; return false; }
    c.cfg.stream = std::make_unique<Http>();
    Ctx::Saved saved = c.save();
    Http* http = c.http;
    c.http = c.cfg.stream.get();
    c.prescan_http(d.children);
    c.lc = &c.http->conf;
    bool ok = c.walk(d.children, kStream);
    c.restore(saved);
    c.http = http;
    c.scope.http = http;
    return ok;
}

// A stream server: listen addresses and one proxy_pass, no locations.
bool h_stream_server(Ctx& c, const Directive& d) {
    Server* s = read_server(c, d, kStreamServer);
    if (!s) return false;
    // nginx checks both when the block ends
    if (s->listens.empty()) {
        c.err = "no \"listen\" is defined for server";
        c.err_where = d.where;
        return false;
    }
    if (!s->stream_pass && !s->stream_return) {
        c.err = "no handler for server";
        c.err_where = d.where;
        return false;
    }
    return true;
}

// `proxy_pass ADDRESS | UPSTREAM | $variables` (no scheme in stream).
bool h_stream_proxy_pass(Ctx& c, const Directive& d) {
    if (c.server->stream_pass) return dup(c, d);
    ProxyPass pp;
    pp.url = pp.host_port = d.args[0].value;
    pp.where = d.where;
    if (pp.url.find('$') != std::string::npos) {
        pp.has_vars = true;
        if (!compile(c, pp.url, pp.url_tpl)) return false;
    }
    c.server->stream_pass = std::move(pp);
    c.server->stream_return_last = false;
    return true;
}

// stream's `return VALUE` (ngx_stream_return_module): the text, with
// variables, is sent to the client and the session ends.
bool h_stream_return(Ctx& c, const Directive& d) {
    if (c.server->stream_return) return dup(c, d);
    Template t;
    if (!compile(c, d.args[0].value, t)) return false;
    c.server->stream_return = std::move(t);
    c.server->stream_return_last = true;
    return true;
}

// `proxy_protocol_version 1|2` (switchyard's; nginx always sends v1): which
// PROXY header `proxy_protocol on` sends to the backend.
bool h_proxy_protocol_version(Ctx& c, const Directive& d) {
    if (c.lc->proxy_protocol_version) return dup(c, d);
    const std::string& v = d.args[0].value;
    if (v != "1" && v != "2") {
        c.err = "invalid value \"" + v + "\" in \"" + d.name + "\" directive, it must be \"1\" or \"2\"";
        return false;
    }
    c.lc->proxy_protocol_version = v[0] - '0';
    return true;
}

// stream's `proxy_next_upstream on|off`: on retries connect errors and timeouts.
bool h_stream_next_upstream(Ctx& c, const Directive& d) {
    if (c.lc->proxy_next_upstream) return dup(c, d);
    const std::string& v = d.args[0].value;
    if (v != "on" && v != "off") {
        c.err = "invalid value \"" + v + "\" in \"" + d.name + "\" directive, it must be \"on\" or \"off\"";
        return false;
    }
    c.lc->proxy_next_upstream = v == "on" ? uint32_t(next_upstream::Error | next_upstream::Timeout) : 0u;
    return true;
}

// Distributions build nginx's stream module as a dynamic one
// ("load_module modules/ngx_stream_module.so;"); switchyard has it built in.
bool h_load_module(Ctx& c, const Directive& d) {
    const std::string& path = d.args[0].value;
    std::string_view file = std::string_view(path).substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    if (file == "ngx_stream_module.so") return true;
    c.err = "\"load_module\" of \"" + path + "\" is not supported yet by switchyard (only built-in modules: "
            "ngx_stream_module.so)";
    return false;
}

// `set_real_ip_from ADDRESS|CIDR|unix:`: accumulates at one level (nginx).
bool h_set_real_ip_from(Ctx& c, const Directive& d) {
    net::Cidr cidr;
    std::string err;
    if (!net::Cidr::parse(d.args[0].value, cidr, err)) {
        c.err = err;
        return false;
    }
    if (!c.lc->set_real_ip_from) c.lc->set_real_ip_from.emplace();
    c.lc->set_real_ip_from->push_back(cidr);
    return true;
}

// `real_ip_header X-Real-IP | X-Forwarded-For | proxy_protocol | field`:
// where a trusted peer's client address is read from (http/realip.h).
bool h_real_ip_header(Ctx& c, const Directive& d) {
    if (c.lc->real_ip_header) return dup(c, d);
    c.lc->real_ip_header = d.args[0].value;
    return true;
}

bool h_listen(Ctx& c, const Directive& d) {
    Listen l;
    l.where = d.where;
    std::vector<SockAddr> addrs;
    std::string err;
    bool stream = c.context == kStreamServer;
    if (!parse_addr(d.args[0].value, stream ? -1 : 80, addrs, err)) {
        c.err = err + " in \"" + d.args[0].value + "\" of the \"listen\" directive";
        return false;
    }
    for (size_t i = 1; i < d.args.size(); ++i) {
        const std::string& p = d.args[i].value;
        if (stream && p == "http2") {
            c.err = "invalid parameter \"" + p + "\"";
            return false;
        }
        if (p == "default_server" || p == "default") l.default_server = true;
        else if (p == "reuseport") l.reuseport = true;
        else if (p.rfind("backlog=", 0) == 0) {
            int n = 0;
            std::string v = p.substr(8);
            for (char ch : v) {
                if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 1000000) { c.err = "invalid backlog \"" + p + "\""; return false; }
                n = n * 10 + (ch - '0');
            }
            if (v.empty() || n == 0) { c.err = "invalid backlog \"" + p + "\""; return false; }
            l.backlog = n;
        } else if (p == "ssl") {
            l.ssl = true;
        } else if (p == "http2") {
            l.http2 = true;
        } else if (p == "proxy_protocol") {
            l.proxy_protocol = true;
        } else if (p == "quic" || p == "udp") {
            c.err = "the \"" + p + "\" parameter of the \"listen\" directive is not supported yet by switchyard";
            return false;
        } else if (p == "bind" || p == "deferred" || p.rfind("ipv6only=", 0) == 0 || p.rfind("so_keepalive=", 0) == 0 ||
                   p.rfind("rcvbuf=", 0) == 0 || p.rfind("sndbuf=", 0) == 0 || p.rfind("fastopen=", 0) == 0) {
            // socket tuning knobs with no semantic effect: accepted
        } else {
            c.err = "invalid parameter \"" + p + "\"";
            return false;
        }
    }
    for (auto& a : addrs) {
        l.addr = a;
        for (auto& o : c.server->listens)
            if (o.addr.text == a.text) {
                c.err = "a duplicate listen " + a.text;
                return false;
            }
        c.server->listens.push_back(l);
    }
    return true;
}

bool h_server_name(Ctx& c, const Directive& d) {
    for (auto& a : d.args) {
        std::string n = a.value;
        ServerName sn;
        if (!n.empty() && n[0] == '~') {
            std::string err;
            sn.kind = ServerName::Kind::Regex;
            sn.regex = Regex::compile(n.substr(1), true, err);
            if (!sn.regex) { c.err = err; return false; }
            sn.name = n;
            c.note_named_captures(*sn.regex);
        } else {
            for (auto& ch : n) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            if (n.size() > 1 && n[0] == '*' && n[1] == '.') { sn.kind = ServerName::Kind::WildHead; sn.name = n.substr(1); }
            else if (n.size() > 1 && n.back() == '*' && n[n.size() - 2] == '.') { sn.kind = ServerName::Kind::WildTail; sn.name = n.substr(0, n.size() - 1); }
            else if (n.size() > 1 && n[0] == '.') {
                ServerName exact{ServerName::Kind::Exact, n.substr(1), nullptr};
                c.server->names.push_back(exact);
                sn.kind = ServerName::Kind::WildHead;
                sn.name = n;
            } else if (n == "*") {
                c.err = "server name \"*\" is invalid";
                return false;
            } else if (n.find('*') != std::string::npos) {
                c.err = "invalid server name or wildcard \"" + n + "\"";
                return false;
            } else sn.name = n;
        }
        // $server_name: the first name, lowercased, without a leading dot
        if (!c.server_named) {
            c.server_named = true;
            c.server->first_name = sn.kind == ServerName::Kind::Regex ? a.value : (n.size() > 1 && n[0] == '.' ? n.substr(1) : n);
        }
        c.server->names.push_back(sn);
    }
    return true;
}

bool h_location(Ctx& c, const Directive& d) {
    if (c.loc && (c.loc->match == Location::Match::Exact)) {
        c.err = "location \"" + d.args[0].value + "\" cannot be inside the exact location \"" + c.loc->name + "\"";
        return false;
    }
    if (c.loc && c.loc->match == Location::Match::Named) {
        c.err = "location \"" + d.args[0].value + "\" cannot be inside the named location \"" + c.loc->name + "\"";
        return false;
    }
    auto loc = std::make_unique<Location>();
    loc->where = d.where;
    std::string mod, name;
    if (d.args.size() == 2) { mod = d.args[0].value; name = d.args[1].value; }
    else {
        name = d.args[0].value;
        if (name.size() > 1 && name[0] == '=' ) { mod = "="; name = name.substr(1); }
        else if (name.size() > 2 && name.compare(0, 2, "~*") == 0) { mod = "~*"; name = name.substr(2); }
        else if (name.size() > 2 && name.compare(0, 2, "^~") == 0) { mod = "^~"; name = name.substr(2); }
        else if (name.size() > 1 && name[0] == '~') { mod = "~"; name = name.substr(1); }
    }
    std::string err;
    if (mod.empty()) {
        if (!name.empty() && name[0] == '@') {
            if (c.loc) { c.err = "named location \"" + name + "\" can be on the server level only"; return false; }
            loc->match = Location::Match::Named;
        } else loc->match = Location::Match::Prefix;
    } else if (mod == "=") loc->match = Location::Match::Exact;
    else if (mod == "^~") loc->match = Location::Match::NoRegex;
    else if (mod == "~" || mod == "~*") {
        loc->match = mod == "~" ? Location::Match::Regex : Location::Match::RegexCaseless;
        loc->regex = Regex::compile(name, mod == "~*", err);
        if (!loc->regex) { c.err = err; return false; }
        c.note_named_captures(*loc->regex);
    } else {
        c.err = "invalid location modifier \"" + mod + "\"";
        return false;
    }
    loc->name = name;
    bool is_prefixish = loc->match == Location::Match::Prefix || loc->match == Location::Match::Exact ||
                        loc->match == Location::Match::NoRegex;
    if (c.loc && is_prefixish && name.compare(0, c.loc->name.size(), c.loc->name) != 0) {
        c.err = "location \"" + name + "\" is outside location \"" + c.loc->name + "\"";
        return false;
    }
    for (auto& o : c.tree->all)
        if (o->name == name && ((o->match == Location::Match::Exact) == (loc->match == Location::Match::Exact)) &&
            (o->regex != nullptr) == (loc->regex != nullptr) && o->match != Location::Match::Named) {
            c.err = "duplicate location \"" + name + "\"";
            return false;
        }
    Location* l = loc.get();
    c.tree->all.push_back(std::move(loc));
    Ctx::Saved saved = c.save();
    c.loc = l;
    c.lc = &l->conf;
    l->nested = std::make_unique<LocationTree>();
    c.tree = l->nested.get();
    c.rewrites = &l->rewrites;
    bool ok = c.walk(d.children, kLocation);
    c.restore(saved);
    return ok;
}

bool h_proxy_pass(Ctx& c, const Directive& d) {
    if (c.loc == nullptr) { c.err = "\"proxy_pass\" directive is not allowed here"; return false; }
    if (c.loc->proxy_pass) return dup(c, d);
    ProxyPass pp;
    pp.url = d.args[0].value;
    pp.where = d.where;
    std::string url = pp.url;
    if (url.find('$') != std::string::npos) {
        pp.has_vars = true;
        pp.https = url.compare(0, 8, "https://") == 0;
        if (!compile(c, url, pp.url_tpl)) return false;
        c.loc->proxy_pass = std::move(pp);
        return true;
    }
    std::string rest;
    if (url.compare(0, 7, "http://") == 0) rest = url.substr(7);
    else if (url.compare(0, 8, "https://") == 0) {
        rest = url.substr(8);
        pp.https = true;
    } else {
        c.err = "invalid URL prefix";
        return false;
    }
    size_t slash;
    if (rest.compare(0, 5, "unix:") == 0) {
        size_t colon = rest.find(':', 5);
        slash = colon == std::string::npos ? std::string::npos : colon + 1;
        pp.host_port = rest.substr(0, colon);
        if (slash != std::string::npos) { pp.has_uri = true; pp.uri = rest.substr(slash); }
    } else {
        slash = rest.find('/');
        pp.host_port = rest.substr(0, slash);
        if (slash != std::string::npos) { pp.has_uri = true; pp.uri = rest.substr(slash); }
    }
    if (pp.host_port.empty()) { c.err = "no host in upstream \"" + (pp.has_uri ? pp.uri : std::string()) + "\""; return false; }
    if (pp.has_uri && (c.loc->regex || c.loc->match == Location::Match::Named || c.loc->if_parent)) {
        c.err = "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, "
                "or inside \"if\" statement, or inside \"limit_except\" block";
        return false;
    }
    c.loc->proxy_pass = std::move(pp);
    c.proxy_sites.push_back({c.loc, d.where});
    return true;
}

// ---- temp files (client_body_temp_path, proxy_temp_path, ...) ----------------

// ngx_conf_set_path_slot: a directory (relative to the prefix) and up to three
// levels of 1..n digits each, at most 10 digits in all; registered like
// ngx_add_path so start-up creates it and one name never has two layouts.
template <auto M>
bool set_temp_path(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    auto tp = std::make_shared<TempPath>();
    tp->path = c.full_path(d.args[0].value);
    while (tp->path.size() > 1 && tp->path.back() == '/') tp->path.pop_back();
    tp->where = d.where;
    size_t digits = 0;
    for (size_t i = 1; i < d.args.size(); ++i) {
        const std::string& v = d.args[i].value;
        int n = 0;
        for (char ch : v) {
            if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 1000) return invalid_slot(c, d);
            n = n * 10 + (ch - '0');
        }
        if (v.empty() || n == 0) return invalid_slot(c, d);
        tp->level[i - 1] = n;
        digits += size_t(n);
    }
    if (digits > 10) return invalid_slot(c, d);
    for (auto& p : c.cfg.temp_paths) {
        if (p->path != tp->path) continue;
        if (p->level[0] != tp->level[0] || p->level[1] != tp->level[1] || p->level[2] != tp->level[2]) {
            c.err = "the same path name \"" + tp->path + "\" in " + p->where.str() + " has the different levels than";
            return false;
        }
        f = p;   // one directory, one layout: share it
        return true;
    }
    c.cfg.temp_paths.push_back(tp);
    f = std::shared_ptr<const TempPath>(tp);
    return true;
}

// client_body_in_file_only on|clean|off (ngx_conf_set_enum_slot)
bool h_client_body_in_file_only(Ctx& c, const Directive& d) {
    auto& f = c.lc->client_body_in_file_only;
    if (f) return dup(c, d);
    const std::string& v = d.args[0].value;
    if (strcasecmp(v.c_str(), "off") == 0) f = BodyInFile::Off;
    else if (strcasecmp(v.c_str(), "on") == 0) f = BodyInFile::On;
    else if (strcasecmp(v.c_str(), "clean") == 0) f = BodyInFile::Clean;
    else return invalid_enum(c, v);
    return true;
}

// lingering_close off|on|always (ngx_conf_set_enum_slot)
bool h_lingering_close(Ctx& c, const Directive& d) {
    auto& f = c.lc->lingering_close;
    if (f) return dup(c, d);
    const std::string& v = d.args[0].value;
    if (strcasecmp(v.c_str(), "off") == 0) f = Lingering::Off;
    else if (strcasecmp(v.c_str(), "on") == 0) f = Lingering::On;
    else if (strcasecmp(v.c_str(), "always") == 0) f = Lingering::Always;
    else return invalid_enum(c, v);
    return true;
}

bool h_proxy_http_version(Ctx& c, const Directive& d) {
    if (c.lc->proxy_http_version) return dup(c, d);
    if (d.args[0].value == "1.0") c.lc->proxy_http_version = 10;
    else if (d.args[0].value == "1.1") c.lc->proxy_http_version = 11;
    else if (d.args[0].value == "2") {
        c.err = "\"proxy_http_version 2\" is not supported yet by switchyard";
        return false;
    } else return invalid_enum(c, d.args[0].value);
    return true;
}

bool valid_header_name(const std::string& n) {
    if (n.empty()) return false;
    for (char ch : n)
        if (ch <= ' ' || ch == ':' || ch == 127) return false;
    return true;
}

bool h_proxy_set_header(Ctx& c, const Directive& d) {
    if (!c.lc->proxy_set_header) c.lc->proxy_set_header.emplace();
    if (!valid_header_name(d.args[0].value)) return invalid(c, d, d.args[0].value);
    HeaderEntry h;
    h.name = d.args[0].value;
    if (!compile(c, d.args[1].value, h.value)) return false;
    c.lc->proxy_set_header->push_back(std::move(h));
    return true;
}

bool h_add_header(Ctx& c, const Directive& d) {
    bool trailer = d.name == "add_trailer";   // the same syntax, its own list
    auto& list = trailer ? c.lc->add_trailer : c.lc->add_header;
    if (!list) list.emplace();
    AddHeader h;
    h.name = d.args[0].value;
    if (!valid_header_name(h.name)) return invalid(c, d, h.name);
    if (!compile(c, d.args[1].value, h.value)) return false;
    if (d.args.size() == 3) {
        if (d.args[2].value != "always") { c.err = "invalid parameter \"" + d.args[2].value + "\""; return false; }
        h.always = true;
    }
    list->push_back(std::move(h));
    return true;
}

bool h_proxy_redirect(Ctx& c, const Directive& d) {
    if (!c.lc->proxy_redirect) c.lc->proxy_redirect.emplace();
    auto& r = *c.lc->proxy_redirect;
    if (d.args.size() == 1) {
        if (d.args[0].value == "default") r.mode = ProxyRedirect::Mode::Default;
        else if (d.args[0].value == "off") r.mode = ProxyRedirect::Mode::Off;
        else return invalid(c, d, d.args[0].value);
        return true;
    }
    r.mode = ProxyRedirect::Mode::Replace;
    ProxyRedirect::Rule rule;
    const std::string& from = d.args[0].value;
    if (!from.empty() && from[0] == '~') {
        bool caseless = from.size() > 1 && from[1] == '*';
        std::string err;
        rule.regex = Regex::compile(std::string_view(from).substr(caseless ? 2 : 1), caseless, err);
        if (!rule.regex) { c.err = err; return false; }
        c.note_named_captures(*rule.regex);
    } else if (!compile(c, from, rule.from)) {
        return false;
    }
    if (!compile(c, d.args[1].value, rule.to)) return false;
    r.rules.push_back(std::move(rule));
    return true;
}

bool h_proxy_cache(Ctx& c, const Directive& d) {
    if (d.args[0].value != "off") {
        c.err = "\"proxy_cache\" zones are not supported yet by switchyard (only \"proxy_cache off\")";
        return false;
    }
    return true;
}

bool h_root(Ctx& c, const Directive& d) {
    if (c.lc->root) {
        c.err = root_alias_conflict(c, false);
        return false;
    }
    std::string v = d.args[0].value;
    if (!v.empty() && v.back() == '/') v.pop_back();   // nginx: "root /srv/;" is "/srv" (paths in logs)
    Template t;
    if (!compile(c, v, t)) return false;
    c.lc->root = std::move(t);
    return true;
}

bool h_index(Ctx& c, const Directive& d) {
    if (!c.lc->index) c.lc->index.emplace();
    for (auto& a : d.args) {
        if (a.value.empty()) { c.err = "index \"\" in \"index\" directive is invalid"; return false; }
        Template t;
        if (!compile(c, a.value, t)) return false;
        c.lc->index->push_back(std::move(t));
    }
    return true;
}

bool parse_int(const std::string& s, int& out) {
    if (s.empty() || s.size() > 9) return false;
    out = 0;
    for (char ch : s) {
        if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
        out = out * 10 + (ch - '0');
    }
    return true;
}

bool h_error_page(Ctx& c, const Directive& d) {
    ErrorPage ep;
    size_t n = d.args.size();
    const std::string& uri = d.args[n - 1].value;
    size_t last_code = n - 1;
    if (n >= 3 && d.args[n - 2].value[0] == '=') {
        std::string v = d.args[n - 2].value.substr(1);
        if (v.empty()) ep.overwrite = 0;
        else if (!parse_int(v, ep.overwrite)) { c.err = "invalid value \"" + d.args[n - 2].value + "\""; return false; }
        last_code = n - 2;
    }
    for (size_t i = 0; i < last_code; ++i) {
        int code;
        if (!parse_int(d.args[i].value, code)) { c.err = "invalid value \"" + d.args[i].value + "\""; return false; }
        if (code < 300 || code > 599) { c.err = "value \"" + d.args[i].value + "\" must be between 300 and 599"; return false; }
        ep.codes.push_back(code);
    }
    if (ep.codes.empty()) { c.err = "invalid number of arguments in \"error_page\" directive"; return false; }
    if (!compile(c, uri, ep.uri)) return false;
    if (!c.lc->error_page) c.lc->error_page.emplace();
    c.lc->error_page->push_back(std::move(ep));
    return true;
}

bool h_return(Ctx& c, const Directive& d) {
    RewriteStep st;
    st.kind = RewriteStep::Kind::Return;
    st.where = d.where;
    const std::string& a0 = d.args[0].value;
    int code = 0;
    if (parse_int(a0, code)) {
        if (code > 999) { c.err = "invalid return code \"" + a0 + "\""; return false; }
        st.code = code;
        if (d.args.size() == 2) {
            st.has_text = true;
            if (!compile(c, d.args[1].value, st.replacement)) return false;
        }
    } else {
        if (d.args.size() != 1) { c.err = "invalid return code \"" + a0 + "\""; return false; }
        if (a0.compare(0, 7, "http://") != 0 && a0.compare(0, 8, "https://") != 0 && a0.compare(0, 7, "$scheme") != 0) {
            c.err = "invalid return code \"" + a0 + "\"";
            return false;
        }
        st.code = 302;
        st.has_text = true;
        if (!compile(c, a0, st.replacement)) return false;
    }
    c.rewrites->push_back(std::move(st));
    return true;
}

bool h_rewrite(Ctx& c, const Directive& d) {
    RewriteStep st;
    st.where = d.where;
    std::string err;
    st.regex = Regex::compile(d.args[0].value, false, err);
    if (!st.regex) { c.err = err; return false; }
    c.note_named_captures(*st.regex);
    if (!compile(c, d.args[1].value, st.replacement)) return false;
    if (d.args.size() == 3) {
        const std::string& f = d.args[2].value;
        if (f == "last") st.flag = RewriteStep::Flag::Last;
        else if (f == "break") st.flag = RewriteStep::Flag::Break;
        else if (f == "redirect") st.flag = RewriteStep::Flag::Redirect;
        else if (f == "permanent") st.flag = RewriteStep::Flag::Permanent;
        else { c.err = "invalid parameter \"" + f + "\""; return false; }
    }
    c.rewrites->push_back(std::move(st));
    return true;
}

bool h_keepalive_timeout(Ctx& c, const Directive& d) {
    if (c.context == kUpstream) {
        if (!parse_msec(d.args[0].value, c.up->keepalive_timeout)) return invalid_slot(c, d);
        return true;
    }
    if (c.lc->keepalive_timeout) return dup(c, d);
    Msec v;
    if (!parse_msec(d.args[0].value, v)) return invalid_slot(c, d);
    c.lc->keepalive_timeout = v;
    // The optional second argument sets a "Keep-Alive: timeout=" header; accepted.
    if (d.args.size() == 2 && !parse_msec(d.args[1].value, v)) return invalid_slot(c, d);
    return true;
}

bool h_keepalive_requests(Ctx& c, const Directive& d) {
    if (c.context == kUpstream) {
        int n;
        if (!parse_int(d.args[0].value, n)) return invalid_slot(c, d);
        c.up->keepalive_requests = uint32_t(n);
        return true;
    }
    if (c.lc->keepalive_requests) return dup(c, d);
    int n;
    if (!parse_int(d.args[0].value, n)) return invalid(c, d, d.args[0].value);
    c.lc->keepalive_requests = uint32_t(n);
    return true;
}

// http2_max_concurrent_streams N (http, server): SETTINGS_MAX_CONCURRENT_STREAMS.
bool h_http2_max_concurrent_streams(Ctx& c, const Directive& d) {
    if (c.lc->http2_max_concurrent_streams) return dup(c, d);
    int n;
    if (!parse_int(d.args[0].value, n) || n < 0) return invalid(c, d, d.args[0].value);
    c.lc->http2_max_concurrent_streams = uint32_t(n);
    return true;
}

bool h_log_format(Ctx& c, const Directive& d) {
    auto lf = std::make_unique<LogFormat>();
    lf->name = d.args[0].value;
    for (auto& f : c.http->log_formats)
        if (f->name == lf->name) { c.err = "duplicate \"log_format\" name \"" + lf->name + "\""; return false; }
    size_t i = 1;
    if (i < d.args.size() && d.args[i].value.compare(0, 7, "escape=") == 0) {
        std::string e = d.args[i].value.substr(7);
        if (e == "default") lf->escape = LogFormat::Escape::Default;
        else if (e == "json") lf->escape = LogFormat::Escape::Json;
        else if (e == "none") lf->escape = LogFormat::Escape::None;
        else { c.err = "unknown log format escaping \"" + e + "\""; return false; }
        ++i;
    }
    std::string text;
    for (; i < d.args.size(); ++i) text += d.args[i].value;
    if (!compile(c, text, lf->fmt)) return false;
    c.http->log_formats.push_back(std::move(lf));
    return true;
}

bool h_access_log(Ctx& c, const Directive& d) {
    if (!c.lc->access_log) c.lc->access_log.emplace();
    AccessLogConf a;
    if (d.args[0].value == "off") {
        if (d.args.size() != 1) { c.err = "invalid parameter \"" + d.args[1].value + "\""; return false; }
        a.off = true;
        c.lc->access_log->push_back(a);
        return true;
    }
    a.path = c.full_path(d.args[0].value);
    std::string fmt = d.args.size() > 1 ? d.args[1].value : "combined";
    for (auto& f : c.http->log_formats)
        if (strcasecmp(f->name.c_str(), fmt.c_str()) == 0) a.format = f.get();
    if (!a.format) {
        c.err = "unknown log format \"" + fmt + "\"";
        return false;
    }
    for (size_t i = 2; i < d.args.size(); ++i) {
        const std::string& p = d.args[i].value;
        if (p.compare(0, 7, "buffer=") == 0 || p.compare(0, 6, "flush=") == 0 || p == "gzip" || p.compare(0, 5, "gzip=") == 0) continue;
        if (p.compare(0, 3, "if=") == 0) {
            if (!compile(c, p.substr(3), a.if_cond)) return false;
            a.has_if = true;
            continue;
        }
        c.err = "invalid parameter \"" + p + "\"";
        return false;
    }
    c.lc->access_log->push_back(a);
    return true;
}

bool h_default_type(Ctx& c, const Directive& d) {
    if (c.lc->default_type) return dup(c, d);
    c.lc->default_type = d.args[0].value;
    return true;
}

bool h_types(Ctx& c, const Directive& d) {
    auto m = std::make_shared<std::unordered_map<std::string, std::string>>();
    for (auto& e : d.children) {
        if (e.has_block || e.args.empty()) { c.err = "invalid number of arguments in \"types\" directive"; c.err_where = e.where; return false; }
        for (auto& ext : e.args) {
            std::string x = ext.value;
            for (auto& ch : x) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            (*m)[x] = e.name;
        }
    }
    c.lc->types = std::shared_ptr<const std::unordered_map<std::string, std::string>>(m);
    return true;
}

bool h_map(Ctx& c, const Directive& d) {
    std::string var = d.args[1].value;
    if (var.size() < 2 || var[0] != '$') { c.err = "invalid variable name \"" + var + "\""; return false; }
    std::string lname = var.substr(1);
    for (auto& ch : lname) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    int idx = c.http->map_index.at(lname);
    MapConf& m = *c.http->maps[size_t(idx)];
    m = MapConf{};  // nginx lets a later map redefine the variable
    m.var_name = var.substr(1);
    if (!compile(c, d.args[0].value, m.source)) return false;
    for (auto& e : d.children) {
        c.err_where = e.where;
        if (e.has_block) { c.err = "unexpected \"{\""; return false; }
        if (e.name == "hostnames" && e.args.empty()) { m.hostnames = true; continue; }
        if (e.name == "volatile" && e.args.empty()) continue;
        if (e.args.size() != 1) { c.err = "invalid number of the map parameters"; return false; }
        Template val;
        if (!compile(c, e.args[0].value, val)) return false;
        std::string key = e.name;
        if (key == "default") {
            if (m.has_default) { c.err = "duplicate default map parameter"; return false; }
            m.has_default = true;
            m.default_value = std::move(val);
            continue;
        }
        if (key.size() > 1 && key[0] == '~') {
            bool caseless = key.size() > 2 && key[1] == '*';
            std::string err;
            auto re = Regex::compile(key.substr(caseless ? 2 : 1), caseless, err);
            if (!re) { c.err = err; return false; }
            m.regexes.emplace_back(re, std::move(val));
            continue;
        }
        if (key.size() > 1 && key[0] == '\\') key = key.substr(1);
        for (auto& ch : key) ch = char(std::tolower(static_cast<unsigned char>(ch)));  // strings match ignoring case
        if (m.hostnames) {
            if (key.size() > 1 && key[0] == '*' && key[1] == '.') { m.wild_head.emplace_back(key.substr(1), std::move(val)); continue; }
            if (key.size() > 1 && key[0] == '.') { m.wild_head.emplace_back(key, val); m.exact.emplace(key.substr(1), std::move(val)); continue; }
            if (key.size() > 1 && key.back() == '*') { m.wild_tail.emplace_back(key.substr(0, key.size() - 1), std::move(val)); continue; }
        }
        if (m.exact.count(key)) { c.err = "conflicting parameter \"" + key + "\""; return false; }
        m.exact.emplace(key, std::move(val));
    }
    c.err_where = {};
    return true;
}

bool h_upstream(Ctx& c, const Directive& d) {
    const std::string& name = d.args[0].value;
    for (auto& u : c.http->upstreams)
        if (!u->implicit && u->name == name) { c.err = "duplicate upstream \"" + name + "\""; return false; }
    auto up = std::make_unique<Upstream>();
    up->name = name;
    up->where = d.where;
    Upstream* u = up.get();
    c.http->upstreams.push_back(std::move(up));
    Ctx::Saved saved = c.save();
    c.up = u;
    bool ok = c.walk(d.children, c.context == kStream ? kStreamUpstream : kUpstream);
    c.restore(saved);
    if (ok && u->peers.empty() && u->resolve.empty()) {
        c.err = "no servers are inside upstream";
        c.err_where = d.end;  // nginx notices at the closing brace
        return false;
    }
    return ok;
}

// Balancing methods that ignore weights' ramp (nginx Plus refuses slow_start with them).
bool no_slow_start(Balance b) { return hash_family(b) || b == Balance::Random || b == Balance::RandomTwo || b == Balance::RandomTwoLeastConn; }

// "host:port" -> host, port (no resolution); false if the port is bad.
bool split_host_port(const std::string& s, std::string& host, uint16_t& port) {
    size_t colon = s.rfind(':');
    if (!s.empty() && s[0] == '[') {
        size_t rb = s.find(']');
        if (rb == std::string::npos) return false;
        host = s.substr(1, rb - 1);
        colon = rb + 1 < s.size() && s[rb + 1] == ':' ? rb + 1 : std::string::npos;
    } else {
        host = s.substr(0, colon);
    }
    if (colon == std::string::npos) { port = 80; return !host.empty(); }
    int n;
    if (!parse_int(s.substr(colon + 1), n) || n < 1 || n > 65535) return false;
    port = uint16_t(n);
    return !host.empty();
}

bool h_upstream_server(Ctx& c, const Directive& d) {
    Peer p;
    p.name = d.args[0].value;
    p.server = c.up->server_lines++;
    bool resolve = false;
    for (size_t i = 1; i < d.args.size(); ++i) {
        const std::string& a = d.args[i].value;
        auto num = [&](size_t off, int& out) { return parse_int(a.substr(off), out); };
        if (a.compare(0, 7, "weight=") == 0) {
            if (!num(7, p.weight) || p.weight == 0) { c.err = "invalid parameter \"" + a + "\""; return false; }
        } else if (a.compare(0, 10, "max_fails=") == 0) {
            if (!num(10, p.max_fails)) { c.err = "invalid parameter \"" + a + "\""; return false; }
        } else if (a.compare(0, 10, "max_conns=") == 0) {
            if (!num(10, p.max_conns)) { c.err = "invalid parameter \"" + a + "\""; return false; }
        } else if (a.compare(0, 13, "fail_timeout=") == 0) {
            if (!parse_msec(a.substr(13), p.fail_timeout)) { c.err = "invalid parameter \"" + a + "\""; return false; }
        } else if (a.compare(0, 11, "slow_start=") == 0) {
            if (!parse_msec(a.substr(11), p.slow_start)) { c.err = "invalid parameter \"" + a + "\""; return false; }
            if (no_slow_start(c.up->balance)) {
                c.err = "balancing method does not support parameter \"" + a + "\"";
                return false;
            }
        } else if (a == "backup") {
            if (hash_family(c.up->balance)) {
                c.err = "balancing method does not support parameter \"backup\"";
                return false;
            }
            p.backup = true;
        }
        else if (a == "down") p.down = true;
        else if (a == "resolve") resolve = true;
        else if (a.compare(0, 8, "service=") == 0) {
            c.err = "the \"" + a + "\" parameter of \"server\" in upstream is not supported yet by switchyard";
            return false;
        } else { c.err = "invalid parameter \"" + a + "\""; return false; }
    }
    if (resolve && p.name.compare(0, 5, "unix:") != 0) {
        ResolveServer r;
        if (!split_host_port(p.name, r.host, r.port)) { c.err = "invalid address \"" + p.name + "\""; return false; }
        std::vector<SockAddr> lit;
        std::string e;
        // An IP literal needs no resolving (nginx treats it as a static peer).
        if (!parse_addr(p.name, 80, lit, e, false) || lit.empty()) {
            r.tmpl = p;
            r.where = d.where;
            c.up->resolve.push_back(std::move(r));
            return true;
        }
    }
    std::vector<SockAddr> addrs;
    std::string err;
    if (!parse_addr(p.name, 80, addrs, err)) {
        if (err == "host not found") c.err = "host not found in upstream \"" + p.name.substr(0, p.name.rfind(':') == std::string::npos || p.name[0] == '[' ? p.name.size() : p.name.rfind(':')) + "\"";
        else c.err = err + " in upstream \"" + p.name + "\"";
        return false;
    }
    for (auto& a : addrs) {
        Peer q = p;
        q.addr = a;
        c.up->peers.push_back(q);
    }
    return true;
}

// ip_hash, hash, least_conn, random: a later method replaces an earlier one,
// as in nginx (which warns "load balancing method redefined").
bool set_balance(Ctx& c, Balance b) {
    auto refuse = [&](const Peer& p) {
        if (hash_family(b) && p.backup) c.err = "balancing method does not support parameter \"backup\"";
        else if (no_slow_start(b) && p.slow_start) c.err = "balancing method does not support parameter \"slow_start\"";
        else return false;
        return true;
    };
    for (auto& p : c.up->peers)
        if (refuse(p)) return false;
    for (auto& r : c.up->resolve)
        if (refuse(r.tmpl)) return false;
    c.up->balance = b;
    return true;
}

bool h_ip_hash(Ctx& c, const Directive&) { return set_balance(c, Balance::IpHash); }

// hash KEY [consistent [load_factor=F]]: F > 1 bounds every peer's share of
// open connections to F times the average (switchyard's extension).
bool h_hash(Ctx& c, const Directive& d) {
    bool consistent = false;
    if (d.args.size() >= 2) {
        if (d.args[1].value != "consistent") {
            c.err = "invalid parameter \"" + d.args[1].value + "\"";
            return false;
        }
        consistent = true;
    }
    if (d.args.size() == 3) {
        const std::string& a = d.args[2].value;
        char* end = nullptr;
        double f = a.compare(0, 12, "load_factor=") == 0 ? std::strtod(a.c_str() + 12, &end) : 0;
        if (!end || *end || a.size() == 12 || !(f >= 1.0 && f <= 100.0)) {
            c.err = "invalid parameter \"" + a + "\"";
            return false;
        }
        c.up->load_factor = f;
    }
    if (!compile(c, d.args[0].value, c.up->hash_key)) return false;
    return set_balance(c, consistent ? Balance::HashConsistent : Balance::Hash);
}

bool h_least_conn(Ctx& c, const Directive&) { return set_balance(c, Balance::LeastConn); }

bool h_random(Ctx& c, const Directive& d) {
    if (d.args.empty()) return set_balance(c, Balance::Random);
    if (d.args[0].value != "two") {
        c.err = "invalid parameter \"" + d.args[0].value + "\"";
        return false;
    }
    if (d.args.size() == 2 && d.args[1].value != "least_conn") {
        c.err = "invalid parameter \"" + d.args[1].value + "\"";
        return false;
    }
    return set_balance(c, d.args.size() == 2 ? Balance::RandomTwoLeastConn : Balance::RandomTwo);
}

bool h_upstream_keepalive(Ctx& c, const Directive& d) {
    int n;
    if (!parse_int(d.args[0].value, n)) return invalid(c, d, d.args[0].value);
    c.up->keepalive = n;
    return true;
}

bool h_keepalive_time(Ctx& c, const Directive& d) {
    if (!parse_msec(d.args[0].value, c.up->keepalive_time)) return invalid_slot(c, d);
    return true;
}

bool h_zone(Ctx& c, const Directive& d) {
    size_t sz;
    if (d.args.size() == 2 && !parse_size(d.args[1].value, sz)) {
        c.err = "invalid zone size \"" + d.args[1].value + "\"";
        return false;
    }
    c.up->zone = true;
    return true;
}

// sticky cookie NAME [expires=T|max] [domain=D] [path=P] [httponly] [secure] [samesite=strict|lax|none]
bool h_sticky(Ctx& c, const Directive& d) {
    StickyCookie& st = c.up->sticky;
    if (st.on) { c.err = "\"sticky\" directive is duplicate"; return false; }
    if (d.args[0].value != "cookie") {
        c.err = d.args[0].value == "route" || d.args[0].value == "learn"
                    ? "\"sticky " + d.args[0].value + "\" is not supported yet by switchyard"
                    : "invalid sticky method \"" + d.args[0].value + "\"";
        return false;
    }
    if (d.args.size() < 2 || d.args[1].value.empty()) { c.err = "invalid number of arguments in \"sticky\" directive"; return false; }
    st.name = d.args[1].value;
    for (char ch : st.name)
        if (ch <= ' ' || ch >= 127 || std::strchr("()<>@,;:\\\"/[]?={}", ch)) return invalid(c, d, st.name);
    for (size_t i = 2; i < d.args.size(); ++i) {
        const std::string& a = d.args[i].value;
        auto bad = [&] { c.err = "invalid parameter \"" + a + "\""; return false; };
        auto safe = [](std::string_view v) {
            for (char ch : v)
                if (ch <= ' ' || ch >= 127 || ch == ';' || ch == ',') return false;
            return !v.empty();
        };
        if (a.compare(0, 8, "expires=") == 0) {
            Msec t;
            if (a == "expires=max") st.expires = UINT64_MAX;
            else if (parse_msec(a.substr(8), t)) st.expires = t;
            else return bad();
        } else if (a.compare(0, 7, "domain=") == 0) {
            st.domain = a.substr(7);
            if (!safe(st.domain)) return bad();
        } else if (a.compare(0, 5, "path=") == 0) {
            st.path = a.substr(5);
            if (!safe(st.path)) return bad();
        } else if (a.compare(0, 9, "samesite=") == 0) {
            std::string v = a.substr(9);
            if (strcasecmp(v.c_str(), "strict") == 0) st.samesite = "Strict";
            else if (strcasecmp(v.c_str(), "lax") == 0) st.samesite = "Lax";
            else if (strcasecmp(v.c_str(), "none") == 0) st.samesite = "None";
            else return bad();
        } else if (a == "httponly") st.httponly = true;
        else if (a == "secure") st.secure = true;
        else return bad();
    }
    st.on = true;
    return true;
}

// resolver ADDRESS ... [valid=T] [ipv4=on|off] [ipv6=on|off] [status_zone=Z]
bool h_resolver(Ctx& c, const Directive& d) {
    auto r = std::make_shared<ResolverConf>();
    r->where = d.where;
    for (auto& arg : d.args) {
        const std::string& a = arg.value;
        auto onoff = [&](size_t off, bool& out) {
            std::string v = a.substr(off);
            if (v == "on") out = true;
            else if (v == "off") out = false;
            else return false;
            return true;
        };
        if (a.compare(0, 6, "valid=") == 0) {
            Msec t;
            if (!parse_msec(a.substr(6), t)) return invalid(c, d, a);
            r->valid = t;
        } else if (a.compare(0, 5, "ipv4=") == 0) {
            if (!onoff(5, r->ipv4)) return invalid(c, d, a);
        } else if (a.compare(0, 5, "ipv6=") == 0) {
            if (!onoff(5, r->ipv6)) return invalid(c, d, a);
        } else if (a.compare(0, 12, "status_zone=") == 0) {
        } else {
            std::vector<SockAddr> addrs;
            std::string e;
            if (!parse_addr(a, 53, addrs, e)) { c.err = e + " in resolver \"" + a + "\""; return false; }
            for (auto& x : addrs) r->servers.push_back(x);
        }
    }
    if (!r->ipv4 && !r->ipv6) { c.err = "\"ipv4\" and \"ipv6\" cannot both be \"off\""; return false; }
    if (r->servers.empty()) { c.err = "invalid number of arguments in \"resolver\" directive"; return false; }
    if (c.context == kUpstream) {
        if (c.up->resolver) return dup(c, d);
        c.up->resolver = std::move(r);
        return true;
    }
    if (c.lc->resolver) return dup(c, d);
    c.lc->resolver = std::move(r);
    return true;
}

bool h_resolver_timeout(Ctx& c, const Directive& d) {
    Msec t;
    if (!parse_msec(d.args[0].value, t)) return invalid_slot(c, d);
    if (c.context == kUpstream) { c.up->resolver_timeout = t; return true; }
    if (c.lc->resolver_timeout) return dup(c, d);
    c.lc->resolver_timeout = t;
    return true;
}

// proxy_next_upstream error | timeout | invalid_header | http_5xx ... | non_idempotent | off
bool h_proxy_next_upstream(Ctx& c, const Directive& d) {
    if (c.lc->proxy_next_upstream) return dup(c, d);
    static constexpr std::pair<std::string_view, uint32_t> names[] = {
        {"error", next_upstream::Error},       {"timeout", next_upstream::Timeout},
        {"invalid_header", next_upstream::InvalidHeader}, {"http_500", next_upstream::Http500},
        {"http_502", next_upstream::Http502}, {"http_503", next_upstream::Http503},
        {"http_504", next_upstream::Http504}, {"http_403", next_upstream::Http403},
        {"http_404", next_upstream::Http404}, {"http_429", next_upstream::Http429},
        {"non_idempotent", next_upstream::NonIdempotent}, {"updating", 0},
    };
    uint32_t bits = 0;
    bool off = false;
    for (auto& arg : d.args) {
        const std::string& a = arg.value;
        if (a == "off") { off = true; continue; }
        bool found = false;
        for (auto& [n, b] : names)
            if (a == n) { bits |= b; found = true; }
        if (!found) { c.err = "invalid value \"" + a + "\""; return false; }
    }
    // nginx: "off" wins over anything listed with it
    c.lc->proxy_next_upstream = off ? 0u : bits;
    return true;
}

bool h_proxy_next_upstream_tries(Ctx& c, const Directive& d) {
    if (c.lc->proxy_next_upstream_tries) return dup(c, d);
    int n;
    if (!parse_int(d.args[0].value, n) || n < 0) return invalid_slot(c, d);
    c.lc->proxy_next_upstream_tries = uint32_t(n);
    return true;
}

// ---- TLS ---------------------------------------------------------------------

// TLS files resolve against the configuration file's directory (nginx's
// conf prefix), unlike pid and log paths.
std::string conf_path(const Ctx& c, const std::string& p) {
    if (!p.empty() && p[0] == '/') return p;
    return c.cfg.conf_prefix + p;
}

bool refuse_tls_vars(Ctx& c, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v.find('$') != std::string::npos) {
        c.err = "variables in " + d.name + " are not supported yet by switchyard";
        return false;
    }
    if (v.compare(0, 5, "data:") == 0) {
        c.err = "\"data:\" values in " + d.name + " are not supported yet by switchyard";
        return false;
    }
    return true;
}

// ssl_certificate, ssl_certificate_key: repeatable (several pairs)
template <auto M>
bool h_ssl_file_list(Ctx& c, const Directive& d) {
    if (!refuse_tls_vars(c, d)) return false;
    auto& f = c.lc->*M;
    if (!f) f.emplace();
    f->push_back(TlsArg{conf_path(c, d.args[0].value), d.args[0].value, d.where});
    return true;
}

// ssl_dhparam, proxy_ssl_trusted_certificate, proxy_ssl_certificate[_key]
template <auto M>
bool h_ssl_file(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    if (!refuse_tls_vars(c, d)) return false;
    f = TlsArg{conf_path(c, d.args[0].value), d.args[0].value, d.where};
    return true;
}

// ssl_ciphers, ssl_ecdh_curve, proxy_ssl_ciphers
template <auto M>
bool h_ssl_str(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    f = TlsArg{d.args[0].value, d.args[0].value, d.where};
    return true;
}

// ssl_protocols, proxy_ssl_protocols: nginx's bitmask slot (names without
// case, and a repeated directive adds to the set).
template <auto M>
bool h_ssl_protocols(Ctx& c, const Directive& d) {
    static constexpr std::pair<std::string_view, uint32_t> names[] = {
        {"SSLv2", tls_proto::SSLv2},   {"SSLv3", tls_proto::SSLv3},     {"TLSv1", tls_proto::TLSv1},
        {"TLSv1.1", tls_proto::TLSv1_1}, {"TLSv1.2", tls_proto::TLSv1_2}, {"TLSv1.3", tls_proto::TLSv1_3},
    };
    auto& f = c.lc->*M;
    uint32_t bits = f ? *f : 0;
    for (auto& a : d.args) {
        bool found = false;
        for (auto& [n, b] : names)
            if (strcasecmp(a.value.c_str(), std::string(n).c_str()) == 0) { bits |= b; found = true; }
        if (!found) return invalid_enum(c, a.value);
    }
    f = bits;
    return true;
}

// ssl_session_cache off | none | [builtin[:N]] [shared:NAME:SIZE]
bool h_ssl_session_cache(Ctx& c, const Directive& d) {
    enum class B { Unset, Off, None, Builtin } b = B::Unset;
    size_t builtin = 0, shared = 0;
    bool has_shared = false;
    for (auto& arg : d.args) {
        const std::string& a = arg.value;
        auto bad = [&] { c.err = "invalid session cache \"" + a + "\""; return false; };
        if (a == "off") b = B::Off;
        else if (a == "none") b = B::None;
        else if (a == "builtin") { b = B::Builtin; builtin = 20480; }   // OpenSSL's default size
        else if (a.size() > 8 && a.compare(0, 8, "builtin:") == 0) {
            int n;
            if (!parse_int(a.substr(8), n)) return bad();
            b = B::Builtin;
            builtin = size_t(n);
        } else if (a.size() > 7 && a.compare(0, 7, "shared:") == 0) {
            size_t colon = a.find(':', 7);
            if (colon == std::string::npos || colon == 7) return bad();
            size_t sz;
            if (!parse_size(a.substr(colon + 1), sz)) return bad();
            long page = sysconf(_SC_PAGESIZE);
            if (sz < 8 * size_t(page > 0 ? page : 4096)) {
                c.err = "session cache \"" + a + "\" is too small";
                return false;
            }
            has_shared = true;
            shared += sz / (1024 * 1024) * 4000 + sz % (1024 * 1024) * 4000 / (1024 * 1024);
        } else return bad();
    }
    SslSessionCache sc;
    if (b == B::Off) sc.mode = SslSessionCache::Mode::Off;
    else if (b == B::None) sc.mode = SslSessionCache::Mode::None;
    else if (b == B::Builtin || has_shared) {
        sc.mode = SslSessionCache::Mode::Cache;
        sc.sessions = builtin + shared;
    }
    c.lc->ssl_session_cache = sc;   // nginx: a repeated directive overrides
    return true;
}

template <auto M>
bool h_password_file(Ctx& c, const Directive& d) {
    auto& f = c.lc->*M;
    if (f) return dup(c, d);
    auto pw = std::make_shared<std::vector<std::string>>();
    if (!tls::read_password_file(conf_path(c, d.args[0].value), *pw, c.err)) return false;
    f = std::move(pw);
    return true;
}

// `ssl on|off` (nginx 1.22: deprecated, still in force): on makes every
// connection whose address's default server has it on a TLS one.
bool h_ssl(Ctx& c, const Directive& d) {
    if (!set_flag<&LocConf::ssl>(c, d)) return false;
    c.lc->ssl_where = d.where;
    c.cfg.warnings.push_back("the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead in " +
                             d.where.str());
    return true;
}

// ssl_verify_client on | off | optional | optional_no_ca (ngx_conf_set_enum_slot)
bool h_ssl_verify_client(Ctx& c, const Directive& d) {
    if (c.lc->ssl_verify_client) return dup(c, d);
    static constexpr std::string_view names[] = {"off", "on", "optional", "optional_no_ca"};
    const std::string& v = d.args[0].value;
    for (int i = 0; i < 4; ++i)
        if (strcasecmp(v.c_str(), std::string(names[i]).c_str()) == 0) {
            c.lc->ssl_verify_client = i;
            c.lc->ssl_verify_client_where = d.where;
            return true;
        }
    return invalid_enum(c, v);
}

// ssl_verify_depth (ngx_conf_set_num_slot)
bool h_ssl_verify_depth(Ctx& c, const Directive& d) {
    if (c.lc->ssl_verify_depth) return dup(c, d);
    int n;
    if (!parse_int(d.args[0].value, n)) { c.err = "\"" + d.name + "\" directive invalid number"; return false; }
    c.lc->ssl_verify_depth = n;
    return true;
}

// ssl_stapling_responder URL: a string slot, checked when the context is built
bool h_ssl_stapling_responder(Ctx& c, const Directive& d) {
    if (c.lc->ssl_stapling_responder) return dup(c, d);
    c.lc->ssl_stapling_responder = TlsArg{d.args[0].value, d.args[0].value, d.where};
    return true;
}

bool h_proxy_ssl_name(Ctx& c, const Directive& d) {
    if (c.lc->proxy_ssl_name) return dup(c, d);
    Template t;
    if (!compile(c, d.args[0].value, t)) return false;
    c.lc->proxy_ssl_name = std::move(t);
    return true;
}

bool h_proxy_ssl_verify(Ctx& c, const Directive& d) {
    if (!set_flag<&LocConf::proxy_ssl_verify>(c, d)) return false;
    c.lc->proxy_ssl_verify_where = d.where;
    return true;
}

// ngx_conf_set_num_slot
bool h_proxy_ssl_verify_depth(Ctx& c, const Directive& d) {
    if (c.lc->proxy_ssl_verify_depth) return dup(c, d);
    int n;
    if (!parse_int(d.args[0].value, n)) { c.err = "\"" + d.name + "\" directive invalid number"; return false; }
    c.lc->proxy_ssl_verify_depth = n;
    return true;
}

bool h_internal(Ctx& c, const Directive&) {
    c.loc->internal = true;
    return true;
}

bool h_not_yet(Ctx& c, const Directive& d) {
    c.err = "\"" + d.name + "\" directive is not supported yet by switchyard";
    return false;
}

constexpr uint32_t kLoc = kHttp | kServer | kLocation;
constexpr uint32_t kStrm = kStream | kStreamServer;

// clang-format off
const Spec kTable[] = {
    // main
    {"daemon",               kMain,      A1, 0, h_daemon},
    {"pid",                  kMain,      A1, 0, h_pid},
    {"error_log",            kMain | kLoc | kStrm, A1 | A2, 0, h_error_log},
    {"worker_processes",     kMain,      A1, 0, h_worker_processes},
    {"worker_rlimit_nofile", kMain,      A1, 0, h_worker_rlimit_nofile},
    {"user",                 kMain,      A1 | A2, 0, accept_noop},
    {"pcre_jit",             kMain,      A1, 0, accept_noop},
    {"events",               kMain,      A0, kBlock, h_events},
    {"worker_connections",   kEvents,    A1, 0, h_worker_connections},
    {"use",                  kEvents,    A1, 0, h_use},
    {"multi_accept",         kEvents,    A1, 0, accept_noop},
    {"accept_mutex",         kEvents,    A1, 0, accept_noop},
    {"http",                 kMain,      A0, kBlock, h_http},
    // http core
    {"server",               kHttp,      A0, kBlock, h_server},
    {"listen",               kServer,    kMore1, 0, h_listen},
    {"server_name",          kServer | kStreamServer, kMore1, 0, h_server_name},
    {"location",             kServer | kLocation, A1 | A2, kBlock, h_location},
    {"root",                 kLoc,       A1, 0, h_root},
    {"internal",             kLocation,  A0, 0, h_internal},
    {"index",                kLoc,       kMore1, 0, h_index},
    {"error_page",           kLoc,       kMore2, 0, h_error_page},
    {"keepalive_timeout",    kLoc | kUpstream, A1 | A2, 0, h_keepalive_timeout},
    {"keepalive_requests",   kLoc | kUpstream, A1, 0, h_keepalive_requests},
    {"send_timeout",         kLoc,       A1, 0, set_msec<&LocConf::send_timeout>},
    {"client_header_timeout", kHttp | kServer, A1, 0, set_msec<&LocConf::client_header_timeout>},
    {"client_body_timeout",  kLoc,       A1, 0, set_msec<&LocConf::client_body_timeout>},
    {"client_max_body_size", kLoc,       A1, 0, set_size<&LocConf::client_max_body_size>},
    {"client_body_buffer_size", kLoc,    A1, 0, set_size<&LocConf::client_body_buffer_size>},
    {"client_header_buffer_size", kHttp | kServer, A1, 0, set_size<&LocConf::client_header_buffer_size>},
    {"large_client_header_buffers", kHttp | kServer, A2, 0, set_bufs<&LocConf::large_client_header_buffers>},
    {"tcp_nodelay",          kLoc | kStrm,       A1, 0, set_flag<&LocConf::tcp_nodelay>},
    {"server_tokens",        kLoc,       A1, 0, set_flag<&LocConf::server_tokens>},
    {"absolute_redirect",    kLoc,       A1, 0, set_flag<&LocConf::absolute_redirect>},
    {"port_in_redirect",     kLoc,       A1, 0, set_flag<&LocConf::port_in_redirect>},
    {"merge_slashes",        kHttp | kServer, A1, 0, set_flag<&LocConf::merge_slashes>},
    {"log_not_found",        kLoc,       A1, 0, set_flag<&LocConf::log_not_found>},
    {"ignore_invalid_headers", kHttp | kServer, A1, 0, set_flag<&LocConf::ignore_invalid_headers>},
    {"underscores_in_headers", kHttp | kServer, A1, 0, set_flag<&LocConf::underscores_in_headers>},
    {"proxy_temp_path",      kLoc,       A1 | A2 | A3 | A4, 0, set_temp_path<&LocConf::proxy_temp_path>},
    {"client_body_temp_path", kLoc,      A1 | A2 | A3 | A4, 0, set_temp_path<&LocConf::client_body_temp_path>},
    {"client_body_in_file_only", kLoc,   A1, 0, h_client_body_in_file_only},
    {"lingering_close",      kLoc,       A1, 0, h_lingering_close},
    {"lingering_time",       kLoc,       A1, 0, set_msec<&LocConf::lingering_time>},
    {"lingering_timeout",    kLoc,       A1, 0, set_msec<&LocConf::lingering_timeout>},
    {"client_body_in_single_buffer", kLoc, A1, 0, set_flag<&LocConf::client_body_in_single_buffer>},
    {"default_type",         kLoc,       A1, 0, h_default_type},
    {"types",                kLoc,       A0, kBlock | kRawBlock, h_types},
    {"add_header",           kLoc,       A2 | A3, 0, h_add_header},
    {"add_trailer",          kLoc,       A2 | A3, 0, h_add_header},
    {"log_format",           kHttp | kStream,      kMore2, 0, h_log_format},
    {"access_log",           kLoc | kStrm,       kMore1, 0, h_access_log},
    {"map",                  kHttp | kStream,      A2, kBlock | kRawBlock, h_map},
    {"geo",                  kHttp | kStream,      A1 | A2, kBlock | kRawBlock, h_geo},
    {"return",               kServer | kLocation, A1 | A2, 0, h_return},
    {"rewrite",              kServer | kLocation, A2 | A3, 0, h_rewrite},
    // accepted: tuning knobs without behavioural effect here
    {"sendfile",             kLoc,       A1, 0, accept_noop},
    {"tcp_nopush",           kLoc,       A1, 0, accept_noop},
    {"server_names_hash_bucket_size", kHttp, A1, 0, accept_noop},
    {"server_names_hash_max_size", kHttp, A1, 0, accept_noop},
    {"types_hash_max_size",  kLoc,       A1, 0, accept_noop},
    {"types_hash_bucket_size", kLoc,     A1, 0, accept_noop},
    {"variables_hash_max_size", kHttp,   A1, 0, accept_noop},
    {"variables_hash_bucket_size", kHttp, A1, 0, accept_noop},
    {"map_hash_max_size",    kHttp,      A1, 0, accept_noop},
    {"map_hash_bucket_size", kHttp,      A1, 0, accept_noop},
    {"reset_timedout_connection", kLoc,  A1, 0, accept_noop},
    // static files and response headers (config/static_directives.cpp)
    {"alias",                kLocation,  A1, 0, h_alias},
    {"try_files",            kServer | kLocation, kMore2, 0, h_try_files},
    {"etag",                 kLoc,       A1, 0, set_flag<&LocConf::etag>},
    {"expires",              kLoc,       A1 | A2, 0, h_expires},
    {"charset",              kLoc,       A1, 0, h_charset},
    {"source_charset",       kLoc,       A1, 0, h_source_charset},
    {"charset_types",        kLoc,       kMore1, 0, h_charset_types},
    {"ssi",                  kLoc,       A1, 0, set_flag<&LocConf::ssi>},
    {"ssi_silent_errors",    kLoc,       A1, 0, set_flag<&LocConf::ssi_silent_errors>},
    {"ssi_last_modified",    kLoc,       A1, 0, set_flag<&LocConf::ssi_last_modified>},
    {"ssi_types",            kLoc,       kMore1, 0, h_ssi_types},
    {"ssi_value_length",     kLoc,       A1, 0, set_size<&LocConf::ssi_value_length>},
    {"ssi_min_file_chunk",   kLoc,       A1, 0, set_size<&LocConf::ssi_min_file_chunk>},
    {"subrequest_output_buffer_size", kLoc, A1, 0, set_size<&LocConf::subrequest_output_buffer_size>},
    {"charset_map",          kHttp,      A2, kBlock | kRawBlock, h_not_yet},
    {"override_charset",     kLoc,       A1, 0, h_not_yet},
    {"chunked_transfer_encoding", kLoc,  A1, 0, set_flag<&LocConf::chunked_transfer_encoding>},
    {"server_name_in_redirect", kLoc,    A1, 0, set_flag<&LocConf::server_name_in_redirect>},
    {"recursive_error_pages", kLoc,      A1, 0, set_flag<&LocConf::recursive_error_pages>},
    {"sendfile_max_chunk",   kLoc,       A1, 0, h_sendfile_max_chunk},
    {"aio",                  kLoc,       A1, 0, h_aio},
    // upstream
    {"upstream",             kHttp | kStream,      A1, kBlock, h_upstream},
    {"server",               kUpstream | kStreamUpstream,  kMore1, 0, h_upstream_server},
    {"keepalive",            kUpstream,  A1, 0, h_upstream_keepalive},
    {"keepalive_time",       kUpstream,  A1, 0, h_keepalive_time},
    {"zone",                 kUpstream | kStreamUpstream,  A1 | A2, 0, h_zone},
    {"sticky",               kUpstream,  kMore1, 0, h_sticky},
    {"resolver",             kLoc | kUpstream | kStrm | kStreamUpstream, kMore1, 0, h_resolver},
    {"resolver_timeout",     kLoc | kUpstream | kStrm | kStreamUpstream, A1, 0, h_resolver_timeout},
    // proxy
    {"proxy_pass",           kLocation,  A1, 0, h_proxy_pass},
    {"proxy_http_version",   kLoc,       A1, 0, h_proxy_http_version},
    {"proxy_set_header",     kLoc,       A2, 0, h_proxy_set_header},
    {"proxy_pass_request_headers", kLoc, A1, 0, set_flag<&LocConf::proxy_pass_request_headers>},
    {"proxy_pass_request_body", kLoc,    A1, 0, set_flag<&LocConf::proxy_pass_request_body>},
    {"proxy_hide_header",    kLoc,       A1, 0, add_string<&LocConf::proxy_hide_header>},
    {"proxy_pass_header",    kLoc,       A1, 0, add_string<&LocConf::proxy_pass_header>},
    {"proxy_connect_timeout", kLoc | kStrm,      A1, 0, set_msec<&LocConf::proxy_connect_timeout>},
    {"proxy_read_timeout",   kLoc,       A1, 0, set_msec<&LocConf::proxy_read_timeout>},
    {"proxy_send_timeout",   kLoc,       A1, 0, set_msec<&LocConf::proxy_send_timeout>},
    {"proxy_buffering",      kLoc,       A1, 0, set_flag<&LocConf::proxy_buffering>},
    {"proxy_request_buffering", kLoc,    A1, 0, set_flag<&LocConf::proxy_request_buffering>},
    {"proxy_buffer_size",    kLoc | kStrm,       A1, 0, set_size<&LocConf::proxy_buffer_size>},
    {"proxy_buffers",        kLoc,       A2, 0, set_bufs<&LocConf::proxy_buffers>},
    {"proxy_busy_buffers_size", kLoc,    A1, 0, accept_noop},
    {"proxy_max_temp_file_size", kLoc,   A1, 0, set_size<&LocConf::proxy_max_temp_file_size>},
    {"proxy_temp_file_write_size", kLoc, A1, 0, set_size<&LocConf::proxy_temp_file_write_size>},
    {"proxy_intercept_errors", kLoc,     A1, 0, set_flag<&LocConf::proxy_intercept_errors>},
    {"proxy_redirect",       kLoc,       A1 | A2, 0, h_proxy_redirect},
    {"proxy_cache",          kLoc,       A1, 0, h_proxy_cache},
    {"proxy_next_upstream",  kLoc,       kMore1, 0, h_proxy_next_upstream},
    {"proxy_next_upstream_tries", kLoc | kStrm,  A1, 0, h_proxy_next_upstream_tries},
    {"proxy_next_upstream_timeout", kLoc | kStrm, A1, 0, set_msec<&LocConf::proxy_next_upstream_timeout>},
    // TLS (other ssl_* and proxy_ssl_* directives: "not supported yet" by prefix)
    {"http2",                kHttp | kServer, A1, 0, set_flag<&LocConf::http2>},
    {"http2_max_concurrent_streams", kHttp | kServer, A1, 0, h_http2_max_concurrent_streams},
    {"ssl",                  kHttp | kServer, A1, 0, h_ssl},
    {"ssl_certificate",      kHttp | kServer | kStrm, A1, 0, h_ssl_file_list<&LocConf::ssl_certificate>},
    {"ssl_certificate_key",  kHttp | kServer | kStrm, A1, 0, h_ssl_file_list<&LocConf::ssl_certificate_key>},
    {"ssl_protocols",        kHttp | kServer | kStrm, kMore1, 0, h_ssl_protocols<&LocConf::ssl_protocols>},
    {"ssl_ciphers",          kHttp | kServer | kStrm, A1, 0, h_ssl_str<&LocConf::ssl_ciphers>},
    {"ssl_ecdh_curve",       kHttp | kServer | kStrm, A1, 0, h_ssl_str<&LocConf::ssl_ecdh_curve>},
    {"ssl_prefer_server_ciphers", kHttp | kServer | kStrm, A1, 0, set_flag<&LocConf::ssl_prefer_server_ciphers>},
    {"ssl_session_cache",    kHttp | kServer | kStrm, A1 | A2, 0, h_ssl_session_cache},
    {"ssl_session_timeout",  kHttp | kServer | kStrm, A1, 0, set_msec<&LocConf::ssl_session_timeout>},
    {"ssl_session_tickets",  kHttp | kServer | kStrm, A1, 0, set_flag<&LocConf::ssl_session_tickets>},
    {"ssl_dhparam",          kHttp | kServer | kStrm, A1, 0, h_ssl_file<&LocConf::ssl_dhparam>},
    {"ssl_password_file",    kHttp | kServer | kStrm, A1, 0, h_password_file<&LocConf::ssl_password_file>},
    {"ssl_handshake_timeout", kHttp | kServer | kStrm, A1, 0, set_msec<&LocConf::ssl_handshake_timeout>},
    {"ssl_verify_client",    kHttp | kServer | kStrm, A1, 0, h_ssl_verify_client},
    {"ssl_verify_depth",     kHttp | kServer | kStrm, A1, 0, h_ssl_verify_depth},
    {"ssl_client_certificate", kHttp | kServer | kStrm, A1, 0, h_ssl_file<&LocConf::ssl_client_certificate>},
    {"ssl_trusted_certificate", kHttp | kServer | kStrm, A1, 0, h_ssl_file<&LocConf::ssl_trusted_certificate>},
    {"ssl_crl",              kHttp | kServer | kStrm, A1, 0, h_ssl_file<&LocConf::ssl_crl>},
    {"ssl_stapling",         kHttp | kServer, A1, 0, set_flag<&LocConf::ssl_stapling>},
    {"ssl_stapling_verify",  kHttp | kServer, A1, 0, set_flag<&LocConf::ssl_stapling_verify>},
    {"ssl_stapling_file",    kHttp | kServer, A1, 0, h_ssl_file<&LocConf::ssl_stapling_file>},
    {"ssl_stapling_responder", kHttp | kServer, A1, 0, h_ssl_stapling_responder},
    {"proxy_ssl_server_name", kLoc | kStrm,      A1, 0, set_flag<&LocConf::proxy_ssl_server_name>},
    {"proxy_ssl_name",       kLoc | kStrm,       A1, 0, h_proxy_ssl_name},
    {"proxy_ssl_verify",     kLoc | kStrm,       A1, 0, h_proxy_ssl_verify},
    {"proxy_ssl_trusted_certificate", kLoc | kStrm, A1, 0, h_ssl_file<&LocConf::proxy_ssl_trusted_certificate>},
    {"proxy_ssl_verify_depth", kLoc | kStrm,     A1, 0, h_proxy_ssl_verify_depth},
    {"proxy_ssl_protocols",  kLoc | kStrm,       kMore1, 0, h_ssl_protocols<&LocConf::proxy_ssl_protocols>},
    {"proxy_ssl_ciphers",    kLoc | kStrm,       A1, 0, h_ssl_str<&LocConf::proxy_ssl_ciphers>},
    {"proxy_ssl_session_reuse", kLoc | kStrm,    A1, 0, set_flag<&LocConf::proxy_ssl_session_reuse>},
    {"proxy_ssl_certificate", kLoc | kStrm,      A1, 0, h_ssl_file<&LocConf::proxy_ssl_certificate>},
    {"proxy_ssl_certificate_key", kLoc | kStrm,  A1, 0, h_ssl_file<&LocConf::proxy_ssl_certificate_key>},
    {"proxy_ssl_password_file", kLoc | kStrm,    A1, 0, h_password_file<&LocConf::proxy_ssl_password_file>},
    // nginx directives that later issues bring; refused clearly until then
    // stream {}
    {"load_module",          kMain,      A1, 0, h_load_module},
    {"stream",               kMain,      A0, kBlock, h_stream},
    {"server",               kStream,    A0, kBlock, h_stream_server},
    {"listen",               kStreamServer, kMore1, 0, h_listen},
    {"proxy_pass",           kStreamServer, A1, 0, h_stream_proxy_pass},
    {"return",               kStreamServer, A1, 0, h_stream_return},
    {"proxy_next_upstream",  kStrm,      A1, 0, h_stream_next_upstream},
    {"proxy_timeout",        kStrm,      A1, 0, set_msec<&LocConf::proxy_timeout>},
    {"proxy_protocol",       kStrm,      A1, 0, set_flag<&LocConf::proxy_protocol>},
    {"proxy_protocol_version", kStrm,    A1, 0, h_proxy_protocol_version},
    {"proxy_half_close",     kStrm,      A1, 0, set_flag<&LocConf::proxy_half_close>},
    {"set_real_ip_from",     kLoc | kStrm, A1, 0, h_set_real_ip_from},
    {"real_ip_header",       kLoc,       A1, 0, h_real_ip_header},
    {"real_ip_recursive",    kLoc,       A1, 0, set_flag<&LocConf::real_ip_recursive>},
    {"proxy_ssl",            kStrm,      A1, 0, set_flag<&LocConf::proxy_ssl>},
    {"ssl_preread",          kStrm,      A1, 0, set_flag<&LocConf::ssl_preread>},
    {"preread_buffer_size",  kStrm,      A1, 0, set_size<&LocConf::preread_buffer_size>},
    {"preread_timeout",      kStrm,      A1, 0, set_msec<&LocConf::preread_timeout>},
    {"proxy_protocol_timeout", kStrm,    A1, 0, set_msec<&LocConf::proxy_protocol_timeout>},
    {"ip_hash",              kUpstream,  A0, 0, h_ip_hash},
    {"hash",                 kUpstream | kStreamUpstream,  A1 | A2 | A3, 0, h_hash},
    {"least_conn",           kUpstream | kStreamUpstream,  A0, 0, h_least_conn},
    {"random",               kUpstream | kStreamUpstream,  A0 | A1 | A2, 0, h_random},
    {"if",                   kServer | kLocation, kMore1, kBlock, h_if},
    {"set",                  kServer | kLocation, A2, 0, h_set},
    {"break",                kServer | kLocation, A0, 0, h_break},
    {"rewrite_log",          kLoc,       A1, 0, set_flag<&LocConf::rewrite_log>},
    {"uninitialized_variable_warn", kLoc, A1, 0, set_flag<&LocConf::uninitialized_variable_warn>},
    {"limit_except",         kLocation,  kMore1, kBlock | kRawBlock, h_not_yet},
    {"gzip",                 kLoc,       A1, 0, h_not_yet},
    {"stub_status",          kServer | kLocation, A0 | A1, 0, h_not_yet},
    {"fastcgi_pass",         kLocation,  A1, 0, h_not_yet},
    {"uwsgi_pass",           kLocation,  A1, 0, h_not_yet},
    {"grpc_pass",            kLocation,  A1, 0, h_not_yet},
    {"auth_basic",           kLoc,       A1, 0, h_not_yet},
    {"allow",                kLoc,       A1, 0, h_not_yet},
    {"deny",                 kLoc,       A1, 0, h_not_yet},
    {"limit_req",            kLoc,       kMore1, 0, h_not_yet},
    {"limit_conn",           kLoc,       A2, 0, h_not_yet},
    {"real_ip_header",       kLoc,       A1, 0, h_not_yet},
    {"set_real_ip_from",     kLoc,       A1, 0, h_not_yet},
};
// clang-format on

}  // namespace

bool compile_value(Ctx& c, const std::string& text, Template& t) {
    std::string err;
    if (!compile_template(text, &c.scope, t, err)) { c.err = err; return false; }
    for (auto& seg : t.segs)
        if (c.http && (seg.var.kind == Var::SentHttp || seg.var.kind == Var::UpstreamHttp || seg.var.kind == Var::UpstreamCookie)) c.http->keeps_response_headers = true;
    for (auto& seg : t.segs)
        if (c.http && (seg.var.kind == Var::SslSessionId || seg.var.kind == Var::SslCiphers)) c.http->keeps_ssl_session_vars = true;
    return true;
}

std::string ascii_lower(std::string s) {
    for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

std::span<const Spec> directive_table() { return {kTable, sizeof kTable / sizeof kTable[0]}; }

}  // namespace sy::conf

#include "http/variables.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "build_info.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/realip.h"
#include "http/response.h"

namespace sy::http {
namespace {

// Same-named request headers are joined like nginx >= 1.23 (";" for Cookie).
bool header_var(const RequestHead& h, std::string_view lname, std::string& out) {
    bool found = false;
    std::string_view sep = ieq(lname, "cookie") ? "; " : ", ";
    for (auto& hd : h.headers) {
        if (!ieq(hd.name, lname)) continue;
        if (found) out += sep;
        out += hd.value;
        found = true;
    }
    return found;
}

// Same-named response fields: joined with ", " (nginx 1.23+).
bool joined_field(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view lname, std::string& out) {
    bool found = false;
    for (auto& [n, val] : fields)
        if (ieq(n, lname)) {
            if (found) out += ", ";
            out += val;
            found = true;
        }
    return found;
}

bool arg_var(std::string_view args, std::string_view name, std::string& out) {
    while (!args.empty()) {
        size_t amp = args.find('&');
        std::string_view kv = args.substr(0, amp);
        size_t eq = kv.find('=');
        std::string_view k = kv.substr(0, eq);
        if (eq != std::string_view::npos && ieq(k, name)) {  // nginx requires "name="
            out += kv.substr(eq + 1);
            return true;
        }
        if (amp == std::string_view::npos) break;
        args.remove_prefix(amp + 1);
    }
    return false;
}

template <typename F>
bool upstream_list(const Request& r, std::string& out, F f) {
    if (r.upstream.empty()) return false;
    for (size_t i = 0; i < r.upstream.size(); ++i) {
        if (i) out += ", ";
        f(r.upstream[i], out);
    }
    return true;
}

bool capture(const Request& r, uint32_t n, std::string& out) {
    size_t i = size_t(n) * 2;
    if (i + 1 >= r.caps.size() || r.caps[i] < 0) return n == 0 ? false : true;
    out.append(r.cap_subject, size_t(r.caps[i]), size_t(r.caps[i + 1] - r.caps[i]));
    return true;
}

bool wildcard_match(std::string_view host, std::string_view pat, bool head) {
    if (head) {  // ".example.com" matches "a.example.com" (and not "example.com")
        return host.size() > pat.size() && host.substr(host.size() - pat.size()) == pat;
    }
    return host.size() > pat.size() && host.substr(0, pat.size()) == pat;  // "www.example."
}

// nginx's error-log context of a request (Exchange::log_context's form).
std::string request_context(VarCtx& ctx) {
    const Request& r = ctx.req;
    std::string s = ", client: " + ctx.conn.remote_addr + ", server: ";
    if (r.server) s += r.server->first_name;
    if (!r.head.request_line.empty()) {
        s += ", request: \"";
        s += r.head.request_line;
        s += "\"";
    }
    for (auto& h : r.head.headers)
        if (ieq(h.name, "host")) {
            s += ", host: \"";
            s += h.value;
            s += "\"";
            break;
        }
    return s;
}

// A `set` variable: its value, or (never set in this request) the empty
// value, with nginx's warning once per request when uninitialized_variable_warn is on.
bool user_var(const conf::VarRef& v, VarCtx& ctx, std::string& out) {
    Request& r = ctx.req;
    size_t i = v.index;
    if (i < r.user_set.size() && r.user_set[i]) {
        out += r.user_vars[i];
        return true;
    }
    if (r.user_set.size() <= i) {
        r.user_vars.resize(i + 1);
        r.user_set.resize(i + 1);
    }
    r.user_set[i] = 1;   // nginx caches the empty value: one warning per request
    if (r.lc && r.lc->uninitialized_variable_warn.value_or(true) && errlog().enabled(Level::Warn))
        errlog().write(Level::Warn, ctx.conn.number,
                       "using uninitialized \"" + v.arg + "\" variable" + request_context(ctx));
    return true;
}

}  // namespace

bool cookie_value(const RequestHead& h, std::string_view name, std::string& out) {
    for (auto& hd : h.headers) {
        if (!ieq(hd.name, "cookie")) continue;
        std::string_view v = hd.value;
        while (!v.empty()) {
            while (!v.empty() && (v[0] == ' ' || v[0] == ';')) v.remove_prefix(1);
            size_t semi = v.find(';');
            std::string_view kv = v.substr(0, semi);
            size_t eq = kv.find('=');
            if (eq != std::string_view::npos && ieq(kv.substr(0, eq), name)) {
                out += kv.substr(eq + 1);
                return true;
            }
            if (semi == std::string_view::npos) break;
            v.remove_prefix(semi + 1);
        }
    }
    return false;
}

// nginx's ngx_http_parse_set_cookie_lines: the cookie each Set-Cookie field
// sets (its first "name=value"), the first field naming `name`.
bool set_cookie_value(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name,
                      std::string& out) {
    for (auto& [n, val] : fields) {
        if (!ieq(n, "set-cookie")) continue;
        std::string_view v = val;
        while (!v.empty() && (v[0] == ' ' || v[0] == '\t')) v.remove_prefix(1);
        v = v.substr(0, v.find(';'));
        size_t eq = v.find('=');
        if (eq == std::string_view::npos || !ieq(v.substr(0, eq), name)) continue;
        v.remove_prefix(eq + 1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        out += v;
        return true;
    }
    return false;
}

// nginx's ngx_http_auth_basic_user: "Basic " (any case), base64 of
// "user:password"; the user, or not found when the field is anything else.
bool basic_auth_user(const RequestHead& h, std::string& out) {
    const Header* a = nullptr;
    for (auto& hd : h.headers)
        if (ieq(hd.name, "authorization")) { a = &hd; break; }
    if (!a) return false;
    std::string_view v = a->value;
    if (v.size() < 6 || !ieq(v.substr(0, 6), "basic ")) return false;
    v.remove_prefix(6);
    while (!v.empty() && v[0] == ' ') v.remove_prefix(1);
    if (v.empty()) return false;
    std::string dec;
    if (!base64_decode(v, dec)) return false;
    size_t colon = dec.find(':');
    if (colon == std::string::npos) return false;
    out.append(dec, 0, colon);
    return true;
}

bool base64_decode(std::string_view in, std::string& out) {
    // nginx's ngx_decode_base64: standard alphabet, '=' padding optional, a stray byte fails
    size_t len = in.size();
    while (len > 0 && in[len - 1] == '=') --len;
    if (len % 4 == 1) return false;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; ++i) {
        char c = in[i];
        int d = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
              : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (d < 0) return false;
        acc = (acc << 6) | uint32_t(d);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((acc >> bits) & 0xff);
        }
    }
    return true;
}

std::string format_msec(uint64_t ms) { return fmt::format("{}.{:03}", ms / 1000, ms % 1000); }

void set_captures(Request& r, const conf::Regex& re, std::string_view subject, const std::vector<int>& caps) {
    r.cap_subject.assign(subject);
    r.caps = caps;
    r.cap_regex = &re;
    r.numbered_caps_off = false;
    for (auto& named : re.names()) {
        const auto& name = named.first;   // a plain reference: clang 14 cannot capture a structured binding
        std::string v;
        capture(r, uint32_t(named.second), v);
        auto it = std::find_if(r.named_caps.begin(), r.named_caps.end(), [&](auto& p) { return ieq(p.first, name); });
        if (it != r.named_caps.end()) it->second = std::move(v);
        else r.named_caps.emplace_back(name, std::move(v));
    }
}

// geo: the client's address (through X-Forwarded-For when the peer is a
// trusted `proxy`) or the given variable's value; the most specific network
// holding it, or with `ranges` the last range; an unparsable address gets the
// default, as nginx's INADDR_NONE does.
static std::string geo_value(const conf::MapConf& m, VarCtx& ctx) {
    const conf::GeoConf& g = *m.geo;
    sockaddr_storage addr{};
    bool ok;
    if (g.source_given) {
        ok = parse_addr_port(eval(m.source, ctx), addr);
    } else {
        ok = parse_addr_port(ctx.conn.remote_addr, addr);
        if (ok && !g.proxies.empty()) {
            std::vector<std::string_view> values;
            for (auto& h : ctx.req.head.headers)
                if (ieq(h.name, "x-forwarded-for")) values.push_back(h.value);
            if (!values.empty()) forwarded_addr(addr, values, g.proxies, g.proxy_recursive);
        }
    }
    if (!ok) return g.default_value;
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&addr);
    if (g.use_ranges) {
        if (addr.ss_family != AF_INET) return g.default_value;
        uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr.s_addr);
        for (auto it = g.ranges.rbegin(); it != g.ranges.rend(); ++it)
            if (a >= it->from && a <= it->to) return it->value;
        return g.default_value;
    }
    for (auto& n : g.nets)
        if (n.cidr.contains(sa)) return n.value;
    return g.default_value;
}

const std::string& map_value(uint32_t id, VarCtx& ctx) {
    Request& r = ctx.req;
    if (r.map_cache.size() <= id) {
        r.map_cache.resize(ctx.http.maps.size());
        r.map_done.resize(ctx.http.maps.size());
    }
    if (r.map_done[id] == 1) return r.map_cache[id];
    if (r.map_done[id] == 2) {  // a map that depends on itself
        r.map_cache[id].clear();
        return r.map_cache[id];
    }
    r.map_done[id] = 2;
    const conf::MapConf& m = *ctx.http.maps[id];
    if (m.geo) {
        r.map_cache[id] = geo_value(m, ctx);
        r.map_done[id] = 1;
        return r.map_cache[id];
    }
    std::string key = eval(m.source, ctx);
    std::string lkey = key;  // string keys match ignoring case; regexes see the value as is
    for (auto& c : lkey) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (m.hostnames && !lkey.empty() && lkey.back() == '.') lkey.pop_back();
    const conf::Template* val = nullptr;
    auto it = m.exact.find(lkey);
    if (it != m.exact.end()) val = &it->second;
    if (!val && m.hostnames) {
        size_t best = 0;
        for (auto& [pat, v] : m.wild_head)
            if (pat.size() > best && wildcard_match(lkey, pat, true)) { best = pat.size(); val = &v; }
        if (!val)
            for (auto& [pat, v] : m.wild_tail)
                if (pat.size() > best && wildcard_match(lkey, pat, false)) { best = pat.size(); val = &v; }
    }
    std::string out;
    if (!val) {
        std::vector<int> caps;
        for (auto& [re, v] : m.regexes)
            if (re->match(key, caps)) {
                set_captures(r, *re, key, caps);
                val = &v;
                break;
            }
    }
    if (!val && m.has_default) val = &m.default_value;
    if (val) eval(*val, ctx, out);
    r.map_cache[id] = std::move(out);
    r.map_done[id] = 1;
    return r.map_cache[id];
}

static bool client_cert_var(conf::Var kind, const ConnInfo& c, std::string& out) {
    using conf::Var;
    if (!c.ssl) return false;
    const tls::PeerCert* pc = c.client_cert.get();
    if (kind == Var::SslClientVerify) {
        out += tls::client_verify_text(pc);
        return true;
    }
    if (!pc) return true;
    switch (kind) {
    case Var::SslClientSDn: out += pc->s_dn; break;
    case Var::SslClientIDn: out += pc->i_dn; break;
    case Var::SslClientSerial: out += pc->serial; break;
    case Var::SslClientFingerprint: out += pc->fingerprint; break;
    case Var::SslClientCert: out += tls::indented_cert(pc->pem); break;
    case Var::SslClientRawCert: out += pc->pem; break;
    case Var::SslClientEscapedCert: out += tls::escaped_cert(pc->pem); break;
    case Var::SslClientVStart: out += pc->v_start; break;
    case Var::SslClientVEnd: out += pc->v_end; break;
    case Var::SslClientSDnLegacy: out += pc->s_dn_legacy; break;
    case Var::SslClientIDnLegacy: out += pc->i_dn_legacy; break;
    case Var::SslClientVRemain: out += tls::days_remaining(*pc, time_t(clock::wall_ms() / 1000)); break;
    default: break;
    }
    return true;
}

bool get_var(const conf::VarRef& v, VarCtx& ctx, std::string& out) {
    using conf::Var;
    Request& r = ctx.req;
    const RequestHead& h = r.head;
    switch (v.kind) {
    case Var::None: return false;
    case Var::HttpHeader: return header_var(h, v.arg, out);
    case Var::SentHttp: {
        // several fields of one name: joined with ", " (nginx 1.23+)
        bool found = false;
        for (auto& [n, val] : r.sent_headers)
            if (ieq(n, v.arg)) {
                if (found) out += ", ";
                out += val;
                found = true;
            }
        return found;
    }
    case Var::UpstreamHttp: return joined_field(r.upstream_headers, v.arg, out);
    case Var::SentTrailer: return joined_field(r.sent_trailers, v.arg, out);
    case Var::UpstreamCookie: return set_cookie_value(r.upstream_headers, v.arg, out);
    case Var::Arg: return arg_var(r.args, v.arg, out);
    case Var::Cookie: return cookie_value(h, v.arg, out);
    case Var::Capture:
        if (r.numbered_caps_off) return v.index != 0;
        return capture(r, v.index, out);
    case Var::NamedCapture:
        for (auto& [n, val] : r.named_caps)
            if (ieq(n, v.arg)) {
                out += val;
                return true;
            }
        return false;
    case Var::Map: out += map_value(v.index, ctx); return true;
    case Var::User: return user_var(v, ctx, out);
    case Var::Host:
        if (!r.host.empty()) out += r.host;
        else if (r.server) out += r.server->first_name;
        return true;
    case Var::RemoteAddr: out += ctx.conn.remote_addr; return true;
    case Var::RemotePort:   // none for a unix socket, or when realip took an address without a port
        if (ctx.conn.remote_port) out += std::to_string(ctx.conn.remote_port);
        return true;
    case Var::BinaryRemoteAddr: out += ctx.conn.remote_addr; return true;
    case Var::ServerAddr: out += ctx.conn.server_addr; return true;
    case Var::ServerPort: out += std::to_string(ctx.conn.server_port); return true;
    case Var::ServerName: if (r.server) out += r.server->first_name; return true;
    case Var::ServerProtocol: out += h.version == 10 ? "HTTP/1.0" : h.version == 20 ? "HTTP/2.0" : "HTTP/1.1"; return true;
    case Var::Scheme: out += ctx.conn.ssl ? "https" : "http"; return true;
    case Var::Https: if (ctx.conn.ssl) out += "on"; return true;
    // not found on a plain connection, as nginx's ssl variables
    case Var::SslProtocol: if (!ctx.conn.ssl_protocol) return false; out += ctx.conn.ssl_protocol; return true;
    case Var::SslCipher: if (!ctx.conn.ssl_cipher) return false; out += ctx.conn.ssl_cipher; return true;
    case Var::SslServerName:
        if (ctx.conn.ssl_server_name.empty()) return false;
        out += ctx.conn.ssl_server_name;
        return true;
    case Var::Http2: if (ctx.conn.h2) out += ctx.conn.ssl ? "h2" : "h2c"; return true;
    case Var::SslSessionReused: if (!ctx.conn.ssl) return false; out += ctx.conn.ssl_reused ? "r" : "."; return true;
    // client certificate: not found on a plain connection, empty without a certificate
    case Var::SslClientVerify: case Var::SslClientSDn: case Var::SslClientIDn: case Var::SslClientSerial:
    case Var::SslClientFingerprint: case Var::SslClientCert: case Var::SslClientRawCert:
    case Var::SslClientEscapedCert: case Var::SslClientVStart: case Var::SslClientVEnd: case Var::SslClientVRemain:
    case Var::SslClientSDnLegacy: case Var::SslClientIDnLegacy:
        return client_cert_var(v.kind, ctx.conn, out);
    case Var::SslSessionId: if (!ctx.conn.ssl) return false; out += ctx.conn.ssl_session_id; return true;
    case Var::SslCiphers: if (!ctx.conn.ssl) return false; out += ctx.conn.ssl_ciphers; return true;
    case Var::Request: out += h.request_line; return true;
    case Var::RequestUri: out += h.target; return true;
    case Var::Uri: case Var::DocumentUri: out += r.uri; return true;
    case Var::Args: case Var::QueryString: out += r.args; return true;
    case Var::IsArgs: if (!r.args.empty()) out += '?'; return true;
    case Var::RequestMethod: out += h.method; return true;
    case Var::ContentLength:
        // nginx: the field as the client wrote it, else the length it knows
        for (auto& hd : h.headers)
            if (ieq(hd.name, "content-length")) {
                out += hd.value;
                return true;
            }
        if (h.content_length < 0) return false;
        out += std::to_string(h.content_length);
        return true;
    case Var::ContentType: return header_var(h, "content-type", out);
    case Var::RequestLength: out += std::to_string(r.request_length); return true;
    // the proxied body while it is in memory; the temp file's name once it is not
    case Var::RequestBody: if (r.request_body.empty() || !r.request_body_file.empty()) return false; out += r.request_body; return true;
    case Var::RequestBodyFile: if (r.request_body_file.empty()) return false; out += r.request_body_file; return true;
    case Var::RemoteUser: return basic_auth_user(h, out);
    case Var::DocumentRoot:
        if (r.lc && r.lc->root) eval(*r.lc->root, ctx, out);
        return true;
    case Var::RequestFilename:
        if (r.lc && r.lc->root) eval(*r.lc->root, ctx, out);
        out += r.uri;
        return true;
    case Var::Hostname: {
        char buf[HOST_NAME_MAX + 1] = {0};
        gethostname(buf, sizeof buf - 1);
        out += buf;
        return true;
    }
    case Var::Pid: out += std::to_string(getpid()); return true;
    case Var::NginxVersion: out += SY_NGINX_COMPAT_VERSION; return true;
    case Var::Connection: out += std::to_string(ctx.conn.number); return true;
    case Var::ConnectionRequests: out += std::to_string(ctx.req.conn_requests ? ctx.req.conn_requests : ctx.conn.requests); return true;
    case Var::ConnectionTime: {
        uint64_t now = clock::now_ms();
        out += format_msec(now >= ctx.conn.start_mono ? now - ctx.conn.start_mono : 0);
        return true;
    }
    case Var::Pipe: out += '.'; return true;
    case Var::ProxyHost: out += r.proxy_host; return true;
    case Var::ProxyPort: out += r.proxy_port; return true;
    case Var::ProxyAddXForwardedFor:
        if (header_var(h, "x-forwarded-for", out)) out += ", ";
        out += ctx.conn.remote_addr;
        return true;
    case Var::ProxyInternalBodyLength: case Var::ProxyInternalChunked: return false;
    case Var::Status: out += fmt::format("{:03}", r.status); return true;
    case Var::Protocol: out += "TCP"; return true;
    case Var::BytesReceived: out += std::to_string(r.bytes_received); return true;
    case Var::SessionTime: {
        uint64_t now = clock::now_ms();
        out += format_msec(now >= r.start_mono ? now - r.start_mono : 0);
        return true;
    }
    case Var::SslPrereadServerName: out += ctx.conn.preread_server_name; return ctx.conn.preread_found;
    case Var::SslPrereadAlpnProtocols: out += ctx.conn.preread_alpn; return ctx.conn.preread_found;
    case Var::SslPrereadProtocol: out += ctx.conn.preread_protocol; return ctx.conn.preread_found;
    case Var::ProxyProtocolAddr:
        if (ctx.conn.proxy_protocol_addr.empty()) return false;
        out += ctx.conn.proxy_protocol_addr;
        return true;
    case Var::RealipRemoteAddr:
        out += ctx.conn.realip_remote_addr.empty() ? ctx.conn.remote_addr : ctx.conn.realip_remote_addr;
        return true;
    case Var::RealipRemotePort:
        if (uint16_t port = ctx.conn.realip_remote_addr.empty() ? ctx.conn.remote_port : ctx.conn.realip_remote_port)
            out += std::to_string(port);   // none for a unix socket
        return true;
    case Var::ProxyProtocolPort:
        if (ctx.conn.proxy_protocol_addr.empty()) return false;
        out += std::to_string(ctx.conn.proxy_protocol_port);
        return true;
    case Var::BodyBytesSent: out += std::to_string(r.body_bytes_sent); return true;
    case Var::BytesSent: out += std::to_string(r.bytes_sent); return true;
    case Var::RequestTime: {
        uint64_t now = clock::now_ms();
        out += format_msec(now >= r.start_mono ? now - r.start_mono : 0);
        return true;
    }
    case Var::Msec: out += format_msec(clock::wall_ms()); return true;
    case Var::TimeLocal: out += clock::time_local(); return true;
    case Var::TimeIso8601: out += clock::time_iso8601(); return true;
    case Var::UpstreamAddr: return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) { o += t.addr; });
    case Var::UpstreamStatus:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) {
            if (t.status) o += std::to_string(t.status); else o += '-';
        });
    case Var::UpstreamResponseTime:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) {
            if (t.response_ms >= 0) o += format_msec(uint64_t(t.response_ms)); else o += '-';
        });
    case Var::UpstreamConnectTime:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) {
            if (t.connected) o += format_msec(t.connect_ms); else o += '-';
        });
    case Var::UpstreamHeaderTime:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) {
            if (t.got_header) o += format_msec(t.header_ms); else o += '-';
        });
    case Var::UpstreamBytesReceived:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) { o += std::to_string(t.bytes_received); });
    case Var::UpstreamResponseLength:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) { o += std::to_string(t.response_length); });
    case Var::UpstreamBytesSent:
        return upstream_list(r, out, [](const UpstreamTry& t, std::string& o) { o += std::to_string(t.bytes_sent); });
    }
    return false;
}

void eval(const conf::Template& t, VarCtx& ctx, std::string& out) {
    for (auto& s : t.segs) {
        if (s.var.kind == conf::Var::None) out += s.literal;
        else get_var(s.var, ctx, out);
    }
}

std::string eval(const conf::Template& t, VarCtx& ctx) {
    std::string out;
    eval(t, ctx, out);
    return out;
}

}  // namespace sy::http

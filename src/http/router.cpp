#include "http/router.h"

#include <cctype>

#include "http/variables.h"

namespace sy::http {

using conf::Location;

void ServerGroup::add(const conf::Server* s, const conf::Listen& l) {
    if (!default_server || (l.default_server && !(listen && listen->default_server))) {
        if (l.default_server || !default_server) { default_server = s; }
    }
    if (!listen || l.default_server) listen = &l;
    for (auto& n : s->names) {
        switch (n.kind) {
        case conf::ServerName::Kind::Exact: exact.emplace(n.name, s); break;
        case conf::ServerName::Kind::WildHead: wild_head.emplace_back(n.name, s); break;
        case conf::ServerName::Kind::WildTail: wild_tail.emplace_back(n.name, s); break;
        case conf::ServerName::Kind::Regex: regex.emplace_back(n.regex.get(), s); break;
        }
    }
}

const conf::Server* ServerGroup::find(std::string_view host, Request* r) const {
    if (!host.empty()) {
        auto it = exact.find(std::string(host));
        if (it != exact.end()) return it->second;
        const conf::Server* best = nullptr;
        size_t best_len = 0;
        for (auto& [pat, s] : wild_head) {
            // ".example.com" matches "www.example.com"; a name written ".example.com"
            // matched "example.com" through its exact entry already.
            if (host.size() > pat.size() && host.substr(host.size() - pat.size()) == pat && pat.size() > best_len) {
                best = s;
                best_len = pat.size();
            }
        }
        if (best) return best;
        for (auto& [pat, s] : wild_tail)
            if (host.size() > pat.size() && host.substr(0, pat.size()) == pat && pat.size() > best_len) {
                best = s;
                best_len = pat.size();
            }
        if (best) return best;
        std::vector<int> caps;
        for (auto& [re, s] : regex)
            if (re->match(host, caps)) {
                if (r) set_captures(*r, *re, host, caps);
                return s;
            }
    }
    return default_server;
}

std::vector<ServerGroup> build_groups(const conf::Http& http) {
    std::vector<ServerGroup> groups;
    for (auto& s : http.servers)
        for (auto& l : s->listens) {
            ServerGroup* g = nullptr;
            for (auto& o : groups)
                if (o.addr.text == l.addr.text) g = &o;
            if (!g) {
                groups.emplace_back();
                g = &groups.back();
                g->addr = l.addr;
            }
            g->add(s.get(), l);
        }
    return groups;
}

void add_stream_groups(const conf::Http& stream, std::vector<ServerGroup>& groups) {
    std::vector<ServerGroup> mine = build_groups(stream);
    for (auto& g : mine) {
        g.stream = true;
        groups.push_back(std::move(g));
    }
}

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(0, p.size()) == p; }

struct Found {
    const Location* loc = nullptr;
    Match kind = Match::None;
    bool final = false;   // exact, ^~ or regex: stop looking
};

Found search(const conf::LocationTree& t, Request& r) {
    const std::string& uri = r.uri;
    bool same_length_prefix = false;
    for (auto* l : t.prefix) {
        if (l->match == Location::Match::Exact && l->name == uri) return {l, Match::Found, true};
        same_length_prefix |= l->match != Location::Match::Exact && l->name == uri;
    }
    // "/ws" -> 301 "/ws/" only when no location is named "/ws" itself
    if (!same_length_prefix)
        for (auto* l : t.prefix)
            if (l->auto_redirect && l->name.size() == uri.size() + 1 && starts_with(l->name, uri))
                return {l, Match::Redirect, true};
    Found best;
    for (auto* l : t.prefix) {
        if (l->match == Location::Match::Exact) continue;
        if (starts_with(uri, l->name)) { best = {l, Match::Found, l->match == Location::Match::NoRegex}; break; }
    }
    if (best.loc && best.loc->nested && !best.loc->nested->all.empty()) {
        bool noregex = best.final;  // ^~ on the outer match holds for what is found inside
        Found in = search(*best.loc->nested, r);
        if (in.loc) {
            if (in.final) return in;
            best = in;
            best.final = noregex;
        }
    }
    if (best.final) return best;
    std::vector<int> caps;
    for (auto* l : t.regex) {
        if (!l->regex->match(uri, caps)) continue;
        set_captures(r, *l->regex, uri, caps);
        Found f{l, Match::Found, true};
        if (l->nested && !l->nested->all.empty()) {
            Found in = search(*l->nested, r);
            if (in.loc) return {in.loc, in.kind, true};
        }
        return f;
    }
    return best;
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

Match find_location(const conf::Server& s, Request& r) {
    Found f = search(s.locations, r);
    r.loc = f.loc ? f.loc : &s.fallback;
    r.lc = &r.loc->conf;
    return f.loc ? f.kind : Match::Found;
}

bool normalize_uri(std::string_view target, bool merge_slashes, std::string& uri, std::string& args) {
    uri.clear();
    args.clear();
    if (target.empty()) return false;
    if (target[0] != '/') {
        // absolute-form: scheme://authority[/path][?query]
        size_t p = target.find("://");
        if (p == std::string_view::npos) return false;
        size_t rest = target.find_first_of("/?", p + 3);
        if (rest == std::string_view::npos) target = "/";
        else if (target[rest] == '?') {
            args = std::string(target.substr(rest + 1));
            target = "/";
        } else target = target.substr(rest);
    }
    size_t q = target.find('?');
    if (q != std::string_view::npos) {
        args = std::string(target.substr(q + 1));
        target = target.substr(0, q);
    }
    std::string decoded;
    decoded.reserve(target.size());
    for (size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '%') {
            if (i + 2 >= target.size()) return false;
            int h = hexval(target[i + 1]), l = hexval(target[i + 2]);
            if (h < 0 || l < 0) return false;
            c = char(h * 16 + l);
            if (c == '\0') return false;
            i += 2;
        }
        decoded += c;
    }
    // Segments between slashes; "." and ".." resolve, empty ones are merged
    // away unless merge_slashes is off (then they stay where they are).
    std::vector<std::string_view> segs;
    std::string_view d = decoded;
    size_t i = 1;
    bool trailing = false;
    while (i <= d.size()) {
        size_t e = d.find('/', i);
        if (e == std::string_view::npos) e = d.size();
        std::string_view seg = d.substr(i, e - i);
        bool last = e == d.size();
        i = e + 1;
        if (seg == ".") { trailing = true; continue; }
        if (seg == "..") {
            while (!segs.empty() && segs.back().empty() && merge_slashes) segs.pop_back();
            if (segs.empty()) return false;
            segs.pop_back();
            trailing = true;
            continue;
        }
        if (seg.empty()) {
            if (last) { trailing = true; break; }
            if (merge_slashes) continue;
        }
        segs.push_back(seg);
        trailing = false;
    }
    std::string out(1, '/');
    out.reserve(decoded.size() + 1);
    for (size_t k = 0; k < segs.size(); ++k) {
        if (k) out.push_back('/');
        out.append(segs[k].data(), segs[k].size());
    }
    if (trailing && !segs.empty()) out.push_back('/');
    uri.swap(out);
    return true;
}

// ngx_http_validate_host: lowercases; rejects '/', NUL, controls, space, DEL
// and ".."; a trailing dot is dropped. As nginx 1.29.4 (stricter than 1.22):
// what follows ':' (outside brackets) must be a port, at most 65535, or
// nothing; an IPv6 literal is "[...]" from the first byte, closed, and only a
// port may follow it.
bool parse_host(std::string_view v, std::string& host) {
    host.clear();
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    size_t dot_pos = std::string_view::npos, host_len = v.size();
    bool in_brackets = false, literal = false;
    for (size_t i = 0; i < v.size(); ++i) {
        unsigned char ch = static_cast<unsigned char>(v[i]);
        switch (ch) {
        case '.':
            if (dot_pos == i - 1 && i > 0) return false;
            dot_pos = i;
            break;
        case ':':
            if (!in_brackets) {
                host_len = i;
                i = v.size();
            }
            break;
        case '[':
            if (i != 0) return false;
            in_brackets = literal = true;
            break;
        case ']':
            if (!in_brackets) return false;
            in_brackets = false;
            host_len = i + 1;
            if (i + 1 < v.size() && v[i + 1] != ':') return false;
            i = v.size();
            break;
        case '\0':
        case '/':
            return false;
        default:
            if (ch <= 0x20 || ch == 0x7f) return false;
            break;
        }
    }
    if (in_brackets) return false;   // "[..." never closed
    if (host_len < v.size()) {
        std::string_view port = v.substr(host_len + 1);
        if (port.size() > 5) return false;
        uint32_t n = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return false;
            n = n * 10 + uint32_t(c - '0');
        }
        if (n > 65535) return false;
    }
    if (!literal && host_len > 0 && v[host_len - 1] == '.') --host_len;
    if (host_len == 0) return false;
    host.reserve(host_len);
    for (size_t i = 0; i < host_len; ++i) host += char(std::tolower(static_cast<unsigned char>(v[i])));
    return true;
}

}  // namespace sy::http

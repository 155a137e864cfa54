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

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(0, p.size()) == p; }

struct Found {
    const Location* loc = nullptr;
    Match kind = Match::None;
    bool final = false;   // exact, ^~ or regex: stop looking
};

Found search(const conf::LocationTree& t, Request& r) {
    const std::string& uri = r.uri;
    for (auto* l : t.prefix)
        if (l->match == Location::Match::Exact && l->name == uri) return {l, Match::Found, true};
    for (auto* l : t.prefix)
        if (l->auto_redirect && l->name.size() == uri.size() + 1 && starts_with(l->name, uri))
            return {l, Match::Redirect, true};
    Found best;
    for (auto* l : t.prefix) {
        if (l->match == Location::Match::Exact) continue;
        if (starts_with(uri, l->name)) { best = {l, Match::Found, l->match == Location::Match::NoRegex}; break; }
    }
    if (best.loc && best.loc->nested && !best.loc->nested->all.empty()) {
        Found in = search(*best.loc->nested, r);
        if (in.loc) {
            if (in.final) return in;
            best = in;
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
        // absolute-form: scheme://authority/path
        size_t p = target.find("://");
        if (p == std::string_view::npos) return false;
        size_t slash = target.find('/', p + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
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
    // Resolve "." and ".." segments and merge slashes.
    std::vector<std::string_view> segs;
    std::string_view d = decoded;
    bool trailing = !d.empty() && d.back() == '/';
    size_t i = 0;
    uri.reserve(decoded.size());
    std::string out = "/";
    while (i < d.size()) {
        while (i < d.size() && d[i] == '/') {
            ++i;
            if (!merge_slashes && i < d.size() && d[i] == '/') out += '/';
        }
        size_t e = d.find('/', i);
        if (e == std::string_view::npos) e = d.size();
        std::string_view seg = d.substr(i, e - i);
        i = e;
        if (seg.empty()) continue;
        if (seg == ".") { trailing = true; continue; }
        if (seg == "..") {
            if (segs.empty()) return false;
            segs.pop_back();
            trailing = true;
            continue;
        }
        segs.push_back(seg);
        trailing = e < d.size();
    }
    for (size_t k = 0; k < segs.size(); ++k) {
        if (k) out += '/';
        out += segs[k];
    }
    if (trailing && !segs.empty()) out += '/';
    uri = std::move(out);
    return true;
}

bool parse_host(std::string_view v, std::string& host) {
    host.clear();
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (v.empty()) return false;
    if (v[0] == '[') {
        size_t c = v.find(']');
        if (c == std::string_view::npos) return false;
        for (char ch : v.substr(1, c - 1))
            if (!std::isxdigit(static_cast<unsigned char>(ch)) && ch != ':' && ch != '.') return false;
        host = std::string(v.substr(0, c + 1));
        v.remove_prefix(c + 1);
        if (!v.empty() && v[0] != ':') return false;
    } else {
        size_t colon = v.find(':');
        std::string_view h = v.substr(0, colon);
        for (char ch : h) {
            unsigned char u = static_cast<unsigned char>(ch);
            if (u <= ' ' || ch == '/' || ch == '\\' || ch == '"' || ch == 127) return false;
            host += char(std::tolower(u));
        }
        if (host.find("..") != std::string::npos) return false;
        if (!host.empty() && host.back() == '.') host.pop_back();
        if (host.empty()) return false;
        v.remove_prefix(h.size());
    }
    if (!v.empty()) {  // ":port"
        v.remove_prefix(1);
        for (char ch : v)
            if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
    }
    return true;
}

}  // namespace sy::http

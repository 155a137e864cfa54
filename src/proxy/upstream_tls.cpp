#include "proxy/upstream_tls.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <unordered_map>

#include <fmt/format.h>

#include "tls/context.h"

namespace sy::proxy {

namespace {

// proxy_ssl_session_reuse: the newest session per peer ("upstream|address"),
// kept with the location's SSL_CTX (ex_data), so a reload with other TLS
// settings starts without them, as nginx's per-cycle peers do. TLS 1.3
// delivers sessions after the handshake: the new-session callback saves them.
struct SessionCache {
    std::unordered_map<std::string, SSL_SESSION*> by_peer;
    ~SessionCache() {
        for (auto& [k, s] : by_peer) SSL_SESSION_free(s);
    }
    void put(const std::string& key, SSL_SESSION* s) {
        auto [it, fresh] = by_peer.try_emplace(key, s);
        if (!fresh) {
            SSL_SESSION_free(it->second);
            it->second = s;
        }
    }
    SSL_SESSION* get(const std::string& key) const {
        auto it = by_peer.find(key);
        return it == by_peer.end() ? nullptr : it->second;
    }
    void erase(const std::string& key) {
        auto it = by_peer.find(key);
        if (it == by_peer.end()) return;
        SSL_SESSION_free(it->second);
        by_peer.erase(it);
    }
};

void free_cache(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SessionCache*>(ptr); }

int cache_index() {
    static int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_cache);
    return idx;
}

SessionCache& cache_of(SSL_CTX* ctx) {
    auto* c = static_cast<SessionCache*>(SSL_CTX_get_ex_data(ctx, cache_index()));
    if (!c) {
        c = new SessionCache;
        SSL_CTX_set_ex_data(ctx, cache_index(), c);
    }
    return *c;
}

// The peer key of an upstream SSL, in an ex_data slot of its own (freed with
// the SSL). Not the Stream's owner pointer: a Tunnel (stream proxy, upgraded
// connections) or an HTTP/2 stream adopts the SSL and becomes its owner, and
// TLS 1.3 tickets may arrive only then, in the first read after the handshake.
void free_peer_key(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int peer_key_index() {
    static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_peer_key);
    return idx;
}

int on_new_session(SSL* ssl, SSL_SESSION* sess) {
    auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, peer_key_index()));
    if (!key || key->empty()) return 0;
    cache_of(SSL_get_SSL_CTX(ssl)).put(*key, sess);
    return 1;  // we keep the reference
}

// nginx's verify callback: never fail the handshake here; the result is
// checked afterwards so the error names the reason.
int verify_keep_going(int, X509_STORE_CTX*) { return 1; }

bool is_address(const std::string& h) {
    in6_addr a6;
    in_addr a4;
    return inet_pton(AF_INET, h.c_str(), &a4) == 1 || inet_pton(AF_INET6, h.c_str(), &a6) == 1 || (!h.empty() && h[0] == '[');
}

}  // namespace

std::string ssl_name_host(std::string_view name) {
    if (!name.empty() && name[0] == '[') {
        size_t e = name.find(']');
        return std::string(name.substr(1, e == std::string_view::npos ? std::string_view::npos : e - 1));
    }
    size_t colon = name.find(':');
    if (colon != std::string_view::npos && name.find(':', colon + 1) == std::string_view::npos) name = name.substr(0, colon);
    return std::string(name);
}

bool upstream_tls_start(upstream::UpConn& c, const tls::ClientCtx& ctx, const std::string& name, std::string& err) {
    if (ctx.session_reuse) {
        SSL_CTX_set_session_cache_mode(ctx.ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx.ctx, on_new_session);
    }
    std::string sni = ctx.server_name && !name.empty() && !is_address(name) ? name : std::string();
    if (!c.s.start_client(ctx.ctx, sni, &c)) {
        err = c.s.error();
        return false;
    }
    SSL* ssl = c.s.ssl();
    if (ctx.verify) {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_keep_going);
        SSL_set_verify_depth(ssl, ctx.verify_depth);
    }
    if (ctx.session_reuse) {
        if (!c.peer.empty()) SSL_set_ex_data(ssl, peer_key_index(), new std::string(c.peer));
        if (SSL_SESSION* s = cache_of(ctx.ctx).get(c.peer)) SSL_set_session(ssl, s);
    }
    return true;
}

std::string upstream_tls_check(upstream::UpConn& c, const tls::ClientCtx& ctx, const std::string& name) {
    if (!ctx.verify) return {};
    SSL* ssl = c.s.ssl();
    long rc = SSL_get_verify_result(ssl);
    if (rc != X509_V_OK)
        return fmt::format("upstream SSL certificate verify error: ({}:{})", rc, X509_verify_cert_error_string(rc));
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return "upstream sent no required SSL certificate";
    int ok = is_address(name) ? X509_check_ip_asc(cert, name.c_str(), 0)
                              : X509_check_host(cert, name.data(), name.size(), 0, nullptr);
    X509_free(cert);
    if (ok != 1) return fmt::format("upstream SSL certificate does not match \"{}\"", name);
    return {};
}

void upstream_tls_forget(upstream::UpConn& c) {
    if (SSL* ssl = c.s.ssl()) cache_of(SSL_get_SSL_CTX(ssl)).erase(c.peer);
}

}  // namespace sy::proxy

#include "http/tls_front.h"

#include <openssl/ssl.h>

#include "http/session.h"
#include "tls/context.h"
#include "tls/stream.h"

namespace sy::http {

namespace {

int on_servername(SSL* ssl, int*, void*) {
    return tls::on_servername(ssl, [](void* s, const char* name) { return static_cast<Session*>(s)->on_sni(name); });
}

// h2 when the connection may speak it (`listen ... http2`, `http2 on`),
// else HTTP/1.1; a client that offers nothing we speak is refused with
// no_application_protocol, as nginx does.
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
    static const unsigned char kH2[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    auto* s = static_cast<Session*>(tls::Stream::owner_of(ssl));
    const unsigned char* offer = kH2;
    unsigned offer_len = sizeof kH2;
    if (!s || !s->h2_allowed()) {
        offer = kH2 + 3;
        offer_len = sizeof kH2 - 3;
    }
    unsigned char* sel = nullptr;
    if (SSL_select_next_proto(&sel, outlen, offer, offer_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

void install_tls_callbacks(const std::vector<ServerGroup>& groups) {
    auto install = [](const conf::Server* s) {
        if (!s || !s->tls || !s->tls->ctx) return;
        SSL_CTX_set_tlsext_servername_callback(s->tls->ctx, on_servername);
        SSL_CTX_set_alpn_select_cb(s->tls->ctx, on_alpn, nullptr);
    };
    for (auto& g : groups) {
        if (g.stream) continue;   // stream sessions install their own
        install(g.default_server);
        for (auto& [n, s] : g.exact) install(s);
        for (auto& [n, s] : g.wild_head) install(s);
        for (auto& [n, s] : g.wild_tail) install(s);
        for (auto& [re, s] : g.regex) install(s);
    }
}

}  // namespace sy::http

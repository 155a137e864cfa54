// SSL_CTX construction from the merged configuration, with nginx's
// settings and error messages (ngx_event_openssl.c behaviour: certificate
// chains, passphrases tried in turn, protocol bitmask, session cache modes).
#include "tls/context.h"
#include "tls/client_cert.h"
#include "tls/stream.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace sy::tls {

ServerCtx::~ServerCtx() {
    if (ctx) SSL_CTX_free(ctx);
}

ClientCtx::~ClientCtx() {
    if (ctx) SSL_CTX_free(ctx);
}

std::string at(const conf::SrcLoc& w, const conf::SrcLoc& fallback) {
    const conf::SrcLoc& l = w.file ? w : fallback;
    if (!l.file) return "";
    return " in " + l.str();
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

namespace {

// Never prompts: with no passphrase (or the wrong one) the read just fails.
int password_cb(char* buf, int size, int, void* user) {
    auto* pw = static_cast<const std::string*>(user);
    if (!pw || size <= 0) return 0;
    size_t n = std::min(pw->size(), size_t(size));   // nginx truncates too (with a warning)
    std::memcpy(buf, pw->data(), n);
    return int(n);
}

struct BioCloser {
    BIO* b;
    ~BioCloser() { if (b) BIO_free(b); }
};

// PEM end of file: the read after the last certificate fails with "no start line".
bool at_pem_end() {
    unsigned long n = ERR_peek_last_error();
    return ERR_GET_LIB(n) == ERR_LIB_PEM && ERR_GET_REASON(n) == PEM_R_NO_START_LINE;
}

// The certificate, then the rest of the file as its chain (for this
// certificate only: several pairs coexist in one SSL_CTX).
bool use_certificate(SSL_CTX* ctx, const conf::TlsArg& cert, const conf::SrcLoc& fb, std::string& err) {
    const std::string& path = cert.value;
    BioCloser bio{BIO_new_file(path.c_str(), "r")};
    auto fail = [&](const std::string& what) {
        err = "cannot load certificate " + quoted(path) + ": " + what + " failed" + ssl_errors() + at(cert.where, fb);
        return false;
    };
    if (!bio.b) return fail("BIO_new_file()");
    X509* x = PEM_read_bio_X509_AUX(bio.b, nullptr, password_cb, nullptr);
    if (!x) return fail("PEM_read_bio_X509_AUX()");
    int ok = SSL_CTX_use_certificate(ctx, x);
    X509_free(x);
    if (ok != 1) {
        err = "SSL_CTX_use_certificate(" + quoted(path) + ") failed" + ssl_errors() + at(cert.where, fb);
        return false;
    }
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
        X509* ca = PEM_read_bio_X509(bio.b, nullptr, password_cb, nullptr);
        if (!ca) {
            if (at_pem_end()) {
                ERR_clear_error();
                break;
            }
            return fail("PEM_read_bio_X509()");
        }
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            err = "SSL_CTX_add0_chain_cert(" + quoted(path) + ") failed" + ssl_errors() + at(cert.where, fb);
            return false;
        }
    }
    return true;
}

// The private key, trying each passphrase of the password file in turn.
EVP_PKEY* load_key(const conf::TlsArg& key, const conf::Passwords& pw, const conf::SrcLoc& fb, std::string& err) {
    const std::string& path = key.value;
    BioCloser bio{BIO_new_file(path.c_str(), "r")};
    auto fail = [&](const std::string& what) {
        err = "cannot load certificate key " + quoted(path) + ": " + what + " failed" + ssl_errors() + at(key.where, fb);
        return nullptr;
    };
    if (!bio.b) return fail("BIO_new_file()");
    size_t tries = pw && !pw->empty() ? pw->size() : 1;
    for (size_t i = 0; i < tries; ++i) {
        const std::string* p = pw && !pw->empty() ? &(*pw)[i] : nullptr;
        EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.b, nullptr, password_cb, const_cast<std::string*>(p));
        if (pkey) {
            ERR_clear_error();   // failures of earlier passphrases
            return pkey;
        }
        if (i + 1 < tries) {
            ERR_clear_error();
            if (BIO_reset(bio.b) != 0) return fail("BIO_reset()");
        }
    }
    return fail("PEM_read_bio_PrivateKey()");
}

bool use_pair(SSL_CTX* ctx, const conf::TlsArg& cert, const conf::TlsArg& key, const conf::Passwords& pw,
              const conf::SrcLoc& fb, std::string& err) {
    if (!use_certificate(ctx, cert, fb, err)) return false;
    EVP_PKEY* pkey = load_key(key, pw, fb, err);
    if (!pkey) return false;
    int ok = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    if (ok != 1) {
        err = "SSL_CTX_use_PrivateKey(" + quoted(key.value) + ") failed" + ssl_errors() + at(key.where, fb);
        return false;
    }
    // A key of another type than the certificate goes to its own slot
    // without complaint; this check catches it (and any mismatch).
    if (SSL_CTX_check_private_key(ctx) != 1) {
        err = "SSL_CTX_check_private_key() failed: certificate key " + quoted(key.value) +
              " does not match certificate " + quoted(cert.value) + ssl_errors() + at(key.where, fb);
        return false;
    }
    return true;
}

// nginx's ngx_ssl_create(): protocols from the bitmask (the range plus
// SSL_OP_NO_* for gaps), and the options and modes every context gets.
void common_setup(SSL_CTX* ctx, uint32_t protocols) {
    using namespace conf::tls_proto;
    struct V { uint32_t bit; int version; uint64_t no; };
    static const V versions[] = {
        {SSLv3, SSL3_VERSION, SSL_OP_NO_SSLv3},         {TLSv1, TLS1_VERSION, SSL_OP_NO_TLSv1},
        {TLSv1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},   {TLSv1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
        {TLSv1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
    };
    int lo = 0, hi = 0;
    uint64_t no = 0;
    for (auto& v : versions) {
        if (protocols & v.bit) {
            if (!lo) lo = v.version;
            hi = v.version;
        } else {
            no |= v.no;
        }
    }
    if (lo) {
        SSL_CTX_set_min_proto_version(ctx, lo);
        SSL_CTX_set_max_proto_version(ctx, hi);
    }
    SSL_CTX_set_options(ctx, no | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

bool set_ciphers(SSL_CTX* ctx, const conf::TlsArg& ciphers, const conf::SrcLoc& fb, std::string& err) {
    // TLS <= 1.2 suites; TLS 1.3 suites keep OpenSSL's defaults (nginx).
    if (SSL_CTX_set_cipher_list(ctx, ciphers.value.c_str()) != 1) {
        err = "SSL_CTX_set_cipher_list(" + quoted(ciphers.value) + ") failed" + ssl_errors() + at(ciphers.where, fb);
        return false;
    }
    return true;
}

// Session ticket keys: made once per process, installed into every server
// context, so tickets issued before a reload still resume after it.
const std::vector<unsigned char>& ticket_keys(SSL_CTX* ctx) {
    static const std::vector<unsigned char> keys = [ctx] {
        long n = SSL_CTX_get_tlsext_ticket_keys(ctx, nullptr, 0);
        std::vector<unsigned char> k(n > 0 ? size_t(n) : 0);
        if (k.empty() || RAND_bytes(k.data(), int(k.size())) != 1) k.clear();
        return k;
    }();
    return keys;
}

const char kSessionIdContext[] = "switchyard";

}  // namespace

bool read_password_file(const std::string& path, std::vector<std::string>& out, std::string& err) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        err = "open() " + quoted(path) + " failed (" + std::to_string(e) + ": " + std::strerror(e) + ")";
        return false;
    }
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            err = "read() " + quoted(path) + " failed (" + std::to_string(e) + ": " + std::strerror(e) + ")";
            return false;
        }
        if (n == 0) break;
        text.append(buf, size_t(n));
    }
    ::close(fd);
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find_first_of("\r\n", start);
        if (end == std::string::npos) end = text.size();
        if (end > start) out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    OPENSSL_cleanse(text.data(), text.size());
    return true;
}

// A context of `method` with the settings every context shares; null with
// nginx's message in `err` when OpenSSL cannot make one.
// The server session cache keeps what a client can resume by session id:
// TLS 1.2 sessions, and TLS 1.3 ones only when tickets are off. A TLS 1.3
// session with tickets on lives in its ticket, so caching it too would only
// cost an insert (and the cache's periodic sweeps) per handshake — nginx
// skips it the same way ("no need to cache sessions with TLSv1.3 tickets").
static int cache_new_session(SSL* ssl, SSL_SESSION* sess) {
    SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
    if (SSL_version(ssl) == TLS1_3_VERSION && !(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET)) return 0;
    SSL_CTX_add_session(ctx, sess);
    return 0;   // the cache took its own reference
}

static SSL_CTX* new_ctx(const SSL_METHOD* method, uint32_t protocols, const conf::SrcLoc& where, std::string& err) {
    SSL_CTX* ctx = SSL_CTX_new(method);
    if (!ctx) {
        err = "SSL_CTX_new() failed" + ssl_errors() + at({}, where);
        return nullptr;
    }
    common_setup(ctx, protocols);
    return ctx;
}

std::shared_ptr<ServerCtx> make_server_ctx(const conf::LocConf& lc, const conf::SrcLoc& where, std::string& err,
                                           std::vector<std::string>* warnings) {
    ERR_clear_error();
    auto sc = std::make_shared<ServerCtx>();
    SSL_CTX* ctx = sc->ctx = new_ctx(TLS_server_method(), *lc.ssl_protocols, where, err);
    if (!ctx) return nullptr;

    const auto& certs = *lc.ssl_certificate;
    const auto& keys = *lc.ssl_certificate_key;
    if (keys.size() < certs.size()) {
        err = "no \"ssl_certificate_key\" is defined for certificate " + quoted(certs.back().written) +
              at(certs.back().where, where);
        return nullptr;
    }
    for (size_t i = 0; i < certs.size(); ++i)
        if (!use_pair(ctx, certs[i], keys[i], *lc.ssl_password_file, where, err)) return nullptr;

    if (!set_ciphers(ctx, *lc.ssl_ciphers, where, err)) return nullptr;
    if (*lc.ssl_prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);

    const conf::TlsArg& curve = *lc.ssl_ecdh_curve;
    if (curve.value != "auto" && SSL_CTX_set1_groups_list(ctx, curve.value.c_str()) != 1) {
        err = "SSL_CTX_set1_curves_list(" + quoted(curve.value) + ") failed" + ssl_errors() + at(curve.where, where);
        return nullptr;
    }

    const conf::TlsArg& dh = *lc.ssl_dhparam;
    if (!dh.value.empty()) {
        BioCloser bio{BIO_new_file(dh.value.c_str(), "r")};
        if (!bio.b) {
            err = "BIO_new_file(" + quoted(dh.value) + ") failed" + ssl_errors() + at(dh.where, where);
            return nullptr;
        }
        EVP_PKEY* params = PEM_read_bio_Parameters(bio.b, nullptr);
        if (!params) {
            err = "PEM_read_bio_Parameters(" + quoted(dh.value) + ") failed" + ssl_errors() + at(dh.where, where);
            return nullptr;
        }
        if (SSL_CTX_set0_tmp_dh_pkey(ctx, params) != 1) {
            EVP_PKEY_free(params);
            err = "SSL_CTX_set0_tmp_dh_pkey(" + quoted(dh.value) + ") failed" + ssl_errors() + at(dh.where, where);
            return nullptr;
        }
    }

    if (!setup_client_verify(ctx, lc, where, err)) return nullptr;
    if (!setup_stapling(ctx, lc, where, sc->ocsp_staple, warnings, err)) return nullptr;

    const conf::SslSessionCache& cache = *lc.ssl_session_cache;
    switch (cache.mode) {
    case conf::SslSessionCache::Mode::Off:
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        break;
    case conf::SslSessionCache::Mode::None:
        // nginx: claim a cache (some clients misbehave without one) that keeps one session
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, 1);
        break;
    case conf::SslSessionCache::Mode::Cache:
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, cache_new_session);
        SSL_CTX_sess_set_cache_size(ctx, long(cache.sessions));
        break;
    }
    // The same id everywhere: a session resumes after SNI switched contexts.
    // A server that verifies client certificates gets its own id, made of
    // its verification settings (nginx hashes the client CA names into it):
    // a session made without them never resumes where they apply.
    if (*lc.ssl_verify_client) {
        std::string key = std::string(kSessionIdContext) + '|' + std::to_string(*lc.ssl_verify_client) + '|' +
                          std::to_string(*lc.ssl_verify_depth) + '|' + lc.ssl_client_certificate->value + '|' +
                          lc.ssl_trusted_certificate->value + '|' + lc.ssl_crl->value;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_Digest(key.data(), key.size(), md, &n, EVP_sha256(), nullptr);
        SSL_CTX_set_session_id_context(ctx, md, std::min(n, unsigned(SSL_MAX_SID_CTX_LENGTH)));
    } else {
        SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext),
                                       sizeof kSessionIdContext - 1);
    }
    SSL_CTX_set_timeout(ctx, long(*lc.ssl_session_timeout / 1000));

    if (*lc.ssl_session_tickets) {
        const auto& k = ticket_keys(ctx);
        if (k.empty() || SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<unsigned char*>(k.data()), long(k.size())) != 1) {
            err = "SSL_CTX_set_tlsext_ticket_keys() failed" + ssl_errors() + at({}, where);
            return nullptr;
        }
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    ERR_clear_error();
    return sc;
}

std::shared_ptr<ClientCtx> make_client_ctx(const conf::LocConf& lc, const conf::SrcLoc& where, std::string& err) {
    ERR_clear_error();
    const conf::TlsArg& trusted = *lc.proxy_ssl_trusted_certificate;
    if (*lc.proxy_ssl_verify && trusted.value.empty()) {
        err = "no proxy_ssl_trusted_certificate for proxy_ssl_verify" + at(lc.proxy_ssl_verify_where, where);
        return nullptr;
    }
    auto cc = std::make_shared<ClientCtx>();
    SSL_CTX* ctx = cc->ctx = new_ctx(TLS_client_method(), *lc.proxy_ssl_protocols, where, err);
    if (!ctx) return nullptr;
    if (!set_ciphers(ctx, *lc.proxy_ssl_ciphers, where, err)) return nullptr;

    const conf::TlsArg& cert = *lc.proxy_ssl_certificate;
    if (!cert.value.empty()) {
        const conf::TlsArg& key = *lc.proxy_ssl_certificate_key;
        if (key.value.empty()) {
            err = "no \"proxy_ssl_certificate_key\" is defined for certificate " + quoted(cert.written) +
                  at(cert.where, where);
            return nullptr;
        }
        if (!use_pair(ctx, cert, key, *lc.proxy_ssl_password_file, where, err)) return nullptr;
    }

    cc->verify = *lc.proxy_ssl_verify;
    cc->verify_depth = *lc.proxy_ssl_verify_depth;
    if (cc->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_verify_depth(ctx, cc->verify_depth);
        if (SSL_CTX_load_verify_locations(ctx, trusted.value.c_str(), nullptr) != 1) {
            err = "SSL_CTX_load_verify_locations(" + quoted(trusted.value) + ") failed" + ssl_errors() +
                  at(trusted.where, where);
            return nullptr;
        }
    }

    cc->session_reuse = *lc.proxy_ssl_session_reuse;
    // Client sessions are kept by the runtime per upstream (new-session
    // callback), not in OpenSSL's store.
    SSL_CTX_set_session_cache_mode(ctx, cc->session_reuse ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE
                                                          : SSL_SESS_CACHE_OFF);
    cc->server_name = *lc.proxy_ssl_server_name;
    cc->name = lc.proxy_ssl_name;
    ERR_clear_error();
    return cc;
}

int on_servername(SSL* ssl, SSL_CTX* (*pick)(void* owner, const char* name)) {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    void* owner = Stream::owner_of(ssl);
    if (!name || !owner) return SSL_TLSEXT_ERR_NOACK;
    SSL_CTX* ctx = pick(owner, name);
    if (!ctx || ctx == SSL_get_SSL_CTX(ssl)) return SSL_TLSEXT_ERR_OK;
    SSL_set_SSL_CTX(ssl, ctx);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(ctx));
    SSL_set_options(ssl, SSL_CTX_get_options(ctx) | SSL_OP_IGNORE_UNEXPECTED_EOF);
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace sy::tls

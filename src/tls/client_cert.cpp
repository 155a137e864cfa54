// Client certificate verification and OCSP stapling on server contexts
// (nginx's ngx_ssl_client_certificate / ngx_ssl_trusted_certificate /
// ngx_ssl_crl / ngx_ssl_stapling behaviour), and the $ssl_client_* facts.
#include "tls/client_cert.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <strings.h>

#include <cctype>
#include <cstdio>
#include <cstring>

#include "tls/context.h"
#include "tls/stream.h"

namespace sy::tls {

namespace {

// nginx's verify callback: accept whatever the chain is; the result stays
// in the connection (and its session) for the request to judge.
int accept_all(int, X509_STORE_CTX*) { return 1; }

std::string bio_text(BIO* b) {
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    return n > 0 ? std::string(p, size_t(n)) : std::string();
}

struct Bio {
    BIO* b = BIO_new(BIO_s_mem());
    ~Bio() { if (b) BIO_free(b); }
};

std::string name_rfc2253(const X509_NAME* n) {
    Bio bio;
    if (!bio.b || !n || X509_NAME_print_ex(bio.b, n, 0, XN_FLAG_RFC2253) < 0) return "";
    return bio_text(bio.b);
}

std::string name_oneline(const X509_NAME* n) {
    if (!n) return "";
    char* p = X509_NAME_oneline(n, nullptr, 0);
    if (!p) return "";
    std::string s(p);
    OPENSSL_free(p);
    return s;
}

std::string time_text(const ASN1_TIME* t) {
    Bio bio;
    if (!bio.b || !t) return "";
    ASN1_TIME_print(bio.b, t);
    return bio_text(bio.b);
}

// X509_V_ERR_* that optional_no_ca lets through: the chain just does not
// reach a trusted CA.
bool verify_error_optional(long n) {
    return n == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || n == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           n == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || n == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           n == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

// The stapled response of a context (ssl_stapling_file), handed out to
// every handshake that sends status_request.
int status_cb(SSL* ssl, void* arg) {
    auto* der = static_cast<const std::string*>(arg);
    if (!der || der->empty()) return SSL_TLSEXT_ERR_NOACK;
    auto* p = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
    if (!p) return SSL_TLSEXT_ERR_NOACK;
    std::memcpy(p, der->data(), der->size());
    if (SSL_set_tlsext_status_ocsp_resp(ssl, p, long(der->size())) != 1) {
        OPENSSL_free(p);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

// Why stapling cannot be done for one certificate file (nginx's warnings),
// or "" when it could be (an issuer and an http:// responder are known).
std::string stapling_obstacle(SSL_CTX* ctx, const std::string& path, const conf::TlsArg& responder) {
    BIO* bio = BIO_new_file(path.c_str(), "r");
    if (!bio) {
        ERR_clear_error();
        return "";
    }
    X509* cert = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
    std::vector<X509*> chain;
    while (cert) {
        X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        if (!x) break;
        chain.push_back(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!cert) return "";
    bool issuer = false;
    for (X509* x : chain) issuer |= X509_check_issued(x, cert) == X509_V_OK;
    for (X509* x : chain) X509_free(x);
    if (!issuer) {
        X509_STORE_CTX* sc = X509_STORE_CTX_new();
        if (sc && X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx), nullptr, nullptr) == 1) {
            X509* found = nullptr;
            if (X509_STORE_CTX_get1_issuer(&found, sc, cert) == 1 && found) {
                issuer = true;
                X509_free(found);
            }
        }
        if (sc) X509_STORE_CTX_free(sc);
        ERR_clear_error();
    }
    std::string why;
    if (!issuer) {
        why = "\"ssl_stapling\" ignored, issuer certificate not found for certificate " + quoted(path);
    } else {
        std::string url = responder.value;
        if (url.empty()) {
            STACK_OF(OPENSSL_STRING)* aia = X509_get1_ocsp(cert);
            if (aia && sk_OPENSSL_STRING_num(aia) > 0) url = sk_OPENSSL_STRING_value(aia, 0);
            if (aia) X509_email_free(aia);
        }
        if (url.empty())
            why = "\"ssl_stapling\" ignored, no OCSP responder URL in the certificate " + quoted(path);
        else if (strncasecmp(url.c_str(), "http://", 7) != 0)
            why = "\"ssl_stapling\" ignored, invalid URL prefix in OCSP responder \"" + url + "\" in the certificate " +
                  quoted(path);
        else
            why = "\"ssl_stapling\" ignored, fetching OCSP responses from \"" + url +
                  "\" is not supported yet by switchyard (use ssl_stapling_file) for certificate " + quoted(path);
    }
    X509_free(cert);
    return why;
}

}  // namespace

bool setup_client_verify(SSL_CTX* ctx, const conf::LocConf& lc, const conf::SrcLoc& where, std::string& err) {
    int mode = *lc.ssl_verify_client;
    int depth = *lc.ssl_verify_depth;
    const conf::TlsArg& client = *lc.ssl_client_certificate;
    const conf::TlsArg& trusted = *lc.ssl_trusted_certificate;
    const conf::TlsArg& crl = *lc.ssl_crl;
    if (mode) {
        if (client.value.empty() && mode != 3) {
            err = "no ssl_client_certificate for ssl_verify_client" + at(lc.ssl_verify_client_where, where);
            return false;
        }
        // SSL_VERIFY_PEER only: a client without a certificate still completes the handshake
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_all);
        SSL_CTX_set_verify_depth(ctx, depth);
        if (!client.value.empty()) {
            if (SSL_CTX_load_verify_locations(ctx, client.value.c_str(), nullptr) != 1) {
                err = "SSL_CTX_load_verify_locations(" + quoted(client.value) + ") failed" + ssl_errors() +
                      at(client.where, where);
                return false;
            }
            ERR_clear_error();
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client.value.c_str());
            if (!names) {
                err = "SSL_load_client_CA_file(" + quoted(client.value) + ") failed" + ssl_errors() +
                      at(client.where, where);
                return false;
            }
            SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    if (!trusted.value.empty()) {
        SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), accept_all);
        SSL_CTX_set_verify_depth(ctx, depth);
        if (SSL_CTX_load_verify_locations(ctx, trusted.value.c_str(), nullptr) != 1) {
            err = "SSL_CTX_load_verify_locations(" + quoted(trusted.value) + ") failed" + ssl_errors() +
                  at(trusted.where, where);
            return false;
        }
        ERR_clear_error();
    }
    if (!crl.value.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lookup = store ? X509_STORE_add_lookup(store, X509_LOOKUP_file()) : nullptr;
        if (!lookup) {
            err = "X509_STORE_add_lookup() failed" + ssl_errors() + at(crl.where, where);
            return false;
        }
        if (X509_LOOKUP_load_file(lookup, crl.value.c_str(), X509_FILETYPE_PEM) == 0) {
            err = "X509_LOOKUP_load_file(" + quoted(crl.value) + ") failed" + ssl_errors() + at(crl.where, where);
            return false;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    ERR_clear_error();
    return true;
}

bool setup_stapling(SSL_CTX* ctx, const conf::LocConf& lc, const conf::SrcLoc& where, std::string& staple,
                    std::vector<std::string>* warnings, std::string& err) {
    if (!*lc.ssl_stapling) return true;
    const conf::TlsArg& file = *lc.ssl_stapling_file;
    if (!file.value.empty()) {
        BIO* bio = BIO_new_file(file.value.c_str(), "rb");
        if (!bio) {
            err = "BIO_new_file(" + quoted(file.value) + ") failed" + ssl_errors() + at(file.where, where);
            return false;
        }
        OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE_bio(bio, nullptr);
        BIO_free(bio);
        if (!resp) {
            err = "d2i_OCSP_RESPONSE_bio(" + quoted(file.value) + ") failed" + ssl_errors() + at(file.where, where);
            return false;
        }
        unsigned char* der = nullptr;
        int n = i2d_OCSP_RESPONSE(resp, &der);
        OCSP_RESPONSE_free(resp);
        if (n <= 0) {
            err = "i2d_OCSP_RESPONSE(" + quoted(file.value) + ") failed" + ssl_errors() + at(file.where, where);
            return false;
        }
        staple.assign(reinterpret_cast<const char*>(der), size_t(n));
        OPENSSL_free(der);
        SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
        SSL_CTX_set_tlsext_status_arg(ctx, &staple);
        ERR_clear_error();
        return true;
    }
    for (auto& cert : *lc.ssl_certificate) {
        std::string why = stapling_obstacle(ctx, cert.value, *lc.ssl_stapling_responder);
        if (!why.empty() && warnings) warnings->push_back(why);
    }
    ERR_clear_error();
    return true;
}

std::shared_ptr<const PeerCert> peer_cert(SSL* ssl) {
    X509* cert = SSL_get_peer_certificate(ssl);
    if (!cert) return nullptr;
    auto pc = std::make_shared<PeerCert>();
    pc->verify_result = SSL_get_verify_result(ssl);
    pc->s_dn = name_rfc2253(X509_get_subject_name(cert));
    pc->i_dn = name_rfc2253(X509_get_issuer_name(cert));
    pc->s_dn_legacy = name_oneline(X509_get_subject_name(cert));
    pc->i_dn_legacy = name_oneline(X509_get_issuer_name(cert));
    {
        Bio bio;
        if (bio.b) {
            i2a_ASN1_INTEGER(bio.b, X509_get_serialNumber(cert));
            pc->serial = bio_text(bio.b);
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha1(), md, &len)) {
        static const char hex[] = "0123456789abcdef";
        for (unsigned i = 0; i < len; ++i) {
            pc->fingerprint += hex[md[i] >> 4];
            pc->fingerprint += hex[md[i] & 15];
        }
    }
    {
        Bio bio;
        if (bio.b && PEM_write_bio_X509(bio.b, cert)) pc->pem = bio_text(bio.b);
    }
    pc->v_start = time_text(X509_get0_notBefore(cert));
    pc->v_end = time_text(X509_get0_notAfter(cert));
    struct tm tm {};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) pc->not_after = timegm(&tm);
    X509_free(cert);
    ERR_clear_error();
    return pc;
}

std::string session_id_hex(SSL* ssl) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    SSL_SESSION* sess = SSL_get0_session(ssl);
    if (!sess) return out;
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &len);
    for (unsigned i = 0; i < len; ++i) {
        out += hex[id[i] >> 4];
        out += hex[id[i] & 15];
    }
    return out;
}

std::string client_ciphers(SSL* ssl) {
    std::string out;
    const unsigned char* raw = nullptr;
    size_t n = SSL_get0_raw_cipherlist(ssl, &raw);
    for (size_t i = 0; raw && i + 1 < n; i += 2) {
        if (!out.empty()) out += ':';
        if (const SSL_CIPHER* c = SSL_CIPHER_find(ssl, raw + i)) {
            out += SSL_CIPHER_get_name(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "0x%02x%02x", raw[i], raw[i + 1]);
            out += buf;
        }
    }
    return out;
}

std::string client_verify_text(const PeerCert* pc) {
    if (!pc) return "NONE";
    if (pc->verify_result == X509_V_OK) return "SUCCESS";
    return std::string("FAILED:") + X509_verify_cert_error_string(pc->verify_result);
}

std::string indented_cert(const std::string& pem) {
    std::string out;
    if (pem.empty()) return out;
    out.reserve(pem.size() + pem.size() / 64 + 1);
    for (size_t i = 0; i + 1 < pem.size(); ++i) {
        out += pem[i];
        if (pem[i] == '\n') out += '\t';
    }
    return out;
}

std::string escaped_cert(const std::string& pem) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(pem.size() * 3 / 2);
    for (unsigned char ch : pem) {
        if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out += char(ch);
        } else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

std::string days_remaining(const PeerCert& pc, time_t now) {
    if (pc.not_after == -1) return "";
    if (pc.not_after < now + 86400) return "0";
    return std::to_string((pc.not_after - now) / 86400);
}

bool misdirected(const std::string& sni, const std::string& host, int mode) {
    return mode && !sni.empty() && !host.empty() && strcasecmp(sni.c_str(), host.c_str()) != 0;
}

int client_verify_status(int mode, const PeerCert* pc, std::string& why) {
    if (!mode) return 0;
    if (pc && pc->verify_result != X509_V_OK && (mode != 3 || !verify_error_optional(pc->verify_result))) {
        why = "client SSL certificate verify error: (" + std::to_string(pc->verify_result) + ":" +
              X509_verify_cert_error_string(pc->verify_result) + ")";
        return 495;
    }
    if (mode == 1 && !pc) {
        why = "client sent no required SSL certificate";
        return 496;
    }
    return 0;
}

}  // namespace sy::tls

// TLS configuration: the ssl_* / proxy_ssl_* directives, listen ... ssl,
// proxy_pass https://, and the contexts the loader builds (tls/context.cpp).
// Keys and certificates are made at test time with the OpenSSL API; the
// handshake tests run a client and a server SSL over a BIO pair.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "config/conf.h"
#include "config/loader.h"
#include "test_support.h"
#include "tls/client_cert.h"
#include "tls/context.h"

namespace sy::conf {
namespace {

using test::TempDir;

// ---- key and certificate material ---------------------------------------------

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

Pkey rsa_key() { return Pkey(EVP_RSA_gen(2048)); }
Pkey ec_key() { return Pkey(EVP_EC_gen("P-256")); }

void add_ext(X509* x, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    ASSERT_NE(e, nullptr);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

// A certificate for `cn` with `key`, signed by `issuer_key` (self-signed when
// no issuer is given).
Cert make_cert(const std::string& cn, EVP_PKEY* key, bool ca, X509* issuer = nullptr, EVP_PKEY* issuer_key = nullptr) {
    static long serial = 1;
    Cert x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
    X509_set_pubkey(x.get(), key);
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
    add_ext(x.get(), issuer ? issuer : x.get(), NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca) add_ext(x.get(), issuer ? issuer : x.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    else add_ext(x.get(), issuer ? issuer : x.get(), NID_subject_alt_name, ("DNS:" + cn).c_str());
    X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

std::string pem(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* p;
    long n = BIO_get_mem_data(b, &p);
    std::string s(p, size_t(n));
    BIO_free(b);
    return s;
}

std::string pem(EVP_PKEY* k, const char* pass = nullptr) {
    BIO* b = BIO_new(BIO_s_mem());
    if (pass)
        PEM_write_bio_PrivateKey(b, k, EVP_aes_128_cbc(), reinterpret_cast<const unsigned char*>(pass), int(strlen(pass)),
                                 nullptr, nullptr);
    else
        PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* p;
    long n = BIO_get_mem_data(b, &p);
    std::string s(p, size_t(n));
    BIO_free(b);
    return s;
}

// RFC 7919's ffdhe2048 as PEM DH parameters (no slow prime search).
std::string dhparam_pem() {
    EVP_PKEY_CTX* pc = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
    EVP_PKEY* params = nullptr;
    EVP_PKEY_paramgen_init(pc);
    EVP_PKEY_CTX_set_dh_nid(pc, NID_ffdhe2048);
    EVP_PKEY_paramgen(pc, &params);
    EVP_PKEY_CTX_free(pc);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_Parameters(b, params);
    char* p;
    long n = BIO_get_mem_data(b, &p);
    std::string s(p, size_t(n));
    BIO_free(b);
    EVP_PKEY_free(params);
    return s;
}

// Files every test uses, made once: <dir>/certs/...
struct Material {
    TempDir dir;
    std::string root_pem;   // trust anchor of chain.crt
    Material() {
        Pkey rsa = rsa_key(), rsa2 = rsa_key(), ec = ec_key(), enc = rsa_key();
        dir.write("certs/rsa.crt", pem(make_cert("rsa.test", rsa.get(), false).get()));
        dir.write("certs/rsa.key", pem(rsa.get()));
        dir.write("certs/rsa2.key", pem(rsa2.get()));
        dir.write("certs/ec.crt", pem(make_cert("ec.test", ec.get(), false).get()));
        dir.write("certs/ec.key", pem(ec.get()));
        dir.write("certs/enc.crt", pem(make_cert("enc.test", enc.get(), false).get()));
        dir.write("certs/enc.key", pem(enc.get(), "s3cret"));
        dir.write("certs/garbage.pem", "not a pem file\n");
        dir.write("certs/dh.pem", dhparam_pem());
        dir.write("certs/pw-good.txt", "wrong one\n\ns3cret\n");
        dir.write("certs/pw-bad.txt", "wrong one\r\nanother\r\n");
        // root -> intermediate -> leaf; chain.crt holds the leaf and the intermediate
        Pkey root_k = ec_key(), mid_k = ec_key(), leaf_k = ec_key();
        Cert root = make_cert("Test Root", root_k.get(), true);
        Cert mid = make_cert("Test Intermediate", mid_k.get(), true, root.get(), root_k.get());
        Cert leaf = make_cert("chain.test", leaf_k.get(), false, mid.get(), mid_k.get());
        root_pem = pem(root.get());
        dir.write("certs/root.crt", root_pem);
        dir.write("certs/chain.crt", pem(leaf.get()) + pem(mid.get()));
        dir.write("certs/chain.key", pem(leaf_k.get()));
    }
    std::string path(const std::string& rel) const { return dir.file("certs/" + rel); }
};

const Material& material() {
    static Material m;
    return m;
}

// ---- loading -----------------------------------------------------------------------

// Writes `text` as nginx.conf next to the material (so "certs/x" paths are
// relative to the config's directory) and loads it.
struct Loaded {
    std::string conf;
    std::shared_ptr<Config> cfg;
    std::string err;
};

std::unique_ptr<Loaded> load_text(std::string_view text) {
    static int n = 0;
    auto l = std::make_unique<Loaded>();
    std::string name = "tls" + std::to_string(n++) + ".conf";
    l->conf = material().dir.write(name, text);
    LoadOptions o;
    o.prefix = material().dir.path();
    o.conf_file = name;
    auto r = load(o);
    if (auto* e = std::get_if<std::string>(&r)) l->err = *e;
    else l->cfg = std::get<std::shared_ptr<Config>>(r);
    return l;
}

std::unique_ptr<Loaded> ok(std::string_view text) {
    auto l = load_text(text);
    EXPECT_TRUE(l->err.empty()) << "unexpected error: " << l->err;
    return l;
}

// The error with the config path replaced by "F" and the material's directory by "D".
std::string err(std::string_view text) {
    auto l = load_text(text);
    EXPECT_FALSE(l->err.empty()) << "expected an error for:\n" << text;
    EXPECT_TRUE(l->cfg == nullptr);
    std::string e = l->err;
    for (size_t p; (p = e.find(l->conf)) != std::string::npos;) e.replace(p, l->conf.size(), "F");
    const std::string& d = material().dir.path();
    for (size_t p; (p = e.find(d)) != std::string::npos;) e.replace(p, d.size(), "D");
    return e;
}

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, std::string_view p) { return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0; }

const Http& http_of(const Loaded& l) {
    if (!l.cfg || !l.cfg->http) throw std::runtime_error("config did not load: " + l.err);
    return *l.cfg->http;
}

// "events {}" line 1, "http {" line 2, "server {" line 3, the body from line 4.
std::string tls_server(std::string_view body, std::string_view http_extra = "") {
    return "events {}\nhttp {\nserver {\n" + std::string(body) + "\n}\n" + std::string(http_extra) + "}\n";
}

constexpr std::string_view kRsaPair = "ssl_certificate certs/rsa.crt;\nssl_certificate_key certs/rsa.key;";

// ---- in-memory handshakes ---------------------------------------------------------

struct SslFree { void operator()(SSL* s) const { SSL_free(s); } };
struct CtxFree { void operator()(SSL_CTX* c) const { SSL_CTX_free(c); } };
using Ssl = std::unique_ptr<SSL, SslFree>;
using Ctx = std::unique_ptr<SSL_CTX, CtxFree>;

// Drives both ends over a BIO pair until both finish or neither progresses.
// Returns whether both completed; the SSL objects stay for inspection.
bool handshake(SSL* client, SSL* server) {
    BIO *a, *b;
    BIO_new_bio_pair(&a, 0, &b, 0);
    SSL_set_bio(client, a, a);
    SSL_set_bio(server, b, b);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    bool c_done = false, s_done = false;
    for (int i = 0; i < 100 && !(c_done && s_done); ++i) {
        if (!c_done) {
            int r = SSL_do_handshake(client);
            if (r == 1) c_done = true;
            else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ) return false;
        }
        if (!s_done) {
            int r = SSL_do_handshake(server);
            if (r == 1) s_done = true;
            else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ) return false;
        }
    }
    return c_done && s_done;
}

// Lets the client read what the server sent after the handshake (TLS 1.3 tickets).
void pump_tickets(SSL* client, SSL* server) {
    char buf[16];
    SSL_write(server, "x", 1);
    SSL_read(client, buf, sizeof buf);
}

Ctx client_ctx() {
    Ctx c(SSL_CTX_new(TLS_client_method()));
    return c;
}

const tls::ServerCtx& server_tls(const Loaded& l, size_t i = 0) {
    const auto& s = http_of(l).servers.at(i);
    if (!s->tls) throw std::runtime_error("server has no TLS context");
    return *s->tls;
}

// ---- tests -----------------------------------------------------------------------

TEST(TlsConfig, ValidConfigGivesEveryServerOnATlsAddressAContext) {
    auto l = ok("events {}\nhttp {\n"
                "server {\nlisten 127.0.0.1:8443 ssl http2;\nserver_name a;\n" + std::string(kRsaPair) + "\n}\n"
                "server {\nlisten 127.0.0.1:8443;\nserver_name b;\n"
                "ssl_certificate certs/ec.crt;\nssl_certificate_key certs/ec.key;\n}\n"
                "server {\nlisten 127.0.0.1:8443;\nserver_name c;\n}\n"
                "server {\nlisten 127.0.0.1:8080;\nserver_name d;\n" + std::string(kRsaPair) + "\n}\n"
                "}\n");
    const Http& h = http_of(*l);
    ASSERT_EQ(h.servers.size(), 4u);
    // options hold per address: the other servers' listens on :8443 are TLS and h2 too
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(h.servers[i]->listens.at(0).ssl) << i;
        EXPECT_TRUE(h.servers[i]->listens.at(0).http2) << i;
    }
    EXPECT_FALSE(h.servers[3]->listens.at(0).ssl);
    EXPECT_FALSE(h.servers[3]->listens.at(0).http2);
    ASSERT_TRUE(h.servers[0]->tls);
    EXPECT_NE(h.servers[0]->tls->ctx, nullptr);
    ASSERT_TRUE(h.servers[1]->tls);   // its certificate serves SNI "b" on the TLS address
    EXPECT_NE(h.servers[1]->tls->ctx, h.servers[0]->tls->ctx);
    EXPECT_FALSE(h.servers[2]->tls);  // no certificate: keeps the default server's context (nginx)
    EXPECT_FALSE(h.servers[3]->tls);  // certificates, but no TLS address
    EXPECT_FALSE(*h.servers[0]->conf.http2);
}

TEST(TlsConfig, RsaAndEcdsaPairsCoexistAndAreChosenBySignatureAlgorithms) {
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) +
                           "\nssl_certificate certs/ec.crt;\nssl_certificate_key certs/ec.key;"));
    SSL_CTX* sctx = server_tls(*l).ctx;
    int n = 0;
    for (long r = SSL_CTX_set_current_cert(sctx, SSL_CERT_SET_FIRST); r == 1;
         r = SSL_CTX_set_current_cert(sctx, SSL_CERT_SET_NEXT))
        ++n;
    EXPECT_EQ(n, 2);
    auto cn_for = [&](const char* sigalgs) {
        Ctx cc = client_ctx();
        SSL_CTX_set1_sigalgs_list(cc.get(), sigalgs);
        Ssl c(SSL_new(cc.get())), s(SSL_new(sctx));
        if (!handshake(c.get(), s.get())) return std::string("handshake failed");
        X509* peer = SSL_get0_peer_certificate(c.get());
        char buf[128] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof buf);
        return std::string(buf);
    };
    EXPECT_EQ(cn_for("ECDSA+SHA256"), "ec.test");
    EXPECT_EQ(cn_for("rsa_pss_rsae_sha256:RSA+SHA256"), "rsa.test");
}

TEST(TlsConfig, DefaultsNegotiateTls13AndRefuseATls11OnlyClient) {
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair)));
    SSL_CTX* sctx = server_tls(*l).ctx;
    {
        Ctx cc = client_ctx();
        Ssl c(SSL_new(cc.get())), s(SSL_new(sctx));
        ASSERT_TRUE(handshake(c.get(), s.get()));
        EXPECT_EQ(SSL_version(c.get()), TLS1_3_VERSION);
    }
    {
        Ctx cc = client_ctx();
        SSL_CTX_set_min_proto_version(cc.get(), TLS1_1_VERSION);
        SSL_CTX_set_max_proto_version(cc.get(), TLS1_1_VERSION);
        SSL_CTX_set_cipher_list(cc.get(), "DEFAULT@SECLEVEL=0");
        Ssl c(SSL_new(cc.get())), s(SSL_new(sctx));
        EXPECT_FALSE(handshake(c.get(), s.get()));
        unsigned long e = ERR_peek_last_error();
        EXPECT_EQ(ERR_GET_REASON(e), SSL_R_UNSUPPORTED_PROTOCOL) << ERR_reason_error_string(e);
        ERR_clear_error();
    }
    {   // a TLS 1.2 client still gets in (default TLSv1.2 TLSv1.3)
        Ctx cc = client_ctx();
        SSL_CTX_set_max_proto_version(cc.get(), TLS1_2_VERSION);
        Ssl c(SSL_new(cc.get())), s(SSL_new(sctx));
        ASSERT_TRUE(handshake(c.get(), s.get()));
        EXPECT_EQ(SSL_version(c.get()), TLS1_2_VERSION);
    }
}

TEST(TlsConfig, ProtocolsAndCiphersApply) {
    // TLSv1.1 only needs the security level lowered by the cipher string (not by switchyard)
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) +
                           "\nssl_protocols TLSv1.1;\nssl_ciphers DEFAULT@SECLEVEL=0;"));
    SSL_CTX* sctx = server_tls(*l).ctx;
    EXPECT_EQ(SSL_CTX_get_min_proto_version(sctx), TLS1_1_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(sctx), TLS1_1_VERSION);
    Ctx cc = client_ctx();
    SSL_CTX_set_min_proto_version(cc.get(), TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(cc.get(), "DEFAULT@SECLEVEL=0");
    Ssl c(SSL_new(cc.get())), s(SSL_new(sctx));
    ASSERT_TRUE(handshake(c.get(), s.get()));
    EXPECT_EQ(SSL_version(c.get()), TLS1_1_VERSION);

    // a gap (TLSv1 and TLSv1.2, no TLSv1.1) is closed with SSL_OP_NO_TLSv1_1
    auto g = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nssl_protocols TLSv1 TLSv1.2;"));
    SSL_CTX* gctx = server_tls(*g).ctx;
    EXPECT_EQ(SSL_CTX_get_min_proto_version(gctx), TLS1_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(gctx), TLS1_2_VERSION);
    EXPECT_NE(SSL_CTX_get_options(gctx) & SSL_OP_NO_TLSv1_1, 0u);
    EXPECT_NE(SSL_CTX_get_options(gctx) & SSL_OP_NO_TLSv1_3, 0u);

    // ciphers for TLS <= 1.2 and server preference
    auto p = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) +
                           "\nssl_protocols TLSv1.2;\nssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;\nssl_prefer_server_ciphers on;"));
    SSL_CTX* pctx = server_tls(*p).ctx;
    EXPECT_NE(SSL_CTX_get_options(pctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
    Ctx cc2 = client_ctx();
    Ssl c3(SSL_new(cc2.get())), s3(SSL_new(pctx));
    ASSERT_TRUE(handshake(c3.get(), s3.get()));
    EXPECT_STREQ(SSL_get_cipher_name(c3.get()), "ECDHE-RSA-AES128-GCM-SHA256");
    EXPECT_EQ(SSL_CTX_get_options(server_tls(*l).ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
}

TEST(TlsConfig, CertificateChainIsSent) {
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\nssl_certificate certs/chain.crt;\nssl_certificate_key certs/chain.key;"));
    Ctx cc = client_ctx();
    ASSERT_EQ(SSL_CTX_load_verify_locations(cc.get(), material().path("root.crt").c_str(), nullptr), 1);
    SSL_CTX_set_verify(cc.get(), SSL_VERIFY_PEER, nullptr);
    Ssl c(SSL_new(cc.get())), s(SSL_new(server_tls(*l).ctx));
    ASSERT_TRUE(handshake(c.get(), s.get()));   // the client trusts only the root: the intermediate came from the server
    EXPECT_EQ(SSL_get_verify_result(c.get()), X509_V_OK);
    EXPECT_EQ(sk_X509_num(SSL_get_peer_cert_chain(c.get())), 2);
}

TEST(TlsConfig, CertificateAndKeyErrors) {
    std::string e = err(tls_server("listen 8443 ssl;\nssl_certificate certs/nope.crt;\nssl_certificate_key certs/rsa.key;"));
    EXPECT_TRUE(starts_with(e, "cannot load certificate \"D/certs/nope.crt\": BIO_new_file() failed (SSL: error:"))
        << e;
    EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
    EXPECT_TRUE(ends_with(e, ") in F:5")) << e;

    e = err(tls_server("listen 8443 ssl;\nssl_certificate certs/garbage.pem;\nssl_certificate_key certs/rsa.key;"));
    EXPECT_TRUE(starts_with(e, "cannot load certificate \"D/certs/garbage.pem\": PEM_read_bio_X509_AUX() failed (SSL: error:"))
        << e;
    EXPECT_TRUE(ends_with(e, " in F:5")) << e;

    e = err(tls_server("listen 8443 ssl;\nssl_certificate certs/rsa.crt;\nssl_certificate_key certs/nope.key;"));
    EXPECT_TRUE(starts_with(e, "cannot load certificate key \"D/certs/nope.key\": BIO_new_file() failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:6")) << e;

    e = err(tls_server("listen 8443 ssl;\nssl_certificate certs/rsa.crt;\nssl_certificate_key certs/garbage.pem;"));
    EXPECT_TRUE(starts_with(e, "cannot load certificate key \"D/certs/garbage.pem\": PEM_read_bio_PrivateKey() failed (SSL: "))
        << e;
    EXPECT_TRUE(ends_with(e, " in F:6")) << e;

    if (geteuid() != 0) {   // root reads anything
        std::string path = material().dir.write("certs/unreadable.key", pem(rsa_key().get()));
        chmod(path.c_str(), 0);
        e = err(tls_server("listen 8443 ssl;\nssl_certificate certs/rsa.crt;\nssl_certificate_key certs/unreadable.key;"));
        EXPECT_TRUE(starts_with(e, "cannot load certificate key \"D/certs/unreadable.key\": BIO_new_file() failed (SSL: ")) << e;
        EXPECT_NE(e.find("Permission denied"), std::string::npos) << e;
        EXPECT_TRUE(ends_with(e, " in F:6")) << e;
    }

    // another RSA key: OpenSSL refuses it right away
    EXPECT_EQ(err(tls_server("listen 8443 ssl;\nssl_certificate certs/rsa.crt;\nssl_certificate_key certs/rsa2.key;")),
              "SSL_CTX_use_PrivateKey(\"D/certs/rsa2.key\") failed (SSL: error:05800074:x509 certificate "
              "routines::key values mismatch) in F:6");
    // a key of another type: only SSL_CTX_check_private_key notices
    e = err(tls_server("listen 8443 ssl;\nssl_certificate certs/rsa.crt;\nssl_certificate_key certs/ec.key;"));
    EXPECT_TRUE(starts_with(e, "SSL_CTX_check_private_key() failed: certificate key \"D/certs/ec.key\" does not match "
                               "certificate \"D/certs/rsa.crt\" (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:6")) << e;

    // the second certificate lacks its key
    EXPECT_EQ(err(tls_server("listen 8443 ssl;\n" + std::string(kRsaPair) + "\nssl_certificate certs/ec.crt;")),
              "no \"ssl_certificate_key\" is defined for certificate \"certs/ec.crt\" in F:7");
}

TEST(TlsConfig, EncryptedKeyAndPasswordFile) {
    const std::string enc_pair = "ssl_certificate certs/enc.crt;\nssl_certificate_key certs/enc.key;";
    std::string e = err(tls_server("listen 8443 ssl;\n" + enc_pair));
    EXPECT_TRUE(starts_with(e, "cannot load certificate key \"D/certs/enc.key\": PEM_read_bio_PrivateKey() failed (SSL: "))
        << e;
    EXPECT_TRUE(ends_with(e, " in F:6")) << e;

    e = err(tls_server("listen 8443 ssl;\n" + enc_pair + "\nssl_password_file certs/pw-bad.txt;"));
    EXPECT_TRUE(starts_with(e, "cannot load certificate key \"D/certs/enc.key\": PEM_read_bio_PrivateKey() failed (SSL: "))
        << e;
    EXPECT_TRUE(ends_with(e, " in F:6")) << e;

    // the right passphrase on the file's second line, the file set at http level
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + enc_pair, "ssl_password_file certs/pw-good.txt;\n"));
    Ctx cc = client_ctx();
    Ssl c(SSL_new(cc.get())), s(SSL_new(server_tls(*l).ctx));
    EXPECT_TRUE(handshake(c.get(), s.get()));
    // passphrases do not outlive the load
    ASSERT_TRUE(http_of(*l).conf.ssl_password_file && *http_of(*l).conf.ssl_password_file);
    EXPECT_TRUE((*http_of(*l).conf.ssl_password_file)->empty());

    EXPECT_EQ(err(tls_server("listen 8443 ssl;\n" + enc_pair + "\nssl_password_file certs/nope.txt;")),
              "open() \"D/certs/nope.txt\" failed (2: No such file or directory) in F:7");
}

TEST(TlsConfig, ListenSslWithoutCertificate) {
    EXPECT_EQ(err(tls_server("listen 8443 ssl;")),
              "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in F:3");
    // the address's default server has none, though another server's listen made it TLS (nginx)
    EXPECT_EQ(err("events {}\nhttp {\nserver {\nlisten 8443;\n}\nserver {\nserver_name b;\nlisten 8443 ssl;\n" +
                  std::string(kRsaPair) + "\n}\n}\n"),
              "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in F:3");
    // default_server moves the requirement
    auto l = ok("events {}\nhttp {\nserver {\nlisten 8443;\n}\nserver {\nserver_name b;\nlisten 8443 ssl default_server;\n" +
                std::string(kRsaPair) + "\n}\n}\n");
    EXPECT_FALSE(http_of(*l).servers[0]->tls);
    EXPECT_TRUE(http_of(*l).servers[1]->tls);
    // certificates inherited from http count
    auto i = ok(tls_server("listen 8443 ssl;", std::string(kRsaPair) + "\n"));
    EXPECT_TRUE(http_of(*i).servers[0]->tls);
}

TEST(TlsConfig, DirectiveValueErrors) {
    EXPECT_EQ(err(tls_server("ssl_protocols TLSv1.2 TLSv9;")), "invalid value \"TLSv9\" in F:4");
    EXPECT_EQ(err(tls_server("ssl on;")), "no \"ssl_certificate\" is defined for the \"ssl\" directive in F:4");
    EXPECT_EQ(err(tls_server("ssl_certificate certs/$ssl_server_name.crt;")),
              "variables in ssl_certificate are not supported yet by switchyard in F:4");
    EXPECT_EQ(err(tls_server("ssl_certificate_key data:xyz;")),
              "\"data:\" values in ssl_certificate_key are not supported yet by switchyard in F:4");
    EXPECT_EQ(err(tls_server("ssl_session_cache foo;")), "invalid session cache \"foo\" in F:4");
    EXPECT_EQ(err(tls_server("ssl_session_cache shared:SSL;")), "invalid session cache \"shared:SSL\" in F:4");
    EXPECT_EQ(err(tls_server("ssl_session_cache builtin:x;")), "invalid session cache \"builtin:x\" in F:4");
    EXPECT_EQ(err(tls_server("ssl_session_cache shared:SSL:1k;")), "session cache \"shared:SSL:1k\" is too small in F:4");
    EXPECT_EQ(err(tls_server("ssl_session_timeout x;")), "\"ssl_session_timeout\" directive invalid value in F:4");
    EXPECT_EQ(err(tls_server("ssl_ciphers A;\nssl_ciphers B;")), "\"ssl_ciphers\" directive is duplicate in F:5");
    EXPECT_EQ(err(tls_server("ssl_session_tickets maybe;")),
              "invalid value \"maybe\" in \"ssl_session_tickets\" directive, it must be \"on\" or \"off\" in F:4");
    EXPECT_EQ(err(tls_server("location / {\nssl_certificate certs/rsa.crt;\n}")),
              "\"ssl_certificate\" directive is not allowed here in F:5");
    EXPECT_EQ(err(tls_server("location / {\nproxy_ssl_crl x.pem;\n}")),
              "\"proxy_ssl_crl\" directive is not supported yet by switchyard in F:5");
    EXPECT_EQ(err(tls_server("listen 8443 quic;")),
              "the \"quic\" parameter of the \"listen\" directive is not supported yet by switchyard in F:4");
    EXPECT_EQ(err(tls_server("location / {\nproxy_ssl_verify_depth x;\n}")),
              "\"proxy_ssl_verify_depth\" directive invalid number in F:5");
    EXPECT_EQ(err(tls_server("listen 8443;\nlisten 8443 ssl;")), "a duplicate listen 0.0.0.0:8443 in F:5");

    std::string e = err(tls_server("listen 8443 ssl;\n" + std::string(kRsaPair) + "\nssl_ciphers NOSUCHCIPHER;"));
    EXPECT_TRUE(starts_with(e, "SSL_CTX_set_cipher_list(\"NOSUCHCIPHER\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, "no cipher match) in F:7")) << e;
    e = err(tls_server("listen 8443 ssl;\n" + std::string(kRsaPair) + "\nssl_ecdh_curve nosuchcurve;"));
    EXPECT_TRUE(starts_with(e, "SSL_CTX_set1_curves_list(\"nosuchcurve\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
    e = err(tls_server("listen 8443 ssl;\n" + std::string(kRsaPair) + "\nssl_dhparam certs/garbage.pem;"));
    EXPECT_TRUE(starts_with(e, "PEM_read_bio_Parameters(\"D/certs/garbage.pem\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
    e = err(tls_server("listen 8443 ssl;\n" + std::string(kRsaPair) + "\nssl_dhparam certs/nope.pem;"));
    EXPECT_TRUE(starts_with(e, "BIO_new_file(\"D/certs/nope.pem\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
}

// As nginx: TLS files resolve against the configuration file's directory, not the -p prefix.
TEST(TlsConfig, RelativePathsResolveAgainstTheConfigDirectory) {
    TempDir prefix;
    std::string conf = material().dir.write("elsewhere.conf", tls_server("listen 8443 ssl;\n" + std::string(kRsaPair)));
    LoadOptions o;
    o.prefix = prefix.path();
    o.conf_file = conf;
    auto r = load(o);
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Config>>(r)) << std::get<std::string>(r);
    const auto& cfg = std::get<std::shared_ptr<Config>>(r);
    EXPECT_EQ(cfg->http->servers.at(0)->conf.ssl_certificate->at(0).value, material().path("rsa.crt"));
    EXPECT_EQ(cfg->http->servers.at(0)->conf.ssl_certificate->at(0).written, "certs/rsa.crt");
    EXPECT_TRUE(cfg->http->servers.at(0)->tls);
}

TEST(TlsConfig, DhparamAndCurvesLoad) {
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) +
                           "\nssl_dhparam certs/dh.pem;\nssl_ecdh_curve X25519:prime256v1;\nssl_protocols TLSv1.2;"
                           "\nssl_ciphers DHE-RSA-AES128-GCM-SHA256;"));
    Ctx cc = client_ctx();
    Ssl c(SSL_new(cc.get())), s(SSL_new(server_tls(*l).ctx));
    ASSERT_TRUE(handshake(c.get(), s.get()));   // DHE needs the parameters
    EXPECT_STREQ(SSL_get_cipher_name(c.get()), "DHE-RSA-AES128-GCM-SHA256");
}

TEST(TlsConfig, DefaultsAndInheritance) {
    auto l = ok("events {}\nhttp {\n"
                "ssl_protocols TLSv1.3;\nssl_session_timeout 10m;\n" + std::string(kRsaPair) + "\n"
                "server {\nlisten 127.0.0.1:8443 ssl;\n}\n"
                "server {\nlisten 127.0.0.1:8444 ssl;\nssl_protocols TLSv1.2;\nssl_protocols TLSv1.1;\n"
                "ssl_certificate certs/ec.crt;\nssl_certificate_key certs/ec.key;\nhttp2 on;\n}\n"
                "}\n");
    const Http& h = http_of(*l);
    const LocConf& a = h.servers[0]->conf;
    const LocConf& b = h.servers[1]->conf;
    EXPECT_EQ(*a.ssl_protocols, uint32_t(tls_proto::TLSv1_3));                        // inherited
    EXPECT_EQ(*b.ssl_protocols, uint32_t(tls_proto::TLSv1_1 | tls_proto::TLSv1_2));   // repeated: added (nginx)
    EXPECT_EQ(*a.ssl_session_timeout, 600000u);
    ASSERT_EQ(a.ssl_certificate->size(), 1u);
    EXPECT_EQ(a.ssl_certificate->at(0).value, material().path("rsa.crt"));
    ASSERT_EQ(b.ssl_certificate->size(), 1u);   // a list inherits only as a whole
    EXPECT_EQ(b.ssl_certificate->at(0).value, material().path("ec.crt"));
    EXPECT_FALSE(*a.http2);
    EXPECT_TRUE(*b.http2);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(server_tls(*l, 0).ctx), TLS1_3_VERSION);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(server_tls(*l, 1).ctx), TLS1_1_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(server_tls(*l, 1).ctx), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_timeout(server_tls(*l, 0).ctx), 600);

    // nginx's defaults
    auto d = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nlocation / {\n}"));
    const LocConf& c = http_of(*d).servers[0]->conf;
    EXPECT_EQ(*c.ssl_protocols, uint32_t(tls_proto::TLSv1_2 | tls_proto::TLSv1_3));
    EXPECT_EQ(c.ssl_ciphers->value, "HIGH:!aNULL:!MD5");
    EXPECT_EQ(c.ssl_ecdh_curve->value, "auto");
    EXPECT_FALSE(*c.ssl_prefer_server_ciphers);
    EXPECT_EQ(c.ssl_session_cache->mode, SslSessionCache::Mode::None);
    EXPECT_EQ(*c.ssl_session_timeout, 300000u);
    EXPECT_TRUE(*c.ssl_session_tickets);
    EXPECT_EQ(c.ssl_dhparam->value, "");
    EXPECT_EQ(*c.ssl_handshake_timeout, 60000u);
    EXPECT_FALSE(*c.http2);
    const LocConf& loc = http_of(*d).servers[0]->locations.all.at(0)->conf;
    EXPECT_FALSE(*loc.proxy_ssl_server_name);
    EXPECT_FALSE(loc.proxy_ssl_name);
    EXPECT_FALSE(*loc.proxy_ssl_verify);
    EXPECT_EQ(*loc.proxy_ssl_verify_depth, 1);
    EXPECT_EQ(*loc.proxy_ssl_protocols, uint32_t(tls_proto::TLSv1_2 | tls_proto::TLSv1_3));
    EXPECT_EQ(loc.proxy_ssl_ciphers->value, "DEFAULT");
    EXPECT_TRUE(*loc.proxy_ssl_session_reuse);
    EXPECT_EQ(loc.proxy_ssl_trusted_certificate->value, "");
    SSL_CTX* ctx = server_tls(*d).ctx;
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    EXPECT_EQ(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_SERVER);
    EXPECT_EQ(SSL_CTX_sess_get_cache_size(ctx), 1);
    EXPECT_EQ(SSL_CTX_get_timeout(ctx), 300);
    EXPECT_EQ(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET, 0u);
    EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, 0u);
    EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION, 0u);
    EXPECT_EQ(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS, long(SSL_MODE_RELEASE_BUFFERS));
}

TEST(TlsConfig, SessionCacheAndTickets) {
    auto cache = [](const std::string& directive) {
        auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\n" + directive));
        SSL_CTX* ctx = server_tls(*l).ctx;
        return std::make_pair(SSL_CTX_get_session_cache_mode(ctx), SSL_CTX_sess_get_cache_size(ctx));
    };
    EXPECT_EQ(cache("ssl_session_cache off;").first, SSL_SESS_CACHE_OFF);
    // sessions go into the cache through a callback (TLS 1.3 ones with
    // tickets on are left to their tickets), and are looked up there
    const long mode = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE;
    EXPECT_EQ(cache("ssl_session_cache builtin;"), std::make_pair(mode, 20480L));
    EXPECT_EQ(cache("ssl_session_cache shared:SSL:10m;"), std::make_pair(mode, 40000L));
    EXPECT_EQ(cache("ssl_session_cache builtin:1000 shared:SSL:1m;"), std::make_pair(mode, 5000L));
    auto with_cache = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nssl_session_cache shared:SSL:1m;"));
    EXPECT_NE(SSL_CTX_sess_get_new_cb(server_tls(*with_cache).ctx), nullptr);

    auto off = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nssl_session_tickets off;"));
    EXPECT_NE(SSL_CTX_get_options(server_tls(*off).ctx) & SSL_OP_NO_TICKET, 0u);
}

// Ticket keys are made once per process: a session from a context of one
// load resumes with the context of the next (a reload).
TEST(TlsConfig, TicketsResumeAcrossAReload) {
    const std::string text = tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair));
    auto first = ok(text);
    auto second = ok(text);
    SSL_CTX* c1 = server_tls(*first).ctx;
    SSL_CTX* c2 = server_tls(*second).ctx;
    ASSERT_NE(c1, c2);
    unsigned char k1[80], k2[80];
    ASSERT_EQ(SSL_CTX_get_tlsext_ticket_keys(c1, k1, sizeof k1), 1);
    ASSERT_EQ(SSL_CTX_get_tlsext_ticket_keys(c2, k2, sizeof k2), 1);
    EXPECT_EQ(std::string_view(reinterpret_cast<char*>(k1), sizeof k1), std::string_view(reinterpret_cast<char*>(k2), sizeof k2));

    Ctx cc = client_ctx();
    SSL_SESSION* sess = nullptr;
    {
        Ssl c(SSL_new(cc.get())), s(SSL_new(c1));
        ASSERT_TRUE(handshake(c.get(), s.get()));
        pump_tickets(c.get(), s.get());
        sess = SSL_get1_session(c.get());
        ASSERT_NE(sess, nullptr);
        ASSERT_EQ(SSL_SESSION_is_resumable(sess), 1);
        SSL_shutdown(c.get());   // freed unshut, OpenSSL would mark the session unresumable
    }
    {
        Ssl c(SSL_new(cc.get())), s(SSL_new(c2));
        SSL_set_session(c.get(), sess);
        ASSERT_TRUE(handshake(c.get(), s.get()));
        EXPECT_EQ(SSL_session_reused(c.get()), 1);
    }
    SSL_SESSION_free(sess);
}

TEST(TlsConfig, ProxyPassHttps) {
    auto l = ok("events {}\nhttp {\nserver {\nlisten 8080;\n"
                "location /a/ {\nproxy_pass https://127.0.0.1/x/;\n}\n"
                "location /b/ {\nproxy_pass http://127.0.0.1;\n}\n"
                "location /c/ {\nproxy_pass https://127.0.0.1:8443;\nproxy_ssl_server_name on;\nproxy_ssl_name $host;\n"
                "proxy_ssl_verify on;\nproxy_ssl_trusted_certificate certs/root.crt;\nproxy_ssl_verify_depth 3;\n"
                "proxy_ssl_session_reuse off;\nproxy_ssl_protocols TLSv1.3;\n"
                "proxy_ssl_certificate certs/ec.crt;\nproxy_ssl_certificate_key certs/ec.key;\n}\n"
                "location /d/ {\nproxy_pass $scheme://127.0.0.1;\n}\n"
                "location /e/ {\nproxy_pass http://$host;\n}\n"
                "}\n}\n");
    const Server& s = *http_of(*l).servers.at(0);
    auto loc = [&](size_t i) -> const ProxyPass& { return *s.locations.all.at(i)->proxy_pass; };
    const ProxyPass& a = loc(0);
    EXPECT_TRUE(a.https);
    EXPECT_EQ(a.host_port, "127.0.0.1");
    EXPECT_EQ(a.port_text, "443");
    EXPECT_EQ(a.uri, "/x/");
    ASSERT_NE(a.upstream, nullptr);
    ASSERT_EQ(a.upstream->peers.size(), 1u);
    EXPECT_EQ(a.upstream->peers[0].addr.text, "127.0.0.1:443");
    ASSERT_TRUE(a.tls);
    EXPECT_FALSE(a.tls->verify);
    EXPECT_TRUE(a.tls->session_reuse);
    EXPECT_FALSE(a.tls->server_name);
    EXPECT_FALSE(a.tls->name);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(a.tls->ctx), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_verify_mode(a.tls->ctx), SSL_VERIFY_NONE);

    const ProxyPass& b = loc(1);   // same host, port 80: an implicit upstream of its own
    EXPECT_FALSE(b.tls);
    ASSERT_NE(b.upstream, nullptr);
    EXPECT_NE(b.upstream, a.upstream);
    EXPECT_EQ(b.upstream->peers.at(0).addr.text, "127.0.0.1:80");

    const ProxyPass& c = loc(2);
    EXPECT_EQ(c.port_text, "8443");
    ASSERT_TRUE(c.tls);
    EXPECT_TRUE(c.tls->verify);
    EXPECT_EQ(c.tls->verify_depth, 3);
    EXPECT_TRUE(c.tls->server_name);
    ASSERT_TRUE(c.tls->name);
    EXPECT_EQ(c.tls->name->source, "$host");
    EXPECT_FALSE(c.tls->session_reuse);
    EXPECT_EQ(SSL_CTX_get_verify_mode(c.tls->ctx), SSL_VERIFY_PEER);
    EXPECT_EQ(SSL_CTX_get_verify_depth(c.tls->ctx), 3);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(c.tls->ctx), TLS1_3_VERSION);
    EXPECT_EQ(SSL_CTX_get_session_cache_mode(c.tls->ctx), SSL_SESS_CACHE_OFF);
    EXPECT_NE(SSL_CTX_get0_certificate(c.tls->ctx), nullptr);   // the client certificate

    EXPECT_TRUE(loc(3).tls);    // URL starting with a variable: may be https at run time
    EXPECT_FALSE(loc(4).tls);   // http://$host is plain

    // the client context verifies a real server: chain.crt's root is trusted
    auto srv = ok(tls_server("listen 127.0.0.1:8443 ssl;\nssl_certificate certs/chain.crt;\nssl_certificate_key certs/chain.key;"));
    Ssl cl(SSL_new(c.tls->ctx)), sv(SSL_new(server_tls(*srv).ctx));
    SSL_set1_host(cl.get(), "chain.test");
    ASSERT_TRUE(handshake(cl.get(), sv.get()));
    EXPECT_EQ(SSL_get_verify_result(cl.get()), X509_V_OK);
}

TEST(TlsConfig, ProxySslErrors) {
    EXPECT_EQ(err("events {}\nhttp {\nserver {\nlocation / {\nproxy_pass https://127.0.0.1;\nproxy_ssl_verify on;\n}\n}\n}\n"),
              "no proxy_ssl_trusted_certificate for proxy_ssl_verify in F:6");
    // inherited from the server level: its line is named
    EXPECT_EQ(err("events {}\nhttp {\nserver {\nproxy_ssl_verify on;\nlocation / {\nproxy_pass https://127.0.0.1;\n}\n}\n}\n"),
              "no proxy_ssl_trusted_certificate for proxy_ssl_verify in F:4");
    // no TLS upstream: nothing to check (nginx)
    ok("events {}\nhttp {\nserver {\nlocation / {\nproxy_pass http://127.0.0.1;\nproxy_ssl_verify on;\n}\n}\n}\n");
    std::string e = err("events {}\nhttp {\nserver {\nlocation / {\nproxy_pass https://127.0.0.1;\nproxy_ssl_verify on;\n"
                        "proxy_ssl_trusted_certificate certs/nope.crt;\n}\n}\n}\n");
    EXPECT_TRUE(starts_with(e, "SSL_CTX_load_verify_locations(\"D/certs/nope.crt\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
    EXPECT_EQ(err("events {}\nhttp {\nserver {\nlocation / {\nproxy_pass https://127.0.0.1;\n"
                  "proxy_ssl_certificate certs/ec.crt;\n}\n}\n}\n"),
              "no \"proxy_ssl_certificate_key\" is defined for certificate \"certs/ec.crt\" in F:6");
    EXPECT_EQ(err("events {}\nhttp {\nserver {\nlocation / {\nproxy_pass https://127.0.0.1;\n"
                  "proxy_ssl_protocols TLSv1.2 SSLv4;\n}\n}\n}\n"),
              "invalid value \"SSLv4\" in F:6");
    e = err("events {}\nhttp {\nserver {\nlocation / {\nproxy_pass https://127.0.0.1;\n"
            "proxy_ssl_certificate certs/enc.crt;\nproxy_ssl_certificate_key certs/enc.key;\n}\n}\n}\n");
    EXPECT_TRUE(starts_with(e, "cannot load certificate key \"D/certs/enc.key\": PEM_read_bio_PrivateKey() failed")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
    ok("events {}\nhttp {\nproxy_ssl_password_file certs/pw-good.txt;\nserver {\nlocation / {\nproxy_pass https://127.0.0.1;\n"
       "proxy_ssl_certificate certs/enc.crt;\nproxy_ssl_certificate_key certs/enc.key;\n}\n}\n}\n");
}

// ---- client certificates, stapling, `ssl on` (tls/client_cert.cpp) ----------------

TEST(TlsClientCert, DirectiveErrorsNameTheirLine) {
    const std::string pair = "listen 8443 ssl;\n" + std::string(kRsaPair) + "\n";
    EXPECT_EQ(err(tls_server(pair + "ssl_verify_client on;")), "no ssl_client_certificate for ssl_verify_client in F:7");
    EXPECT_EQ(err(tls_server(pair + "ssl_verify_client optional;")),
              "no ssl_client_certificate for ssl_verify_client in F:7");
    // inherited from http {}: the http line is named
    EXPECT_EQ(err("events {}\nhttp {\nssl_verify_client on;\nserver {\n" + pair + "}\n}\n"),
              "no ssl_client_certificate for ssl_verify_client in F:3");
    EXPECT_EQ(err(tls_server("ssl_verify_client bogus;")), "invalid value \"bogus\" in F:4");
    EXPECT_EQ(err(tls_server("ssl_verify_client on;\nssl_verify_client off;")),
              "\"ssl_verify_client\" directive is duplicate in F:5");
    EXPECT_EQ(err(tls_server("ssl_verify_depth x;")), "\"ssl_verify_depth\" directive invalid number in F:4");
    EXPECT_EQ(err(tls_server("ssl_stapling maybe;")),
              "invalid value \"maybe\" in \"ssl_stapling\" directive, it must be \"on\" or \"off\" in F:4");
    EXPECT_EQ(err(tls_server("location / {\nssl_verify_client on;\n}")),
              "\"ssl_verify_client\" directive is not allowed here in F:5");
    EXPECT_EQ(err(tls_server("ssl_client_certificate certs/$ssl_server_name.crt;")),
              "variables in ssl_client_certificate are not supported yet by switchyard in F:4");

    std::string e = err(tls_server(pair + "ssl_verify_client on;\nssl_client_certificate certs/nope.pem;"));
    EXPECT_TRUE(starts_with(e, "SSL_CTX_load_verify_locations(\"D/certs/nope.pem\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:8")) << e;
    e = err(tls_server(pair + "ssl_trusted_certificate certs/nope.pem;"));
    EXPECT_TRUE(starts_with(e, "SSL_CTX_load_verify_locations(\"D/certs/nope.pem\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
    e = err(tls_server(pair + "ssl_crl certs/nope.pem;"));
    EXPECT_TRUE(starts_with(e, "X509_LOOKUP_load_file(\"D/certs/nope.pem\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:7")) << e;
    e = err(tls_server(pair + "ssl_stapling on;\nssl_stapling_file certs/nope.der;"));
    EXPECT_TRUE(starts_with(e, "BIO_new_file(\"D/certs/nope.der\") failed (SSL: error:")) << e;
    EXPECT_TRUE(ends_with(e, " in F:8")) << e;
    e = err(tls_server(pair + "ssl_stapling on;\nssl_stapling_file certs/garbage.pem;"));
    EXPECT_TRUE(starts_with(e, "d2i_OCSP_RESPONSE_bio(\"D/certs/garbage.pem\") failed")) << e;

    // stream servers check the same
    EXPECT_EQ(err("events {}\nstream {\nserver {\nlisten 127.0.0.1:9443 ssl;\n" + std::string(kRsaPair) +
                  "\nssl_verify_client on;\nproxy_pass 127.0.0.1:1;\n}\n}\n"),
              "no ssl_client_certificate for ssl_verify_client in F:7");
    EXPECT_EQ(err("events {}\nstream {\nserver {\nlisten 127.0.0.1:9443 ssl;\nssl_stapling on;\n}\n}\n"),
              "\"ssl_stapling\" directive is not allowed here in F:5");
}

TEST(TlsClientCert, AcceptedWithoutContextOrWhereNginxDoesNotLoad) {
    // nginx loads ssl_client_certificate only with ssl_verify_client on; a
    // server without certificates checks nothing
    ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nssl_client_certificate certs/nope.pem;"));
    ok(tls_server("listen 127.0.0.1:8080;\nssl_verify_client on;"));
    ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nssl_verify_client optional_no_ca;"));
    ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\nssl_verify_client off;"));
}

// A client of `root.crt`'s chain (chain.crt: leaf + intermediate) or the
// self-signed rsa.crt, against a server with ssl_verify_client settings.
struct ClientCertRun {
    bool ok = false;
    long verify = -1;
    std::shared_ptr<const tls::PeerCert> pc;
    std::vector<std::string> ca_names;   // of the CertificateRequest, as the client saw it
};

ClientCertRun run_client_cert(const Loaded& l, const char* cert, const char* key) {
    ClientCertRun out;
    Ctx cc = client_ctx();
    if (cert) {
        EXPECT_EQ(SSL_CTX_use_certificate_chain_file(cc.get(), material().path(cert).c_str()), 1);
        EXPECT_EQ(SSL_CTX_use_PrivateKey_file(cc.get(), material().path(key).c_str(), SSL_FILETYPE_PEM), 1);
    }
    Ssl c(SSL_new(cc.get())), s(SSL_new(server_tls(l).ctx));
    out.ok = handshake(c.get(), s.get());
    if (!out.ok) return out;
    out.verify = SSL_get_verify_result(s.get());
    out.pc = tls::peer_cert(s.get());
    if (STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(c.get()))
        for (int i = 0; i < sk_X509_NAME_num(names); ++i) {
            char buf[256] = {};
            X509_NAME_get_text_by_NID(sk_X509_NAME_value(names, i), NID_commonName, buf, sizeof buf);
            out.ca_names.push_back(buf);
        }
    return out;
}

TEST(TlsClientCert, VerificationNeverFailsTheHandshakeAndIsJudgedPerMode) {
    const std::string base = "listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) + "\n";
    auto on = ok(tls_server(base + "ssl_verify_client on;\nssl_client_certificate certs/root.crt;\nssl_verify_depth 2;"));
    auto good = run_client_cert(*on, "chain.crt", "chain.key");
    ASSERT_TRUE(good.ok);
    EXPECT_EQ(good.verify, X509_V_OK);
    ASSERT_NE(good.pc, nullptr);
    EXPECT_EQ(good.pc->s_dn, "CN=chain.test");
    EXPECT_EQ(good.pc->i_dn, "CN=Test Intermediate");
    EXPECT_EQ(good.pc->fingerprint.size(), 40u);
    EXPECT_TRUE(starts_with(good.pc->pem, "-----BEGIN CERTIFICATE-----\n")) << good.pc->pem;
    EXPECT_EQ(good.ca_names, std::vector<std::string>{"Test Root"});
    std::string why;
    EXPECT_EQ(tls::client_verify_status(1, good.pc.get(), why), 0);
    EXPECT_EQ(tls::client_verify_text(good.pc.get()), "SUCCESS");

    auto self = run_client_cert(*on, "rsa.crt", "rsa.key");   // not signed by the CA: the handshake still completes
    ASSERT_TRUE(self.ok);
    EXPECT_EQ(self.verify, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    EXPECT_EQ(tls::client_verify_status(1, self.pc.get(), why), 495);
    EXPECT_EQ(why, "client SSL certificate verify error: (18:self-signed certificate)");
    EXPECT_EQ(tls::client_verify_status(2, self.pc.get(), why), 495);
    EXPECT_EQ(tls::client_verify_status(3, self.pc.get(), why), 0);   // optional_no_ca
    EXPECT_EQ(tls::client_verify_text(self.pc.get()), "FAILED:self-signed certificate");

    auto none = run_client_cert(*on, nullptr, nullptr);
    ASSERT_TRUE(none.ok);
    EXPECT_EQ(none.pc, nullptr);
    EXPECT_EQ(tls::client_verify_status(1, nullptr, why), 496);
    EXPECT_EQ(why, "client sent no required SSL certificate");
    EXPECT_EQ(tls::client_verify_status(2, nullptr, why), 0);
    EXPECT_EQ(tls::client_verify_text(nullptr), "NONE");

    // OpenSSL's depth counts CAs above the leaf, the trust anchor not included:
    // depth 0 refuses leaf + intermediate + root, 1 (the default) allows it
    auto dflt = ok(tls_server(base + "ssl_verify_client on;\nssl_client_certificate certs/root.crt;"));
    EXPECT_EQ(run_client_cert(*dflt, "chain.crt", "chain.key").verify, X509_V_OK);
    auto shallow = ok(tls_server(base + "ssl_verify_client on;\nssl_client_certificate certs/root.crt;\n"
                                        "ssl_verify_depth 0;"));
    auto deep = run_client_cert(*shallow, "chain.crt", "chain.key");
    ASSERT_TRUE(deep.ok);
    // (the chain is cut at the depth, so OpenSSL's last word is the missing issuer)
    EXPECT_EQ(deep.verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

    // ssl_trusted_certificate verifies but sends no CA names
    auto trusted = ok(tls_server(base + "ssl_verify_client optional_no_ca;\nssl_trusted_certificate certs/root.crt;\n"
                                        "ssl_verify_depth 2;"));
    auto t = run_client_cert(*trusted, "chain.crt", "chain.key");
    ASSERT_TRUE(t.ok);
    EXPECT_EQ(t.verify, X509_V_OK);
    EXPECT_TRUE(t.ca_names.empty());
}

TEST(TlsClientCert, CertificateFormsOfTheVariables) {
    EXPECT_EQ(tls::indented_cert("-----BEGIN\nAB\n-----END\n"), "-----BEGIN\n\tAB\n\t-----END");
    EXPECT_EQ(tls::escaped_cert("-----BEGIN X-----\na+/=\n"), "-----BEGIN%20X-----%0Aa%2B%2F%3D%0A");
    tls::PeerCert pc;
    pc.not_after = 1000000;
    EXPECT_EQ(tls::days_remaining(pc, 1000000 - 86400 * 3 - 5), "3");
    EXPECT_EQ(tls::days_remaining(pc, 1000000 - 100), "0");
    EXPECT_EQ(tls::days_remaining(pc, 2000000), "0");
}

TEST(TlsClientCert, MisdirectedOnlyWhereTheHostsServerVerifies) {
    EXPECT_TRUE(tls::misdirected("a.test", "b.test", 1));
    EXPECT_TRUE(tls::misdirected("a.test", "b.test", 3));
    EXPECT_FALSE(tls::misdirected("a.test", "b.test", 0));
    EXPECT_FALSE(tls::misdirected("a.test", "A.Test", 1));
    EXPECT_FALSE(tls::misdirected("", "b.test", 1));   // no SNI: nothing was negotiated
    EXPECT_FALSE(tls::misdirected("a.test", "", 1));   // no Host
}

TEST(TlsClientCert, StaplingWarnsAndNeverFails) {
    const std::string base = "listen 127.0.0.1:8443 ssl;\n";
    auto self = ok(tls_server(base + std::string(kRsaPair) + "\nssl_stapling on;\nssl_stapling_verify on;"));
    ASSERT_EQ(self->cfg->warnings.size(), 1u);
    EXPECT_EQ(self->cfg->warnings[0], "\"ssl_stapling\" ignored, issuer certificate not found for certificate \"" +
                                          material().path("rsa.crt") + "\"");
    auto chain = ok(tls_server(base + "ssl_certificate certs/chain.crt;\nssl_certificate_key certs/chain.key;\n"
                                      "ssl_stapling on;"));
    ASSERT_EQ(chain->cfg->warnings.size(), 1u);
    EXPECT_EQ(chain->cfg->warnings[0],
              "\"ssl_stapling\" ignored, no OCSP responder URL in the certificate \"" + material().path("chain.crt") + "\"");
    auto responder = ok(tls_server(base + "ssl_certificate certs/chain.crt;\nssl_certificate_key certs/chain.key;\n"
                                          "ssl_stapling on;\nssl_stapling_responder http://ocsp.test/;"));
    ASSERT_EQ(responder->cfg->warnings.size(), 1u);
    EXPECT_TRUE(starts_with(responder->cfg->warnings[0], "\"ssl_stapling\" ignored, fetching OCSP responses from "
                                                         "\"http://ocsp.test/\" is not supported yet"))
        << responder->cfg->warnings[0];
    auto off = ok(tls_server(base + std::string(kRsaPair) + "\nssl_stapling off;"));
    EXPECT_TRUE(off->cfg->warnings.empty());
}

TEST(TlsClientCert, StaplingFileIsStapled) {
    OCSP_RESPONSE* resp = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, nullptr);
    unsigned char* der = nullptr;
    int n = i2d_OCSP_RESPONSE(resp, &der);
    OCSP_RESPONSE_free(resp);
    ASSERT_GT(n, 0);
    std::string bytes(reinterpret_cast<char*>(der), size_t(n));
    OPENSSL_free(der);
    material().dir.write("certs/ocsp.der", bytes);
    auto l = ok(tls_server("listen 127.0.0.1:8443 ssl;\n" + std::string(kRsaPair) +
                           "\nssl_stapling on;\nssl_stapling_file certs/ocsp.der;"));
    EXPECT_TRUE(l->cfg->warnings.empty());
    Ctx cc = client_ctx();
    Ssl c(SSL_new(cc.get())), s(SSL_new(server_tls(*l).ctx));
    SSL_set_tlsext_status_type(c.get(), TLSEXT_STATUSTYPE_ocsp);
    ASSERT_TRUE(handshake(c.get(), s.get()));
    const unsigned char* got = nullptr;
    long len = SSL_get_tlsext_status_ocsp_resp(c.get(), &got);
    ASSERT_EQ(len, long(bytes.size()));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got), size_t(len)), bytes);
}

TEST(TlsClientCert, SslOnMakesTheDefaultServersAddressTls) {
    auto l = ok("events {}\nhttp {\nserver {\nlisten 127.0.0.1:8443;\nssl on;\n" + std::string(kRsaPair) +
                "\n}\nserver {\nlisten 127.0.0.1:8080;\n}\n}\n");
    ASSERT_EQ(l->cfg->warnings.size(), 1u);
    EXPECT_EQ(l->cfg->warnings[0],
              "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead in " + l->conf + ":5");
    EXPECT_TRUE(http_of(*l).servers[0]->listens[0].ssl);
    EXPECT_NE(http_of(*l).servers[0]->tls, nullptr);
    EXPECT_FALSE(http_of(*l).servers[1]->listens[0].ssl);
    // `ssl off` changes nothing; `ssl on` in a server that is not the address's default does not make it TLS
    auto off = ok(tls_server("listen 127.0.0.1:8080;\nssl off;"));
    EXPECT_FALSE(http_of(*off).servers[0]->listens[0].ssl);
    auto second = ok("events {}\nhttp {\nserver {\nlisten 127.0.0.1:8080;\n}\nserver {\nlisten 127.0.0.1:8080;\n"
                     "server_name b;\nssl on;\n" + std::string(kRsaPair) + "\n}\n}\n");
    EXPECT_FALSE(http_of(*second).servers[1]->listens[0].ssl);
}

}  // namespace
}  // namespace sy::conf

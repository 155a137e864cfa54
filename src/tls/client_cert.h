// Client certificates (ssl_verify_client and friends) and OCSP stapling
// (ssl_stapling*) on server contexts, with nginx's semantics and messages:
// verification never fails a handshake (the verify callback accepts
// everything, OpenSSL records the result in the connection and its session,
// so a resumed session keeps it); the http request or the stream session
// decides afterwards (`client_verify_status`). The facts behind
// $ssl_client_* are read once per handshake into a `PeerCert`.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "config/conf.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace sy::tls {

// ssl_verify_client, ssl_verify_depth, ssl_client_certificate (verification
// and the CA names of the CertificateRequest), ssl_trusted_certificate
// (verification only), ssl_crl. On failure sets `err` (nginx's message, then
// " in FILE:LINE" of the directive at fault, else `where`).
bool setup_client_verify(SSL_CTX* ctx, const conf::LocConf& lc, const conf::SrcLoc& where, std::string& err);

// ssl_stapling*: with ssl_stapling_file the DER response is stapled to every
// handshake that asks for one (`staple` keeps it, it must live as long as
// ctx); without one, nginx's warnings go to `warnings` (no issuer, no OCSP
// URL) or a warning that switchyard does not fetch responses. Never fails
// except on an unreadable or invalid ssl_stapling_file.
bool setup_stapling(SSL_CTX* ctx, const conf::LocConf& lc, const conf::SrcLoc& where, std::string& staple,
                    std::vector<std::string>* warnings, std::string& err);

// The client's certificate as $ssl_client_* show it.
struct PeerCert {
    long verify_result = 0;   // SSL_get_verify_result (X509_V_OK = 0)
    std::string s_dn, i_dn;   // RFC 2253: "CN=client,O=Org"
    std::string s_dn_legacy, i_dn_legacy;   // X509_NAME_oneline: "/O=Org/CN=client"
    std::string serial;       // i2a_ASN1_INTEGER: uppercase hex
    std::string fingerprint;  // SHA-1, lowercase hex
    std::string pem;          // $ssl_client_raw_cert
    std::string v_start, v_end;   // ASN1_TIME_print: "Dec  7 20:59:32 2026 GMT"
    time_t not_after = -1;    // for $ssl_client_v_remain; -1: unparsable
};

// Null when the peer sent no certificate.
std::shared_ptr<const PeerCert> peer_cert(SSL* ssl);

// $ssl_session_id (lowercase hex) and $ssl_ciphers (the client's list,
// names joined by ':', unknown ones as 0x hex), read at the end of a
// handshake when the configuration uses them.
std::string session_id_hex(SSL* ssl);
std::string client_ciphers(SSL* ssl);

// $ssl_client_verify: NONE, SUCCESS or FAILED:reason.
std::string client_verify_text(const PeerCert* pc);

// $ssl_client_cert: the PEM without its last newline, continuation lines
// indented by a tab (nginx's header-safe form).
std::string indented_cert(const std::string& pem);

// $ssl_client_escaped_cert: the PEM escaped as a URI component (nginx's
// NGX_ESCAPE_URI_COMPONENT: all but letters, digits and "-._~").
std::string escaped_cert(const std::string& pem);

// $ssl_client_v_remain: whole days left, "0" within the last day or after.
std::string days_remaining(const PeerCert& pc, time_t now);

// What the request (http) or session (stream) does with the client's
// certificate under `ssl_verify_client mode` (0..3): 0 to go on, else 495
// (verification failed) or 496 (`on` and no certificate), with nginx's
// info-level message in `why`.
int client_verify_status(int mode, const PeerCert* pc, std::string& why);

// nginx's ngx_http_set_virtual_server: a request whose Host names another
// server than the TLS server name (the resumed session's, on resumption)
// is refused with 421 when that server verifies client certificates, so a
// handshake made for a server without them cannot reach one with them.
bool misdirected(const std::string& sni, const std::string& host, int mode);
inline constexpr const char* kMisdirected =
    "client attempted to request the server name different from the one that was negotiated";

}  // namespace sy::tls

// Runtime side of variables: evaluates compiled templates for one request.
#pragma once

#include <cstdint>
#include <string>

#include "config/conf.h"
#include "core/clock.h"
#include "http/request.h"
#include "tls/client_cert.h"

namespace sy::http {

// Facts about the client connection a request arrived on.
struct ConnInfo {
    std::string remote_addr;
    uint16_t remote_port = 0;
    std::string server_addr;
    uint16_t server_port = 0;
    uint64_t number = 0;       // $connection, "*N" in the error log
    uint32_t requests = 0;     // $connection_requests
    uint64_t start_mono = clock::now_ms();   // $connection_time: from accept (the session's ConnInfo is made then)
    bool ssl = false;
    bool h2 = false;           // HTTP/2 ($http2: h2 or h2c)
    // TLS facts for $ssl_*: OpenSSL's static names, the SNI as sent.
    const char* ssl_protocol = nullptr;
    const char* ssl_cipher = nullptr;
    bool ssl_reused = false;
    std::string ssl_server_name;
    std::shared_ptr<const tls::PeerCert> client_cert;   // null: no client certificate
    std::string ssl_session_id, ssl_ciphers;   // only when the configuration reads them (keeps_ssl_session_vars)
    // The PROXY protocol header's source ($proxy_protocol_addr/_port), when
    // the listen has proxy_protocol.
    std::string proxy_protocol_addr;
    uint16_t proxy_protocol_port = 0;
    // The peer's own address when realip replaced remote_addr ($realip_remote_addr).
    std::string realip_remote_addr;
    uint16_t realip_remote_port = 0;
    // stream's ssl_preread: what the ClientHello said.
    std::string preread_server_name, preread_alpn, preread_protocol;
    bool preread_found = false;   // nginx's variables are "not found" ("-") without a ClientHello
};

struct VarCtx {
    const ConnInfo& conn;
    Request& req;
    const conf::Http& http;
};

// Appends the variable's value to `out`; false when nginx would call it
// "not found" (the access log prints "-" for those).
bool get_var(const conf::VarRef& v, VarCtx& ctx, std::string& out);

// Appends the whole template. Not-found variables contribute nothing.
void eval(const conf::Template& t, VarCtx& ctx, std::string& out);
std::string eval(const conf::Template& t, VarCtx& ctx);

// Looks up a map for the request (cached per request).
const std::string& map_value(uint32_t map_id, VarCtx& ctx);

// Stores captures of a successful regex match as $1..$9 / named captures.
void set_captures(Request& r, const conf::Regex& re, std::string_view subject, const std::vector<int>& caps);

std::string format_msec(uint64_t ms);

// Appends the value of cookie `name` from the request's Cookie headers ($cookie_NAME).
bool cookie_value(const RequestHead& h, std::string_view name, std::string& out);   // "1.234"
// $upstream_cookie_NAME: the value the first Set-Cookie field naming `name` sets.
bool set_cookie_value(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name,
                      std::string& out);
// $remote_user: the user of "Authorization: Basic base64(user:password)".
bool basic_auth_user(const RequestHead& h, std::string& out);
bool base64_decode(std::string_view in, std::string& out);   // false: not base64

}  // namespace sy::http

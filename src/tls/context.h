// OpenSSL contexts built from the configuration at load time: one ServerCtx
// per server block that serves TLS, one ClientCtx per location proxying to
// https:// (or to a URL that starts with a variable). The loader makes them
// after merging levels, so a bad certificate fails `-t` with nginx's
// message; the runtime only creates SSL objects from them. SNI and ALPN
// callbacks are installed by the runtime, not here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/conf.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace sy::tls {

struct ServerCtx {
    SSL_CTX* ctx = nullptr;
    std::string ocsp_staple;   // ssl_stapling_file's DER response (the status callback's argument)
    ServerCtx() = default;
    ServerCtx(const ServerCtx&) = delete;
    ServerCtx& operator=(const ServerCtx&) = delete;
    ~ServerCtx();
};

struct ClientCtx {
    SSL_CTX* ctx = nullptr;
    bool verify = false;                  // proxy_ssl_verify (SSL_VERIFY_PEER is set on ctx)
    int verify_depth = 1;                 // proxy_ssl_verify_depth
    bool server_name = false;             // proxy_ssl_server_name: send SNI
    std::optional<conf::Template> name;   // proxy_ssl_name; unset: $proxy_host
    bool session_reuse = true;            // proxy_ssl_session_reuse (ctx caches client sessions, no internal store)
    ClientCtx() = default;
    ClientCtx(const ClientCtx&) = delete;
    ClientCtx& operator=(const ClientCtx&) = delete;
    ~ClientCtx();
};

// Builds the context of a server block from its merged settings (certificates
// with their chains, protocols, ciphers, groups, session cache, timeout and
// tickets, dhparam). Session tickets use keys made once per process, so
// tickets stay valid across reloads. On failure returns null and sets `err`
// to nginx's message followed by " in FILE:LINE" of the directive at fault
// (`where`, the server block, when no directive is).
// Client certificate verification and stapling: tls/client_cert.h;
// `warnings` (may be null) receives nginx's [warn] messages.
std::shared_ptr<ServerCtx> make_server_ctx(const conf::LocConf& lc, const conf::SrcLoc& where, std::string& err,
                                           std::vector<std::string>* warnings = nullptr);

// Builds the context for TLS to a location's upstream (proxy_ssl_*). `where`
// (the proxy_pass line) locates errors no single directive explains.
std::shared_ptr<ClientCtx> make_client_ctx(const conf::LocConf& lc, const conf::SrcLoc& where, std::string& err);

// The body of a servername callback: `pick` asks the connection's owner
// (tls::Stream's ex_data) for the chosen server's context, which then
// serves this handshake with the settings nginx copies from it (verify mode
// and depth, options).
int on_servername(SSL* ssl, SSL_CTX* (*pick)(void* owner, const char* name));

// Reads an ssl_password_file / proxy_ssl_password_file: one passphrase per
// line (CR/LF stripped, empty lines skipped). On failure sets `err`
// (`open() "/p" failed (2: No such file or directory)`).
bool read_password_file(const std::string& path, std::vector<std::string>& out, std::string& err);

// Message pieces of the TLS loaders: " in FILE:LINE" of the directive, else
// of the fallback (a default value has no line); a value in double quotes.
std::string at(const conf::SrcLoc& w, const conf::SrcLoc& fallback);
std::string quoted(const std::string& s);

}  // namespace sy::tls

// TLS to the backend (proxy_pass https://): the name sent and checked,
// certificate verification as nginx does it (the handshake completes, then
// the result and the name are checked, so the log says why), and the session
// kept per peer for proxy_ssl_session_reuse.
#pragma once

#include <string>

#include "upstream/keepalive_pool.h"

namespace sy::tls { struct ClientCtx; }

namespace sy::proxy {

// proxy_ssl_name's value without a port ("backend" from "backend:8443").
std::string ssl_name_host(std::string_view name);

// Layers TLS over c's connected socket: SNI when proxy_ssl_server_name is on
// and `name` is not an address literal, verification mode, and the peer's
// last session when reuse is on. False with `err` set on failure.
bool upstream_tls_start(upstream::UpConn& c, const tls::ClientCtx& ctx, const std::string& name, std::string& err);

// After the handshake: empty when the backend is acceptable, else nginx's
// message ("upstream SSL certificate verify error: (20:unable to get local issuer certificate)").
std::string upstream_tls_check(upstream::UpConn& c, const tls::ClientCtx& ctx, const std::string& name);

// Forgets the cached session of c's peer (its handshake failed).
void upstream_tls_forget(upstream::UpConn& c);

}  // namespace sy::proxy

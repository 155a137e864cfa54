// The TLS side of the http front: the callbacks OpenSSL calls during a
// client's handshake. SNI picks the server block whose certificate answers
// (the request's server is still chosen by Host, as in nginx); ALPN agrees
// on the protocol spoken inside.
#pragma once

#include <vector>

#include "http/router.h"

namespace sy::http {

// Installs the SNI and ALPN callbacks on every server TLS context of a
// generation's groups (once per context; a context belongs to one config).
void install_tls_callbacks(const std::vector<ServerGroup>& groups);

}  // namespace sy::http

// Reading a client's PROXY protocol header off a socket (listen ...
// proxy_protocol), for the http and stream sessions alike. The bytes are
// peeked (MSG_PEEK) and only the header is taken, so a TLS handshake or the
// request that follows is read from exactly its end, as in nginx.
#pragma once

#include <string>

#include "net/cidr.h"
#include "net/proxy_protocol.h"

namespace sy::net {

enum class ProxyRead { Done, Again, Closed, Invalid, Error };

// Done: `h` holds the header, consumed from the socket. Again: wait for more
// bytes (the next segment brings a new edge). Closed: the client closed
// first. Invalid: `err` is nginx's message ("broken header: \"...\"").
// Error: `err` says which call failed.
ProxyRead read_proxy_header(int fd, ProxyHeader& h, std::string& err);

// realip: whether a peer at `peer` may set the client address with its header.
bool trusted(const std::vector<Cidr>& from, const sockaddr* peer);

}  // namespace sy::net

// nginx's realip module for one request: the client address (and port) from
// a header a trusted peer sent — X-Real-IP, X-Forwarded-For (walked from the
// right, on through trusted proxies with real_ip_recursive), any other field
// — or from the connection's PROXY protocol header.
//
// As in nginx it runs twice: once the server is chosen (with the server's
// settings, nginx's post-read phase) and, if that changed nothing, once the
// location is final (its settings, nginx's preaccess phase). The address
// belongs to the request: the next one on a keep-alive connection starts
// from the peer's own address again.
#pragma once

#include <sys/socket.h>

#include <string_view>
#include <vector>

#include "net/cidr.h"

namespace sy::http {

// One address as nginx's ngx_parse_addr_port() takes it: "192.0.2.1",
// "192.0.2.1:8080", "2001:db8::1", "[2001:db8::1]:8080". The port is 0 when
// none is given.
bool parse_addr_port(std::string_view text, sockaddr_storage& out);

// nginx's ngx_http_get_forwarded_addr(): `addr` is the peer's address on
// entry; the values are the header's, in the order they came. Declined: the
// address stays (the peer is not trusted, or the last element is not an
// address). Otherwise `addr` is the rightmost element, or with `recursive`
// the rightmost one not in `from` (the leftmost if all are).
enum class Forwarded { Declined, Ok, Done };
Forwarded forwarded_addr(sockaddr_storage& addr, const std::vector<std::string_view>& values,
                         const std::vector<net::Cidr>& from, bool recursive);

}  // namespace sy::http

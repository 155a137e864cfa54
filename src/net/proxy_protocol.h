// The PROXY protocol, versions 1 (text) and 2 (binary): a parser for the
// header a load balancer puts in front of a client's bytes (`listen ...
// proxy_protocol`), and writers for the header we put in front of ours
// towards a backend (`proxy_protocol on`). Spec:
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
//
// Why it is hand-written: no well-kept C or C++ library on Debian parses the
// PROXY protocol (HAProxy and nginx each carry their own, inside the server),
// and the format is small. What is accepted follows nginx's
// src/core/ngx_proxy_protocol.c; where nginx is looser than the spec, this
// parser is the stricter one (see parse_proxy_header). No I/O here.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::net {

struct ProxyHeader {
    int version = 0;                 // 1 or 2
    // No usable addresses: v1 "UNKNOWN", v2 LOCAL, or a v2 PROXY header whose
    // family is UNSPEC/UNIX or whose transport is not STREAM (nginx ignores
    // those blocks; so do we). The connection's own addresses apply then.
    bool local = false;
    // As nginx shows them in $proxy_protocol_addr / $proxy_protocol_server_addr:
    // v1: the text as sent (it passed inet_pton); v2: nginx's ngx_sock_ntop()
    // ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; no brackets).
    std::string src_addr, dst_addr;
    uint16_t src_port = 0, dst_port = 0;
    sockaddr_storage src{}, dst{};   // AF_INET/AF_INET6 with the ports, when !local
    std::vector<std::pair<uint8_t, std::string>> tlvs;  // v2 TLVs in order (type, value)
};

enum class ProxyParse { Done, NeedMore, Invalid };
const char* to_string(ProxyParse r);

// nginx's NGX_PROXY_PROTOCOL_V1_MAX_HEADER: a v1 line, CRLF included.
inline constexpr size_t kProxyV1Max = 107;
// nginx's NGX_PROXY_PROTOCOL_MAX_HEADER (since 1.23.2, which reads TLVs;
// Debian 12's 1.22 has 107 here): the largest header of either version.
inline constexpr size_t kProxyMax = 4096;

// Looks at the first bytes a client sent.
//  Done: `consumed` = the header's length (the bytes after it are the
//        client's own), `out` filled.
//  NeedMore: `in` is a proper prefix of a header that may still be valid;
//        call again with more bytes (from the start).
//  Invalid: no continuation of `in` is a valid header; `err` says why, in
//        nginx's words where nginx has them: `broken header: "..."` (the bytes
//        up to the first CR/LF, non-printable ones as \xHH), `unknown PROXY
//        protocol version: N`, `header is too large`, `broken PROXY protocol
//        TLV`. The caller adds " while reading PROXY protocol".
// `err` is cleared and `consumed` is 0 unless said otherwise above.
//
// Stricter than nginx (which accepts these): v1 addresses must parse with
// inet_pton for the TCP4/TCP6 family given; a v1 line is at most 107 bytes;
// v2 commands other than LOCAL/PROXY, families above UNIX and transports
// above DGRAM are refused (the spec says receivers must drop them); a v2
// INET/INET6 STREAM block's TLVs must exactly fill it.
ProxyParse parse_proxy_header(std::string_view in, ProxyHeader& out, size_t& consumed, std::string& err);

// Writers, for `proxy_protocol on` towards a backend: `src` is the client's
// address, `dst` the address it connected to.
//  proxy_v1: "PROXY TCP4 a b p q\r\n" (TCP6 for IPv6) when both are of the same
//     family, INET or INET6; "PROXY UNKNOWN\r\n" otherwise (or if either is null).
//  proxy_v2: command PROXY over STREAM: AF_INET when both are IPv4, AF_INET6
//     when both are IP and one is IPv6 (the IPv4 one as ::ffff:a.b.c.d);
//     otherwise the 16-byte LOCAL header with family UNSPEC.
std::string proxy_v1(const sockaddr* src, const sockaddr* dst);
std::string proxy_v2(const sockaddr* src, const sockaddr* dst);

}  // namespace sy::net

// Compiled values: a string with `$var` / `${var}` references becomes a list
// of literal and variable segments once, at config time. Evaluation (in
// http/variables.cpp) appends into the caller's buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sy::conf {

// Every variable switchyard knows. Prefix families carry their suffix in VarRef::arg.
enum class Var : uint16_t {
    None,
    // prefix families
    HttpHeader,      // $http_NAME      (arg: header name, '_' -> '-')
    SentHttp,        // $sent_http_NAME
    UpstreamHttp,    // $upstream_http_NAME
    UpstreamCookie,  // $upstream_cookie_NAME (from the upstream's Set-Cookie fields)
    SentTrailer,     // $sent_trailer_NAME
    Arg,             // $arg_NAME
    Cookie,          // $cookie_NAME
    Capture,         // $1..$9          (index: group)
    NamedCapture,    // $name from (?<name>...) (arg: name)
    Map,             // map result       (index: map id)
    User,            // `set $name`      (index: Http::user_var_index slot, arg: name)
    // request
    Host, RemoteAddr, RemotePort, BinaryRemoteAddr, ServerAddr, ServerPort, ServerName, ServerProtocol,
    Scheme, Https, SslProtocol, SslCipher, SslServerName, SslSessionReused, Http2, Request, RequestUri, Uri, DocumentUri, Args, QueryString, IsArgs, RequestMethod,
    ContentLength, ContentType, RequestLength, RequestBody, RequestBodyFile, RemoteUser, DocumentRoot, RequestFilename,
    Hostname, Pid, NginxVersion, Connection, ConnectionRequests, ConnectionTime, Pipe,
    // proxy
    ProxyHost, ProxyPort, ProxyAddXForwardedFor, ProxyInternalBodyLength, ProxyInternalChunked,
    // response / log
    Status, BodyBytesSent, BytesSent, RequestTime, Msec, TimeLocal, TimeIso8601,
    UpstreamAddr, UpstreamStatus, UpstreamResponseTime, UpstreamConnectTime, UpstreamHeaderTime,
    UpstreamBytesReceived, UpstreamBytesSent, UpstreamResponseLength,
    // stream {} sessions (and PROXY protocol on http listeners)
    Protocol, BytesReceived, SessionTime, SslPrereadServerName, SslPrereadAlpnProtocols, SslPrereadProtocol,
    ProxyProtocolAddr, ProxyProtocolPort, RealipRemoteAddr, RealipRemotePort,
    // client certificates (http and stream; tls/client_cert.h)
    SslClientVerify, SslClientSDn, SslClientIDn, SslClientSerial, SslClientFingerprint, SslClientCert,
    SslClientRawCert, SslClientEscapedCert, SslClientVStart, SslClientVEnd, SslClientVRemain,
    SslClientSDnLegacy, SslClientIDnLegacy, SslSessionId, SslCiphers,
};

struct VarRef {
    Var kind = Var::None;
    uint32_t index = 0;
    std::string arg;
};

struct Segment {
    std::string literal;   // used when var.kind == None
    VarRef var;
};

struct Template {
    std::vector<Segment> segs;
    std::string source;                 // as written, for messages and -T

    bool empty() const { return segs.empty(); }
    bool has_vars() const {
        for (auto& s : segs) if (s.var.kind != Var::None) return true;
        return false;
    }
    // The whole value when it has no variables.
    std::string literal() const {
        std::string r;
        for (auto& s : segs) r += s.literal;
        return r;
    }
};

// Resolves names of user-defined variables (map results) at compile time.
class VarScope {
public:
    virtual ~VarScope() = default;
    // Returns true and fills `ref` if `name` is a user variable.
    virtual bool lookup(std::string_view name, VarRef& ref) const = 0;
};

// Looks up one variable name ("host", "http_upgrade", "1"). False if unknown.
bool resolve_var(std::string_view name, const VarScope* scope, VarRef& out);

// Compiles `text`. On error returns false and sets `err` in nginx wording
// (`unknown "foo" variable`, `invalid variable name`).
bool compile_template(std::string_view text, const VarScope* scope, Template& out, std::string& err);

}  // namespace sy::conf

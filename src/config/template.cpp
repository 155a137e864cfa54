#include "config/template.h"

#include <cctype>
#include <utility>

namespace sy::conf {
namespace {

struct Named { std::string_view name; Var var; };

constexpr Named kVars[] = {
    {"host", Var::Host}, {"remote_addr", Var::RemoteAddr}, {"remote_port", Var::RemotePort},
    {"binary_remote_addr", Var::BinaryRemoteAddr}, {"server_addr", Var::ServerAddr}, {"server_port", Var::ServerPort},
    {"server_name", Var::ServerName}, {"server_protocol", Var::ServerProtocol}, {"scheme", Var::Scheme},
    {"https", Var::Https}, {"ssl_protocol", Var::SslProtocol}, {"ssl_cipher", Var::SslCipher},
    {"ssl_server_name", Var::SslServerName}, {"ssl_session_reused", Var::SslSessionReused},
    {"http2", Var::Http2}, {"request", Var::Request}, {"request_uri", Var::RequestUri}, {"uri", Var::Uri},
    {"document_uri", Var::DocumentUri}, {"args", Var::Args}, {"query_string", Var::QueryString},
    {"is_args", Var::IsArgs}, {"request_method", Var::RequestMethod}, {"content_length", Var::ContentLength},
    {"content_type", Var::ContentType}, {"request_length", Var::RequestLength}, {"request_body", Var::RequestBody},
    {"request_body_file", Var::RequestBodyFile},
    {"remote_user", Var::RemoteUser}, {"document_root", Var::DocumentRoot}, {"request_filename", Var::RequestFilename},
    {"hostname", Var::Hostname}, {"pid", Var::Pid}, {"nginx_version", Var::NginxVersion},
    {"connection", Var::Connection}, {"connection_requests", Var::ConnectionRequests},
    {"connection_time", Var::ConnectionTime}, {"pipe", Var::Pipe},
    {"proxy_host", Var::ProxyHost}, {"proxy_port", Var::ProxyPort},
    {"proxy_add_x_forwarded_for", Var::ProxyAddXForwardedFor},
    {"proxy_internal_body_length", Var::ProxyInternalBodyLength}, {"proxy_internal_chunked", Var::ProxyInternalChunked},
    {"status", Var::Status}, {"body_bytes_sent", Var::BodyBytesSent}, {"bytes_sent", Var::BytesSent},
    {"request_time", Var::RequestTime}, {"msec", Var::Msec}, {"time_local", Var::TimeLocal},
    {"time_iso8601", Var::TimeIso8601}, {"upstream_addr", Var::UpstreamAddr}, {"upstream_status", Var::UpstreamStatus},
    {"upstream_response_time", Var::UpstreamResponseTime}, {"upstream_connect_time", Var::UpstreamConnectTime},
    {"upstream_header_time", Var::UpstreamHeaderTime}, {"upstream_bytes_received", Var::UpstreamBytesReceived},
    {"upstream_response_length", Var::UpstreamResponseLength},
    {"upstream_bytes_sent", Var::UpstreamBytesSent},
    {"protocol", Var::Protocol}, {"bytes_received", Var::BytesReceived}, {"session_time", Var::SessionTime},
    {"ssl_preread_server_name", Var::SslPrereadServerName},
    {"ssl_preread_alpn_protocols", Var::SslPrereadAlpnProtocols},
    {"ssl_preread_protocol", Var::SslPrereadProtocol},
    {"proxy_protocol_addr", Var::ProxyProtocolAddr}, {"proxy_protocol_port", Var::ProxyProtocolPort},
    {"realip_remote_addr", Var::RealipRemoteAddr}, {"realip_remote_port", Var::RealipRemotePort},
    {"ssl_client_verify", Var::SslClientVerify}, {"ssl_client_s_dn", Var::SslClientSDn},
    {"ssl_client_i_dn", Var::SslClientIDn}, {"ssl_client_serial", Var::SslClientSerial},
    {"ssl_client_fingerprint", Var::SslClientFingerprint}, {"ssl_client_cert", Var::SslClientCert},
    {"ssl_client_raw_cert", Var::SslClientRawCert}, {"ssl_client_escaped_cert", Var::SslClientEscapedCert},
    {"ssl_client_v_start", Var::SslClientVStart}, {"ssl_client_v_end", Var::SslClientVEnd},
    {"ssl_client_v_remain", Var::SslClientVRemain}, {"ssl_client_s_dn_legacy", Var::SslClientSDnLegacy},
    {"ssl_client_i_dn_legacy", Var::SslClientIDnLegacy}, {"ssl_session_id", Var::SslSessionId},
    {"ssl_ciphers", Var::SslCiphers},
};

struct Prefix { std::string_view prefix; Var var; bool header; };
constexpr Prefix kPrefixes[] = {
    {"http_", Var::HttpHeader, true}, {"sent_http_", Var::SentHttp, true},
    {"upstream_http_", Var::UpstreamHttp, true}, {"arg_", Var::Arg, false}, {"cookie_", Var::Cookie, false},
    {"upstream_cookie_", Var::UpstreamCookie, false}, {"sent_trailer_", Var::SentTrailer, true},
};

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

bool resolve_var(std::string_view name_in, const VarScope* scope, VarRef& out) {
    out = VarRef{};
    // nginx variable names are case-insensitive
    std::string lower(name_in);
    for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::string_view name = lower;
    if (scope && scope->lookup(name, out)) return true;
    if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
        out.kind = Var::Capture;
        out.index = uint32_t(std::stoul(std::string(name)));
        return true;
    }
    for (auto& v : kVars)
        if (v.name == name) { out.kind = v.var; return true; }
    for (auto& p : kPrefixes) {
        if (name.size() >= p.prefix.size() && name.substr(0, p.prefix.size()) == p.prefix) {
            out.kind = p.var;
            out.arg = std::string(name.substr(p.prefix.size()));
            if (p.header)
                for (auto& c : out.arg) c = c == '_' ? '-' : char(std::tolower(static_cast<unsigned char>(c)));
            return true;
        }
    }
    return false;
}

bool compile_template(std::string_view text, const VarScope* scope, Template& out, std::string& err) {
    out = Template{};
    out.source = std::string(text);
    std::string lit;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c != '$') { lit += c; ++i; continue; }
        ++i;
        std::string_view name;
        if (i < text.size() && text[i] == '{') {
            size_t s = i + 1, e = s;
            while (e < text.size() && name_char(text[e])) ++e;
            if (e >= text.size() || text[e] != '}') {
                err = "the closing bracket in \"" + std::string(text.substr(s, e - s)) + "\" variable is missing";
                return false;
            }
            name = text.substr(s, e - s);
            i = e + 1;
        } else if (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            name = text.substr(i, 1);  // $1..$9: one digit, like nginx
            ++i;
        } else {
            size_t s = i;
            while (i < text.size() && name_char(text[i])) ++i;
            name = text.substr(s, i - s);
        }
        if (name.empty()) { err = "invalid variable name"; return false; }
        for (char ch : name)
            if (!name_char(ch)) { err = "invalid variable name"; return false; }
        Segment seg;
        if (!resolve_var(name, scope, seg.var)) { err = "unknown \"" + std::string(name) + "\" variable"; return false; }
        if (!lit.empty()) { out.segs.push_back(Segment{std::move(lit), {}}); lit.clear(); }
        out.segs.push_back(std::move(seg));
    }
    if (!lit.empty()) out.segs.push_back(Segment{std::move(lit), {}});
    return true;
}

}  // namespace sy::conf

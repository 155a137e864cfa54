// Typed configuration: what the directive table builds from the syntax tree.
// One immutable snapshot per (re)load; connections hold a shared_ptr to the
// snapshot they started with.
//
// Levels follow nginx: http -> server -> location -> nested location. Every
// inheritable setting is a std::optional in LocConf; merge() fills a child's
// unset fields from its parent, and the http level finally gets nginx's
// defaults, so after loading every optional of every location is set.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/ast.h"
#include "config/regex.h"
#include "config/template.h"
#include "core/log.h"
#include "net/cidr.h"

namespace sy::upstream {
struct RrState;   // round robin's schedule of one upstream (upstream/round_robin.cpp)
}
namespace sy::tls {
struct ServerCtx;   // tls/context.h: made by the loader for every server that serves TLS
struct ClientCtx;   // tls/context.h: made for every location proxying to https://
}

namespace sy::conf {

using Msec = uint64_t;

struct SockAddr {
    sockaddr_storage ss{};
    socklen_t len = 0;
    std::string text;          // "127.0.0.1:8080", "[::1]:80", "unix:/path"
    int family() const { return ss.ss_family; }
    bool is_wildcard() const;
    uint16_t port() const;
    std::string host_text() const;  // address without port
};

struct HeaderEntry {
    std::string name;
    Template value;
};

struct AddHeader {
    std::string name;
    Template value;
    bool always = false;
};

// try_files FILE ... URI|=CODE (static_directives.cpp).
struct TryFile {
    Template name;             // a trailing '/' removed (test_dir)
    bool test_dir = false;     // "$uri/": a directory matches too
};
struct TryFiles {
    std::vector<TryFile> files;
    Template fallback;         // internal redirect target ("/x?a", "@named")
    int code = 0;              // "=404": finalize with this status instead
    SrcLoc where;
};

// expires [modified] TIME|epoch|max|off|@TIME (ngx_http_headers_module).
struct Expires {
    enum class Mode { Off, Epoch, Max, Access, Modified, Daily } mode = Mode::Off;
    int64_t secs = 0;          // negative: "-1h"
};

struct ErrorPage {
    std::vector<int> codes;
    int overwrite = -1;        // "=code"; 0 for bare "=" (use the handler's status)
    Template uri;
};

struct LogFormat {
    std::string name;
    enum class Escape { Default, Json, None } escape = Escape::Default;
    Template fmt;
};

struct AccessLogConf {
    bool off = false;
    std::string path;          // absolute
    const LogFormat* format = nullptr;
    int fd = -1;               // opened by the runtime (shared per path)
    bool has_if = false;       // `if=CONDITION`: log only when it is neither "" nor "0"
    Template if_cond;
};

// `resolver ADDRESS ... [valid=T] [ipv4=on|off] [ipv6=on|off]`
struct ResolverConf {
    std::vector<SockAddr> servers;     // port 53 unless given
    std::optional<Msec> valid;         // overrides the answers' TTL
    bool ipv4 = true, ipv6 = true;
    SrcLoc where;
};

// proxy_next_upstream conditions (nginx's NGX_HTTP_UPSTREAM_FT_*).
namespace next_upstream {
enum : uint32_t {
    Error = 1u << 0, Timeout = 1u << 1, InvalidHeader = 1u << 2, Http500 = 1u << 3, Http502 = 1u << 4,
    Http503 = 1u << 5, Http504 = 1u << 6, Http403 = 1u << 7, Http404 = 1u << 8, Http429 = 1u << 9,
    NonIdempotent = 1u << 10,
};
}

struct ProxyRedirect {
    enum class Mode { Default, Off, Replace } mode = Mode::Default;
    // Replace: a prefix (redirect) swapped for `to`, or a regex (~, ~*) whose
    // match replaces the whole value with `to` (captures available)
    struct Rule {
        Template from, to;
        std::shared_ptr<Regex> regex;
    };
    std::vector<Rule> rules;
};

// ssl_protocols / proxy_ssl_protocols bits.
namespace tls_proto {
enum : uint32_t { SSLv2 = 1u << 0, SSLv3 = 1u << 1, TLSv1 = 1u << 2, TLSv1_1 = 1u << 3, TLSv1_2 = 1u << 4, TLSv1_3 = 1u << 5 };
}

// A TLS setting with the directive that set it: errors found while the
// contexts are built (at load) name that file:line.
struct TlsArg {
    std::string value;         // files: absolute (a relative one resolves against the config file's directory)
    std::string written;       // as written (some nginx messages quote it)
    SrcLoc where;
};

// ssl_session_cache off | none | [builtin[:N]] [shared:NAME:SIZE]. One worker
// process: builtin and shared are the same OpenSSL internal cache, shared
// sized by nginx's "1 megabyte ~ 4000 sessions".
struct SslSessionCache {
    enum class Mode { Off, None, Cache } mode = Mode::None;
    size_t sessions = 0;       // Cache: the internal cache's size
};

// Passphrases read from a password file when the directive is parsed (as
// nginx); the loader wipes them once every context is built.
using Passwords = std::shared_ptr<std::vector<std::string>>;

// client_body_temp_path / proxy_temp_path: a directory and up to three
// levels of subdirectories named by the file number's last digits.
struct TempPath {
    std::string path;                                        // absolute, no trailing '/'
    int level[3] = {0, 0, 0};
    SrcLoc where;                                            // none: nginx's default
};
enum class BodyInFile { Off, On, Clean };                    // client_body_in_file_only
enum class Lingering { Off, On, Always };                    // lingering_close

// Everything inheritable through http/server/location.
struct LocConf {
    std::optional<Msec> proxy_connect_timeout, proxy_read_timeout, proxy_send_timeout, send_timeout;
    std::optional<Msec> client_header_timeout, client_body_timeout, keepalive_timeout;
    std::optional<int> proxy_http_version;                   // 10 or 11
    std::optional<std::vector<HeaderEntry>> proxy_set_header;
    std::optional<bool> proxy_pass_request_headers, proxy_pass_request_body, proxy_buffering,
        proxy_request_buffering, tcp_nodelay, server_tokens, proxy_intercept_errors, absolute_redirect,
        port_in_redirect, merge_slashes, log_not_found, ignore_invalid_headers, underscores_in_headers;
    std::optional<std::vector<std::string>> proxy_hide_header, proxy_pass_header;
    std::optional<size_t> proxy_buffer_size, client_max_body_size, client_body_buffer_size,
        client_header_buffer_size;
    std::optional<std::pair<int, size_t>> proxy_buffers, large_client_header_buffers;
    // Request bodies beyond client_body_buffer_size go to a temp file (http/temp_file.h).
    std::optional<std::shared_ptr<const TempPath>> client_body_temp_path, proxy_temp_path;
    std::optional<BodyInFile> client_body_in_file_only;     // off
    std::optional<Lingering> lingering_close;                // on
    std::optional<Msec> lingering_time, lingering_timeout;   // 30s, 5s
    std::optional<bool> client_body_in_single_buffer;        // off (the in-memory body is one buffer anyway)
    std::optional<size_t> proxy_max_temp_file_size;          // 1024m; 0: responses never spool (proxy/response_spool.h)
    std::optional<size_t> proxy_temp_file_write_size;        // 2 * max(proxy_buffer_size, proxy_buffers size)
    std::optional<ProxyRedirect> proxy_redirect;
    std::optional<Template> root;
    std::optional<std::vector<Template>> index;
    // `alias` (static_directives.cpp): merged with `root` as one setting (nginx).
    // 0: root; N: alias of a prefix location whose name has N bytes (the
    // URI minus those bytes is appended); kAliasWhole: alias of a regex location
    // (the value is the whole path).
    static constexpr size_t kAliasWhole = SIZE_MAX;
    size_t alias = 0;
    std::shared_ptr<const TryFiles> try_files;               // null: none; not inherited (nginx)
    std::optional<bool> etag, chunked_transfer_encoding, server_name_in_redirect, recursive_error_pages;
    std::optional<Expires> expires;                          // off
    std::optional<std::string> charset;                      // "" = off
    std::optional<TlsArg> source_charset;                    // value "" = off; where: for the conversion error
    std::optional<std::shared_ptr<const std::vector<std::string>>> charset_types;   // lowercase MIME types; "*" any
    // ngx_http_ssi_module (http/ssi*.cpp) and subrequests (http/subrequest.*)
    std::optional<bool> ssi, ssi_silent_errors, ssi_last_modified;         // off off off
    std::optional<std::shared_ptr<const std::vector<std::string>>> ssi_types;   // text/html (always); "*" any
    std::optional<size_t> ssi_value_length, ssi_min_file_chunk;           // 255, 1k (accepted)
    std::optional<size_t> subrequest_output_buffer_size;                  // a page (4k|8k)
    std::optional<std::vector<ErrorPage>> error_page;
    std::optional<std::vector<AddHeader>> add_header;
    std::optional<std::vector<AddHeader>> add_trailer;      // inherited as add_header
    std::optional<std::vector<AccessLogConf>> access_log;
    std::optional<uint32_t> keepalive_requests;
    std::optional<uint32_t> http2_max_concurrent_streams;  // 128
    std::optional<std::string> default_type;
    std::optional<std::shared_ptr<const std::unordered_map<std::string, std::string>>> types;
    std::optional<uint32_t> proxy_next_upstream;             // next_upstream:: bits; 0 = off
    std::optional<uint32_t> proxy_next_upstream_tries;       // 0 = unlimited
    std::optional<Msec> proxy_next_upstream_timeout;         // 0 = unlimited
    std::optional<std::shared_ptr<const ResolverConf>> resolver;   // null: none configured
    std::optional<Msec> resolver_timeout;
    std::optional<bool> rewrite_log;                         // off: rewrite decisions at notice
    std::optional<bool> uninitialized_variable_warn;         // on

    // TLS, server side (http, server). ssl_certificate and ssl_certificate_key
    // inherit independently, each as a whole (nginx); the i-th key pairs with
    // the i-th certificate.
    std::optional<bool> http2;                               // `http2 on|off`: off
    std::optional<std::vector<TlsArg>> ssl_certificate, ssl_certificate_key;   // none
    std::optional<uint32_t> ssl_protocols;                   // tls_proto bits: TLSv1.2 TLSv1.3
    std::optional<TlsArg> ssl_ciphers;                       // "HIGH:!aNULL:!MD5"
    std::optional<TlsArg> ssl_ecdh_curve;                    // "auto": OpenSSL's default groups
    std::optional<bool> ssl_prefer_server_ciphers;           // off
    std::optional<SslSessionCache> ssl_session_cache;        // none
    std::optional<Msec> ssl_session_timeout;                 // 5m
    std::optional<bool> ssl_session_tickets;                 // on
    std::optional<TlsArg> ssl_dhparam;                       // value "": none
    std::optional<Passwords> ssl_password_file;              // null: none
    std::optional<Msec> ssl_handshake_timeout;               // 60s
    // Client certificates and OCSP stapling (http server, stream server;
    // tls/client_cert.h). ssl_verify_client: 0 off, 1 on, 2 optional,
    // 3 optional_no_ca; its line (and `ssl on`'s) inherits with it.
    std::optional<int> ssl_verify_client;                    // off
    SrcLoc ssl_verify_client_where;
    std::optional<int> ssl_verify_depth;                     // 1
    std::optional<TlsArg> ssl_client_certificate, ssl_trusted_certificate, ssl_crl;   // value "": none
    std::optional<bool> ssl_stapling, ssl_stapling_verify;   // off, off
    std::optional<TlsArg> ssl_stapling_file, ssl_stapling_responder;   // value "": none
    std::optional<bool> ssl;                                 // `ssl on` (deprecated): off
    SrcLoc ssl_where;
    // TLS to upstreams (http, server, location).
    std::optional<bool> proxy_ssl_server_name;               // off
    std::optional<Template> proxy_ssl_name;                  // stays unset when not configured: $proxy_host
    std::optional<bool> proxy_ssl_verify;                    // off
    SrcLoc proxy_ssl_verify_where;                           // the proxy_ssl_verify line (inherits with it)
    std::optional<TlsArg> proxy_ssl_trusted_certificate;     // value "": none
    std::optional<int> proxy_ssl_verify_depth;               // 1
    std::optional<uint32_t> proxy_ssl_protocols;             // TLSv1.2 TLSv1.3
    std::optional<TlsArg> proxy_ssl_ciphers;                 // "DEFAULT"
    std::optional<bool> proxy_ssl_session_reuse;             // on
    std::optional<TlsArg> proxy_ssl_certificate, proxy_ssl_certificate_key;   // value "": none
    std::optional<Passwords> proxy_ssl_password_file;        // null: none
    // stream {} only (nginx's ngx_stream_proxy / ssl_preread / core modules).
    std::optional<Msec> proxy_timeout;                       // 10m: idle in both directions
    std::optional<bool> proxy_protocol;                      // off: send a PROXY header to the backend
    std::optional<int> proxy_protocol_version;               // 1 (nginx's); 2: binary (switchyard)
    std::optional<bool> proxy_half_close;                    // off: the first EOF ends the session
    std::optional<bool> proxy_ssl;                           // off: TLS to the backend
    std::optional<bool> ssl_preread;                         // off
    std::optional<size_t> preread_buffer_size;               // 16k
    std::optional<Msec> preread_timeout;                     // 30s
    std::optional<Msec> proxy_protocol_timeout;              // 30s: reading a client's PROXY header
    // realip (http and stream): peers whose PROXY header (or, in http, whose
    // real_ip_header) is believed for $remote_addr.
    std::optional<std::vector<net::Cidr>> set_real_ip_from;  // none
    std::optional<std::string> real_ip_header;               // http: "X-Real-IP", "X-Forwarded-For", "proxy_protocol" or a field
    std::optional<bool> real_ip_recursive;                   // off: the rightmost address; on: the rightmost untrusted one

    // Fills unset fields from `parent`.
    void merge_from(const LocConf& parent);
    // Fills whatever is still unset with nginx's defaults (http level).
    void apply_defaults(const std::string& prefix);
};

// A peer's count of requests in flight and open tunnels. It reads and
// counts like an int; a reload links the new configuration's peer to the
// counter of the same upstream and address in the old one (share_with), so
// tunnels and requests that outlive a reload keep counting for least_conn,
// max_conns and bounded load. A copy starts a counter of its own.
class ConnCount {
public:
    ConnCount() : c_(std::make_shared<int>(0)) {}
    ConnCount(const ConnCount& o) : c_(std::make_shared<int>(*o.c_)) {}
    ConnCount& operator=(const ConnCount& o) { c_ = std::make_shared<int>(*o.c_); return *this; }
    ConnCount& operator=(int v) { *c_ = v; return *this; }
    operator int() const { return *c_; }
    ConnCount& operator++() { ++*c_; return *this; }
    ConnCount& operator--() { --*c_; return *this; }
    int operator++(int) { return (*c_)++; }
    int operator--(int) { return (*c_)--; }
    ConnCount& operator+=(int v) { *c_ += v; return *this; }
    void share_with(const ConnCount& o) { c_ = o.c_; }
    bool shares(const ConnCount& o) const { return c_ == o.c_; }

private:
    std::shared_ptr<int> c_;
};

struct Peer {
    SockAddr addr;
    std::string name;          // as written: "backend1:3000" (resolved form in addr)
    std::string pool_key;      // keep-alive pool key: "upstream|address"
    int weight = 1;
    int max_fails = 1;
    Msec fail_timeout = 10000;
    bool backup = false;
    bool down = false;
    int max_conns = 0;
    Msec slow_start = 0;       // weight ramps up over this long after the peer recovers
    int server = 0;            // index of its `server` line in the upstream block
    std::string sticky_id;     // `sticky cookie` value: hex MD5 of addr.text (as nginx Plus)
    // Balancer state (worker-local; the config snapshot is otherwise immutable),
    // nginx's ngx_http_upstream_rr_peer_t fields with the times in ms.
    mutable int current_weight = 0;
    // nginx's effective_weight, kept as what it lacks of `weight` (so a peer
    // starts at full weight however it was made): weight/max_fails more per
    // failure, one less per selection round that counts the peer.
    mutable int weight_lost = 0;
    mutable int fails = 0;
    mutable uint64_t accessed_ms = 0;   // the last failure
    mutable uint64_t checked_ms = 0;    // the last failure, or a pick more than fail_timeout after the last check
    mutable ConnCount conns;        // requests in flight and open tunnels
    mutable uint64_t recovered_ms = 0;   // slow_start: when the ramp began (0: full weight)
    mutable bool gone = false;      // `resolve`: DNS no longer returns this address
};

// `sticky cookie NAME [expires=T|max] [domain=D] [path=P] [httponly] [secure] [samesite=strict|lax|none]`
struct StickyCookie {
    bool on = false;
    std::string name;
    std::optional<Msec> expires;       // unset: session cookie; max: UINT64_MAX
    std::string domain, path, samesite;
    bool httponly = false, secure = false;
};

// `server NAME[:PORT] resolve [params]`: peers re-resolved in the background.
struct ResolveServer {
    std::string host;          // name to resolve
    uint16_t port = 80;
    Peer tmpl;                 // parameters copied to every address
    SrcLoc where;
};

// Balancing method of an upstream block (nginx's ip_hash, hash, least_conn, random).
enum class Balance : uint8_t { RoundRobin, IpHash, Hash, HashConsistent, LeastConn, Random, RandomTwo, RandomTwoLeastConn };

struct Upstream {
    std::string name;          // block name or "host:port" for an implicit one
    Balance balance = Balance::RoundRobin;
    Template hash_key;         // `hash KEY`
    mutable std::vector<std::pair<uint32_t, uint32_t>> ring;  // `hash ... consistent`: (point, peer index), sorted
    // Derived from the peers by upstream::index_peers() (at load, and when the
    // resolver changes them): the primaries' indices and running weight sums
    // (weight walks become binary searches), and per peer the peers sharing
    // its name (a consistent-hash point names a server, not an address).
    mutable std::vector<uint32_t> primaries;
    mutable std::vector<uint64_t> weight_sum;        // weight_sum[k]: weights of primaries[0..k]
    mutable std::vector<uint32_t> name_group;        // peer index -> index into name_groups
    mutable std::vector<std::vector<uint32_t>> name_groups;
    // Runtime-changeable (worker thread only): the resolver adds peers and
    // marks vanished ones `gone`; indices stay valid for in-flight requests.
    mutable std::vector<Peer> peers;
    // Round robin's precomputed pick sequence (round_robin.h), made at the
    // first pick; worker-local balancer state like the peers' counters.
    mutable std::shared_ptr<upstream::RrState> rr;
    bool implicit = false;     // made from a proxy_pass address
    int keepalive = 32;        // idle connections kept (nginx >= 1.29.7 default: 32)
    Msec keepalive_timeout = 60000;
    uint32_t keepalive_requests = 1000;
    Msec keepalive_time = 3600000;
    bool zone = false;
    double load_factor = 0;    // `hash ... consistent load_factor=F`: bounded load (0: unbounded)
    StickyCookie sticky;
    std::vector<ResolveServer> resolve;
    std::shared_ptr<const ResolverConf> resolver;   // the upstream's own, else http's
    Msec resolver_timeout = 30000;
    int server_lines = 0;      // `server` lines seen (Peer::server numbering)
    SrcLoc where;
};

struct ProxyPass {
    std::string url;           // as written
    Template url_tpl;          // when it has variables
    bool has_vars = false;
    bool https = false;        // https:// (default port 443)
    std::string host_port;     // "$proxy_host": "backend" or "127.0.0.1:3000" (default port omitted)
    std::string port_text;     // "$proxy_port"
    bool has_uri = false;
    std::string uri;           // the URI part, "" if none
    Upstream* upstream = nullptr;
    SrcLoc where;              // the proxy_pass line
    // TLS to the upstream: set for https:// and for a URL starting with a variable.
    std::shared_ptr<tls::ClientCtx> tls;
};

struct Location;

// The condition of an `if (...)` block (ngx_http_rewrite_module), compiled by
// parse_if_condition() (config/if_condition.h).
struct IfCondition {
    enum class Kind { Var, Equal, NotEqual, Match, File } kind = Kind::Var;
    Template lhs;              // Var/Equal/NotEqual/Match: the variable; File: the path
    Template rhs;              // Equal/NotEqual: the value
    std::shared_ptr<Regex> regex;
    bool negate = false;       // `!~`, `!~*`, `!-f`, ...
    char file_op = 0;          // File: 'f', 'd', 'e' or 'x'
};

struct RewriteStep {
    // Rewrite, Return; Set (`set $var value`), If (condition + block), Break.
    enum class Kind { Rewrite, Return, Set, If, Break } kind = Kind::Rewrite;
    std::shared_ptr<Regex> regex;
    Template replacement;      // rewrite target, or return URL/text
    enum class Flag { None, Last, Break, Redirect, Permanent } flag = Flag::None;
    int code = 0;              // return code
    bool has_text = false;
    VarRef target;             // Set: Var::User, Var::Map or Var::Args
    std::shared_ptr<const IfCondition> cond;   // If
    // If: the block as nginx's unnamed pseudo-location: its settings (merged
    // from the enclosing level) and its steps (block->rewrites).
    std::shared_ptr<Location> block;
    SrcLoc where;
};

struct LocationTree;

struct Location {
    enum class Match { Prefix, Exact, NoRegex, Regex, RegexCaseless, Named };
    Match match = Match::Prefix;
    std::string name;
    std::shared_ptr<Regex> regex;
    LocConf conf;
    std::vector<RewriteStep> rewrites;
    std::optional<ProxyPass> proxy_pass;
    bool auto_redirect = false;   // "/ws/" with proxy_pass also catches "/ws" with a 301
    bool internal = false;        // only error_page / rewrite targets may land here
    const Location* if_parent = nullptr;   // an `if` block: the location (or server fallback) it is in
    std::unique_ptr<LocationTree> nested;
    SrcLoc where;
};

struct LocationTree {
    std::vector<std::unique_ptr<Location>> all;       // owns, in config order
    std::vector<Location*> prefix;                    // Prefix/Exact/NoRegex, longest name first
    std::vector<Location*> regex;                     // in config order
    std::map<std::string, Location*> named;           // "@name"
};

struct Listen {
    SockAddr addr;
    bool default_server = false;
    bool reuseport = false;
    // After loading these hold for the address (nginx): true on every listen
    // of an address where any server's listen has the parameter.
    bool ssl = false;
    bool http2 = false;
    bool proxy_protocol = false;   // connections start with a PROXY protocol header
    int backlog = 511;
    SrcLoc where;
};

struct ServerName {
    enum class Kind { Exact, WildHead, WildTail, Regex } kind = Kind::Exact;
    std::string name;          // lowercase; WildHead ".example.com", WildTail "www.example."
    std::shared_ptr<Regex> regex;
};

struct Server {
    std::vector<Listen> listens;
    std::vector<ServerName> names;
    std::string first_name;    // $server_name
    LocConf conf;
    std::vector<RewriteStep> rewrites;   // server-level rewrite phase
    LocationTree locations;
    Location fallback;         // serves URIs that match no location
    // Set for every server with certificates (own or inherited) that has a
    // listen on a TLS address. Null on a TLS address: the server has no
    // certificates and the handshake keeps the address's default server's
    // context (nginx), which the loader checks has one.
    std::shared_ptr<tls::ServerCtx> tls;
    // stream {} servers: `proxy_pass ADDRESS|UPSTREAM` (the whole session's handler).
    std::optional<ProxyPass> stream_pass;
    // stream {} servers: `return VALUE` (sent to the client, then the
    // session ends). Of proxy_pass and return the last one in the block is
    // the handler, as in nginx.
    std::optional<Template> stream_return;
    bool stream_return_last = false;
    SrcLoc where;
};

// geo [$address] $var { ... }: the value of the most specific network (or,
// with `ranges`, of the range) holding the address (http/geo.cpp).
struct GeoConf {
    struct Net {
        net::Cidr cidr;
        unsigned bits = 0;             // prefix length: the longest match wins
        std::string value;
    };
    struct Range {
        uint32_t from = 0, to = 0;     // IPv4, host order, inclusive
        std::string value;
    };
    std::vector<Net> nets;
    std::vector<Range> ranges;         // `ranges`: the last range that holds the address wins
    bool use_ranges = false;
    std::vector<net::Cidr> proxies;    // `proxy`: trusted, the address comes from X-Forwarded-For
    bool proxy_recursive = false;
    bool source_given = false;         // geo $address $var: the address is a variable's value
    std::string default_value;
};

struct MapConf {
    std::string var_name;
    std::unique_ptr<GeoConf> geo;      // a `geo` block, not a `map`
    Template source;
    bool hostnames = false;
    bool has_default = false;
    Template default_value;
    std::unordered_map<std::string, Template> exact;
    std::vector<std::pair<std::string, Template>> wild_head;  // ".example.com" (from *.example.com)
    std::vector<std::pair<std::string, Template>> wild_tail;  // "www.example." (from www.example.*)
    std::vector<std::pair<std::shared_ptr<Regex>, Template>> regexes;
};

struct Http {
    LocConf conf;
    std::vector<std::unique_ptr<Server>> servers;
    std::vector<std::unique_ptr<MapConf>> maps;
    std::vector<std::unique_ptr<Upstream>> upstreams;
    std::vector<std::unique_ptr<LogFormat>> log_formats;
    std::map<std::string, int> map_index;   // variable name -> maps[i]
    std::map<std::string, int> user_var_index;   // `set $name`: name -> Request::user_vars slot
    std::vector<std::string> user_var_names;
    bool keeps_response_headers = false;    // some template reads $sent_http_* / $upstream_http_*
    bool keeps_ssl_session_vars = false;    // some template reads $ssl_session_id / $ssl_ciphers
    SrcLoc end;                             // the block's closing "}": nginx's merge-time errors
};

struct ErrorLogConf {
    std::string path;          // absolute, or "stderr"
    Level level = Level::Error;
};

struct Config {
    std::string prefix;        // with trailing '/'
    std::string conf_file;     // absolute
    std::string conf_prefix;   // directory of conf_file, trailing '/'
    bool daemon = true;
    std::string pid_path;      // absolute
    std::vector<ErrorLogConf> error_logs;
    int worker_processes = 1;
    int worker_connections = 512;
    std::optional<int> worker_rlimit_nofile;
    std::unique_ptr<Http> http;
    // The stream {} block: the same shape as http (servers with listens and
    // merged settings, maps, upstreams, log formats), no locations.
    std::unique_ptr<Http> stream;
    std::vector<SourceFile> files;
    // Every temp directory the configuration names (nginx's cycle->paths),
    // created at start-up (http/temp_file.h: create_temp_paths).
    std::vector<std::shared_ptr<const TempPath>> temp_paths;
    // nginx's [warn] messages of the load ("... in FILE:LINE" where nginx
    // says so): printed to stderr at start-up and `-t`, logged on reload.
    std::vector<std::string> warnings;
};

}  // namespace sy::conf

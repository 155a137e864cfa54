// Walks the syntax tree against the directive table, then finishes the
// snapshot: links proxy_pass to upstreams, merges levels, orders locations.
#include "config/loader.h"
#include "config/static_directives.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "config/directives.h"
#include "config/parser.h"
#include "config/rewrite_directives.h"
#include "tls/context.h"
#include "upstream/balancer.h"

namespace sy::conf {

bool Scope::lookup(std::string_view name, VarRef& ref) const {
    if (http) {
        auto it = http->map_index.find(std::string(name));
        if (it != http->map_index.end()) {
            ref.kind = Var::Map;
            ref.index = uint32_t(it->second);
            return true;
        }
    }
    if (http) {
        auto it = http->user_var_index.find(std::string(name));
        if (it != http->user_var_index.end()) {
            ref.kind = Var::User;
            ref.index = uint32_t(it->second);
            ref.arg = it->first;
            return true;
        }
    }
    for (auto& n : named_captures)
        if (n == name) {
            ref.kind = Var::NamedCapture;
            ref.arg = n;
            return true;
        }
    return false;
}

void Ctx::note_named_captures(const Regex& re) {
    for (auto& [name, num] : re.names()) {
        (void)num;
        std::string n = name;
        for (auto& ch : n) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        if (std::find(scope.named_captures.begin(), scope.named_captures.end(), n) == scope.named_captures.end())
            scope.named_captures.push_back(n);
    }
}

std::string Ctx::full_path(const std::string& p) const {
    if (!p.empty() && p[0] == '/') return p;
    return cfg.prefix + p;
}

// Map targets and named captures must be known before any template that uses
// them compiles, wherever they are written (nginx resolves variables late).
void Ctx::prescan_http(const std::vector<Directive>& list) {
    scope.http = http;
    std::vector<const std::vector<Directive>*> stack{&list};
    while (!stack.empty()) {
        auto* l = stack.back();
        stack.pop_back();
        for (auto& d : *l) {
            // a geo block's variable is a map's (read the same way)
            bool map_like = (d.name == "map" && d.args.size() == 2) ||
                            (d.name == "geo" && (d.args.size() == 1 || d.args.size() == 2));
            if (map_like && d.args.back().value.size() > 1 && d.args.back().value[0] == '$') {
                std::string v = d.args.back().value.substr(1);
                for (auto& ch : v) ch = char(std::tolower(static_cast<unsigned char>(ch)));
                if (!http->map_index.count(v)) {
                    http->map_index[v] = int(http->maps.size());
                    http->maps.push_back(std::make_unique<MapConf>());
                }
            }
            if (d.name == "map" && d.has_block)
                for (auto& e : d.children)
                    if (e.name.size() > 1 && e.name[0] == '~') {
                        std::string err;
                        bool ci = e.name.size() > 2 && e.name[1] == '*';
                        if (auto re = Regex::compile(std::string_view(e.name).substr(ci ? 2 : 1), ci, err)) note_named_captures(*re);
                    }
            if ((d.name == "location" || d.name == "rewrite" || d.name == "server_name") && !d.args.empty()) {
                for (auto& a : d.args) {
                    std::string err;
                    std::string_view pat = a.value;
                    if (d.name != "rewrite") {
                        if (pat.substr(0, 2) == "~*") pat.remove_prefix(2);
                        else if (!pat.empty() && pat[0] == '~') pat.remove_prefix(1);
                        else continue;
                    }
                    if (auto re = Regex::compile(pat, false, err)) note_named_captures(*re);
                    if (d.name == "rewrite") break;
                }
            }
            if (d.has_block && d.name != "map" && d.name != "geo" && d.name != "types") stack.push_back(&d.children);
        }
    }
    prescan_rewrite(*this, list);   // `set` variables and `if` captures, once the maps are known
}

// nginx directives with behaviour switchyard does not have yet: refused with a
// clear message rather than "unknown", and never silently ignored.
static bool is_not_yet(std::string_view n) {
    static constexpr std::string_view prefixes[] = {
        "ssl_", "proxy_ssl_", "proxy_cache_", "gzip_", "http2_", "http3_", "quic_", "grpc_", "fastcgi_", "uwsgi_",
        "scgi_", "memcached_", "limit_req_", "limit_conn_", "auth_", "sub_filter", "ssi", "autoindex", "image_filter",
        "xslt_", "perl", "js_", "mp4", "flv", "hls", "slice", "secure_link", "geoip_", "userid", "dav_", "mirror",
        "upstream_", "health_check", "proxy_store", "split_clients", "realip",
        "real_ip_", "lua", "content_by_lua", "access_by_lua", "more_set_headers", "more_clear_headers", "aio",
        "directio", "open_file_cache", "output_buffers", "postpone_output", "limit_rate", "expires", "etag",
        "if_modified_since", "satisfy", "proxy_socket_keepalive", "proxy_bind", "proxy_method",
        "proxy_set_body", "proxy_cookie_", "proxy_ignore_", "proxy_limit_rate", "proxy_force_ranges",
        "proxy_headers_hash_", "chunked_transfer_encoding",
        "keepalive_disable", "server_name_in_redirect", "recursive_error_pages", "error_log_format",
        "worker_shutdown_timeout", "worker_cpu_affinity", "worker_priority", "thread_pool", "env",
        "lock_file", "master_process", "timer_resolution", "working_directory", "debug_connection", "mail",
        "sendfile_max_chunk", "send_lowat", "subrequest_output_buffer_size", "msie_", "log_subrequest",
        "open_log_file_cache", "disable_symlinks", "variables_hash", "google_perftools",
    };
    for (auto p : prefixes)
        if (n.substr(0, p.size()) == p) return true;
    return false;
}

static bool arity_ok(uint32_t arity, size_t n) {
    if (n <= 7 && (arity & (1u << n))) return true;
    if ((arity & kMore1) && n >= 1) return true;
    if ((arity & kMore2) && n >= 2) return true;
    return false;
}

bool Ctx::walk(const std::vector<Directive>& list, uint32_t ctx) {
    auto table = directive_table();
    for (auto& d : list) {
        const Spec* found = nullptr;
        bool known = false;
        for (auto& s : table) {
            if (s.name != d.name) continue;
            known = true;
            if (s.contexts & ctx) { found = &s; break; }
        }
        auto fail = [&](std::string msg) {
            err = std::move(msg);
            err_where = d.where;
            return false;
        };
        if (!known && is_not_yet(d.name)) return fail("\"" + d.name + "\" directive is not supported yet by switchyard");
        if (!known) return fail("unknown directive \"" + d.name + "\"");
        if (!found) return fail("\"" + d.name + "\" directive is not allowed here");
        if ((found->shape & kBlock) && !d.has_block) return fail("directive \"" + d.name + "\" has no opening \"{\"");
        if (!(found->shape & kBlock) && d.has_block) return fail("directive \"" + d.name + "\" is not terminated by \";\"");
        if (!arity_ok(found->arity, d.args.size())) return fail("invalid number of arguments in \"" + d.name + "\" directive");
        uint32_t saved = context;
        context = ctx;
        err_where = {};
        bool ok = found->handler(*this, d);
        context = saved;
        if (!ok) {
            if (!err_where.file) err_where = d.where;
            return false;
        }
    }
    return true;
}

// ---- merge -----------------------------------------------------------------

template <typename T>
static void fill(std::optional<T>& child, const std::optional<T>& parent) {
    if (!child && parent) child = parent;
}

void LocConf::merge_from(const LocConf& p) {
    fill(proxy_connect_timeout, p.proxy_connect_timeout);
    fill(proxy_read_timeout, p.proxy_read_timeout);
    fill(proxy_send_timeout, p.proxy_send_timeout);
    fill(send_timeout, p.send_timeout);
    fill(client_header_timeout, p.client_header_timeout);
    fill(client_body_timeout, p.client_body_timeout);
    fill(keepalive_timeout, p.keepalive_timeout);
    fill(proxy_http_version, p.proxy_http_version);
    fill(proxy_set_header, p.proxy_set_header);
    fill(proxy_pass_request_headers, p.proxy_pass_request_headers);
    fill(proxy_pass_request_body, p.proxy_pass_request_body);
    fill(proxy_buffering, p.proxy_buffering);
    fill(proxy_request_buffering, p.proxy_request_buffering);
    fill(tcp_nodelay, p.tcp_nodelay);
    fill(server_tokens, p.server_tokens);
    fill(proxy_intercept_errors, p.proxy_intercept_errors);
    fill(absolute_redirect, p.absolute_redirect);
    fill(port_in_redirect, p.port_in_redirect);
    fill(merge_slashes, p.merge_slashes);
    fill(log_not_found, p.log_not_found);
    fill(ignore_invalid_headers, p.ignore_invalid_headers);
    fill(underscores_in_headers, p.underscores_in_headers);
    fill(proxy_hide_header, p.proxy_hide_header);
    fill(proxy_pass_header, p.proxy_pass_header);
    fill(proxy_buffer_size, p.proxy_buffer_size);
    fill(client_max_body_size, p.client_max_body_size);
    fill(client_body_buffer_size, p.client_body_buffer_size);
    fill(client_header_buffer_size, p.client_header_buffer_size);
    fill(proxy_buffers, p.proxy_buffers);
    fill(large_client_header_buffers, p.large_client_header_buffers);
    fill(client_body_temp_path, p.client_body_temp_path);
    fill(proxy_temp_path, p.proxy_temp_path);
    fill(client_body_in_file_only, p.client_body_in_file_only);
    fill(lingering_close, p.lingering_close);
    fill(lingering_time, p.lingering_time);
    fill(lingering_timeout, p.lingering_timeout);
    fill(client_body_in_single_buffer, p.client_body_in_single_buffer);
    fill(proxy_max_temp_file_size, p.proxy_max_temp_file_size);
    fill(proxy_temp_file_write_size, p.proxy_temp_file_write_size);
    fill(proxy_redirect, p.proxy_redirect);
    if (!root && p.root) {   // root and alias inherit together
        root = p.root;
        alias = p.alias;
    }
    fill(etag, p.etag);
    fill(chunked_transfer_encoding, p.chunked_transfer_encoding);
    fill(server_name_in_redirect, p.server_name_in_redirect);
    fill(recursive_error_pages, p.recursive_error_pages);
    fill(expires, p.expires);
    fill(charset, p.charset);
    fill(source_charset, p.source_charset);
    fill(charset_types, p.charset_types);
    fill(ssi, p.ssi);
    fill(ssi_silent_errors, p.ssi_silent_errors);
    fill(ssi_last_modified, p.ssi_last_modified);
    fill(ssi_types, p.ssi_types);
    fill(ssi_value_length, p.ssi_value_length);
    fill(ssi_min_file_chunk, p.ssi_min_file_chunk);
    fill(subrequest_output_buffer_size, p.subrequest_output_buffer_size);
    fill(index, p.index);
    fill(error_page, p.error_page);
    fill(add_header, p.add_header);
    fill(add_trailer, p.add_trailer);
    fill(access_log, p.access_log);
    fill(keepalive_requests, p.keepalive_requests);
    fill(http2_max_concurrent_streams, p.http2_max_concurrent_streams);
    fill(default_type, p.default_type);
    fill(types, p.types);
    fill(proxy_next_upstream, p.proxy_next_upstream);
    fill(proxy_next_upstream_tries, p.proxy_next_upstream_tries);
    fill(proxy_next_upstream_timeout, p.proxy_next_upstream_timeout);
    fill(resolver, p.resolver);
    fill(resolver_timeout, p.resolver_timeout);
    fill(rewrite_log, p.rewrite_log);
    fill(uninitialized_variable_warn, p.uninitialized_variable_warn);
    fill(http2, p.http2);
    fill(ssl_certificate, p.ssl_certificate);
    fill(ssl_certificate_key, p.ssl_certificate_key);
    fill(ssl_protocols, p.ssl_protocols);
    fill(ssl_ciphers, p.ssl_ciphers);
    fill(ssl_ecdh_curve, p.ssl_ecdh_curve);
    fill(ssl_prefer_server_ciphers, p.ssl_prefer_server_ciphers);
    fill(ssl_session_cache, p.ssl_session_cache);
    fill(ssl_session_timeout, p.ssl_session_timeout);
    fill(ssl_session_tickets, p.ssl_session_tickets);
    fill(ssl_dhparam, p.ssl_dhparam);
    fill(ssl_password_file, p.ssl_password_file);
    fill(ssl_handshake_timeout, p.ssl_handshake_timeout);
    if (!ssl_verify_client && p.ssl_verify_client) ssl_verify_client_where = p.ssl_verify_client_where;
    fill(ssl_verify_client, p.ssl_verify_client);
    fill(ssl_verify_depth, p.ssl_verify_depth);
    fill(ssl_client_certificate, p.ssl_client_certificate);
    fill(ssl_trusted_certificate, p.ssl_trusted_certificate);
    fill(ssl_crl, p.ssl_crl);
    fill(ssl_stapling, p.ssl_stapling);
    fill(ssl_stapling_verify, p.ssl_stapling_verify);
    fill(ssl_stapling_file, p.ssl_stapling_file);
    fill(ssl_stapling_responder, p.ssl_stapling_responder);
    if (!ssl && p.ssl) ssl_where = p.ssl_where;
    fill(ssl, p.ssl);
    fill(proxy_ssl_server_name, p.proxy_ssl_server_name);
    fill(proxy_ssl_name, p.proxy_ssl_name);
    if (!proxy_ssl_verify && p.proxy_ssl_verify) proxy_ssl_verify_where = p.proxy_ssl_verify_where;
    fill(proxy_ssl_verify, p.proxy_ssl_verify);
    fill(proxy_ssl_trusted_certificate, p.proxy_ssl_trusted_certificate);
    fill(proxy_ssl_verify_depth, p.proxy_ssl_verify_depth);
    fill(proxy_ssl_protocols, p.proxy_ssl_protocols);
    fill(proxy_ssl_ciphers, p.proxy_ssl_ciphers);
    fill(proxy_ssl_session_reuse, p.proxy_ssl_session_reuse);
    fill(proxy_ssl_certificate, p.proxy_ssl_certificate);
    fill(proxy_ssl_certificate_key, p.proxy_ssl_certificate_key);
    fill(proxy_ssl_password_file, p.proxy_ssl_password_file);
    fill(proxy_timeout, p.proxy_timeout);
    fill(proxy_protocol, p.proxy_protocol);
    fill(proxy_protocol_version, p.proxy_protocol_version);
    fill(proxy_half_close, p.proxy_half_close);
    fill(proxy_ssl, p.proxy_ssl);
    fill(ssl_preread, p.ssl_preread);
    fill(preread_buffer_size, p.preread_buffer_size);
    fill(preread_timeout, p.preread_timeout);
    fill(proxy_protocol_timeout, p.proxy_protocol_timeout);
    fill(set_real_ip_from, p.set_real_ip_from);
    fill(real_ip_header, p.real_ip_header);
    fill(real_ip_recursive, p.real_ip_recursive);
}

void LocConf::apply_defaults(const std::string& prefix) {
    auto def = [](auto& f, auto v) { if (!f) f = v; };
    def(proxy_connect_timeout, Msec(60000));
    def(rewrite_log, false);
    def(uninitialized_variable_warn, true);
    def(proxy_read_timeout, Msec(60000));
    def(proxy_send_timeout, Msec(60000));
    def(send_timeout, Msec(60000));
    def(client_header_timeout, Msec(60000));
    def(client_body_timeout, Msec(60000));
    def(keepalive_timeout, Msec(75000));
    def(proxy_http_version, 11);  // nginx >= 1.29.7
    def(proxy_next_upstream, uint32_t(next_upstream::Error | next_upstream::Timeout));
    def(proxy_next_upstream_tries, uint32_t(0));
    def(proxy_next_upstream_timeout, Msec(0));
    if (!resolver) resolver = std::shared_ptr<const ResolverConf>();
    def(resolver_timeout, Msec(30000));
    if (!proxy_set_header) proxy_set_header.emplace();
    def(proxy_pass_request_headers, true);
    def(proxy_pass_request_body, true);
    def(proxy_buffering, true);
    def(proxy_request_buffering, true);
    def(tcp_nodelay, true);
    def(server_tokens, true);
    def(proxy_intercept_errors, false);
    def(absolute_redirect, true);
    def(port_in_redirect, true);
    def(merge_slashes, true);
    def(log_not_found, true);
    def(ignore_invalid_headers, true);
    def(underscores_in_headers, false);
    if (!proxy_hide_header) proxy_hide_header.emplace();
    if (!proxy_pass_header) proxy_pass_header.emplace();
    long page = sysconf(_SC_PAGESIZE);
    def(proxy_buffer_size, size_t(page > 0 ? page : 4096));
    def(proxy_buffers, std::make_pair(8, size_t(page > 0 ? page : 4096)));
    def(client_max_body_size, size_t(1024 * 1024));
    def(client_body_buffer_size, size_t(16384));
    def(client_header_buffer_size, size_t(1024));
    def(client_body_in_file_only, BodyInFile::Off);
    def(lingering_close, Lingering::On);
    def(lingering_time, Msec(30000));
    def(lingering_timeout, Msec(5000));
    def(client_body_in_single_buffer, false);
    def(proxy_max_temp_file_size, size_t(1024) * 1024 * 1024);
    def(large_client_header_buffers, std::make_pair(4, size_t(8192)));
    if (!proxy_redirect) proxy_redirect.emplace();
    def(etag, true);
    def(chunked_transfer_encoding, true);
    def(server_name_in_redirect, false);
    def(recursive_error_pages, false);
    if (!expires) expires.emplace();
    def(charset, std::string());
    if (!source_charset) source_charset.emplace();
    def(ssi, false);
    def(ssi_silent_errors, false);
    def(ssi_last_modified, false);
    if (!ssi_types) ssi_types = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"text/html"});
    def(ssi_value_length, size_t(255));
    def(ssi_min_file_chunk, size_t(1024));
    def(subrequest_output_buffer_size, size_t(page > 0 ? page : 4096));
    if (!charset_types)
        charset_types = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{
            "text/html", "text/xml", "text/plain", "text/vnd.wap.wml", "application/javascript", "application/rss+xml"});
    if (!root) {
        Template t;
        t.segs.push_back(Segment{prefix + "html", {}});
        t.source = "html";
        root = t;
    }
    if (!index) {
        Template t;
        t.segs.push_back(Segment{"index.html", {}});
        t.source = "index.html";
        index = std::vector<Template>{t};
    }
    if (!error_page) error_page.emplace();
    if (!add_header) add_header.emplace();
    if (!add_trailer) add_trailer.emplace();
    if (!keepalive_requests) keepalive_requests = 1000;
    if (!http2_max_concurrent_streams) http2_max_concurrent_streams = 128;
    def(default_type, std::string("text/plain"));
    if (!types) {
        auto m = std::make_shared<std::unordered_map<std::string, std::string>>();
        (*m)["html"] = "text/html";
        (*m)["gif"] = "image/gif";
        (*m)["jpg"] = "image/jpeg";
        types = std::shared_ptr<const std::unordered_map<std::string, std::string>>(m);
    }
    auto arg = [](const char* v) { return TlsArg{v, v, {}}; };
    def(http2, false);
    if (!ssl_certificate) ssl_certificate.emplace();
    if (!ssl_certificate_key) ssl_certificate_key.emplace();
    def(ssl_protocols, uint32_t(tls_proto::TLSv1_2 | tls_proto::TLSv1_3));
    def(ssl_ciphers, arg("HIGH:!aNULL:!MD5"));
    def(ssl_ecdh_curve, arg("auto"));
    def(ssl_prefer_server_ciphers, false);
    def(ssl_session_cache, SslSessionCache{});
    def(ssl_session_timeout, Msec(300000));
    def(ssl_session_tickets, true);
    def(ssl_dhparam, arg(""));
    def(ssl_password_file, Passwords());
    def(ssl_handshake_timeout, Msec(60000));
    def(ssl_verify_client, 0);
    def(ssl_verify_depth, 1);
    def(ssl_client_certificate, arg(""));
    def(ssl_trusted_certificate, arg(""));
    def(ssl_crl, arg(""));
    def(ssl_stapling, false);
    def(ssl_stapling_verify, false);
    def(ssl_stapling_file, arg(""));
    def(ssl_stapling_responder, arg(""));
    def(ssl, false);
    def(proxy_ssl_server_name, false);
    def(proxy_ssl_verify, false);
    def(proxy_ssl_trusted_certificate, arg(""));
    def(proxy_ssl_verify_depth, 1);
    def(proxy_ssl_protocols, uint32_t(tls_proto::TLSv1_2 | tls_proto::TLSv1_3));
    def(proxy_ssl_ciphers, arg("DEFAULT"));
    def(proxy_ssl_session_reuse, true);
    def(proxy_ssl_certificate, arg(""));
    def(proxy_ssl_certificate_key, arg(""));
    def(proxy_ssl_password_file, Passwords());
    def(proxy_timeout, Msec(600000));
    def(proxy_protocol, false);
    def(proxy_protocol_version, 1);
    def(proxy_half_close, false);
    def(proxy_ssl, false);
    def(ssl_preread, false);
    def(preread_buffer_size, size_t(16384));
    def(preread_timeout, Msec(30000));
    def(proxy_protocol_timeout, Msec(30000));
    if (!set_real_ip_from) set_real_ip_from.emplace();
    def(real_ip_header, std::string("X-Real-IP"));
    def(real_ip_recursive, false);
}

// A relative literal root resolves against the prefix once, at load.
static void absolutize_root(LocConf& lc, const std::string& prefix) {
    if (!lc.root || lc.root->has_vars()) return;
    std::string r = lc.root->literal();
    if (!r.empty() && r[0] != '/') {
        lc.root->segs.clear();
        lc.root->segs.push_back(Segment{prefix + r, {}});
    }
}

// ngx_http_proxy_merge_loc_conf's checks of the temp-file sizes against the
// largest proxy buffer, on every merged level (nginx reports them at the
// http block's closing brace).
static bool check_temp_sizes(const LocConf& lc, std::string& err) {
    size_t size = std::max(*lc.proxy_buffer_size, lc.proxy_buffers->second);
    size_t max_temp = *lc.proxy_max_temp_file_size;
    if (max_temp != 0 && max_temp < size) {
        err = "\"proxy_max_temp_file_size\" must be equal to zero to disable temporary files usage or must be equal "
              "to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"";
        return false;
    }
    if (lc.proxy_temp_file_write_size && *lc.proxy_temp_file_write_size < size) {
        err = "\"proxy_temp_file_write_size\" must be equal to or greater than the maximum of the value of "
              "\"proxy_buffer_size\" and one of the \"proxy_buffers\"";
        return false;
    }
    return true;
}

static bool check_temp_sizes(const LocationTree& t, std::string& err) {
    for (auto& l : t.all)
        if (!check_temp_sizes(l->conf, err) || (l->nested && !check_temp_sizes(*l->nested, err))) return false;
    return true;
}

static void finish_tree(LocationTree& t, const LocConf& parent, const std::string& prefix) {
    for (auto& l : t.all) {
        absolutize_root(l->conf, prefix);
        l->conf.merge_from(parent);
        if (l->match == Location::Match::Named) t.named[l->name] = l.get();
        else if (l->regex) t.regex.push_back(l.get());
        else t.prefix.push_back(l.get());
        if (l->proxy_pass && !l->regex && !l->name.empty() && l->name.back() == '/' &&
            l->match != Location::Match::Exact)
            l->auto_redirect = true;
        if (l->nested) finish_tree(*l->nested, l->conf, prefix);
        finish_if_blocks(l->rewrites, *l, prefix);
    }
    std::stable_sort(t.prefix.begin(), t.prefix.end(),
                     [](const Location* a, const Location* b) { return a->name.size() > b->name.size(); });
}

static std::string port_of(const std::string& host_port, const std::string& dflt) {
    if (!host_port.empty() && host_port[0] == '[') {
        size_t c = host_port.find("]:");
        return c == std::string::npos ? dflt : host_port.substr(c + 2);
    }
    size_t c = host_port.rfind(':');
    return c == std::string::npos ? dflt : host_port.substr(c + 1);
}

// An implicit upstream is the host and the port: "http://b" and "https://b"
// make two (nginx), both named "b".
static bool implicit_port_is(const Upstream& u, int port) {
    for (auto& p : u.peers)
        if (p.addr.family() != AF_UNIX) return p.addr.port() == port;
    return true;
}

static bool link_upstreams(Ctx& c, std::string& err) {
    Http& h = *c.http;
    for (auto& site : c.proxy_sites) {
        ProxyPass& pp = *site.loc->proxy_pass;
        int default_port = pp.https ? 443 : 80;
        pp.port_text = port_of(pp.host_port, std::to_string(default_port));
        for (auto& u : h.upstreams)
            if (u->name == pp.host_port && (!u->implicit || implicit_port_is(*u, std::atoi(pp.port_text.c_str())))) {
                pp.upstream = u.get();
                break;
            }
        if (pp.upstream) continue;
        // "backend:8080" where an upstream block is named "backend" (nginx's check)
        size_t colon = pp.host_port.rfind(':');
        if (!pp.host_port.empty() && pp.host_port[0] != '[' && colon != std::string::npos)
            for (auto& u : h.upstreams)
                if (!u->implicit && u->name == std::string_view(pp.host_port).substr(0, colon)) {
                    err = "upstream \"" + u->name + "\" may not have port " + pp.host_port.substr(colon + 1) + " in " +
                          site.where.str();
                    return false;
                }
        auto up = std::make_unique<Upstream>();
        up->name = pp.host_port;
        up->implicit = true;
        up->where = site.where;
        std::vector<SockAddr> addrs;
        std::string e;
        if (!parse_addr(pp.host_port, default_port, addrs, e)) {
            std::string host = pp.host_port;
            if (!host.empty() && host[0] != '[' && host.rfind(':') != std::string::npos) host.resize(host.rfind(':'));
            err = (e == "host not found" ? "host not found in upstream \"" + host + "\""
                                         : e + " in upstream \"" + pp.host_port + "\"") + " in " + site.where.str();
            return false;
        }
        for (auto& a : addrs) {
            Peer p;
            p.addr = a;
            p.name = a.text;
            up->peers.push_back(p);
        }
        pp.upstream = up.get();  // pool keys are filled for every upstream below
        h.upstreams.push_back(std::move(up));
    }
    return true;
}

void add_combined_format(Http& h) {
    auto lf = std::make_unique<LogFormat>();
    lf->name = "combined";
    std::string err;
    compile_template("$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
                     "\"$http_referer\" \"$http_user_agent\"",
                     nullptr, lf->fmt, err);
    h.log_formats.insert(h.log_formats.begin(), std::move(lf));
}

// "file:line", or nginx's "command line" for -g directives.
static std::string where_str(const SrcLoc& w) {
    if (w.file && *w.file == "command line") return "command line";
    return w.str();
}

// Per listen address: at most one default_server (nginx checks it as servers are added).
static bool check_default_servers(const Http& h, std::string& err) {
    std::map<std::string, bool> seen;
    for (auto& s : h.servers)
        for (auto& l : s->listens) {
            if (!l.default_server) continue;
            if (seen[l.addr.text]) {
                err = "a duplicate default server for " + l.addr.text + " in " + where_str(l.where);
                return false;
            }
            seen[l.addr.text] = true;
        }
    return true;
}

// ---- TLS ---------------------------------------------------------------------

// Whether a location talks TLS to its upstream: https://, or a URL that starts
// with a variable (nginx prepares TLS for any URL it cannot see at load).
static bool wants_client_tls(const ProxyPass& pp) {
    return pp.https || (pp.has_vars && !pp.url.empty() && pp.url[0] == '$');
}

// `if` blocks: their own proxy_pass gets a context, an inherited one shares the location's.
static bool make_if_client_ctxs(std::vector<RewriteStep>& steps, const Location& parent, std::string& err) {
    for (auto& st : steps) {
        if (st.kind != RewriteStep::Kind::If || !st.block) continue;
        Location& b = *st.block;
        if (b.proxy_pass && wants_client_tls(*b.proxy_pass)) {
            if (parent.proxy_pass && parent.proxy_pass->where.file == b.proxy_pass->where.file &&
                parent.proxy_pass->where.line == b.proxy_pass->where.line)
                b.proxy_pass->tls = parent.proxy_pass->tls;
            else if (!(b.proxy_pass->tls = tls::make_client_ctx(b.conf, b.proxy_pass->where, err)))
                return false;
        }
    }
    return true;
}

static bool make_client_ctxs(LocationTree& t, std::string& err) {
    for (auto& l : t.all) {
        if (l->proxy_pass && wants_client_tls(*l->proxy_pass)) {
            l->proxy_pass->tls = tls::make_client_ctx(l->conf, l->proxy_pass->where, err);
            if (!l->proxy_pass->tls) return false;
        }
        if (l->nested && !make_client_ctxs(*l->nested, err)) return false;
        if (!make_if_client_ctxs(l->rewrites, *l, err)) return false;
    }
    return true;
}

// Passphrases are needed only while keys load (nginx wipes them too).
static void wipe(std::optional<Passwords>& p) {
    if (!p || !*p) return;
    for (auto& s : **p) OPENSSL_cleanse(s.data(), s.size());
    (*p)->clear();
}

static void wipe_passwords(LocConf& lc) {
    wipe(lc.ssl_password_file);
    wipe(lc.proxy_ssl_password_file);
}

static void wipe_passwords(LocationTree& t) {
    for (auto& l : t.all) {
        wipe_passwords(l->conf);
        if (l->nested) wipe_passwords(*l->nested);
    }
}

// After merging: listen options hold per address (any server's `listen ...
// ssl` makes the address TLS for every server on it), every server with
// certificates gets its context loaded (nginx loads them even for a server
// without TLS listens, so `-t` finds a bad file), servers on a TLS address
// keep theirs, and the default server of every TLS address must have one.
static bool setup_tls(Http& h, std::vector<std::string>& warnings, std::string& err) {
    // The default server of an address answers handshakes without SNI (or
    // with an unknown name): it needs a certificate. nginx names the server block.
    std::map<std::string, const Server*> dflt;
    for (auto& s : h.servers)
        for (auto& l : s->listens)
            if (l.default_server) dflt[l.addr.text] = s.get();
    for (auto& s : h.servers)
        for (auto& l : s->listens) dflt.emplace(l.addr.text, s.get());

    std::map<std::string, bool> ssl, h2, pp;
    for (auto& s : h.servers) {
        // `ssl on` (nginx 1.22): its server needs a certificate, and an
        // address whose default server has it on is a TLS address
        if (*s->conf.ssl && s->conf.ssl_certificate->empty()) {
            err = "no \"ssl_certificate\" is defined for the \"ssl\" directive in " +
                  where_str(s->conf.ssl_where.file ? s->conf.ssl_where : s->where);
            return false;
        }
        for (auto& l : s->listens)
            if (*s->conf.ssl && dflt[l.addr.text] == s.get()) ssl[l.addr.text] = true;
    }
    for (auto& s : h.servers)
        for (auto& l : s->listens) {
            if (l.ssl) ssl[l.addr.text] = true;
            if (l.http2) h2[l.addr.text] = true;
            if (l.proxy_protocol) pp[l.addr.text] = true;
        }
    for (auto& s : h.servers)
        for (auto& l : s->listens) {
            l.ssl = ssl.count(l.addr.text) > 0;
            l.http2 = h2.count(l.addr.text) > 0;
            l.proxy_protocol = pp.count(l.addr.text) > 0;
        }

    for (auto& s : h.servers) {
        if (!s->conf.ssl_certificate->empty()) {
            auto ctx = tls::make_server_ctx(s->conf, s->where, err, &warnings);
            if (!ctx) return false;
            if (std::any_of(s->listens.begin(), s->listens.end(), [](const Listen& l) { return l.ssl; }))
                s->tls = std::move(ctx);
        }
        if (!make_client_ctxs(s->locations, err)) return false;
    }

    for (auto& s : h.servers)
        for (auto& l : s->listens)
            if (l.ssl && dflt[l.addr.text] == s.get() && s->conf.ssl_certificate->empty()) {
                err = "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in " + where_str(s->where);
                return false;
            }

    wipe_passwords(h.conf);
    for (auto& s : h.servers) {
        wipe_passwords(s->conf);
        wipe_passwords(s->fallback.conf);
        wipe_passwords(s->locations);
    }
    return true;
}

// ---- stream {} ----------------------------------------------------------------

// After the walk: proxy_pass linked to an upstream block or an implicit one
// made from its address (a port is required), settings merged down, no
// address shared with http, TLS contexts for `listen ... ssl` and `proxy_ssl on`.
static bool finish_stream(Config& cfg, std::string& err) {
    Http& st = *cfg.stream;
    // stream servers may share an address (server_name picks among them,
    // nginx 1.25.5), but not with an http server
    std::map<std::string, const Listen*> addrs;
    if (cfg.http)
        for (auto& s : cfg.http->servers)
            for (auto& l : s->listens) addrs.emplace(l.addr.text, &l);
    for (auto& s : st.servers)   // (one server's own repeats are "a duplicate listen" already)
        for (auto& l : s->listens)
            if (addrs.count(l.addr.text)) {
                err = "duplicate \"" + l.addr.text + "\" address and port pair in " + where_str(l.where);
                return false;
            }
    if (!check_default_servers(st, err)) return false;
    for (auto& u : st.upstreams) {
        if (!u->resolve.empty()) {
            err = "the \"resolve\" parameter of \"server\" in stream upstreams is not supported yet by switchyard in " +
                  where_str(u->resolve.front().where);
            return false;
        }
    }
    for (auto& s : st.servers) {
        if (!s->stream_pass) continue;   // a `return` server
        ProxyPass& pp = *s->stream_pass;
        if (pp.has_vars) continue;   // evaluated per session: an address, or an upstream's name
        for (auto& u : st.upstreams)
            if (!u->implicit && u->name == pp.host_port) pp.upstream = u.get();
        if (pp.upstream) continue;
        std::vector<SockAddr> a;
        std::string e;
        if (!parse_addr(pp.host_port, -1, a, e)) {
            std::string host = pp.host_port;
            if (e == "host not found" && !host.empty() && host[0] != '[' && host.rfind(':') != std::string::npos)
                host.resize(host.rfind(':'));
            err = (e == "no port" ? "no port in upstream \"" + pp.host_port + "\""
                   : e == "host not found" ? "host not found in upstream \"" + host + "\""
                                           : e + " in upstream \"" + pp.host_port + "\"") + " in " + where_str(pp.where);
            return false;
        }
        auto up = std::make_unique<Upstream>();
        up->name = pp.host_port;
        up->implicit = true;
        up->where = pp.where;
        for (auto& x : a) {
            Peer p;
            p.addr = x;
            p.name = x.text;
            up->peers.push_back(p);
        }
        pp.upstream = up.get();
        st.upstreams.push_back(std::move(up));
    }
    for (auto& u : st.upstreams) upstream::finish_peers(*u);
    if (!st.conf.proxy_buffer_size) st.conf.proxy_buffer_size = size_t(16384);   // stream's default
    if (!st.conf.access_log) st.conf.access_log.emplace();                       // stream logs nothing by default
    st.conf.apply_defaults(cfg.prefix);
    for (auto& s : st.servers) {
        s->conf.merge_from(st.conf);
        bool ssl = std::any_of(s->listens.begin(), s->listens.end(), [](const Listen& l) { return l.ssl; });
        if (!s->conf.ssl_certificate->empty()) {
            auto ctx = tls::make_server_ctx(s->conf, s->where, err, &cfg.warnings);
            if (!ctx) return false;
            if (ssl) s->tls = std::move(ctx);
        } else if (ssl) {
            err = "no \"ssl_certificate\" is defined for server in " + where_str(s->where);
            return false;
        }
        if (*s->conf.proxy_ssl && s->stream_pass) {
            s->stream_pass->tls = tls::make_client_ctx(s->conf, s->stream_pass->where, err);
            if (!s->stream_pass->tls) return false;
        }
        wipe_passwords(s->conf);
    }
    wipe_passwords(st.conf);
    return true;
}

std::variant<std::shared_ptr<Config>, std::string> load(const LoadOptions& opt) {
    auto cfg = std::make_shared<Config>();
    cfg->prefix = opt.prefix;
    if (cfg->prefix.empty()) cfg->prefix = "./";
    if (cfg->prefix.back() != '/') cfg->prefix += '/';
    cfg->conf_file = opt.conf_file;
    if (cfg->conf_file.empty() || cfg->conf_file[0] != '/') cfg->conf_file = cfg->prefix + cfg->conf_file;
    cfg->conf_prefix = cfg->conf_file.substr(0, cfg->conf_file.rfind('/') + 1);
    cfg->pid_path = cfg->prefix + "logs/nginx.pid";

    ParseOptions po;
    po.conf_prefix = cfg->conf_prefix;
    std::vector<Directive> root;
    if (!opt.global_directives.empty()) {
        auto g = parse_string(opt.global_directives, "command line", po);
        if (auto* e = std::get_if<ParseError>(&g)) return e->str();
        auto& out = std::get<ParseOutput>(g);
        root = std::move(out.root);
    }
    auto parsed = parse_file(cfg->conf_file, po);
    if (auto* e = std::get_if<ParseError>(&parsed)) return e->str();
    auto& out = std::get<ParseOutput>(parsed);
    for (auto& d : out.root) root.push_back(std::move(d));
    cfg->files = std::move(out.files);

    Ctx c(*cfg);
    if (!c.walk(root, kMain)) return c.err + " in " + where_str(c.err_where);
    std::string err;
    if (!cfg->http) {
        if (cfg->stream && !finish_stream(*cfg, err)) return err;
        return std::shared_ptr<Config>(cfg);
    }

    Http& h = *cfg->http;
    if (!check_default_servers(h, err)) return err;
    if (!link_upstreams(c, err)) return err;
    for (auto& m : h.maps)
        if (m->var_name.empty()) return std::string("internal error: map without definition");

    for (auto& u : h.upstreams) {
        if (!u->resolve.empty()) {
            if (!u->zone) {
                err = "resolving names at run time requires upstream \"" + u->name + "\" in " + where_str(u->where) +
                      " to be in shared memory";
                return err;
            }
            if (!u->resolver && h.conf.resolver) u->resolver = *h.conf.resolver;
            if (!u->resolver) {
                err = "no resolver defined to resolve names at run time in upstream \"" + u->name + "\" in " +
                      where_str(u->where);
                return err;
            }
            if (h.conf.resolver_timeout && u->resolver_timeout == 30000) u->resolver_timeout = *h.conf.resolver_timeout;
        }
        upstream::finish_peers(*u);
    }
    absolutize_root(h.conf, cfg->prefix);
    // nginx's default temp directories (created at start-up like any other)
    for (auto [field, name] : {std::pair{&LocConf::client_body_temp_path, "client_body_temp"},
                               std::pair{&LocConf::proxy_temp_path, "proxy_temp"}}) {
        if (h.conf.*field) continue;
        auto tp = std::make_shared<TempPath>();
        tp->path = cfg->prefix + name;
        bool known = false;
        for (auto& p : cfg->temp_paths) known |= p->path == tp->path;
        if (!known) cfg->temp_paths.push_back(tp);
        h.conf.*field = std::shared_ptr<const TempPath>(tp);
    }
    h.conf.apply_defaults(cfg->prefix);
    if (!h.conf.access_log || h.conf.access_log->empty()) {
        AccessLogConf a;
        a.path = cfg->prefix + "logs/access.log";
        a.format = h.log_formats.front().get();
        h.conf.access_log = std::vector<AccessLogConf>{a};
    }
    for (auto& s : h.servers) {
        absolutize_root(s->conf, cfg->prefix);
        s->conf.merge_from(h.conf);
        s->fallback.conf = s->conf;
        s->fallback.name = "";
        finish_tree(s->locations, s->conf, cfg->prefix);
        finish_if_blocks(s->rewrites, s->fallback, cfg->prefix);
    }
    bool sizes_ok = check_temp_sizes(h.conf, err);
    for (auto& s : h.servers)
        sizes_ok = sizes_ok && check_temp_sizes(s->conf, err) && check_temp_sizes(s->locations, err);
    if (!sizes_ok) return err + " in " + where_str(h.end);
    if (err = check_charsets(h); !err.empty()) return err;
    if (!setup_tls(h, cfg->warnings, err)) return err;
    if (cfg->stream && !finish_stream(*cfg, err)) return err;
    return std::shared_ptr<Config>(cfg);
}

}  // namespace sy::conf

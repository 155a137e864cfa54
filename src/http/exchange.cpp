// Request processing shared by every carrier: rewrites, location search,
// return, error pages, the access log (static files: static_file.cpp).
#include "http/exchange.h"

#include <strings.h>

#include <fmt/format.h>

#include "core/log.h"
#include "http/access_log.h"
#include "http/header_filters.h"
#include "http/realip.h"
#include "http/router.h"
#include "http/ssi.h"
#include "proxy/proxy.h"
#include "tls/client_cert.h"

namespace sy::http {

Exchange::Exchange(Worker& w, std::shared_ptr<Generation> gen, ConnInfo& info)
    : w_(w), gen_(std::move(gen)), info_(info) {}

Exchange::~Exchange() {
    if (ssi_) w_.loop().defer_delete(ssi_);
}

void Exchange::route() {
    Request& r = *req_;
    bool first = true;
    // nginx's uri_changes: a request may change its URI (rewrite, internal
    // redirect) 10 times; the 11th is a cycle
    auto cycle = [&] {
        if (++redirects_ <= 10) return false;
        log_error(Level::Error, "rewrite or internal redirection cycle while processing \"" + r.uri + "\"");
        finalize_error(500);
        return true;
    };
    if (r.loc && cycle()) return;   // an internal redirect (error_page) routes again
    for (;;) {
        bool stop = false, changed = false;
        if (first && !r.internal) {
            apply_realip(r.server->conf);   // nginx's post-read phase: the server's settings
            if (!run_rewrites(r.server->rewrites, stop, changed)) return;
        }
        first = false;
        Match m = find_location(*r.server, r);
        if (m == Match::Redirect) {
            std::string loc;   // nginx: the location's name escaped (NGX_ESCAPE_URI)
            escape_uri(r.loc->name, loc);
            if (!r.args.empty()) loc += "?" + r.args;
            send_redirect(301, absolute_location(loc));
            return;
        }
        if (r.lc->client_max_body_size && *r.lc->client_max_body_size > 0 && r.head.content_length > 0 &&
            uint64_t(r.head.content_length) > *r.lc->client_max_body_size) {
            log_error(Level::Error, "client intended to send too large body: " + std::to_string(r.head.content_length) + " bytes");
            keepalive_ = false;
            finalize_error(413);
            return;
        }
        stop = changed = false;
        if (!run_rewrites(r.loc->rewrites, stop, changed)) return;
        if (changed) {   // nginx's post-rewrite phase: search the locations again
            if (cycle()) return;
            continue;
        }
        break;
    }
    apply_realip(*r.lc);   // preaccess: the location's, if the server's changed nothing
    run_handler();
}

// nginx's realip handler (http/realip.h): once per request, when the peer is
// in set_real_ip_from and the header (or the PROXY header) names an address.
void Exchange::apply_realip(const conf::LocConf& lc) {
    if (realip_ || !lc.set_real_ip_from || lc.set_real_ip_from->empty()) return;
    const std::string& type = *lc.real_ip_header;
    bool pp = type == "proxy_protocol";
    std::vector<std::string_view> values;
    if (pp) {
        if (info_.proxy_protocol_addr.empty()) return;
        values.push_back(info_.proxy_protocol_addr);
    } else {
        bool xff = type == "X-Forwarded-For";   // nginx: the keywords are case-sensitive, a field is not
        for (auto& h : req_->head.headers)
            if (h.name.size() == type.size() && strncasecmp(h.name.data(), type.data(), type.size()) == 0) {
                values.push_back(h.value);
                if (!xff) break;   // X-Real-IP and other fields: the first one
            }
        if (values.empty()) return;
    }
    sockaddr_storage addr{};
    if (info_.remote_addr == "unix:") addr.ss_family = AF_UNIX;
    else if (!parse_addr_port(info_.remote_addr, addr)) return;
    if (forwarded_addr(addr, values, *lc.set_real_ip_from, *lc.real_ip_recursive) == Forwarded::Declined) return;
    realip_ = std::make_unique<ConnInfo>(info_);
    realip_->realip_remote_addr = info_.remote_addr;
    realip_->realip_remote_port = info_.remote_port;
    net::addr_text(addr, realip_->remote_addr, realip_->remote_port);
    if (pp) realip_->remote_port = info_.proxy_protocol_port;
    SY_LOG(Level::Debug, info_.number, "realip: client {}:{} (peer {})", realip_->remote_addr, realip_->remote_port,
           info_.remote_addr);
}

void Exchange::handle_return(const conf::RewriteStep& st) {
    Request& r = *req_;
    VarCtx vc = vars();
    if (st.code == 444) {
        r.status = 444;
        keepalive_ = false;
        drop();
        return;
    }
    std::string text = st.has_text ? eval(st.replacement, vc) : std::string();
    bool redirect = st.code == 301 || st.code == 302 || st.code == 303 || st.code == 307 || st.code == 308;
    if (redirect && st.has_text) {
        if (!value_ok(text, "Location")) return;
        std::string loc = absolute_location(text);
        // an error_page for the code: its target answers, with this Location (nginx keeps headers_out.location)
        if (!r.internal && r.lc->error_page)
            for (auto& ep : *r.lc->error_page)
                for (int c : ep.codes)
                    if (c == st.code) {
                        r.kept_location = std::move(loc);
                        finalize_error(st.code);
                        return;
                    }
        send_redirect(st.code, loc);
        return;
    }
    if (!st.has_text && st.code >= 300) {
        finalize_error(st.code);
        return;
    }
    // after an error_page redirect the response keeps the error's status (nginx's err_status)
    int status = r.forced_status ? r.forced_status : st.code;
    if (ssi_applies(*r.lc->default_type, off_t(text.size()))) {   // `return` text through SSI (http/ssi.cpp)
        start_ssi(std::move(text), status, *r.lc->default_type, 0, {});
        return;
    }
    send_simple(status, *r.lc->default_type, text);
}

void Exchange::run_handler() {
    Request& r = *req_;
    SY_LOG(Level::Debug, info_.number, "http request \"{}\": server \"{}\", location \"{}\", uri \"{}\"",
           r.head.request_line, r.server->first_name, r.loc->name, r.uri);
    if (r.loc->internal && !r.internal && !r.uri_changed) {
        finalize_error(404);
        return;
    }
    if (r.lc->try_files && run_try_files()) return;
    if (r.loc->proxy_pass) {
        proxy_ = std::make_unique<proxy::Proxy>(*this, *r.loc->proxy_pass);
        proxy_->start();
        return;
    }
    if (!body_done()) read_body(nullptr);  // discard what the client sends
    if (closed()) return;
    handle_static();
}

bool Exchange::value_ok(std::string_view v, std::string_view what) {
    for (char c : v)
        if (c == '\r' || c == '\n' || c == '\0') {
            log_error(Level::Info, "client sent invalid characters that would end up in the \"" + std::string(what) + "\" header");
            keepalive_ = false;
            finalize_error(400);
            return false;
        }
    return true;
}

std::string Exchange::absolute_location(std::string_view loc) {
    if (loc.empty() || loc[0] != '/' || !*req_->lc->absolute_redirect) return std::string(loc);
    // nginx: the server's name with server_name_in_redirect, else the
    // request's host, else the address the connection came in on
    std::string host = *req_->lc->server_name_in_redirect ? req_->server->first_name : req_->host;
    if (host.empty()) host = info_.server_addr;
    // appended piece by piece: GCC 12's -Wrestrict misfires on `std::string(literal) + s` at -O3
    std::string out;
    out.reserve(8 + host.size() + 6 + loc.size());
    out.append(info_.ssl ? "https://" : "http://").append(host);
    uint16_t port = info_.server_port;
    if (*req_->lc->port_in_redirect && port != (info_.ssl ? 443 : 80)) out += ":" + std::to_string(port);
    out += loc;
    return out;
}

// nginx's add_header: on 200, 201, 204, 206, 301, 302, 303, 304, 307 and
// 308, or on any status with `always`; an empty value adds nothing. Applied
// here so HTTP/1 and HTTP/2 responses carry the same fields.
namespace {
size_t line_breaks(std::string_view v) {
    size_t n = 0;
    for (char c : v) n += c == '\r' || c == '\n' || c == '\0';
    return n;
}
size_t literal_line_breaks(const conf::Template& t) {
    size_t n = 0;
    for (auto& seg : t.segs)
        if (seg.var.kind == conf::Var::None) n += line_breaks(seg.literal);
    return n;
}
}  // namespace

void Exchange::add_configured_headers(HeadBuilder& h) {
    Request& r = *req_;
    bool keep = gen_->cfg->http->keeps_response_headers;
    // $sent_http_NAME sees the head as the filters left it, then each field
    // add_header adds as it is added (nginx evaluates them in order)
    if (keep) keep_sent_headers(h.out);
    if (!r.lc || !r.lc->add_header) return;
    bool ok_status = headers_status(r.status);
    VarCtx vc = vars();
    for (auto& a : *r.lc->add_header) {
        if (!ok_status && !a.always) continue;
        std::string v = eval(a.value, vc);
        if (v.empty()) continue;
        // Line breaks written in the config ("...\n") go out as nginx writes
        // them; one that a variable brings (a decoded $uri, a map value built
        // from the request) would let a client add headers: that header is dropped
        if (size_t lb = line_breaks(v); lb > 0 && lb > literal_line_breaks(a.value)) continue;
        h.add(a.name, v);
        if (keep) r.sent_headers.emplace_back(a.name, std::move(v));
    }
}

void Exchange::send_head(HeadBuilder& h, bool body_framed) {
    if (req_->status != 101) {
        apply_header_filters(h);
        add_configured_headers(h);
        plan_trailers(h);
        if (chunk_out_) body_framed = true;
    } else {
        expect_trailers_ = chunk_out_ = false;
        if (gen_->cfg->http->keeps_response_headers) keep_sent_headers(h.out);
    }
    write_head(h, body_framed);
}

int Exchange::tls_refusal(std::string_view phase) {
    Request& r = *req_;
    if (!info_.ssl) return 0;
    if (tls::misdirected(info_.ssl_server_name, r.host, *r.server->conf.ssl_verify_client)) {
        log_error(Level::Info, std::string(tls::kMisdirected) + std::string(phase));
        return 421;
    }
    std::string why;
    if (int st = tls::client_verify_status(*r.server->conf.ssl_verify_client, info_.client_cert.get(), why)) {
        log_error(Level::Info, why + std::string(phase));
        return st;
    }
    return 0;
}

// $sent_http_NAME reads the head as it goes out, every filter applied.
void Exchange::keep_sent_headers(std::string_view head) {
    auto& sent = req_->sent_headers;
    sent.clear();
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        pos += 2;
        size_t e = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, e == std::string_view::npos ? head.size() - pos : e - pos);
        pos = e;
        size_t colon = line.find(':');
        if (line.empty() || colon == std::string_view::npos) continue;
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        sent.emplace_back(std::string(line.substr(0, colon)), std::string(v));
    }
}

void Exchange::send_redirect(int status, const std::string& location) {
    if (!value_ok(location, "Location")) return;
    send_simple(status, "text/html", error_page_body(status, *req_->lc->server_tokens), &location);
}

void Exchange::send_simple(int status, std::string_view ctype, std::string_view body, const std::string* location) {
    Request& r = *req_;
    if (!location && r.internal && !r.kept_location.empty()) location = &r.kept_location;
    HeadBuilder h(head_scratch(), status, "", *r.lc->server_tokens);
    h.add("Content-Type", ctype);
    h.add("Content-Length", std::to_string(body.size()));
    if (location) h.add("Location", *location);
    r.status = status;
    send_head(h, true);
    if (closed()) return;
    if (r.head.method != "HEAD") {
        send(body);
        r.body_bytes_sent += body.size();
    }
    end_response(true);
}

void Exchange::enter_named(const conf::Location* loc) {
    Request& r = *req_;
    r.loc = loc;
    r.lc = &r.loc->conf;
    apply_realip(*r.lc);
    bool stop = false, changed = false;
    if (!run_rewrites(r.loc->rewrites, stop, changed)) return;
    if (changed) route();
    else run_handler();
}

void Exchange::finalize_error(int status) {
    if (closed()) return;
    Request& r = *req_;
    if (head_sent_) {
        abort_response();
        return;
    }
    if (proxy_) {
        loop().defer_delete(proxy_.release());
    }
    if (status == 400 || status == 413 || status == 414 || (status >= 494 && status <= 497) || status == 500 ||
        status == 501 || status == 505)
        keepalive_ = false;
    if (!error_page_done_ && redirects_ <= 10 && r.lc && r.lc->error_page) {
        for (auto& ep : *r.lc->error_page) {
            bool hit = false;
            for (int c : ep.codes) hit |= c == status;
            if (!hit) continue;
            VarCtx vc = vars();
            std::string uri = eval(ep.uri, vc);
            int code = ep.overwrite > 0 ? ep.overwrite : status;
            if (uri.compare(0, 7, "http://") == 0 || uri.compare(0, 8, "https://") == 0) {
                send_redirect(ep.overwrite > 0 ? code : 302, uri);
                return;
            }
            r.internal = true;
            // nginx: one error_page per request unless the location that
            // redirects has recursive_error_pages on
            if (!*r.lc->recursive_error_pages) error_page_done_ = true;
            r.forced_status = ep.overwrite == 0 ? 0 : code;
            size_t q = uri.find('?');
            if (q != std::string::npos) { r.args = uri.substr(q + 1); uri.resize(q); }
            if (!uri.empty() && uri[0] == '@') {
                if (++redirects_ > 10) {
                    log_error(Level::Error, "rewrite or internal redirection cycle while redirect to named location \"" + uri + "\"");
                    r.internal = false;
                    r.forced_status = 0;
                    send_simple(500, "text/html", error_page_body(500, *r.lc->server_tokens));
                    return;
                }
                auto it = r.server->locations.named.find(uri);
                if (it == r.server->locations.named.end()) break;
                enter_named(it->second);
                return;
            }
            r.uri = uri;
            r.uri_changed = true;
            route();
            return;
        }
    }
    int shown = status >= 494 && status <= 497 ? 400 : status;
    std::string body = error_page_body(status, r.lc ? *r.lc->server_tokens : true);
    r.forced_status = 0;
    send_simple(shown, "text/html", body);
}

std::string Exchange::log_context(std::string_view upstream) const {
    std::string s = ", client: " + conn().remote_addr + ", server: ";
    if (req_ && req_->server) s += req_->server->first_name;
    if (req_ && !req_->head.request_line.empty()) {
        s += ", request: \"";
        s += req_->head.request_line;
        s += "\"";
    }
    if (subrequest_ && req_) {   // nginx names the subrequest's URI (http/subrequest.h)
        s += ", subrequest: \"";
        s += req_->uri;
        s += "\"";
    }
    if (!upstream.empty()) {
        s += ", upstream: \"";
        s += upstream;
        s += "\"";
    }
    if (req_) {
        for (auto& h : req_->head.headers)
            if (ieq(h.name, "host")) {
                s += ", host: \"";
                s += h.value;
                s += "\"";
                break;
            }
    }
    return s;
}

void Exchange::log_error(Level lvl, std::string_view msg, std::string_view upstream) {
    if (!errlog().enabled(lvl)) return;
    std::string line(msg);
    line += log_context(upstream);
    errlog().write(lvl, info_.number, line);
}

void Exchange::write_access_log() {
    if (!req_ || req_->logged) return;
    req_->logged = true;
    VarCtx vc = vars();
    http::write_access_log(*gen_, vc);
}

}  // namespace sy::http

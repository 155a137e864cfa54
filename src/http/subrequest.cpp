// Subrequests (see subrequest.h).
#include "http/subrequest.h"

#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"
#include "proxy/proxy.h"

namespace sy::http {

namespace {
// A view into the parent's head text, moved onto the copy.
std::string_view rebase(std::string_view v, const std::string& from, const std::string& to) {
    if (v.data() >= from.data() && v.data() + v.size() <= from.data() + from.size())
        return std::string_view(to.data() + (v.data() - from.data()), v.size());
    return v;   // a literal (not in the head text)
}
}  // namespace

SubExchange::SubExchange(Exchange& parent, std::string uri, std::string args, bool in_memory)
    : Exchange(parent.w_, parent.gen_, parent.info_), in_memory_(in_memory) {
    subrequest_ = true;
    Exchange* p = &parent;
    parent_ = p;
    parent_closed_ = [p] { return p->closed(); };
    if (parent.realip_) realip_ = std::make_unique<ConnInfo>(*parent.realip_);
    ssi_shared_ = parent.ssi_shared_;
    const Request& pr = *parent.req_;
    req_ = std::make_unique<Request>();
    Request& r = *req_;
    r.raw = pr.raw;
    r.head = pr.head;
    r.head.method = rebase(r.head.method, pr.raw, r.raw);
    r.head.target = rebase(r.head.target, pr.raw, r.raw);
    r.head.request_line = rebase(r.head.request_line, pr.raw, r.raw);
    for (auto& h : r.head.headers) {
        h.name = rebase(h.name, pr.raw, r.raw);
        h.value = rebase(h.value, pr.raw, r.raw);
    }
    // nginx: GET (HEAD for a HEAD parent), no body, never an upgrade
    r.head.method = pr.head.method == "HEAD" ? std::string_view("HEAD") : std::string_view("GET");
    r.head.content_length = -1;
    r.head.chunked = false;
    r.head.upgrade = false;
    r.head.expect_continue = false;
    r.uri = std::move(uri);
    r.args = std::move(args);
    r.internal = true;
    r.server = pr.server;
    r.host = pr.host;
    r.start_ms = pr.start_ms;
    r.start_mono = pr.start_mono;
    r.conn_requests = pr.conn_requests;
    r.user_vars = pr.user_vars;   // the parent's `set` variables are visible
    r.user_set = pr.user_set;
    r.logged = true;              // log_subrequest off: only the main request is logged
    keepalive_ = false;
}

SubExchange::~SubExchange() {
    *alive_ = false;
    proxy_.reset();   // its destructor still talks to this exchange
}

void SubExchange::start(std::function<void(std::string_view)> sink, std::function<void()> done) {
    sink_ = std::move(sink);
    done_ = std::move(done);
    SY_LOG(Level::Debug, info_.number, "http subrequest \"{}?{}\"", req_->uri, req_->args);
    // nginx starts a subrequest at the server's rewrite phase (route() skips it for internal requests)
    req_->lc = &req_->server->conf;
    bool stop = false, changed = false;
    if (!run_rewrites(req_->server->rewrites, stop, changed)) return;
    route();
}

void SubExchange::drained() {
    if (proxy_ && !finished_) proxy_->on_client_drained();
    else ssi_drained();
}

void SubExchange::read_body(BodyConsumer* c) {
    if (c) c->on_body_end();   // a subrequest has no body
}

void SubExchange::write_head(HeadBuilder& h, bool) {
    (void)h;
    head_sent_ = true;   // the head stays here: the parent's response has its own
}

void SubExchange::body(std::string_view bytes) {
    if (bytes.empty() || finished_ || aborted_) return;
    produced_ = true;
    if (!in_memory_) {
        if (sink_) sink_(bytes);
        return;
    }
    if (too_big_) return;
    size_t limit = req_->lc ? *req_->lc->subrequest_output_buffer_size : 4096;
    if (captured_.size() + bytes.size() > limit) {
        // nginx's in-memory filter: the part that does not fit is an error, what fit stays
        too_big_ = true;
        log_error(Level::Error, fmt::format("too big subrequest response: {} while sending to client", bytes.size()));
        abort_response();
        return;
    }
    captured_.append(bytes);
}

void SubExchange::send(std::string_view bytes) { body(bytes); }

void SubExchange::send(Buf&& b) { body(std::string_view(reinterpret_cast<const char*>(b.data()), b.size())); }

void SubExchange::send_file(int fd, off_t from, off_t len) {
    char buf[16384];
    while (len > 0 && !finished_ && !aborted_) {
        ssize_t n = ::pread(fd, buf, size_t(std::min<off_t>(len, off_t(sizeof buf))), from);
        if (n <= 0) {
            if (n < 0) log_error(Level::Crit, fmt::format("pread() failed ({}: {})", errno, strerror(errno)));
            aborted_ = true;
            break;
        }
        body(std::string_view(buf, size_t(n)));
        from += n;
        len -= n;
    }
    ::close(fd);
}

void SubExchange::finish() {
    if (finished_) return;
    finished_ = true;
    if (proxy_) loop().defer_delete(proxy_.release());
    std::weak_ptr<bool> alive = alive_;
    auto done = done_;
    loop().post([alive, done] {
        auto a = alive.lock();
        if (a && *a && done) done();
    });
}

void SubExchange::end_response(bool) { finish(); }

void SubExchange::abort_response() {
    aborted_ = true;
    finish();
}

void SubExchange::drop() {   // `return 444` in a subrequest: no output
    finish();
}

void SubExchange::upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&&, std::string, const conf::Upstream*, size_t) {
    // never asked for (the head has no upgrade); close what was handed over
    if (upstream_ssl) SSL_free(upstream_ssl);
    if (upstream_fd >= 0) ::close(upstream_fd);
    abort_response();
}

}  // namespace sy::http

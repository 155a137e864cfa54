#include "http/h2_stream.h"

#include <nghttp2/nghttp2.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/access_log.h"
#include "http/h2_connection.h"
#include "http/router.h"
#include "http/unique_headers.h"
#include "proxy/proxy.h"

namespace sy::http {

nghttp2_data_source_read_callback h2_read_data_callback();   // h2_connection.cpp

namespace {
// Response header fields HTTP/2 forbids (RFC 9113 8.2.2): the carrier frames the message itself.
bool connection_specific(std::string_view n) {
    return ieq(n, "connection") || ieq(n, "keep-alive") || ieq(n, "proxy-connection") || ieq(n, "transfer-encoding") ||
           ieq(n, "upgrade");
}
}  // namespace

H2Stream::H2Stream(H2Connection& c, int32_t id) : Exchange(c.worker(), c.generation(), c.info()), c_(c), id_(id) {
    up_.io.owner = this;
    idle_.owner = this;
    req_ = std::make_unique<Request>();
    req_->start_mono = clock::now_ms();
    req_->start_ms = clock::wall_ms();
    ++live_;
}

H2Stream::~H2Stream() {
    --live_;
    if (file_fd_ >= 0) ::close(file_fd_);
    close_tunnel();
}

// ---- the request head ----------------------------------------------------------

bool H2Stream::on_header(std::string_view name, std::string_view value) {
    // the size of the whole block is bounded by the connection (a connection error)
    field_bytes_ += name.size() + value.size() + 4;
    if (!name.empty() && name[0] == ':') {
        // nghttp2 has checked the pseudo-header rules (known, once, before the fields)
        if (name == ":method") method_ = value;
        else if (name == ":scheme") scheme_ = value;
        else if (name == ":authority") authority_ = value;
        else if (name == ":path") path_ = value;
        else if (name == ":protocol") protocol_ = value;
        return true;
    }
    fields_.emplace_back(std::string(name), std::string(value));
    return true;
}

// Lays the head out as HTTP/1.1 text ("GET /p HTTP/2.0", then the fields with
// :authority as Host and the cookie fields joined, as nginx does), so the
// variables, the log and the proxy read it like an HTTP/1.1 head.
void H2Stream::on_headers_done(bool end_stream) {
    Request& r = *req_;
    if (method_ == "CONNECT" && ieq(protocol_, "websocket")) {
        // RFC 8441: the backend gets the HTTP/1.1 handshake (a key of our own:
        // the client sends none over HTTP/2, and the accept goes no further)
        ws_connect_ = true;
        method_ = "GET";
        bool has_key = false;
        for (auto& [n, v] : fields_) has_key |= n == "sec-websocket-key";
        fields_.emplace_back("upgrade", "websocket");
        fields_.emplace_back("connection", "upgrade");
        if (!has_key) {
            unsigned char k[16];
            RAND_bytes(k, sizeof k);
            static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            std::string key;
            for (size_t i = 0; i < 16; i += 3) {
                uint32_t v = uint32_t(k[i]) << 16 | (i + 1 < 16 ? uint32_t(k[i + 1]) << 8 : 0) | (i + 2 < 16 ? k[i + 2] : 0);
                key += b64[(v >> 18) & 63];
                key += b64[(v >> 12) & 63];
                key += i + 1 < 16 ? b64[(v >> 6) & 63] : '=';
                key += i + 2 < 16 ? b64[v & 63] : '=';
            }
            fields_.emplace_back("sec-websocket-key", key);
        }
    }
    std::string& raw = r.raw;
    raw.reserve(field_bytes_ + authority_.size() + 64);
    raw = method_ + " " + path_ + " HTTP/2.0\r\n";
    size_t line_len = raw.size() - 2;
    bool has_host = false;
    std::string cookie;
    for (auto& [n, v] : fields_) {
        if (n == "host") has_host = true;
        if (n == "cookie") {
            if (!cookie.empty()) cookie += "; ";
            cookie += v;
        }
    }
    struct Off { size_t n, nl, v, vl; };
    std::vector<Off> offs;
    offs.reserve(fields_.size() + 2);
    auto add = [&](std::string_view n, std::string_view v) {
        Off o{raw.size(), n.size(), 0, v.size()};
        raw.append(n).append(": ");
        o.v = raw.size();
        raw.append(v).append("\r\n");
        offs.push_back(o);
    };
    if (!has_host && !authority_.empty()) add("host", authority_);
    for (auto& [n, v] : fields_)
        if (n != "cookie") add(n, v);
    if (!cookie.empty()) add("cookie", cookie);
    raw += "\r\n";
    fields_.clear();
    fields_.shrink_to_fit();
    const char* base = raw.data();
    r.head.method = std::string_view(base, method_.size());
    r.head.target = std::string_view(base + method_.size() + 1, path_.size());
    r.head.request_line = std::string_view(base, line_len);
    r.head.version = 20;
    r.head.head_bytes = raw.size();
    r.request_length = raw.size();
    for (auto& o : offs) r.head.headers.push_back({std::string_view(base + o.n, o.nl), std::string_view(base + o.v, o.vl)});
    body_done_ = head_end_stream_ = end_stream;
    c_.note_payload(raw.size());
    // routing (and a backend connect) waits until the input that completed
    // the head was processed: a stream the client resets in the same input
    // (rapid reset) never starts
    c_.stream_ready(id_);
}

void H2Stream::start() {
    if (started_ || closed_) return;
    begin_request();    // body_buf_ is not handed on before started_
    started_ = true;
    if (closed_) return;
    if (ws_connect_ || body_buf_.empty() || !req_->lc) {
        deliver_body();
        return;
    }
    // DATA that came with the head: the limit on_data() applies to the rest
    const conf::LocConf& lc = *req_->lc;
    if (*lc.client_max_body_size > 0 && body_received_ > *lc.client_max_body_size) {
        nghttp2_session_consume(c_.ng(), id_, body_buf_.size());
        body_buf_.clear();
        c_.want_write();
        if (!head_sent_) {
            log_error(Level::Error, "client intended to send too large body: " + std::to_string(body_received_) + " bytes");
            body_done_ = true;
            reading_body_ = false;
            finalize_error(413);
        }
        return;
    }
    deliver_body();
}

void H2Stream::begin_request() {
    Request& r = *req_;
    ++info_.requests;
    r.conn_requests = info_.requests;
    r.server = c_.group()->default_server;
    r.lc = &r.server->conf;
    const Header* host = nullptr;
    const Header* seen[kUniqueHeaderCount] = {};
    for (auto& h : r.head.headers) {
        // nginx runs the same header handlers for HTTP/2: a field a request
        // may carry once comes once (Host too, when the client sent it)
        int u = unique_header_index(h.name);
        const Header* prev = u >= 0 ? seen[u] : ieq(h.name, "host") ? host : nullptr;
        if (prev) {
            log_error(Level::Info, fmt::format("client sent duplicate {}: \"{}: {}\", previous value: \"{}: {}\" while processing HTTP/2 connection",
                                               u >= 0 ? "header line" : "host header", h.name, h.value, prev->name, prev->value));
            finalize_error(400);
            return;
        }
        if (u >= 0) seen[u] = &h;
        if (ieq(h.name, "host") && !host) host = &h;
        else if (ieq(h.name, "content-length")) {
            int64_t n = 0;
            bool ok = !h.value.empty();
            for (char ch : h.value) {
                ok &= ch >= '0' && ch <= '9' && n < (int64_t(1) << 52);
                n = n * 10 + (ch - '0');
            }
            if (!ok) {
                log_error(Level::Info, "client sent invalid \"Content-Length\" header while processing HTTP/2 connection");
                finalize_error(400);
                return;
            }
            r.head.content_length = n;
        }
    }
    if (ws_connect_) r.head.upgrade = true;   // its DATA are the tunnel's, not a body
    else if (r.head.content_length < 0 && !head_end_stream_) r.head.chunked = true;   // a body of unknown length follows
    if (host && !parse_host(host->value, r.host)) {
        log_error(Level::Info, "client sent invalid host header while processing HTTP/2 connection");
        finalize_error(400);
        return;
    }
    r.server = c_.group()->find(r.host, &r);
    r.lc = &r.server->conf;
    if (r.head.method == "CONNECT") {
        // only RFC 8441's extended CONNECT with :protocol websocket is proxied
        if (!protocol_.empty()) {
            log_error(Level::Info, "client sent unsupported :protocol \"" + protocol_ + "\" while processing HTTP/2 connection");
            finalize_error(501);
            return;
        }
        log_error(Level::Info, "client sent CONNECT method while processing HTTP/2 connection");
        finalize_error(405);
        return;
    }
    if (!normalize_uri(r.head.target, *r.server->conf.merge_slashes, r.uri, r.args)) {
        log_error(Level::Info, "client sent invalid :path header while processing HTTP/2 connection");
        finalize_error(400);
        return;
    }
    // nginx 1.25: a request for a server that has `http2 off` (on an address
    // without `listen ... http2`) is misdirected
    if (!*r.server->conf.http2 && !(c_.group()->listen && c_.group()->listen->http2)) {
        log_error(Level::Info, "client sent HTTP/2 request to a server with http2 disabled while processing HTTP/2 connection");
        finalize_error(421);
        return;
    }
    if (int st = tls_refusal(" while processing HTTP/2 connection")) {
        finalize_error(st);
        return;
    }
    redirects_ = 0;
    route();
}

// ---- the request body ----------------------------------------------------------

void H2Stream::on_data(const uint8_t* data, size_t len) {
    if (closed_) {
        nghttp2_session_consume(c_.ng(), id_, len);
        return;
    }
    if (ws_connect_) {
        // tunnel bytes: acknowledged once the upstream took them
        to_up_.append(std::string_view(reinterpret_cast<const char*>(data), len));
        if (tunnel_) flush_up();
        return;
    }
    body_received_ += len;
    if (!started_) {   // kept until the stream starts (bounded by the stream's window)
        body_buf_.append(reinterpret_cast<const char*>(data), len);
        return;
    }
    const conf::LocConf& lc = *req_->lc;
    if (*lc.client_max_body_size > 0 && body_received_ > *lc.client_max_body_size) {
        nghttp2_session_consume(c_.ng(), id_, len);
        if (!head_sent_) {
            log_error(Level::Error, "client intended to send too large body: " + std::to_string(body_received_) + " bytes");
            body_done_ = true;
            reading_body_ = false;
            finalize_error(413);
        }
        return;
    }
    std::string_view v(reinterpret_cast<const char*>(data), len);
    if (reading_body_ && !body_consumer_) {   // discarded
        nghttp2_session_consume(c_.ng(), id_, len);
        return;
    }
    body_buf_.append(v);
    deliver_body();
}

void H2Stream::on_end_stream() {
    if (ws_connect_) {
        client_eof_ = true;
        if (tunnel_) flush_up();
        return;
    }
    body_done_ = true;
    if (reading_body_) deliver_body();
}

void H2Stream::read_body(BodyConsumer* c) {
    body_consumer_ = c;
    reading_body_ = true;
    deliver_body();
}

void H2Stream::pause_body(bool paused) {
    body_paused_ = paused;
    if (!paused) deliver_body();
}

// Hands buffered DATA to the consumer and only then gives the client its
// window back, so a slow upstream slows the client down.
void H2Stream::deliver_body() {
    if (!reading_body_ || body_paused_ || closed_ || !started_) return;
    if (!body_buf_.empty()) {
        std::string chunk;
        chunk.swap(body_buf_);
        nghttp2_session_consume(c_.ng(), id_, chunk.size());
        c_.want_write();
        if (body_consumer_) body_consumer_->on_body(chunk);
        if (closed_) return;
    }
    if (body_done_ && body_buf_.empty() && reading_body_) {
        reading_body_ = false;
        if (body_consumer_) body_consumer_->on_body_end();
    }
}

// ---- the response --------------------------------------------------------------

// The head arrives as HTTP/1.1 text (HeadBuilder); it leaves as HPACK fields.
void H2Stream::write_head(HeadBuilder& h, bool) {
    if (closed_) return;
    Request& r = *req_;
    std::string_view all = h.out;
    size_t eol = all.find("\r\n");
    std::string_view status_line = all.substr(0, eol);
    std::string status(status_line.substr(9, 3));
    bool ws_accept = ws_connect_ && status == "101";
    if (ws_accept) status = "200";
    else if (ws_connect_ && r.status >= 200 && r.status < 300) {
        // a 2xx would tell the client its tunnel is open (RFC 8441): a location
        // that answers without upgrading does not do WebSockets
        log_error(Level::Info, fmt::format("WebSocket over HTTP/2 answered {} without an upgrade, sent as 501", r.status));
        status = "501";
        r.status = 501;
    }
    std::vector<std::pair<std::string, std::string_view>> fields;
    size_t pos = eol + 2;
    while (pos < all.size()) {
        size_t e = all.find("\r\n", pos);
        if (e == std::string_view::npos || e == pos) break;
        std::string_view line = all.substr(pos, e - pos);
        pos = e + 2;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view n = line.substr(0, colon), v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        // a line break a config wrote into an add_header value ends the
        // HTTP/1 line; an HTTP/2 field cannot carry one
        while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.remove_suffix(1);
        bool line_break = false;
        for (char ch : v) line_break |= ch == '\n' || ch == '\r';
        if (line_break) continue;
        if (connection_specific(n) || (ws_accept && ieq(n, "sec-websocket-accept"))) continue;
        std::string ln(n);
        for (auto& ch : ln)
            if (ch >= 'A' && ch <= 'Z') ch = char(ch + ('a' - 'A'));
        fields.emplace_back(std::move(ln), v);
    }
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size() + 1);
    auto nv = [](std::string_view n, std::string_view v) {
        return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                          reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
    };
    nva.push_back(nv(":status", status));
    for (auto& [n, v] : fields) nva.push_back(nv(n, v));
    int code = r.status;
    has_body_ = ws_accept || (r.head.method != "HEAD" && code != 204 && code != 304 && code >= 200);
    nghttp2_data_provider prd{};
    prd.source.ptr = this;
    prd.read_callback = h2_read_data_callback();
    int rv = nghttp2_submit_response(c_.ng(), id_, nva.data(), nva.size(), has_body_ ? &prd : nullptr);
    head_sent_ = true;
    r.bytes_sent += all.size();
    if (rv != 0) {
        log_error(Level::Alert, std::string("nghttp2_submit_response() failed: ") + nghttp2_strerror(rv));
        reset(NGHTTP2_INTERNAL_ERROR);
        return;
    }
    c_.want_write();
}

void H2Stream::hold_output(bool on) {
    hold_ = on;
    if (!on) output_ready();
}

void H2Stream::send(std::string_view bytes) {
    if (closed_ || bytes.empty()) return;
    req_->bytes_sent += bytes.size();
    out_.append(bytes);
    output_ready();
}

void H2Stream::send(Buf&& b) {
    if (closed_ || b.empty()) return;
    req_->bytes_sent += b.size();
    out_.push(std::move(b));
    output_ready();
}

void H2Stream::send_file(int fd, off_t from, off_t len) {
    file_fd_ = fd;
    file_off_ = from;
    file_end_ = from + len;
    output_ready();
}

void H2Stream::output_ready() {
    if (closed_ || hold_) return;
    if (deferred_) {
        deferred_ = false;
        nghttp2_session_resume_data(c_.ng(), id_);
    }
    c_.want_write();
}

ssize_t H2Stream::read_data(uint8_t* buf, size_t len, uint32_t* flags) {
    size_t n = 0;
    while (n < len && !out_.empty()) {
        std::string_view f = out_.front();
        size_t k = std::min(f.size(), len - n);
        std::memcpy(buf + n, f.data(), k);
        out_.consume(k);
        n += k;
    }
    if (n < len && file_fd_ >= 0) {
        size_t want = std::min<size_t>(len - n, size_t(file_end_ - file_off_));
        ssize_t k = want ? ::pread(file_fd_, buf + n, want, file_off_) : 0;
        if (k < 0 || (k == 0 && want > 0)) {
            log_error(Level::Crit, "pread() failed while sending response to client");
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        file_off_ += k;
        n += size_t(k);
        if (file_off_ >= file_end_) {
            ::close(file_fd_);
            file_fd_ = -1;
        }
    }
    if (out_.empty() && file_fd_ < 0 && response_done_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!trailers_.empty()) {   // add_trailer: a HEADERS frame ends the stream
            std::vector<nghttp2_nv> nva;
            for (auto& [tn, tv] : trailers_)
                nva.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(tn.data()), reinterpret_cast<uint8_t*>(tv.data()),
                                         tn.size(), tv.size(), NGHTTP2_NV_FLAG_NONE});
            if (nghttp2_submit_trailer(c_.ng(), id_, nva.data(), nva.size()) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            trailers_.clear();
        }
    } else if (n == 0) {
        deferred_ = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    // The producer (tunnel upstream or proxy) may read on now: once per loop
    // turn, outside nghttp2's send path.
    if (!drained_posted_ && ((tunnel_ && up_readable_ && out_.bytes() < 32768) || (out_.empty() && (proxy_ || ssi_)))) {
        drained_posted_ = true;
        loop().post([this] {
            drained_posted_ = false;
            if (closed_) return;
            if (tunnel_) read_up();
            else if (proxy_) proxy_->on_client_drained();
            else if (ssi_) ssi_drained();   // an SSI include's proxy
        });
    }
    return ssize_t(n);
}

void H2Stream::end_response(bool) {
    if (closed_) return;
    if (expect_trailers_ && has_body_ && !response_done_) {
        for (auto& [n, v] : eval_trailers()) {
            std::string ln(n);
            for (auto& ch : ln) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            trailers_.emplace_back(std::move(ln), v);
        }
    }
    response_done_ = true;
    if (!body_done_ && !reading_body_) read_body(nullptr);   // the rest of the body is discarded
    if (has_body_) output_ready();
}

void H2Stream::abort_response() { reset(NGHTTP2_INTERNAL_ERROR); }

void H2Stream::drop() { reset(NGHTTP2_NO_ERROR); }

void H2Stream::reset(uint32_t error_code) {
    if (closed_) return;
    nghttp2_submit_rst_stream(c_.ng(), NGHTTP2_FLAG_NONE, id_, error_code);
    c_.want_write();
}

void H2Stream::upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string, const conf::Upstream* up,
                       size_t peer) {
    if (ws_connect_ && !closed_) {
        tunnel_ = true;
        tunnel_up_ = up;
        tunnel_peer_ = peer;
        up_.adopt(upstream_fd, upstream_ssl, this);
        up_readable_ = upstream_ssl != nullptr;   // OpenSSL may hold records already
        if (proxy_) loop().defer_delete(proxy_.release());
        if (!loop().add(up_.io)) {
            reset(NGHTTP2_INTERNAL_ERROR);
            return;
        }
        out_.splice(std::move(from_upstream));
        loop().arm(idle_, *req_->lc->proxy_read_timeout);
        SY_LOG(Level::Debug, info_.number, "http2 stream {}: WebSocket tunnel open", id_);
        flush_up();
        if (!closed_) read_up();
        return;
    }
    if (upstream_ssl) SSL_free(upstream_ssl);
    ::close(upstream_fd);
    if (up && peer < up->peers.size() && up->peers[peer].conns > 0) --up->peers[peer].conns;
    reset(NGHTTP2_INTERNAL_ERROR);
}

void H2Stream::on_close(uint32_t error_code) {
    if (closed_) return;
    closed_ = true;
    if (req_) {
        // what never left (the client reset the stream first) was not sent
        uint64_t unsent = out_.bytes() + uint64_t(file_fd_ >= 0 ? file_end_ - file_off_ : 0);
        req_->body_bytes_sent -= std::min(req_->body_bytes_sent, unsent);
        req_->bytes_sent -= std::min(req_->bytes_sent, unsent);
    }
    if (proxy_) {
        proxy_->on_client_abort();
        loop().defer_delete(proxy_.release());
    }
    if (tunnel_ && req_ && !req_->upstream.empty()) {
        auto& t = req_->upstream.back();
        t.bytes_received += up_received_;
        t.bytes_sent += up_sent_;
        t.response_ms = clock::now_ms() - req_->start_mono;
    }
    close_tunnel();
    if (tunnel_ && req_ && !req_->logged) {
        write_access_log();
        return;
    }
    if (req_ && !req_->logged && (req_->status || head_sent_ || !req_->head.method.empty())) {
        if (!req_->status || (error_code != NGHTTP2_NO_ERROR && !response_done_)) {
            if (!head_sent_) req_->status = 499;
            SY_LOG(Level::Info, info_.number, "client prematurely closed stream{}, client: {}",
                   error_code == NGHTTP2_NO_ERROR ? "" : " (reset)", conn().remote_addr);
        }
        write_access_log();
    }
}

// ---- WebSocket tunnel over the stream (RFC 8441) -------------------------------

void H2Stream::on_io(int, uint32_t events) {
    if (closed_ || !tunnel_) return;
    up_.on_events(events, up_readable_, up_writable_);
    if (up_writable_ && !to_up_.empty()) flush_up();
    if (!closed_) read_up();
}

void H2Stream::on_timer(int) {
    if (closed_) return;
    log_error(Level::Error, "upstream timed out (110: Connection timed out) while proxying upgraded connection");
    reset(NGHTTP2_CANCEL);
}

void H2Stream::read_up() {
    if (!tunnel_ || up_eof_ || closed_) return;
    bool got = false;
    while (up_readable_ && out_.bytes() < 65536) {
        Buf b = Buf::take();
        ssize_t n = up_.read(b.tail(), b.room());
        if (n > 0) {
            b.commit(size_t(n));
            up_received_ += uint64_t(n);
            req_->bytes_sent += uint64_t(n);
            req_->body_bytes_sent += uint64_t(n);
            out_.push(std::move(b));
            got = true;
            // a short read drained the socket, unless a FIN waits behind the data
            if (size_t(n) < Buf::kSize && up_.short_read_drains()) up_readable_ = false;
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            up_readable_ = false;
            break;
        }
        if (n < 0) log_error(up_.upstream_level(), up_.error() + " while proxying upgraded connection");
        up_eof_ = true;        // the backend is done: END_STREAM after what it sent
        response_done_ = true;
        got = true;
        break;
    }
    if (got) {
        loop().arm(idle_, *req_->lc->proxy_read_timeout);
        output_ready();
    }
}

void H2Stream::flush_up() {
    if (!tunnel_ || closed_) return;
    if (!to_up_.empty() && up_writable_) {
        size_t before = to_up_.bytes();
        if (up_.send(to_up_) < 0) {
            log_error(up_.upstream_level(), up_.error() + " while proxying upgraded connection");
            reset(NGHTTP2_CONNECT_ERROR);
            return;
        }
        size_t written = before - to_up_.bytes();
        if (written) {
            up_sent_ += written;
            nghttp2_session_consume(c_.ng(), id_, written);
            c_.want_write();
            loop().arm(idle_, *req_->lc->proxy_read_timeout);
        }
        if (!to_up_.empty()) up_writable_ = false;
    }
    if (client_eof_ && to_up_.empty() && !up_shut_) {
        up_.shutdown_write();
        up_shut_ = true;
    }
}

void H2Stream::close_tunnel() {
    if (!tunnel_) return;
    loop().disarm(idle_);
    if (up_.io.fd >= 0) {
        loop().remove(up_.io);
        up_.close();
    }
    if (tunnel_up_ && tunnel_peer_ < tunnel_up_->peers.size() && tunnel_up_->peers[tunnel_peer_].conns > 0)
        --tunnel_up_->peers[tunnel_peer_].conns;
    tunnel_up_ = nullptr;
}

}  // namespace sy::http

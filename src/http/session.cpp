#include "http/session.h"

#include "net/proxy_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <openssl/ssl.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/access_log.h"
#include "http/h2_connection.h"
#include "http/unique_headers.h"
#include "proxy/proxy.h"
#include "tls/context.h"
#include "tunnel/tunnel.h"

namespace sy::http {

namespace {
enum TimerTag { kReadTimer = 0, kWriteTimer = 1 };

// Head buffers of the default size are recycled: a keep-alive connection
// frees its buffer between requests, and malloc/free per request showed up.
struct HeadBufCache {
    std::vector<char*> free;
    ~HeadBufCache() { for (char* p : free) std::free(p); }
} g_head_cache;
constexpr size_t kCachedHeadSize = 1024;
constexpr size_t kBodyReadSize = 16384;

}  // namespace

std::string_view to_string(SessionState s) {
    switch (s) {
    case SessionState::ProxyHeader: return "ProxyHeader";
    case SessionState::Handshake: return "Handshake";
    case SessionState::ReadHead: return "ReadHead";
    case SessionState::Handling: return "Handling";
    case SessionState::KeepAlive: return "KeepAlive";
    case SessionState::Lingering: return "Lingering";
    case SessionState::Closed: return "Closed";
    }
    return "?";
}

Session::Session(Worker& w, int fd, const sockaddr_storage& peer, const ServerGroup* group)
    : Exchange(w, w.current(), conn_info_), group_(group) {
    sock_.io.fd = fd;
    sock_.io.owner = this;
    read_timer_.owner = this;
    read_timer_.tag = kReadTimer;
    write_timer_.owner = this;
    write_timer_.tag = kWriteTimer;
    info_.number = w.next_conn_number();
    net::addr_text(peer, info_.remote_addr, info_.remote_port);
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) net::addr_text(local, info_.server_addr, info_.server_port);
    w.conn_opened();
    w.track(this);
    reuse_.owner = this;
}

Session::~Session() {
    w_.untrack(this);
    w_.set_reusable(reuse_, false);
    if (hbuf_) std::free(hbuf_);
    if (file_fd_ >= 0) ::close(file_fd_);
}

void Session::start() {
    if (!loop().add(sock_.io)) {
        SY_LOG(Level::Alert, info_.number, "epoll_ctl() failed ({}: {})", errno, strerror(errno));
        close();
        return;
    }
    const conf::LocConf& lc = group_->default_server->conf;
    loop().arm(read_timer_, *lc.client_header_timeout);
    if (group_->listen && group_->listen->ssl) state_ = SessionState::Handshake;
    if (group_->listen && group_->listen->proxy_protocol) state_ = SessionState::ProxyHeader;
    SY_LOG(Level::Debug, info_.number, "accept: {}:{} fd:{} on {}", info_.remote_addr, info_.remote_port, sock_.io.fd, group_->addr.text);
    update_reusable();
}

// ---- event dispatch ---------------------------------------------------------

void Session::on_io(int, uint32_t events) {
    if (state_ == SessionState::Closed) return;
    sock_.on_events(events, readable_, writable_);
    if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && state_ == SessionState::Handling && !reading_body_) {
        // The client went away while its request is being handled (nginx: 499).
        char c;
        ssize_t n = ::recv(sock_.io.fd, &c, 1, MSG_PEEK);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (!head_sent_) {
                req_->status = 499;
                log_error(Level::Info, "client prematurely closed connection", proxy_ ? proxy_->peer_name() : "");
            }
            peer_eof_ = true;
            close();
            return;
        }
    }
    drive();
}

void Session::drive() {
    if (in_drive_ || state_ == SessionState::Closed) return;
    in_drive_ = true;
    if (writable_ && (!out_.empty() || file_fd_ >= 0)) flush();
    switch (state_) {
    case SessionState::ProxyHeader:
        read_proxy_header();
        if (state_ == SessionState::Handshake) handshake();
        if (state_ == SessionState::ReadHead) parse_head();
        break;
    case SessionState::Handshake:
        handshake();
        if (state_ == SessionState::ReadHead) parse_head();
        break;
    case SessionState::ReadHead:
    case SessionState::KeepAlive:
        parse_head();
        break;
    case SessionState::Handling:
        if (reading_body_ && !body_paused_) feed_body();
        break;
    case SessionState::Lingering:
        linger();
        break;
    case SessionState::Closed:
        break;
    }
    update_reusable();
    in_drive_ = false;
}

void Session::on_timer(int tag) {
    if (state_ == SessionState::Closed) return;
    if (tag == kWriteTimer) {
        log_error(Level::Info, "client timed out (110: Connection timed out) while sending response to client");
        if (req_ && !req_->status) req_->status = 408;
        close();
        return;
    }
    switch (state_) {
    case SessionState::ProxyHeader:
        SY_LOG(Level::Info, info_.number, "client timed out (110: Connection timed out) while reading PROXY protocol, client: {}, server: {}",
               info_.remote_addr, info_.server_addr + ":" + std::to_string(info_.server_port));
        close();
        break;
    case SessionState::Handshake:
        SY_LOG(Level::Info, info_.number, "client timed out (110: Connection timed out) while SSL handshaking, client: {}, server: {}",
               info_.remote_addr, info_.server_addr + ":" + std::to_string(info_.server_port));
        close();
        break;
    case SessionState::ReadHead:
        if (hlen_ > 0 || parser_.in_message()) {
            SY_LOG(Level::Info, info_.number,
                   "client timed out (110: Connection timed out) while reading client request {}, client: {}, server: {}",
                   parser_.in_header_lines() ? "headers" : "line", info_.remote_addr,
                   info_.server_addr + ":" + std::to_string(info_.server_port));
            if (req_) { req_->status = 408; write_access_log(); }
        }
        close();
        break;
    case SessionState::KeepAlive:
    case SessionState::Lingering:
        close();
        break;
    case SessionState::Handling:
        log_error(Level::Info, "client timed out (110: Connection timed out) while reading client request body");
        if (!head_sent_) finalize_error(408);
        else close();
        break;
    case SessionState::Closed:
        break;
    }
}

// ---- PROXY protocol ---------------------------------------------------------------

// The header comes first, before TLS and the request (nginx reads it under
// client_header_timeout). $proxy_protocol_addr is the header's; with
// `real_ip_header proxy_protocol` and a peer in set_real_ip_from, each
// request's realip makes it $remote_addr too (Exchange::apply_realip).
void Session::read_proxy_header() {
    net::ProxyHeader h;
    std::string err;
    net::ProxyRead rc = net::read_proxy_header(sock_.io.fd, h, err);
    if (rc == net::ProxyRead::Again) {
        readable_ = false;
        return;
    }
    if (rc != net::ProxyRead::Done) {
        Level lvl = rc == net::ProxyRead::Invalid ? Level::Error : Level::Info;
        if (rc == net::ProxyRead::Closed) err = "client closed connection";
        SY_LOG(lvl, info_.number, "{} while reading PROXY protocol, client: {}, server: {}", err, info_.remote_addr,
               info_.server_addr + ":" + std::to_string(info_.server_port));
        close();
        return;
    }
    if (!h.local) {   // each request's realip decides whether it becomes $remote_addr
        info_.proxy_protocol_addr = h.src_addr;
        info_.proxy_protocol_port = h.src_port;
    }
    SY_LOG(Level::Debug, info_.number, "PROXY protocol v{}: {}:{}", h.version, h.src_addr, h.src_port);
    state_ = group_->listen->ssl ? SessionState::Handshake : SessionState::ReadHead;
}

// ---- TLS ----------------------------------------------------------------------

// The first byte tells a TLS handshake record (0x16, or SSLv2's high bit)
// from plain HTTP, which is read as HTTP and answered 400 (nginx's 497).
void Session::handshake() {
    if (!sock_.tls()) {
        unsigned char b = 0;
        ssize_t n = ::recv(sock_.io.fd, &b, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            readable_ = false;
            return;
        }
        if (n <= 0) {  // gone before saying anything
            SY_LOG(Level::Info, info_.number, "client closed connection while SSL handshaking, client: {}, server: {}",
                   info_.remote_addr, info_.server_addr + ":" + std::to_string(info_.server_port));
            close();
            return;
        }
        if (b != 0x16 && !(b & 0x80)) {
            plain_on_tls_ = true;
            state_ = SessionState::ReadHead;
            return;
        }
        const conf::Server* ds = group_->default_server;
        if (!ds->tls) {
            SY_LOG(Level::Error, info_.number,
                   "no \"ssl_certificate\" is defined in server listening on SSL port while SSL handshaking, client: {}, server: {}",
                   info_.remote_addr, info_.server_addr + ":" + std::to_string(info_.server_port));
            close();
            return;
        }
        if (!sock_.start_server(ds->tls->ctx, this)) {
            SY_LOG(Level::Alert, info_.number, "{} while SSL handshaking, client: {}", sock_.error(), info_.remote_addr);
            close();
            return;
        }
        loop().arm(read_timer_, *ds->conf.ssl_handshake_timeout);
    }
    int r = sock_.handshake();
    if (r == 0) return;
    if (r < 0) {
        SY_LOG(sock_.client_level(), info_.number, "{} while SSL handshaking, client: {}, server: {}", sock_.error(), info_.remote_addr,
               info_.server_addr + ":" + std::to_string(info_.server_port));
        close();
        return;
    }
    SSL* ssl = sock_.ssl();
    info_.ssl = true;
    info_.ssl_protocol = SSL_get_version(ssl);
    info_.ssl_cipher = SSL_get_cipher_name(ssl);
    info_.ssl_reused = SSL_session_reused(ssl) == 1;
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info_.ssl_server_name = sni;
    info_.client_cert = tls::peer_cert(ssl);
    if (gen_->cfg->http->keeps_ssl_session_vars) {
        info_.ssl_session_id = tls::session_id_hex(ssl);
        info_.ssl_ciphers = tls::client_ciphers(ssl);
    }
    SY_LOG(Level::Debug, info_.number, "SSL: {}, cipher: \"{}\", reused: {}, server name: \"{}\"", info_.ssl_protocol,
           info_.ssl_cipher, info_.ssl_reused, info_.ssl_server_name);
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn_len == 2 && alpn[0] == 'h' && alpn[1] == '2') {
        start_h2({});
        return;
    }
    state_ = SessionState::ReadHead;
    readable_ = true;  // the request may have come with the last handshake flight
    loop().arm(read_timer_, *group_->default_server->conf.client_header_timeout);
}

bool Session::h2_allowed() const {
    if (group_->listen && group_->listen->http2) return true;
    return *(sni_server_ ? sni_server_ : group_->default_server)->conf.http2;
}

void Session::start_h2(std::string_view already_read) {
    auto* h = new H2Connection(w_, gen_, group_, conn_info_);
    SSL* ssl = nullptr;
    int fd = hand_off(ssl);   // the HTTP/2 connection is the connection now
    h->start(fd, ssl, already_read);
}

int Session::hand_off(SSL*& ssl) {
    w_.untrack(this);
    w_.set_reusable(reuse_, false);
    loop().remove(sock_.io);
    int fd = sock_.io.fd;
    ssl = sock_.release_tls();
    sock_.io.fd = -1;
    state_ = SessionState::Closed;
    loop().disarm(read_timer_);
    loop().disarm(write_timer_);
    if (proxy_) loop().defer_delete(proxy_.release());
    loop().defer_delete(this);
    return fd;
}

SSL_CTX* Session::on_sni(const char* name) {
    std::string host;
    if (!name || !parse_host(name, host)) return nullptr;
    const conf::Server* s = group_->find(host, nullptr);
    sni_server_ = s;
    return s && s->tls ? s->tls->ctx : nullptr;
}

// ---- reading the head -------------------------------------------------------

bool Session::fill_head() {
    const conf::LocConf& lc = group_->default_server->conf;
    size_t limit = size_t(lc.large_client_header_buffers->first) * lc.large_client_header_buffers->second;
    if (state_ == SessionState::Handling) limit = std::max(limit, kBodyReadSize);
    while (readable_) {
        if (hlen_ == hcap_) {
            if (hparsed_ > 0 && state_ == SessionState::Handling) {
                std::memmove(hbuf_, hbuf_ + hparsed_, hlen_ - hparsed_);
                hlen_ -= hparsed_;
                hparsed_ = 0;
            }
            if (hlen_ == hcap_) {
                if (hcap_ >= limit) return true;  // full: the caller decides
                size_t ncap = hcap_ ? hcap_ * 2 : *lc.client_header_buffer_size;
                if (state_ == SessionState::Handling) ncap = std::max(ncap, kBodyReadSize);
                if (ncap > limit) ncap = limit;
                char* nb;
                if (!hbuf_ && ncap == kCachedHeadSize && !g_head_cache.free.empty()) {
                    nb = g_head_cache.free.back();
                    g_head_cache.free.pop_back();
                } else {
                    nb = static_cast<char*>(std::realloc(hbuf_, ncap));
                }
                if (!nb) return false;
                hbuf_ = nb;
                hcap_ = ncap;
            }
        }
        ssize_t n = sock_.read(hbuf_ + hlen_, hcap_ - hlen_);
        if (n > 0) {
            hlen_ += size_t(n);
            // a short read drained the socket, unless a FIN waits behind the
            // data (or TLS holds more records: read on to EAGAIN)
            if (hlen_ < hcap_ && sock_.short_read_drains()) readable_ = false;
            return true;
        }
        if (n == 0) {
            peer_eof_ = true;
            readable_ = false;
            return true;
        }
        if (errno != EAGAIN) {
            peer_eof_ = true;
            SY_LOG(sock_.client_level(), info_.number, "{} while reading client request, client: {}", sock_.error(), conn().remote_addr);
        }
        readable_ = false;
        return true;
    }
    return true;
}

void Session::release_head_buffer() {
    if (hparsed_ == hlen_ && hbuf_) {
        if (hcap_ == kCachedHeadSize && g_head_cache.free.size() < 4096) g_head_cache.free.push_back(hbuf_);
        else std::free(hbuf_);
        hbuf_ = nullptr;
        hcap_ = hlen_ = hparsed_ = 0;
    }
}

void Session::parse_head() {
    const conf::LocConf& dlc = group_->default_server->conf;
    const size_t large = dlc.large_client_header_buffers->second;
    const size_t total = size_t(dlc.large_client_header_buffers->first) * large;
    for (;;) {
        if (state_ != SessionState::ReadHead && state_ != SessionState::KeepAlive) return;
        if (hparsed_ == hlen_) {
            if (!readable_) {
                if (peer_eof_) close();
                return;
            }
            if (!fill_head()) { close(); return; }
            if (hparsed_ == hlen_) {
                if (peer_eof_) {
                    if (hlen_ > 0 || parser_.in_message())
                        SY_LOG(Level::Info, info_.number,
                               "client prematurely closed connection while reading client request headers, client: {}",
                               conn().remote_addr);
                    close();
                }
                return;
            }
        }
        if (state_ == SessionState::KeepAlive) {
            state_ = SessionState::ReadHead;
            loop().arm(read_timer_, *dlc.client_header_timeout);
        }
        if (info_.requests == 0 && hparsed_ == 0 && hbuf_[0] == 'P' && !sock_.tls() && h2_allowed()) {
            // h2c with prior knowledge: the connection preface instead of a request line
            static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
            size_t n = std::min(hlen_, kPreface.size());
            if (std::string_view(hbuf_, n) == kPreface.substr(0, n)) {
                if (n == kPreface.size()) {
                    start_h2(std::string_view(hbuf_, hlen_));
                    return;
                }
                if (!readable_ || peer_eof_) {
                    if (peer_eof_) close();
                    return;
                }
                if (!fill_head()) { close(); return; }
                continue;
            }
        }
        if (!req_) {
            req_ = std::make_unique<Request>();
            req_->start_mono = clock::now_ms();
            req_->start_ms = clock::wall_ms();
        }
        size_t consumed = 0;
        H1Parser::Event ev = parser_.feed(hbuf_, hparsed_, hlen_, consumed);
        hparsed_ += consumed;
        if (ev == H1Parser::Event::HeadDone || ev == H1Parser::Event::MessageDone) {
            // A head that arrived whole is held to the same limits as one in pieces.
            size_t start = parser_.head_start();
            const auto& url = parser_.url();
            if (url.off + url.len - start > large) {
                bad_request(414, "client sent too long URI while reading client request line");
                return;
            }
            for (auto& h : parser_.headers())
                if (h.value.off + h.value.len - h.name.off > large) {
                    too_long_header(h.name.off);
                    return;
                }
            if (hparsed_ - start > total) {
                bad_request(494, "client sent too large request while reading client request headers");
                return;
            }
            begin_request();
            return;
        }
        if (ev == H1Parser::Event::Error) {
            head_error();
            return;
        }
        // Need more: enforce nginx's header buffer limits.
        size_t start = parser_.head_start();
        if (!parser_.in_header_lines()) {
            if (hlen_ - start > large) {
                bad_request(414, "client sent too long URI while reading client request line");
                return;
            }
        } else if (hlen_ - parser_.line_start() > large) {
            too_long_header(parser_.line_start());
            return;
        }
        if (hlen_ - start >= total) {
            bad_request(494, "client sent too large request while reading client request headers");
            return;
        }
    }
}

// A head the parser refused: nginx's status and wording (ngx_http_parse.c results).
void Session::head_error() {
    // what was read of the request goes to the log context and $request, as nginx's
    if (req_ && parser_.in_message() && parser_.head_start() < hlen_) {
        Request& r = *req_;
        size_t start = parser_.head_start();
        r.raw.assign(hbuf_ + start, hlen_ - start);
        size_t eol = r.raw.find_first_of("\r\n");
        r.head.request_line = std::string_view(r.raw.data(), eol == std::string::npos ? r.raw.size() : eol);
        r.head.headers.clear();
        for (auto& h : parser_.headers())
            if (h.value.off + h.value.len <= hlen_ && h.name.off >= start)
                r.head.headers.push_back({std::string_view(r.raw.data() + (h.name.off - start), h.name.len),
                                          std::string_view(r.raw.data() + (h.value.off - start), h.value.len)});
    }
    switch (parser_.error()) {
    case H1Parser::Error::InvalidMethod:
        bad_request(400, "client sent invalid method while reading client request line");
        return;
    case H1Parser::Error::InvalidVersion:
        bad_request(505, "client sent invalid version while reading client request line");
        return;
    case H1Parser::Error::Invalid09Method:
        bad_request(400, "client sent invalid method in HTTP/0.9 request while reading client request line");
        return;
    case H1Parser::Error::InvalidHeader: {
        // nginx's form: the line up to the bad byte, that byte in hex, "..."
        size_t from = parser_.bad_line_start(), at = parser_.bad_pos();
        std::string_view line = at <= hlen_ && from <= at ? std::string_view(hbuf_ + from, at - from) : std::string_view();
        unsigned char bad = at < hlen_ ? static_cast<unsigned char>(hbuf_[at]) : 0;
        bad_request(400, fmt::format("client sent invalid header line: \"{}\\x{:02x}...\" while reading client request headers", line, bad));
        return;
    }
    case H1Parser::Error::InvalidFraming: {
        // a second Host, Content-Length or Transfer-Encoding, refused as it was read
        const auto& hs = parser_.headers();
        size_t i = parser_.framing_header(), j = parser_.framing_previous();
        if (i >= hs.size() || j >= hs.size()) break;
        auto view = [this](H1Parser::Span sp) { return std::string_view(hbuf_ + sp.off, sp.len); };
        if (parser_.framing_error() == H1Parser::Framing::DuplicateHost)
            bad_request(400, fmt::format("client sent duplicate host header: \"{}: {}\", previous value: \"{}: {}\" while reading client request headers",
                                         view(hs[i].name), view(hs[i].value), view(hs[j].name), view(hs[j].value)));
        else
            bad_request(400, fmt::format("client sent duplicate header line: \"{}: {}\", previous value: \"{}: {}\" while reading client request headers",
                                         view(hs[i].name), view(hs[i].value), view(hs[j].name), view(hs[j].value)));
        return;
    }
    default:
        break;
    }
    bad_request(400, "client sent invalid request while reading client request line");
}

void Session::too_long_header(size_t off) {
    size_t n = std::min<size_t>(hlen_ - off, 64);
    std::string_view line(hbuf_ + off, n);
    line = line.substr(0, line.find_first_of("\r\n"));
    bad_request(494, "client sent too long header line: \"" + std::string(line) + "...\" while reading client request headers");
}

// The head is copied out of the buffer so the buffer can be reused for the body.
void Session::begin_request() {
    loop().disarm(read_timer_);
    state_ = SessionState::Handling;
    Request& r = *req_;
    ++info_.requests;
    r.conn_requests = info_.requests;
    size_t start = parser_.head_start();
    size_t end = hparsed_;
    r.request_length = end - start;
    r.head.head_bytes = end - start;
    r.raw.assign(hbuf_ + start, end - start);
    const char* base = r.raw.data();
    auto view = [&](const H1Parser::Span& s) { return std::string_view(base + (s.off - start), s.len); };
    r.head.method = view(parser_.method());
    r.head.target = view(parser_.url());
    size_t line_end = r.raw.find_first_of("\r\n");
    r.head.request_line = std::string_view(base, line_end == std::string::npos ? r.raw.size() : line_end);
    r.head.version = parser_.version();
    // nginx's ignore_invalid_headers: names with anything but letters, digits
    // and '-' ('_' with underscores_in_headers) are dropped with an info line.
    const conf::LocConf& dlc = group_->default_server->conf;
    r.head.headers.reserve(parser_.headers().size());
    for (auto& h : parser_.headers()) {
        std::string_view name = view(h.name);
        if (*dlc.ignore_invalid_headers) {
            bool valid = !name.empty();
            for (char c : name)
                valid &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || (c == '_' && *dlc.underscores_in_headers);
            if (!valid) {
                // nginx logs the line as received, up to the end of the value
                std::string_view line(name.data(), size_t(h.value.off + h.value.len - h.name.off));
                SY_LOG(Level::Info, info_.number, "client sent invalid header line: \"{}\" while reading client request headers, client: {}",
                       line, conn().remote_addr);
                continue;
            }
        }
        r.head.headers.push_back({name, view(h.value)});
    }
    r.head.chunked = parser_.chunked();
    r.head.content_length = parser_.has_length() ? int64_t(parser_.content_length()) : -1;
    r.head.keep_alive = parser_.keep_alive();
    // compact: what follows the head is body or the next request
    std::memmove(hbuf_, hbuf_ + hparsed_, hlen_ - hparsed_);
    hlen_ -= hparsed_;
    hparsed_ = 0;

    r.server = group_->default_server;
    r.lc = &r.server->conf;
    if (r.head.version >= 20) { bad_request(505, "client sent invalid version while reading client request line"); return; }
    if (r.head.version < 10) { bad_request(400, "client sent invalid request while reading client request line"); return; }

    // nginx's header handlers, in the order the headers came (duplicates and
    // the Host value are refused as they are read), then the request checks
    // of ngx_http_process_request_header
    const Header* host = nullptr;
    const Header* encoding = nullptr;
    const Header* seen[kUniqueHeaderCount] = {};
    for (auto& h : r.head.headers) {
        // nginx's ngx_http_process_unique_header_line: fields a request may carry once
        int u = unique_header_index(h.name);
        if (u >= 0) {
            if (seen[u]) {
                bad_request(400, fmt::format("client sent duplicate header line: \"{}: {}\", previous value: \"{}: {}\" while reading client request headers",
                                             h.name, h.value, seen[u]->name, seen[u]->value));
                return;
            }
            seen[u] = &h;
        }
        if (ieq(h.name, "host")) {
            if (host) { bad_request(400, "client sent duplicate host header: \"" + std::string(h.name) + ": " + std::string(h.value) + "\", previous value: \"Host: " + std::string(host->value) + "\" while reading client request headers"); return; }
            host = &h;
            if (!parse_host(h.value, r.host)) { bad_request(400, "client sent invalid host header while reading client request headers"); return; }
        } else if (ieq(h.name, "transfer-encoding")) {
            encoding = &h;
        } else if (ieq(h.name, "upgrade")) {
            r.head.upgrade = true;
        } else if (ieq(h.name, "expect")) {
            r.head.expect_continue = ieq(h.value, "100-continue");
        }
    }
    if (!host && r.head.version == 11) {
        bad_request(400, "client sent HTTP/1.1 request without \"Host\" header while reading client request headers");
        return;
    }
    switch (parser_.framing_error()) {
    case H1Parser::Framing::Ok:
        break;
    case H1Parser::Framing::InvalidLength:
        bad_request(400, "client sent invalid \"Content-Length\" header while reading client request headers");
        return;
    case H1Parser::Framing::EncodingHttp10:
        bad_request(400, "client sent HTTP/1.0 request with \"Transfer-Encoding\" header while reading client request headers");
        return;
    case H1Parser::Framing::LengthAndEncoding:
        bad_request(400, "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading client request headers");
        return;
    case H1Parser::Framing::UnknownEncoding:
        bad_request(501, "client sent unknown \"Transfer-Encoding\": \"" + std::string(encoding ? encoding->value : std::string_view()) + "\" while reading client request headers");
        return;
    default:  // a duplicate the loop above did not see (ignore_invalid_headers off)
        bad_request(400, "client sent duplicate header line while reading client request headers");
        return;
    }
    if (r.head.method == "TRACE") {
        bad_request(405, "client sent TRACE method while reading client request headers");
        return;
    }
    if (r.head.target.size() > 0 && r.head.target[0] != '/') {
        // absolute-form carries the host
        std::string_view t = r.head.target;
        size_t p = t.find("://");
        if (p != std::string_view::npos) {
            std::string_view auth = t.substr(p + 3);
            auth = auth.substr(0, auth.find_first_of("/?"));
            if (!parse_host(auth, r.host)) { bad_request(400, "client sent invalid host in request line"); return; }
        }
    }
    r.server = group_->find(r.host, &r);
    r.lc = &r.server->conf;
    if (!normalize_uri(r.head.target, *r.server->conf.merge_slashes, r.uri, r.args)) {
        bad_request(400, "client sent invalid request while reading client request line");
        return;
    }
    if (plain_on_tls_) {
        // nginx's 497: error_page 497 may catch it, else a 400 page; never kept alive
        keepalive_ = false;
        body_done_ = true;
        log_error(Level::Info, "client sent plain HTTP request to HTTPS port while reading client request headers");
        finalize_error(497);
        return;
    }
    if (int st = tls_refusal(" while reading client request headers")) {
        if (st != 421) {   // 495 / 496: nginx closes after the answer
            keepalive_ = false;
            body_done_ = true;
        }
        finalize_error(st);
        return;
    }
    keepalive_ = r.head.keep_alive && *r.server->conf.keepalive_timeout > 0 &&
                 info_.requests < *r.server->conf.keepalive_requests;
    body_done_ = !r.head.chunked && r.head.content_length <= 0;
    body_received_ = 0;
    chunk_too_large_.clear();
    reading_body_ = false;
    body_consumer_ = nullptr;
    sent_continue_ = false;
    response_done_ = head_sent_ = false;
    redirects_ = 0;
    route();
}

// ---- routing and handlers ---------------------------------------------------

void Session::bad_request(int status, std::string_view why) {
    log_error(Level::Info, why);
    keepalive_ = false;
    if (!req_) req_ = std::make_unique<Request>();
    if (!req_->server) {
        req_->server = group_->default_server;
        req_->lc = &req_->server->conf;
    }
    state_ = SessionState::Handling;
    body_done_ = true;
    finalize_error(status);
}

// ---- request body -----------------------------------------------------------

void Session::read_body(BodyConsumer* c) {
    body_consumer_ = c;
    if (body_done_) {
        if (c) c->on_body_end();
        return;
    }
    reading_body_ = true;
    // A consumer that gives up from inside its on_body() (read_body(nullptr)
    // before it goes) is swapped out; the feeding loop below goes on, discarding.
    if (feeding_body_) return;
    if (c && req_->head.expect_continue && !sent_continue_ && req_->head.version == 11 && hlen_ == 0) {
        sent_continue_ = true;
        out_.append("HTTP/1.1 100 Continue\r\n\r\n");
        flush();
        if (state_ == SessionState::Closed) return;
    }
    feed_body();
}

void Session::pause_body(bool paused) {
    if (body_paused_ == paused) return;
    body_paused_ = paused;
    if (!paused && !in_drive_) loop().post([this, n = info_.number] {
        (void)n;
        if (state_ != SessionState::Closed) drive();
    });
}

void Session::on_chunk_header(uint64_t size) {
    const conf::LocConf& lc = *req_->lc;
    uint64_t max = *lc.client_max_body_size;
    if (max > 0 && chunk_too_large_.empty() && body_received_ + size > max)
        chunk_too_large_ = std::to_string(body_received_) + "+" + std::to_string(size);
}

void Session::on_body_data(std::string_view data) {
    body_received_ += data.size();
    if (body_consumer_) body_consumer_->on_body(data);
}

void Session::feed_body() {
    Request& r = *req_;
    struct Feeding {
        bool& f;
        explicit Feeding(bool& x) : f(x) { f = true; }
        ~Feeding() { f = false; }
    } feeding(feeding_body_);
    while (reading_body_ && !body_paused_ && state_ != SessionState::Closed) {
        if (hparsed_ < hlen_) {
            parser_.set_sink(this);
            size_t consumed = 0;
            H1Parser::Event ev = parser_.feed(hbuf_, hparsed_, hlen_, consumed);
            parser_.set_sink(nullptr);
            hparsed_ += consumed;
            if (state_ == SessionState::Closed) return;
            if (!chunk_too_large_.empty()) {
                log_error(Level::Error, "client intended to send too large chunked body: " + chunk_too_large_ + " bytes");
                reading_body_ = false;
                body_done_ = true;
                keepalive_ = false;
                if (!head_sent_) finalize_error(413);
                else close();
                return;
            }
            if (ev == H1Parser::Event::MessageDone) {
                reading_body_ = false;
                body_done_ = true;
                loop().disarm(read_timer_);
                std::memmove(hbuf_, hbuf_ + hparsed_, hlen_ - hparsed_);
                hlen_ -= hparsed_;
                hparsed_ = 0;
                if (body_consumer_) body_consumer_->on_body_end();
                if (state_ == SessionState::Closed) return;
                if (response_done_ && out_.empty() && file_fd_ < 0) finish_request();
                return;
            }
            if (ev == H1Parser::Event::Error) {
                reading_body_ = false;
                body_done_ = true;
                keepalive_ = false;
                log_error(Level::Error, "client sent invalid chunked body");
                if (!head_sent_) finalize_error(400);
                else close();
                return;
            }
            if (hparsed_ == hlen_) hparsed_ = hlen_ = 0;
            continue;
        }
        if (!readable_) break;
        if (!fill_head()) { close(); return; }
        if (hparsed_ == hlen_ && peer_eof_) {
            reading_body_ = false;
            log_error(Level::Info, "client prematurely closed connection while reading client request body");
            r.status = 400;
            if (proxy_) proxy_->on_client_abort();
            close();
            return;
        }
    }
    if (reading_body_ && !body_paused_) loop().arm(read_timer_, *r.lc->client_body_timeout);
}

// ---- response output --------------------------------------------------------

void Session::write_head(HeadBuilder& h, bool body_framed) {
    Request& r = *req_;
    if (!body_framed) keepalive_ = false;
    if (r.status != 101) h.add("Connection", keepalive_ ? "keep-alive" : "close");
    h.finish();
    head_sent_ = true;
    r.bytes_sent += h.out.size();
    out_.append(h.out);
    if (writable_ && !hold_) flush();
}

void Session::hold_output(bool on) {
    hold_ = on;
    if (!on && state_ != SessionState::Closed && writable_ && (!out_.empty() || file_fd_ >= 0)) flush();
}

void Session::send(std::string_view bytes) {
    if (state_ == SessionState::Closed || bytes.empty()) return;
    if (chunk_out_) {   // add_trailer made the body chunked
        std::string size = fmt::format("{:x}\r\n", bytes.size());
        req_->bytes_sent += size.size() + 2;
        out_.append(size);
        req_->bytes_sent += bytes.size();
        out_.append(bytes);
        out_.append(std::string_view("\r\n"));
        if (writable_ && !hold_) flush();
        return;
    }
    req_->bytes_sent += bytes.size();
    out_.append(bytes);
    if (writable_ && !hold_) flush();
}

void Session::send(Buf&& b) {
    if (state_ == SessionState::Closed || b.empty()) return;
    if (chunk_out_) {
        std::string size = fmt::format("{:x}\r\n", b.size());
        req_->bytes_sent += size.size() + 2;
        out_.append(size);
        req_->bytes_sent += b.size();
        out_.push(std::move(b));
        out_.append(std::string_view("\r\n"));
        if (writable_ && !hold_) flush();
        return;
    }
    req_->bytes_sent += b.size();
    out_.push(std::move(b));
    if (writable_ && !hold_) flush();
}

void Session::end_response(bool keepalive_ok) {
    if (state_ == SessionState::Closed) return;
    if (!keepalive_ok) keepalive_ = false;
    if (chunk_out_ && !response_done_) {   // the body's end: the last chunk with the trailers
        std::string last = last_chunk();
        req_->bytes_sent += last.size();
        if (file_fd_ >= 0) file_tail_ += last;
        else out_.append(last);
        chunk_out_ = false;
        if (writable_ && !hold_ && file_fd_ < 0) flush();
        if (state_ == SessionState::Closed) return;
    }
    response_done_ = true;
    if (!body_done_ && !reading_body_) read_body(nullptr);
    if (state_ == SessionState::Closed) return;
    if (out_.empty() && file_fd_ < 0 && body_done_) finish_request();
}

void Session::abort_response() {
    keepalive_ = false;
    close();
}

void Session::flush() {
    if (state_ == SessionState::Closed) return;
    for (;;) {
        if (!out_.empty()) {
            ssize_t n = sock_.send(out_);
            if (n < 0) {
                if (req_ && !req_->status) req_->status = 499;
                SY_LOG(sock_.client_level(), info_.number, "{} while sending to client, client: {}", sock_.error(), conn().remote_addr);
                close();
                return;
            }
            if (!out_.empty()) {
                writable_ = false;
                if (req_) loop().arm(write_timer_, *req_->lc->send_timeout);
                return;
            }
        }
        if (file_fd_ >= 0) {
            if (file_off_ < file_end_ && sock_.tls()) {
                // no sendfile through TLS: the file goes through the queue a chunk at a time
                Buf b = Buf::take();
                size_t want = std::min<size_t>(b.room(), size_t(file_end_ - file_off_));
                ssize_t n = ::pread(file_fd_, b.tail(), want, file_off_);
                if (n <= 0) {
                    SY_LOG(Level::Crit, info_.number, "pread() failed ({}: {}) while sending response to client", errno, strerror(errno));
                    close();
                    return;
                }
                b.commit(size_t(n));
                file_off_ += n;
                out_.push(std::move(b));
                continue;
            }
            if (file_off_ < file_end_) {
                ssize_t n = ::sendfile(sock_.io.fd, file_fd_, &file_off_, size_t(file_end_ - file_off_));
                if (n < 0 && errno == EAGAIN) {
                    writable_ = false;
                    if (req_) loop().arm(write_timer_, *req_->lc->send_timeout);
                    return;
                }
                if (n <= 0) {
                    SY_LOG(Level::Info, info_.number, "sendfile() failed ({}: {}) while sending response to client", errno, strerror(errno));
                    close();
                    return;
                }
                continue;
            }
            ::close(file_fd_);
            file_fd_ = -1;
            if (!file_tail_.empty()) {   // a chunked file body's end (add_trailer)
                out_.append(file_tail_);
                file_tail_.clear();
                continue;
            }
        }
        break;
    }
    loop().disarm(write_timer_);
    if (proxy_ && state_ == SessionState::Handling) proxy_->on_client_drained();
    else if (ssi_ && state_ == SessionState::Handling) ssi_drained();   // an SSI include's proxy
    if (state_ == SessionState::Closed) return;
    if (response_done_ && body_done_ && out_.empty() && file_fd_ < 0 && state_ == SessionState::Handling) finish_request();
}

void Session::finish_request() {
    if (state_ != SessionState::Handling) return;
    write_access_log();
    if (proxy_) loop().defer_delete(proxy_.release());
    if (const conf::LocConf* lc = req_->lc ? req_->lc : (req_->server ? &req_->server->conf : nullptr)) {
        linger_mode_ = lc->lingering_close.value_or(conf::Lingering::On);
        linger_time_ = lc->lingering_time.value_or(30000);
        linger_timeout_ = lc->lingering_timeout.value_or(5000);
    }
    req_.reset();
    realip_.reset();
    body_consumer_ = nullptr;
    response_done_ = head_sent_ = false;
    expect_trailers_ = chunk_out_ = false;
    file_tail_.clear();
    if (!keepalive_ || peer_eof_ || w_.draining()) {
        // nginx: "always" lingers, "on" only when the client may still send, "off" never
        if (linger_mode_ == conf::Lingering::Always ||
            (linger_mode_ == conf::Lingering::On && (hlen_ > hparsed_ || readable_))) {
            linger();
            return;
        }
        close();
        return;
    }
    parser_.reset();
    state_ = SessionState::KeepAlive;
    if (hlen_ > hparsed_) {
        // pipelined request already buffered: parse it on the next turn
        loop().post([this] {
            if (state_ == SessionState::KeepAlive) drive();
        });
        return;
    }
    release_head_buffer();
    w_.set_reusable(reuse_, true);   // the most recently idle now
    loop().arm(read_timer_, *group_->default_server->conf.keepalive_timeout);
    if (readable_) loop().post([this] {
        if (state_ == SessionState::KeepAlive) drive();
    });
}

void Session::send_file(int fd, off_t from, off_t len) {
    file_fd_ = fd;
    file_off_ = from;
    file_end_ = from + len;
    if (chunk_out_ && len > 0) {   // add_trailer made the body chunked
        std::string size = fmt::format("{:x}\r\n", uint64_t(len));
        req_->bytes_sent += size.size() + 2;
        out_.append(size);
        file_tail_ = "\r\n";
    }
    if (writable_ && !hold_) flush();
}

// What never left (the client went away first) was not sent: $bytes_sent and
// $body_bytes_sent count what was written to the socket, as nginx's do.
void Session::discount_unsent() {
    if (!req_) return;
    uint64_t unsent = out_.bytes() + uint64_t(file_fd_ >= 0 ? file_end_ - file_off_ : 0) + (file_fd_ >= 0 ? file_tail_.size() : 0);
    req_->body_bytes_sent -= std::min(req_->body_bytes_sent, unsent);
    req_->bytes_sent -= std::min(req_->bytes_sent, unsent);
}

void Session::drop() {
    discount_unsent();
    write_access_log();
    req_.reset();
    close();
}

// Lingering close: stop writing, drain what the client still sends for a
// while, so our last response is not destroyed by a reset.
void Session::linger() {
    uint64_t now = clock::now_ms();
    if (state_ != SessionState::Lingering) {
        state_ = SessionState::Lingering;
        sock_.shutdown_write();
        linger_end_ = now + linger_time_;   // lingering_time bounds the whole drain
    }
    if (now >= linger_end_) {
        close();
        return;
    }
    char buf[4096];
    for (;;) {
        ssize_t n = sock_.read(buf, sizeof buf);
        if (n > 0) continue;
        if (n < 0 && errno == EAGAIN) {
            readable_ = false;
            // lingering_timeout: the longest wait for more, never past lingering_time
            loop().arm(read_timer_, std::min(linger_timeout_, linger_end_ - now));
            return;
        }
        close();
        return;
    }
}

void Session::close() {
    if (state_ == SessionState::Closed) return;
    // the upstream try ends first, so the log line has its response time
    if (proxy_) proxy_->on_client_abort();
    discount_unsent();
    if (req_ && (req_->status || head_sent_)) write_access_log();
    else if (req_ && state_ == SessionState::Handling) {
        req_->status = req_->status ? req_->status : 499;
        write_access_log();
    }
    state_ = SessionState::Closed;
    w_.set_reusable(reuse_, false);
    SY_LOG(Level::Debug, info_.number, "close http connection: {} requests", info_.requests);
    loop().disarm(read_timer_);
    loop().disarm(write_timer_);
    if (proxy_) loop().defer_delete(proxy_.release());
    if (sock_.io.fd >= 0) {
        loop().remove(sock_.io);
        sock_.close();
        w_.conn_closed();
    }
    loop().defer_delete(this);
}

void Session::upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string upstream_addr,
                      const conf::Upstream* up, size_t peer) {
    Request& r = *req_;
    const conf::LocConf& lc = *r.lc;
    tunnel::Tunnel::Params p;
    p.read_timeout = *lc.proxy_read_timeout;
    p.send_timeout = *lc.proxy_send_timeout;
    p.client_send_timeout = *lc.send_timeout;
    p.upstream_addr = std::move(upstream_addr);
    p.up = up;
    p.peer = peer;
    OutQueue to_upstream;
    if (hlen_ > hparsed_) to_upstream.append(std::string_view(hbuf_ + hparsed_, hlen_ - hparsed_));
    // what the session had not yet written goes first, then upstream's extra bytes
    OutQueue to_client = std::move(out_);
    SY_LOG(Level::Debug, info_.number, "upgraded: tunnel to {}, {} bytes pipelined by the client, {} queued for it",
           p.upstream_addr, to_upstream.bytes(), to_client.bytes());
    auto* t = new tunnel::Tunnel(w_, gen_, std::move(req_), conn(), p);
    SSL* cssl = nullptr;
    int cfd = hand_off(cssl);   // the tunnel is the connection now
    t->start(cfd, cssl, upstream_fd, upstream_ssl, std::move(to_client), std::move(from_upstream), std::move(to_upstream));
}

// ---- logging ----------------------------------------------------------------

}  // namespace sy::http

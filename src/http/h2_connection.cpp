#include "http/h2_connection.h"

#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "http/h2_stream.h"

namespace sy::http {

namespace {
enum { kIdleTimer = 0, kSendTimer = 1 };
constexpr size_t kOutHighWater = 65536;      // frames pulled from nghttp2 before writing
constexpr int32_t kConnWindow = 16 << 20;    // connection receive window: one slow stream can't stall the rest
constexpr uint32_t kNoLimit = 0xffffffffu;     // nghttp2's own default for MAX_CONCURRENT_STREAMS
constexpr int kReadBudget = 4;               // 16 KiB reads per wake-up, then write and yield
constexpr uint64_t kFloodSlack = 1 << 20;    // nginx: flood once received / 8 > payload + 1 MiB
alignas(64) uint8_t g_in[16384];

H2Stream* stream_of(nghttp2_session* ng, int32_t id) {
    return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, id));
}
}  // namespace

// nghttp2's callbacks, in one place; each forwards to the connection or a stream.
struct H2Callbacks {
    static int begin_headers(nghttp2_session* ng, const nghttp2_frame* f, void* ud) {
        auto* c = static_cast<H2Connection*>(ud);
        if (f->hd.type != NGHTTP2_HEADERS) return 0;
        c->hdr_bytes_ = 0;   // a new header block (request, or trailers)
        if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
        bool refuse = false;
        if (c->streams_.size() >= c->max_streams_) {
            // RFC 9113 5.1.2: a stream over the advertised limit is a stream
            // error; the others go on (nginx: "concurrent streams exceeded").
            SY_LOG(Level::Info, c->info_.number, "concurrent streams exceeded {}, client: {}", c->streams_.size(),
                   c->info_.remote_addr);
            refuse = true;
        } else if (c->new_streams_++ >= 2 * c->max_streams_) {
            // nginx 1.25.3 (CVE-2023-44487): streams are begun faster than
            // they can be handled
            SY_LOG(Level::Info, c->info_.number, "client sent too many streams at once while processing HTTP/2 "
                   "connection, client: {}", c->info_.remote_addr);
            refuse = true;
        }
        if (refuse) {
            // ... and a client that goes on being refused is shown the door
            if (c->refused_++ > std::max<uint32_t>(c->max_streams_, 100))
                return c->fail(NGHTTP2_NO_ERROR, "client sent too many refused streams");
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
            // no H2Stream: its headers (still decoded, and bounded: see
            // header()) and DATA are dropped (data_chunk())
            return 0;
        }
        c->priority_limit_ += c->max_streams_;
        auto* s = new H2Stream(*c, f->hd.stream_id);
        c->streams_[f->hd.stream_id] = s;
        nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, s);
        // nginx 1.19.7+: keepalive_requests streams per connection, then
        // GOAWAY (this stream is still served)
        if (++c->accepted_ >= *c->group_->default_server->conf.keepalive_requests) c->drain();
        return 0;
    }

    static int header(nghttp2_session* ng, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
        auto* c = static_cast<H2Connection*>(ud);
        // nginx: the fields of one header block (a refused stream's too:
        // HPACK makes us decode it) may not exceed large_client_header_buffers;
        // more is a connection error, so an HPACK bomb (one big table entry
        // referenced thousands of times) costs one block, not megabytes.
        if (namelen > c->field_limit_ || valuelen > c->field_limit_)
            return c->fail(NGHTTP2_ENHANCE_YOUR_CALM, "client sent too large header field");
        c->hdr_bytes_ += namelen + valuelen;
        if (c->hdr_bytes_ > c->hdr_limit_) return c->fail(NGHTTP2_ENHANCE_YOUR_CALM, "client sent too large header");
        if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
        H2Stream* s = stream_of(ng, f->hd.stream_id);
        if (!s) return 0;
        if (!s->on_header({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen}))
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }

    static int frame_recv(nghttp2_session* ng, const nghttp2_frame* f, void* ud) {
        if (f->hd.type == NGHTTP2_PRIORITY) {
            // nginx: max(http2_max_concurrent_streams, 100) PRIORITY frames,
            // that many more with each stream taken
            auto* c = static_cast<H2Connection*>(ud);
            if (--c->priority_limit_ == 0) return c->fail(NGHTTP2_ENHANCE_YOUR_CALM, "client sent too many PRIORITY frames");
            return 0;
        }
        H2Stream* s = f->hd.stream_id ? stream_of(ng, f->hd.stream_id) : nullptr;
        if (!s) return 0;
        bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
        if (f->hd.type == NGHTTP2_HEADERS) {
            if (f->headers.cat == NGHTTP2_HCAT_REQUEST) s->on_headers_done(end);
            else if (end) s->on_end_stream();
        } else if (f->hd.type == NGHTTP2_DATA && end) {
            s->on_end_stream();
        }
        return 0;
    }

    static int data_chunk(nghttp2_session* ng, uint8_t, int32_t id, const uint8_t* data, size_t len, void* ud) {
        static_cast<H2Connection*>(ud)->payload_bytes_ += len;
        if (H2Stream* s = stream_of(ng, id)) s->on_data(data, len);
        else nghttp2_session_consume(ng, id, len);   // a stream we reset: give the window back
        return 0;
    }

    static int stream_close(nghttp2_session* ng, int32_t id, uint32_t code, void* ud) {
        if (H2Stream* s = stream_of(ng, id)) {
            nghttp2_session_set_stream_user_data(ng, id, nullptr);
            s->on_close(code);
        }
        static_cast<H2Connection*>(ud)->stream_closed(id);
        return 0;
    }

    // A stream error nghttp2 found in what the client sent (flow control,
    // malformed headers, frames on a closed stream): say so, as nginx does.
    static int frame_send(nghttp2_session*, const nghttp2_frame* f, void* ud) {
        if (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) {
            // nginx counts what it sends of responses as payload too
            auto* c = static_cast<H2Connection*>(ud);
            c->total_bytes_ += 9 + f->hd.length;
            c->payload_bytes_ += f->hd.length;
            return 0;
        }
        if (f->hd.type != NGHTTP2_RST_STREAM) return 0;
        uint32_t code = f->rst_stream.error_code;
        if (code == NGHTTP2_NO_ERROR || code == NGHTTP2_CANCEL || code == NGHTTP2_REFUSED_STREAM ||
            code == NGHTTP2_INTERNAL_ERROR || code == NGHTTP2_CONNECT_ERROR)
            return 0;   // ours: logged where they were decided
        auto* c = static_cast<H2Connection*>(ud);
        SY_LOG(Level::Info, c->info_.number, "client sent invalid HTTP/2 data on stream {}: reset with {} while "
               "processing HTTP/2 connection, client: {}", f->hd.stream_id, nghttp2_http2_strerror(code),
               c->info_.remote_addr);
        return 0;
    }

    static ssize_t read_data(nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                             nghttp2_data_source* src, void*) {
        return static_cast<H2Stream*>(src->ptr)->read_data(buf, len, flags);
    }

    static nghttp2_session_callbacks* make() {
        nghttp2_session_callbacks* cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, stream_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(cb, frame_send);
        return cb;
    }
};

nghttp2_data_source_read_callback h2_read_data_callback() { return H2Callbacks::read_data; }

H2Connection::H2Connection(Worker& w, std::shared_ptr<Generation> gen, const ServerGroup* group, ConnInfo info)
    : w_(w), gen_(std::move(gen)), group_(group), info_(std::move(info)) {
    info_.h2 = true;
    sock_.io.owner = this;
    idle_.owner = send_.owner = this;
    idle_.tag = kIdleTimer;
    send_.tag = kSendTimer;
    w_.track(this);
    reuse_.owner = this;
}

H2Connection::~H2Connection() {
    *alive_ = false;
    for (auto& [id, s] : streams_) delete s;
    if (ng_) nghttp2_session_del(ng_);
    w_.untrack(this);
    w_.set_reusable(reuse_, false);
}

void H2Connection::start(int fd, SSL* ssl, std::string_view already_read) {
    sock_.adopt(fd, ssl, this);
    static nghttp2_session_callbacks* cbs = H2Callbacks::make();
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // request DATA is acknowledged as the body consumer takes it (flow control end to end)
    nghttp2_option_set_no_auto_window_update(opt, 1);
    // closed streams are kept only for the RFC 7540 priority tree, up to
    // MAX_CONCURRENT_STREAMS of them: with kNoLimit (below) every reset
    // stream would stay. nghttp2's other limits stay at their defaults:
    // 1000 queued SETTINGS/PING ACKs (NGHTTP2_ERR_FLOODED), 32 settings a
    // frame, 8 CONTINUATIONs, the stream reset rate limit.
    nghttp2_option_set_no_closed_streams(opt, 1);
    int rv = nghttp2_session_server_new2(&ng_, cbs, this, opt);
    nghttp2_option_del(opt);
    if (rv != 0) {
        SY_LOG(Level::Alert, info_.number, "nghttp2_session_server_new2() failed: {}", nghttp2_strerror(rv));
        close(Level::Debug, "");
        return;
    }
    const conf::LocConf& lc = group_->default_server->conf;
    max_streams_ = *lc.http2_max_concurrent_streams;
    hdr_limit_ = size_t(lc.large_client_header_buffers->first) * lc.large_client_header_buffers->second;
    field_limit_ = size_t(lc.large_client_header_buffers->second);
    priority_limit_ = std::max<uint64_t>(max_streams_, 100);
    // nghttp2 ends the whole connection (GOAWAY PROTOCOL_ERROR) when a client
    // goes over the limit it has acknowledged, where RFC 9113 5.1.2 and nginx
    // refuse that stream alone. So nghttp2 is given no limit (kNoLimit) and
    // the client is told the real one: advertise_stream_limit() writes it into
    // the serialized SETTINGS frame, and begin_headers() enforces it.
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kNoLimit},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},   // RFC 8441: WebSockets over HTTP/2
    };
    nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kConnWindow);
    if (!w_.loop().add(sock_.io)) {
        close(Level::Alert, "epoll_ctl() failed");
        return;
    }
    SY_LOG(Level::Debug, info_.number, "http2 connection: {}", sock_.tls() ? "h2" : "h2c");
    if (!already_read.empty()) {
        total_bytes_ += already_read.size();
        ssize_t n = recv(reinterpret_cast<const uint8_t*>(already_read.data()), already_read.size());
        if (failed_) {
            goaway_and_close(fail_code_, Level::Info, fail_why_ + " while processing HTTP/2 connection");
            return;
        }
        if (n >= 0) start_ready();
        if (closed_) return;
        if (n < 0) {
            close(Level::Info, std::string("client sent invalid HTTP/2 data (") + nghttp2_strerror(int(n)) +
                                   ") while processing HTTP/2 connection");
            return;
        }
    }
    readable_ = true;   // TLS may hold records already; the socket is polled from here on
    io();
}

void H2Connection::on_io(int, uint32_t events) {
    if (closed_) return;
    sock_.on_events(events, readable_, writable_);
    io();
}

void H2Connection::on_timer(int tag) {
    if (closed_) return;
    if (tag == kSendTimer) close(Level::Info, "client timed out (110: Connection timed out) while sending to client");
    else close(Level::Debug, "");   // keepalive_timeout with no stream open
}

// One wake-up: at most kReadBudget reads, then what they produced is
// written; input left on the socket is read in the next loop iteration,
// after the other connections had their turn.
void H2Connection::io() {
    if (in_io_ || closed_) return;
    in_io_ = true;
    bool ok = true;
    // don't take more requests while the client is not reading our answers
    if (readable_ && out_.bytes() < kOutHighWater) ok = read_in();
    if (ok) ok = write_out();
    in_io_ = false;
    if (!ok || closed_) return;
    if (readable_ && out_.bytes() < kOutHighWater && nghttp2_session_want_read(ng_)) post_read();
    if (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_) && out_.empty()) {
        close(Level::Debug, "");
        return;
    }
    if (draining_ && streams_.empty() && out_.empty()) {
        close(Level::Debug, "");
        return;
    }
    arm_timers();
}

// nginx does not insist that the client's first frame be a SETTINGS
// (nghttp2 answers anything else with GOAWAY "SETTINGS expected"); some
// clients, nginx's own test client among them, send a SETTINGS ACK or
// HEADERS first. The preface and the first frame header are held until the
// frame's type is known; when it is not a SETTINGS, an empty SETTINGS is fed
// to nghttp2 before it.
ssize_t H2Connection::recv(const uint8_t* data, size_t len) {
    if (first_frame_seen_) return nghttp2_session_mem_recv(ng_, data, len);
    static constexpr size_t kMagic = 24, kFrameHead = 9;
    preface_.append(reinterpret_cast<const char*>(data), len);
    if (preface_.size() < kMagic + kFrameHead) return ssize_t(len);
    first_frame_seen_ = true;
    std::string held;
    held.swap(preface_);
    const auto* p = reinterpret_cast<const uint8_t*>(held.data());
    const uint8_t type = p[kMagic + 3], flags = p[kMagic + 4];
    ssize_t rv = nghttp2_session_mem_recv(ng_, p, kMagic);
    if (rv < 0) return rv;
    if (type != NGHTTP2_SETTINGS || (flags & NGHTTP2_FLAG_ACK)) {
        static constexpr uint8_t kEmptySettings[kFrameHead] = {0, 0, 0, NGHTTP2_SETTINGS, 0, 0, 0, 0, 0};
        rv = nghttp2_session_mem_recv(ng_, kEmptySettings, sizeof kEmptySettings);
        if (rv < 0) return rv;
    }
    rv = nghttp2_session_mem_recv(ng_, p + kMagic, held.size() - kMagic);
    return rv < 0 ? rv : ssize_t(len);
}

bool H2Connection::read_in() {
    new_streams_ = 0;   // nginx: per read event
    for (int budget = kReadBudget; budget > 0 && readable_ && !closed_; --budget) {
        // a GOAWAY for an error was queued (nghttp2's, for a protocol error):
        // nothing more is read, the connection closes once it is written
        if (!nghttp2_session_want_read(ng_)) break;
        ssize_t n = sock_.read(reinterpret_cast<char*>(g_in), sizeof g_in);
        if (n > 0) {
            total_bytes_ += uint64_t(n);
            ssize_t used = recv(g_in, size_t(n));
            if (failed_) {
                goaway_and_close(fail_code_, Level::Info, fail_why_ + " while processing HTTP/2 connection");
                return false;
            }
            if (used == NGHTTP2_ERR_FLOODED) {   // too many SETTINGS/PING ACKs queued
                goaway_and_close(NGHTTP2_NO_ERROR, Level::Info, "http2 flood detected while processing HTTP/2 connection");
                return false;
            }
            if (used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {   // nghttp2: 8 a header block
                goaway_and_close(NGHTTP2_ENHANCE_YOUR_CALM, Level::Info,
                                 "client sent too many CONTINUATION frames while processing HTTP/2 connection");
                return false;
            }
            if (used < 0) {
                ready_.clear();   // no stream starts on a connection about to close
                std::string why = std::string("client sent invalid HTTP/2 data (") + nghttp2_strerror(int(used)) +
                                  ") while processing HTTP/2 connection";
                write_out();   // the GOAWAY nghttp2 queued, if any
                close(Level::Info, why);
                return false;
            }
            // nginx: control frames, empty DATA frames, ... faster than any
            // payload they carry
            if (total_bytes_ / 8 > payload_bytes_ + kFloodSlack) {
                goaway_and_close(NGHTTP2_NO_ERROR, Level::Info, "http2 flood detected while processing HTTP/2 connection");
                return false;
            }
            // streams whose head this input completed, unless it also reset them
            start_ready();
            if (closed_) return false;
            if (size_t(n) < sizeof g_in && sock_.short_read_drains()) readable_ = false;
            continue;
        }
        if (n == 0) {
            close(streams_.empty() ? Level::Debug : Level::Info, "client closed connection while processing HTTP/2 connection");
            return false;
        }
        if (errno == EAGAIN) {
            readable_ = false;
            break;
        }
        close(sock_.client_level(), sock_.error() + " while processing HTTP/2 connection");
        return false;
    }
    return !closed_;
}

void H2Connection::start_ready() {
    for (size_t i = 0; i < ready_.size() && !closed_; ++i) {
        auto it = streams_.find(ready_[i]);
        if (it != streams_.end()) it->second->start();   // else reset (or closed) before it could start
    }
    ready_.clear();
}

// The rest of the input waits for the next loop iteration.
void H2Connection::post_read() {
    if (read_posted_ || closed_) return;
    read_posted_ = true;
    w_.loop().post_next([this, alive = alive_] {
        if (!*alive) return;
        read_posted_ = false;
        if (!closed_) io();
    });
}

int H2Connection::fail(uint32_t code, std::string why) {
    if (!failed_) {
        failed_ = true;
        fail_code_ = code;
        fail_why_ = std::move(why);
    }
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

// After a fatal nghttp2 error the session is not asked for more frames: the
// GOAWAY is serialized here, behind the frames already queued.
void H2Connection::goaway_and_close(uint32_t code, Level lvl, std::string_view why) {
    if (closed_) return;
    uint32_t last = uint32_t(nghttp2_session_get_last_proc_stream_id(ng_)) & 0x7fffffffu;
    uint8_t f[17] = {0, 0, 8, NGHTTP2_GOAWAY, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
        f[9 + i] = uint8_t(last >> (24 - 8 * i));
        f[13 + i] = uint8_t(code >> (24 - 8 * i));
    }
    out_.append({reinterpret_cast<const char*>(f), sizeof f});
    if (writable_) sock_.send(out_);   // best effort: the close follows whatever it wrote
    close(lvl, why);
}

bool H2Connection::write_out() {
    for (;;) {
        while (out_.bytes() < kOutHighWater) {
            const uint8_t* data = nullptr;
            ssize_t n = nghttp2_session_mem_send(ng_, &data);
            if (n < 0) {
                close(Level::Alert, std::string("nghttp2_session_mem_send() failed: ") + nghttp2_strerror(int(n)));
                return false;
            }
            if (n == 0) break;
            if (!limit_advertised_) {   // the first chunks only
                std::string copy(reinterpret_cast<const char*>(data), size_t(n));
                advertise_stream_limit(reinterpret_cast<uint8_t*>(copy.data()), copy.size());
                out_.append(copy);
                continue;
            }
            out_.append({reinterpret_cast<const char*>(data), size_t(n)});
        }
        if (closed_) return false;
        if (out_.empty() || !writable_) break;
        if (sock_.send(out_) < 0) {
            close(sock_.client_level(), sock_.error() + " while sending to client");
            return false;
        }
        if (!out_.empty()) {
            writable_ = false;
            break;
        }
    }
    return true;
}

// The first SETTINGS frame nghttp2 serializes is ours (submitted in start());
// each mem_send() chunk holds whole frames. Its MAX_CONCURRENT_STREAMS entry,
// kNoLimit for nghttp2, becomes http2_max_concurrent_streams on the wire.
void H2Connection::advertise_stream_limit(uint8_t* p, size_t len) {
    while (len >= 9 && !limit_advertised_) {
        size_t flen = size_t(p[0]) << 16 | size_t(p[1]) << 8 | p[2];
        if (9 + flen > len) return;
        if (p[3] == NGHTTP2_SETTINGS && !(p[4] & NGHTTP2_FLAG_ACK)) {
            for (size_t off = 9; off + 6 <= 9 + flen; off += 6) {
                uint16_t id = uint16_t(p[off] << 8 | p[off + 1]);
                if (id != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) continue;
                p[off + 2] = uint8_t(max_streams_ >> 24);
                p[off + 3] = uint8_t(max_streams_ >> 16);
                p[off + 4] = uint8_t(max_streams_ >> 8);
                p[off + 5] = uint8_t(max_streams_);
            }
            limit_advertised_ = true;
        }
        p += 9 + flen;
        len -= 9 + flen;
    }
}

void H2Connection::want_write() {
    if (in_io_ || write_posted_ || closed_) return;
    write_posted_ = true;
    w_.loop().post([this] {
        write_posted_ = false;
        if (closed_) return;
        io();
    });
}

void H2Connection::arm_timers() {
    if (!out_.empty()) w_.loop().arm(send_, *group_->default_server->conf.send_timeout);
    else w_.loop().disarm(send_);
    if (streams_.empty()) w_.loop().arm(idle_, *group_->default_server->conf.keepalive_timeout);
    else w_.loop().disarm(idle_);
    if (streams_.empty() != reuse_.linked()) w_.set_reusable(reuse_, streams_.empty());
}

void H2Connection::stream_closed(int32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    w_.loop().defer_delete(it->second);
    streams_.erase(it);
    if (!in_io_) want_write();
}

void H2Connection::close_now() {
    if (!closed_ && ng_) {
        nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                              nullptr, 0);
        write_out();
    }
    close(Level::Debug, "");
}

void H2Connection::drain() {
    if (closed_ || draining_) return;
    draining_ = true;
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    want_write();
}

void H2Connection::close(Level lvl, std::string_view why) {
    if (closed_) return;
    closed_ = true;
    w_.set_reusable(reuse_, false);
    if (!why.empty()) SY_LOG(lvl, info_.number, "{}, client: {}", why, info_.remote_addr);
    for (auto& [id, s] : streams_) {
        s->on_close(NGHTTP2_CANCEL);
        w_.loop().defer_delete(s);
    }
    streams_.clear();
    w_.loop().disarm(idle_);
    w_.loop().disarm(send_);
    if (sock_.io.fd >= 0) {
        w_.loop().remove(sock_.io);
        sock_.close();
        w_.conn_closed();
    }
    w_.loop().defer_delete(this);
}

}  // namespace sy::http

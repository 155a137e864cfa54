// One client connection speaking HTTP/2 (h2 over TLS by ALPN, or h2c with
// prior knowledge on a plain `http2` listener).
//
// nghttp2 does the framing, HPACK, stream states and flow-control
// accounting; this file owns the socket, moves bytes between it and nghttp2
// (mem_recv / mem_send into the connection's output queue), and maps each
// request stream onto an H2Stream: an Exchange like the HTTP/1.x Session,
// so requests go through the same router, handlers and upstream code.
//
//   Open ──GOAWAY sent (graceful quit) or received──> Draining ──last stream done──> Closed
//     └──socket error / protocol error / idle timeout──> Closed
//
// Ownership: the connection owns its streams (destroyed through
// defer_delete when nghttp2 closes them); a stream points back at the
// connection, which outlives it.
//
// Hostile input (nginx's limits and answers, docs/usage.md "HTTP/2 limits"):
// one wake-up reads at most kReadBudget chunks, then writes, then yields
// (EventLoop::post_next); a stream starts (routing, a backend connect) only
// after the input that completed its head was processed, so a stream reset
// in the same input never connects; new streams per wake-up, refused
// streams, header-block bytes and control-frame bytes are bounded, each
// excess a GOAWAY and the close, no more input read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/server.h"
#include "http/variables.h"
#include "tls/stream.h"

typedef struct nghttp2_session nghttp2_session;

namespace sy::http {

class H2Stream;

class H2Connection final : public IoHandler, public TimerHandler, public Closable {
public:
    H2Connection(Worker& w, std::shared_ptr<Generation> gen, const ServerGroup* group, ConnInfo info);
    ~H2Connection() override;

    // Takes the socket (and its TLS object) and the bytes already read from it
    // (the h2c preface and whatever followed).
    void start(int fd, SSL* ssl, std::string_view already_read);

    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void close_now() override;   // GOAWAY (NO_ERROR), then close
    bool idle() const override { return streams_.empty(); }
    // A graceful quit: GOAWAY now, close once the open streams are done.
    void drain() override;

    // ---- for streams ----------------------------------------------------
    nghttp2_session* ng() { return ng_; }
    Worker& worker() { return w_; }
    const std::shared_ptr<Generation>& generation() const { return gen_; }
    const ServerGroup* group() const { return group_; }
    ConnInfo& info() { return info_; }
    // Output was queued for nghttp2 (a response, DATA resumed): write it soon.
    void want_write();
    // A stream ended (nghttp2 closed it): forget it, destroy it later.
    void stream_closed(int32_t id);
    // A stream's head is complete: start it once the current input was processed.
    void stream_ready(int32_t id) { ready_.push_back(id); }
    // Request bytes that count as payload for the flood detector (the head of a started request).
    void note_payload(size_t n) { payload_bytes_ += n; }

private:
    friend struct H2Callbacks;
    void io();                    // read what the socket has, feed nghttp2, write what it produces
    bool read_in();
    ssize_t recv(const uint8_t* data, size_t len);
    bool write_out();
    void start_ready();
    void post_read();
    // A connection error of ours, decided in an nghttp2 callback: GOAWAY
    // `code` and the close once nghttp2 returns. Returns the callback's error.
    int fail(uint32_t code, std::string why);
    // GOAWAY `code` written after what is queued (best effort), then the close.
    void goaway_and_close(uint32_t code, Level lvl, std::string_view why);
    void advertise_stream_limit(uint8_t* frame, size_t len);
    void close(Level lvl, std::string_view why);
    void arm_timers();

    Worker& w_;
    std::shared_ptr<Generation> gen_;
    const ServerGroup* group_;
    ConnInfo info_;
    tls::Stream sock_;
    nghttp2_session* ng_ = nullptr;
    OutQueue out_;                // frames serialized by nghttp2, not yet written
    std::unordered_map<int32_t, H2Stream*> streams_;
    uint64_t accepted_ = 0;       // streams taken, against keepalive_requests
    uint32_t max_streams_ = 0;    // http2_max_concurrent_streams, enforced here (see begin_headers)
    uint32_t new_streams_ = 0;    // streams begun in this wake-up (nginx: at most 2 * max_streams_)
    uint32_t refused_ = 0;        // streams refused so far (nginx: at most max(max_streams_, 100))
    size_t hdr_bytes_ = 0;        // name + value bytes of the header block being decoded
    size_t hdr_limit_ = 0;        // large_client_header_buffers: size * number
    size_t field_limit_ = 0;      // large_client_header_buffers: size (one name or value)
    uint64_t priority_limit_ = 0; // PRIORITY frames left (nginx)
    uint64_t total_bytes_ = 0, payload_bytes_ = 0;   // nginx's flood detector
    // The client's preface and first frame header, held until the first
    // frame's type is known (recv()); done once that frame went to nghttp2.
    std::string preface_;
    bool first_frame_seen_ = false;
    std::vector<int32_t> ready_;  // streams whose head completed in the input being processed
    uint32_t fail_code_ = 0;      // fail(): the GOAWAY code and the log line
    std::string fail_why_;
    bool failed_ = false, read_posted_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);   // for post_next callbacks
    bool limit_advertised_ = false;
    Timer idle_, send_;
    bool readable_ = false, writable_ = true;
    bool closed_ = false, in_io_ = false, write_posted_ = false, draining_ = false;
    ReuseLink reuse_;             // in the worker's reusable list while no stream is open
};

}  // namespace sy::http

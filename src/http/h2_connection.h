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
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

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

private:
    friend struct H2Callbacks;
    void io();                    // read what the socket has, feed nghttp2, write what it produces
    bool read_in();
    bool write_out();
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
    bool limit_advertised_ = false;
    Timer idle_, send_;
    bool readable_ = false, writable_ = true;
    bool closed_ = false, in_io_ = false, write_posted_ = false, draining_ = false;
    ReuseLink reuse_;             // in the worker's reusable list while no stream is open
};

}  // namespace sy::http

// The byte tunnel an upgraded connection becomes: two sockets, bytes both
// ways, nothing interpreted. Hand-written because it is the product's core
// path: one symmetric pump, reads into a shared scratch area, and a pooled
// chunk only when the other side cannot take the bytes yet — an idle tunnel
// holds no userspace buffer at all. Between two plain TCP sockets, a
// direction that proves bulk (a read filled the whole buffer) switches to
// splice(2) through a pooled pipe: the bytes no longer pass through user
// space, and the pipe goes back to the pool whenever it is empty.
//
//   Open ──EOF from A, A->B flushed──> shutdown(B, WR) (half-closed)
//     │                                   └──EOF from B too──> Closed
//     └──error / reset / idle timeout──> Closed (both sockets)
#pragma once

#include <memory>
#include <string>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/pipe_pool.h"
#include "http/request.h"
#include "http/server.h"
#include "http/variables.h"
#include "tls/stream.h"

namespace sy::tunnel {

class Tunnel final : public IoHandler, public TimerHandler, public Closable {
public:
    struct Params {
        uint64_t read_timeout = 60000;        // proxy_read_timeout: idle in both directions
        uint64_t send_timeout = 60000;        // proxy_send_timeout: upstream not taking bytes
        uint64_t client_send_timeout = 60000; // send_timeout: client not taking bytes
        std::string upstream_addr;
        // The peer whose `conns` this tunnel holds (least_conn, max_conns,
        // bounded load count open tunnels); released when the tunnel closes.
        const conf::Upstream* up = nullptr;
        size_t peer = 0;
        // A stream {} session (not an upgraded HTTP request): logs with the
        // stream block's formats and maps, counts $bytes_received, and says
        // "while proxying connection" as nginx's stream module does.
        bool stream = false;
        // One side's EOF is passed on as a shutdown of the other's write side
        // and the tunnel goes on the other way (stream: `proxy_half_close
        // on`); off, the first EOF ends the session once its bytes are out.
        bool half_close = true;
        // Largest read from either side (stream's proxy_buffer_size); 0: the
        // scratch area's size.
        size_t read_size = 0;
    };

    Tunnel(http::Worker& w, std::shared_ptr<http::Generation> gen, std::unique_ptr<http::Request> req,
           http::ConnInfo info, Params p);
    ~Tunnel() override;

    // Takes both sockets (and their TLS objects, null for plain TCP).
    // `to_client` and `extra_from_upstream` are delivered to the client first;
    // `to_upstream` (bytes the client pipelined) to the upstream.
    void start(int client_fd, SSL* client_ssl, int upstream_fd, SSL* upstream_ssl, OutQueue&& to_client,
               OutQueue&& extra_from_upstream, OutQueue&& to_upstream);
    // The same with both sockets still registered in the loop under their
    // previous owner's Io: the registrations move over (EventLoop::move).
    void start_registered(Io& client_reg, SSL* client_ssl, Io& upstream_reg, SSL* upstream_ssl, OutQueue&& to_upstream);

    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void close_now() override { close(Level::Info, "closing upgraded connection on shutdown"); }
    bool idle() const override { return false; }   // a graceful quit leaves tunnels running

    static size_t live();   // tunnels open in this worker

private:
    struct Side {
        tls::Stream s;        // socket (s.io) and TLS state
        OutQueue pending;     // bytes waiting to be written to this side
        Pipe pipe;            // spliced bytes on their way to this side (pooled)
        size_t in_pipe = 0;   // how many of them the pipe holds
        bool bulk = false;    // reads from this side fill the buffer: splice them
        bool readable = false, writable = true;
        bool eof = false;     // this side sent FIN
        bool shut = false;    // we sent FIN to this side
        uint64_t received = 0;

        bool drained() const { return pending.empty() && in_pipe == 0; }
    };

    void pump(Side& from, Side& to);
    bool flush(Side& to);
    bool drain_pipe(Side& to);
    void count_read(Side& from, size_t n);
    bool splice_ok() const { return !client_.s.tls() && !upstream_.s.tls(); }
    void check_done();
    void close(Level lvl, std::string_view why);
    void arm_write_timer();
    std::string context() const;

    http::Worker& w_;
    std::shared_ptr<http::Generation> gen_;
    std::unique_ptr<http::Request> req_;
    http::ConnInfo info_;
    Params p_;
    Side client_, upstream_;
    Timer idle_, stall_;
    bool closed_ = false;
};

}  // namespace sy::tunnel

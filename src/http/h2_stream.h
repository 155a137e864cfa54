// One HTTP/2 request stream as an Exchange: its head arrives as HPACK
// fields (collected here, then laid out like an HTTP/1.1 head so the rest
// of the code reads it the same way), its body as DATA frames, and its
// response leaves as HEADERS plus DATA pulled by nghttp2 from the stream's
// output queue.
//
//   Headers ──END_HEADERS──> Handling ──response EOF / RST_STREAM──> Closed
//
// Flow control: request DATA is acknowledged (WINDOW_UPDATE) only when the
// body consumer took it, so a paused upstream pauses the client; the
// response queue is bounded by the proxy's high-water mark like a socket's.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "http/exchange.h"
#include "tls/stream.h"

namespace sy::http {

class H2Connection;

class H2Stream final : public Exchange, public IoHandler, public TimerHandler, public Deletable {
public:
    H2Stream(H2Connection& c, int32_t id);
    ~H2Stream() override;

    // ---- from the connection (nghttp2 callbacks) -------------------------
    // A header field; false: refuse the stream (nghttp2 resets it).
    bool on_header(std::string_view name, std::string_view value);
    void on_headers_done(bool end_stream);
    // The input that completed the head was processed and the stream is
    // still open: route it (H2Connection::start_ready).
    void start();
    void on_data(const uint8_t* data, size_t len);
    void on_end_stream();
    void on_close(uint32_t error_code);
    // nghttp2's data source: copies up to `len` response bytes into `buf`.
    ssize_t read_data(uint8_t* buf, size_t len, uint32_t* flags);
    int32_t id() const { return id_; }
    // Streams alive in this process: the fuzzer checks they stay within
    // http2_max_concurrent_streams (plus those awaiting deferred deletion).
    static size_t live() { return live_; }
    // the upstream socket of a WebSocket tunnel (RFC 8441), and its idle timer
    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;

    // ---- Exchange --------------------------------------------------------
    void read_body(BodyConsumer* c) override;
    void pause_body(bool paused) override;
    bool body_done() const override { return body_done_; }
    void hold_output(bool on) override;
    void send(std::string_view bytes) override;
    void send(Buf&& b) override;
    size_t pending_out() const override { return out_.bytes(); }
    void end_response(bool keepalive_ok) override;
    void abort_response() override;
    void upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string upstream_addr,
                 const conf::Upstream* up = nullptr, size_t peer = 0) override;
    bool closed() const override { return closed_; }

private:
    void write_head(HeadBuilder& h, bool body_framed) override;
    void send_file(int fd, off_t from, off_t len) override;
    void drop() override;
    void begin_request();
    void reset(uint32_t error_code);
    void deliver_body();
    void output_ready();
    void read_up();                   // tunnel: upstream bytes -> DATA
    void flush_up();                  // tunnel: client DATA -> upstream, window given back as written
    void close_tunnel();

    static inline size_t live_ = 0;
    H2Connection& c_;
    int32_t id_;
    // the head as received, laid out as HTTP/1.1 text in req_->raw at END_HEADERS
    std::string method_, scheme_, authority_, path_, protocol_;
    std::vector<std::pair<std::string, std::string>> fields_;
    size_t field_bytes_ = 0;

    BodyConsumer* body_consumer_ = nullptr;
    std::string body_buf_;            // DATA not yet taken by the consumer (not yet acknowledged)
    bool body_paused_ = false, body_done_ = false, reading_body_ = false;
    uint64_t body_received_ = 0;

    OutQueue out_;                    // response body bytes for DATA frames
    int file_fd_ = -1;
    off_t file_off_ = 0, file_end_ = 0;
    std::vector<std::pair<std::string, std::string>> trailers_;   // add_trailer fields, sent after the body
    bool has_body_ = false;           // a data source was submitted with the response
    bool response_done_ = false, deferred_ = false, hold_ = false, drained_posted_ = false;
    bool closed_ = false, started_ = false, head_end_stream_ = false;

    // WebSockets over HTTP/2: an extended CONNECT (:protocol websocket) goes
    // to the backend as an HTTP/1.1 Upgrade; its 101 becomes our 200 and the
    // stream's DATA the tunnel's bytes, both ways under flow control.
    bool ws_connect_ = false, tunnel_ = false;
    tls::Stream up_;
    OutQueue to_up_;                  // client bytes the upstream has not taken yet (not yet acknowledged)
    bool up_readable_ = false, up_writable_ = true, up_eof_ = false, client_eof_ = false, up_shut_ = false;
    Timer idle_;
    const conf::Upstream* tunnel_up_ = nullptr;
    size_t tunnel_peer_ = 0;
    uint64_t up_received_ = 0, up_sent_ = 0;
};

}  // namespace sy::http

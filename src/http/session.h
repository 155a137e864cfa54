// One client connection speaking HTTP/1.x, over TCP or TLS.
//
//   Handshake ──TLS done (or plain bytes on a TLS port: 400 after the head)──> ReadHead
//   ReadHead ──head──> Handling ──response sent + body read──> KeepAlive ──byte──> ReadHead
//       │                 │  └──101 from upstream──> (hand-off to Tunnel; session gone)
//       │                 └──error before response──> error page ──> Lingering / closed
//       └──timeout / EOF / bad request──> closed
//
// The session owns the client socket, the head buffer (kept only while a
// request is in progress or pipelined bytes wait), the output queue and the
// handler of the current request (a Proxy, a static file, or a fixed reply).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/exchange.h"
#include "http/h1_parser.h"
#include "http/response.h"
#include "http/request.h"
#include "http/server.h"
#include "http/variables.h"
#include "tls/stream.h"

namespace sy::proxy { class Proxy; }

namespace sy::http {

enum class SessionState { ProxyHeader, Handshake, ReadHead, Handling, KeepAlive, Lingering, Closed };
std::string_view to_string(SessionState s);

class Session final : public Exchange, public IoHandler, public TimerHandler, public Closable,
                      private H1Parser::BodySink {
public:
    Session(Worker& w, int fd, const sockaddr_storage& peer, const ServerGroup* group);
    ~Session() override;

    void start();
    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void close_now() override { close(); }
    // Between requests with nothing buffered (keep-alive, or no byte of a
    // first request yet): nginx's "reusable", closed first at worker_connections.
    bool idle() const override {
        return (state_ == SessionState::KeepAlive && hparsed_ == hlen_) || (state_ == SessionState::ReadHead && hlen_ == 0);
    }

    // ---- Exchange: the carrier primitives over HTTP/1.x ------------------
    void read_body(BodyConsumer* c) override;
    void pause_body(bool paused) override;
    bool body_done() const override { return body_done_; }
    // Held output goes out in one writev (head + body of one upstream read).
    void hold_output(bool on) override;
    void send(std::string_view bytes) override;
    void send(Buf&& b) override;
    size_t pending_out() const override { return out_.bytes(); }
    // Adds Connection/keep-alive headers.
    // Flush, log, then keep-alive or close.
    void end_response(bool keepalive_ok) override;
    void abort_response() override;
    // Hands both sockets (and their TLS objects) to a Tunnel; the session is
    // destroyed and the connection is the tunnel from then on.
    void upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string upstream_addr,
                 const conf::Upstream* up = nullptr, size_t peer = 0) override;
    bool closed() const override { return state_ == SessionState::Closed; }

    // TLS: the ClientHello named `name` (SNI). Returns the SSL_CTX of the
    // server block it selects, or null to keep the default server's.
    SSL_CTX* on_sni(const char* name);
    // Whether this connection may speak HTTP/2: `listen ... http2`, or
    // `http2 on` in the server the TLS server name selected (the default
    // server without one), as nginx's ALPN callback decides.
    bool h2_allowed() const;
    const ServerGroup* group() const { return group_; }

private:
    void drive();
    void handshake();
    void read_proxy_header();   // listen ... proxy_protocol: before anything else                 // TLS: detect, then drive the handshake
    bool fill_head();                 // read what the socket has into hbuf_
    void parse_head();
    void begin_request();
    void bad_request(int status, std::string_view why);
    void too_long_header(size_t off);
    void head_error();
    void feed_body();
    void finish_request();
    void flush();
    void close();
    void linger();
    void discount_unsent();
    void release_head_buffer();
    void start_h2(std::string_view already_read);   // hands the connection to an H2Connection
    // Gives the socket and its TLS object away; the session is closed and deferred.
    int hand_off(SSL*& ssl);
    void write_head(HeadBuilder& h, bool body_framed) override;
    void send_file(int fd, off_t from, off_t len) override;
    void drop() override;

    // H1Parser::BodySink
    void on_body_data(std::string_view data) override;
    void on_chunk_header(uint64_t size) override;

    const ServerGroup* group_;
    const conf::Server* sni_server_ = nullptr;   // the server the TLS server name selected
    tls::Stream sock_;                // the client socket (io) and its TLS state
    Timer read_timer_, write_timer_;
    // lingering_close/_time/_timeout of the last request (its LocConf is gone when lingering)
    conf::Lingering linger_mode_ = conf::Lingering::On;
    uint64_t linger_time_ = 30000, linger_timeout_ = 5000, linger_end_ = 0;
    ConnInfo conn_info_;              // the Exchange's info_ refers to it
    SessionState state_ = SessionState::ReadHead;

    // head buffer: [0, hlen_) received, [0, hparsed_) consumed by the parser
    char* hbuf_ = nullptr;
    size_t hcap_ = 0, hlen_ = 0, hparsed_ = 0;
    H1Parser parser_{true};

    BodyConsumer* body_consumer_ = nullptr;
    bool body_paused_ = false, body_done_ = true, reading_body_ = false;
    bool feeding_body_ = false;       // inside feed_body: read_body() only swaps the consumer
    bool sent_continue_ = false;
    uint64_t body_received_ = 0;
    std::string chunk_too_large_;     // "received+chunk" once a chunk would pass client_max_body_size

    OutQueue out_;
    int file_fd_ = -1;
    std::string file_tail_;           // bytes that follow the file (a chunked body's "\r\n" and last chunk)
    off_t file_off_ = 0, file_end_ = 0;
    bool response_done_ = false;
    bool readable_ = false, writable_ = true, peer_eof_ = false;
    bool in_drive_ = false;
    bool hold_ = false;
    bool plain_on_tls_ = false;       // plain HTTP arrived on a TLS port: 400 once the head is read
    ReuseLink reuse_;                 // in the worker's reusable list while idle()
    void update_reusable() { if (idle() != reuse_.linked()) w_.set_reusable(reuse_, idle()); }
};

}  // namespace sy::http

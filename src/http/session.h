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
#include "http/h1_parser.h"
#include "http/response.h"
#include "http/request.h"
#include "http/server.h"
#include "http/variables.h"
#include "tls/stream.h"

namespace sy::proxy { class Proxy; }

namespace sy::http {

enum class SessionState { Handshake, ReadHead, Handling, KeepAlive, Lingering, Closed };
std::string_view to_string(SessionState s);

// Receives the request body as the session parses it.
class BodyConsumer {
public:
    virtual ~BodyConsumer() = default;
    virtual void on_body(std::string_view data) = 0;
    virtual void on_body_end() = 0;
};

class Session final : public IoHandler, public TimerHandler, public Closable, private H1Parser::BodySink {
public:
    Session(Worker& w, int fd, const sockaddr_storage& peer, const ServerGroup* group);
    ~Session() override;

    void start();
    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void close_now() override { close(); }
    bool idle() const override { return state_ == SessionState::KeepAlive || (state_ == SessionState::ReadHead && hlen_ == 0); }

    // ---- for handlers --------------------------------------------------
    Request& req() { return *req_; }
    const ConnInfo& conn() const { return info_; }
    VarCtx vars() { return VarCtx{info_, *req_, *gen_->cfg->http}; }
    Worker& worker() { return w_; }
    EventLoop& loop() { return w_.loop(); }
    uint64_t number() const { return info_.number; }

    // Starts delivering the request body to `c` (bytes already buffered first).
    void read_body(BodyConsumer* c);
    void pause_body(bool paused);
    bool body_done() const { return body_done_; }

    // While held, send()/send_head() only queue; releasing writes it all at
    // once (the proxy holds output across one upstream read: head + body in
    // one writev).
    void hold_output(bool on);
    void send(std::string_view bytes);          // response bytes, copied
    void send(Buf&& b);                         // response bytes, moved
    size_t pending_out() const { return out_.bytes(); }
    // The response is complete: flush, log, then keep-alive or close.
    void end_response(bool keepalive_ok);
    // Abort: nothing more can be sent (upstream broke mid-response).
    void abort_response();
    // Answer with `status` and nginx's page (or an error_page redirect).
    void finalize_error(int status);
    // Response head for the request. Adds Connection/keep-alive headers.
    void send_head(HeadBuilder& h, bool body_framed);
    bool keepalive_wanted() const { return keepalive_; }
    std::string& head_scratch() { return head_scratch_; }
    bool head_sent() const { return head_sent_; }
    void set_keepalive(bool v) { keepalive_ = v; }

    // The upstream answered 101: the session hands both sockets to a Tunnel
    // and is destroyed. `from_upstream` holds bytes to deliver to the client.
    // The connection becomes a tunnel. `up`/`peer`: the peer whose conns count the
    // tunnel takes over (null for a proxy_pass with variables to a bare address).
    // `upstream_ssl`: the upstream connection's TLS object (wss backends), handed on with the fd.
    void upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string upstream_addr,
                 const conf::Upstream* up = nullptr, size_t peer = 0);

    // TLS: the ClientHello named `name` (SNI). Returns the SSL_CTX of the
    // server block it selects, or null to keep the default server's.
    SSL_CTX* on_sni(const char* name);
    const ServerGroup* group() const { return group_; }

    // Error-log line with nginx's context: ", client: ..., server: ..., request: ..."
    void log_error(Level lvl, std::string_view msg, std::string_view upstream = {});
    std::string log_context(std::string_view upstream = {}) const;

private:
    friend class proxy::Proxy;
    void drive();
    void handshake();                 // TLS: detect, then drive the handshake
    bool fill_head();                 // read what the socket has into hbuf_
    void parse_head();
    void begin_request();
    void route();
    void run_handler();
    bool run_rewrites(const std::vector<conf::RewriteStep>& steps, bool& stop, bool& restart);
    void handle_return(const conf::RewriteStep& st);
    void handle_static();
    void send_redirect(int status, const std::string& location);
    void send_simple(int status, std::string_view content_type, std::string_view body,
                     const std::string* location = nullptr);
    void bad_request(int status, std::string_view why);
    void too_long_header(size_t off);
    bool unsupported_version() const;
    void feed_body();
    void finish_request();
    void flush();
    void close();
    void linger();
    void write_access_log();
    void release_head_buffer();
    bool value_ok(std::string_view v, std::string_view what);
    std::string absolute_location(std::string_view loc);

    // H1Parser::BodySink
    void on_body_data(std::string_view data) override;
    void on_chunk_header(uint64_t size) override;

    Worker& w_;
    std::shared_ptr<Generation> gen_;
    const ServerGroup* group_;
    tls::Stream sock_;                // the client socket (io) and its TLS state
    Timer read_timer_, write_timer_;
    ConnInfo info_;
    SessionState state_ = SessionState::ReadHead;

    // head buffer: [0, hlen_) received, [0, hparsed_) consumed by the parser
    char* hbuf_ = nullptr;
    size_t hcap_ = 0, hlen_ = 0, hparsed_ = 0;
    H1Parser parser_{true};

    std::unique_ptr<Request> req_;
    std::unique_ptr<proxy::Proxy> proxy_;
    BodyConsumer* body_consumer_ = nullptr;
    bool body_paused_ = false, body_done_ = true, reading_body_ = false;
    bool sent_continue_ = false;
    uint64_t body_received_ = 0;
    std::string chunk_too_large_;     // "received+chunk" once a chunk would pass client_max_body_size

    OutQueue out_;
    std::string head_scratch_;        // response heads are built here (capacity reused)
    int file_fd_ = -1;
    off_t file_off_ = 0, file_end_ = 0;
    bool response_done_ = false, head_sent_ = false;
    bool keepalive_ = false;
    bool readable_ = false, writable_ = true, peer_eof_ = false, fin_pending_ = false;
    bool in_drive_ = false;
    bool hold_ = false;
    bool plain_on_tls_ = false;       // plain HTTP arrived on a TLS port: 400 once the head is read
    int redirects_ = 0;
};

}  // namespace sy::http

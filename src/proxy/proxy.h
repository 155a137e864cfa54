// proxy_pass: one upstream exchange for one client request.
//
//   Init ─(body buffered?)─> WaitBody ─> Connecting ─(https)─> Handshake ─> Sending ─> ReadHead ─> ReadBody ─> Done
//                                          │ error/timeout: next peer or 502/504
//                                          └───────── 101 to an upgrade request: hand-off ──> Tunnel
//
// Owns the upstream socket, the request bytes not yet written and the
// response parser. Talks to its Exchange (the client side) only through its public calls.
#pragma once

#include <memory>
#include <string>

#include "config/conf.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/h1_parser.h"
#include "http/exchange.h"
#include "http/temp_file.h"
#include "proxy/response_spool.h"
#include "upstream/balancer.h"
#include "upstream/keepalive_pool.h"

namespace sy::tls { struct ClientCtx; }

namespace sy::proxy {

enum class ProxyState { Init, WaitBody, Connecting, Handshake, Sending, ReadHead, ReadBody, Done, Dead };
std::string_view to_string(ProxyState s);

class Proxy final : public IoHandler, public TimerHandler, public Deletable, public http::BodyConsumer,
                    private http::H1Parser::BodySink {
public:
    Proxy(http::Exchange& s, const conf::ProxyPass& pp);
    ~Proxy() override;

    void start();
    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void on_client_drained();
    void on_client_abort();
    // "http://127.0.0.1:3000/x": the upstream field of error-log lines
    std::string peer_name() const {
        return up_ && peer_ < up_->peers.size() ? (tls_ ? "https://" : "http://") + up_->peers[peer_].addr.text + uri_
                                                : std::string();
    }

    void on_body(std::string_view data) override;
    void on_body_end() override;

private:
    enum class Framing { None, Length, ChunkedRaw, ChunkedDecode, Close, CloseChunked };

    bool resolve_target(std::string& err);
    bool build_request_head();   // false: a header value would carry CR/LF
    void connect_next();
    void on_tcp_connected();     // TLS handshake next, or on_connected()
    void step_handshake();
    void on_connected();
    std::string pool_group() const;
    // A try failed. `ft`: the proxy_next_upstream condition it is (conf::next_upstream
    // bits), 0 when the request can't be tried again whatever the config says.
    void fail(int status, Level lvl, std::string_view msg, uint32_t ft);
    bool can_retry(uint32_t ft) const;
    bool replayable() const;
    void end_try(bool failed);
    size_t max_tries() const;
    bool rewrite_redirect(std::string& value, size_t at);
    void add_sticky_cookie(http::HeadBuilder& h);
    void write_out();
    void read_upstream();
    void on_head();
    bool process_body(Buf& data);
    void finish();
    void close_upstream();
    void forward_head_to_client();
    void emit(std::string_view data);
    // Every client-bound body byte (framing included) goes through here: to
    // the client, or (proxy_buffering on, the client's queue past
    // high_water_, or a spool already holding bytes) to the spool file.
    // payload: body bytes ($body_bytes_sent), not chunk framing
    void to_client(std::string_view data, bool payload = false);
    void to_client(Buf&& data, bool payload = false);
    bool spool_wanted() const;
    bool spool_append(std::string_view data);
    void refill_from_spool();      // a bounded read of the spool into the client's queue
    void spool_failed(const std::string& err);
    void end_response();           // now, or once the spool is drained
    // Buffered request body (proxy_request_buffering on): stored in the
    // Request up to client_body_buffer_size, beyond that in a temp file.
    bool store_body(std::string_view data);
    bool fill_body_out();   // queues the next body bytes for the peer; false: failed
    void body_failed(const std::string& err);
    void finalize_error(int status);
    void on_body_data(std::string_view data) override;  // decoded chunks
    void on_chunk_header(uint64_t size) override;      // re-framed for a chunked client
    void on_chunk_complete() override;
    void framing_failed();

    http::Exchange& s_;
    const conf::ProxyPass& pp_;
    ProxyState state_ = ProxyState::Init;
    upstream::UpConn* c_ = nullptr;   // the upstream connection (fresh or from the pool)
    int fd() const { return c_ ? c_->s.io.fd : -1; }
    const tls::ClientCtx* tls_ = nullptr;   // proxy_pass https://: the location's TLS settings
    Timer timer_;
    const conf::Upstream* up_ = nullptr;
    conf::Upstream dyn_up_;           // proxy_pass with variables to an address
    std::string uri_;                 // request-target sent upstream
    std::string host_port_;           // $proxy_host
    std::string ssl_name_;            // proxy_ssl_name without port: SNI and the name verified
    std::vector<size_t> tried_;
    upstream::PickState pick_state_;  // hash methods iterate across retries
    std::string balance_key_;         // client address bytes (ip_hash) or the hash key
    bool balance_key_ready_ = false;
    size_t peer_ = 0;
    uint64_t try_start_ = 0;
    uint64_t first_start_ = 0;        // proxy_next_upstream_timeout counts from here
    bool request_sent_ = false;       // some of the request reached the current peer
    bool try_ended_ = true;           // the current try's outcome was counted (end_try)
    std::string sticky_cookie_;       // the request's sticky cookie value, if any

    std::unique_ptr<http::TempFile> body_file_;   // the buffered body beyond client_body_buffer_size
    bool reading_body_ = false;       // the carrier hands the request body to this Proxy
    uint64_t body_off_ = 0;           // buffered body bytes queued for the current peer so far
    bool buffering_body_ = false, body_complete_ = false, stream_body_ = false, chunk_body_ = false;
    uint64_t body_len_ = 0;
    std::string head_;                // the request head, built once (reused on a retry)
    OutQueue out_;                    // bytes for the upstream socket
    bool writable_ = false, readable_ = false, read_paused_ = false;

    http::H1Parser parser_{false};
    Buf rbuf_;
    size_t hparsed_ = 0;
    Framing framing_ = Framing::None;
    uint64_t remaining_ = 0;
    bool body_spilled_ = false;   // a streamed body outgrew client_body_buffer_size
    size_t high_water_ = 65536;
    int status_ = 0;
    bool reused_ = false, no_reuse_ = false;
    uint32_t conn_requests_ = 0;
    bool req_keepalive_ok_ = false, resp_keepalive_ = false, extra_ = false;

    // proxy_buffering on: response bytes waiting for a slow client (proxy_temp_path)
    std::unique_ptr<ResponseSpool> spool_;
    bool spool_ok_ = false;           // this response may spool (buffered, has a body, max size > 0)
    bool end_deferred_ = false;       // the upstream response is complete; the spool is not drained yet
    bool refilling_ = false, refill_again_ = false;
};

}  // namespace sy::proxy

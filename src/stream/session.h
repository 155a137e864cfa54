// One connection accepted on a stream {} listener, through nginx's stream
// phases up to the point where bytes just flow, then handed to a Tunnel
// (which carries them and writes the access log at the end):
//
//   ProxyHeader ──(listen ... proxy_protocol: the PROXY v1/v2 header read,
//      │           $proxy_protocol_addr set, $remote_addr too for a peer in
//      │           set_real_ip_from)
//   Handshake ──(listen ... ssl: TLS terminated here)
//   Preread ────(ssl_preread on: the ClientHello read, kept to be forwarded,
//      │         $ssl_preread_server_name / _alpn_protocols / _protocol set)
//   Returning ──(`return VALUE`: the text sent, then Closed with 200;
//      │         instead of Connecting)
//   Connecting ─(proxy_pass evaluated, a peer picked; the next one on a
//      │         connect error or proxy_connect_timeout, within
//      │         proxy_next_upstream_tries / _timeout)
//   UpHandshake (proxy_ssl on: TLS to the backend)
//      └──> hand-off: the PROXY header we send (proxy_protocol on) and the
//           bytes read so far go first, then tunnel::Tunnel owns both sockets
//
// Any phase can end in Closed with nginx's stream status ($status): 400 for
// a bad PROXY header or a failed handshake, 502 when no peer could be
// reached, 500 for an internal failure. The session owns the client socket
// until the hand-off and the upstream connection of the try in progress.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "http/request.h"
#include "http/server.h"
#include "http/variables.h"
#include "net/proxy_protocol.h"
#include "stream/preread.h"
#include "tls/stream.h"
#include "upstream/balancer.h"
#include "upstream/keepalive_pool.h"

namespace sy::stream {

enum class StreamState { ProxyHeader, Handshake, Preread, Returning, Connecting, UpHandshake, Closed };
const char* to_string(StreamState s);

class Session final : public IoHandler, public TimerHandler, public Closable {
public:
    Session(http::Worker& w, int fd, const sockaddr_storage& peer, const http::ServerGroup* group);
    ~Session() override;
    void start();
    // listen ... ssl: the SNI callback; the chosen server's context.
    SSL_CTX* on_sni(const char* name);

    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void close_now() override { finish(200, Level::Info, ""); }
    bool idle() const override { return false; }

private:
    // phases, in order
    void read_proxy_header();
    void start_handshake();
    void step_handshake();
    void start_preread();
    void step_preread();
    bool choose_server(const std::string& name);
    void route();
    bool returns() const;   // the server's handler is `return`
    void write_return();
    void connect_next();
    void on_tcp_connected();
    void step_up_handshake();
    void hand_off();

    bool read_client();   // appends what the client has to in_; false when finished (closed)
    void try_failed(Level lvl, const std::string& why, bool retryable);
    void end_try(bool failed);
    bool can_retry() const;
    size_t max_tries() const;
    void finish(int status, Level lvl, const std::string& why);
    void close_upstream();
    std::string context() const;   // nginx's ", client: ..., server: ..." for the error log
    http::VarCtx vars() { return {info_, *req_, *gen_->cfg->stream}; }

    http::Worker& w_;
    std::shared_ptr<http::Generation> gen_;
    const http::ServerGroup* group_;
    const conf::Server* server_;
    http::ConnInfo info_;
    std::unique_ptr<http::Request> req_;
    sockaddr_storage peer_addr_{}, local_addr_{};
    tls::Stream client_;              // the client socket (TLS once terminated)
    bool client_readable_ = false, client_writable_ = true, client_eof_ = false;
    std::string in_;                  // client bytes read before the hand-off (forwarded first)
    std::string out_;                 // `return`: the text not yet sent
    Preread preread_;
    upstream::UpConn up_;             // the upstream connection of the current try
    bool up_readable_ = false, up_writable_ = false;
    std::string ssl_name_;            // proxy_ssl_name's host
    Timer timer_;
    StreamState state_ = StreamState::ProxyHeader;
    const conf::Upstream* upstream_ = nullptr;
    std::unique_ptr<conf::Upstream> own_upstream_;   // from a proxy_pass variable's address
    std::string balance_key_;
    upstream::PickState pick_;
    std::vector<size_t> tried_;
    size_t peer_ = 0;
    bool try_open_ = false;           // peer_ holds a conns count and a try in progress
    uint64_t first_start_ = 0, try_start_ = 0;
};

// Installs the SNI callback on the TLS contexts of stream servers that share
// an address by server_name.
void install_tls_callbacks(const std::vector<http::ServerGroup>& groups);

}  // namespace sy::stream

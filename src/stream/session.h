// One connection accepted on a stream {} listener (nginx's ngx_stream_proxy):
// pick a peer of the server's upstream, connect (the next peer on a failure,
// within proxy_next_upstream_tries / _timeout), then hand both sockets to a
// Tunnel, which carries the bytes and writes the access log at the end.
//
//   Connecting ──connected──> hand-off to tunnel::Tunnel (session deleted)
//      │   └─connect error / proxy_connect_timeout─> next peer, or:
//      └──no live peer / tries exhausted──> Closed ($status 502, logged)
//
// The session owns the client socket until the hand-off, the upstream socket
// of the try in progress, and nothing else.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "http/request.h"
#include "http/server.h"
#include "http/variables.h"
#include "upstream/balancer.h"

namespace sy::stream {

enum class StreamState { Connecting, Closed };

class Session final : public IoHandler, public TimerHandler, public Closable {
public:
    Session(http::Worker& w, int fd, const sockaddr_storage& peer, const http::ServerGroup* group);
    ~Session() override;
    void start();

    void on_io(int tag, uint32_t events) override;
    void on_timer(int tag) override;
    void close_now() override { finish(499, Level::Info, ""); }
    bool idle() const override { return false; }

private:
    void connect_next();
    void on_connected();
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
    Io client_;                       // the client socket (not polled until the hand-off)
    Io up_;                           // the upstream socket of the current try
    Timer timer_;
    StreamState state_ = StreamState::Connecting;
    const conf::Upstream* upstream_ = nullptr;
    std::unique_ptr<conf::Upstream> own_upstream_;   // from a proxy_pass variable's address
    std::string balance_key_;
    upstream::PickState pick_;
    std::vector<size_t> tried_;
    size_t peer_ = 0;
    bool try_open_ = false;           // peer_ holds a conns count and a try in progress
    uint64_t first_start_ = 0, try_start_ = 0;
};

}  // namespace sy::stream

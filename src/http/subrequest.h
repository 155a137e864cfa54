// A subrequest (nginx's ngx_http_subrequest): an internal GET (HEAD when the
// parent's is HEAD) for a URI and args that runs the normal routing of the
// parent's server — rewrites, locations, proxy_pass, static files, return —
// with the parent's headers, no body, no upgrade and no access-log line. Its
// response head is kept to itself (the status is read); its body goes to the
// parent through `sink`, or, in memory (SSI's `include ... set=`), is kept up
// to subrequest_output_buffer_size. When it ends, `done` runs from the event
// loop (never from inside the handler that ended it).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "http/exchange.h"

namespace sy::http {

class SubExchange final : public Exchange, public Deletable {
public:
    SubExchange(Exchange& parent, std::string uri, std::string args, bool in_memory);
    ~SubExchange() override;

    void start(std::function<void(std::string_view)> sink, std::function<void()> done);

    bool finished() const { return finished_; }
    int status() const { return req_->status; }
    bool produced() const { return produced_; }
    bool aborted() const { return aborted_; }
    static constexpr int kMaxDepth = 51;   // nginx's NGX_HTTP_MAX_SUBREQUESTS + 1 levels
    int depth() const { return depth_; }
    void set_depth(int d) { depth_ = d; }      // some body bytes came
    std::string& captured() { return captured_; }    // in-memory body

    // ---- carrier primitives ----
    void read_body(BodyConsumer* c) override;
    void pause_body(bool) override {}
    bool body_done() const override { return true; }
    void hold_output(bool) override {}
    void send(std::string_view bytes) override;
    void send(Buf&& b) override;
    // the client's backlog paces a proxied include (in memory: bounded by the buffer)
    size_t pending_out() const override { return in_memory_ || !parent_ ? 0 : parent_->pending_out(); }
    // the client took its backlog: the proxy of this subrequest (or of one it includes) reads on
    void drained();
    void end_response(bool keepalive_ok) override;
    void abort_response() override;
    void upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string upstream_addr,
                 const conf::Upstream* up, size_t peer) override;
    bool closed() const override { return aborted_ || parent_closed_(); }

protected:
    void write_head(HeadBuilder& h, bool body_framed) override;
    void send_file(int fd, off_t from, off_t len) override;
    void drop() override;

private:
    void body(std::string_view bytes);
    void finish();

    Exchange* parent_ = nullptr;
    std::function<bool()> parent_closed_;
    std::function<void(std::string_view)> sink_;
    std::function<void()> done_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool in_memory_;
    int depth_ = 1;
    bool finished_ = false, aborted_ = false, produced_ = false, too_big_ = false;
    std::string captured_;
};

}  // namespace sy::http

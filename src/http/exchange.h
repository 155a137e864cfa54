// One request and its response, whatever carries it: the current request of
// an HTTP/1.x Session, or (next) one stream of an HTTP/2 connection.
// Routing, rewrites, `return`, static files, error pages and the access log
// are written once here, against the transport primitives below that each
// carrier implements; handlers (the Proxy) talk to an Exchange only.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "http/request.h"
#include "http/response.h"
#include "http/server.h"
#include "http/variables.h"

typedef struct ssl_st SSL;

namespace sy::proxy { class Proxy; }

namespace sy::http {

class SsiRun;
struct SsiShared;

// Receives the request body as the carrier reads it.
class BodyConsumer {
public:
    virtual ~BodyConsumer() = default;
    virtual void on_body(std::string_view data) = 0;
    virtual void on_body_end() = 0;
};

class Exchange {
public:
    virtual ~Exchange();

    // ---- for handlers --------------------------------------------------
    Request& req() { return *req_; }
    // The connection as this request sees it: realip may have replaced the
    // client's address (http/realip.h).
    const ConnInfo& conn() const { return realip_ ? *realip_ : info_; }
    VarCtx vars() { return VarCtx{conn(), *req_, *gen_->cfg->http}; }
    Worker& worker() { return w_; }
    EventLoop& loop() { return w_.loop(); }
    uint64_t number() const { return info_.number; }
    const Generation& generation() const { return *gen_; }
    std::string& head_scratch() { return head_scratch_; }   // response heads are built here
    bool head_sent() const { return head_sent_; }
    bool keepalive_wanted() const { return keepalive_; }
    void set_keepalive(bool v) { keepalive_ = v; }

    // Starts delivering the request body to `c` (bytes already buffered first).
    virtual void read_body(BodyConsumer* c) = 0;
    virtual void pause_body(bool paused) = 0;
    virtual bool body_done() const = 0;
    // While held, send()/send_head() only queue; releasing writes it all at
    // once (the proxy holds output across one upstream read).
    virtual void hold_output(bool on) = 0;
    virtual void send(std::string_view bytes) = 0;   // response bytes, copied
    virtual void send(Buf&& b) = 0;                  // response bytes, moved
    virtual size_t pending_out() const = 0;
    // The response head, built as HTTP/1.1 text (the carrier re-frames it).
    // Protocol-neutral header policy (`add_header`) is applied here, once,
    // then the carrier writes it (write_head).
    void send_head(HeadBuilder& h, bool body_framed);
    // The response is complete: flush, log, then the next request or close.
    virtual void end_response(bool keepalive_ok) = 0;
    // Abort: nothing more can be sent (upstream broke mid-response).
    virtual void abort_response() = 0;
    // The upstream answered 101: the exchange becomes a tunnel to
    // `upstream_fd` (with its TLS object, if any); `from_upstream` holds
    // bytes for the client. `up`/`peer`: the peer whose conns the tunnel holds.
    virtual void upgrade(int upstream_fd, SSL* upstream_ssl, OutQueue&& from_upstream, std::string upstream_addr,
                         const conf::Upstream* up = nullptr, size_t peer = 0) = 0;
    // Nothing more can happen on this exchange (its carrier closed).
    virtual bool closed() const = 0;
    // Whether the client reads HTTP/1.1 chunked framing (HTTP/2 frames bodies itself).
    // `chunked_transfer_encoding off`: bodies of unknown length end with the connection.
    bool client_chunked() const {
        return !subrequest_ && req_->head.version == 11 && (!req_->lc || *req_->lc->chunked_transfer_encoding);
    }

    // add_trailer: "0\r\n", the trailer fields, "\r\n" (an HTTP/1.1 chunked
    // body's end); the fields only when this response expects trailers.
    std::string last_chunk();

    // nginx's absolute_redirect: "/path" becomes scheme://host[:port]/path.
    std::string absolute_location(std::string_view loc);
    // Answer with `status` and nginx's page (or an error_page redirect).
    void finalize_error(int status);
    // Error-log line with nginx's context: ", client: ..., server: ..., request: ..."
    void log_error(Level lvl, std::string_view msg, std::string_view upstream = {});
    std::string log_context(std::string_view upstream = {}) const;

    bool is_subrequest() const { return subrequest_; }

protected:
    friend class SubExchange;   // http/subrequest.*: builds a request from its parent's
    friend class SsiRun;        // http/ssi.cpp
    Exchange(Worker& w, std::shared_ptr<Generation> gen, ConnInfo& info);

    // Request processing once the head is known (r.server and r.lc set).
    void route();
    // An internal redirect to a named location (error_page, try_files):
    // nginx enters it at its rewrite phase, then its handler.
    void enter_named(const conf::Location* loc);
    void run_handler();
    void apply_realip(const conf::LocConf& lc);
    // rewrite module (http/rewrite.cpp): false when a response was produced;
    // `stop`: break/last/rewrite ... break; `changed`: the URI changed and the
    // location search runs again (nginx's uri_changed)
    bool run_rewrites(const std::vector<conf::RewriteStep>& steps, bool& stop, bool& changed);
    bool test_condition(const conf::IfCondition& c);
    void set_variable(const conf::RewriteStep& st);
    void handle_return(const conf::RewriteStep& st);
    void handle_static();
    bool run_try_files();                             // static_file.cpp
    // ngx_http_ssi_module on a static file (http/ssi.cpp): whether it applies, then the response
    bool ssi_applies(std::string_view content_type, off_t size) const;
    void run_ssi(int fd, off_t size, std::string_view content_type, time_t mtime, const std::string& etag);
    void ssi_drained();   // the carrier's output drained: an include in flight reads on
    void start_ssi(std::string doc, int status, std::string_view content_type, time_t mtime, const std::string& etag);
    std::string map_uri_to_path(std::string_view uri);   // root/alias + URI
    void apply_header_filters(HeadBuilder& h);        // expires, charset (header_filters.cpp)
    void send_redirect(int status, const std::string& location);
    void send_simple(int status, std::string_view content_type, std::string_view body,
                     const std::string* location = nullptr);
    bool value_ok(std::string_view v, std::string_view what);
    void write_access_log();
    void add_configured_headers(HeadBuilder& h);   // add_header of the location
    void keep_sent_headers(std::string_view head);  // for $sent_http_*
    // TLS checks once the request's server is known (nginx's
    // ngx_http_process_request): 421 when its Host names a server that
    // verifies client certificates other than the one the TLS server name
    // chose, 495 / 496 for its ssl_verify_client; 0 to go on. Logs why.
    int tls_refusal(std::string_view phase);
    // add_trailer (trailers.cpp): whether this response carries trailers, and
    // the HTTP/1 head turned chunked for them; the fields, evaluated at the
    // body's end into Request::sent_trailers ($sent_trailer_*).
    void plan_trailers(HeadBuilder& h);
    const std::vector<std::pair<std::string, std::string>>& eval_trailers();

    // ---- carrier primitives ---------------------------------------------
    // Writes a response head that send_head() completed (policy applied).
    virtual void write_head(HeadBuilder& h, bool body_framed) = 0;
    // Sends bytes [from, from+len) of `fd` as the body (takes the fd).
    virtual void send_file(int fd, off_t from, off_t len) = 0;
    // `return 444`: close without a response.
    virtual void drop() = 0;

    Worker& w_;
    std::shared_ptr<Generation> gen_;
    ConnInfo& info_;                  // the connection's (several streams may share it)
    std::unique_ptr<ConnInfo> realip_;   // this request's view once realip changed the address
    std::unique_ptr<Request> req_;
    std::unique_ptr<proxy::Proxy> proxy_;
    std::string head_scratch_;        // response heads are built here (capacity reused)
    bool head_sent_ = false;
    bool keepalive_ = false;
    int redirects_ = 0;
    bool error_page_done_ = false;   // an error_page redirect happened (recursive_error_pages off)
    bool subrequest_ = false;        // a SubExchange: no access log, no framing of its own
    SsiRun* ssi_ = nullptr;          // the SSI processing of this response (deleted deferred)
    std::shared_ptr<SsiShared> ssi_shared_;   // SSI variables and blocks of the main request
    bool expect_trailers_ = false;   // add_trailer applies: the body ends with trailer fields
    bool chunk_out_ = false;         // HTTP/1.1: the carrier frames the body in chunks (made chunked for trailers)
};

}  // namespace sy::http

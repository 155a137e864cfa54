// A connected socket that may carry TLS: the one place that knows the
// difference between read()/writev() and SSL_read()/SSL_write(). Sessions,
// tunnels and upstream connections do all their socket I/O through it.
//
// Hand-written because it must fit the event loop's edge-triggered rules:
// with TLS, a short read does not prove the socket is drained (OpenSSL
// returns one record at a time and may hold more), a read can wait for the
// socket to become writable (and a write for readable) during a key update,
// and an unfinished SSL_write must be retried with the same bytes, which an
// OutQueue guarantees because it only consumes what was written.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/log.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace sy::tls {

class Stream {
public:
    Io io;                     // the fd and its epoll registration (the owner registers it)

    Stream() = default;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream();

    bool tls() const { return ssl_ != nullptr; }
    SSL* ssl() const { return ssl_; }

    // Layers TLS over io.fd. Server side: `ctx` is the default server's.
    // Client side: `sni` (may be empty) is sent as the server name.
    bool start_server(SSL_CTX* ctx, void* owner);
    bool start_client(SSL_CTX* ctx, const std::string& sni, void* owner);
    // Takes an established TLS connection from another owner (upgrade hand-off).
    void adopt(int fd, SSL* ssl, void* owner);
    // Gives the TLS object away (the socket stays in io.fd); the caller owns it.
    SSL* release_tls() { SSL* s = ssl_; ssl_ = nullptr; return s; }

    // 1: done; 0: in progress (wait for events); -1: failed (error() says why).
    int handshake();

    // > 0: bytes; 0: EOF (FIN or close_notify); -1 with errno EAGAIN: wait;
    // -1 with another errno (EPROTO for a TLS failure): error() says why.
    ssize_t read(char* buf, size_t n);
    ssize_t write(const char* buf, size_t n);
    // Plain TCP only: moves up to n bytes from the socket into a pipe / from
    // a pipe to the socket with splice(2), never through user space. Results
    // and errors as read() and write(). A short splice_in() does not prove
    // the socket drained (a pipe takes a limited number of segments).
    ssize_t splice_in(int pipe_w, size_t n);
    ssize_t splice_out(int pipe_r, size_t n);
    // Writes as much of `q` as the socket takes and consumes it. Returns the
    // bytes written (0 when it would block) or -1 on error.
    ssize_t send(OutQueue& q);
    // Half-close: close_notify (TLS) and shutdown(SHUT_WR).
    void shutdown_write();
    // Frees the TLS object and closes the socket (the owner removed it from epoll).
    void close();

    // Applies epoll events to the owner's readable/writable flags: with TLS a
    // blocked read may be waiting for EPOLLOUT and a blocked write for EPOLLIN.
    // Remembers a reported FIN (RDHUP/HUP/ERR) until the socket closes.
    void on_events(uint32_t events, bool& readable, bool& writable);
    // Whether a read that returned fewer bytes than asked proves the socket
    // drained. Plain TCP: yes, unless a FIN waits behind the data (edge-
    // triggered epoll reports it once, with the last bytes: read on to the
    // EOF). TLS: no, OpenSSL may hold more records; read on until EAGAIN.
    bool short_read_drains() const { return ssl_ == nullptr && !fin_pending_; }

    // "SSL_read() failed (SSL: error:...)" or "recv() failed (104: ...)".
    const std::string& error() const { return err_; }
    // Whether the last failure is the peer's doing (a reset, a refused or
    // broken handshake, an alert it sent): nginx logs those at info for
    // clients and error for upstreams, anything else at crit.
    bool error_is_peer() const { return err_peer_; }
    Level client_level() const { return err_peer_ ? Level::Info : Level::Crit; }
    Level upstream_level() const { return err_peer_ ? Level::Error : Level::Crit; }

    static int ex_index();     // SSL ex_data slot holding the owner pointer
    static void* owner_of(const SSL* ssl);

private:
    ssize_t tls_result(int rc, const char* what, bool reading);
    ssize_t plain_io(char* buf, size_t n, bool reading);
    ssize_t plain_splice(int from, int to, size_t n, bool reading);
    ssize_t plain_failed(bool reading);
    void set_error(const char* what, bool peer);

    SSL* ssl_ = nullptr;
    bool read_wants_write_ = false;
    bool write_wants_read_ = false;
    bool fin_pending_ = false;
    std::string err_;
    bool err_peer_ = true;
};

// OpenSSL's queued errors as nginx prints them: " (SSL: error:...:reason)".
std::string ssl_errors();

}  // namespace sy::tls

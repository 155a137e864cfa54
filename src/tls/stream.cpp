#include "tls/stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>

namespace sy::tls {

// nginx's ngx_ssl_error() tail: " (SSL: error:XXXXXXXX:lib::reason[:data] ...)"
// from the OpenSSL error queue, which it empties; "" when the queue is empty.
std::string ssl_errors() {
    std::string out;
    for (;;) {
        const char* data = nullptr;
        int flags = 0;
        unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
        if (e == 0) break;
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += out.empty() ? " (SSL: " : " ";
        out += buf;
        if (data && *data && (flags & ERR_TXT_STRING)) {
            out += ':';
            out += data;
        }
    }
    if (!out.empty()) out += ')';
    return out;
}

namespace {

// ngx_ssl_connection_error's list: failures that are the peer's doing (bad
// or refused handshakes, alerts it sent), logged at info for clients and at
// error for upstreams; anything else is ours and logged at crit.
bool peer_reason(int r) {
    if (r >= 1000 && r <= 1100) return true;   // SSL_R_SSLV3_ALERT_* / SSL_R_TLSV1_ALERT_*: alerts the peer sent
    switch (r) {
    case SSL_R_BAD_CHANGE_CIPHER_SPEC: case SSL_R_DIGEST_CHECK_FAILED: case SSL_R_ERROR_IN_RECEIVED_CIPHER_LIST:
    case SSL_R_EXCESSIVE_MESSAGE_SIZE: case SSL_R_HTTPS_PROXY_REQUEST: case SSL_R_HTTP_REQUEST:
    case SSL_R_LENGTH_MISMATCH: case SSL_R_NO_CIPHERS_SPECIFIED: case SSL_R_NO_COMPRESSION_SPECIFIED:
    case SSL_R_NO_SHARED_CIPHER: case SSL_R_RECORD_LENGTH_MISMATCH: case SSL_R_CLIENTHELLO_TLSEXT:
    case SSL_R_PARSE_TLSEXT: case SSL_R_CALLBACK_FAILED: case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_UNEXPECTED_MESSAGE: case SSL_R_UNEXPECTED_RECORD: case SSL_R_UNKNOWN_ALERT_TYPE:
    case SSL_R_UNKNOWN_PROTOCOL: case SSL_R_UNSUPPORTED_PROTOCOL: case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_WRONG_VERSION_NUMBER: case SSL_R_BAD_PACKET: case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_INAPPROPRIATE_FALLBACK: case SSL_R_CERT_CB_ERROR: case SSL_R_VERSION_TOO_LOW:
    case SSL_R_BAD_KEY_SHARE: case SSL_R_BAD_EXTENSION: case SSL_R_BAD_ECPOINT: case SSL_R_BAD_LENGTH:
    case SSL_R_MISSING_SIGALGS_EXTENSION: case SSL_R_NO_SUITABLE_KEY_SHARE: case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_UNEXPECTED_EOF_WHILE_READING: case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return true;
    default:
        return false;
    }
}

// ngx_connection_error's list of errnos that a vanished peer causes.
bool peer_errno(int e) {
    return e == ECONNRESET || e == EPIPE || e == ENOTCONN || e == ETIMEDOUT || e == ECONNREFUSED || e == ENETDOWN ||
           e == ENETUNREACH || e == EHOSTDOWN || e == EHOSTUNREACH;
}

}  // namespace

int Stream::ex_index() {
    static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return idx;
}

void* Stream::owner_of(const SSL* ssl) { return SSL_get_ex_data(ssl, ex_index()); }

Stream::~Stream() {
    if (ssl_) SSL_free(ssl_);
}

static SSL* new_ssl(SSL_CTX* ctx, int fd, void* owner) {
    SSL* s = SSL_new(ctx);
    if (!s) return nullptr;
    if (SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        return nullptr;
    }
    // Idle connections give their record buffers back; SSL_write may write
    // one record and return, and be retried from a queue that moved.
    SSL_set_mode(s, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // A peer closing without close_notify is an EOF, as in nginx.
    SSL_set_options(s, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Read whole records (and what follows) in one read(2), not header then
    // body; callers read until EAGAIN, so nothing buffered is forgotten.
    SSL_set_read_ahead(s, 1);
    SSL_set_ex_data(s, Stream::ex_index(), owner);
    return s;
}

bool Stream::start_server(SSL_CTX* ctx, void* owner) {
    ERR_clear_error();
    ssl_ = new_ssl(ctx, io.fd, owner);
    if (!ssl_) {
        set_error(("SSL_new() failed" + ssl_errors()).c_str(), false);
        return false;
    }
    SSL_set_accept_state(ssl_);
    return true;
}

bool Stream::start_client(SSL_CTX* ctx, const std::string& sni, void* owner) {
    ERR_clear_error();
    ssl_ = new_ssl(ctx, io.fd, owner);
    if (!ssl_) {
        set_error(("SSL_new() failed" + ssl_errors()).c_str(), false);
        return false;
    }
    if (!sni.empty() && SSL_set_tlsext_host_name(ssl_, sni.c_str()) != 1) {
        set_error(("SSL_set_tlsext_host_name(\"" + sni + "\") failed" + ssl_errors()).c_str(), false);
        return false;
    }
    SSL_set_connect_state(ssl_);
    return true;
}

void Stream::adopt(int fd, SSL* ssl, void* owner) {
    io.fd = fd;
    ssl_ = ssl;
    fin_pending_ = false;
    if (ssl_) SSL_set_ex_data(ssl_, ex_index(), owner);
}

void Stream::set_error(const char* what, bool peer) {
    err_ = what;
    err_peer_ = peer;
}

int Stream::handshake() {
    ERR_clear_error();
    read_wants_write_ = write_wants_read_ = false;
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return 1;
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    int sys = errno;
    int reason = ERR_GET_REASON(ERR_peek_last_error());
    std::string q = ssl_errors();
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && q.empty() && sys == 0))
        set_error("peer closed connection in SSL handshake", true);
    else if (e == SSL_ERROR_SYSCALL && q.empty())
        set_error(fmt::format("SSL_do_handshake() failed ({}: {})", sys, strerror(sys)).c_str(), peer_errno(sys));
    else
        set_error(("SSL_do_handshake() failed" + q).c_str(), e == SSL_ERROR_SSL && peer_reason(reason));
    return -1;
}

ssize_t Stream::tls_result(int rc, const char* what, bool reading) {
    int e = SSL_get_error(ssl_, rc);
    int sys = errno;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (!reading) write_wants_read_ = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading) read_wants_write_ = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading) return 0;
        set_error(fmt::format("{} failed (32: Broken pipe)", what).c_str(), true);
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL: {
        std::string q = ssl_errors();
        if (q.empty() && sys == 0) {
            if (reading) return 0;
            sys = EPIPE;
        }
        if (q.empty()) set_error(fmt::format("{} failed ({}: {})", what, sys, strerror(sys)).c_str(), peer_errno(sys));
        else set_error((std::string(what) + " failed" + q).c_str(), false);
        errno = sys ? sys : EPROTO;
        return -1;
    }
    default: {
        int reason = ERR_GET_REASON(ERR_peek_last_error());
        set_error((std::string(what) + " failed" + ssl_errors()).c_str(), e == SSL_ERROR_SSL && peer_reason(reason));
        errno = EPROTO;
        return -1;
    }
    }
}

// read()/write() on the plain socket, errors worded as nginx's recv()/send().
ssize_t Stream::plain_io(char* buf, size_t n, bool reading) {
    for (;;) {
        ssize_t r = reading ? ::read(io.fd, buf, n) : ::write(io.fd, buf, n);
        if (r >= 0) return r;
        if (errno != EINTR) return plain_failed(reading);
    }
}

ssize_t Stream::plain_splice(int from, int to, size_t n, bool reading) {
    for (;;) {
        ssize_t r = ::splice(from, nullptr, to, nullptr, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (r >= 0) return r;
        if (errno != EINTR) return plain_failed(reading);
    }
}

ssize_t Stream::splice_in(int pipe_w, size_t n) { return plain_splice(io.fd, pipe_w, n, true); }
ssize_t Stream::splice_out(int pipe_r, size_t n) { return plain_splice(pipe_r, io.fd, n, false); }

// A failed plain read or write (errno set): -1, errno kept; the error text is
// nginx's for the same failure ("recv() failed (104: ...)"), spliced or not.
ssize_t Stream::plain_failed(bool reading) {
    int e = errno;
    if (e != EAGAIN)
        set_error(fmt::format("{}() failed ({}: {})", reading ? "recv" : "send", e, strerror(e)).c_str(), peer_errno(e));
    errno = e;
    return -1;
}

ssize_t Stream::read(char* buf, size_t n) {
    if (!ssl_) return plain_io(buf, n, true);
    ERR_clear_error();
    read_wants_write_ = false;
    int rc = SSL_read(ssl_, buf, int(n > INT_MAX ? INT_MAX : n));
    if (rc > 0) return rc;
    return tls_result(rc, "SSL_read()", true);
}

ssize_t Stream::write(const char* buf, size_t n) {
    if (n == 0) return 0;
    if (!ssl_) return plain_io(const_cast<char*>(buf), n, false);
    ERR_clear_error();
    write_wants_read_ = false;
    int rc = SSL_write(ssl_, buf, int(n > INT_MAX ? INT_MAX : n));
    if (rc > 0) return rc;
    return tls_result(rc, "SSL_write()", false);
}

ssize_t Stream::send(OutQueue& q) {
    if (!ssl_) {
        ssize_t n = q.write_to(io.fd);
        if (n < 0) {
            int e = errno;
            set_error(fmt::format("writev() failed ({}: {})", e, strerror(e)).c_str(), peer_errno(e));
            errno = e;
        }
        return n;
    }
    // One record per SSL_write (partial-write mode); a blocked write is
    // retried with the same front bytes, since nothing is consumed unwritten.
    ssize_t total = 0;
    while (!q.empty()) {
        std::string_view f = q.front();
        ssize_t n = write(f.data(), f.size());
        if (n > 0) {
            q.consume(size_t(n));
            total += n;
            continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        return -1;
    }
    return total;
}

void Stream::shutdown_write() {
    if (io.fd < 0) return;
    if (ssl_) {
        ERR_clear_error();
        if (!(SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) SSL_shutdown(ssl_);
        ERR_clear_error();
    }
    ::shutdown(io.fd, SHUT_WR);
}

void Stream::close() {
    fin_pending_ = false;
    if (ssl_) {
        // A clean close says so (close_notify), unless the connection failed.
        if (err_.empty() && SSL_is_init_finished(ssl_)) {
            ERR_clear_error();
            if (!(SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) SSL_shutdown(ssl_);
        }
        ERR_clear_error();
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (io.fd >= 0) {
        ::close(io.fd);
        io.fd = -1;
    }
}

void Stream::on_events(uint32_t events, bool& readable, bool& writable) {
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) fin_pending_ = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        readable = true;
        if (write_wants_read_) writable = true;
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        writable = true;
        if (read_wants_write_) readable = true;
    }
}

}  // namespace sy::tls

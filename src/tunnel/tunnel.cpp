#include "tunnel/tunnel.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/access_log.h"

namespace sy::tunnel {

namespace {
enum { kClient = 0, kUpstream = 1 };
enum { kIdle = 0, kStall = 1 };
size_t g_live = 0;
// Reads land here and are written straight on; only the part the other side
// could not take is copied into a pooled chunk.
alignas(64) char g_scratch[65536];
}  // namespace

size_t Tunnel::live() { return g_live; }

Tunnel::Tunnel(http::Worker& w, std::shared_ptr<http::Generation> gen, std::unique_ptr<http::Request> req,
               http::ConnInfo info, Params p)
    : w_(w), gen_(std::move(gen)), req_(std::move(req)), info_(std::move(info)), p_(std::move(p)) {
    client_.s.io.owner = upstream_.s.io.owner = this;
    client_.s.io.tag = kClient;
    upstream_.s.io.tag = kUpstream;
    idle_.owner = stall_.owner = this;
    idle_.tag = kIdle;
    stall_.tag = kStall;
    ++g_live;
    w_.track(this);
}

Tunnel::~Tunnel() {
    --g_live;
    w_.untrack(this);
}

void Tunnel::start(int cfd, SSL* cssl, int ufd, SSL* ussl, OutQueue&& to_client, OutQueue&& extra,
                   OutQueue&& to_upstream) {
    client_.s.adopt(cfd, cssl, this);
    upstream_.s.adopt(ufd, ussl, this);
    // OpenSSL may already hold records read from the socket: read until EAGAIN once
    client_.readable = cssl != nullptr;
    upstream_.readable = ussl != nullptr;
    client_.pending = std::move(to_client);
    client_.pending.splice(std::move(extra));  // bytes the upstream sent right after its 101
    upstream_.pending = std::move(to_upstream);
    w_.loop().add(client_.s.io);
    w_.loop().add(upstream_.s.io);
    w_.loop().arm(idle_, p_.read_timeout);
    flush(client_);
    if (!closed_) flush(upstream_);
}

void Tunnel::start_registered(Io& creg, SSL* cssl, Io& ureg, SSL* ussl, OutQueue&& to_upstream) {
    client_.s.adopt(creg.fd, cssl, this);
    upstream_.s.adopt(ureg.fd, ussl, this);
    // MOD reports what is ready now (edge-triggered): bytes the client sent
    // meanwhile come as a first event
    client_.readable = cssl != nullptr;
    upstream_.readable = ussl != nullptr;
    upstream_.pending = std::move(to_upstream);
    if (!w_.loop().move(creg, client_.s.io)) w_.loop().add(client_.s.io);
    if (!w_.loop().move(ureg, upstream_.s.io)) w_.loop().add(upstream_.s.io);
    creg.fd = ureg.fd = -1;
    w_.loop().arm(idle_, p_.read_timeout);
    flush(upstream_);
}

void Tunnel::on_io(int tag, uint32_t events) {
    if (closed_) return;
    Side& s = tag == kClient ? client_ : upstream_;
    s.s.on_events(events, s.readable, s.writable);
    if (s.writable && !s.drained() && !flush(s)) return;
    pump(client_, upstream_);
    if (closed_) return;
    pump(upstream_, client_);
    if (closed_) return;
    check_done();
}

bool Tunnel::flush(Side& to) {
    if (to.drained()) return true;
    if (!to.pending.empty() && to.s.send(to.pending) < 0) {
        close(&to == &client_ ? to.s.client_level() : to.s.upstream_level(), to.s.error() + " while proxying upgraded connection");
        return false;
    }
    if (to.pending.empty() && to.in_pipe > 0 && !drain_pipe(to)) return false;
    if (!to.drained()) to.writable = false;
    arm_write_timer();
    if (to.drained()) {
        Side& from = &to == &client_ ? upstream_ : client_;
        if (from.eof && !to.shut && (p_.half_close || to.s.tls())) {
            to.s.shutdown_write();
            to.shut = true;
        }
    }
    return true;
}

// Writes what the pipe holds to `to`; the pipe goes back to the pool empty.
bool Tunnel::drain_pipe(Side& to) {
    while (to.in_pipe > 0) {
        ssize_t w = to.s.splice_out(to.pipe.r, to.in_pipe);
        if (w > 0) {
            to.in_pipe -= size_t(w);
            continue;
        }
        if (w < 0 && errno == EAGAIN) return true;
        close(&to == &client_ ? to.s.client_level() : to.s.upstream_level(), to.s.error() + " while proxying upgraded connection");
        return false;
    }
    PipePool::get().give(to.pipe, false);
    return true;
}

void Tunnel::count_read(Side& from, size_t n) {
    from.received += n;
    if (&from == &upstream_) req_->body_bytes_sent += n, req_->bytes_sent += n;
    else req_->bytes_received += n;
    w_.loop().arm(idle_, p_.read_timeout);
}

void Tunnel::pump(Side& from, Side& to) {
    bool spliced = false;
    while (from.readable && !from.eof && to.drained() && !closed_) {
        if (from.bulk && !to.pipe) {
            to.pipe = PipePool::get().take();
            if (!to.pipe) from.bulk = false;   // out of descriptors: copy until the next full read
        }
        ssize_t n;
        if (to.pipe) {
            n = from.s.splice_in(to.pipe.w, PipePool::kCapacity);
            if (n > 0) {
                count_read(from, size_t(n));
                to.in_pipe = size_t(n);
                spliced = true;
                if (!flush(to) || !to.drained()) return;
                continue;   // a short splice does not prove the socket drained: on to EAGAIN
            }
            int e = errno;
            PipePool::get().give(to.pipe, false);
            // The kernel's splice stops at TCP urgent data (read() steps over
            // it, as nginx's recv() does) and then says EOF once a FIN came,
            // with bytes still behind the mark. So an EOF, or nothing at all
            // on a fresh edge, is checked by a plain read before it is believed.
            if (n == 0 || (e == EAGAIN && !spliced)) {
                from.bulk = false;
                continue;
            }
            errno = e;
        } else {
            size_t want = p_.read_size && p_.read_size < sizeof g_scratch ? p_.read_size : sizeof g_scratch;
            n = from.s.read(g_scratch, want);
            if (n > 0) {
                count_read(from, size_t(n));
                size_t done = 0;
                while (done < size_t(n)) {
                    ssize_t w = to.s.write(g_scratch + done, size_t(n) - done);
                    if (w > 0) { done += size_t(w); continue; }
                    if (w < 0 && errno == EAGAIN) break;
                    close(&to == &client_ ? to.s.client_level() : to.s.upstream_level(), to.s.error() + " while proxying upgraded connection");
                    return;
                }
                if (size_t(n) == want && splice_ok()) from.bulk = true;   // a full read: bulk, splice from now on
                if (done < size_t(n)) {
                    to.pending.append(std::string_view(g_scratch + done, size_t(n) - done));
                    to.writable = false;
                    arm_write_timer();
                    return;
                }
                // A short read drained the socket, unless a FIN is waiting behind the
                // data (or TLS holds more records: read on to EAGAIN).
                if (size_t(n) < want && from.s.short_read_drains()) from.readable = false;
                continue;
            }
        }
        if (n == 0) {
            from.eof = true;
            from.readable = false;
            // without half-close the session ends now: a plain socket's FIN
            // comes with close(), TLS still owes its close_notify
            if (to.drained() && !to.shut && (p_.half_close || to.s.tls())) {
                to.s.shutdown_write();
                to.shut = true;
            }
            return;
        }
        if (errno == EAGAIN) {
            from.readable = false;
            return;
        }
        close(&from == &client_ ? from.s.client_level() : from.s.upstream_level(), from.s.error() + " while proxying upgraded connection");
        return;
    }
}

void Tunnel::arm_write_timer() {
    if (!client_.drained()) w_.loop().arm(stall_, p_.client_send_timeout);
    else if (!upstream_.drained()) w_.loop().arm(stall_, p_.send_timeout);
    else w_.loop().disarm(stall_);
}

void Tunnel::check_done() {
    if (client_.eof && upstream_.eof && client_.drained() && upstream_.drained()) close(Level::Debug, "");
    else if (!p_.half_close && ((client_.eof && upstream_.drained()) || (upstream_.eof && client_.drained())))
        close(Level::Debug, "");
}

// nginx's error log context for the connection.
std::string Tunnel::context() const {
    if (p_.stream)
        return fmt::format(", client: {}, server: {}:{}, upstream: \"{}\", bytes from/to client:{}/{}, bytes from/to "
                           "upstream:{}/{}", info_.remote_addr, info_.server_addr, info_.server_port, p_.upstream_addr,
                           client_.received, upstream_.received, upstream_.received, client_.received);
    std::string line = ", client: " + info_.remote_addr + ", server: " + (req_->server ? req_->server->first_name : "");
    line += ", request: \"" + std::string(req_->head.request_line) + "\"";
    line += std::string(", upstream: \"") + (upstream_.s.tls() ? "https://" : "http://") + p_.upstream_addr + std::string(req_->head.target) + "\"";
    for (auto& h : req_->head.headers)
        if (h.name.size() == 4 && strncasecmp(h.name.data(), "host", 4) == 0) {
            line += ", host: \"" + std::string(h.value) + "\"";
            break;
        }
    return line;
}

void Tunnel::on_timer(int tag) {
    if (closed_) return;
    if (tag == kIdle)
        close(Level::Error, "upstream timed out (110: Connection timed out) while proxying upgraded connection");
    else if (!client_.drained())
        close(Level::Info, "client timed out (110: Connection timed out) while proxying upgraded connection");
    else
        close(Level::Error, "upstream timed out (110: Connection timed out) while proxying upgraded connection");
}

void Tunnel::close(Level lvl, std::string_view why) {
    if (closed_) return;
    closed_ = true;
    if (!why.empty() && errlog().enabled(lvl)) {
        std::string line(why);
        if (p_.stream) {   // nginx's stream module names its phase differently
            size_t at = line.find(" while proxying upgraded connection");
            if (at != std::string::npos) line.replace(at, 35, " while proxying connection");
        }
        errlog().write(lvl, info_.number, line + context());
    }
    SY_LOG(Level::Debug, info_.number, "tunnel closed: {} bytes from client, {} bytes from upstream", client_.received,
           upstream_.received);
    w_.loop().disarm(idle_);
    w_.loop().disarm(stall_);
    if (p_.up && p_.peer < p_.up->peers.size() && p_.up->peers[p_.peer].conns > 0) --p_.up->peers[p_.peer].conns;
    p_.up = nullptr;
    for (Side* s : {&client_, &upstream_}) {
        PipePool::get().give(s->pipe, s->in_pipe > 0);
        if (s->s.io.fd < 0) continue;
        w_.loop().forget(s->s.io);   // close() ends the registration
        s->s.close();
    }
    if (!req_->upstream.empty()) {
        auto& t = req_->upstream.back();
        t.bytes_received += upstream_.received;
        t.bytes_sent += client_.received;
        t.response_ms = clock::now_ms() - req_->start_mono;
    }
    http::VarCtx vc{info_, *req_, p_.stream ? *gen_->cfg->stream : *gen_->cfg->http};
    http::write_access_log(*gen_, vc);
    w_.conn_closed();
    w_.loop().defer_delete(this);
}

}  // namespace sy::tunnel

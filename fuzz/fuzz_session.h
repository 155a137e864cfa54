// Shared by the fuzz targets that drive a real client connection: a worker
// on a config given as text, and one connection over a socketpair fed the
// fuzzer's bytes, read until the server closes or gives up.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/loader.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "http/router.h"
#include "http/server.h"
#include "http/session.h"

namespace fuzz {

struct World {
    sy::EventLoop loop;
    sy::http::Worker worker{loop};
    std::shared_ptr<sy::http::Generation> gen;
};

inline World* make_world(const char* conf_text) {
    auto* w = new World();
    char dir[] = "/tmp/sy-fuzz-XXXXXX";
    if (!mkdtemp(dir)) abort();
    std::string conf = std::string(dir) + "/nginx.conf";
    FILE* f = fopen(conf.c_str(), "w");
    fputs(conf_text, f);
    fclose(f);
    sy::conf::LoadOptions lo;
    lo.prefix = std::string(dir) + "/";
    lo.conf_file = conf;
    auto r = sy::conf::load(lo);
    if (!std::holds_alternative<std::shared_ptr<sy::conf::Config>>(r)) abort();
    w->gen = std::make_shared<sy::http::Generation>();
    w->gen->cfg = std::get<std::shared_ptr<sy::conf::Config>>(r);
    w->gen->groups = sy::http::build_groups(*w->gen->cfg->http);
    w->worker.adopt(w->gen);
    sy::errlog().set_targets({{"/dev/null", ::open("/dev/null", O_WRONLY), sy::Level::Debug}});
    return w;
}

// One connection: `prefix` then `data` written to the server's socket, the
// answers drained, until it closes (bounded number of loop turns).
inline void run_connection(World* w, std::string_view prefix, const uint8_t* data, size_t size) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    auto* s = new sy::http::Session(w->worker, sv[0], peer, &w->gen->groups[0]);
    s->start();
    std::string input(prefix);
    input.append(reinterpret_cast<const char*>(data), size);
    size_t off = 0;
    char sink[65536];
    for (int i = 0; i < 200 && w->worker.connections() > 0; ++i) {
        if (off < input.size()) {
            ssize_t n = ::write(sv[1], input.data() + off, input.size() - off);
            if (n > 0) off += size_t(n);
            if (off == input.size()) ::shutdown(sv[1], SHUT_WR);
        } else if (input.empty() && i == 0) {
            ::shutdown(sv[1], SHUT_WR);
        }
        while (::read(sv[1], sink, sizeof sink) > 0) {}
        w->loop.run_once(0);
    }
    ::close(sv[1]);
    for (int i = 0; i < 50 && w->worker.connections() > 0; ++i) w->loop.run_once(0);
}

}  // namespace fuzz

// libFuzzer target for the request-head path: the real Session reads the
// input from a socketpair, parses, routes and answers, exactly as for a
// client. Anything the input can do must end in a response or a close,
// never a crash, a leak or undefined behaviour.
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

namespace {

struct World {
    sy::EventLoop loop;
    sy::http::Worker worker{loop};
    std::shared_ptr<sy::http::Generation> gen;
};

World* world() {
    static World* w = [] {
        auto* w = new World();
        char dir[] = "/tmp/sy-fuzz-XXXXXX";
        if (!mkdtemp(dir)) abort();
        std::string conf = std::string(dir) + "/nginx.conf";
        FILE* f = fopen(conf.c_str(), "w");
        fputs("events {}\n"
              "http {\n"
              "  access_log off;\n"
              "  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n"
              "  server {\n"
              "    listen 127.0.0.1:9;\n"
              "    server_name example.com *.example.org ~^(?<sub>.+)\\.test$;\n"
              "    location / { return 200 \"$uri $args $host $connection_upgrade\"; }\n"
              "    location = /exact { return 204; }\n"
              "    location ^~ /static/ { root /nonexistent; }\n"
              "    location ~ ^/re/(\\d+)$ { return 302 /num/$1; }\n"
              "    location /rw/ { rewrite ^/rw/(.*)$ /final/$1 last; }\n"
              "    location /final/ { return 200 \"final $uri\"; }\n"
              "    location /ws/ { proxy_pass http://127.0.0.1:9/; }\n"
              "  }\n"
              "}\n",
              f);
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
    }();
    return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    World* w = world();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    auto* s = new sy::http::Session(w->worker, sv[0], peer, &w->gen->groups[0]);
    s->start();
    size_t off = 0;
    char sink[65536];
    for (int i = 0; i < 200 && w->worker.connections() > 0; ++i) {
        if (off < size) {
            ssize_t n = ::write(sv[1], data + off, size - off);
            if (n > 0) off += size_t(n);
            if (off == size) ::shutdown(sv[1], SHUT_WR);
        } else if (size == 0 && i == 0) {
            ::shutdown(sv[1], SHUT_WR);
        }
        while (::read(sv[1], sink, sizeof sink) > 0) {}
        w->loop.run_once(0);
    }
    ::close(sv[1]);
    for (int i = 0; i < 50 && w->worker.connections() > 0; ++i) w->loop.run_once(0);
    return 0;
}

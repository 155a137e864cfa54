// libFuzzer target for the request-head path: the real Session reads the
// input from a socketpair, parses, routes and answers, exactly as for a
// client. Anything the input can do must end in a response or a close,
// never a crash, a leak or undefined behaviour.
#include "fuzz_session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::World* w = fuzz::make_world(
        "events {}\n"
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
        "}\n");
    fuzz::run_connection(w, {}, data, size);
    return 0;
}

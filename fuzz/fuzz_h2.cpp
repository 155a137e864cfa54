// libFuzzer target for the HTTP/2 front: a real Session on an `http2`
// listener gets the client connection preface, then the input as frames
// (nghttp2 parses them); whatever switchyard does with the streams that
// result (routing, bodies, flow control, resets, GOAWAY) must end in
// responses or a close, never a crash, a leak or undefined behaviour.
// The seed corpus (fuzz/corpus/h2) holds frame sequences made with Python h2.
#include "fuzz_session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::World* w = fuzz::make_world(
        "events {}\n"
        "http {\n"
        "  access_log off;\n"
        "  http2_max_concurrent_streams 8;\n"
        "  server {\n"
        "    listen 127.0.0.1:9 http2;\n"
        "    server_name example.com;\n"
        "    client_max_body_size 64k;\n"
        "    location / { return 200 \"$uri $args $host $http2 $request_length\"; }\n"
        "    location = /exact { return 204; }\n"
        "    location ^~ /static/ { root /nonexistent; }\n"
        "    location /rw/ { rewrite ^/rw/(.*)$ /final/$1 last; }\n"
        "    location /final/ { return 200 \"final $uri\"; }\n"
        "    location /up/ { proxy_pass http://127.0.0.1:9/; }\n"
        "    location /drop { return 444; }\n"
        "  }\n"
        "}\n");
    fuzz::run_connection(w, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", data, size);
    return 0;
}

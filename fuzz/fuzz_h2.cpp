// libFuzzer target for the HTTP/2 front: a real Session on an `http2`
// listener gets the client connection preface, then frames; whatever
// switchyard does with the streams that result (routing, bodies, flow
// control, resets, GOAWAY) must end in responses or a close, never a crash,
// a leak or undefined behaviour, and its work must stay bounded by the
// input (hostile input: rapid reset, HPACK bombs, floods).
//
// The input is read in one of two ways, chosen by its first byte:
//   even  raw: the input is written after the preface as it is (frame
//         sequences made with Python h2, as the first seeds were: their
//         first byte, a frame length's high byte, is 0)
//   odd   a frame sequence: records [type][flags][stream][length] + payload,
//         each turned into one frame (after the preface, an empty SETTINGS
//         and its ACK), so random frame types, flags, stream ids, lengths
//         and orders reach nghttp2 intact:
//           type    < 0xe0: type % 10 (DATA .. CONTINUATION); else unknown
//           stream  bit 7 set: the low 7 bits as they are (0, even ids);
//                   else 2 * n + 1 (client streams)
//           length  the payload's length, taken from the input; for
//                   HEADERS, 0xff is a valid GET (the fuzzer need not find
//                   HPACK), 0xfe a GET whose 3.9 KB x-bomb field enters the
//                   dynamic table and 0xfd a block referencing that entry
//                   ~16,000 times (the HPACK bomb); for DATA 0xff is 16 KB
//
// Checked on every loop turn (__builtin_trap on a violation):
//   - H2Stream::live() <= http2_max_concurrent_streams (8): refused and
//     reset streams do not pile up;
//   - the bytes the server wrote <= 4 KiB per record + 256 KiB: no
//     amplification by control frames;
// and at the end: no stream is left alive once the connection is gone.
// The seed corpus (fuzz/corpus/h2) holds both kinds, among them the rapid
// reset and the HPACK bomb.
#include "fuzz_session.h"

#include <string>

#include "http/h2_stream.h"

namespace {

constexpr size_t kMaxStreams = 8;

void put_frame(std::string& out, uint8_t type, uint8_t flags, uint32_t sid, std::string_view payload) {
    size_t n = payload.size();
    out += char(n >> 16);
    out += char(n >> 8);
    out += char(n);
    out += char(type);
    out += char(flags);
    out += char(sid >> 24);
    out += char(sid >> 16);
    out += char(sid >> 8);
    out += char(sid);
    out.append(payload);
}

// HPACK: :method GET (2), :scheme http (6), :path / (4), :authority
// example.com as a literal without indexing (name index 1)
std::string get_block() {
    std::string b = "\x82\x86\x84";
    b += '\x01';
    b += char(11);
    b += "example.com";
    return b;
}

// The same request plus x-bomb: 3900 bytes, literal with incremental
// indexing (the newest dynamic table entry: index 62)
std::string bomb_entry_block() {
    std::string b = get_block();
    b += '\x40';
    b += char(6);
    b += "x-bomb";
    b += '\x7f';          // 7-bit prefix integer: 127 + 3773 = 3900
    size_t rest = 3900 - 127;
    while (rest >= 128) {
        b += char(0x80 | (rest & 0x7f));
        rest >>= 7;
    }
    b += char(rest);
    b.append(3900, 'b');
    return b;
}

std::string bomb_refs_block() {
    std::string b = get_block();
    b.append(16384 - b.size(), char(0x80 | 62));
    return b;
}

std::string frames_of(const uint8_t* d, size_t n, size_t& records) {
    static const std::string get = get_block(), entry = bomb_entry_block(), refs = bomb_refs_block();
    std::string out;
    put_frame(out, 4, 0, 0, {});      // SETTINGS
    put_frame(out, 4, 1, 0, {});      // SETTINGS ACK
    size_t i = 0;
    while (i + 4 <= n) {
        uint8_t t = d[i] < 0xe0 ? d[i] % 10 : d[i];
        uint8_t flags = d[i + 1];
        uint32_t sid = d[i + 2] & 0x80 ? d[i + 2] & 0x7f : uint32_t(d[i + 2]) * 2 + 1;
        size_t len = d[i + 3];
        i += 4;
        ++records;
        if (t == 1 && len >= 0xfd) {
            put_frame(out, t, flags, sid, len == 0xff ? get : len == 0xfe ? entry : refs);
            continue;
        }
        if (t == 0 && len == 0xff) {
            put_frame(out, t, flags, sid, std::string(16384, 'x'));
            continue;
        }
        size_t take = std::min(len, n - i);
        put_frame(out, t, flags, sid, {reinterpret_cast<const char*>(d + i), take});
        i += take;
    }
    return out;
}

// One connection over a socketpair: the preface and `input` written, the
// answers counted, the bounds checked on every turn.
void run(fuzz::World* w, const std::string& input, size_t records) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    auto* s = new sy::http::Session(w->worker, sv[0], peer, &w->gen->groups[0]);
    s->start();
    const size_t out_limit = 4096 * records + (256 << 10);
    size_t off = 0, out = 0;
    char sink[65536];
    auto drain = [&] {
        ssize_t n;
        while ((n = ::read(sv[1], sink, sizeof sink)) > 0) out += size_t(n);
    };
    auto check = [&] {
        if (sy::http::H2Stream::live() > kMaxStreams) __builtin_trap();
        if (out > out_limit) __builtin_trap();
    };
    for (int i = 0; i < 400 && w->worker.connections() > 0; ++i) {
        if (off < input.size()) {
            ssize_t n = ::write(sv[1], input.data() + off, input.size() - off);
            if (n > 0) off += size_t(n);
            if (off == input.size()) ::shutdown(sv[1], SHUT_WR);
        }
        drain();
        w->loop.run_once(0);
        check();
    }
    ::close(sv[1]);
    for (int i = 0; i < 50 && w->worker.connections() > 0; ++i) w->loop.run_once(0);
    check();
    if (w->worker.connections() == 0 && sy::http::H2Stream::live() != 0) __builtin_trap();
}

}  // namespace

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
    static const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (size == 0) {
        fuzz::run_connection(w, preface, data, 0);
        return 0;
    }
    size_t records = 0;
    std::string input = preface;
    if (data[0] & 1) {
        input += frames_of(data + 1, size - 1, records);
    } else {
        input.append(reinterpret_cast<const char*>(data), size);
        records = size / 9 + 1;   // a frame is 9 bytes at least
    }
    run(w, input, records + 1);
    return 0;
}

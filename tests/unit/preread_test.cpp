// Preread (src/stream/preread.h): the ClientHello reader behind `ssl_preread
// on`. Real ClientHellos come from OpenSSL (a client SSL* on memory BIOs);
// each must give the same answer whole, re-split into many TLS records and
// fed one byte at a time. Crafted hellos pin down nginx's quirks
// (ngx_stream_ssl_preread_module.c) and the malformed cases.
#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "stream/preread.h"

namespace sy::stream {

inline void PrintTo(PrereadResult r, std::ostream* os) { *os << to_string(r); }

namespace {

using R = PrereadResult;

// ---------------------------------------------------------------- builders

std::string be16(size_t v) { return {char((v >> 8) & 0xff), char(v & 0xff)}; }
std::string be24(size_t v) { return {char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)}; }

std::string ext(uint16_t type, const std::string& data) { return be16(type) + be16(data.size()) + data; }

// server_name extension: entries of (name_type, name).
std::string sni_ext(std::initializer_list<std::pair<int, std::string>> names) {
    std::string list;
    for (const auto& [type, name] : names) list += char(type) + be16(name.size()) + name;
    return ext(0, be16(list.size()) + list);
}
std::string sni_ext(const std::string& host) { return sni_ext({{0, host}}); }

std::string alpn_list(std::initializer_list<std::string> protos) {
    std::string list;
    for (const auto& p : protos) list += char(p.size()) + p;
    return list;
}
std::string alpn_ext(std::initializer_list<std::string> protos) {
    std::string list = alpn_list(protos);
    return ext(16, be16(list.size()) + list);
}

std::string supver_ext(std::initializer_list<uint16_t> versions) {
    std::string list;
    for (uint16_t v : versions) list += be16(v);
    return ext(43, char(list.size()) + list);
}

// A ClientHello body: version, random, a 32-byte session id, two cipher
// suites, null compression, then the extensions block (if any).
std::string hello_body(uint16_t version, const std::string& exts, bool ext_block = true) {
    std::string b = be16(version) + std::string(32, '\x11') + char(32) + std::string(32, '\x22') + be16(4) +
                    std::string("\x13\x01\x00\x2f", 4) + char(1) + std::string(1, '\0');
    if (ext_block) b += be16(exts.size()) + exts;
    return b;
}

std::string handshake(const std::string& body, int type = 1) { return char(type) + be24(body.size()) + body; }

// The handshake bytes in TLS records of at most `chunk` bytes each.
std::string records(std::string_view hs, size_t chunk, char content_type = 0x16) {
    std::string out;
    for (size_t off = 0; off < hs.size(); off += chunk) {
        std::string_view piece = hs.substr(off, chunk);
        out += content_type;
        out += "\x03\x01";
        out += be16(piece.size());
        out += piece;
    }
    return out;
}
std::string record(std::string_view hs) { return records(hs, hs.size() + 1); }

// A real ClientHello from OpenSSL: one SSL_connect() on memory BIOs.
// `alpn_wire` is in SSL_set_alpn_protos format; versions 0 = OpenSSL's default.
std::string openssl_hello(const char* sni, const std::string& alpn_wire, int min_version, int max_version,
                          bool seclevel0 = false) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) return {};
    if (seclevel0) {
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    }
    if (min_version) SSL_CTX_set_min_proto_version(ctx, min_version);
    if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL* ssl = SSL_new(ctx);
    std::string out;
    if (ssl != nullptr) {
        if (sni) SSL_set_tlsext_host_name(ssl, sni);
        if (!alpn_wire.empty())
            SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                                unsigned(alpn_wire.size()));
        BIO* rbio = BIO_new(BIO_s_mem());
        BIO* wbio = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, rbio, wbio);   // ssl owns both now
        SSL_set_connect_state(ssl);
        (void)SSL_connect(ssl);   // wants to read the ServerHello: -1
        char buf[4096];
        int n;
        while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
        SSL_free(ssl);
    }
    SSL_CTX_free(ctx);
    return out;
}

const std::string kAlpnWire = std::string("\x02h2\x08http/1.1", 12);

// The handshake bytes of a one-record hello (what OpenSSL writes).
std::string payload_of(const std::string& one_record) {
    EXPECT_GE(one_record.size(), 5u);
    if (one_record.size() < 5) return {};
    size_t len = (size_t(uint8_t(one_record[3])) << 8) + uint8_t(one_record[4]);
    EXPECT_EQ(one_record.size(), len + 5) << "expected a single record";
    return one_record.substr(5, len);
}

// ---------------------------------------------------------------- feeding

struct Outcome {
    R result = R::NeedMore;
    ClientHelloInfo info;
    size_t decided_at = 0;   // prefix length at which the result stopped being NeedMore
};

bool same_info(const ClientHelloInfo& a, const ClientHelloInfo& b) {
    return a.server_name == b.server_name && a.alpn == b.alpn && a.protocol == b.protocol;
}

Outcome feed_whole(std::string_view bytes) {
    Preread p;
    Outcome o;
    o.result = p.feed(bytes);
    o.info = p.info();
    o.decided_at = bytes.size();
    return o;
}

// Feeds every prefix 0..size; once decided, the answer must not change.
Outcome feed_bytewise(std::string_view bytes) {
    Preread p;
    Outcome o;
    for (size_t i = 0; i <= bytes.size(); ++i) {
        R r = p.feed(bytes.substr(0, i));
        if (o.result == R::NeedMore && r != R::NeedMore) {
            o.result = r;
            o.info = p.info();
            o.decided_at = i;
        } else if (o.result != R::NeedMore) {
            EXPECT_EQ(r, o.result) << "changed at " << i;
            EXPECT_TRUE(same_info(p.info(), o.info)) << "info changed at " << i;
        }
    }
    if (o.result == R::NeedMore) o.info = p.info();
    return o;
}

// Feeds growing prefixes cut at random points.
Outcome feed_random(std::string_view bytes, unsigned seed) {
    std::mt19937 rng(seed);
    Preread p;
    Outcome o;
    size_t at = 0;
    while (true) {
        at = std::min(bytes.size(), at + 1 + rng() % 97);
        o.result = p.feed(bytes.substr(0, at));
        if (o.result != R::NeedMore || at == bytes.size()) break;
    }
    o.info = p.info();
    o.decided_at = at;
    return o;
}

// The same answer however the bytes arrive: whole, byte by byte, random cuts.
// A Done is expected exactly when the last byte arrives unless `done_at` says.
void expect_all_ways(const std::string& bytes, R want, const ClientHelloInfo& want_info, const std::string& what,
                     size_t done_at = std::string::npos) {
    SCOPED_TRACE(what);
    Outcome w = feed_whole(bytes);
    EXPECT_EQ(w.result, want);
    EXPECT_EQ(w.info.server_name, want_info.server_name);
    EXPECT_EQ(w.info.alpn, want_info.alpn);
    EXPECT_EQ(w.info.protocol, want_info.protocol);
    Outcome b = feed_bytewise(bytes);
    EXPECT_EQ(b.result, want);
    EXPECT_TRUE(same_info(b.info, w.info));
    if (want == R::Done) {
        EXPECT_EQ(b.decided_at, done_at == std::string::npos ? bytes.size() : done_at);
    }
    for (unsigned seed = 1; seed <= 5; ++seed) {
        Outcome r = feed_random(bytes, seed);
        EXPECT_EQ(r.result, want) << "seed " << seed;
        EXPECT_TRUE(same_info(r.info, w.info)) << "seed " << seed;
    }
}

ClientHelloInfo info(std::string sni, std::string alpn, std::string proto) {
    return ClientHelloInfo{std::move(sni), std::move(alpn), std::move(proto)};
}

// A real hello, whole and re-split into records of 1, 7, 64 and 500 bytes.
void expect_real_hello(const std::string& hello, const ClientHelloInfo& want) {
    ASSERT_FALSE(hello.empty()) << "OpenSSL wrote no ClientHello";
    ASSERT_EQ(hello[0], '\x16');
    expect_all_ways(hello, R::Done, want, "as OpenSSL wrote it");
    const std::string hs = payload_of(hello);
    for (size_t chunk : {1u, 7u, 64u, 500u}) {
        std::string split = records(hs, chunk);
        expect_all_ways(split, R::Done, want, "in records of " + std::to_string(chunk));
    }
}

// ---------------------------------------------------------------- real hellos

TEST(Preread, OpenSslTls13WithSniAndAlpn) {
    std::string h = openssl_hello("example.com", kAlpnWire, 0, 0);
    expect_real_hello(h, info("example.com", "h2,http/1.1", "TLSv1.3"));
}

TEST(Preread, OpenSslTls13Only) {
    std::string h = openssl_hello("only13.example", "", TLS1_3_VERSION, TLS1_3_VERSION);
    expect_real_hello(h, info("only13.example", "", "TLSv1.3"));
}

TEST(Preread, OpenSslTls12Only) {
    std::string h = openssl_hello("legacy.example.org", kAlpnWire, TLS1_2_VERSION, TLS1_2_VERSION);
    expect_real_hello(h, info("legacy.example.org", "h2,http/1.1", "TLSv1.2"));
}

TEST(Preread, OpenSslNoSni) {
    expect_real_hello(openssl_hello(nullptr, "", 0, 0), info("", "", "TLSv1.3"));
    expect_real_hello(openssl_hello(nullptr, kAlpnWire, 0, TLS1_2_VERSION), info("", "h2,http/1.1", "TLSv1.2"));
}

TEST(Preread, OpenSslOldVersions) {
    std::string h10 = openssl_hello("old.example", "", TLS1_VERSION, TLS1_VERSION, true);
    std::string h11 = openssl_hello("old.example", "", TLS1_1_VERSION, TLS1_1_VERSION, true);
    if (h10.empty() || h11.empty()) GTEST_SKIP() << "this OpenSSL build has no TLSv1/TLSv1.1";
    expect_real_hello(h10, info("old.example", "", "TLSv1"));
    expect_real_hello(h11, info("old.example", "", "TLSv1.1"));
}

TEST(Preread, HelloFollowedByMoreBytesIsStable) {
    std::string h = openssl_hello("example.com", kAlpnWire, 0, 0);
    ASSERT_FALSE(h.empty());
    Preread p;
    ASSERT_EQ(p.feed(h), R::Done);
    const ClientHelloInfo first = p.info();
    std::string more = h + std::string("\x14\x03\x03\x00\x01\x01", 6) + std::string(100, '\xff');
    for (size_t i = h.size(); i <= more.size(); ++i) {
        ASSERT_EQ(p.feed(std::string_view(more).substr(0, i)), R::Done);
        ASSERT_TRUE(same_info(p.info(), first));
    }
    EXPECT_EQ(p.need(), 0u);
    EXPECT_STREQ(p.error(), "");
    EXPECT_TRUE(p.variables_found());
}

// ---------------------------------------------------------------- not TLS

TEST(Preread, HttpTextIsNotTlsAtOnce) {
    Preread p;
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), R::NotTls);
    EXPECT_STREQ(p.error(), "not a handshake");
    EXPECT_FALSE(p.variables_found());
    EXPECT_TRUE(same_info(p.info(), ClientHelloInfo{}));
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: example.com\r\n\r\nmore"), R::NotTls);
    EXPECT_EQ(feed_bytewise("GET / HTTP/1.1\r\n\r\n").decided_at, 5u);
}

TEST(Preread, NothingIsDecidedBeforeFiveBytes) {
    // nginx: `while (last - p >= 5)`; with fewer bytes it waits (until
    // preread_timeout, after which it goes on with empty, found variables).
    Preread p;
    EXPECT_EQ(p.feed(""), R::NeedMore);
    EXPECT_FALSE(p.variables_found());
    EXPECT_EQ(p.feed("GET "), R::NeedMore);
    EXPECT_TRUE(p.variables_found());
    EXPECT_EQ(p.need(), 5u);
    EXPECT_EQ(p.feed("GET /"), R::NotTls);
}

TEST(Preread, Garbage) {
    expect_all_ways(std::string("\x00\x01\x02\x03\x04\x05", 6), R::NotTls, {}, "zeros");
    expect_all_ways(std::string(64, '\xff'), R::NotTls, {}, "0xff");   // 0x80 set but msg type != 1
    expect_all_ways("SSH-2.0-OpenSSH_9.2\r\n", R::NotTls, {}, "ssh");
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
        std::string g(1 + rng() % 300, '\0');
        for (char& c : g) c = char(rng());
        g[0] = char(0x17 + rng() % 0x60);   // neither 0x16 nor 0x80-bit
        Outcome o = feed_bytewise(g);
        EXPECT_EQ(o.result, g.size() >= 5 ? R::NotTls : R::NeedMore);
    }
}

TEST(Preread, NonHandshakeRecords) {
    for (char type : {'\x14', '\x15', '\x17', '\x18'}) {
        std::string rec = std::string(1, type) + "\x03\x03" + be16(2) + "\x02\x28";
        Preread p;
        EXPECT_EQ(p.feed(rec), R::NotTls);
        EXPECT_STREQ(p.error(), "not a handshake");
    }
    // A handshake record, then an application data record before the hello ends.
    std::string hs = handshake(hello_body(0x0303, sni_ext("a.example")));
    std::string bytes = record(hs.substr(0, 20)) + records(hs.substr(20), 1000, '\x17');
    expect_all_ways(bytes, R::NotTls, {}, "hello continued in a non-handshake record");
}

TEST(Preread, RecordVersionMajorMustBe3) {
    std::string hs = handshake(hello_body(0x0303, ""));
    std::string rec = record(hs);
    rec[1] = '\x02';
    Preread p;
    EXPECT_EQ(p.feed(rec), R::NotTls);
    EXPECT_STREQ(p.error(), "unsupported SSL version");
    // The record's minor version is not looked at.
    rec[1] = '\x03';
    rec[2] = '\x7f';
    EXPECT_EQ(feed_whole(rec).result, R::Done);
}

TEST(Preread, NotAClientHello) {
    std::string server_hello = handshake(hello_body(0x0303, ""), 2);
    Preread p;
    EXPECT_EQ(p.feed(record(server_hello)), R::NotTls);
    EXPECT_STREQ(p.error(), "not a client hello");
}

// ---------------------------------------------------------------- sizes

TEST(Preread, RecordBeyond16k) {
    // A 17000-byte ClientHello in one record: nginx does not cap record
    // lengths; with preread_buffer_size 16k it would fail "preread buffer
    // full". The parser waits for the whole record and says how much that is.
    std::string pad = ext(21, std::string(17000, '\0'));   // padding extension
    std::string hs = handshake(hello_body(0x0303, sni_ext("big.example") + pad));
    std::string rec = record(hs);
    ASSERT_GT(rec.size(), 16384u);
    Preread p;
    EXPECT_EQ(p.feed(std::string_view(rec).substr(0, 16384)), R::NeedMore);
    EXPECT_EQ(p.need(), rec.size());
    EXPECT_GT(p.need(), 16384u);
    EXPECT_EQ(p.feed(rec), R::Done);
    EXPECT_EQ(p.info().server_name, "big.example");
    EXPECT_EQ(p.info().protocol, "TLSv1.2");

    // The same hello in records of at most 2^14 bytes is parsed as they come.
    expect_all_ways(records(hs, 16384), R::Done, info("big.example", "", "TLSv1.2"), "16k records");
}

TEST(Preread, MaxRecordLengthHeaderWaits) {
    std::string hdr = std::string("\x16\x03\x01\xff\xff", 5);
    Preread p;
    EXPECT_EQ(p.feed(hdr + std::string(1000, '\x01')), R::NeedMore);
    EXPECT_EQ(p.need(), 5u + 0xffff);
}

TEST(Preread, NeedCountsRecordsAlreadyParsed) {
    std::string hs = handshake(hello_body(0x0303, sni_ext("n.example")));
    std::string bytes = records(hs, 30);
    Preread p;
    EXPECT_EQ(p.feed(std::string_view(bytes).substr(0, 3)), R::NeedMore);
    EXPECT_EQ(p.need(), 5u);
    EXPECT_EQ(p.feed(std::string_view(bytes).substr(0, 38)), R::NeedMore);
    EXPECT_EQ(p.need(), 35u + 5u);   // the first record is parsed; the second header is incomplete
    EXPECT_EQ(p.feed(std::string_view(bytes).substr(0, 40)), R::NeedMore);
    EXPECT_EQ(p.need(), 70u);        // the second header is in: its whole record
}

TEST(Preread, HandshakeLengthBeyondRecordContinuesInNextRecord) {
    // The handshake length says more than the record holds: wait for the next
    // record, even if there never is one.
    std::string hs = handshake(hello_body(0x0303, sni_ext("x.example") + alpn_ext({"h2"})));
    std::string first = record(hs.substr(0, hs.size() - 3));
    Outcome o = feed_bytewise(first);
    EXPECT_EQ(o.result, R::NeedMore);
    EXPECT_EQ(o.info.server_name, "x.example");   // what nginx's variable shows on preread_timeout
    EXPECT_EQ(o.info.alpn, "");
    EXPECT_EQ(o.info.protocol, "TLSv1.2");
}

TEST(Preread, ExtensionOverrunningTheHandshakeDeclines) {
    std::string body = hello_body(0x0303, ext(0x1234, "abcd"));
    body.resize(body.size() - 2);   // the extension says 4 bytes, the message has 2
    Preread p;
    EXPECT_EQ(p.feed(record(handshake(body))), R::NotTls);
    EXPECT_STREQ(p.error(), "failed to parse handshake");
}

TEST(Preread, FieldsOverrunningTheHandshakeDecline) {
    const std::string full = hello_body(0x0303, sni_ext("t.example") + alpn_ext({"h2"}));
    // Every truncation of the body, with the handshake length telling the
    // truth, declines (nothing is read past the message), except where the
    // message may end: after the compression methods, after the extensions
    // block length, after a whole extension.
    const size_t fixed = 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1;
    const size_t sni_end = fixed + 2 + 4 + 2 + 3 + 9;
    for (size_t cut = 0; cut < full.size(); ++cut) {
        std::string hs = handshake(full.substr(0, cut));
        Outcome o = feed_bytewise(record(hs) + std::string(40, '\x16'));
        if (cut == fixed || cut == fixed + 2) {
            EXPECT_EQ(o.result, R::Done) << cut;
            EXPECT_EQ(o.info.server_name, "") << cut;
        } else if (cut == sni_end) {
            EXPECT_EQ(o.result, R::Done) << cut;
            EXPECT_EQ(o.info.server_name, "t.example") << cut;
        } else {
            EXPECT_EQ(o.result, R::NotTls) << cut;
        }
    }
}

TEST(Preread, TrailingBytesInTheRecordAreIgnored) {
    std::string hs = handshake(hello_body(0x0303, sni_ext("t.example")));
    expect_all_ways(record(hs + "trailing junk"), R::Done, info("t.example", "", "TLSv1.2"), "junk");
}

TEST(Preread, NoExtensions) {
    expect_all_ways(record(handshake(hello_body(0x0303, "", false))), R::Done, info("", "", "TLSv1.2"), "1.2");
    expect_all_ways(record(handshake(hello_body(0x0300, "", false))), R::Done, info("", "", "SSLv3"), "ssl3");
    expect_all_ways(record(handshake(hello_body(0x0302, ""))), R::Done, info("", "", "TLSv1.1"), "empty block");
}

TEST(Preread, UnknownClientVersionGivesEmptyProtocol) {
    expect_all_ways(record(handshake(hello_body(0x0305, sni_ext("v.example")))), R::Done, info("v.example", "", ""),
                    "3.5");
    expect_all_ways(record(handshake(hello_body(0x0202, ""))), R::Done, info("", "", ""), "2.2");
}

// ---------------------------------------------------------------- nginx quirks: SNI

TEST(PrereadQuirks, FirstNameOfFirstSniExtensionWins) {
    std::string exts = sni_ext({{0, "first.example"}, {0, "second.example"}}) + sni_ext("third.example");
    expect_all_ways(record(handshake(hello_body(0x0303, exts))), R::Done, info("first.example", "", "TLSv1.2"),
                    "two names, two extensions");
    // A later entry of another type is skipped with the rest of the list.
    exts = sni_ext({{0, "a.example"}, {7, "whatever"}});
    expect_all_ways(record(handshake(hello_body(0x0303, exts))), R::Done, info("a.example", "", "TLSv1.2"),
                    "other type after");
}

TEST(PrereadQuirks, SniOfAnotherTypeDeclines) {
    Preread p;
    EXPECT_EQ(p.feed(record(handshake(hello_body(0x0303, sni_ext({{1, "a.example"}}))))), R::NotTls);
    EXPECT_STREQ(p.error(), "SNI hostname type is not DNS");
    EXPECT_FALSE(p.variables_found());
}

TEST(PrereadQuirks, SniNameOverrunningItsListDeclines) {
    std::string name = "overrun.example";
    std::string list = char(0) + be16(name.size() + 5) + name;   // says 5 bytes more than the list has
    std::string exts = ext(0, be16(list.size()) + list) + std::string(16, 'x');
    Preread p;
    EXPECT_EQ(p.feed(record(handshake(hello_body(0x0303, exts)))), R::NotTls);
    EXPECT_STREQ(p.error(), "SNI format error");

    // An empty server_name list: the 3-byte entry head is read past it.
    Preread q;
    EXPECT_EQ(q.feed(record(handshake(hello_body(0x0303, ext(0, be16(0)) + alpn_ext({"h2"}))))), R::NotTls);
}

TEST(PrereadQuirks, SniNameIsRawAndUnlimited) {
    // No 255-byte DNS limit, no lowercasing, no validation: the variable is
    // the bytes sent (nginx validates a copy only to pick the server block).
    std::string long_name(300, 'a');
    long_name += ".Example.COM";
    expect_all_ways(record(handshake(hello_body(0x0303, sni_ext(long_name)))), R::Done,
                    info(long_name, "", "TLSv1.2"), "long");
    std::string odd = std::string("we ird/..") + '\x01' + "name";
    expect_all_ways(record(handshake(hello_body(0x0303, sni_ext(odd)))), R::Done, info(odd, "", "TLSv1.2"), "odd");
    expect_all_ways(record(handshake(hello_body(0x0303, sni_ext("")))), R::Done, info("", "", "TLSv1.2"), "empty");
}

TEST(PrereadQuirks, SniExtensionLengthIsNotChecked) {
    // The extension says 0 bytes; the list inside is parsed anyway.
    std::string name = "inner.example";
    std::string list = char(0) + be16(name.size()) + name;
    std::string exts = be16(0) + be16(0) + be16(list.size()) + list;
    expect_all_ways(record(handshake(hello_body(0x0303, exts))), R::Done, info("inner.example", "", "TLSv1.2"),
                    "ext len 0");
}

// ---------------------------------------------------------------- nginx quirks: ALPN

TEST(PrereadQuirks, AlpnListIsCommaJoinedAndFirstExtensionWins) {
    std::string exts = alpn_ext({"h2", "http/1.1", "x"}) + alpn_ext({"later"});
    expect_all_ways(record(handshake(hello_body(0x0303, exts))), R::Done, info("", "h2,http/1.1,x", "TLSv1.2"),
                    "alpn");
}

TEST(PrereadQuirks, EmptyAlpnListDeclines) {
    for (const std::string& after : {std::string(), sni_ext("a.example"), std::string(1, '\0')}) {
        Preread p;
        EXPECT_EQ(p.feed(record(handshake(hello_body(0x0303, ext(16, be16(0)) + after)))), R::NotTls);
    }
}

TEST(PrereadQuirks, EmptyAlpnProtocolDeclines) {
    std::string list = alpn_list({"h2"}) + char(0);
    Preread p;
    EXPECT_EQ(p.feed(record(handshake(hello_body(0x0303, ext(16, be16(list.size()) + list))))), R::NotTls);
    EXPECT_STREQ(p.error(), "ALPN empty protocol");
}

TEST(PrereadQuirks, AlpnProtocolOverrunningItsListDeclines) {
    std::string list = std::string(1, char(5)) + "h2";   // says 5, list has 3 bytes
    std::string exts = ext(16, be16(list.size()) + list) + std::string(16, 'x');
    Preread p;
    EXPECT_EQ(p.feed(record(handshake(hello_body(0x0303, exts)))), R::NotTls);
    EXPECT_STREQ(p.error(), "ALPN format error");
}

TEST(PrereadQuirks, PartialAlpnIsVisibleWhileWaiting) {
    // nginx appends each protocol, then ',' if more are announced; if the
    // preread times out there, the variable ends with a comma.
    std::string hs = handshake(hello_body(0x0303, alpn_ext({"h2", "http/1.1"})));
    size_t h2_end = hs.find("h2") + 2;
    Preread p;
    EXPECT_EQ(p.feed(record(hs.substr(0, h2_end))), R::NeedMore);
    EXPECT_EQ(p.info().alpn, "h2,");
    EXPECT_EQ(p.info().protocol, "TLSv1.2");
    EXPECT_TRUE(p.variables_found());
}

// ---------------------------------------------------------------- nginx quirks: versions

TEST(PrereadQuirks, AnySupportedVersionsExtensionMeansTls13) {
    expect_all_ways(record(handshake(hello_body(0x0303, supver_ext({0x0304, 0x0303})))), R::Done,
                    info("", "", "TLSv1.3"), "lists 1.3");
    expect_all_ways(record(handshake(hello_body(0x0303, supver_ext({0x0303})))), R::Done, info("", "", "TLSv1.3"),
                    "lists only 1.2");
    expect_all_ways(record(handshake(hello_body(0x0301, supver_ext({})))), R::Done, info("", "", "TLSv1.3"),
                    "empty list");
}

TEST(PrereadQuirks, SslV2Hello) {
    // SSLv2-format CLIENT-HELLO: length with the top bit, msg type 1, version.
    std::string v2 = std::string("\x80\x2e\x01\x00\x02", 5) + std::string(0x2b, '\x00');
    expect_all_ways(v2, R::Done, info("", "", "SSLv2"), "v2 hello, version 2", 5);
    v2[3] = '\x03';
    v2[4] = '\x01';
    expect_all_ways(v2, R::Done, info("", "", "TLSv1"), "v2 hello, version 3.1", 5);
    v2[4] = '\x03';
    Preread p;
    EXPECT_EQ(p.feed(std::string_view(v2).substr(0, 5)), R::Done);   // decided on its first 5 bytes
    EXPECT_EQ(p.info().protocol, "TLSv1.2");
    // Version 1.x is not v2 format: declined as "not a handshake".
    v2[3] = '\x01';
    EXPECT_EQ(feed_whole(v2).result, R::NotTls);
}

TEST(PrereadQuirks, SslV2PatternAfterAFirstRecord) {
    // nginx checks for a v2 hello at each record start: a first record with
    // part of a hello, then v2-looking bytes, is Done with what was parsed.
    std::string hs = handshake(hello_body(0x0303, sni_ext("mixed.example") + alpn_ext({"h2"})));
    size_t cut = hs.find("mixed.example") + 13;
    std::string bytes = record(hs.substr(0, cut)) + std::string("\x80\x10\x01\x03\x01", 5);
    expect_all_ways(bytes, R::Done, info("mixed.example", "", "TLSv1"), "v2 after a record");
}

TEST(PrereadQuirks, ExtensionsBlockLengthIsNotChecked) {
    std::string body = hello_body(0x0303, sni_ext("blk.example"));
    size_t at = 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1;
    body[at] = '\x7f';
    body[at + 1] = '\x7f';
    expect_all_ways(record(handshake(body)), R::Done, info("blk.example", "", "TLSv1.2"), "bad block length");
}

// ---------------------------------------------------------------- API

TEST(Preread, DeclineIsStableAndClearsInfo) {
    // SNI parsed, then a bad ALPN: everything parsed so far is dropped.
    std::string list = alpn_list({"h2"}) + char(0);
    std::string hs = handshake(hello_body(0x0304, sni_ext("gone.example") + ext(16, be16(list.size()) + list)));
    Preread p;
    EXPECT_EQ(p.feed(record(hs)), R::NotTls);
    EXPECT_TRUE(same_info(p.info(), ClientHelloInfo{}));
    EXPECT_EQ(p.feed(record(hs) + "more"), R::NotTls);
    EXPECT_EQ(p.need(), 0u);
}

TEST(Preread, ShorterBufferIsIgnored) {
    std::string hs = handshake(hello_body(0x0303, sni_ext("s.example")));
    std::string bytes = records(hs, 20);
    Preread p;
    EXPECT_EQ(p.feed(std::string_view(bytes).substr(0, 60)), R::NeedMore);
    EXPECT_EQ(p.feed(std::string_view(bytes).substr(0, 10)), R::NeedMore);
    EXPECT_EQ(p.feed(bytes), R::Done);
    EXPECT_EQ(p.info().server_name, "s.example");
}

}  // namespace
}  // namespace sy::stream

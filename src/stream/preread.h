// The ClientHello reader behind `ssl_preread on` (nginx's
// ngx_stream_ssl_preread_module): looks at the first bytes of a stream {}
// connection, without terminating TLS, for the SNI host name, the ALPN
// protocols and the protocol version, which become $ssl_preread_server_name,
// $ssl_preread_alpn_protocols and $ssl_preread_protocol (for `map`, `proxy_pass
// $var`, server selection and logs); the bytes are then proxied untouched.
//
// Hand-written on purpose: OpenSSL has no API to parse a ClientHello without
// being the TLS server of the connection (its client-hello callback runs
// inside SSL_accept on a server SSL*, which would consume the bytes), and
// nginx's module is likewise its own small parser. To keep its behaviour
// exactly (what is accepted, what is declined, which SNI is taken, what the
// variables hold when preread_timeout fires), this is the same incremental
// state machine as ngx_stream_ssl_preread_parse_record(), in safe C++: no
// pointer ever leaves the bytes passed in, and every length is checked
// against the handshake length before it is used. No I/O here.
//
// nginx quirks kept on purpose (see preread.cpp and tests/unit/preread_test.cpp):
//  - it waits for 5 bytes before deciding anything, then declines on a first
//    byte other than 0x16 (handshake record) or a record version major != 3;
//    an SSLv2-format hello (0x80 bit, msg type 1, version 0.x or 3.x) is Done
//    at once with only $ssl_preread_protocol set;
//  - record lengths are not capped at 2^14: a record must only be complete
//    (the preread_buffer_size limit is the caller's, see need());
//  - only the first SNI extension and, in it, only the first name counts; a
//    first name of a type other than host_name (0) declines; the name is kept
//    raw (no length limit but the encoding's, no lowercasing);
//  - only the first ALPN extension counts; an empty list or an empty protocol
//    name declines;
//  - any supported_versions extension means "TLSv1.3", whatever it lists;
//  - the extensions block length and the SNI/ALPN/supported_versions
//    extension lengths are not checked: the handshake length and the inner
//    list lengths drive the parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sy::stream {

// Values of nginx's variables. While feed() says NeedMore they hold what has
// been parsed so far, which is what nginx's variables show if preread_timeout
// fires or the client closes first (nginx then goes on with them): a
// server_name once complete, each ALPN protocol once complete (followed by
// ',' if more are announced), the protocol once the ClientHello version came.
struct ClientHelloInfo {
    std::string server_name;   // $ssl_preread_server_name
    std::string alpn;          // $ssl_preread_alpn_protocols, e.g. "h2,http/1.1"
    std::string protocol;      // $ssl_preread_protocol: "TLSv1.3", "TLSv1.2", ..., "SSLv2" or ""
};

enum class PrereadResult { NeedMore, Done, NotTls };

const char* to_string(PrereadResult r);

class Preread {
public:
    // Feed the bytes received so far *from the start of the connection* (the
    // caller keeps them to forward later; calling again with a longer prefix
    // of the same bytes continues where the last call stopped, each byte of a
    // complete record is looked at once). Returns Done once the ClientHello
    // has been parsed (info() final), NeedMore while incomplete, NotTls when
    // the bytes are not a TLS ClientHello or are malformed (info() is then
    // empty and nginx's variables are "not found": the caller proxies anyway).
    // Once Done or NotTls, further calls return the same and change nothing.
    PrereadResult feed(std::string_view all_bytes_so_far);

    PrereadResult result() const { return result_; }
    const ClientHelloInfo& info() const { return info_; }
    // Why NotTls (nginx's debug message), for a debug log line; "" otherwise.
    const char* error() const { return error_; }
    // Whether nginx would have its module context, i.e. its variables are
    // "found" (an access log writes "" for an empty value, "-" when not
    // found): some bytes were fed and they were not declined.
    bool variables_found() const { return fed_any_ && result_ != PrereadResult::NotTls; }
    // While NeedMore: how many bytes from the start of the connection feed()
    // needs before it can make progress (the end of the next record header,
    // or of the record whose header it has seen). A caller may compare it to
    // preread_buffer_size; nginx itself waits until its buffer is full and
    // then fails with "preread buffer full" (400). 0 once decided.
    size_t need() const { return result_ == PrereadResult::NeedMore ? need_ : 0; }

private:
    enum class St : uint8_t {
        Start, Header, Version, Random, SidLen, Sid, CsLen, Cs, CmLen, Cm, Ext, ExtHeader,
        SniLen, SniHostHead, SniHost, AlpnLen, AlpnProtoLen, AlpnProtoData, SupverLen,
    };
    enum class Dst : uint8_t { None, Buf, Version, Host, Alpn };
    enum class Rc { Again, Ok, Declined };

    Rc parse_record(const uint8_t* pos, const uint8_t* last);
    Rc decline(const char* why);
    PrereadResult finish(PrereadResult r);
    void set_protocol();

    // Where the next record header starts, in the connection's bytes.
    size_t pos_ = 0;
    size_t need_ = 5;
    // ngx_stream_ssl_preread_ctx_t: bytes still wanted by the current state
    // (size), left in the handshake message (left), left in the SNI or ALPN
    // list (ext), and where the wanted bytes go (dst at dst_off).
    size_t size_ = 0, left_ = 0, ext_ = 0;
    St state_ = St::Start;
    Dst dst_ = Dst::None;
    uint8_t dst_off_ = 0;
    uint8_t buf_[4] = {};
    uint8_t version_[2] = {};
    bool have_host_ = false;   // nginx: ctx->host.data != NULL
    bool have_alpn_ = false;   // nginx: ctx->alpn.data != NULL
    std::string host_;         // the SNI name while it arrives
    std::string proto_;        // the ALPN protocol name while it arrives
    bool fed_any_ = false;
    PrereadResult result_ = PrereadResult::NeedMore;
    const char* error_ = "";
    ClientHelloInfo info_;
};

}  // namespace sy::stream

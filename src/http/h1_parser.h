// HTTP/1.x message parser with nginx's rules (ngx_http_parse.c of nginx
// 1.22, the reference): request line, status line, header lines, chunked
// bodies. Feeds bytes, records where the request/status line and headers are
// (offsets into the caller's buffer, so the buffer may grow between calls)
// and pauses at the end of the head and at the end of the message. No I/O.
//
// What nginx accepts is accepted (bare LF line ends everywhere, "\r\r\n" at
// the end of a header line, leading empty lines before a request, chunk
// extensions and trailers); what it refuses is an error (CR not followed by
// LF, NUL in a header, control characters in the target, obs-fold lines,
// spaces in header names, chunk sizes past 2^63, junk after chunk data).
// The framing headers are judged the way nginx judges them: framing_error()
// says what it refuses (the session or the proxy words the log line and the
// status). For a response these are nginx >= 1.23's upstream rules (1.22
// ignored an invalid Content-Length and took any Transfer-Encoding naming
// "chunked"): an invalid or second Content-Length, a second or unknown
// Transfer-Encoding, or both headers, make the response invalid (502).
//
// Why hand-written (llhttp was used before): the job is to split a byte
// stream exactly where nginx splits it, because a front end and switchyard
// that disagree on message boundaries let requests be smuggled. Debian 12's
// llhttp (8.1) cannot be set to nginx's rules: built without
// LLHTTP_STRICT_MODE it folds obs-fold lines into values, swallows a byte
// after "\r\n\r" and takes any two bytes after chunk data, while strict mode
// refuses the bare-LF line ends that nginx (and its own test suite) accepts;
// the flags that separate these (lenient_optional_lf_after_cr,
// lenient_optional_cr_before_lf, ...) came with llhttp 9. Checking llhttp's
// output after the fact meant a second pass over every head. So this file
// follows ngx_http_parse.c's state machines directly, is fed split at every
// byte by its unit tests, fuzzed (fuzz/fuzz_request_head.cpp) and compared
// with a real nginx on generated input (tests/integration/
// test_h1_differential_fuzz.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sy::http {

class H1Parser {
public:
    struct Span { uint32_t off = 0, len = 0; };
    struct HeaderSpan { Span name, value; };

    class BodySink {
    public:
        virtual ~BodySink() = default;
        virtual void on_body_data(std::string_view data) = 0;
        virtual void on_chunk_header(uint64_t) {}
        virtual void on_chunk_complete() {}
    };

    enum class Event { NeedMore, HeadDone, MessageDone, Error };

    // Syntax errors, named after nginx's parse results.
    enum class Error {
        None,
        InvalidMethod,      // request line: "client sent invalid method"
        InvalidRequest,     // request line: "client sent invalid request"
        InvalidVersion,     // request line: HTTP/2.0 and up, "client sent invalid version" (505)
        Invalid09Method,    // "GET /" without version is 0.9; any other method is refused
        InvalidHeader,      // header line: "client sent invalid header line" / "upstream sent invalid header"
        InvalidStatus,      // status line: "upstream sent no valid HTTP/1.0 header"
        InvalidChunked,     // "client sent invalid chunked body" / "upstream sent invalid chunked response"
        InvalidFraming,     // framing headers refused (request): see framing_error()
    };
    // A request's framing headers that nginx refuses (checked at head end).
    enum class Framing {
        Ok,
        DuplicateHost,      // second Host: 400 "client sent duplicate host header" (as the line is read)
        DuplicateLength,    // second Content-Length: 400 "client sent duplicate header line" (as read)
        DuplicateEncoding,  // second Transfer-Encoding: the same
        InvalidLength,      // not a decimal off_t: 400 "client sent invalid \"Content-Length\" header"
        EncodingHttp10,     // 400 "client sent HTTP/1.0 request with \"Transfer-Encoding\" header"
        LengthAndEncoding,  // 400 "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
        UnknownEncoding,    // 501 "client sent unknown \"Transfer-Encoding\""
    };

    explicit H1Parser(bool request);
    void reset();                 // before the next message on the connection
    void set_head_only(bool v) { head_only_ = v; }   // response to HEAD: no body
    void set_sink(BodySink* s) { sink_ = s; }

    // Parses base[from, to). `consumed` is how far it got (to the pause point).
    Event feed(const char* base, size_t from, size_t to, size_t& consumed);

    const Span& method() const { return method_; }
    const Span& url() const { return url_; }
    const std::vector<HeaderSpan>& headers() const { return headers_; }
    Span status_text() const { return status_; }
    int status_code() const { return status_code_; }
    // 9, 10, 11 (any HTTP/1.x with x >= 1 counts as 1.1, as in nginx)
    int version() const;
    int http_minor() const { return minor_; }
    bool keep_alive() const;
    bool upgrade() const;
    bool chunked() const { return chunked_; }
    bool has_length() const { return length_ >= 0; }
    uint64_t content_length() const { return length_ >= 0 ? uint64_t(length_) : 0; }
    Error error() const { return err_; }
    const char* error_reason() const;
    Framing framing_error() const { return framing_; }
    // the header the framing error is about (and, for a duplicate, the first one)
    size_t framing_header() const { return framing_idx_; }
    size_t framing_previous() const { return framing_prev_; }
    // for InvalidHeader: where the bad line starts and the offending byte
    uint32_t bad_line_start() const { return bad_line_; }
    uint32_t bad_pos() const { return bad_pos_; }
    uint32_t head_start() const { return head_start_; }
    // past the request/status line, reading header lines; where the current one starts
    bool in_header_lines() const;
    uint32_t line_start() const { return line_start_; }
    bool in_message() const { return started_; }

private:
    enum class S : uint8_t;
    Event head_done();
    Event fail(Error e, const char* at);
    size_t parse_chunked(const char* p, const char* end, bool& done, bool& error);
    void judge_framing();
    bool duplicate_unique_header();

    bool request_;
    S state_;
    const char* base_ = nullptr;
    Span method_, url_, status_;
    std::vector<HeaderSpan> headers_;
    uint32_t line_start_ = 0;      // current header line
    uint32_t name_end_ = 0, value_start_ = 0, value_end_ = 0;
    bool value_started_ = false;
    int major_ = 0, minor_ = 0;
    int status_code_ = 0, status_digits_ = 0;
    bool conn_close_ = false, conn_keepalive_ = false, conn_upgrade_ = false, has_upgrade_ = false;
    bool chunked_ = false;
    int64_t length_ = -1;
    uint64_t remaining_ = 0;       // of a Content-Length body, or of the current chunk
    bool until_close_ = false;
    bool head_only_ = false;
    bool started_ = false;
    uint32_t head_start_ = 0;
    BodySink* sink_ = nullptr;
    Error err_ = Error::None;
    Framing framing_ = Framing::Ok;
    size_t framing_idx_ = 0, framing_prev_ = 0;
    uint32_t bad_line_ = 0, bad_pos_ = 0;
};

}  // namespace sy::http

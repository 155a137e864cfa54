// llhttp wrapper for HTTP/1.x messages: feeds bytes, records where the
// request/status line and headers are (offsets into the caller's buffer, so
// the buffer may grow between calls) and pauses at the end of the head and
// at the end of the message. No I/O here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <llhttp.h>

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

    explicit H1Parser(bool request);
    void reset();                 // before the next message on the connection
    void set_head_only(bool v) { head_only_ = v; }   // response to HEAD / 1xx: no body
    void set_sink(BodySink* s) { sink_ = s; }

    // Parses base[from, to). `consumed` is how far it got (to the pause point).
    Event feed(const char* base, size_t from, size_t to, size_t& consumed);
    // After an upgrade request's message end, parse on as HTTP.
    void resume_after_upgrade() { llhttp_resume_after_upgrade(&p_); }

    const Span& method() const { return method_; }
    const Span& url() const { return url_; }
    const std::vector<HeaderSpan>& headers() const { return headers_; }
    Span status_text() const { return status_; }
    int status_code() const { return p_.status_code; }
    int version() const { return p_.http_major * 10 + p_.http_minor; }
    bool keep_alive() const { return llhttp_should_keep_alive(&p_) != 0; }
    bool upgrade() const { return p_.upgrade != 0; }
    bool chunked() const { return (p_.flags & F_CHUNKED) != 0; }
    bool has_length() const { return (p_.flags & F_CONTENT_LENGTH) != 0; }
    uint64_t content_length() const { return p_.content_length; }
    llhttp_errno_t error() const { return err_; }
    const char* error_reason() const { return reason_; }
    uint32_t head_start() const { return head_start_; }
    bool in_message() const { return started_; }

private:
    static int cb_message_begin(llhttp_t*);
    static int cb_method(llhttp_t*, const char*, size_t);
    static int cb_url(llhttp_t*, const char*, size_t);
    static int cb_status(llhttp_t*, const char*, size_t);
    static int cb_field(llhttp_t*, const char*, size_t);
    static int cb_value(llhttp_t*, const char*, size_t);
    static int cb_field_done(llhttp_t*);
    static int cb_headers_complete(llhttp_t*);
    static int cb_body(llhttp_t*, const char*, size_t);
    static int cb_chunk_header(llhttp_t*);
    static int cb_chunk_complete(llhttp_t*);
    static int cb_message_complete(llhttp_t*);
    void extend(Span& s, const char* at, size_t n);

    llhttp_t p_;
    llhttp_settings_t settings_;
    const char* base_ = nullptr;
    Span method_, url_, status_;
    std::vector<HeaderSpan> headers_;
    bool in_value_ = false;
    bool head_done_ = false, msg_done_ = false, started_ = false;
    bool head_reported_ = false, msg_pending_ = false;
    bool head_only_ = false;
    uint32_t head_start_ = 0;
    BodySink* sink_ = nullptr;
    llhttp_errno_t err_ = HPE_OK;
    const char* reason_ = "";
};

}  // namespace sy::http

#include "http/h1_parser.h"

#include <cstring>

namespace sy::http {

H1Parser::H1Parser(bool request) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = cb_message_begin;
    settings_.on_method = cb_method;
    settings_.on_url = cb_url;
    settings_.on_status = cb_status;
    settings_.on_header_field = cb_field;
    settings_.on_header_value = cb_value;
    settings_.on_header_value_complete = cb_field_done;
    settings_.on_headers_complete = cb_headers_complete;
    settings_.on_body = cb_body;
    settings_.on_chunk_header = cb_chunk_header;
    settings_.on_chunk_complete = cb_chunk_complete;
    settings_.on_message_complete = cb_message_complete;
    llhttp_init(&p_, request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    p_.data = this;
    headers_.reserve(16);
}

void H1Parser::reset() {
    llhttp_reset(&p_);
    p_.data = this;
    method_ = url_ = status_ = {};
    headers_.clear();
    in_value_ = false;
    head_done_ = msg_done_ = started_ = false;
    head_reported_ = msg_pending_ = false;
    head_only_ = false;
    head_start_ = 0;
    err_ = HPE_OK;
    reason_ = "";
}

void H1Parser::extend(Span& s, const char* at, size_t n) {
    uint32_t off = uint32_t(at - base_);
    if (s.len == 0) s.off = off;
    s.len = off + uint32_t(n) - s.off;
}

H1Parser::Event H1Parser::feed(const char* base, size_t from, size_t to, size_t& consumed) {
    if (msg_pending_) {
        msg_pending_ = false;
        consumed = 0;
        return Event::MessageDone;
    }
    base_ = base;
    const char* start = base + from;
    llhttp_errno_t e = llhttp_execute(&p_, start, to - from);
    if (e == HPE_OK) {
        consumed = to - from;
        return Event::NeedMore;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        consumed = size_t(llhttp_get_error_pos(&p_) - start);
        if (e == HPE_PAUSED) llhttp_resume(&p_);
        if (head_done_ && !head_reported_) {
            // llhttp (as configured) lets whitespace into names and folds
            // obs-fold lines into values; nginx refuses both (400)
            for (auto& h : headers_) {
                bool bad = h.name.len == 0;
                for (uint32_t k = 0; k < h.name.len; ++k) {
                    unsigned char c = static_cast<unsigned char>(base[h.name.off + k]);
                    bad |= c <= 0x20 || c == 0x7f;
                }
                for (uint32_t k = 0; k < h.value.len; ++k) {
                    char c = base[h.value.off + k];
                    bad |= c == '\r' || c == '\n';
                }
                if (bad) {
                    err_ = HPE_INVALID_HEADER_TOKEN;
                    reason_ = "Invalid header token";
                    return Event::Error;
                }
            }
            head_reported_ = true;
            if (msg_done_) {
                msg_done_ = false;
                msg_pending_ = true;
            }
            return Event::HeadDone;
        }
        if (msg_done_) {
            msg_done_ = false;
            return Event::MessageDone;
        }
        return Event::HeadDone;
    }
    err_ = e;
    reason_ = llhttp_get_error_reason(&p_);
    const char* pos = llhttp_get_error_pos(&p_);
    consumed = pos && pos >= start ? size_t(pos - start) : 0;
    return Event::Error;
}

int H1Parser::cb_message_begin(llhttp_t* p) {
    auto* self = static_cast<H1Parser*>(p->data);
    self->started_ = true;
    return 0;
}

int H1Parser::cb_method(llhttp_t* p, const char* at, size_t n) {
    auto* self = static_cast<H1Parser*>(p->data);
    if (self->method_.len == 0) self->head_start_ = uint32_t(at - self->base_);
    self->extend(self->method_, at, n);
    return 0;
}

int H1Parser::cb_url(llhttp_t* p, const char* at, size_t n) {
    auto* self = static_cast<H1Parser*>(p->data);
    self->extend(self->url_, at, n);
    return 0;
}

int H1Parser::cb_status(llhttp_t* p, const char* at, size_t n) {
    auto* self = static_cast<H1Parser*>(p->data);
    self->extend(self->status_, at, n);
    return 0;
}

int H1Parser::cb_field(llhttp_t* p, const char* at, size_t n) {
    auto* self = static_cast<H1Parser*>(p->data);
    if (self->headers_.empty() || self->in_value_) {
        self->headers_.emplace_back();
        self->in_value_ = false;
    }
    self->extend(self->headers_.back().name, at, n);
    return 0;
}

int H1Parser::cb_value(llhttp_t* p, const char* at, size_t n) {
    auto* self = static_cast<H1Parser*>(p->data);
    if (self->headers_.empty()) return -1;
    self->in_value_ = true;
    auto& v = self->headers_.back().value;
    // A value arrives in pieces only across feed() calls, which keep offsets.
    uint32_t off = uint32_t(at - self->base_);
    if (v.len == 0 && v.off == 0) v.off = off;
    v.len = off + uint32_t(n) - v.off;
    return 0;
}

int H1Parser::cb_field_done(llhttp_t* p) {
    auto* self = static_cast<H1Parser*>(p->data);
    self->in_value_ = true;
    return 0;
}

int H1Parser::cb_headers_complete(llhttp_t* p) {
    auto* self = static_cast<H1Parser*>(p->data);
    self->head_done_ = true;
    if (self->head_only_) return 1;  // llhttp: no body follows
    return HPE_PAUSED;
}

int H1Parser::cb_body(llhttp_t* p, const char* at, size_t n) {
    auto* self = static_cast<H1Parser*>(p->data);
    if (self->sink_) self->sink_->on_body_data(std::string_view(at, n));
    return 0;
}

int H1Parser::cb_chunk_header(llhttp_t* p) {
    auto* self = static_cast<H1Parser*>(p->data);
    if (self->sink_) self->sink_->on_chunk_header(p->content_length);
    return 0;
}

int H1Parser::cb_chunk_complete(llhttp_t* p) {
    auto* self = static_cast<H1Parser*>(p->data);
    if (self->sink_) self->sink_->on_chunk_complete();
    return 0;
}

int H1Parser::cb_message_complete(llhttp_t* p) {
    auto* self = static_cast<H1Parser*>(p->data);
    self->msg_done_ = true;
    self->started_ = false;
    return HPE_PAUSED;
}

}  // namespace sy::http

#include "http/h1_parser.h"

#include <cstring>

namespace sy::http {

namespace {

constexpr char CR = '\r';
constexpr char LF = '\n';
constexpr int64_t kMaxOff = INT64_MAX;  // nginx's NGX_MAX_OFF_T_VALUE

// nginx's "usual" URI bytes: printable ASCII but space, '#', '%', '/', '?',
// '.', '+' (and '\\' on Windows), and everything from 0x80 up.
constexpr bool usual(unsigned char c) {
    if (c >= 0x80) return true;
    if (c <= 0x20 || c == 0x7f) return false;
    switch (c) {
    case '#': case '%': case '/': case '?': case '.': case '+': return false;
    default: return true;
    }
}

// nginx's header-name bytes: letters, digits, '-' (and '_' when allowed)
constexpr bool name_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Byte classes for the fast paths: runs of ordinary bytes are skipped in a
// tight loop, the state machine sees only the bytes that matter.
struct Classes {
    bool uri[256] = {};    // usual() bytes: stay in the URI states
    bool name[256] = {};   // header-name bytes that need no attention
    bool value[256] = {};  // header-value bytes but ' ', CR, LF, NUL
    bool text[256] = {};   // status text bytes but CR, LF
    constexpr Classes() {
        for (int c = 0; c < 256; ++c) {
            uri[c] = usual(static_cast<unsigned char>(c));
            name[c] = c > 0x20 && c != 0x7f && c != ':' && c != '/';
            value[c] = c != ' ' && c != '\r' && c != '\n' && c != 0;
            text[c] = c != '\r' && c != '\n';
        }
    }
};
constexpr Classes kClass;

int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = char(x | 0x20);
        if (y >= 'A' && y <= 'Z') y = char(y | 0x20);
        if (x != y) return false;
    }
    return true;
}

// case-insensitive substring, as nginx's ngx_strcasestrn / ngx_strlcasestrn
bool icontains(std::string_view hay, std::string_view needle) {
    if (needle.size() > hay.size()) return false;
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
        if (ieq(hay.substr(i, needle.size()), needle)) return true;
    return false;
}

// nginx's ngx_atoof: decimal digits only, no sign, no spaces, no overflow.
int64_t atoof(std::string_view s) {
    if (s.empty()) return -1;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return -1;
        int d = c - '0';
        if (v >= kMaxOff / 10 && (v > kMaxOff / 10 || d > kMaxOff % 10)) return -1;
        v = v * 10 + d;
    }
    return v;
}

}  // namespace

enum class H1Parser::S : uint8_t {
    // request line (ngx_http_parse_request_line)
    ReqStart, Method, SpacesBeforeUri, Schema, SchemaSlash, SchemaSlashSlash, HostStart, Host, HostEnd,
    HostIpLiteral, Port, AfterSlashInUri, CheckUri, Uri, Http09, H, HT, HTT, HTTP, FirstMajor, Major, FirstMinor, Minor,
    SpacesAfterDigit, ReqAlmostDone,
    // status line (ngx_http_parse_status_line)
    StStart, StH, StHT, StHTT, StHTTP, StFirstMajor, StMajor, StFirstMinor, StMinor, StStatus, StSpaceAfterStatus,
    StStatusText, StAlmostDone,
    // header lines (ngx_http_parse_header_line)
    HStart, HName, HSpaceBeforeValue, HValue, HSpaceAfterValue, HIgnoreLine, HAlmostDone, HHeaderAlmostDone,
    // body
    BodyLength, BodyUntilClose,
    // chunked (ngx_http_parse_chunked)
    ChunkStart, ChunkSize, ChunkExt, ChunkExtAlmostDone, ChunkData, AfterData, AfterDataAlmostDone,
    LastChunkExt, LastChunkExtAlmostDone, Trailer, TrailerAlmostDone, TrailerHeader, TrailerHeaderAlmostDone,
    // the message ended (reported once); a parse error
    Done, Dead,
};

H1Parser::H1Parser(bool request) : request_(request), state_(request ? S::ReqStart : S::StStart) {
    headers_.reserve(16);
}

void H1Parser::reset() {
    state_ = request_ ? S::ReqStart : S::StStart;
    method_ = url_ = status_ = {};
    headers_.clear();
    line_start_ = name_end_ = value_start_ = value_end_ = 0;
    value_started_ = false;
    major_ = minor_ = 0;
    status_code_ = status_digits_ = 0;
    conn_close_ = conn_keepalive_ = conn_upgrade_ = has_upgrade_ = false;
    chunked_ = false;
    length_ = -1;
    remaining_ = 0;
    until_close_ = false;
    head_only_ = false;
    started_ = false;
    head_start_ = 0;
    err_ = Error::None;
    framing_ = Framing::Ok;
    framing_idx_ = framing_prev_ = 0;
    bad_line_ = bad_pos_ = 0;
}

int H1Parser::version() const {
    if (major_ == 0) return 9;
    if (major_ == 1) return minor_ == 0 ? 10 : 11;
    return major_ * 10 + (minor_ > 9 ? 9 : minor_);
}

bool H1Parser::keep_alive() const {
    // nginx: "close" anywhere in Connection ends it; HTTP/1.0 needs "keep-alive"
    if (conn_close_ || until_close_) return false;
    if (version() >= 11) return true;
    return conn_keepalive_;
}

bool H1Parser::in_header_lines() const {
    return state_ >= S::HStart && state_ <= S::HHeaderAlmostDone;
}

bool H1Parser::upgrade() const {
    if (!request_) return status_code_ == 101;
    return has_upgrade_ && conn_upgrade_;
}

const char* H1Parser::error_reason() const {
    switch (err_) {
    case Error::None: return "";
    case Error::InvalidMethod: return "invalid method";
    case Error::InvalidRequest: return "invalid request";
    case Error::InvalidVersion: return "invalid version";
    case Error::Invalid09Method: return "invalid method in HTTP/0.9 request";
    case Error::InvalidHeader: return "invalid header line";
    case Error::InvalidStatus: return "no valid HTTP/1.0 header";
    case Error::InvalidChunked: return "invalid chunked body";
    case Error::InvalidFraming: return "invalid framing headers";
    }
    return "";
}

H1Parser::Event H1Parser::fail(Error e, const char* at) {
    err_ = e;
    bad_pos_ = uint32_t(at - base_);
    state_ = S::Dead;
    return Event::Error;
}

// Whether the header just read repeats Host, Content-Length or
// Transfer-Encoding (nginx: "client sent duplicate ... header").
bool H1Parser::duplicate_unique_header() {
    const HeaderSpan& h = headers_.back();
    std::string_view n(base_ + h.name.off, h.name.len);
    Framing f;
    if (n.size() == 4 && ieq(n, "host")) f = Framing::DuplicateHost;
    else if (n.size() == 14 && ieq(n, "content-length")) f = Framing::DuplicateLength;
    else if (n.size() == 17 && ieq(n, "transfer-encoding")) f = Framing::DuplicateEncoding;
    else return false;
    for (size_t i = 0; i + 1 < headers_.size(); ++i)
        if (ieq(std::string_view(base_ + headers_[i].name.off, headers_[i].name.len), n)) {
            framing_ = f;
            framing_idx_ = headers_.size() - 1;
            framing_prev_ = i;
            return true;
        }
    return false;
}

// End of the head: the framing headers decide what follows.
void H1Parser::judge_framing() {
    const char* b = base_;
    auto view = [b](Span s) { return std::string_view(b + s.off, s.len); };
    size_t cl = SIZE_MAX, te = SIZE_MAX;
    for (size_t i = 0; i < headers_.size(); ++i) {
        std::string_view n = view(headers_[i].name), v = view(headers_[i].value);
        if (ieq(n, "content-length")) {
            if (request_ && cl != SIZE_MAX) {
                if (framing_ == Framing::Ok) { framing_ = Framing::DuplicateLength; framing_idx_ = i; framing_prev_ = cl; }
                continue;
            }
            if (!request_ && framing_ == Framing::Ok) {
                if (cl != SIZE_MAX) { framing_ = Framing::DuplicateLength; framing_idx_ = i; framing_prev_ = cl; }
                else if (te != SIZE_MAX) { framing_ = Framing::LengthAndEncoding; framing_idx_ = i; }
                else if ((length_ = atoof(v)) < 0) { framing_ = Framing::InvalidLength; framing_idx_ = i; }
            }
            cl = i;
        } else if (ieq(n, "transfer-encoding")) {
            if (request_ && te != SIZE_MAX) {
                if (framing_ == Framing::Ok) { framing_ = Framing::DuplicateEncoding; framing_idx_ = i; framing_prev_ = te; }
                continue;
            }
            if (!request_ && framing_ == Framing::Ok) {
                // nginx >= 1.23's upstream handlers, in header order
                if (te != SIZE_MAX) { framing_ = Framing::DuplicateEncoding; framing_idx_ = i; framing_prev_ = te; }
                else if (cl != SIZE_MAX) { framing_ = Framing::LengthAndEncoding; framing_idx_ = i; }
                else if (!ieq(v, "chunked")) { framing_ = Framing::UnknownEncoding; framing_idx_ = i; }
                else chunked_ = true;
            }
            te = i;
        } else if (ieq(n, "connection")) {
            if (icontains(v, "close")) conn_close_ = true;
            else if (icontains(v, "keep-alive")) conn_keepalive_ = true;
            if (icontains(v, "upgrade")) conn_upgrade_ = true;
        } else if (ieq(n, "upgrade")) {
            has_upgrade_ = true;
        }
    }
    if (!request_) return;
    if (framing_ != Framing::Ok) return;
    if (cl != SIZE_MAX) {
        length_ = atoof(view(headers_[cl].value));
        if (length_ < 0) { framing_ = Framing::InvalidLength; framing_idx_ = cl; return; }
    }
    if (te != SIZE_MAX) {
        framing_idx_ = te;
        if (major_ == 1 && minor_ == 0) { framing_ = Framing::EncodingHttp10; return; }
        if (!ieq(view(headers_[te].value), "chunked")) { framing_ = Framing::UnknownEncoding; return; }
        if (cl != SIZE_MAX) { framing_ = Framing::LengthAndEncoding; return; }
        chunked_ = true;
    }
}

H1Parser::Event H1Parser::head_done() {
    judge_framing();
    if (framing_ != Framing::Ok) {
        // the head is whole, but nothing after it can be framed: no body is parsed
        err_ = Error::InvalidFraming;
        state_ = S::Dead;
        return Event::HeadDone;
    }
    bool no_body;
    if (request_) {
        no_body = !chunked_ && length_ <= 0;
    } else {
        no_body = head_only_ || (status_code_ >= 100 && status_code_ < 200) || status_code_ == 204 ||
                  status_code_ == 304 || (!chunked_ && length_ == 0);
        if (!no_body && !chunked_ && length_ < 0) until_close_ = true;
    }
    if (no_body) state_ = S::Done;
    else if (chunked_) state_ = S::ChunkStart;
    else if (until_close_) state_ = S::BodyUntilClose;
    else { state_ = S::BodyLength; remaining_ = uint64_t(length_); }
    return Event::HeadDone;
}

H1Parser::Event H1Parser::feed(const char* base, size_t from, size_t to, size_t& consumed) {
    consumed = 0;
    base_ = base;
    const char* const start = base + from;
    const char* const end = base + to;
    const char* p = start;
    auto off = [base](const char* q) { return uint32_t(q - base); };

    if (state_ == S::Done) {
        started_ = false;  // (again and again, until reset() for the next message)
        return Event::MessageDone;
    }
    if (state_ == S::Dead) return Event::Error;

    // ---- body ------------------------------------------------------------
    if (state_ >= S::BodyLength) {
        if (state_ == S::BodyUntilClose) {
            if (p < end && sink_) sink_->on_body_data(std::string_view(p, size_t(end - p)));
            consumed = size_t(end - p);
            return Event::NeedMore;
        }
        if (state_ == S::BodyLength) {
            size_t n = size_t(end - p);
            if (n > remaining_) n = size_t(remaining_);
            if (n && sink_) sink_->on_body_data(std::string_view(p, n));
            remaining_ -= n;
            consumed = n;
            if (remaining_ == 0) {
                state_ = S::Done;
                started_ = false;
                return Event::MessageDone;
            }
            return Event::NeedMore;
        }
        bool done = false, error = false;
        size_t n = parse_chunked(p, end, done, error);
        consumed = n;
        if (error) return fail(Error::InvalidChunked, p + n);
        if (done) {
            state_ = S::Done;
            started_ = false;
            return Event::MessageDone;
        }
        return Event::NeedMore;
    }

    // ---- head --------------------------------------------------------------
    for (; p < end; ++p) {
        const unsigned char ch = static_cast<unsigned char>(*p);
        switch (state_) {

        // request line
        case S::ReqStart:
            if (ch == CR || ch == LF) break;
            started_ = true;
            head_start_ = off(p);
            method_ = {off(p), 0};
            if ((ch < 'A' || ch > 'Z') && ch != '_' && ch != '-') return fail(Error::InvalidMethod, p);
            state_ = S::Method;
            break;
        case S::Method:
            if (ch == ' ') {
                method_.len = off(p) - method_.off;
                state_ = S::SpacesBeforeUri;
                break;
            }
            if ((ch < 'A' || ch > 'Z') && ch != '_' && ch != '-') return fail(Error::InvalidMethod, p);
            break;
        case S::SpacesBeforeUri:
            if (ch == '/') {
                url_ = {off(p), 0};
                state_ = S::AfterSlashInUri;
                break;
            }
            if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') {
                url_ = {off(p), 0};
                state_ = S::Schema;
                break;
            }
            if (ch == ' ') break;
            return fail(Error::InvalidRequest, p);
        case S::Schema:
            if (((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' ||
                ch == '.')
                break;
            if (ch == ':') { state_ = S::SchemaSlash; break; }
            return fail(Error::InvalidRequest, p);
        case S::SchemaSlash:
            if (ch == '/') { state_ = S::SchemaSlashSlash; break; }
            return fail(Error::InvalidRequest, p);
        case S::SchemaSlashSlash:
            if (ch == '/') { state_ = S::HostStart; break; }
            return fail(Error::InvalidRequest, p);
        case S::HostStart:
            if (ch == '[') { state_ = S::HostIpLiteral; break; }
            state_ = S::Host;
            [[fallthrough]];
        case S::Host:
            if (((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-') break;
            [[fallthrough]];
        case S::HostEnd:
            if (ch == ':') { state_ = S::Port; break; }
            [[fallthrough]];
        case S::Port:
            if (state_ == S::Port && ch >= '0' && ch <= '9') break;
            switch (ch) {
            case '/': state_ = S::AfterSlashInUri; break;
            case '?': state_ = S::Uri; break;
            case ' ': url_.len = off(p) - url_.off; state_ = S::Http09; break;
            default: return fail(Error::InvalidRequest, p);
            }
            break;
        case S::HostIpLiteral:
            if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')) break;
            switch (ch) {
            case ':': case '-': case '.': case '_': case '~':
            case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
                break;
            case ']':
                state_ = S::HostEnd;
                break;
            default:
                return fail(Error::InvalidRequest, p);
            }
            break;
        case S::AfterSlashInUri:
        case S::CheckUri:
        case S::Uri:
            if (kClass.uri[ch]) {
                if (state_ == S::AfterSlashInUri) state_ = S::CheckUri;
                while (p + 1 < end && kClass.uri[static_cast<unsigned char>(p[1])]) ++p;
                break;
            }
            switch (ch) {
            case ' ':
                url_.len = off(p) - url_.off;
                state_ = S::Http09;
                break;
            case CR:
                url_.len = off(p) - url_.off;
                minor_ = 9;
                state_ = S::ReqAlmostDone;
                break;
            case LF:
                url_.len = off(p) - url_.off;
                minor_ = 9;
                ++p;
                goto request_line_done;
            case '/':
                if (state_ == S::CheckUri) state_ = S::AfterSlashInUri;
                else if (state_ == S::AfterSlashInUri) state_ = S::Uri;
                break;
            case '.':
                if (state_ == S::AfterSlashInUri) state_ = S::Uri;
                break;
            case '%': case '?': case '#':
                state_ = S::Uri;
                break;
            case '+':
                break;
            default:
                if (ch < 0x20 || ch == 0x7f) return fail(Error::InvalidRequest, p);
                if (state_ == S::AfterSlashInUri) state_ = S::CheckUri;
                break;
            }
            break;
        case S::Http09:
            switch (ch) {
            case ' ': break;
            case CR: minor_ = 9; state_ = S::ReqAlmostDone; break;
            case LF: minor_ = 9; ++p; goto request_line_done;
            case 'H': state_ = S::H; break;
            default: return fail(Error::InvalidRequest, p);
            }
            break;
        case S::H:
            if (ch != 'T') return fail(Error::InvalidRequest, p);
            state_ = S::HT;
            break;
        case S::HT:
            if (ch != 'T') return fail(Error::InvalidRequest, p);
            state_ = S::HTT;
            break;
        case S::HTT:
            if (ch != 'P') return fail(Error::InvalidRequest, p);
            state_ = S::HTTP;
            break;
        case S::HTTP:
            if (ch != '/') return fail(Error::InvalidRequest, p);
            state_ = S::FirstMajor;
            break;
        case S::FirstMajor:
            if (ch < '1' || ch > '9') return fail(Error::InvalidRequest, p);
            major_ = ch - '0';
            if (major_ > 1) return fail(Error::InvalidVersion, p);
            state_ = S::Major;
            break;
        case S::Major:
            if (ch == '.') { state_ = S::FirstMinor; break; }
            if (ch < '0' || ch > '9') return fail(Error::InvalidRequest, p);
            major_ = major_ * 10 + (ch - '0');
            if (major_ > 1) return fail(Error::InvalidVersion, p);
            break;
        case S::FirstMinor:
            if (ch < '0' || ch > '9') return fail(Error::InvalidRequest, p);
            minor_ = ch - '0';
            state_ = S::Minor;
            break;
        case S::Minor:
            if (ch == CR) { state_ = S::ReqAlmostDone; break; }
            if (ch == LF) { ++p; goto request_line_done; }
            if (ch == ' ') { state_ = S::SpacesAfterDigit; break; }
            if (ch < '0' || ch > '9') return fail(Error::InvalidRequest, p);
            if (minor_ > 99) return fail(Error::InvalidRequest, p);
            minor_ = minor_ * 10 + (ch - '0');
            break;
        case S::SpacesAfterDigit:
            switch (ch) {
            case ' ': break;
            case CR: state_ = S::ReqAlmostDone; break;
            case LF: ++p; goto request_line_done;
            default: return fail(Error::InvalidRequest, p);
            }
            break;
        case S::ReqAlmostDone:
            if (ch != LF) return fail(Error::InvalidRequest, p);
            ++p;
            goto request_line_done;

        // status line
        case S::StStart:
            started_ = true;
            head_start_ = off(p);
            if (ch != 'H') return fail(Error::InvalidStatus, p);
            state_ = S::StH;
            break;
        case S::StH:
            if (ch != 'T') return fail(Error::InvalidStatus, p);
            state_ = S::StHT;
            break;
        case S::StHT:
            if (ch != 'T') return fail(Error::InvalidStatus, p);
            state_ = S::StHTT;
            break;
        case S::StHTT:
            if (ch != 'P') return fail(Error::InvalidStatus, p);
            state_ = S::StHTTP;
            break;
        case S::StHTTP:
            if (ch != '/') return fail(Error::InvalidStatus, p);
            state_ = S::StFirstMajor;
            break;
        case S::StFirstMajor:
            if (ch < '1' || ch > '9') return fail(Error::InvalidStatus, p);
            major_ = ch - '0';
            state_ = S::StMajor;
            break;
        case S::StMajor:
            if (ch == '.') { state_ = S::StFirstMinor; break; }
            if (ch < '0' || ch > '9') return fail(Error::InvalidStatus, p);
            if (major_ > 99) return fail(Error::InvalidStatus, p);
            major_ = major_ * 10 + (ch - '0');
            break;
        case S::StFirstMinor:
            if (ch < '0' || ch > '9') return fail(Error::InvalidStatus, p);
            minor_ = ch - '0';
            state_ = S::StMinor;
            break;
        case S::StMinor:
            if (ch == ' ') { state_ = S::StStatus; break; }
            if (ch < '0' || ch > '9') return fail(Error::InvalidStatus, p);
            if (minor_ > 99) return fail(Error::InvalidStatus, p);
            minor_ = minor_ * 10 + (ch - '0');
            break;
        case S::StStatus:
            if (ch == ' ') break;
            if (ch < '0' || ch > '9') return fail(Error::InvalidStatus, p);
            status_code_ = status_code_ * 10 + (ch - '0');
            if (++status_digits_ == 3) state_ = S::StSpaceAfterStatus;
            break;
        case S::StSpaceAfterStatus:
            switch (ch) {
            case ' ': case '.': state_ = S::StStatusText; status_ = {off(p) + 1, 0}; break;
            case CR: state_ = S::StAlmostDone; break;
            case LF: ++p; goto status_line_done;
            default: return fail(Error::InvalidStatus, p);
            }
            break;
        case S::StStatusText:
            if (kClass.text[ch]) {
                while (p + 1 < end && kClass.text[static_cast<unsigned char>(p[1])]) ++p;
                break;
            }
            if (ch == CR) { status_.len = off(p) - status_.off; state_ = S::StAlmostDone; break; }
            if (ch == LF) { status_.len = off(p) - status_.off; ++p; goto status_line_done; }
            break;
        case S::StAlmostDone:
            if (ch != LF) return fail(Error::InvalidStatus, p);
            ++p;
            goto status_line_done;

        // header lines
        case S::HStart:
            line_start_ = off(p);
            switch (ch) {
            case CR: state_ = S::HHeaderAlmostDone; break;
            case LF: ++p; goto header_done;
            default:
                if (ch <= 0x20 || ch == 0x7f || ch == ':') {
                    bad_line_ = line_start_;
                    return fail(Error::InvalidHeader, p);
                }
                state_ = S::HName;
                break;
            }
            break;
        case S::HName:
            if (kClass.name[ch]) {
                while (p + 1 < end && kClass.name[static_cast<unsigned char>(p[1])]) ++p;
                break;
            }
            if (name_char(ch) || ch == '_') break;
            if (ch == ':') {
                name_end_ = off(p);
                state_ = S::HSpaceBeforeValue;
                break;
            }
            if (ch == CR || ch == LF) {
                // a name without a colon: a header with an empty value
                name_end_ = value_start_ = value_end_ = off(p);
                value_started_ = true;
                if (ch == LF) { ++p; goto line_done; }
                state_ = S::HAlmostDone;
                break;
            }
            // IIS may send a duplicate "HTTP/1.1 ..." line
            if (ch == '/' && !request_ && off(p) - line_start_ == 4 && std::memcmp(base + line_start_, "HTTP", 4) == 0) {
                state_ = S::HIgnoreLine;
                break;
            }
            if (ch <= 0x20 || ch == 0x7f) {
                bad_line_ = line_start_;
                return fail(Error::InvalidHeader, p);
            }
            break;  // other bytes make the name invalid (ignore_invalid_headers)
        case S::HSpaceBeforeValue:
            switch (ch) {
            case ' ': break;
            case CR: value_start_ = value_end_ = off(p); value_started_ = true; state_ = S::HAlmostDone; break;
            case LF: value_start_ = value_end_ = off(p); value_started_ = true; ++p; goto line_done;
            case '\0': bad_line_ = line_start_; return fail(Error::InvalidHeader, p);
            default: value_start_ = off(p); value_started_ = true; state_ = S::HValue; break;
            }
            break;
        case S::HValue:
            if (kClass.value[ch]) {
                while (p + 1 < end && kClass.value[static_cast<unsigned char>(p[1])]) ++p;
                break;
            }
            switch (ch) {
            case ' ': value_end_ = off(p); state_ = S::HSpaceAfterValue; break;
            case CR: value_end_ = off(p); state_ = S::HAlmostDone; break;
            case LF: value_end_ = off(p); ++p; goto line_done;
            case '\0': bad_line_ = line_start_; return fail(Error::InvalidHeader, p);
            default: break;
            }
            break;
        case S::HSpaceAfterValue:
            switch (ch) {
            case ' ': break;
            case CR: state_ = S::HAlmostDone; break;
            case LF: ++p; goto line_done;
            case '\0': bad_line_ = line_start_; return fail(Error::InvalidHeader, p);
            default: state_ = S::HValue; break;
            }
            break;
        case S::HIgnoreLine:
            if (ch == LF) state_ = S::HStart;
            break;
        case S::HAlmostDone:
            if (ch == LF) { ++p; goto line_done; }
            if (ch == CR) break;
            // nginx names the line up to its end (the CR, or trailing spaces) and that byte
            bad_line_ = line_start_;
            return fail(Error::InvalidHeader, base + value_end_);
        case S::HHeaderAlmostDone:
            if (ch != LF) {
                bad_line_ = line_start_;
                return fail(Error::InvalidHeader, base + line_start_);
            }
            ++p;
            goto header_done;

        default:
            return fail(Error::InvalidRequest, p);
        }
        continue;

    line_done:
        headers_.push_back({{line_start_, name_end_ - line_start_}, {value_start_, value_end_ - value_start_}});
        value_started_ = false;
        state_ = S::HStart;
        line_start_ = off(p);
        // nginx's unique-header handlers refuse a second one as it is read,
        // before the head is complete
        if (request_ && duplicate_unique_header()) {
            err_ = Error::InvalidFraming;
            state_ = S::Dead;
            consumed = size_t(p - start);
            return Event::Error;
        }
        --p;  // the loop's ++p
        continue;

    request_line_done:
        if (major_ == 0) {
            // HTTP/0.9: no headers follow
            std::string_view m(base + method_.off, method_.len);
            if (m != "GET") return fail(Error::Invalid09Method, p - 1);
            consumed = size_t(p - start);
            return head_done();
        }
        state_ = S::HStart;
        line_start_ = off(p);
        --p;
        continue;

    status_line_done:
        state_ = S::HStart;
        line_start_ = off(p);
        --p;
        continue;

    header_done:
        consumed = size_t(p - start);
        return head_done();
    }
    consumed = size_t(end - start);
    return Event::NeedMore;
}

// ngx_http_parse_chunked of nginx 1.22 (LF alone ends a line). Returns the
// bytes consumed; stops after the last byte of the message.
size_t H1Parser::parse_chunked(const char* const begin, const char* const end, bool& done, bool& error) {
    const char* p = begin;
    while (p < end) {
        if (state_ == S::ChunkData) {
            size_t n = size_t(end - p);
            if (n > remaining_) n = size_t(remaining_);
            if (sink_) sink_->on_body_data(std::string_view(p, n));
            remaining_ -= n;
            p += n;
            if (remaining_ == 0) {
                if (sink_) sink_->on_chunk_complete();
                state_ = S::AfterData;
            }
            continue;
        }
        const unsigned char ch = static_cast<unsigned char>(*p);
        switch (state_) {
        case S::ChunkStart: {
            int d = hexval(ch);
            if (d < 0) { error = true; return size_t(p - begin); }
            remaining_ = uint64_t(d);
            state_ = S::ChunkSize;
            break;
        }
        case S::ChunkSize: {
            if (remaining_ > uint64_t(kMaxOff / 16)) { error = true; return size_t(p - begin); }
            int d = hexval(ch);
            if (d >= 0) { remaining_ = remaining_ * 16 + uint64_t(d); break; }
            bool last = remaining_ == 0;
            switch (ch) {
            case CR: state_ = last ? S::LastChunkExtAlmostDone : S::ChunkExtAlmostDone; break;
            case LF: state_ = last ? S::Trailer : S::ChunkData; break;
            case ';': case ' ': case '\t': state_ = last ? S::LastChunkExt : S::ChunkExt; break;
            default: error = true; return size_t(p - begin);
            }
            if (!last && state_ == S::ChunkData && sink_) sink_->on_chunk_header(remaining_);
            break;
        }
        case S::ChunkExt:
            if (ch == CR) state_ = S::ChunkExtAlmostDone;
            else if (ch == LF) { state_ = S::ChunkData; if (sink_) sink_->on_chunk_header(remaining_); }
            break;
        case S::ChunkExtAlmostDone:
            if (ch != LF) { error = true; return size_t(p - begin); }
            state_ = S::ChunkData;
            if (sink_) sink_->on_chunk_header(remaining_);
            break;
        case S::AfterData:
            if (ch == CR) state_ = S::AfterDataAlmostDone;
            else if (ch == LF) state_ = S::ChunkStart;
            else { error = true; return size_t(p - begin); }
            break;
        case S::AfterDataAlmostDone:
            if (ch != LF) { error = true; return size_t(p - begin); }
            state_ = S::ChunkStart;
            break;
        case S::LastChunkExt:
            if (ch == CR) state_ = S::LastChunkExtAlmostDone;
            else if (ch == LF) state_ = S::Trailer;
            break;
        case S::LastChunkExtAlmostDone:
            if (ch != LF) { error = true; return size_t(p - begin); }
            state_ = S::Trailer;
            break;
        case S::Trailer:
            if (ch == CR) state_ = S::TrailerAlmostDone;
            else if (ch == LF) { done = true; return size_t(p + 1 - begin); }
            else state_ = S::TrailerHeader;
            break;
        case S::TrailerAlmostDone:
            if (ch != LF) { error = true; return size_t(p - begin); }
            done = true;
            return size_t(p + 1 - begin);
        case S::TrailerHeader:
            if (ch == CR) state_ = S::TrailerHeaderAlmostDone;
            else if (ch == LF) state_ = S::Trailer;
            break;
        case S::TrailerHeaderAlmostDone:
            if (ch != LF) { error = true; return size_t(p - begin); }
            state_ = S::Trailer;
            break;
        default:
            error = true;
            return size_t(p - begin);
        }
        ++p;
    }
    return size_t(p - begin);
}

}  // namespace sy::http

// H1Parser (src/http/h1_parser.h): nginx 1.22's HTTP/1 parsing rules. Heads must parse the
// same however the bytes are split; it pauses at head end and message end.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "http/h1_parser.h"

namespace sy::http {

inline void PrintTo(H1Parser::Event e, std::ostream* os) {
    switch (e) {
    case H1Parser::Event::NeedMore: *os << "NeedMore"; break;
    case H1Parser::Event::HeadDone: *os << "HeadDone"; break;
    case H1Parser::Event::MessageDone: *os << "MessageDone"; break;
    case H1Parser::Event::Error: *os << "Error"; break;
    }
}

namespace {

using Event = H1Parser::Event;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string str(const std::string& buf, H1Parser::Span s) { return buf.substr(s.off, s.len); }

struct Head {
    std::string method, url, status_text;
    Headers headers;
    int version = 0, status = 0;
    bool keep_alive = false, chunked = false, has_length = false, upgrade = false;
    uint64_t content_length = 0;
    bool operator==(const Head&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Head& h) {
    os << h.method << " " << h.url << " v" << h.version << " status " << h.status << " '" << h.status_text << "' [";
    for (auto& [n, v] : h.headers) os << n << ": '" << v << "'; ";
    return os << "] ka=" << h.keep_alive << " chunked=" << h.chunked << " cl=" << h.content_length;
}

Head head_of(const H1Parser& p, const std::string& buf) {
    Head h;
    h.method = str(buf, p.method());
    h.url = str(buf, p.url());
    h.status_text = str(buf, p.status_text());
    for (auto& hs : p.headers()) h.headers.emplace_back(str(buf, hs.name), str(buf, hs.value));
    h.version = p.version();
    h.status = p.status_code();
    h.keep_alive = p.keep_alive();
    h.chunked = p.chunked();
    h.has_length = p.has_length();
    h.content_length = p.has_length() ? p.content_length() : 0;
    h.upgrade = p.upgrade();
    return h;
}

struct Sink : H1Parser::BodySink {
    std::string data;
    std::vector<uint64_t> chunk_sizes;
    int completes = 0;
    void on_body_data(std::string_view d) override { data += d; }
    void on_chunk_header(uint64_t n) override { chunk_sizes.push_back(n); }
    void on_chunk_complete() override { ++completes; }
};

// Feeds buf[from, to) and advances `parsed` by what was consumed.
Event feed(H1Parser& p, const std::string& buf, size_t& parsed, size_t to) {
    size_t consumed = 0;
    Event e = p.feed(buf.data(), parsed, to, consumed);
    EXPECT_LE(parsed + consumed, to);
    parsed += consumed;
    return e;
}

// Feeds the buffer as it "arrives" in pieces ending at each of `cuts` (and
// then the rest), the way a session reads a socket, until HeadDone.
Event feed_until_head(H1Parser& p, const std::string& buf, const std::vector<size_t>& cuts, size_t& parsed) {
    std::vector<size_t> ends = cuts;
    ends.push_back(buf.size());
    Event e = Event::NeedMore;
    for (size_t end : ends) {
        while (parsed < end) {
            e = feed(p, buf, parsed, end);
            if (e != Event::NeedMore) return e;
        }
    }
    return e;
}

const std::string kGet =
    "GET /path/to?q=1&r=%20 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: test/1.0\r\n"
    "X-Multi: a\r\n"
    "X-Multi: b\r\n"
    "X-Empty:\r\n"
    "Accept:   */*\r\n"
    "\r\n";

const Head kGetHead = [] {
    Head h;
    h.method = "GET";
    h.url = "/path/to?q=1&r=%20";
    h.headers = {{"Host", "example.com"}, {"User-Agent", "test/1.0"}, {"X-Multi", "a"},
                 {"X-Multi", "b"},        {"X-Empty", ""},            {"Accept", "*/*"}};
    h.version = 11;
    h.keep_alive = true;
    return h;
}();

// ---------------------------------------------------------------- request heads

TEST(H1Parser, RequestHeadInOneFeed) {
    H1Parser p(true);
    size_t parsed = 0;
    EXPECT_EQ(feed(p, kGet, parsed, kGet.size()), Event::HeadDone);
    EXPECT_EQ(parsed, kGet.size());
    EXPECT_EQ(head_of(p, kGet), kGetHead);
    EXPECT_EQ(p.head_start(), 0u);
    EXPECT_TRUE(p.in_message());
}

TEST(H1Parser, RequestHeadEverySplitPoint) {
    for (size_t cut = 1; cut < kGet.size(); ++cut) {
        H1Parser p(true);
        size_t parsed = 0;
        Event e = feed_until_head(p, kGet, {cut}, parsed);
        ASSERT_EQ(e, Event::HeadDone) << "cut at " << cut;
        EXPECT_EQ(parsed, kGet.size()) << "cut at " << cut;
        EXPECT_EQ(head_of(p, kGet), kGetHead) << "cut at " << cut;
    }
}

TEST(H1Parser, RequestHeadByteByByte) {
    H1Parser p(true);
    size_t parsed = 0;
    std::vector<size_t> cuts;
    for (size_t i = 1; i < kGet.size(); ++i) cuts.push_back(i);
    int head_events = 0;
    for (size_t end : cuts) {
        Event e = feed(p, kGet, parsed, end);
        EXPECT_EQ(e, Event::NeedMore) << "early event at byte " << end;
        head_events += e == Event::HeadDone;
    }
    EXPECT_EQ(head_events, 0);
    EXPECT_EQ(feed(p, kGet, parsed, kGet.size()), Event::HeadDone);
    EXPECT_EQ(head_of(p, kGet), kGetHead);
}

TEST(H1Parser, EveryPairOfSplitPoints) {
    const std::string req = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Y: z\r\n\r\n";
    H1Parser whole(true);
    size_t wp = 0;
    ASSERT_EQ(feed(whole, req, wp, req.size()), Event::HeadDone);
    const Head expect = head_of(whole, req);
    EXPECT_EQ(expect.content_length, 3u);
    for (size_t a = 1; a < req.size(); ++a)
        for (size_t b = a + 1; b < req.size(); ++b) {
            H1Parser p(true);
            size_t parsed = 0;
            ASSERT_EQ(feed_until_head(p, req, {a, b}, parsed), Event::HeadDone) << a << "," << b;
            ASSERT_EQ(head_of(p, req), expect) << a << "," << b;
        }
}

TEST(H1Parser, HeaderValueTrailingWhitespaceIndependentOfSplits) {
    const std::string req = "GET / HTTP/1.1\r\nX-T: abc  \r\nHost: h\r\n\r\n";
    H1Parser whole(true);
    size_t wp = 0;
    ASSERT_EQ(feed(whole, req, wp, req.size()), Event::HeadDone);
    const Head expect = head_of(whole, req);
    for (size_t cut = 1; cut < req.size(); ++cut) {
        H1Parser p(true);
        size_t parsed = 0;
        ASSERT_EQ(feed_until_head(p, req, {cut}, parsed), Event::HeadDone);
        EXPECT_EQ(head_of(p, req), expect) << "cut at " << cut;
    }
}

TEST(H1Parser, Http10AndKeepAlive) {
    {
        const std::string r = "GET / HTTP/1.0\r\n\r\n";
        H1Parser p(true);
        size_t parsed = 0;
        ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
        EXPECT_EQ(p.version(), 10);
        EXPECT_FALSE(p.keep_alive());
    }
    {
        const std::string r = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
        H1Parser p(true);
        size_t parsed = 0;
        ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
        EXPECT_TRUE(p.keep_alive());
    }
    {
        const std::string r = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        H1Parser p(true);
        size_t parsed = 0;
        ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
        EXPECT_FALSE(p.keep_alive());
    }
}

TEST(H1Parser, UpgradeRequest) {
    const std::string r =
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_TRUE(p.upgrade());
}

TEST(H1Parser, LeadingEmptyLinesBeforeRequestLine) {
    const std::string r = "\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(p.head_start(), 4u);
    EXPECT_EQ(str(r, p.method()), "GET");
    EXPECT_EQ(str(r, p.url()), "/x");
}

// ---------------------------------------------------------------- bodies

TEST(H1Parser, HeadDoneThenMessageDoneForContentLengthBody) {
    const std::string head = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    const std::string r = head + "hello";
    H1Parser p(true);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(parsed, head.size());
    EXPECT_TRUE(p.has_length());
    EXPECT_EQ(p.content_length(), 5u);
    EXPECT_EQ(sink.data, "");
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(parsed, r.size());
    EXPECT_EQ(sink.data, "hello");
    EXPECT_FALSE(p.in_message());
}

TEST(H1Parser, BodyInPieces) {
    const std::string head = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    const std::string r = head + "0123456789";
    H1Parser p(true);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, head.size()), Event::HeadDone);
    EXPECT_EQ(feed(p, r, parsed, head.size() + 3), Event::NeedMore);
    EXPECT_EQ(sink.data, "012");
    EXPECT_EQ(feed(p, r, parsed, head.size() + 9), Event::NeedMore);
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(sink.data, "0123456789");
}

TEST(H1Parser, GetWithoutBodyCompletesAfterHead) {
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, kGet, parsed, kGet.size()), Event::HeadDone);
    EXPECT_EQ(feed(p, kGet, parsed, kGet.size()), Event::MessageDone);
    EXPECT_EQ(parsed, kGet.size());
}

const std::string kChunkedHead = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::string kChunkedBody = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";

TEST(H1Parser, ChunkedBodyWithSink) {
    const std::string r = kChunkedHead + kChunkedBody;
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_TRUE(p.chunked());
    EXPECT_FALSE(p.has_length());
    Sink sink;
    p.set_sink(&sink);
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(parsed, r.size());
    EXPECT_EQ(sink.data, "hello world");
    ASSERT_GE(sink.chunk_sizes.size(), 2u);
    EXPECT_EQ(sink.chunk_sizes[0], 5u);
    EXPECT_EQ(sink.chunk_sizes[1], 6u);
    EXPECT_GE(sink.completes, 2);
}

TEST(H1Parser, ChunkedBodyByteByByte) {
    const std::string r = kChunkedHead + kChunkedBody;
    H1Parser p(true);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    Event e = Event::NeedMore;
    int heads = 0;
    for (size_t end = 1; end <= r.size() && e != Event::MessageDone; ++end) {
        while (parsed < end) {
            e = feed(p, r, parsed, end);
            if (e == Event::HeadDone) ++heads;
            if (e == Event::MessageDone) break;
            ASSERT_NE(e, Event::Error) << p.error_reason();
        }
    }
    EXPECT_EQ(heads, 1);
    EXPECT_EQ(e, Event::MessageDone);
    EXPECT_EQ(parsed, r.size());
    EXPECT_EQ(sink.data, "hello world");
}

TEST(H1Parser, BodyWithoutSinkIsSkipped) {
    const std::string r = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(parsed, r.size());
}

// ---------------------------------------------------------------- pipelining

TEST(H1Parser, PipelinedRequestsStopAtFirstEnd) {
    const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string b = "GET /b HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n";
    const std::string r = a + b;
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(parsed, a.size());
    EXPECT_EQ(str(r, p.url()), "/a");
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(parsed, a.size());  // nothing of the second request consumed
    p.reset();
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(parsed, r.size());
    EXPECT_EQ(p.head_start(), a.size());
    EXPECT_EQ(str(r, p.url()), "/b");
    ASSERT_EQ(p.headers().size(), 2u);
    EXPECT_EQ(str(r, p.headers()[1].name), "X");
}

TEST(H1Parser, PipelinedAfterBodyStopsAtBodyEnd) {
    const std::string a = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz";
    const std::string b = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string r = a + b;
    H1Parser p(true);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(parsed, a.size());
    EXPECT_EQ(sink.data, "xyz");
    p.reset();
    p.set_sink(nullptr);
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(str(r, p.url()), "/b");
    EXPECT_EQ(str(r, p.method()), "GET");
}

TEST(H1Parser, ResetClearsState) {
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, kGet, parsed, kGet.size()), Event::HeadDone);
    p.reset();
    EXPECT_TRUE(p.headers().empty());
    EXPECT_EQ(p.url().len, 0u);
    EXPECT_EQ(p.method().len, 0u);
    EXPECT_FALSE(p.in_message());
    EXPECT_EQ(p.error(), H1Parser::Error::None);
}

// ---------------------------------------------------------------- responses

TEST(H1Parser, ResponseWithStatusText) {
    const std::string r = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nServer: up\r\n\r\nno";
    H1Parser p(false);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(p.status_code(), 404);
    EXPECT_EQ(str(r, p.status_text()), "Not Found");
    EXPECT_EQ(p.version(), 11);
    ASSERT_EQ(p.headers().size(), 2u);
    EXPECT_EQ(str(r, p.headers()[1].value), "up");
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(sink.data, "no");
}

TEST(H1Parser, ResponseCustomReasonSplitEverywhere) {
    const std::string r = "HTTP/1.0 299 Very Custom Reason\r\nX-A: b\r\n\r\n";
    for (size_t cut = 1; cut < r.size(); ++cut) {
        H1Parser p(false);
        size_t parsed = 0;
        ASSERT_EQ(feed_until_head(p, r, {cut}, parsed), Event::HeadDone) << cut;
        EXPECT_EQ(p.status_code(), 299);
        EXPECT_EQ(str(r, p.status_text()), "Very Custom Reason") << cut;
        EXPECT_EQ(p.version(), 10);
    }
}

TEST(H1Parser, ResponseChunked) {
    const std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    H1Parser p(false);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_TRUE(p.chunked());
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(sink.data, "abc");
}

TEST(H1Parser, ResponseToHeadHasNoBody) {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    const std::string r = head + "HTTP/1.1 204 No Content\r\n\r\n";
    H1Parser p(false);
    p.set_head_only(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(p.content_length(), 10u);
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::MessageDone);
    EXPECT_EQ(parsed, head.size());  // the "body" bytes were not taken
}

TEST(H1Parser, ResponseWithoutLengthReadsUntilClose) {
    const std::string r = "HTTP/1.1 200 OK\r\n\r\nstream";
    H1Parser p(false);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::NeedMore);
    EXPECT_EQ(sink.data, "stream");
    EXPECT_FALSE(p.keep_alive());
}

// ---------------------------------------------------------------- errors

using Error = H1Parser::Error;
using Framing = H1Parser::Framing;

// What one message does to a parser fed in the given pieces: the events,
// the error, the framing verdict, the body bytes, where it stopped.
struct Outcome {
    std::vector<Event> events;
    Error error = Error::None;
    Framing framing = Framing::Ok;
    std::string body;
    size_t parsed = 0;
    int version = 0;
    bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << "events:";
    for (auto e : o.events) os << " " << int(e);
    return os << " error " << int(o.error) << " framing " << int(o.framing) << " body '" << o.body << "' parsed "
              << o.parsed << " v" << o.version;
}

// Parses `r` (as a request or a response) arriving in pieces ending at each
// of `cuts`, the way a session reads a socket, through the head and the body.
Outcome run(bool request, const std::string& r, const std::vector<size_t>& cuts = {}, bool head_only = false) {
    H1Parser p(request);
    p.set_head_only(head_only);
    Sink sink;
    p.set_sink(&sink);
    Outcome o;
    size_t parsed = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(r.size());
    for (size_t end : ends) {
        for (int guard = 0; guard < 8 && (parsed < end || (!o.events.empty() && o.events.back() == Event::HeadDone)); ++guard) {
            Event e = feed(p, r, parsed, end);
            if (e == Event::NeedMore) break;
            o.events.push_back(e);
            if (e == Event::Error || e == Event::MessageDone) goto out;
            if (e == Event::HeadDone && p.error() != Error::None) goto out;
        }
    }
out:
    o.error = p.error();
    o.framing = p.framing_error();
    o.body = sink.data;
    o.parsed = o.error == Error::None ? parsed : 0;  // where an error stops is not compared
    o.version = p.version();
    return o;
}

// The outcome must not depend on how the bytes are split: every single cut
// and every byte on its own give the same as one piece.
void expect_split_invariant(bool request, const std::string& r) {
    const Outcome whole = run(request, r);
    for (size_t cut = 1; cut < r.size(); ++cut) EXPECT_EQ(run(request, r, {cut}), whole) << "cut at " << cut;
    std::vector<size_t> all;
    for (size_t i = 1; i < r.size(); ++i) all.push_back(i);
    EXPECT_EQ(run(request, r, all), whole) << "byte by byte";
}

TEST(H1Parser, InvalidCharacterInHeaderNameIsKeptForIgnoreInvalidHeaders) {
    // nginx: '@' or '_' in a name is not an error; the session drops such a
    // header (ignore_invalid_headers) with an info line
    const std::string r = "GET / HTTP/1.1\r\nHost: h\r\nBad@Header: x\r\nA_B: y\r\n\r\n";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    ASSERT_EQ(p.headers().size(), 3u);
    EXPECT_EQ(str(r, p.headers()[1].name), "Bad@Header");
    EXPECT_EQ(str(r, p.headers()[2].name), "A_B");
}

// nginx (>= 1.21.1, ngx_http_parse_header_line) answers 400 "client sent
// invalid header line" for a space or control character in a header name or
// at the start of a header line (an obs-fold line).
TEST(H1Parser, WhitespaceInHeaderNameIsAnError) {
    for (std::string bad : {"Bad Header: x", "X-A : b", " X: b", "\tX: b", ": b", "X\x01: b", "X\x7f: b"}) {
        const std::string r = "GET / HTTP/1.1\r\nHost: h\r\n" + bad + "\r\n\r\n";
        H1Parser p(true);
        size_t parsed = 0;
        EXPECT_EQ(feed(p, r, parsed, r.size()), Event::Error) << bad;
        EXPECT_EQ(p.error(), Error::InvalidHeader) << bad;
        EXPECT_EQ(p.bad_line_start(), 25u) << bad;
        expect_split_invariant(true, r);
    }
}

TEST(H1Parser, InvalidHeaderReportsTheLineAndTheByte) {
    struct Case { std::string line; std::string shown; char bad; };
    for (const Case& c : std::vector<Case>{{"X: a\rb", "X: a", '\r'},   // CR not followed by LF
                                           {"X: a \rb", "X: a", ' '},   // nginx names the first trailing space
                                           {std::string("X: a\0b", 6), "X: a", '\0'},
                                           {"X y: 1", "X", ' '}}) {
        const std::string r = "GET / HTTP/1.1\r\n" + c.line + "\r\n\r\n";
        H1Parser p(true);
        size_t parsed = 0;
        ASSERT_EQ(feed(p, r, parsed, r.size()), Event::Error) << c.shown;
        EXPECT_EQ(p.error(), Error::InvalidHeader);
        EXPECT_EQ(r.substr(p.bad_line_start(), p.bad_pos() - p.bad_line_start()), c.shown);
        EXPECT_EQ(r[p.bad_pos()], c.bad) << c.shown;
    }
}

TEST(H1Parser, ObsFoldWithEmptyFirstLineIsAnError) {
    // "Transfer-Encoding:\r\n chunked" must never be taken as chunked
    const std::string r = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n";
    Outcome o = run(true, r);
    EXPECT_EQ(o.error, Error::InvalidHeader);
    ASSERT_FALSE(o.events.empty());
    EXPECT_EQ(o.events.back(), Event::Error);
    expect_split_invariant(true, r);
}

TEST(H1Parser, HeadEndingInCrAndAnyByteIsAnError) {
    const std::string r = "GET / HTTP/1.1\r\nHost: h\r\n\rXGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
    Outcome o = run(true, r);
    EXPECT_EQ(o.error, Error::InvalidHeader);
    expect_split_invariant(true, r);
}

TEST(H1Parser, ControlCharactersInTheTargetAreErrors) {
    for (std::string t : {"/a\tb", "/a\x01", "/a\x7f", "/a?x=\x1f", "/a#\x0b"}) {
        const std::string r = "GET " + t + " HTTP/1.1\r\nHost: h\r\n\r\n";
        Outcome o = run(true, r);
        EXPECT_EQ(o.error, Error::InvalidRequest) << t;
    }
    // bytes from 0x80 up are fine
    Outcome o = run(true, "GET /\xc3\xa9\xff HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(o.error, Error::None);
}

TEST(H1Parser, RequestLineRules) {
    struct Case { std::string line; Error e; };
    for (const Case& c : std::vector<Case>{
             {"get / HTTP/1.1", Error::InvalidMethod},
             {"G@T / HTTP/1.1", Error::InvalidMethod},
             {"GET / HTTP/2.0", Error::InvalidVersion},
             {"GET / HTTP/10.0", Error::InvalidVersion},
             {"GET / HTTP/1.", Error::InvalidRequest},
             {"GET / HTTP/1.1x", Error::InvalidRequest},
             {"GET / HTTP/01.1", Error::InvalidRequest},
             {"GET / HTTP/1.1000", Error::InvalidRequest},
             {"GET / HTTX/1.1", Error::InvalidRequest},
             {"GET / HTTP/1.1 x", Error::InvalidRequest},
             {"GET / HTTP/1.1\r\r", Error::InvalidRequest},
             {"CONNECT h:80 HTTP/1.1", Error::InvalidRequest},
             {"GET x HTTP/1.1", Error::InvalidRequest},
             {"POST /", Error::Invalid09Method},
             {"GET  /  HTTP/1.1 ", Error::None},
             {"GET http://h:80/p?q HTTP/1.1", Error::None},
             {"GET http://[::1]:80/ HTTP/1.1", Error::None},
             {"GET http://h HTTP/1.1", Error::None},
             {"GET / HTTP/1.10", Error::None},
         }) {
        const std::string r = c.line + "\r\nHost: h\r\n\r\n";
        Outcome o = run(true, r);
        EXPECT_EQ(o.error, c.e) << c.line;
        expect_split_invariant(true, r);
    }
    H1Parser p(true);
    const std::string r = "GET http://h:80/p?q HTTP/1.10\r\nHost: h\r\n\r\n";
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(str(r, p.url()), "http://h:80/p?q");
    EXPECT_EQ(p.version(), 11);  // 1.10 is "later than 1.0"
}

TEST(H1Parser, Http09GetHasNoHeaders) {
    const std::string r = "GET /x\r\n";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(p.version(), 9);
    EXPECT_EQ(str(r, p.url()), "/x");
}

// nginx accepts bare LF line ends everywhere (its own test suite sends every
// request that way): same head, same body as with CRLF.
TEST(H1Parser, BareLineFeedsAreAccepted) {
    const std::string crlf = "POST /a?b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX: y \r\n\r\n"
                             "5\r\nhello\r\n6;e=1\r\n world\r\n0\r\nT: 1\r\n\r\n";
    std::string lf;
    for (char c : crlf)
        if (c != '\r') lf += c;
    Outcome a = run(true, crlf), b = run(true, lf);
    EXPECT_EQ(a.error, Error::None);
    EXPECT_EQ(b.error, Error::None);
    EXPECT_EQ(b.body, "hello world");
    EXPECT_EQ(a.events, b.events);
    expect_split_invariant(true, lf);
    const std::string get = "GET / HTTP/1.0\nHost: x\n\n";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, get, parsed, get.size()), Event::HeadDone);
    ASSERT_EQ(p.headers().size(), 1u);
    EXPECT_EQ(str(get, p.headers()[0].value), "x");
}

TEST(H1Parser, HeaderValueRules) {
    // nginx 1.22: leading and trailing spaces go, tabs stay; "\r\r\n" ends a
    // line; a name without a colon is a header with an empty value
    const std::string r = "GET / HTTP/1.1\r\nHost: h\r\nX:\ty \t\r\nY:  a b  \r\nZ\r\nW: v\r\r\n\r\n";
    H1Parser p(true);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    ASSERT_EQ(p.headers().size(), 5u);
    EXPECT_EQ(str(r, p.headers()[1].value), "\ty \t");
    EXPECT_EQ(str(r, p.headers()[2].value), "a b");
    EXPECT_EQ(str(r, p.headers()[3].name), "Z");
    EXPECT_EQ(str(r, p.headers()[3].value), "");
    EXPECT_EQ(str(r, p.headers()[4].value), "v");
    expect_split_invariant(true, r);
}

// ---------------------------------------------------------------- framing

std::string post(const std::string& headers, const std::string& body = "", const std::string& version = "HTTP/1.1") {
    return "POST / " + version + "\r\nHost: h\r\n" + headers + "\r\n" + body;
}

TEST(H1Parser, ContentLengthIsAnOffTWithOverflowCheck) {
    const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
    for (std::string v : {"9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999",
                          "+1", "-1", "1 1", "0x10", "", "1,1"}) {
        Outcome o = run(true, post("Content-Length: " + v + "\r\n", smuggled));
        EXPECT_EQ(o.framing, Framing::InvalidLength) << v;
        EXPECT_EQ(o.error, Error::InvalidFraming) << v;
        ASSERT_EQ(o.events.size(), 1u) << v;
        EXPECT_EQ(o.events[0], Event::HeadDone);
        EXPECT_EQ(o.body, "") << v;
    }
    H1Parser p(true);
    const std::string r = post("Content-Length: 9223372036854775807 \r\n");
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(p.framing_error(), Framing::Ok);
    EXPECT_EQ(p.content_length(), 9223372036854775807ull);
}

TEST(H1Parser, FramingHeaderVerdicts) {
    struct Case { std::string r; Framing f; };
    for (const Case& c : std::vector<Case>{
             {post("Content-Length: 1\r\nContent-Length: 1\r\n", "a"), Framing::DuplicateLength},
             {post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), Framing::DuplicateEncoding},
             {post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), Framing::LengthAndEncoding},
             {post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), Framing::LengthAndEncoding},
             {post("Transfer-Encoding: gzip\r\n"), Framing::UnknownEncoding},
             {post("Transfer-Encoding: gzip, chunked\r\n"), Framing::UnknownEncoding},
             {post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "HTTP/1.0"), Framing::EncodingHttp10},
             {post("Transfer-Encoding: Chunked \r\n", "0\r\n\r\n"), Framing::Ok},
         }) {
        Outcome o = run(true, c.r);
        EXPECT_EQ(o.framing, c.f) << c.r;
    }
}

TEST(H1Parser, ChunkFramingRules) {
    struct Case { std::string body; bool ok; std::string data; };
    for (const Case& c : std::vector<Case>{
             {"5\r\nhelloXX0\r\n\r\n", false, ""},          // any two bytes after the data
             {"5\r\nhello\r\r\n0\r\n\r\n", false, ""},
             {"5\r\r\nhello\r\n0\r\n\r\n", false, ""},
             {"\r\n5\r\nhello\r\n0\r\n\r\n", false, ""},
             {"0x5\r\nhello\r\n0\r\n\r\n", false, ""},
             {"-5\r\nhello\r\n0\r\n\r\n", false, ""},
             {"8000000000000000\r\nhello\r\n0\r\n\r\n", false, ""},  // past 2^63
             {"ffffffffffffffff1\r\nhello\r\n0\r\n\r\n", false, ""},
             {"5\r\nhello\r\n0\r\n\rX", false, ""},
             {"5\nhello\n0\n\n", true, "hello"},
             {"5\r\nhello\n0\r\n\r\n", true, "hello"},
             {"5;a=b\r\nhello\r\n0;x\r\nT: 1\r\n\r\n", true, "hello"},
             {"5 \r\nhello\r\n0\r\n\r\n", true, "hello"},
             {"5\tx\nhello\r\n0\r\n\r\n", true, "hello"},
             {"000000000000000000005\r\nhello\r\n00000000000000\r\n\r\n", true, "hello"},
             {"5\r\nhello\r\n0\r\nT: 1\nU: 2\r\n\n", true, "hello"},
         }) {
        const std::string r = post("Transfer-Encoding: chunked\r\n", c.body);
        Outcome o = run(true, r);
        if (c.ok) {
            EXPECT_EQ(o.error, Error::None) << c.body;
            ASSERT_FALSE(o.events.empty());
            EXPECT_EQ(o.events.back(), Event::MessageDone) << c.body;
            EXPECT_EQ(o.parsed, r.size()) << c.body;
        } else {
            EXPECT_EQ(o.error, Error::InvalidChunked) << c.body;
        }
        expect_split_invariant(true, r);
    }
}

TEST(H1Parser, LargestChunkSizeIsAccepted) {
    const std::string r = post("Transfer-Encoding: chunked\r\n", "7ffffffffffffff\r\nabc");
    H1Parser p(true);
    Sink sink;
    p.set_sink(&sink);
    size_t parsed = 0;
    ASSERT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone);
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::NeedMore);
    ASSERT_EQ(sink.chunk_sizes.size(), 1u);
    EXPECT_EQ(sink.chunk_sizes[0], 0x7ffffffffffffffull);
}

TEST(H1Parser, PipelinedRequestAfterChunkedBodyIsNotConsumed) {
    const std::string a = post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n");
    const std::string r = a + "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    Outcome o = run(true, r);
    EXPECT_EQ(o.parsed, a.size());
    EXPECT_EQ(o.body, "hello");
}

// ---------------------------------------------------------------- upstream responses

TEST(H1Parser, ResponseRules) {
    {   // a folded header
        Outcome o = run(false, "HTTP/1.1 200 OK\r\nX-A: 1\r\n b\r\nContent-Length: 2\r\n\r\nok");
        EXPECT_EQ(o.error, Error::InvalidHeader);
    }
    {   // broken chunk framing
        Outcome o = run(false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n");
        EXPECT_EQ(o.error, Error::InvalidChunked);
    }
    {   // bare LF everywhere
        const std::string r = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n";
        Outcome o = run(false, r);
        EXPECT_EQ(o.error, Error::None);
        EXPECT_EQ(o.body, "ok");
        expect_split_invariant(false, r);
    }
    for (std::string bad : {"junk\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
                            "HTTP/1.1 200 OK\rX\r\n\r\n"}) {
        Outcome o = run(false, bad);
        EXPECT_EQ(o.error, Error::InvalidStatus) << bad;
    }
}

// nginx >= 1.23's upstream header handlers (1.22 ignored an invalid length
// and took any Transfer-Encoding naming "chunked"): such a response is 502.
TEST(H1Parser, ResponseFramingAsNginx123) {
    auto verdict = [](const std::string& r) {
        H1Parser p(false);
        size_t parsed = 0;
        EXPECT_EQ(feed(p, r, parsed, r.size()), Event::HeadDone) << r;
        return std::make_tuple(p.framing_error(), p.chunked(), p.has_length(), p.content_length());
    };
    const std::string ok = "HTTP/1.1 200 OK\r\n";
    EXPECT_EQ(verdict(ok + "Content-Length: 9223372036854775808\r\n\r\n"), std::make_tuple(Framing::InvalidLength, false, false, 0ull));
    EXPECT_EQ(verdict(ok + "Content-Length: abc\r\n\r\n"), std::make_tuple(Framing::InvalidLength, false, false, 0ull));
    EXPECT_EQ(verdict(ok + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n"), std::make_tuple(Framing::DuplicateLength, false, true, 2ull));
    EXPECT_EQ(verdict(ok + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"), std::make_tuple(Framing::LengthAndEncoding, false, true, 2ull));
    EXPECT_EQ(verdict(ok + "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"), std::make_tuple(Framing::LengthAndEncoding, true, false, 0ull));
    EXPECT_EQ(verdict(ok + "Transfer-Encoding: gzip, chunked\r\n\r\n"), std::make_tuple(Framing::UnknownEncoding, false, false, 0ull));
    EXPECT_EQ(verdict(ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), std::make_tuple(Framing::DuplicateEncoding, true, false, 0ull));
    EXPECT_EQ(verdict(ok + "Transfer-Encoding: Chunked \r\n\r\n"), std::make_tuple(Framing::Ok, true, false, 0ull));
    EXPECT_EQ(verdict(ok + "Content-Length: 7 \r\n\r\n"), std::make_tuple(Framing::Ok, false, true, 7ull));
}

TEST(H1Parser, IisDuplicateStatusLineIsIgnored) {
    const std::string r = "HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    Outcome o = run(false, r);
    EXPECT_EQ(o.error, Error::None);
    EXPECT_EQ(o.body, "ok");
}

TEST(H1Parser, ErrorIsReportedWhateverTheSplit) {
    const std::string r = "GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n";
    for (size_t cut = 1; cut < r.size(); ++cut) {
        H1Parser p(true);
        size_t parsed = 0;
        Event e = feed_until_head(p, r, {cut}, parsed);
        EXPECT_EQ(e, Event::Error) << cut;
        EXPECT_EQ(p.error(), Error::InvalidHeader) << cut;
    }
}

TEST(H1Parser, CurrentHeaderLineIsKnownWhileItIsRead) {
    // the session holds each header line to large_client_header_buffers
    const std::string r = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaa";
    H1Parser p(true);
    size_t parsed = 0;
    EXPECT_EQ(feed(p, r, parsed, 10), Event::NeedMore);
    EXPECT_FALSE(p.in_header_lines());
    EXPECT_EQ(feed(p, r, parsed, r.size()), Event::NeedMore);
    EXPECT_TRUE(p.in_header_lines());
    EXPECT_EQ(p.line_start(), 25u);
    EXPECT_EQ(p.headers().size(), 1u);
}

}  // namespace
}  // namespace sy::http

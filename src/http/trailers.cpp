// add_trailer (nginx's headers filter trailers and chunked filter): which
// responses carry trailer fields, how an HTTP/1.1 head becomes chunked for
// them, and the fields themselves, evaluated once at the body's end.
#include <fmt/format.h>

#include "http/exchange.h"
#include "http/header_filters.h"

namespace sy::http {

// nginx: r->expect_trailers once an add_trailer applies to the status (200,
// 201, 204, 206, 301, 302, 303, 304, 307, 308, or `always`); the chunked
// filter then drops Content-Length and frames the body for an HTTP/1.1
// client (chunked_transfer_encoding on). Header-only responses (HEAD, 1xx,
// 204, 304) carry no body and so no trailers; HTTP/1.0 clients get none.
void Exchange::plan_trailers(HeadBuilder& h) {
    Request& r = *req_;
    expect_trailers_ = chunk_out_ = false;
    if (!r.lc || !r.lc->add_trailer || r.lc->add_trailer->empty()) return;
    bool ok_status = headers_status(r.status);
    bool any = false;
    for (auto& a : *r.lc->add_trailer) any |= ok_status || a.always;
    if (!any) return;
    if (r.head.method == "HEAD" || r.status < 200 || r.status == 204 || r.status == 304) return;
    if (r.head.version >= 20) {   // HTTP/2: a trailing HEADERS frame
        expect_trailers_ = true;
        return;
    }
    if (!client_chunked()) return;
    expect_trailers_ = true;
    std::string te;
    if (find_header(h.out, "Transfer-Encoding", te)) return;   // the proxy frames the chunks itself
    remove_header(h.out, "Content-Length");
    h.add("Transfer-Encoding", "chunked");
    chunk_out_ = true;
    if (gen_->cfg->http->keeps_response_headers) {
        auto& sent = r.sent_headers;
        std::erase_if(sent, [](auto& p) { return ieq(p.first, "content-length"); });
        sent.emplace_back("Transfer-Encoding", "chunked");
    }
}

// nginx's trailers filter: each add_trailer that applies, in order, its value
// evaluated now; an empty value adds nothing. $sent_trailer_NAME sees the
// fields added before it.
const std::vector<std::pair<std::string, std::string>>& Exchange::eval_trailers() {
    Request& r = *req_;
    r.sent_trailers.clear();
    if (!expect_trailers_ || !r.lc || !r.lc->add_trailer) return r.sent_trailers;
    bool ok_status = headers_status(r.status);
    VarCtx vc = vars();
    for (auto& a : *r.lc->add_trailer) {
        if (!ok_status && !a.always) continue;
        std::string v = eval(a.value, vc);
        if (v.empty() || v.find_first_of("\r\n") != std::string::npos) continue;   // a field cannot carry a line break
        r.sent_trailers.emplace_back(a.name, std::move(v));
    }
    return r.sent_trailers;
}

std::string Exchange::last_chunk() {
    std::string out = "0\r\n";
    for (auto& [n, v] : eval_trailers()) out += fmt::format("{}: {}\r\n", n, v);
    out += "\r\n";
    return out;
}

}  // namespace sy::http

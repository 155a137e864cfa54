// ngx_http_ssi_module: SSI commands on static responses (see ssi.h).
#include "http/ssi.h"

#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "config/directives.h"
#include "config/regex.h"
#include "core/log.h"
#include "http/exchange.h"
#include "http/header_filters.h"
#include "http/subrequest.h"

namespace sy::http {

namespace {

std::string lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r)
        if (c >= 'A' && c <= 'Z') c = char(c | 0x20);
    return r;
}

struct ParamSpec {
    const char* name;
    int index;
    bool mandatory;
};
struct CmdSpec {
    const char* name;
    int conditional;   // 0; 1: needs an open if; 2: needs if or else
    bool block;        // runs inside a block (endblock)
    const ParamSpec* params;
};

constexpr ParamSpec kInclude[] = {{"virtual", 0, false}, {"file", 1, false}, {"wait", 2, false},
                                  {"set", 3, false},     {"stub", 4, false}, {nullptr, 0, false}};
constexpr ParamSpec kEcho[] = {{"var", 0, true}, {"default", 1, false}, {"encoding", 2, false}, {nullptr, 0, false}};
constexpr ParamSpec kConfig[] = {{"errmsg", 0, false}, {"timefmt", 1, false}, {nullptr, 0, false}};
constexpr ParamSpec kSet[] = {{"var", 0, true}, {"value", 1, true}, {nullptr, 0, false}};
constexpr ParamSpec kIf[] = {{"expr", 0, true}, {nullptr, 0, false}};
constexpr ParamSpec kBlock[] = {{"name", 0, true}, {nullptr, 0, false}};
constexpr ParamSpec kNone[] = {{nullptr, 0, false}};

constexpr CmdSpec kCommands[] = {
    {"include", 0, false, kInclude}, {"echo", 0, false, kEcho},   {"config", 0, false, kConfig},
    {"set", 0, false, kSet},         {"if", 0, false, kIf},       {"elif", 1, false, kIf},
    {"else", 1, false, kNone},       {"endif", 2, false, kNone},  {"block", 0, false, kBlock},
    {"endblock", 0, true, kNone},
};

std::string q(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

// ---- Exchange side: the static handler hands a matching file here ----------

bool Exchange::ssi_applies(std::string_view ctype, off_t size) const {
    const conf::LocConf& lc = *req_->lc;
    if (!*lc.ssi || size == 0) return false;
    std::string t = lower(ctype.substr(0, ctype.find(';')));
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
    for (auto& x : **lc.ssi_types)
        if (x == "*" || x == t) return true;
    return false;
}

void Exchange::run_ssi(int fd, off_t size, std::string_view ctype, time_t mtime, const std::string& etag) {
    Request& r = *req_;
    std::string doc;
    doc.resize(size_t(size));
    size_t got = 0;
    while (got < doc.size()) {
        ssize_t n = ::pread(fd, doc.data() + got, doc.size() - got, off_t(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += size_t(n);
    }
    int err = errno;
    ::close(fd);
    if (got != doc.size()) {
        log_error(Level::Crit, fmt::format("pread() failed ({}: {})", err, strerror(err)));
        finalize_error(500);
        return;
    }
    start_ssi(std::move(doc), r.forced_status ? r.forced_status : 200, ctype, mtime, etag);
}

// The document is in memory: the head without length, then the run.
void Exchange::start_ssi(std::string doc, int status, std::string_view ctype, time_t mtime, const std::string& etag) {
    Request& r = *req_;
    const conf::LocConf& lc = *r.lc;
    if (!subrequest_ || !ssi_shared_) ssi_shared_ = std::make_shared<SsiShared>();   // one per main request
    std::vector<ssi::Piece> pieces;
    ssi::Parser parser(*lc.ssi_value_length);
    parser.feed(doc, pieces);
    parser.finish(pieces);
    doc.clear();
    doc.shrink_to_fit();

    r.status = status;
    bool chunked = !subrequest_ && client_chunked();
    HeadBuilder h(head_scratch(), r.status, "", *lc.server_tokens);
    h.add("Content-Type", ctype);
    if (!subrequest_ && *lc.ssi_last_modified && mtime > 0) {
        // nginx: Last-Modified stays, the ETag becomes weak
        h.add("Last-Modified", http_time(mtime));
        if (!etag.empty()) h.add("ETag", "W/" + etag);
    }
    if (chunked) h.add("Transfer-Encoding", "chunked");
    send_head(h, chunked);
    if (closed()) return;
    if (r.head.method == "HEAD") {
        end_response(true);
        return;
    }
    if (ssi_) loop().defer_delete(ssi_);
    ssi_ = new SsiRun(*this, std::move(pieces), chunked);
    ssi_->resume();
}

void Exchange::ssi_drained() {
    if (ssi_) ssi_->drained();
}

// ---- the run ---------------------------------------------------------------

void SsiRun::drained() {
    if (sub_) sub_->drained();
}

SsiRun::SsiRun(Exchange& ex, std::vector<ssi::Piece> pieces, bool chunked)
    : ex_(ex), pieces_(std::move(pieces)), chunked_(chunked) {}

SsiRun::~SsiRun() { *alive_ = false; }

void SsiRun::emit(std::string_view bytes) {
    if (bytes.empty() || ended_ || ex_.closed()) return;
    if (!chunked_) {
        ex_.send(bytes);
    } else {
        ex_.send(fmt::format("{:x}\r\n", bytes.size()));
        ex_.send(bytes);
        ex_.send(std::string_view("\r\n"));
    }
    ex_.req().body_bytes_sent += bytes.size();
}

void SsiRun::log(std::string msg) {
    msg += " while sending response to client";
    ex_.log_error(Level::Error, msg);
}

void SsiRun::fail() {
    if (!*ex_.req().lc->ssi_silent_errors) emit(errmsg_);
}

void SsiRun::end() {
    if (ended_) return;
    if (chunked_ && !ex_.closed()) ex_.send(std::string_view("0\r\n\r\n"));
    ended_ = true;
    if (!ex_.closed()) ex_.end_response(true);
}

void SsiRun::resume() {
    waiting_ = false;
    auto alive = alive_;
    while (next_ < pieces_.size()) {
        if (ex_.closed()) return;
        ssi::Piece& p = pieces_[next_++];
        switch (p.kind) {
        case ssi::Piece::Text:
            if (output_) emit(p.text);
            else if (block_ && !ex_.ssi_shared_->blocks.empty()) ex_.ssi_shared_->blocks.back().body += p.text;
            break;
        case ssi::Piece::Error:
            log(p.text);
            fail();
            break;
        case ssi::Piece::Cmd: {
            Rc rc = exec(p.cmd);
            if (!*alive) return;
            if (rc == Rc::Wait) {
                waiting_ = true;
                return;
            }
            if (rc == Rc::Error) fail();
            break;
        }
        }
    }
    end();
}

std::string* SsiRun::ssi_var(std::string_view name) {
    for (auto& v : ex_.ssi_shared_->vars)
        if (v.first == name) return &v.second;
    return nullptr;
}

bool SsiRun::lookup(std::string_view name_in, std::string& out) {
    std::string name = lower(name_in);
    auto& shared = *ex_.ssi_shared_;
    if (name.size() == 1 && name[0] >= '0' && name[0] <= '9' && size_t(name[0] - '0') < shared.captures.size()) {
        out = shared.captures[size_t(name[0] - '0')];
        return true;
    }
    if (std::string* v = ssi_var(name)) {
        out = *v;
        return true;
    }
    if (name == "date_local" || name == "date_gmt") {
        time_t now = time(nullptr);
        if (timefmt_ == "%s") {
            out = std::to_string(now);
            return true;
        }
        struct tm tm{};
        if (name == "date_gmt") gmtime_r(&now, &tm);
        else localtime_r(&now, &tm);
        char buf[256];
        size_t n = strftime(buf, sizeof buf, timefmt_.c_str(), &tm);
        out.assign(buf, n);
        return n > 0;
    }
    conf::Scope scope;
    scope.http = ex_.gen_->cfg->http.get();
    conf::VarRef ref;
    if (!conf::resolve_var(name, &scope, ref)) return false;
    VarCtx vc = ex_.vars();
    out.clear();
    return get_var(ref, vc, out);
}

// nginx's ngx_http_ssi_evaluate_string: $name / ${name}, backslash escapes;
// add_prefix: a relative path gets the directory of the current URI.
bool SsiRun::evaluate(std::string_view text, bool add_prefix, std::string& out) {
    out.clear();
    bool any = false;
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] != '$') continue;
        any = true;
        break;
    }
    if (!any) {
        bool quoted = false;
        for (char ch : text) {
            if (!quoted && ch == '\\') {
                quoted = true;
                continue;
            }
            if (quoted) {
                quoted = false;
                if (ch != '\\' && ch != '\'' && ch != '"' && ch != '$') out += '\\';
            }
            out += ch;
        }
    } else {
        size_t i = 0;
        while (i < text.size()) {
            if (text[i] == '$') {
                if (++i == text.size()) {
                    log("invalid variable name in " + q(text));
                    return false;
                }
                bool bracket = false, closed_br = false;
                if (text[i] == '{') {
                    bracket = true;
                    if (++i == text.size()) {
                        log("invalid variable name in " + q(text));
                        return false;
                    }
                }
                size_t from = i;
                for (; i < text.size(); i++) {
                    char ch = text[i];
                    if (ch == '}' && bracket) {
                        bracket = false;
                        closed_br = true;
                        break;
                    }
                    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
                        continue;
                    break;
                }
                std::string_view name = text.substr(from, i - from);
                if (closed_br) i++;
                if (bracket) {
                    log("the closing bracket in " + q(name) + " variable is missing");
                    return false;
                }
                if (name.empty()) {
                    log("invalid variable name in " + q(text));
                    return false;
                }
                std::string v;
                if (lookup(name, v)) out += v;
            } else {
                bool quoted = false;
                for (; i < text.size(); i++) {
                    char ch = text[i];
                    if (!quoted) {
                        if (ch == '\\') {
                            quoted = true;
                            continue;
                        }
                        if (ch == '$') break;
                    } else {
                        quoted = false;
                        if (ch != '\\' && ch != '\'' && ch != '"' && ch != '$') out += '\\';
                    }
                    out += ch;
                }
            }
        }
    }
    if (add_prefix && !out.empty() && out[0] != '/') {
        const std::string& uri = ex_.req().uri;
        size_t slash = uri.rfind('/');
        if (slash != std::string::npos) out.insert(0, uri, 0, slash + 1);
    }
    return true;
}

SsiRun::Rc SsiRun::exec(ssi::Command& c) {
    const CmdSpec* spec = nullptr;
    for (auto& s : kCommands)
        if (c.name == s.name) spec = &s;
    if (!spec) {
        if (output_) {
            log("invalid SSI command: " + q(c.name));
            return Rc::Error;
        }
        return Rc::Ok;
    }
    if (!output_ && !spec->block) {
        if (block_) {
            // a command inside a block is kept as text for the stub
            std::string t = "<!--#" + c.name;
            for (auto& p : c.params) t += " " + p.first + "=\"" + p.second + "\"";
            t += " -->";
            if (!ex_.ssi_shared_->blocks.empty()) ex_.ssi_shared_->blocks.back().body += t;
            return Rc::Ok;
        }
        if (spec->conditional == 0) return Rc::Ok;
    }
    if (spec->conditional && (conditional_ == 0 || conditional_ > spec->conditional)) {
        log("invalid context of SSI command: " + q(c.name));
        return Rc::Error;
    }
    if (c.nparams > ssi::kMaxParams) {
        log("too many SSI command parameters: " + q(c.name));
        return Rc::Error;
    }
    const std::string* params[ssi::kMaxParams + 1] = {};
    for (auto& p : c.params) {
        const ParamSpec* ps = spec->params;
        for (; ps->name; ps++)
            if (p.first == ps->name) break;
        if (!ps->name) {
            log("invalid parameter name: " + q(p.first) + " in " + q(c.name) + " SSI command");
            return Rc::Error;
        }
        if (params[ps->index]) {
            log("duplicate " + q(p.first) + " parameter in " + q(c.name) + " SSI command");
            return Rc::Error;
        }
        params[ps->index] = &p.second;
    }
    for (const ParamSpec* ps = spec->params; ps->name; ps++)
        if (ps->mandatory && !params[ps->index]) {
            ex_.log_error(Level::Error,
                          "mandatory " + q(ps->name) + " parameter is absent in " + q(c.name) + " SSI command");
            return Rc::Error;
        }
    std::string_view n = c.name;
    if (n == "include") return include(params);
    if (n == "echo") return echo(params);
    if (n == "config") {
        if (params[1]) timefmt_ = *params[1];
        if (params[0]) errmsg_ = *params[0];
        return Rc::Ok;
    }
    if (n == "set") {
        std::string v;
        if (!evaluate(*params[1], false, v)) return Rc::Error;
        std::string name = lower(*params[0]);
        if (std::string* slot = ssi_var(name)) *slot = std::move(v);
        else ex_.ssi_shared_->vars.emplace_back(std::move(name), std::move(v));
        return Rc::Ok;
    }
    if (n == "if" || n == "elif") return cond_if(c, params);
    if (n == "else") {
        output_ = !output_chosen_;
        conditional_ = 2;
        return Rc::Ok;
    }
    if (n == "endif") {
        output_ = true;
        output_chosen_ = false;
        conditional_ = 0;
        return Rc::Ok;
    }
    if (n == "block") {
        ex_.ssi_shared_->blocks.push_back(SsiShared::Block{*params[0], {}});
        output_ = false;
        block_ = true;
        return Rc::Ok;
    }
    // endblock
    output_ = true;
    block_ = false;
    return Rc::Ok;
}

SsiRun::Rc SsiRun::cond_if(ssi::Command& c, const std::string* params[]) {
    if (c.name.size() == 2 && conditional_) {
        log("the \"if\" command inside the \"if\" command");
        return Rc::Error;
    }
    if (output_chosen_) {
        output_ = false;
        return Rc::Ok;
    }
    std::string expr = *params[0];
    size_t p = 0;
    for (; p < expr.size(); p++) {
        char& ch = expr[p];
        if (ch >= 'A' && ch <= 'Z') {
            ch = char(ch | 0x20);
            continue;
        }
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '$' || ch == '{' || ch == '}' ||
            ch == '_' || ch == '"' || ch == '\'')
            continue;
        break;
    }
    std::string left;
    std::string_view left_text = std::string_view(expr).substr(0, p);
    while (p < expr.size() && expr[p] == ' ') p++;
    if (!evaluate(left_text, false, left)) return Rc::Error;
    size_t last = expr.size();
    if (p == last) {
        output_ = !left.empty();
        output_chosen_ = output_;
        conditional_ = 1;
        return Rc::Ok;
    }
    bool negative = false;
    if (expr[p] == '=') {
        p++;
    } else if (p + 1 < last && expr[p] == '!' && expr[p + 1] == '=') {
        negative = true;
        p += 2;
    } else {
        log("invalid expression in " + q(*params[0]));
        return Rc::Error;
    }
    while (p < last && expr[p] == ' ') p++;
    bool regex = false;
    if (last > 0 && p < last - 1 && expr[p] == '/') {
        if (expr[last - 1] != '/') {
            log("invalid expression in " + q(*params[0]));
            return Rc::Error;
        }
        regex = true;
        last--;
        p++;
    } else if (last > 0 && p < last - 1 && expr[p] == '\\' && expr[p + 1] == '/') {
        p++;
    }
    std::string right;
    if (!evaluate(std::string_view(expr).substr(p, last - p), false, right)) return Rc::Error;
    bool match;
    if (!regex) {
        match = left == right;
    } else {
        std::string err;
        auto re = conf::Regex::compile(right, false, err);
        if (!re) {
            log(err);
            return Rc::Error;
        }
        std::vector<int> caps;
        match = re->match(left, caps);
        if (match) {
            auto& shared = *ex_.ssi_shared_;
            shared.captures.clear();
            for (size_t i = 0; i + 1 < caps.size(); i += 2)
                shared.captures.push_back(caps[i] < 0 ? std::string()
                                                      : left.substr(size_t(caps[i]), size_t(caps[i + 1] - caps[i])));
            for (auto& [nm, grp] : re->names()) {
                std::string v = size_t(grp) < shared.captures.size() ? shared.captures[size_t(grp)] : std::string();
                std::string key = lower(nm);
                if (std::string* slot = ssi_var(key)) *slot = v;
                else shared.vars.emplace_back(key, v);
            }
        }
    }
    output_ = match != negative;
    if (output_) output_chosen_ = true;
    conditional_ = 1;
    return Rc::Ok;
}

SsiRun::Rc SsiRun::echo(const std::string* params[]) {
    std::string value;
    bool found = lookup(*params[0], value);
    if (!found) {
        if (!params[1]) value = "(none)";
        else value = *params[1];
    }
    if (params[2]) {
        const std::string& e = *params[2];
        if (e == "none") enc_ = Enc::None;
        else if (e == "url") enc_ = Enc::Url;
        else if (e == "entity") enc_ = Enc::Entity;
        else log("unknown encoding " + q(e) + " in the \"echo\" command");
    }
    if (value.empty()) return Rc::Ok;
    if (enc_ == Enc::Url) emit(escape_url(value));
    else if (enc_ == Enc::Entity) emit(escape_entity(value));
    else emit(value);
    return Rc::Ok;
}

SsiRun::Rc SsiRun::include(const std::string* params[]) {
    const std::string *uri = params[0], *file = params[1], *wait = params[2], *set = params[3], *stub = params[4];
    if (uri && file) {
        log("inclusion may be either virtual=" + q(*uri) + " or file=" + q(*file));
        return Rc::Error;
    }
    if (!uri && !file) {
        log("no parameter in \"include\" SSI command");
        return Rc::Error;
    }
    if (set && stub) {
        log("\"set\" and \"stub\" cannot be used together in \"include\" SSI command");
        return Rc::Error;
    }
    if (wait) {
        if (!uri) {
            log("\"wait\" cannot be used with file=" + q(*file));
            return Rc::Error;
        }
        if (strcasecmp(wait->c_str(), "no") != 0 && strcasecmp(wait->c_str(), "yes") != 0) {
            log("invalid value " + q(*wait) + " in the \"wait\" parameter");
            return Rc::Error;
        }
    }
    std::string target;
    if (!evaluate(uri ? *uri : *file, true, target)) return Rc::Error;
    std::string args;
    size_t qm = target.find('?');
    if (qm != std::string::npos) {
        args = target.substr(qm + 1);
        target.resize(qm);
    }
    // nginx's ngx_http_parse_unsafe_uri: no "." or ".." segment
    for (size_t i = 0; i < target.size(); i++) {
        if (target[i] != '.' || (i > 0 && target[i - 1] != '/')) continue;
        size_t e = i + 1;
        if (e < target.size() && target[e] == '.') e++;
        if (e == target.size() || target[e] == '/') {
            log("unsafe URI " + q(target) + " was detected");
            return Rc::Error;
        }
    }
    stub_ = -1;
    if (stub) {
        auto& blocks = ex_.ssi_shared_->blocks;
        for (size_t i = 0; i < blocks.size(); i++)
            if (blocks[i].name == *stub) stub_ = int(i);
        if (stub_ < 0) {
            log("\"stub\"=" + q(*stub) + " for \"include\" not found");
            return Rc::Error;
        }
    }
    set_var_.clear();
    if (set) {
        set_var_ = lower(*set);
        if (!ssi_var(set_var_)) ex_.ssi_shared_->vars.emplace_back(set_var_, std::string());
    }
    // nginx: a subrequest of depth 51 is a cycle
    int depth = ex_.is_subrequest() ? static_cast<SubExchange&>(ex_).depth() : 0;
    if (depth >= SubExchange::kMaxDepth) {
        ex_.log_error(Level::Error, "subrequests cycle while processing " + q(target));
        return Rc::Error;
    }
    sub_ = std::make_unique<SubExchange>(ex_, std::move(target), std::move(args), set != nullptr);
    sub_->set_depth(depth + 1);
    std::weak_ptr<bool> alive = alive_;
    sub_->start([this, alive](std::string_view b) {
                    auto a = alive.lock();
                    if (a && *a) emit(b);
                },
                [this, alive] {
                    auto a = alive.lock();
                    if (a && *a) sub_done();
                });
    return Rc::Wait;
}

void SsiRun::sub_done() {
    if (!sub_) return;
    if (!set_var_.empty()) {
        if (std::string* slot = ssi_var(set_var_)) *slot = sub_->captured();
    } else if (stub_ >= 0 && !sub_->produced()) {
        emit(ex_.ssi_shared_->blocks[size_t(stub_)].body);
    }
    bool aborted = sub_->aborted();
    // deleted after its Proxy, which finish() handed to the loop's graveyard first
    ex_.loop().defer_delete(sub_.release());
    if (aborted) {   // nginx: an error in a subrequest terminates the main request
        ended_ = true;
        if (!ex_.closed()) ex_.abort_response();
        return;
    }
    if (waiting_) resume();
}

std::string SsiRun::escape_entity(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

// NGX_ESCAPE_HTML: " ", "\"", "#", "%", "'", "<", ">", controls and bytes >= 0x7f
std::string SsiRun::escape_url(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '\'' || c == '<' || c == '>') {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += char(c);
        }
    }
    return out;
}

}  // namespace sy::http

#include "http/access_log.h"

#include <unistd.h>

#include <fmt/format.h>

namespace sy::http {

namespace {

void escape(conf::LogFormat::Escape mode, std::string_view v, std::string& out) {
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char c : v) {
        switch (mode) {
        case conf::LogFormat::Escape::None:
            out += char(c);
            break;
        case conf::LogFormat::Escape::Default:
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else out += char(c);
            break;
        case conf::LogFormat::Escape::Json:
            if (c == '"' || c == '\\') { out += '\\'; out += char(c); }
            else if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else if (c == '\t') out += "\\t";
            else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
            else out += char(c);
            break;
        }
    }
}

}  // namespace

void format_log_line(const conf::LogFormat& f, VarCtx& ctx, std::string& out) {
    std::string v;
    for (auto& s : f.fmt.segs) {
        if (s.var.kind == conf::Var::None) {
            out += s.literal;
            continue;
        }
        v.clear();
        if (!get_var(s.var, ctx, v)) {  // nginx: "-" for not-found variables only
            if (f.escape != conf::LogFormat::Escape::Json) out += '-';
            continue;
        }
        escape(f.escape, v, out);
    }
}

void write_access_log(const Generation& gen, VarCtx& ctx) {
    const conf::LocConf* lc = ctx.req.lc;
    if (!lc || !lc->access_log) return;
    std::string line;
    for (auto& a : *lc->access_log) {
        if (a.off || !a.format) continue;
        if (a.has_if) {  // nginx: skipped when the condition is "" or "0"
            std::string v = eval(a.if_cond, ctx);
            if (v.empty() || v == "0") continue;
        }
        int fd = gen.log_fd(a.path);
        if (fd < 0) continue;
        line.clear();
        format_log_line(*a.format, ctx, line);
        line += '\n';
        ssize_t n = ::write(fd, line.data(), line.size());
        (void)n;
    }
}

}  // namespace sy::http

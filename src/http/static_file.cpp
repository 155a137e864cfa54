// Static files from `root` with `index`: enough to serve a front end and its
// WebSocket from one server block. GET/HEAD only; no ranges.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"
#include "http/exchange.h"
#include "http/header_filters.h"

namespace sy::http {

namespace {

std::string content_type(const conf::LocConf& lc, std::string_view path) {
    size_t slash = path.rfind('/');
    size_t dot = path.rfind('.');
    if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash + 1)) {
        std::string ext(path.substr(dot + 1));
        for (auto& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
        auto it = (*lc.types)->find(ext);
        if (it != (*lc.types)->end()) return it->second;
    }
    return *lc.default_type;
}

// One "bytes=a-b" range (nginx also serves multipart ranges; those get the
// whole file here). Returns false for an unsatisfiable range.
bool parse_range(std::string_view v, off_t size, off_t& from, off_t& to, bool& used) {
    used = false;
    if (v.substr(0, 6) != "bytes=" || v.find(',') != std::string_view::npos) return true;
    v.remove_prefix(6);
    size_t dash = v.find('-');
    if (dash == std::string_view::npos) return true;
    auto num = [](std::string_view s, off_t& out) {
        if (s.empty() || s.size() > 18) return false;
        out = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return true;
    };
    off_t a = 0, b = 0;
    std::string_view as = v.substr(0, dash), bs = v.substr(dash + 1);
    if (as.empty()) {
        if (!num(bs, b)) return true;
        if (b == 0) return false;
        from = b >= size ? 0 : size - b;
        to = size - 1;
    } else {
        if (!num(as, a)) return true;
        if (bs.empty()) b = size - 1;
        else if (!num(bs, b)) return true;
        if (a >= size || b < a) return false;
        from = a;
        to = b >= size ? size - 1 : b;
    }
    used = true;
    return true;
}

}  // namespace

// nginx's ngx_http_map_uri_to_path: `root` + URI; `alias` replaces the
// location's prefix of the URI (a regex location's alias is the whole path).
std::string Exchange::map_uri_to_path(std::string_view uri) {
    const conf::LocConf& lc = *req_->lc;
    VarCtx vc = vars();
    std::string path = eval(*lc.root, vc);
    if (lc.alias == conf::LocConf::kAliasWhole) return path;
    size_t skip = std::min(lc.alias, uri.size());
    path.append(uri.substr(skip));
    return path;
}

// nginx's try_files phase: the first FILE that exists (a directory only for
// "NAME/") becomes the URI and the location's handler runs; else the last
// argument: `=CODE`, a named location or an internal redirect. Returns true
// when it produced the response (or redirected), false to go on.
bool Exchange::run_try_files() {
    Request& r = *req_;
    const conf::LocConf& lc = *r.lc;
    const conf::TryFiles& tf = *lc.try_files;
    VarCtx vc = vars();
    std::string root = eval(*lc.root, vc);
    size_t alias = lc.alias;
    bool prefix_alias = alias != 0 && alias != conf::LocConf::kAliasWhole;
    for (auto& f : tf.files) {
        std::string name = eval(f.name, vc);
        if (prefix_alias && f.name.has_vars() && name.size() >= alias && name.compare(0, alias, r.loc->name, 0, alias) == 0)
            name.erase(0, alias);
        std::string path = root + name;
        SY_LOG(Level::Debug, info_.number, "try to use {}: \"{}\" \"{}\"", f.test_dir ? "dir" : "file", name, path);
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG)
                log_error(Level::Crit, fmt::format("open() \"{}\" failed ({}: {})", path, e, strerror(e)));
            continue;
        }
        struct stat st{};
        bool ok = fstat(fd, &st) == 0;
        ::close(fd);
        if (!ok || (S_ISDIR(st.st_mode) && !f.test_dir)) continue;
        r.uri = prefix_alias ? r.loc->name.substr(0, alias) + name : name;
        SY_LOG(Level::Debug, info_.number, "try file uri: \"{}\"", r.uri);
        return false;
    }
    if (tf.code) {
        finalize_error(tf.code);
        return true;
    }
    std::string target = eval(tf.fallback, vc);
    if (!target.empty() && target[0] == '@') {
        if (++redirects_ > 10) {
            log_error(Level::Error, "rewrite or internal redirection cycle while redirect to named location \"" + target + "\"");
            finalize_error(500);
            return true;
        }
        auto it = r.server->locations.named.find(target);
        if (it == r.server->locations.named.end()) {
            log_error(Level::Crit, "could not find named location \"" + target + "\"");
            finalize_error(500);
            return true;
        }
        enter_named(it->second);   // the URI is unchanged: proxy_pass sends the request's own (nginx)
        return true;
    }
    size_t q = target.find('?');
    if (q != std::string::npos) {
        r.args = target.substr(q + 1);
        target.resize(q);
    } else {
        r.args.clear();
    }
    if (redirects_ >= 10) {
        log_error(Level::Error, "rewrite or internal redirection cycle while internally redirecting to \"" + target + "\"");
        redirects_ = 11;   // no error_page after a cycle (nginx: uri_changes is 0)
        finalize_error(500);
        return true;
    }
    r.uri = target;
    r.uri_changed = true;
    route();
    return true;
}

void Exchange::handle_static() {
    Request& r = *req_;
    const conf::LocConf& lc = *r.lc;
    if (r.head.method != "GET" && r.head.method != "HEAD") {
        finalize_error(405);
        return;
    }
    VarCtx vc = vars();
    std::string path = map_uri_to_path(r.uri);
    std::string type_uri = r.uri;   // the extension picks the type (nginx's r->exten)
    int fd = -1;
    struct stat st{};
    if (!r.uri.empty() && r.uri.back() == '/') {
        bool found = false;
        for (auto& idx : *lc.index) {
            std::string name = eval(idx, vc);
            std::string p = path + name;
            fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            if (fd < 0) continue;
            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
                path = p;
                type_uri += name;
                found = true;
                break;
            }
            ::close(fd);
            fd = -1;
        }
        if (!found) {
            struct stat ds{};
            if (::stat(path.c_str(), &ds) == 0 && S_ISDIR(ds.st_mode)) {
                log_error(Level::Error, "directory index of \"" + path + "\" is forbidden");
                finalize_error(403);
            } else {
                if (*lc.log_not_found)
                    log_error(Level::Error, fmt::format("\"{}{}\" is not found (2: No such file or directory)", path,
                                                        lc.index->empty() ? "" : eval((*lc.index)[0], vc)));
                finalize_error(404);
            }
            return;
        }
    } else {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            int status = (e == EACCES) ? 403 : 404;
            if (status == 403 || *lc.log_not_found)
                log_error(Level::Error, fmt::format("open() \"{}\" failed ({}: {})", path, e, strerror(e)));
            finalize_error(status);
            return;
        }
        if (fstat(fd, &st) != 0) {
            ::close(fd);
            finalize_error(500);
            return;
        }
        if (S_ISDIR(st.st_mode)) {
            ::close(fd);
            std::string loc;   // nginx: the URI escaped (NGX_ESCAPE_URI), then "/"
            escape_uri(r.uri, loc);
            loc += '/';
            if (!r.args.empty()) loc += "?" + r.args;
            send_redirect(301, absolute_location(loc));
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            finalize_error(404);
            return;
        }
    }
    int status = r.forced_status ? r.forced_status : 200;
    off_t from = 0, to = st.st_size - 1;
    bool ranged = false;
    std::string etag = *lc.etag ? fmt::format("\"{:x}-{:x}\"", uint64_t(st.st_mtime), uint64_t(st.st_size)) : std::string();
    if (status == 200) {
        // nginx's not_modified filter: If-Unmodified-Since, If-Match -> 412;
        // If-Modified-Since, If-None-Match -> 304.
        int cond = conditional_status(r.head, st.st_mtime, etag);
        if (cond == 412) {
            ::close(fd);
            finalize_error(412);
            return;
        }
        if (cond == 304) {
            ::close(fd);
            r.status = 304;
            HeadBuilder h(head_scratch(), 304, "", *lc.server_tokens);
            h.add("Last-Modified", http_time(st.st_mtime));
            if (!etag.empty()) h.add("ETag", etag);
            send_head(h, true);
            if (closed()) return;
            end_response(true);
            return;
        }
        std::string ctype = content_type(lc, type_uri);
        if (ssi_applies(ctype, st.st_size)) {   // ngx_http_ssi_module (ssi.cpp): no ranges, no length
            run_ssi(fd, st.st_size, ctype, st.st_mtime, etag);
            return;
        }
        for (auto& hd : r.head.headers)
            if (ieq(hd.name, "range") && !parse_range(hd.value, st.st_size, from, to, ranged)) {
                ::close(fd);
                r.status = 416;
                HeadBuilder h(head_scratch(), 416, "", *lc.server_tokens);
                std::string body = error_page_body(416, *lc.server_tokens);
                h.add("Content-Type", "text/html");
                h.add("Content-Length", std::to_string(body.size()));
                h.add("Content-Range", fmt::format("bytes */{}", st.st_size));
                send_head(h, true);
                if (closed()) return;
                if (r.head.method != "HEAD") send(body);
                end_response(true);
                return;
            }
        if (ranged) status = 206;
    }
    r.status = status;
    off_t len = ranged ? to - from + 1 : st.st_size;
    HeadBuilder h(head_scratch(), status, "", *lc.server_tokens);
    h.add("Content-Type", content_type(lc, type_uri));
    h.add("Content-Length", std::to_string(len));
    if (status == 200 || status == 206) {
        h.add("Last-Modified", http_time(st.st_mtime));
        if (!etag.empty()) h.add("ETag", etag);
        if (ranged) h.add("Content-Range", fmt::format("bytes {}-{}/{}", from, to, st.st_size));
        else h.add("Accept-Ranges", "bytes");
    }
    send_head(h, true);
    if (closed()) {
        ::close(fd);
        return;
    }
    if (r.head.method == "HEAD" || len == 0) {
        ::close(fd);
    } else {
        r.bytes_sent += uint64_t(len);
        r.body_bytes_sent += uint64_t(len);
        send_file(fd, from, len);
        if (closed()) return;
    }
    end_response(true);
}

}  // namespace sy::http

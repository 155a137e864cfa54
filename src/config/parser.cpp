// Statements and blocks from the lexer's tokens, with `include` expanded in
// place, following ngx_conf_parse / ngx_conf_include.
#include "config/parser.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "config/lexer.h"

namespace sy::conf {
namespace {

// Every consumer of the tree walks it recursively; this keeps their stacks
// (and ours) bounded whatever the input.
constexpr int kMaxBlockDepth = 64;

// `err` is taken by value so errno is read before any allocation here.
std::string failed(const char* call, const std::string& path, int err) {
    std::string s = std::string(call) + " \"" + path + "\" failed";
    if (err != 0) s += " (" + std::to_string(err) + ": " + std::strerror(err) + ")";
    return s;
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

class Glob {
public:
    Glob() { std::memset(&g_, 0, sizeof g_); }
    Glob(const Glob&) = delete;
    Glob& operator=(const Glob&) = delete;
    ~Glob() { globfree(&g_); }
    glob_t* get() { return &g_; }

private:
    glob_t g_;
};

// Reads as many bytes as fstat reports, as nginx does, so that a device or a
// FIFO reads as an empty file rather than forever. Returns an error message
// in nginx's wording, or nothing.
std::optional<std::string> read_file(const std::string& path, std::string& text) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return failed("open()", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return failed("fstat()", path, errno);
    size_t size = st.st_size > 0 ? size_t(st.st_size) : 0;
    text.resize(size);
    size_t got = 0;
    while (got < size) {
        ssize_t n = ::pread(fd.get(), text.data() + got, size - got, off_t(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return failed("pread()", path, errno);
        if (n == 0) break;
        got += size_t(n);
    }
    if (got != size) {
        return "pread() returned only " + std::to_string(got) + " bytes instead of " + std::to_string(size);
    }
    return std::nullopt;
}

struct Source {
    Lexer lexer;
    std::shared_ptr<const std::string> name;
    int include_depth;
};

class Parser {
public:
    Parser(const ParseOptions& opt, ParseOutput& out) : opt_(opt), out_(out) {}

    std::optional<ParseError> parse_text(std::string_view text, const std::string& path, int include_depth,
                                         std::vector<Directive>& into, int block_depth) {
        Source src{Lexer(text), record(path, text), include_depth};
        return parse_block(src, into, block_depth, false);
    }

private:
    std::shared_ptr<const std::string> record(const std::string& path, std::string_view text);
    std::optional<ParseError> parse_block(Source& src, std::vector<Directive>& into, int depth, bool in_block,
                                          SrcLoc* close = nullptr);
    std::optional<ParseError> include(const Directive& inc, const Source& src, std::vector<Directive>& into,
                                      int depth);
    std::optional<ParseError> include_file(const std::string& path, const SrcLoc& at, int include_depth,
                                           std::vector<Directive>& into, int block_depth);
    std::string full_name(const std::string& name) const;

    const ParseOptions& opt_;
    ParseOutput& out_;
    std::map<std::string, std::shared_ptr<const std::string>> names_;
};

// A file included several times is listed once, like nginx's `-T` dump.
std::shared_ptr<const std::string> Parser::record(const std::string& path, std::string_view text) {
    auto [it, inserted] = names_.try_emplace(path);
    if (inserted) {
        it->second = std::make_shared<const std::string>(path);
        out_.files.push_back(SourceFile{path, std::string(text)});
    }
    return it->second;
}

std::optional<ParseError> Parser::parse_block(Source& src, std::vector<Directive>& into, int depth,
                                              bool in_block, SrcLoc* close) {
    for (;;) {
        std::vector<Arg> words;
        Token t = src.lexer.next();
        for (; t.kind == TokenKind::Word; t = src.lexer.next()) words.push_back(Arg{std::move(t.value), t.quoted});

        SrcLoc at{src.name, t.line};
        auto fail = [&](std::string message) { return ParseError{std::move(message), at}; };

        if (t.kind == TokenKind::Error) return fail(std::move(t.value));
        if (t.kind == TokenKind::End) {
            if (!words.empty()) return fail("unexpected end of file, expecting \";\" or \"}\"");
            if (in_block) return fail("unexpected end of file, expecting \"}\"");
            return std::nullopt;
        }
        if (t.kind == TokenKind::BlockClose) {
            if (!words.empty() || !in_block) return fail("unexpected \"}\"");
            if (close) *close = at;
            return std::nullopt;
        }

        bool block = t.kind == TokenKind::BlockOpen;
        if (words.empty()) return fail(block ? "unexpected \"{\"" : "unexpected \";\"");

        Directive d;
        d.name = std::move(words.front().value);
        d.args.assign(std::make_move_iterator(words.begin() + 1), std::make_move_iterator(words.end()));
        d.where = at;
        d.has_block = block;

        if (d.name == "include") {
            if (auto err = include(d, src, into, depth)) return err;
            continue;
        }
        if (block && depth >= kMaxBlockDepth) {
            return fail("too deep nesting of blocks (more than " + std::to_string(kMaxBlockDepth) + ")");
        }
        into.push_back(std::move(d));
        if (block) {
            Directive& open = into.back();
            if (auto err = parse_block(src, open.children, depth + 1, true, &open.end)) return err;
        }
    }
}

std::string Parser::full_name(const std::string& name) const {
    if (name.starts_with('/') || opt_.conf_prefix.empty()) return name;
    if (opt_.conf_prefix.ends_with('/')) return opt_.conf_prefix + name;
    return opt_.conf_prefix + "/" + name;
}

std::optional<ParseError> Parser::include(const Directive& inc, const Source& src, std::vector<Directive>& into,
                                          int depth) {
    if (inc.has_block) return ParseError{"directive \"include\" is not terminated by \";\"", inc.where};
    if (inc.args.size() != 1) return ParseError{"invalid number of arguments in \"include\" directive", inc.where};

    // nginx hands the name to open()/glob() as a C string.
    const std::string& arg = inc.args[0].value;
    std::string path = full_name(arg.substr(0, arg.find('\0')));
    // Checked before glob() so a runaway include never walks the filesystem.
    int include_depth = src.include_depth + 1;
    if (include_depth > opt_.max_include_depth) {
        return ParseError{"too deep nesting of includes at \"" + path + "\" (more than " +
                              std::to_string(opt_.max_include_depth) + ")",
                          inc.where};
    }
    if (path.find_first_of("*?[") == std::string::npos) {
        return include_file(path, inc.where, include_depth, into, depth);
    }

    Glob g;
    errno = 0;
    int rc = ::glob(path.c_str(), 0, nullptr, g.get());
    if (rc == GLOB_NOMATCH) return std::nullopt;
    if (rc != 0) return ParseError{failed("glob()", path, errno), inc.where};
    for (size_t i = 0; i < g.get()->gl_pathc; ++i) {
        if (auto err = include_file(g.get()->gl_pathv[i], inc.where, include_depth, into, depth)) return err;
    }
    return std::nullopt;
}

std::optional<ParseError> Parser::include_file(const std::string& path, const SrcLoc& at, int include_depth,
                                               std::vector<Directive>& into, int block_depth) {
    std::string text;
    if (auto err = read_file(path, text)) return ParseError{std::move(*err), at};
    return parse_text(text, path, include_depth, into, block_depth);
}

}  // namespace

std::variant<ParseOutput, ParseError> parse_file(const std::string& path, const ParseOptions& opt) {
    std::string text;
    // Nothing to point at but the file itself: line 0 means "no line".
    if (auto err = read_file(path, text)) {
        return ParseError{std::move(*err), SrcLoc{std::make_shared<const std::string>(path), 0}};
    }
    ParseOutput out;
    Parser parser(opt, out);
    if (auto err = parser.parse_text(text, path, 0, out.root, 0)) return std::move(*err);
    return out;
}

std::variant<ParseOutput, ParseError> parse_string(std::string_view text, const std::string& name,
                                                  const ParseOptions& opt) {
    ParseOutput out;
    Parser parser(opt, out);
    if (auto err = parser.parse_text(text, name, 0, out.root, 0)) return std::move(*err);
    return out;
}

}  // namespace sy::conf

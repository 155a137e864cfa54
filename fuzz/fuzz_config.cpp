// libFuzzer target for the nginx-syntax configuration parser.
//
// `include` is exercised against a small fixture directory: an input without
// '/' can only name files there, so runs never read the rest of the system;
// an input with '/' gets no include depth at all (rejected before any open()
// or glob()).
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/lexer.h"
#include "config/parser.h"

namespace {

std::string g_dir;

void remove_fixture() {
    std::error_code ec;
    if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
}

void make_fixture() {
    char tmpl[] = "/tmp/sy-fuzz-config-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    g_dir = tmpl;
    std::atexit(remove_fixture);
    const std::pair<const char*, const char*> files[] = {
        {"a.conf", "a 1;\nb { c \"d\" '${e}'; }\n"},
        {"b.conf", "include a.conf;\nx;\n"},
        {"self.conf", "include self.conf;\n"},
        {"open.conf", "server {\n"},
        {"close.conf", "}\n"},
        {"bad.conf", "\"q\"x;\n"},
        {"glob.conf", "include *.inc;\n"},
        {"1.inc", "one;\n"},
        {"2.inc", "two { three; }\n"},
    };
    for (const auto& [name, text] : files) std::ofstream(g_dir + "/" + name, std::ios::binary) << text;
}

uint32_t lines_in(std::string_view text) {
    uint32_t n = 1;
    for (char c : text) n += c == '\n';
    return n;
}

void check_tree(const std::vector<sy::conf::Directive>& ds, uint32_t main_lines, int depth) {
    if (depth > 64) __builtin_trap();
    for (const auto& d : ds) {
        if (!d.where.file || d.where.line == 0) __builtin_trap();
        if (*d.where.file == "fuzz.conf" && d.where.line > main_lines) __builtin_trap();
        if (!d.has_block && !d.children.empty()) __builtin_trap();
        check_tree(d.children, main_lines, depth + 1);
    }
}

// Every call but End makes progress, so the stream ends within size+1 tokens.
void check_lexer(std::string_view text) {
    sy::conf::Lexer lexer(text);
    for (size_t i = 0; i <= text.size() + 1; ++i) {
        sy::conf::Token t = lexer.next();
        if (t.kind == sy::conf::TokenKind::End) return;
        if (t.kind == sy::conf::TokenKind::Error && t.value.empty()) __builtin_trap();
    }
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Made on first use: a fork-mode parent runs no input and exits without
    // atexit handlers, so it must not own a fixture.
    static const bool fixture_made = (make_fixture(), true);
    (void)fixture_made;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check_lexer(text);

    sy::conf::ParseOptions opt;
    opt.conf_prefix = g_dir;
    opt.max_include_depth = g_dir.empty() || text.find('/') != std::string_view::npos ? 0 : 3;
    auto r = sy::conf::parse_string(text, "fuzz.conf", opt);
    if (auto* out = std::get_if<sy::conf::ParseOutput>(&r)) {
        check_tree(out->root, lines_in(text), 0);
        if (out->files.empty() || out->files[0].text != text) __builtin_trap();
    } else {
        const auto& err = std::get<sy::conf::ParseError>(r);
        if (err.message.empty() || !err.where.file || err.where.line == 0) __builtin_trap();
        if (*err.where.file == "fuzz.conf" && err.where.line > lines_in(text)) __builtin_trap();
    }
    return 0;
}

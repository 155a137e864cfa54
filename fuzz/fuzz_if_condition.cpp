// libFuzzer target for the `if (...)` condition parser (config/if_condition.h).
// The input is the directive's arguments, one per line, as nginx's lexer
// splits them ("($a", "=", "b)").
//
// On any input: no crash or UB, and the result is consistent — a failure
// says why (nginx's wording), a success has what its kind needs (a regex for
// ~, a file operator among f/d/e/x, a variable on the left of =, != and ~),
// and if_condition_regex() names the pattern a successful ~ compiled.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/if_condition.h"

namespace {

// Two user variables and a named capture, as a configuration would have.
struct FuzzScope : sy::conf::VarScope {
    bool lookup(std::string_view name, sy::conf::VarRef& ref) const override {
        if (name == "v" || name == "w") {
            ref.kind = sy::conf::Var::User;
            ref.index = name == "v" ? 0 : 1;
            ref.arg = std::string(name);
            return true;
        }
        return false;
    }
};

bool known_message(const std::string& e) {
    for (std::string_view p : {"invalid condition \"", "unexpected \"", "unknown \"", "pcre2_compile() failed: ",
                               "the closing bracket in \"", "invalid variable name"})
        if (e.compare(0, p.size(), p) == 0) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const FuzzScope scope;
    if (size > 4096) return 0;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> args;
    for (size_t at = 0;;) {
        size_t nl = in.find('\n', at);
        args.emplace_back(in.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at));
        if (nl == std::string_view::npos) break;
        at = nl + 1;
    }
    using K = sy::conf::IfCondition::Kind;
    sy::conf::IfCondition c;
    std::string err;
    bool ok = sy::conf::parse_if_condition(args, &scope, c, err);
    if (!ok) {
        if (err.empty() || !known_message(err)) __builtin_trap();
        return 0;
    }
    if (!err.empty()) __builtin_trap();
    switch (c.kind) {
    case K::Var: case K::Equal: case K::NotEqual: case K::Match:
        if (c.lhs.segs.size() != 1 || c.lhs.segs[0].var.kind == sy::conf::Var::None) __builtin_trap();
        if (c.kind == K::Match) {
            bool ci = false;
            if (!c.regex || sy::conf::if_condition_regex(args, ci) != c.regex->source()) __builtin_trap();
        } else if (c.regex) {
            __builtin_trap();
        }
        if (c.kind == K::Var && c.negate) __builtin_trap();
        break;
    case K::File:
        if (c.file_op != 'f' && c.file_op != 'd' && c.file_op != 'e' && c.file_op != 'x') __builtin_trap();
        if (c.regex) __builtin_trap();
        break;
    }
    return 0;
}

// nginx-syntax configuration parser: text -> Directive tree.
//
// Hand-written: no maintained library parses nginx's configuration grammar
// (quoting, escapes, `include` with globs, file:line for every directive).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/ast.h"

namespace sy::conf {

struct ParseOptions {
    // Relative `include` paths resolve against this directory (nginx's
    // conf_prefix: the directory of the main configuration file).
    std::string conf_prefix;
    int max_include_depth = 32;
};

struct ParseOutput {
    std::vector<Directive> root;      // main-context directives
    std::vector<SourceFile> files;    // every file read, main file first
};

// Parses a whole file and everything it includes. `include` directives are
// expanded in place (their children replace the include directive); globs
// (*, ?, [..]) are sorted like nginx's glob and may match nothing.
std::variant<ParseOutput, ParseError> parse_file(const std::string& path, const ParseOptions& opt);

// Parses text that came from somewhere other than a file (`-g` directives,
// tests). `name` is used as the file name in locations and errors.
std::variant<ParseOutput, ParseError> parse_string(std::string_view text, const std::string& name,
                                                  const ParseOptions& opt);

}  // namespace sy::conf

// Syntax tree of an nginx-style configuration: what the parser produces and
// the directive table consumes. Plain data, no behaviour.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sy::conf {

// One argument as written. `value` has quotes removed and escapes applied
// (\" \' \\ \n \r \t); `$var` / `${var}` are kept verbatim for the variable
// compiler. `quoted` tells "" and '' (an empty key in `map`) from nothing.
struct Arg {
    std::string value;
    bool quoted = false;
};

// Where a directive was written; `file` is shared by every directive of one
// file so a tree of thousands of directives holds one copy of each path.
struct SrcLoc {
    std::shared_ptr<const std::string> file;
    uint32_t line = 0;
    std::string str() const { return (file ? *file : std::string("?")) + ":" + std::to_string(line); }
};

struct Directive {
    std::string name;
    std::vector<Arg> args;
    SrcLoc where;
    bool has_block = false;               // written as `name args { ... }`
    SrcLoc end;                           // the block's closing "}" (nginx reports some errors there)
    std::vector<Directive> children;      // the block's directives, includes expanded
};

// Every file read while parsing, in order, with its full text (for `-T`).
struct SourceFile {
    std::string path;
    std::string text;
};

struct ParseError {
    std::string message;   // nginx wording, without location: `unexpected "}"`
    SrcLoc where;        // file:line the error is reported at
    // "unexpected "}" in /etc/x.conf:12" — the form `-t` prints after "[emerg] "
    std::string str() const {
        if (where.file && *where.file == "command line") return message + " in command line";
        if (where.line == 0) return message;
        return message + " in " + where.str();
    }
};

}  // namespace sy::conf

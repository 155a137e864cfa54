// nginx's SSI syntax (ngx_http_ssi_filter_module): "<!--#command
// name="value" ... -->" inside text. Hand-written because no library parses
// nginx's dialect (its states, limits and error messages are the spec here):
// a command name of at most 32 bytes, parameter names of at most 32, values of
// at most ssi_value_length, double or single quotes with backslash escapes,
// and on a malformed command nginx's log message, then skipping to "-->".
// Memory stays bounded whatever the input: a command that never ends keeps at
// most its name, 17 parameters and their bounded values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::http::ssi {

struct Command {
    std::string name;
    std::vector<std::pair<std::string, std::string>> params;
    size_t nparams = 0;   // as written (params keeps at most kMaxParams + 1)
};

constexpr size_t kCommandLen = 32;
constexpr size_t kParamLen = 32;
constexpr size_t kMaxParams = 16;

// One piece of a document, in order.
struct Piece {
    enum Kind { Text, Cmd, Error } kind = Text;
    std::string text;    // Text: the bytes; Error: the log message
    Command cmd;         // Cmd
};

class Parser {
public:
    explicit Parser(size_t value_len) : value_len_(value_len) {}
    // Parses `in` (may be called with consecutive parts of one document).
    void feed(std::string_view in, std::vector<Piece>& out);
    // The document ended: an unfinished command is dropped (nginx).
    void finish(std::vector<Piece>& out);

private:
    enum class St {
        Start, PreCommand, Command, PreParam, Param, PreEqual, PreValue,
        DQValue, SQValue, QuotedSymbol, PostParam, CommentEnd0, CommentEnd1, Error, ErrorEnd0, ErrorEnd1
    };
    void text(std::string_view t, std::vector<Piece>& out);
    void error(std::string msg);
    bool push_value(char ch);   // false: too long (state set to Error)
    std::string& key();
    std::string& value();

    size_t value_len_;
    St st_ = St::Start;
    St saved_ = St::Start;
    size_t looked_ = 0;          // bytes of "<!--" seen (held back from the text)
    Command cmd_;
    std::string err_;            // the message of a command that went wrong
};

}  // namespace sy::http::ssi

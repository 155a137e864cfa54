// Tokenizer for nginx-syntax configuration text, byte for byte as nginx's
// ngx_conf_read_token splits it. Statement structure (which `;` or `}` is
// allowed where) is the parser's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sy::conf {

enum class TokenKind {
    Word,        // an argument: `value` unquoted and unescaped
    Semicolon,   // `;`
    BlockOpen,   // `{`
    BlockClose,  // `}`
    End,         // end of input
    Error,       // `value` is the message, e.g. `unexpected "x"`
};

struct Token {
    TokenKind kind = TokenKind::End;
    std::string value;
    bool quoted = false;
    uint32_t line = 0;  // line current when the token ended (nginx reports this one)
};

// Does not own the text. At end of input a word cut short (an open quote,
// no terminator) is still returned as a Word, followed by End: the parser
// reports the missing `;` for it as for any unfinished statement.
class Lexer {
public:
    explicit Lexer(std::string_view text) : text_(text) {}

    Token next();
    uint32_t line() const { return line_; }

private:
    bool at_end() const { return pos_ >= text_.size(); }
    char take();
    Token make(TokenKind kind, std::string value = {}, bool quoted = false) const;
    Token word(char quote);
    void append_escaped(std::string& out);

    std::string_view text_;
    size_t pos_ = 0;
    uint32_t line_ = 1;
    bool need_space_ = false;  // just closed a quoted word
};

}  // namespace sy::conf

// Hand-written: no maintained library parses nginx's configuration grammar,
// and its quirks (`a#b` is one word, `${` does not open a block, `\x` keeps
// the backslash, a closing quote must be followed by a separator) have to be
// reproduced exactly for existing configurations to mean the same thing.
#include "config/lexer.h"

#include <utility>

namespace sy::conf {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

char Lexer::take() {
    char c = text_[pos_++];
    if (c == '\n') ++line_;
    return c;
}

Token Lexer::make(TokenKind kind, std::string value, bool quoted) const {
    return Token{kind, std::move(value), quoted, line_};
}

Token Lexer::next() {
    if (need_space_) {
        need_space_ = false;
        if (at_end()) return make(TokenKind::End);
        char c = text_[pos_];
        if (c == ';' || c == '{') {
            take();
            return make(c == ';' ? TokenKind::Semicolon : TokenKind::BlockOpen);
        }
        // nginx lets `)` follow a quote for `if ($a = "b")`; it begins a word.
        if (!is_space(c) && c != ')') {
            take();
            return make(TokenKind::Error, std::string("unexpected \"") + c + "\"");
        }
    }
    for (;;) {
        if (at_end()) return make(TokenKind::End);
        char c = text_[pos_];
        if (is_space(c)) {
            take();
            continue;
        }
        switch (c) {
        case ';':
            take();
            return make(TokenKind::Semicolon);
        case '{':
            take();
            return make(TokenKind::BlockOpen);
        case '}':
            take();
            return make(TokenKind::BlockClose);
        case '#':
            while (!at_end() && text_[pos_] != '\n') ++pos_;
            continue;
        case '"':
        case '\'':
            take();
            return word(c);
        default:
            return word(0);
        }
    }
}

// `quote` is the opening quote already consumed, or 0 for a bare word, which
// ends before whitespace, `;` or `{` (left for next()); `}` and `#` inside a
// word are ordinary characters, as in nginx.
Token Lexer::word(char quote) {
    std::string value;
    bool after_dollar = false;
    while (!at_end()) {
        char c = text_[pos_];
        if (c == '{' && after_dollar) {
            value += take();
            continue;
        }
        after_dollar = false;
        if (c == '\\') {
            take();
            append_escaped(value);
            continue;
        }
        if (c == '$') {
            after_dollar = true;
            value += take();
            continue;
        }
        if (quote != 0 && c == quote) {
            take();
            need_space_ = true;
            return make(TokenKind::Word, std::move(value), true);
        }
        if (quote == 0 && (is_space(c) || c == ';' || c == '{')) {
            return make(TokenKind::Word, std::move(value));
        }
        value += take();
    }
    return make(TokenKind::Word, std::move(value), quote != 0);
}

// The backslash has been consumed; whatever follows it belongs to the word.
void Lexer::append_escaped(std::string& out) {
    if (at_end()) {
        out += '\\';
        return;
    }
    char c = take();
    switch (c) {
    case '"':
    case '\'':
    case '\\':
        out += c;
        break;
    case 't':
        out += '\t';
        break;
    case 'r':
        out += '\r';
        break;
    case 'n':
        out += '\n';
        break;
    default:
        out += '\\';
        out += c;
    }
}

}  // namespace sy::conf

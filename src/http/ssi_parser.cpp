// SSI parser: nginx's ngx_http_ssi_parse states, written anew (see ssi_parser.h).
#include "http/ssi_parser.h"

namespace sy::http::ssi {

namespace {
bool space(char c) { return c == ' ' || c == '\r' || c == '\n' || c == '\t'; }
std::string q(std::string_view s) { return "\"" + std::string(s) + "\""; }
}  // namespace

void Parser::text(std::string_view t, std::vector<Piece>& out) {
    if (t.empty()) return;
    if (!out.empty() && out.back().kind == Piece::Text) {
        out.back().text.append(t);
        return;
    }
    Piece p;
    p.kind = Piece::Text;
    p.text.assign(t);
    out.push_back(std::move(p));
}

void Parser::error(std::string msg) {
    if (err_.empty()) err_ = std::move(msg);
}

// Parameters beyond kMaxParams + 1 are parsed into the last slot (counted only).
std::string& Parser::key() { return cmd_.params.back().first; }
std::string& Parser::value() { return cmd_.params.back().second; }

bool Parser::push_value(char ch) {
    if (value().size() >= value_len_) {
        error("too long " + q(value() + ch + "...") + " value of " + q(key()) + " parameter in " + q(cmd_.name) +
              " SSI command");
        st_ = St::Error;
        return false;
    }
    value().push_back(ch);
    return true;
}

void Parser::feed(std::string_view in, std::vector<Piece>& out) {
    static constexpr std::string_view kOpen = "<!--";
    for (size_t i = 0; i < in.size(); i++) {
        char ch = in[i];
        switch (st_) {
        case St::Start:
            // the text scanner: "<!--#" opens a command, anything else is text
            if (looked_ == 0) {
                size_t lt = in.find('<', i);
                if (lt == std::string_view::npos) lt = in.size();
                text(in.substr(i, lt - i), out);
                if (lt == in.size()) return;
                i = lt;
                looked_ = 1;
                break;
            }
            if (looked_ == 4 && ch == '#') {
                looked_ = 0;
                cmd_ = Command{};
                err_.clear();
                st_ = St::PreCommand;
                break;
            }
            if (looked_ < 4 && ch == kOpen[looked_]) {
                looked_++;
                break;
            }
            text(kOpen.substr(0, looked_), out);
            looked_ = 0;
            if (ch == '<') looked_ = 1;
            else text(std::string_view(&in[i], 1), out);
            break;
        case St::PreCommand:
            if (space(ch)) break;
            cmd_.name.assign(1, ch);
            st_ = St::Command;
            break;
        case St::Command:
            if (space(ch)) st_ = St::PreParam;
            else if (ch == '-') st_ = St::CommentEnd0;
            else if (cmd_.name.size() == kCommandLen) {
                error("the " + q(cmd_.name + ch + "...") + " SSI command is too long");
                st_ = St::Error;
            } else cmd_.name.push_back(ch);
            break;
        case St::PreParam:
            if (space(ch)) break;
            if (ch == '-') {
                st_ = St::CommentEnd0;
                break;
            }
            cmd_.nparams++;
            if (cmd_.params.size() <= kMaxParams) cmd_.params.emplace_back();
            key().assign(1, ch);
            value().clear();
            st_ = St::Param;
            break;
        case St::Param:
            if (space(ch)) st_ = St::PreEqual;
            else if (ch == '=') st_ = St::PreValue;
            else if (ch == '-') {
                key().push_back(ch);
                error("invalid " + q(key()) + " parameter in " + q(cmd_.name) + " SSI command");
                st_ = St::ErrorEnd0;
            } else if (key().size() == kParamLen) {
                error("too long " + q(key() + ch + "...") + " parameter in " + q(cmd_.name) + " SSI command");
                st_ = St::Error;
            } else key().push_back(ch);
            break;
        case St::PreEqual:
            if (space(ch)) break;
            if (ch == '=') {
                st_ = St::PreValue;
                break;
            }
            error(std::string("unexpected \"") + ch + "\" symbol after " + q(key()) + " parameter in " + q(cmd_.name) +
                  " SSI command");
            st_ = ch == '-' ? St::ErrorEnd0 : St::Error;
            break;
        case St::PreValue:
            if (space(ch)) break;
            if (ch == '"') st_ = St::DQValue;
            else if (ch == '\'') st_ = St::SQValue;
            else {
                error(std::string("unexpected \"") + ch + "\" symbol before value of " + q(key()) + " parameter in " +
                      q(cmd_.name) + " SSI command");
                st_ = ch == '-' ? St::ErrorEnd0 : St::Error;
            }
            break;
        case St::DQValue:
        case St::SQValue:
            if (ch == (st_ == St::DQValue ? '"' : '\'')) {
                st_ = St::PostParam;
                break;
            }
            if (ch == '\\') {
                // nginx keeps the backslash; the next byte is taken as is
                St back = st_;
                if (push_value(ch)) {
                    saved_ = back;
                    st_ = St::QuotedSymbol;
                }
                break;
            }
            push_value(ch);
            break;
        case St::QuotedSymbol:
            st_ = saved_;
            push_value(ch);
            break;
        case St::PostParam:
            if (space(ch)) st_ = St::PreParam;
            else if (ch == '-') st_ = St::CommentEnd0;
            else {
                error(std::string("unexpected \"") + ch + "\" symbol after " + q(value()) + " value of " + q(key()) +
                      " parameter in " + q(cmd_.name) + " SSI command");
                st_ = St::Error;
            }
            break;
        case St::CommentEnd0:
            if (ch == '-') st_ = St::CommentEnd1;
            else {
                error(std::string("unexpected \"") + ch + "\" symbol in " + q(cmd_.name) + " SSI command");
                st_ = St::Error;
            }
            break;
        case St::CommentEnd1:
            if (ch == '>') {
                Piece p;
                p.kind = Piece::Cmd;
                p.cmd = std::move(cmd_);
                out.push_back(std::move(p));
                cmd_ = Command{};
                st_ = St::Start;
            } else {
                error(std::string("unexpected \"") + ch + "\" symbol in " + q(cmd_.name) + " SSI command");
                st_ = St::Error;
            }
            break;
        case St::Error:
            if (ch == '-') st_ = St::ErrorEnd0;
            break;
        case St::ErrorEnd0:
            st_ = ch == '-' ? St::ErrorEnd1 : St::Error;
            break;
        case St::ErrorEnd1:
            if (ch == '>') {
                Piece p;
                p.kind = Piece::Error;
                p.text = std::move(err_);
                out.push_back(std::move(p));
                err_.clear();
                cmd_ = Command{};
                st_ = St::Start;
            } else st_ = St::Error;
            break;
        }
    }
}

void Parser::finish(std::vector<Piece>& out) {
    if (st_ == St::Start && looked_ > 0) text(std::string_view("<!--").substr(0, looked_), out);
    looked_ = 0;
    st_ = St::Start;
    cmd_ = Command{};
}

}  // namespace sy::http::ssi

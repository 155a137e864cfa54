#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "test_support.h"
#include "config/lexer.h"
#include "config/parser.h"

namespace sy::conf {
namespace {

using namespace std::string_view_literals;
using Strings = std::vector<std::string>;

// Token stream as compact strings: W:word Q:quoted ; { } !error (End omitted).
Strings lex(std::string_view text) {
    Lexer lexer(text);
    Strings out;
    for (size_t guard = 0; guard <= text.size() + 1; ++guard) {
        Token t = lexer.next();
        switch (t.kind) {
        case TokenKind::Word:
            out.push_back((t.quoted ? "Q:" : "W:") + t.value);
            break;
        case TokenKind::Semicolon:
            out.push_back(";");
            break;
        case TokenKind::BlockOpen:
            out.push_back("{");
            break;
        case TokenKind::BlockClose:
            out.push_back("}");
            break;
        case TokenKind::Error:
            out.push_back("!" + t.value);
            return out;
        case TokenKind::End:
            return out;
        }
    }
    ADD_FAILURE() << "lexer did not reach End";
    return out;
}

// Lines of the tokens that end statements (`;` `{` `}`) and of End/Error.
std::vector<uint32_t> lines(std::string_view text) {
    Lexer lexer(text);
    std::vector<uint32_t> out;
    for (size_t guard = 0; guard <= text.size() + 1; ++guard) {
        Token t = lexer.next();
        if (t.kind != TokenKind::Word) out.push_back(t.line);
        if (t.kind == TokenKind::End || t.kind == TokenKind::Error) return out;
    }
    ADD_FAILURE() << "lexer did not reach End";
    return out;
}

ParseOutput parse_ok(std::string_view text, const ParseOptions& opt = {}) {
    auto r = parse_string(text, "t.conf", opt);
    if (auto* e = std::get_if<ParseError>(&r)) {
        ADD_FAILURE() << "unexpected error: " << e->str();
        return {};
    }
    return std::get<ParseOutput>(std::move(r));
}

ParseError parse_err(std::string_view text, const ParseOptions& opt = {}) {
    auto r = parse_string(text, "t.conf", opt);
    if (auto* e = std::get_if<ParseError>(&r)) return *e;
    ADD_FAILURE() << "expected an error for: " << text;
    return {};
}

ParseError file_err(const std::string& path, const ParseOptions& opt) {
    auto r = parse_file(path, opt);
    if (auto* e = std::get_if<ParseError>(&r)) return *e;
    ADD_FAILURE() << "expected an error for: " << path;
    return {};
}

ParseOutput file_ok(const std::string& path, const ParseOptions& opt) {
    auto r = parse_file(path, opt);
    if (auto* e = std::get_if<ParseError>(&r)) {
        ADD_FAILURE() << "unexpected error: " << e->str();
        return {};
    }
    return std::get<ParseOutput>(std::move(r));
}

Strings names(const std::vector<Directive>& ds) {
    Strings out;
    for (const auto& d : ds) out.push_back(d.name);
    return out;
}

Strings values(const Directive& d) {
    Strings out;
    for (const auto& a : d.args) out.push_back(a.value);
    return out;
}

using test::TempDir;

// ---------------------------------------------------------------- lexer

TEST(ConfigLexer, EmptyInputIsEnd) {
    EXPECT_EQ(lex(""), Strings{});
    Lexer lexer("");
    Token t = lexer.next();
    EXPECT_EQ(t.kind, TokenKind::End);
    EXPECT_EQ(t.line, 1u);
    EXPECT_EQ(lexer.next().kind, TokenKind::End);
}

TEST(ConfigLexer, WhitespaceOnly) {
    EXPECT_EQ(lex(" \t\r\n \n"), Strings{});
    EXPECT_EQ(lines(" \t\r\n \n"), (std::vector<uint32_t>{3}));
}

TEST(ConfigLexer, WordsAndSeparators) {
    EXPECT_EQ(lex("a b;"), (Strings{"W:a", "W:b", ";"}));
    EXPECT_EQ(lex("a\tb\rc\nd;"), (Strings{"W:a", "W:b", "W:c", "W:d", ";"}));
    EXPECT_EQ(lex("a;b;"), (Strings{"W:a", ";", "W:b", ";"}));
    EXPECT_EQ(lex("a{b;}"), (Strings{"W:a", "{", "W:b", ";", "}"}));
    EXPECT_EQ(lex(";;{}"), (Strings{";", ";", "{", "}"}));
}

TEST(ConfigLexer, CloseBraceInsideWordIsOrdinary) {
    EXPECT_EQ(lex("a}"), (Strings{"W:a}"}));
    EXPECT_EQ(lex("a} }"), (Strings{"W:a}", "}"}));
    EXPECT_EQ(lex("a;}"), (Strings{"W:a", ";", "}"}));
}

TEST(ConfigLexer, HashInsideWordIsOrdinary) {
    EXPECT_EQ(lex("a#b;"), (Strings{"W:a#b", ";"}));
    EXPECT_EQ(lex("a# b;"), (Strings{"W:a#", "W:b", ";"}));
}

TEST(ConfigLexer, CommentRunsToEndOfLine) {
    EXPECT_EQ(lex("# x y ; { }\na;"), (Strings{"W:a", ";"}));
    EXPECT_EQ(lex("a #c ; d\n;"), (Strings{"W:a", ";"}));
    EXPECT_EQ(lex("a;#"), (Strings{"W:a", ";"}));
    EXPECT_EQ(lex("#only"), Strings{});
    EXPECT_EQ(lex("a;#x\r\nb;"), (Strings{"W:a", ";", "W:b", ";"}));
    EXPECT_EQ(lines("#\n#\na;"), (std::vector<uint32_t>{3, 3}));
}

TEST(ConfigLexer, DoubleAndSingleQuotes) {
    EXPECT_EQ(lex("\"a b\";"), (Strings{"Q:a b", ";"}));
    EXPECT_EQ(lex("'a b';"), (Strings{"Q:a b", ";"}));
    EXPECT_EQ(lex("\"a'b\" 'a\"b';"), (Strings{"Q:a'b", "Q:a\"b", ";"}));
    EXPECT_EQ(lex("\"a;{}#b\";"), (Strings{"Q:a;{}#b", ";"}));
    EXPECT_EQ(lex("\"a\nb\";"), (Strings{"Q:a\nb", ";"}));
}

TEST(ConfigLexer, EmptyQuotedWord) {
    EXPECT_EQ(lex("'' \"\";"), (Strings{"Q:", "Q:", ";"}));
    Lexer lexer("''");
    Token t = lexer.next();
    EXPECT_EQ(t.kind, TokenKind::Word);
    EXPECT_TRUE(t.quoted);
    EXPECT_EQ(t.value, "");
}

TEST(ConfigLexer, QuoteInsideBareWordIsOrdinary) {
    EXPECT_EQ(lex("a\"b c\";"), (Strings{"W:a\"b", "W:c\"", ";"}));
    EXPECT_EQ(lex("a'b;"), (Strings{"W:a'b", ";"}));
}

TEST(ConfigLexer, ClosingQuoteMustBeFollowedBySeparator) {
    EXPECT_EQ(lex("\"a\";"), (Strings{"Q:a", ";"}));
    EXPECT_EQ(lex("\"a\"{"), (Strings{"Q:a", "{"}));
    EXPECT_EQ(lex("\"a\" b;"), (Strings{"Q:a", "W:b", ";"}));
    EXPECT_EQ(lex("\"a\"\tb;"), (Strings{"Q:a", "W:b", ";"}));
    EXPECT_EQ(lex("\"a\"\r\nb;"), (Strings{"Q:a", "W:b", ";"}));
    EXPECT_EQ(lex("\"a\"b;"), (Strings{"Q:a", "!unexpected \"b\""}));
    EXPECT_EQ(lex("'a'\"b\";"), (Strings{"Q:a", "!unexpected \"\"\""}));
    EXPECT_EQ(lex("\"a\"#c\n;"), (Strings{"Q:a", "!unexpected \"#\""}));
    // nginx: `}` straight after a quote is not a separator either.
    EXPECT_EQ(lex("\"a\"}"), (Strings{"Q:a", "!unexpected \"}\""}));
    EXPECT_EQ(lex("\"a\" }"), (Strings{"Q:a", "}"}));
}

TEST(ConfigLexer, ParenAfterQuoteStartsAWord) {
    EXPECT_EQ(lex("if ($a = \"b\") {"), (Strings{"W:if", "W:($a", "W:=", "Q:b", "W:)", "{"}));
    EXPECT_EQ(lex("\"b\")x;"), (Strings{"Q:b", "W:)x", ";"}));
}

TEST(ConfigLexer, EscapesInBareWords) {
    EXPECT_EQ(lex(R"(a\"b a\'b a\\b;)"), (Strings{"W:a\"b", "W:a'b", "W:a\\b", ";"}));
    EXPECT_EQ(lex(R"(a\tb a\rb a\nb;)"), (Strings{"W:a\tb", "W:a\rb", "W:a\nb", ";"}));
    // Any other escaped character keeps its backslash.
    EXPECT_EQ(lex(R"(a\xb \d \$;)"), (Strings{"W:a\\xb", "W:\\d", "W:\\$", ";"}));
    // ... but still cannot end the word.
    EXPECT_EQ(lex(R"(a\;b a\ b a\{b;)"), (Strings{"W:a\\;b", "W:a\\ b", "W:a\\{b", ";"}));
    EXPECT_EQ(lex(R"(\\;)"), (Strings{"W:\\", ";"}));
    EXPECT_EQ(lex(R"(\"a;)"), (Strings{"W:\"a", ";"}));
    EXPECT_EQ(lex(R"(\#a;)"), (Strings{"W:\\#a", ";"}));
}

TEST(ConfigLexer, EscapesInQuotedWords) {
    EXPECT_EQ(lex(R"("a\"b" 'a\'b';)"), (Strings{"Q:a\"b", "Q:a'b", ";"}));
    EXPECT_EQ(lex(R"("\\" '\\';)"), (Strings{"Q:\\", "Q:\\", ";"}));
    EXPECT_EQ(lex(R"("\t\r\n";)"), (Strings{"Q:\t\r\n", ";"}));
    EXPECT_EQ(lex(R"("\d\.\x";)"), (Strings{"Q:\\d\\.\\x", ";"}));
    EXPECT_EQ(lex(R"("\\\"";)"), (Strings{"Q:\\\"", ";"}));
    EXPECT_EQ(lex(R"('\"';)"), (Strings{"Q:\"", ";"}));
}

TEST(ConfigLexer, EscapedNewlineIsPartOfTheWordAndCounted) {
    EXPECT_EQ(lex("a\\\nb;"), (Strings{"W:a\\\nb", ";"}));
    EXPECT_EQ(lines("a\\\nb;"), (std::vector<uint32_t>{2, 2}));
}

TEST(ConfigLexer, VariablesKeptVerbatim) {
    EXPECT_EQ(lex("$host;"), (Strings{"W:$host", ";"}));
    EXPECT_EQ(lex("${host};"), (Strings{"W:${host}", ";"}));
    EXPECT_EQ(lex("a${host}b;"), (Strings{"W:a${host}b", ";"}));
    EXPECT_EQ(lex("\"${a}x$b\";"), (Strings{"Q:${a}x$b", ";"}));
    EXPECT_EQ(lex("${a} {"), (Strings{"W:${a}", "{"}));
}

TEST(ConfigLexer, BraceAfterDollarDoesNotOpenABlock) {
    EXPECT_EQ(lex("a${"), (Strings{"W:a${"}));
    EXPECT_EQ(lex("${{{x;"), (Strings{"W:${{{x", ";"}));
    EXPECT_EQ(lex("$a{"), (Strings{"W:$a", "{"}));
    EXPECT_EQ(lex("$ {"), (Strings{"W:$", "{"}));
    EXPECT_EQ(lex("\\${"), (Strings{"W:\\$", "{"}));
}

TEST(ConfigLexer, UnterminatedWordAtEndIsReturned) {
    EXPECT_EQ(lex("abc"), (Strings{"W:abc"}));
    EXPECT_EQ(lex("\"abc"), (Strings{"Q:abc"}));
    EXPECT_EQ(lex("'a\nb"), (Strings{"Q:a\nb"}));
    EXPECT_EQ(lex("a\\"), (Strings{"W:a\\"}));
    EXPECT_EQ(lex("\"a\\"), (Strings{"Q:a\\"}));
    EXPECT_EQ(lex("\""), (Strings{"Q:"}));
}

TEST(ConfigLexer, BinaryBytesAreWordCharacters) {
    EXPECT_EQ(lex("a\0b;"sv), (Strings{std::string("W:a\0b", 5), ";"}));
    EXPECT_EQ(lex("\0;"sv), (Strings{std::string("W:\0", 3), ";"}));
    EXPECT_EQ(lex("\xff\xfe \x01;"), (Strings{"W:\xff\xfe", "W:\x01", ";"}));
    EXPECT_EQ(lex("\"a\"\0"sv), (Strings{"Q:a", std::string("!unexpected \"\0\"", 15)}));
}

TEST(ConfigLexer, LineNumbers) {
    EXPECT_EQ(lines("a;\nb;\n\nc;"), (std::vector<uint32_t>{1, 2, 4, 4}));
    EXPECT_EQ(lines("a\nb\n;"), (std::vector<uint32_t>{3, 3}));
    EXPECT_EQ(lines("a;\r\nb;\r\n"), (std::vector<uint32_t>{1, 2, 3}));
    EXPECT_EQ(lines("a {\n}\n"), (std::vector<uint32_t>{1, 2, 3}));
    EXPECT_EQ(lines("\r\r;"), (std::vector<uint32_t>{1, 1}));
    EXPECT_EQ(lines("\"a\"\n\n\"b\"x"), (std::vector<uint32_t>{3}));
}

// ---------------------------------------------------------------- parser

TEST(ConfigParser, SimpleDirective) {
    auto out = parse_ok("worker_processes 4;");
    ASSERT_EQ(out.root.size(), 1u);
    const Directive& d = out.root[0];
    EXPECT_EQ(d.name, "worker_processes");
    EXPECT_EQ(values(d), Strings{"4"});
    EXPECT_FALSE(d.args[0].quoted);
    EXPECT_FALSE(d.has_block);
    EXPECT_TRUE(d.children.empty());
    EXPECT_EQ(d.where.str(), "t.conf:1");
}

TEST(ConfigParser, DirectiveWithoutArguments) {
    auto out = parse_ok("a;b;");
    ASSERT_EQ(names(out.root), (Strings{"a", "b"}));
    EXPECT_TRUE(out.root[0].args.empty());
}

TEST(ConfigParser, ManyArguments) {
    auto out = parse_ok("log_format main '$remote_addr - $remote_user' \"$request\" x;");
    ASSERT_EQ(out.root.size(), 1u);
    EXPECT_EQ(values(out.root[0]), (Strings{"main", "$remote_addr - $remote_user", "$request", "x"}));
    EXPECT_FALSE(out.root[0].args[0].quoted);
    EXPECT_TRUE(out.root[0].args[1].quoted);
    EXPECT_TRUE(out.root[0].args[2].quoted);
}

TEST(ConfigParser, EmptyFileAndCommentsOnly) {
    EXPECT_TRUE(parse_ok("").root.empty());
    EXPECT_TRUE(parse_ok("\n\n  \t\r\n").root.empty());
    EXPECT_TRUE(parse_ok("# nothing here\n#; {\n").root.empty());
}

TEST(ConfigParser, Block) {
    auto out = parse_ok("events {\n    worker_connections 1024;\n}\n");
    ASSERT_EQ(out.root.size(), 1u);
    const Directive& ev = out.root[0];
    EXPECT_EQ(ev.name, "events");
    EXPECT_TRUE(ev.has_block);
    EXPECT_TRUE(ev.args.empty());
    EXPECT_EQ(ev.where.line, 1u);
    ASSERT_EQ(ev.children.size(), 1u);
    EXPECT_EQ(ev.children[0].name, "worker_connections");
    EXPECT_EQ(values(ev.children[0]), Strings{"1024"});
    EXPECT_EQ(ev.children[0].where.line, 2u);
}

TEST(ConfigParser, EmptyBlockAndNoSpaceBeforeBrace) {
    auto out = parse_ok("a{}b{c;}");
    ASSERT_EQ(names(out.root), (Strings{"a", "b"}));
    EXPECT_TRUE(out.root[0].has_block);
    EXPECT_TRUE(out.root[0].children.empty());
    ASSERT_EQ(names(out.root[1].children), Strings{"c"});
}

TEST(ConfigParser, NestedBlocks) {
    auto out = parse_ok(
        "http {\n"
        "  server {\n"
        "    listen 80;\n"
        "    location /a {\n"
        "      return 200 ok;\n"
        "    }\n"
        "    location = /b { }\n"
        "  }\n"
        "  server { }\n"
        "}\n"
        "stream { }\n");
    ASSERT_EQ(names(out.root), (Strings{"http", "stream"}));
    const Directive& http = out.root[0];
    ASSERT_EQ(names(http.children), (Strings{"server", "server"}));
    const Directive& server = http.children[0];
    ASSERT_EQ(names(server.children), (Strings{"listen", "location", "location"}));
    EXPECT_EQ(values(server.children[1]), Strings{"/a"});
    EXPECT_EQ(values(server.children[2]), (Strings{"=", "/b"}));
    ASSERT_EQ(server.children[1].children.size(), 1u);
    const Directive& ret = server.children[1].children[0];
    EXPECT_EQ(ret.name, "return");
    EXPECT_EQ(values(ret), (Strings{"200", "ok"}));
    EXPECT_EQ(ret.where.line, 5u);
    EXPECT_EQ(server.children[2].where.line, 7u);
    EXPECT_EQ(out.root[1].where.line, 11u);
}

TEST(ConfigParser, BlockDirectiveTerminatedBySemicolonIsSyntacticallyFine) {
    auto out = parse_ok("server;");
    ASSERT_EQ(out.root.size(), 1u);
    EXPECT_FALSE(out.root[0].has_block);
}

TEST(ConfigParser, SemicolonAfterBlockIsAnError) {
    // As nginx: after `}` a new statement starts, and it cannot be empty.
    auto e = parse_err("events { }\n;");
    EXPECT_EQ(e.message, "unexpected \";\"");
    EXPECT_EQ(e.where.line, 2u);
}

TEST(ConfigParser, QuotedArgumentsAndEscapes) {
    auto out = parse_ok("return 200 \"a \\\"b\\\"\\n\";\nadd_header X 'it\\'s';");
    ASSERT_EQ(out.root.size(), 2u);
    EXPECT_EQ(values(out.root[0]), (Strings{"200", "a \"b\"\n"}));
    EXPECT_TRUE(out.root[0].args[1].quoted);
    EXPECT_EQ(values(out.root[1]), (Strings{"X", "it's"}));
}

TEST(ConfigParser, QuotedEmptyArgument) {
    auto out = parse_ok("map $a $b {\n  '' 1;\n  \"\" 2;\n  default '';\n}\n");
    ASSERT_EQ(out.root.size(), 1u);
    const auto& kids = out.root[0].children;
    ASSERT_EQ(names(kids), (Strings{"", "", "default"}));
    ASSERT_EQ(kids[2].args.size(), 1u);
    EXPECT_EQ(kids[2].args[0].value, "");
    EXPECT_TRUE(kids[2].args[0].quoted);
}

TEST(ConfigParser, QuotedDirectiveName) {
    auto out = parse_ok("\"a b\" c;");
    ASSERT_EQ(out.root.size(), 1u);
    EXPECT_EQ(out.root[0].name, "a b");
    EXPECT_EQ(values(out.root[0]), Strings{"c"});
}

TEST(ConfigParser, VariableBracesInArguments) {
    auto out = parse_ok("set $x ${host}_${uri};\nreturn 200 \"${x}\";\nlocation ${a} {}\n");
    ASSERT_EQ(out.root.size(), 3u);
    EXPECT_EQ(values(out.root[0]), (Strings{"$x", "${host}_${uri}"}));
    EXPECT_EQ(values(out.root[1]), (Strings{"200", "${x}"}));
    EXPECT_TRUE(out.root[2].has_block);
    EXPECT_EQ(values(out.root[2]), Strings{"${a}"});
}

TEST(ConfigParser, IfConditionWithQuotesAndParens) {
    auto out = parse_ok("if ($request_method = \"POST\") { return 405; }");
    ASSERT_EQ(out.root.size(), 1u);
    EXPECT_EQ(values(out.root[0]), (Strings{"($request_method", "=", "POST", ")"}));
    EXPECT_TRUE(out.root[0].has_block);
    ASSERT_EQ(names(out.root[0].children), Strings{"return"});
}

TEST(ConfigParser, HashInsideWordAndComments) {
    auto out = parse_ok("a#b c#d; # comment ; {\n# another }\ne f; #tail");
    ASSERT_EQ(out.root.size(), 2u);
    EXPECT_EQ(out.root[0].name, "a#b");
    EXPECT_EQ(values(out.root[0]), Strings{"c#d"});
    EXPECT_EQ(out.root[1].name, "e");
    EXPECT_EQ(out.root[1].where.line, 3u);
}

TEST(ConfigParser, LineIsWhereTheDirectiveEnds) {
    auto out = parse_ok("proxy_pass\n    http://x\n    ;\nserver\n\n{\n  a\n  b;\n}\n");
    ASSERT_EQ(out.root.size(), 2u);
    EXPECT_EQ(out.root[0].where.line, 3u);
    EXPECT_EQ(out.root[1].where.line, 6u);
    ASSERT_EQ(out.root[1].children.size(), 1u);
    EXPECT_EQ(out.root[1].children[0].where.line, 8u);
}

TEST(ConfigParser, LineNumbersWithMultiLineQuotedArgument) {
    auto out = parse_ok("a \"x\ny\nz\";\nb;");
    ASSERT_EQ(out.root.size(), 2u);
    EXPECT_EQ(values(out.root[0]), Strings{"x\ny\nz"});
    EXPECT_EQ(out.root[0].where.line, 3u);
    EXPECT_EQ(out.root[1].where.line, 4u);
}

TEST(ConfigParser, CrlfFile) {
    auto out = parse_ok("events {\r\n  worker_connections 8;\r\n}\r\nhttp {\r\n}\r\n");
    ASSERT_EQ(names(out.root), (Strings{"events", "http"}));
    EXPECT_EQ(out.root[0].where.line, 1u);
    ASSERT_EQ(out.root[0].children.size(), 1u);
    EXPECT_EQ(values(out.root[0].children[0]), Strings{"8"});
    EXPECT_EQ(out.root[0].children[0].where.line, 2u);
    EXPECT_EQ(out.root[1].where.line, 4u);
}

TEST(ConfigParser, BinaryInputIsJustWords) {
    auto out = parse_ok("a\0b \xff;"sv);
    ASSERT_EQ(out.root.size(), 1u);
    EXPECT_EQ(out.root[0].name, std::string("a\0b", 3));
    EXPECT_EQ(values(out.root[0]), Strings{"\xff"});
}

TEST(ConfigParser, ParseStringNamesLocationsAndFiles) {
    auto r = parse_string("a;\nb { c; }\n", "-g", {});
    ASSERT_TRUE(std::holds_alternative<ParseOutput>(r));
    const auto& out = std::get<ParseOutput>(r);
    ASSERT_EQ(out.root.size(), 2u);
    EXPECT_EQ(out.root[0].where.str(), "-g:1");
    EXPECT_EQ(out.root[1].where.str(), "-g:2");
    ASSERT_EQ(out.root[1].children.size(), 1u);
    EXPECT_EQ(out.root[1].children[0].where.str(), "-g:2");
    // One shared copy of the file name.
    EXPECT_EQ(out.root[0].where.file.get(), out.root[1].children[0].where.file.get());
    ASSERT_EQ(out.files.size(), 1u);
    EXPECT_EQ(out.files[0].path, "-g");
    EXPECT_EQ(out.files[0].text, "a;\nb { c; }\n");
}

TEST(ConfigParser, ErrorStrAppendsLocation) {
    auto r = parse_string("a;\n}", "/etc/x.conf", {});
    ASSERT_TRUE(std::holds_alternative<ParseError>(r));
    EXPECT_EQ(std::get<ParseError>(r).str(), "unexpected \"}\" in /etc/x.conf:2");
}

// ------------------------------------------------------- parser errors

struct ErrorCase {
    const char* text;
    const char* message;
    uint32_t line;
};

TEST(ConfigParser, ErrorMessagesAndLines) {
    const ErrorCase cases[] = {
        {"}", "unexpected \"}\"", 1},
        {"a;\n\n}", "unexpected \"}\"", 3},
        {"a {\n}\n}\n", "unexpected \"}\"", 3},
        {"a b }", "unexpected \"}\"", 1},
        {"a {\n b\n }", "unexpected \"}\"", 3},
        {"a \"b\"}", "unexpected \"}\"", 1},
        {";", "unexpected \";\"", 1},
        {"a;\n ;", "unexpected \";\"", 2},
        {"a { ; }", "unexpected \";\"", 1},
        {"{", "unexpected \"{\"", 1},
        {"a;\n{ b; }", "unexpected \"{\"", 2},
        {"a {\n  {", "unexpected \"{\"", 2},
        {"a", "unexpected end of file, expecting \";\" or \"}\"", 1},
        {"a\n\n", "unexpected end of file, expecting \";\" or \"}\"", 3},
        {"a b\n", "unexpected end of file, expecting \";\" or \"}\"", 2},
        {"a \"b", "unexpected end of file, expecting \";\" or \"}\"", 1},
        {"a \"b\n;\n", "unexpected end of file, expecting \";\" or \"}\"", 3},
        {"'", "unexpected end of file, expecting \";\" or \"}\"", 1},
        {"\"\"", "unexpected end of file, expecting \";\" or \"}\"", 1},
        {"a\\", "unexpected end of file, expecting \";\" or \"}\"", 1},
        {"a {\n b;\n", "unexpected end of file, expecting \"}\"", 3},
        {"a {\n b {\n }", "unexpected end of file, expecting \"}\"", 3},
        {"a { # }\n", "unexpected end of file, expecting \"}\"", 2},
        {"a {\n b", "unexpected end of file, expecting \";\" or \"}\"", 2},
        {"a \"b\"x;", "unexpected \"x\"", 1},
        {"a\n'b'\"c\";", "unexpected \"\"\"", 2},
        {"a \"b\"\n\"c\"#", "unexpected \"#\"", 2},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto e = parse_err(c.text);
        EXPECT_EQ(e.message, c.message);
        EXPECT_EQ(e.where.line, c.line);
        ASSERT_NE(e.where.file, nullptr);
        EXPECT_EQ(*e.where.file, "t.conf");
    }
}

TEST(ConfigParser, ErrorAfterValidDirectivesStopsParsing) {
    auto r = parse_string("a;\nb;\nc \"d\"e;\nf;", "t.conf", {});
    ASSERT_TRUE(std::holds_alternative<ParseError>(r));
    EXPECT_EQ(std::get<ParseError>(r).str(), "unexpected \"e\" in t.conf:3");
}

TEST(ConfigParser, NestingUpToTheLimitIsAccepted) {
    std::string text;
    for (int i = 0; i < 64; ++i) text += "b {\n";
    text += "leaf;\n";
    for (int i = 0; i < 64; ++i) text += "}\n";
    auto out = parse_ok(text);
    const std::vector<Directive>* level = &out.root;
    for (int i = 0; i < 64; ++i) {
        ASSERT_EQ(level->size(), 1u);
        level = &(*level)[0].children;
    }
    ASSERT_EQ(level->size(), 1u);
    EXPECT_EQ((*level)[0].name, "leaf");
    EXPECT_EQ((*level)[0].where.line, 65u);
}

TEST(ConfigParser, NestingBeyondTheLimitIsAnError) {
    std::string text;
    for (int i = 0; i < 65; ++i) text += "b {\n";
    auto e = parse_err(text);
    EXPECT_EQ(e.message, "too deep nesting of blocks (more than 64)");
    EXPECT_EQ(e.where.line, 65u);
}

TEST(ConfigParser, HugeNestingDoesNotBlowTheStack) {
    std::string text(1 << 20, '{');
    EXPECT_EQ(parse_err(text).message, "unexpected \"{\"");
    std::string blocks;
    for (int i = 0; i < 200000; ++i) blocks += "a{";
    EXPECT_EQ(parse_err(blocks).message, "too deep nesting of blocks (more than 64)");
}

TEST(ConfigParser, LongInputAndLongWords) {
    std::string text;
    for (int i = 0; i < 100000; ++i) text += "a b;\n";
    text += "x " + std::string(1 << 20, 'y') + ";\n";
    auto out = parse_ok(text);
    ASSERT_EQ(out.root.size(), 100001u);
    EXPECT_EQ(out.root.back().args[0].value.size(), size_t(1) << 20);
    EXPECT_EQ(out.root.back().where.line, 100001u);
}

// ------------------------------------------------------------- include

TEST(ConfigParser, IncludeExpandsInPlace) {
    TempDir dir;
    std::string inc = dir.write("inc.conf", "x 1;\n\ny 2;\n");
    std::string main_text = "a;\ninclude inc.conf;\nb;\n";
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto r = parse_string(main_text, "main.conf", opt);
    ASSERT_TRUE(std::holds_alternative<ParseOutput>(r)) << std::get<ParseError>(r).str();
    const auto& out = std::get<ParseOutput>(r);
    ASSERT_EQ(names(out.root), (Strings{"a", "x", "y", "b"}));
    EXPECT_EQ(out.root[1].where.str(), inc + ":1");
    EXPECT_EQ(out.root[2].where.str(), inc + ":3");
    EXPECT_EQ(out.root[3].where.str(), "main.conf:3");
    ASSERT_EQ(out.files.size(), 2u);
    EXPECT_EQ(out.files[0].path, "main.conf");
    EXPECT_EQ(out.files[0].text, main_text);
    EXPECT_EQ(out.files[1].path, inc);
    EXPECT_EQ(out.files[1].text, "x 1;\n\ny 2;\n");
}

TEST(ConfigParser, IncludeInsideBlocks) {
    TempDir dir;
    dir.write("conf.d/loc.conf", "location / { return 204; }\n");
    ParseOptions opt;
    opt.conf_prefix = dir.path() + "/";
    auto out = parse_ok("http {\n server {\n  include conf.d/loc.conf;\n  listen 80;\n }\n}\n", opt);
    ASSERT_EQ(out.root.size(), 1u);
    ASSERT_EQ(out.root[0].children.size(), 1u);
    const Directive& server = out.root[0].children[0];
    ASSERT_EQ(names(server.children), (Strings{"location", "listen"}));
    ASSERT_EQ(names(server.children[0].children), Strings{"return"});
    EXPECT_EQ(server.children[0].where.str(), dir.file("conf.d/loc.conf") + ":1");
    EXPECT_EQ(server.children[1].where.str(), "t.conf:4");
}

TEST(ConfigParser, IncludeAbsolutePathIgnoresPrefix) {
    TempDir dir;
    std::string abs = dir.write("abs.conf", "z;");
    ParseOptions opt;
    opt.conf_prefix = "/nonexistent/prefix";
    auto out = parse_ok("include " + abs + ";", opt);
    ASSERT_EQ(names(out.root), Strings{"z"});
}

TEST(ConfigParser, IncludeQuotedPathWithSpace) {
    TempDir dir;
    dir.write("my file.conf", "q;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    ASSERT_EQ(names(parse_ok("include \"my file.conf\";", opt).root), Strings{"q"});
}

TEST(ConfigParser, IncludeGlobIsSorted) {
    TempDir dir;
    dir.write("sites/b.conf", "b;");
    dir.write("sites/a.conf", "a;");
    dir.write("sites/c.conf", "c1;\nc2;");
    dir.write("sites/ignored.txt", "nope;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto out = parse_ok("first;\ninclude sites/*.conf;\nlast;", opt);
    ASSERT_EQ(names(out.root), (Strings{"first", "a", "b", "c1", "c2", "last"}));
    ASSERT_EQ(out.files.size(), 4u);
    EXPECT_EQ(out.files[1].path, dir.file("sites/a.conf"));
    EXPECT_EQ(out.files[2].path, dir.file("sites/b.conf"));
    EXPECT_EQ(out.files[3].path, dir.file("sites/c.conf"));
    EXPECT_EQ(out.root[4].where.str(), dir.file("sites/c.conf") + ":2");
}

TEST(ConfigParser, IncludeGlobQuestionMarkAndBrackets) {
    TempDir dir;
    dir.write("x1.conf", "one;");
    dir.write("x2.conf", "two;");
    dir.write("x10.conf", "ten;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    ASSERT_EQ(names(parse_ok("include x?.conf;", opt).root), (Strings{"one", "two"}));
    ASSERT_EQ(names(parse_ok("include x[2].conf;", opt).root), Strings{"two"});
}

TEST(ConfigParser, IncludeGlobMatchingNothingIsFine) {
    TempDir dir;
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto out = parse_ok("a;\ninclude none/*.conf;\nb;", opt);
    ASSERT_EQ(names(out.root), (Strings{"a", "b"}));
    EXPECT_EQ(out.files.size(), 1u);
}

TEST(ConfigParser, IncludeMissingFile) {
    TempDir dir;
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto e = parse_err("a;\ninclude missing.conf;\n", opt);
    EXPECT_EQ(e.message, "open() \"" + dir.file("missing.conf") + "\" failed (2: No such file or directory)");
    EXPECT_EQ(e.where.str(), "t.conf:2");
}

TEST(ConfigParser, IncludeWrongArity) {
    auto e = parse_err("a;\ninclude;");
    EXPECT_EQ(e.message, "invalid number of arguments in \"include\" directive");
    EXPECT_EQ(e.where.line, 2u);
    e = parse_err("include a\n b;");
    EXPECT_EQ(e.message, "invalid number of arguments in \"include\" directive");
    EXPECT_EQ(e.where.line, 2u);
}

TEST(ConfigParser, IncludeWithBlock) {
    auto e = parse_err("include a {\n}");
    EXPECT_EQ(e.message, "directive \"include\" is not terminated by \";\"");
    EXPECT_EQ(e.where.line, 1u);
}

TEST(ConfigParser, SelfIncludeHitsTheDepthLimit) {
    TempDir dir;
    std::string self = dir.write("self.conf", "a;\ninclude self.conf;\n");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    opt.max_include_depth = 5;
    auto e = file_err(self, opt);
    EXPECT_EQ(e.message, "too deep nesting of includes at \"" + self + "\" (more than 5)");
    EXPECT_EQ(e.where.str(), self + ":2");
}

TEST(ConfigParser, SelfIncludeWithDefaultLimit) {
    TempDir dir;
    std::string self = dir.write("self.conf", "include self.conf;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    EXPECT_EQ(file_err(self, opt).message, "too deep nesting of includes at \"" + self + "\" (more than 32)");
}

TEST(ConfigParser, IncludeDepthExactlyAtLimitIsAccepted) {
    TempDir dir;
    dir.write("d1.conf", "include d2.conf;");
    dir.write("d2.conf", "leaf;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    opt.max_include_depth = 2;
    ASSERT_EQ(names(parse_ok("include d1.conf;", opt).root), Strings{"leaf"});
    opt.max_include_depth = 1;
    EXPECT_EQ(parse_err("include d1.conf;", opt).where.str(), dir.file("d1.conf") + ":1");
}

TEST(ConfigParser, ErrorInsideIncludedFileReportsThatFile) {
    TempDir dir;
    std::string bad = dir.write("bad.conf", "ok;\n\n\"x\"y;\n");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto e = parse_err("a;\ninclude bad.conf;\n", opt);
    EXPECT_EQ(e.str(), "unexpected \"y\" in " + bad + ":3");
}

TEST(ConfigParser, IncludedFileCannotCloseTheOuterBlock) {
    TempDir dir;
    std::string closer = dir.write("closer.conf", "a;\n}\n");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto e = parse_err("http {\ninclude closer.conf;\n", opt);
    EXPECT_EQ(e.message, "unexpected \"}\"");
    EXPECT_EQ(e.where.str(), closer + ":2");
}

TEST(ConfigParser, IncludedFileMustCloseItsOwnBlocks) {
    TempDir dir;
    std::string opener = dir.write("opener.conf", "server {\n");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto e = parse_err("http {\ninclude opener.conf;\n}\n}\n", opt);
    EXPECT_EQ(e.message, "unexpected end of file, expecting \"}\"");
    EXPECT_EQ(e.where.str(), opener + ":2");
}

TEST(ConfigParser, BlockNestingCountsThroughIncludes) {
    TempDir dir;
    dir.write("deep.conf", "x { y { } }");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    std::string text;
    for (int i = 0; i < 62; ++i) text += "b {";
    std::string close(62, '}');
    EXPECT_TRUE(std::holds_alternative<ParseOutput>(
        parse_string(text + "include deep.conf;" + close, "t.conf", opt)));
    auto e = parse_err("b { " + text + "include deep.conf;" + close + "}", opt);
    EXPECT_EQ(e.message, "too deep nesting of blocks (more than 64)");
    EXPECT_EQ(e.where.str(), dir.file("deep.conf") + ":1");
}

TEST(ConfigParser, FileIncludedTwiceIsListedOnce) {
    TempDir dir;
    dir.write("twice.conf", "t;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto out = parse_ok("include twice.conf;\ninclude twice.conf;", opt);
    ASSERT_EQ(names(out.root), (Strings{"t", "t"}));
    ASSERT_EQ(out.files.size(), 2u);
    EXPECT_EQ(out.root[0].where.file.get(), out.root[1].where.file.get());
}

TEST(ConfigParser, IncludeDeviceReadsAsEmpty) {
    // fstat reports size 0 for a character device: nothing is read, as nginx.
    auto out = parse_ok("a;\ninclude /dev/zero;\nb;");
    ASSERT_EQ(names(out.root), (Strings{"a", "b"}));
}

TEST(ConfigParser, IncludeNameIsCutAtNul) {
    TempDir dir;
    dir.write("n.conf", "n;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    ASSERT_EQ(names(parse_ok("include n.conf\0junk;"sv, opt).root), Strings{"n"});
    auto e = parse_err("include m.conf\0junk;"sv, opt);
    EXPECT_EQ(e.message, "open() \"" + dir.file("m.conf") + "\" failed (2: No such file or directory)");
}

// ------------------------------------------------------------ parse_file

TEST(ConfigParser, ParseFileMainFirst) {
    TempDir dir;
    std::string main_path = dir.write("nginx.conf", "worker_processes 2;\r\ninclude part.conf;\r\nevents { }\r\n");
    std::string part = dir.write("part.conf", "pid /run/x.pid;");
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto out = file_ok(main_path, opt);
    ASSERT_EQ(names(out.root), (Strings{"worker_processes", "pid", "events"}));
    EXPECT_EQ(out.root[0].where.str(), main_path + ":1");
    EXPECT_EQ(out.root[2].where.str(), main_path + ":3");
    ASSERT_EQ(out.files.size(), 2u);
    EXPECT_EQ(out.files[0].path, main_path);
    EXPECT_EQ(out.files[0].text, "worker_processes 2;\r\ninclude part.conf;\r\nevents { }\r\n");
    EXPECT_EQ(out.files[1].path, part);
}

TEST(ConfigParser, ParseFileEmpty) {
    TempDir dir;
    std::string empty = dir.write("empty.conf", "");
    auto out = file_ok(empty, {});
    EXPECT_TRUE(out.root.empty());
    ASSERT_EQ(out.files.size(), 1u);
    EXPECT_EQ(out.files[0].text, "");
}

TEST(ConfigParser, ParseFileMissing) {
    TempDir dir;
    auto e = file_err(dir.file("none.conf"), {});
    EXPECT_EQ(e.message, "open() \"" + dir.file("none.conf") + "\" failed (2: No such file or directory)");
    ASSERT_NE(e.where.file, nullptr);
    EXPECT_EQ(*e.where.file, dir.file("none.conf"));
    EXPECT_EQ(e.where.line, 0u);
}

TEST(ConfigParser, ParseFileErrorNamesTheFile) {
    TempDir dir;
    std::string path = dir.write("x.conf", "a {\n");
    EXPECT_EQ(file_err(path, {}).str(), "unexpected end of file, expecting \"}\" in " + path + ":2");
}

TEST(ConfigParser, IncludeDirectoryIsAReadError) {
    TempDir dir;
    ::mkdir(dir.file("sub").c_str(), 0755);
    struct stat st;
    ASSERT_EQ(::stat(dir.file("sub").c_str(), &st), 0);
    if (st.st_size == 0) GTEST_SKIP() << "filesystem reports directories as empty";
    ParseOptions opt;
    opt.conf_prefix = dir.path();
    auto e = parse_err("include sub;", opt);
    EXPECT_EQ(e.message, "pread() \"" + dir.file("sub") + "\" failed (21: Is a directory)");
    EXPECT_EQ(e.where.str(), "t.conf:1");
}

}  // namespace
}  // namespace sy::conf

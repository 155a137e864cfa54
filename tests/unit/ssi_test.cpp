// The SSI parser (http/ssi_parser.h): nginx's syntax, limits and messages.
#include <gtest/gtest.h>

#include "http/ssi.h"
#include "http/ssi_parser.h"

using sy::http::ssi::Parser;
using sy::http::ssi::Piece;

namespace {

std::vector<Piece> parse(std::string_view doc, size_t value_len = 255) {
    std::vector<Piece> out;
    Parser p(value_len);
    p.feed(doc, out);
    p.finish(out);
    return out;
}

}  // namespace

TEST(SsiParser, TextAndCommands) {
    auto out = parse("a<!--#include virtual=\"/x\" set='v' -->b<!--#endif-->c");
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(out[0].kind, Piece::Text);
    EXPECT_EQ(out[0].text, "a");
    ASSERT_EQ(out[1].kind, Piece::Cmd);
    EXPECT_EQ(out[1].cmd.name, "include");
    ASSERT_EQ(out[1].cmd.params.size(), 2u);
    EXPECT_EQ(out[1].cmd.params[0], (std::pair<std::string, std::string>("virtual", "/x")));
    EXPECT_EQ(out[1].cmd.params[1], (std::pair<std::string, std::string>("set", "v")));
    EXPECT_EQ(out[2].text, "b");
    EXPECT_EQ(out[3].cmd.name, "endif");
    EXPECT_TRUE(out[3].cmd.params.empty());
    EXPECT_EQ(out[4].text, "c");
}

TEST(SsiParser, NotACommandIsText) {
    auto out = parse("<!-- comment --><<!--x<!-#a");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].text, "<!-- comment --><<!--x<!-#a");
    // a document ending in "<!--" keeps it
    out = parse("x<!--");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].text, "x<!--");
    // an unfinished command is dropped (nginx)
    out = parse("x<!--#echo var=\"a\"");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].text, "x");
}

TEST(SsiParser, BackslashStaysInTheValue) {
    auto out = parse(R"(<!--#set var="a" value="x\"y\\z" -->)");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].cmd.params[1].second, R"(x\"y\\z)");
}

TEST(SsiParser, ErrorsInNginxWords) {
    auto err = [](std::string_view doc, size_t vl = 255) {
        auto out = parse(doc, vl);
        for (auto& p : out)
            if (p.kind == Piece::Error) return p.text;
        return std::string("none");
    };
    EXPECT_EQ(err("<!--#echo var=\"a\"x -->"), "unexpected \"x\" symbol after \"a\" value of \"var\" parameter in \"echo\" SSI command");
    EXPECT_EQ(err("<!--#echo var x -->"), "unexpected \"x\" symbol after \"var\" parameter in \"echo\" SSI command");
    EXPECT_EQ(err("<!--#echo var=a -->"), "unexpected \"a\" symbol before value of \"var\" parameter in \"echo\" SSI command");
    EXPECT_EQ(err("<!--#echo va- -->"), "invalid \"va-\" parameter in \"echo\" SSI command");
    EXPECT_EQ(err("<!--#echo -x -->"), "unexpected \"x\" symbol in \"echo\" SSI command");
    EXPECT_EQ(err("<!--#" + std::string(33, 'c') + " -->"),
              "the \"" + std::string(32, 'c') + "c...\" SSI command is too long");
    EXPECT_EQ(err("<!--#echo var=\"abcdef\" -->", 4), "too long \"abcde...\" value of \"var\" parameter in \"echo\" SSI command");
    // the error skips to "-->" and the text goes on
    auto out = parse("a<!--#echo var=a -- x -->b");
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[1].kind, Piece::Error);
    EXPECT_EQ(out[2].text, "b");
}

TEST(SsiParser, ResumableAtEveryByte) {
    std::string doc = "t<!--#include virtual=\"/a?b\" --><<!--#if expr='$x = /y/' -->z<!--#bad=x -->w<!--";
    auto whole = parse(doc);
    for (size_t cut = 0; cut <= doc.size(); cut++) {
        std::vector<Piece> out;
        Parser p(255);
        p.feed(std::string_view(doc).substr(0, cut), out);
        p.feed(std::string_view(doc).substr(cut), out);
        p.finish(out);
        ASSERT_EQ(out.size(), whole.size()) << cut;
        for (size_t i = 0; i < out.size(); i++) {
            EXPECT_EQ(out[i].kind, whole[i].kind) << cut;
            EXPECT_EQ(out[i].text, whole[i].text) << cut;
            EXPECT_EQ(out[i].cmd.name, whole[i].cmd.name) << cut;
            EXPECT_EQ(out[i].cmd.params, whole[i].cmd.params) << cut;
        }
    }
}

TEST(SsiParser, BoundedWhateverTheInput) {
    // many parameters: counted, at most kMaxParams + 1 kept
    std::string doc = "<!--#echo";
    for (int i = 0; i < 1000; i++) doc += " p=\"" + std::string(300, 'v') + "\"";
    doc += " -->";
    auto out = parse(doc, 8);
    // the long values make it an error; a short one keeps parsing all of them
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].kind, Piece::Error);
    doc = "<!--#echo";
    for (int i = 0; i < 1000; i++) doc += " p=\"v\"";
    doc += " -->";
    out = parse(doc);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].cmd.nparams, 1000u);
    EXPECT_EQ(out[0].cmd.params.size(), sy::http::ssi::kMaxParams + 1);
}

TEST(SsiEscape, UrlAndEntity) {
    EXPECT_EQ(sy::http::SsiRun::escape_url("a <b>&'\" c?#%"), "a%20%3Cb%3E&%27%22%20c?%23%25");
    EXPECT_EQ(sy::http::SsiRun::escape_entity("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
}

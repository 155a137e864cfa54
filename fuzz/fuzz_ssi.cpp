// libFuzzer target for the SSI parser (http/ssi_parser.h).
//
// On any input: no crash or UB; memory stays bounded (a command keeps a name
// of at most 32 bytes, at most 17 parameters, keys of at most 32 bytes and
// values of at most ssi_value_length); text never grows beyond the input; and
// feeding the document in two parts gives exactly the pieces of feeding it
// whole (the parser is resumable at any byte).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "http/ssi_parser.h"

using sy::http::ssi::Parser;
using sy::http::ssi::Piece;

namespace {

void check(const std::vector<Piece>& out, size_t value_len, size_t input) {
    size_t text = 0;
    for (auto& p : out) {
        if (p.kind == Piece::Text) text += p.text.size();
        if (p.kind != Piece::Cmd) continue;
        if (p.cmd.name.empty() || p.cmd.name.size() > sy::http::ssi::kCommandLen) abort();
        if (p.cmd.params.size() > sy::http::ssi::kMaxParams + 1) abort();
        for (auto& [k, v] : p.cmd.params)
            if (k.empty() || k.size() > sy::http::ssi::kParamLen || v.size() > value_len) abort();
    }
    if (text > input) abort();
}

bool same(const std::vector<Piece>& a, const std::vector<Piece>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++) {
        if (a[i].kind != b[i].kind || a[i].text != b[i].text || a[i].cmd.name != b[i].cmd.name ||
            a[i].cmd.params != b[i].cmd.params || a[i].cmd.nparams != b[i].cmd.nparams)
            return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    size_t value_len = 1 + data[0] % 64;
    size_t split = data[1];
    std::string_view doc(reinterpret_cast<const char*>(data + 2), size - 2);
    if (split > doc.size()) split = doc.size();

    std::vector<Piece> whole, parts;
    Parser a(value_len);
    a.feed(doc, whole);
    a.finish(whole);
    check(whole, value_len, doc.size());

    Parser b(value_len);
    b.feed(doc.substr(0, split), parts);
    b.feed(doc.substr(split), parts);
    b.finish(parts);
    if (!same(whole, parts)) abort();
    return 0;
}

// PCRE2 wrapper: compiled once at config time, matched with a per-call
// ovector. Captures are reported as offsets into the subject.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sy::conf {

class Regex {
public:
    // Returns nullptr and sets `err` (nginx wording) when the pattern is bad.
    static std::shared_ptr<Regex> compile(std::string_view pattern, bool caseless, std::string& err);
    ~Regex();

    // On a match fills `caps` with 2*(captures+1) offsets (-1 for unset groups).
    bool match(std::string_view subject, std::vector<int>& caps) const;
    bool match(std::string_view subject) const;
    int captures() const { return captures_; }
    // Named groups: (name, group number).
    const std::vector<std::pair<std::string, int>>& names() const { return names_; }
    const std::string& source() const { return src_; }

private:
    Regex() = default;
    void* code_ = nullptr;        // pcre2_code*
    void* match_data_ = nullptr;  // pcre2_match_data*, reused (single-threaded worker)
    int captures_ = 0;
    std::string src_;
    std::vector<std::pair<std::string, int>> names_;
};

}  // namespace sy::conf

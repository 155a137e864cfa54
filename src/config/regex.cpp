#include "config/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace sy::conf {

std::shared_ptr<Regex> Regex::compile(std::string_view pattern, bool caseless, std::string& err) {
    int ec = 0;
    PCRE2_SIZE eo = 0;
    uint32_t opts = caseless ? PCRE2_CASELESS : 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &ec, &eo, nullptr);
    if (!code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(ec, buf, sizeof buf);
        err = "pcre2_compile() failed: " + std::string(reinterpret_cast<char*>(buf)) + " in \"" + std::string(pattern) + "\"";
        if (eo < pattern.size()) err += " at \"" + std::string(pattern.substr(eo)) + "\"";
        return nullptr;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    std::shared_ptr<Regex> r(new Regex());
    r->code_ = code;
    r->src_ = pattern;
    uint32_t n = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    r->captures_ = int(n);
    r->match_data_ = pcre2_match_data_create_from_pattern(code, nullptr);
    uint32_t count = 0, entry = 0;
    PCRE2_SPTR table = nullptr;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < count; ++i) {
        const unsigned char* e = table + i * entry;
        int num = (e[0] << 8) | e[1];
        r->names_.emplace_back(reinterpret_cast<const char*>(e + 2), num);
    }
    return r;
}

Regex::~Regex() {
    if (match_data_) pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
    if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::match(std::string_view subject) const {
    auto* md = static_cast<pcre2_match_data*>(match_data_);
    int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                         0, md, nullptr);
    return rc >= 0;
}

bool Regex::match(std::string_view subject, std::vector<int>& caps) const {
    auto* md = static_cast<pcre2_match_data*>(match_data_);
    int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                         0, md, nullptr);
    if (rc < 0) return false;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    caps.assign(size_t(2 * (captures_ + 1)), -1);
    for (int i = 0; i < rc && i <= captures_; ++i) {
        if (ov[2 * i] == PCRE2_UNSET) continue;
        caps[size_t(2 * i)] = int(ov[2 * i]);
        caps[size_t(2 * i + 1)] = int(ov[2 * i + 1]);
    }
    return true;
}

}  // namespace sy::conf

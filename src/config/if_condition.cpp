#include "config/if_condition.h"

#include <cctype>

namespace sy::conf {
namespace {

// nginx's ngx_http_rewrite_variable(): the whole word after '$' is the name.
bool compile_variable(const std::string& word, const VarScope* scope, Template& out, std::string& err) {
    std::string name = word.substr(1);
    if (name.size() > 2 && name.front() == '{' && name.back() == '}') name = name.substr(1, name.size() - 2);
    bool ok = !name.empty();
    // a digit starts a capture: one digit only ($1..$9), as in values
    if (ok && std::isdigit(static_cast<unsigned char>(name[0])) && name.size() != 1) ok = false;
    Segment seg;
    if (ok) ok = resolve_var(name, scope, seg.var);
    if (!ok) {
        err = "unknown \"" + name + "\" variable";
        return false;
    }
    out = Template{};
    out.source = word;
    out.segs.push_back(std::move(seg));
    return true;
}

bool is_regex_op(const std::string& p) { return p == "~" || p == "~*" || p == "!~" || p == "!~*"; }

}  // namespace

bool parse_if_condition(const std::vector<std::string>& args, const VarScope* scope, IfCondition& out,
                        std::string& err) {
    out = IfCondition{};
    if (args.empty()) {
        err = "invalid condition \"\"";
        return false;
    }
    std::vector<std::string> v = args;
    long cur = 0, last = long(v.size()) - 1;
    if (v[0].empty() || v[0][0] != '(') {
        err = "invalid condition \"" + v[0] + "\"";
        return false;
    }
    if (v[0].size() == 1) cur = 1;
    else v[0].erase(0, 1);
    if (v[size_t(last)].empty() || v[size_t(last)].back() != ')') {
        err = "invalid condition \"" + v[size_t(last)] + "\"";
        return false;
    }
    if (v[size_t(last)].size() == 1) --last;
    else v[size_t(last)].pop_back();

    const std::string& p = v[size_t(cur)];   // cur <= 1 and exists: see the checks above
    if (p.size() > 1 && p[0] == '$') {
        if (cur != last && cur + 2 != last) {
            err = "invalid condition \"" + p + "\"";
            return false;
        }
        if (!compile_variable(p, scope, out.lhs, err)) return false;
        if (cur == last) {
            out.kind = IfCondition::Kind::Var;
            return true;
        }
        const std::string& op = v[size_t(cur + 1)];
        const std::string& val = v[size_t(last)];
        if (op == "=" || op == "!=") {
            out.kind = op == "=" ? IfCondition::Kind::Equal : IfCondition::Kind::NotEqual;
            return compile_template(val, scope, out.rhs, err);
        }
        if (is_regex_op(op)) {
            out.kind = IfCondition::Kind::Match;
            out.negate = op[0] == '!';
            out.regex = Regex::compile(val, op.back() == '*', err);
            return out.regex != nullptr;
        }
        err = "unexpected \"" + op + "\" in condition";
        return false;
    }
    if ((p.size() == 2 && p[0] == '-') || (p.size() == 3 && p[0] == '!' && p[1] == '-')) {
        if (cur + 1 != last) {
            err = "invalid condition \"" + p + "\"";
            return false;
        }
        char op = p.back();
        if (op != 'f' && op != 'd' && op != 'e' && op != 'x') {
            err = "invalid condition \"" + p + "\"";
            return false;
        }
        out.kind = IfCondition::Kind::File;
        out.file_op = op;
        out.negate = p[0] == '!';
        return compile_template(v[size_t(last)], scope, out.lhs, err);
    }
    err = "invalid condition \"" + p + "\"";
    return false;
}

std::string if_condition_regex(const std::vector<std::string>& args, bool& caseless) {
    caseless = false;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (!is_regex_op(args[i])) continue;
        caseless = args[i].back() == '*';
        std::string pat = args.back();
        if (pat == ")" && args.size() >= 2) pat = args[args.size() - 2];
        else if (!pat.empty() && pat.back() == ')') pat.pop_back();
        return pat;
    }
    return {};
}

}  // namespace sy::conf

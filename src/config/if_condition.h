// The condition of nginx's `if (...)` (ngx_http_rewrite_module), parsed from
// the directive's arguments as nginx splits them: `if ($a = "b")` arrives as
// "($a", "=", "b", ")". Pure: no Ctx, so the fuzzer and unit tests call it.
#pragma once

#include <string>
#include <vector>

#include "config/conf.h"

namespace sy::conf {

// Fills `out`; on failure returns false with nginx's message in `err`:
// `invalid condition "x"`, `unexpected "x" in condition`, `unknown "x"
// variable`, `pcre2_compile() failed: ...`.
bool parse_if_condition(const std::vector<std::string>& args, const VarScope* scope, IfCondition& out,
                        std::string& err);

// The regex text of a condition's arguments (for the prescan of named
// captures), or "" when the condition has no `~`-family operator.
std::string if_condition_regex(const std::vector<std::string>& args, bool& caseless);

}  // namespace sy::conf

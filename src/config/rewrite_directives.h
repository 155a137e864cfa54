// ngx_http_rewrite_module's `set`, `if` and `break` (the table rows are in
// directives.cpp; `rewrite`/`return` live there too), and the prescan that
// makes `set` variables known before any value that reads them compiles.
#pragma once

#include <vector>

#include "config/directives.h"

namespace sy::conf {

bool h_set(Ctx& c, const Directive& d);
bool h_if(Ctx& c, const Directive& d);
bool h_break(Ctx& c, const Directive& d);

// Registers every `set $name` of the block (user variables) and the named
// captures of `if` regexes; after the maps are known.
void prescan_rewrite(Ctx& c, const std::vector<Directive>& list);

// After merging: every `if` block of the location tree (and of the server's
// rewrites) merges its settings from the level it is in and, like nginx's
// unnamed locations, inherits that level's proxy_pass.
void finish_if_blocks(std::vector<RewriteStep>& steps, const Location& parent, const std::string& prefix);

}  // namespace sy::conf

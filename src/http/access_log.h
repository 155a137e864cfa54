// access_log: formats a request with its log_format and appends the line.
#pragma once

#include <string>

#include "http/server.h"
#include "http/variables.h"

namespace sy::http {

void write_access_log(const Generation& gen, VarCtx& ctx);
// Formats one line (without the newline) — exposed for tests.
void format_log_line(const conf::LogFormat& f, VarCtx& ctx, std::string& out);

}  // namespace sy::http

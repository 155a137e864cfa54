// Handlers of the static-file and response-header directives (nginx's
// ngx_http_core_module alias/try_files/etag/..., ngx_http_headers_module
// expires, ngx_http_charset_module charset/source_charset/charset_types).
// The rows live in directives.cpp's table.
#pragma once

#include <string>

#include "config/directives.h"

namespace sy::conf {

bool h_alias(Ctx& c, const Directive& d);
bool h_try_files(Ctx& c, const Directive& d);
bool h_expires(Ctx& c, const Directive& d);
bool h_charset(Ctx& c, const Directive& d);
bool h_source_charset(Ctx& c, const Directive& d);
bool h_charset_types(Ctx& c, const Directive& d);
bool h_ssi_types(Ctx& c, const Directive& d);
bool h_sendfile_max_chunk(Ctx& c, const Directive& d);
bool h_aio(Ctx& c, const Directive& d);
// `root` after `alias` in the same block: nginx's message (else "").
std::string root_alias_conflict(const Ctx& c, bool alias);

// nginx's ngx_http_parse_expires: TIME, epoch, max, off, @TIME, -TIME; `modified`
// already set in `e.mode` when given. Returns "" or nginx's error text.
std::string parse_expires(std::string_view v, Expires& e);

// After merging: a source_charset that differs from the charset in effect
// would need a charset_map conversion, which switchyard lacks. "" when fine.
std::string check_charsets(const Http& h);

}  // namespace sy::conf

// ngx_http_geo_module / ngx_stream_geo_module's `geo` block (the table row is
// in directives.cpp; the lookup is http/geo.cpp). The block's variable is
// registered with the maps (Http::map_index), so it is read like one.
#pragma once

#include "config/directives.h"

namespace sy::conf {

bool h_geo(Ctx& c, const Directive& d);

}  // namespace sy::conf

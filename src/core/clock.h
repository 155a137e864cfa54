// Cached time: read once per event-loop iteration, formatted at most once per
// second for the log formats that need it (as nginx's ngx_time_update does).
#pragma once

#include <cstdint>
#include <string_view>

namespace sy::clock {

void update();                   // refresh the cache (called by the loop)
uint64_t now_ms();               // monotonic milliseconds
uint64_t wall_ms();              // realtime milliseconds since the epoch
std::string_view err_log_time(); // "2026/11/21 15:06:38"
std::string_view http_date();    // "Sat, 21 Nov 2026 15:06:38 GMT"
std::string_view time_local();   // "21/Nov/2026:15:06:38 +0000"
std::string_view time_iso8601(); // "2026-11-21T15:06:38+00:00"

}  // namespace sy::clock

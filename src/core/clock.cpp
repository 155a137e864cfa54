#include "core/clock.h"

#include <ctime>
#include <cstdio>

namespace sy::clock {
namespace {
uint64_t g_mono = 0;
uint64_t g_wall = 0;
time_t g_sec = -1;
char g_err[32], g_http[40], g_local[40], g_iso[40];
size_t g_err_len, g_http_len, g_local_len, g_iso_len;

void format(time_t sec) {
    struct tm gmt, loc;
    gmtime_r(&sec, &gmt);
    localtime_r(&sec, &loc);
    g_err_len = strftime(g_err, sizeof g_err, "%Y/%m/%d %H:%M:%S", &loc);
    g_http_len = strftime(g_http, sizeof g_http, "%a, %d %b %Y %H:%M:%S GMT", &gmt);
    g_local_len = strftime(g_local, sizeof g_local, "%d/%b/%Y:%H:%M:%S %z", &loc);
    long off = loc.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    size_t n = strftime(g_iso, sizeof g_iso, "%Y-%m-%dT%H:%M:%S", &loc);
    n += snprintf(g_iso + n, sizeof g_iso - n, "%c%02ld:%02ld", sign, off / 3600, (off % 3600) / 60);
    g_iso_len = n;
}
}  // namespace

void update() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    g_mono = uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_wall = uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
    if (ts.tv_sec != g_sec) {
        g_sec = ts.tv_sec;
        format(ts.tv_sec);
    }
}

uint64_t now_ms() { if (g_sec < 0) update(); return g_mono; }
uint64_t wall_ms() { if (g_sec < 0) update(); return g_wall; }
std::string_view err_log_time() { if (g_sec < 0) update(); return {g_err, g_err_len}; }
std::string_view http_date() { if (g_sec < 0) update(); return {g_http, g_http_len}; }
std::string_view time_local() { if (g_sec < 0) update(); return {g_local, g_local_len}; }
std::string_view time_iso8601() { if (g_sec < 0) update(); return {g_iso, g_iso_len}; }

}  // namespace sy::clock

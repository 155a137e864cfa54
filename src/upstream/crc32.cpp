// zlib/nginx CRC32 (reflected polynomial 0xEDB88320), as ngx_crc32_long /
// ngx_crc32_update: the running value starts at 0xffffffff and is inverted
// at the end.
#include <array>

#include "upstream/balancer.h"

namespace sy::upstream {

namespace {
constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr std::array<uint32_t, 256> kTable = make_table();
}  // namespace

uint32_t crc32_update(uint32_t crc, std::string_view data) {
    for (unsigned char c : data) crc = kTable[(crc ^ c) & 0xff] ^ (crc >> 8);
    return crc;
}

uint32_t crc32(std::string_view data) { return crc32_update(0xffffffffu, data) ^ 0xffffffffu; }

}  // namespace sy::upstream

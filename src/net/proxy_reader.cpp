#include "net/proxy_reader.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sy::net {

namespace {
// The bytes of a broken header as the log line quotes them: up to the first
// CR/LF, non-printable bytes as \xHH, at most a v1 line's length.
std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, kProxyV1Max)) {
        if (c == '\r' || c == '\n') break;
        if (c >= 0x20 && c < 0x7f) out += char(c);
        else out += fmt::format("\\x{:02X}", c);
    }
    return out;
}
}  // namespace

ProxyRead read_proxy_header(int fd, ProxyHeader& h, std::string& err) {
    char buf[kProxyMax];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return ProxyRead::Again;
        int e = errno;
        err = fmt::format("recv() failed ({}: {})", e, strerror(e));
        return ProxyRead::Error;
    }
    if (n == 0) return ProxyRead::Closed;
    size_t used = 0;
    ProxyParse rc = parse_proxy_header(std::string_view(buf, size_t(n)), h, used, err);
    if (rc == ProxyParse::NeedMore && size_t(n) < sizeof buf) return ProxyRead::Again;
    if (rc != ProxyParse::Done) {
        if (err.empty() || err.rfind("broken header", 0) == 0)
            err = "broken header: \"" + printable(std::string_view(buf, size_t(n))) + "\"";
        return ProxyRead::Invalid;
    }
    // the header is in the socket buffer: taking it cannot block or come short
    if (::recv(fd, buf, used, 0) != ssize_t(used)) {
        err = fmt::format("recv() failed ({}: {})", errno, strerror(errno));
        return ProxyRead::Error;
    }
    return ProxyRead::Done;
}

bool trusted(const std::vector<Cidr>& from, const sockaddr* peer) {
    for (auto& c : from)
        if (c.contains(peer)) return true;
    return false;
}

}  // namespace sy::net

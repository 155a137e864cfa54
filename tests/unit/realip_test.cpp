// realip's address parsing (src/http/realip.h) against nginx's
// ngx_parse_addr_port() and ngx_http_get_forwarded_addr(): which element of
// X-Forwarded-For becomes the client, with and without real_ip_recursive.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "http/realip.h"
#include "net/cidr.h"

namespace sy::http {
namespace {

std::string text(const sockaddr_storage& ss) {
    std::string addr;
    uint16_t port = 0;
    net::addr_text(ss, addr, port);
    return port ? addr + "#" + std::to_string(port) : addr;
}

std::string parsed(const char* in) {
    sockaddr_storage ss;
    return parse_addr_port(in, ss) ? text(ss) : "-";
}

TEST(RealipParse, AddressesWithAndWithoutPorts) {
    EXPECT_EQ(parsed("192.0.2.1"), "192.0.2.1");
    EXPECT_EQ(parsed("192.0.2.1:8080"), "192.0.2.1#8080");
    EXPECT_EQ(parsed("2001:db8::1"), "2001:db8::1");
    EXPECT_EQ(parsed("[2001:db8::1]:443"), "2001:db8::1#443");
    EXPECT_EQ(parsed("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
    EXPECT_EQ(parsed("192.0.2.1:0080"), "192.0.2.1#80");   // ngx_atoi takes leading zeros
}

TEST(RealipParse, RefusesWhatNginxRefuses) {
    for (const char* bad : {"", "[2001:db8::1]", "[2001:db8::1]x443", "192.0.2.1:0", "192.0.2.1:65536",
                            "192.0.2.1:", "192.0.2.1:80x", "host:80", "example.com", "192.0.2", "[192.0.2.1]:80x",
                            " 192.0.2.1", "192.0.2.1:-1", "unix:"})
        EXPECT_EQ(parsed(bad), "-") << bad;
}

struct Case {
    std::vector<std::string_view> values;
    bool recursive;
    Forwarded rc;
    const char* addr;
};

std::vector<net::Cidr> from(std::initializer_list<const char*> blocks) {
    std::vector<net::Cidr> out;
    std::string err;
    for (const char* b : blocks) {
        net::Cidr c;
        EXPECT_TRUE(net::Cidr::parse(b, c, err)) << b;
        out.push_back(c);
    }
    return out;
}

sockaddr_storage peer(const char* a) {
    sockaddr_storage ss;
    EXPECT_TRUE(parse_addr_port(a, ss));
    return ss;
}

TEST(RealipForwarded, WalksFromTheRight) {
    auto trusted = from({"127.0.0.1", "10.0.0.0/8"});
    const Case cases[] = {
        {{"203.0.113.7"}, false, Forwarded::Ok, "203.0.113.7"},
        {{"198.51.100.1, 10.1.1.1"}, false, Forwarded::Ok, "10.1.1.1"},
        {{"198.51.100.1, 10.1.1.1"}, true, Forwarded::Ok, "198.51.100.1"},
        {{"10.2.2.2, 10.1.1.1"}, true, Forwarded::Ok, "10.2.2.2"},
        {{"198.51.100.1,10.1.1.1"}, true, Forwarded::Ok, "198.51.100.1"},
        {{"198.51.100.1 10.1.1.1"}, true, Forwarded::Ok, "198.51.100.1"},
        {{"junk, 10.1.1.1"}, true, Forwarded::Done, "10.1.1.1"},
        // Done: the walk stopped at an untrusted address with more to its left
        {{"192.0.2.5, 198.51.100.1, 10.1.1.1"}, true, Forwarded::Done, "198.51.100.1"},
        {{"198.51.100.1, junk"}, false, Forwarded::Declined, "127.0.0.1"},
        {{"198.51.100.1 , ,"}, false, Forwarded::Ok, "198.51.100.1"},
        {{"[2001:db8::7]:443"}, false, Forwarded::Ok, "2001:db8::7#443"},
        {{""}, false, Forwarded::Declined, "127.0.0.1"},
        {{","}, false, Forwarded::Declined, "127.0.0.1"},
        // several headers: one list, the last header's end first
        {{"198.51.100.1", "10.1.1.1"}, true, Forwarded::Ok, "198.51.100.1"},
        {{"198.51.100.1", "10.1.1.1"}, false, Forwarded::Ok, "10.1.1.1"},
        {{"10.3.3.3", "10.2.2.2, 10.1.1.1"}, true, Forwarded::Ok, "10.3.3.3"},
        {{"198.51.100.1", "198.51.100.2"}, true, Forwarded::Done, "198.51.100.2"},
        {{"junk", "10.1.1.1"}, true, Forwarded::Done, "10.1.1.1"},
    };
    for (const Case& c : cases) {
        sockaddr_storage addr = peer("127.0.0.1");
        Forwarded rc = forwarded_addr(addr, c.values, trusted, c.recursive);
        std::string what = std::string(c.values[0]) + (c.values.size() > 1 ? " +" : "") + (c.recursive ? " (rec)" : "");
        EXPECT_EQ(int(rc), int(c.rc)) << what;
        EXPECT_EQ(text(addr), c.addr) << what;
    }
}

TEST(RealipForwarded, AnUntrustedPeerChangesNothing) {
    sockaddr_storage addr = peer("192.0.2.9");
    EXPECT_EQ(forwarded_addr(addr, {"203.0.113.7"}, from({"127.0.0.1"}), true), Forwarded::Declined);
    EXPECT_EQ(text(addr), "192.0.2.9");
    sockaddr_storage mapped = peer("::ffff:127.0.0.1");   // a v4-mapped peer matches IPv4 blocks, as in nginx
    EXPECT_EQ(forwarded_addr(mapped, {"203.0.113.7"}, from({"127.0.0.1"}), false), Forwarded::Ok);
    EXPECT_EQ(text(mapped), "203.0.113.7");
}

}  // namespace
}  // namespace sy::http

// `server NAME resolve`: the c-ares Resolver on the EventLoop
// (src/upstream/resolver.h), how answers change an upstream's peers
// (apply_addresses), and the re-resolvers of a loaded configuration
// (DynamicPeers), against a small real DNS server on 127.0.0.1 run by the test
// on a thread. Waits are bounded; nothing asserts how long anything took.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "test_support.h"
#include "config/conf.h"
#include "config/loader.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "upstream/balancer.h"
#include "upstream/dynamic_peers.h"
#include "upstream/resolver.h"

namespace sy::upstream {
namespace {

// ---- a tiny DNS server -----------------------------------------------------------
//
// UDP on 127.0.0.1, ephemeral port (and TCP on the same port). Answers A (1)
// and AAAA (28) questions from a table the test changes while it runs: a
// known name gets its addresses of the asked type (none: NOERROR with no
// answer), an unknown one NXDOMAIN. mode(): answer, drop every query (a
// timeout), SERVFAIL, or Truncate (UDP answers carry only the TC bit, so the
// client must ask again over TCP, which answers in full).
class TestDns {
public:
    struct Record {
        std::vector<std::string> a, aaaa;
        uint32_t ttl = 1;
    };
    enum class Mode { Answer, Drop, ServFail, Truncate };

    TestDns() {
        // an ephemeral UDP port whose TCP twin is free too
        for (int attempt = 0; attempt < 50 && tcp_ < 0; ++attempt) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) continue;
            socklen_t len = sizeof sa;
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
            port_ = ntohs(sa.sin_port);
            int t = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::bind(t, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(t, 8) == 0) tcp_ = t;
            else ::close(t);
        }
        EXPECT_GE(tcp_, 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~TestDns() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
        ::close(tcp_);
    }
    uint16_t port() const { return port_; }

    void set(const std::string& name, Record r) {
        std::lock_guard<std::mutex> g(mu_);
        table_[name] = std::move(r);
    }
    void erase(const std::string& name) {
        std::lock_guard<std::mutex> g(mu_);
        table_.erase(name);
    }
    void mode(Mode m) {
        std::lock_guard<std::mutex> g(mu_);
        mode_ = m;
    }
    int tcp_queries() const {
        std::lock_guard<std::mutex> g(mu_);
        return tcp_seen_;
    }
    // Questions received for name and type (1: A, 28: AAAA; 0: any).
    int queries(const std::string& name, int type = 0) const {
        std::lock_guard<std::mutex> g(mu_);
        int n = 0;
        for (auto& [k, v] : seen_)
            if (k.first == name && (type == 0 || k.second == type)) n += v;
        return n;
    }

private:
    void serve() {
        while (!stop_) {
            pollfd p[2] = {{fd_, POLLIN, 0}, {tcp_, POLLIN, 0}};
            if (::poll(p, 2, 20) <= 0) continue;
            if (p[1].revents & POLLIN) serve_tcp();
            if (!(p[0].revents & POLLIN)) continue;
            uint8_t buf[1500];
            sockaddr_storage from{};
            socklen_t fl = sizeof from;
            ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (n < 12) continue;
            std::string out;
            if (answer(buf, size_t(n), out, false))
                ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
        }
    }

    // One TCP connection: length-prefixed questions until the client closes
    // (or 2 s of silence).
    void serve_tcp() {
        int c = ::accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        timeval tv{2, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        auto read_all = [&](uint8_t* p, size_t n) {
            while (n > 0) {
                ssize_t r = ::recv(c, p, n, 0);
                if (r <= 0) return false;
                p += r;
                n -= size_t(r);
            }
            return true;
        };
        uint8_t len[2], buf[1500];
        while (!stop_ && read_all(len, 2)) {
            size_t n = (size_t(len[0]) << 8) | len[1];
            if (n < 12 || n > sizeof buf || !read_all(buf, n)) break;
            {
                std::lock_guard<std::mutex> g(mu_);
                ++tcp_seen_;
            }
            std::string out;
            if (!answer(buf, n, out, true)) continue;
            std::string framed;
            put16(framed, unsigned(out.size()));
            framed += out;
            if (::send(c, framed.data(), framed.size(), MSG_NOSIGNAL) != ssize_t(framed.size())) break;
        }
        ::close(c);
    }

    static void put16(std::string& s, unsigned v) {
        s += char((v >> 8) & 0xff);
        s += char(v & 0xff);
    }

    bool answer(const uint8_t* q, size_t n, std::string& out, bool tcp) {
        if (((q[4] << 8) | q[5]) != 1) return false;
        size_t pos = 12;
        std::string name;
        while (pos < n && q[pos] != 0) {
            size_t len = q[pos++];
            if (len > 63 || pos + len > n) return false;
            if (!name.empty()) name += '.';
            for (size_t i = 0; i < len; ++i) name += char(std::tolower(q[pos + i]));
            pos += len;
        }
        if (pos + 5 > n) return false;
        ++pos;   // root label
        unsigned qtype = (unsigned(q[pos]) << 8) | q[pos + 1];
        size_t qend = pos + 4;

        std::lock_guard<std::mutex> g(mu_);
        ++seen_[{name, int(qtype)}];
        if (mode_ == Mode::Drop) return false;
        if (mode_ == Mode::Truncate && !tcp) {   // TC, no records: "ask me over TCP"
            put16(out, (unsigned(q[0]) << 8) | q[1]);
            put16(out, 0x8000 | 0x0400 | 0x0200 | (q[2] & 0x01) << 8 | 0x0080);
            put16(out, 1);
            put16(out, 0);
            put16(out, 0);
            put16(out, 0);
            out.append(reinterpret_cast<const char*>(q + 12), qend - 12);
            return true;
        }
        unsigned rcode = 0;
        std::vector<std::string> addrs;
        auto it = table_.find(name);
        if (mode_ == Mode::ServFail) rcode = 2;
        else if (it == table_.end()) rcode = 3;
        else if (qtype == 1) addrs = it->second.a;
        else if (qtype == 28) addrs = it->second.aaaa;

        put16(out, (unsigned(q[0]) << 8) | q[1]);                            // id
        put16(out, 0x8000 | 0x0400 | (q[2] & 0x01) << 8 | 0x0080 | rcode);   // QR AA RD(copied) RA
        put16(out, 1);
        put16(out, unsigned(addrs.size()));
        put16(out, 0);
        put16(out, 0);
        out.append(reinterpret_cast<const char*>(q + 12), qend - 12);        // the question as asked
        for (auto& a : addrs) {
            uint8_t raw[16];
            bool v6 = qtype == 28;
            inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), raw);
            put16(out, 0xc00c);   // name: pointer to the question's
            put16(out, qtype);
            put16(out, 1);
            uint32_t ttl = it->second.ttl;
            put16(out, ttl >> 16);
            put16(out, ttl & 0xffff);
            put16(out, v6 ? 16 : 4);
            out.append(reinterpret_cast<const char*>(raw), v6 ? 16 : 4);
        }
        return true;
    }

    int fd_ = -1, tcp_ = -1;
    uint16_t port_ = 0;
    int tcp_seen_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::map<std::string, Record> table_;
    std::map<std::pair<std::string, int>, int> seen_;
    Mode mode_ = Mode::Answer;
};

// Runs the loop until done() or a generous bound (no timing asserts).
template <typename F>
bool run_until(EventLoop& loop, F done, int seconds = 15) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        loop.run_once(10);
    }
    return true;
}

conf::ResolverConf resolver_conf(uint16_t port, bool ipv4 = true, bool ipv6 = true) {
    conf::ResolverConf rc;
    std::vector<conf::SockAddr> a;
    std::string err;
    EXPECT_TRUE(conf::parse_addr("127.0.0.1:" + std::to_string(port), 53, a, err, false)) << err;
    rc.servers = a;
    rc.ipv4 = ipv4;
    rc.ipv6 = ipv6;
    return rc;
}

std::set<std::string> texts(const std::vector<conf::SockAddr>& v) {
    std::set<std::string> s;
    for (auto& a : v) s.insert(a.text);
    return s;
}

struct Lookup {
    std::optional<Resolved> result;
    int calls = 0;
};

void start(Resolver& r, const std::string& name, uint16_t port, Lookup& out) {
    r.resolve(name, port, [&out](const Resolved& res) {
        ++out.calls;
        out.result = res;
    });
}

// ---- Resolver ------------------------------------------------------------------

TEST(Resolver, ResolvesAAndAaaaWithTtl) {
    clock::update();
    TestDns dns;
    dns.set("both.test", {{"10.0.0.1", "10.0.0.2"}, {"2001:db8::1"}, 30});
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port()), 5000, err);
    ASSERT_TRUE(r) << err;
    Lookup l;
    start(*r, "both.test", 8080, l);
    EXPECT_EQ(r->in_flight(), 1u);
    ASSERT_TRUE(run_until(loop, [&] { return l.calls > 0; }));
    EXPECT_EQ(l.calls, 1);
    EXPECT_EQ(l.result->status, Resolved::Status::Ok);
    EXPECT_EQ(texts(l.result->addrs), (std::set<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "[2001:db8::1]:8080"}));
    EXPECT_EQ(l.result->ttl, 30u);
    EXPECT_EQ(r->in_flight(), 0u);
    for (auto& a : l.result->addrs) EXPECT_EQ(a.port(), 8080);
}

TEST(Resolver, Ipv6OffAsksOnlyForA) {
    clock::update();
    TestDns dns;
    dns.set("v4.test", {{"10.0.0.7"}, {"2001:db8::7"}, 5});
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port(), true, false), 5000, err);
    ASSERT_TRUE(r) << err;
    Lookup l;
    start(*r, "v4.test", 80, l);
    ASSERT_TRUE(run_until(loop, [&] { return l.calls > 0; }));
    EXPECT_EQ(texts(l.result->addrs), (std::set<std::string>{"10.0.0.7:80"}));
    EXPECT_EQ(dns.queries("v4.test", 28), 0);

    auto r6 = Resolver::create(loop, resolver_conf(dns.port(), false, true), 5000, err);
    ASSERT_TRUE(r6) << err;
    Lookup l6;
    start(*r6, "v4.test", 80, l6);
    ASSERT_TRUE(run_until(loop, [&] { return l6.calls > 0; }));
    EXPECT_EQ(texts(l6.result->addrs), (std::set<std::string>{"[2001:db8::7]:80"}));
}

TEST(Resolver, NxdomainAndNoDataAreNotFound) {
    clock::update();
    TestDns dns;
    dns.set("v6only.test", {{}, {"2001:db8::9"}, 5});
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port(), true, false), 5000, err);
    ASSERT_TRUE(r) << err;
    Lookup nx, nodata;
    start(*r, "missing.test", 80, nx);
    start(*r, "v6only.test", 80, nodata);
    ASSERT_TRUE(run_until(loop, [&] { return nx.calls > 0 && nodata.calls > 0; }));
    EXPECT_EQ(nx.result->status, Resolved::Status::NotFound);
    EXPECT_EQ(nx.result->error(), "3: Host not found");
    EXPECT_EQ(nodata.result->status, Resolved::Status::NotFound);
    EXPECT_TRUE(nodata.result->addrs.empty());
}

TEST(Resolver, UnansweredQueryTimesOut) {
    clock::update();
    TestDns dns;
    dns.set("slow.test", {{"10.0.0.1"}, {}, 5});
    dns.mode(TestDns::Mode::Drop);
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port(), true, false), 300, err);
    ASSERT_TRUE(r) << err;
    Lookup l;
    start(*r, "slow.test", 80, l);
    ASSERT_TRUE(run_until(loop, [&] { return l.calls > 0; }));
    EXPECT_EQ(l.result->status, Resolved::Status::Failed);
    EXPECT_EQ(l.result->error(), "110: Operation timed out");
    EXPECT_GE(dns.queries("slow.test"), 2);   // retransmitted before giving up
}

TEST(Resolver, ServerFailureIsAFailure) {
    clock::update();
    TestDns dns;
    dns.mode(TestDns::Mode::ServFail);
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port()), 2000, err);
    ASSERT_TRUE(r) << err;
    Lookup l;
    start(*r, "any.test", 80, l);
    ASSERT_TRUE(run_until(loop, [&] { return l.calls > 0; }));
    EXPECT_EQ(l.result->status, Resolved::Status::Failed);
    EXPECT_EQ(l.result->error(), "2: Server failure");
}

// A truncated UDP answer makes c-ares ask again over TCP: a socket it first
// wants to write to (connect, send), then read from.
TEST(Resolver, TruncatedAnswerFallsBackToTcp) {
    clock::update();
    TestDns dns;
    std::vector<std::string> many;
    for (int i = 1; i <= 40; ++i) many.push_back("10.1.0." + std::to_string(i));
    dns.set("many.test", {many, {}, 7});
    dns.mode(TestDns::Mode::Truncate);
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port()), 5000, err);
    ASSERT_TRUE(r) << err;
    Lookup l;
    start(*r, "many.test", 80, l);
    ASSERT_TRUE(run_until(loop, [&] { return l.calls > 0; }));
    EXPECT_EQ(l.result->status, Resolved::Status::Ok);
    EXPECT_EQ(l.result->addrs.size(), 40u);
    EXPECT_EQ(l.result->ttl, 7u);
    EXPECT_GE(dns.tcp_queries(), 1);
    // and again on the same channel, after c-ares closed its sockets
    Lookup again;
    start(*r, "many.test", 80, again);
    ASSERT_TRUE(run_until(loop, [&] { return again.calls > 0; }));
    EXPECT_EQ(again.result->addrs.size(), 40u);
}

TEST(Resolver, DestroyingCancelsWithoutCallingBack) {
    clock::update();
    TestDns dns;
    dns.mode(TestDns::Mode::Drop);
    EventLoop loop;
    std::string err;
    auto r = Resolver::create(loop, resolver_conf(dns.port()), 10000, err);
    ASSERT_TRUE(r) << err;
    Lookup a, b;
    start(*r, "one.test", 80, a);
    start(*r, "two.test", 80, b);
    ASSERT_TRUE(run_until(loop, [&] { return dns.queries("one.test") > 0 && dns.queries("two.test") > 0; }));
    r.reset();
    for (int i = 0; i < 5; ++i) loop.run_once(5);   // stale events and deferred deletions
    EXPECT_EQ(a.calls, 0);
    EXPECT_EQ(b.calls, 0);
}

// ---- apply_addresses -------------------------------------------------------------

conf::SockAddr addr(const std::string& text) {
    std::vector<conf::SockAddr> v;
    std::string err;
    EXPECT_TRUE(conf::parse_addr(text, 80, v, err, false)) << err;
    return v.at(0);
}

std::vector<conf::SockAddr> addrs(std::initializer_list<const char*> l) {
    std::vector<conf::SockAddr> v;
    for (auto* s : l) v.push_back(addr(s));
    return v;
}

conf::ResolveServer resolve_server(const std::string& host, uint16_t port, int server_line) {
    conf::ResolveServer r;
    r.host = host;
    r.port = port;
    r.tmpl.name = host + ":" + std::to_string(port);
    r.tmpl.server = server_line;
    return r;
}

std::vector<std::string> live(const conf::Upstream& u) {
    std::vector<std::string> v;
    for (auto& p : u.peers)
        if (!p.gone) v.push_back(p.addr.text);
    return v;
}

TEST(ApplyAddresses, KeepsMarksGoneAppendsAndReusesSlots) {
    conf::Upstream u;
    u.name = "u";
    u.resolve.push_back(resolve_server("b.test", 8080, 0));
    u.resolve[0].tmpl.weight = 3;
    u.resolve[0].tmpl.max_fails = 2;
    const conf::ResolveServer& r = u.resolve[0];

    auto c = apply_addresses(u, r, addrs({"10.0.0.1:8080", "10.0.0.2:8080"}), 1000, false);
    ASSERT_EQ(u.peers.size(), 2u);
    EXPECT_EQ(c.added, (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
    EXPECT_TRUE(c.removed.empty());
    for (auto& p : u.peers) {
        EXPECT_FALSE(p.gone);
        EXPECT_EQ(p.weight, 3);
        EXPECT_EQ(p.max_fails, 2);
        EXPECT_EQ(p.name, "b.test:8080");
        EXPECT_EQ(p.server, 0);
        EXPECT_EQ(p.addr.port(), 8080);
        EXPECT_EQ(p.pool_key, "u|" + p.addr.text);   // finish_peer() ran
    }
    u.peers[0].fails = 1;   // balancer state of a peer that stays

    // .2 vanishes, .3 arrives: .2's slot has no connection, .3 takes it
    c = apply_addresses(u, r, addrs({"10.0.0.1:8080", "10.0.0.3:8080"}), 2000, true);
    ASSERT_EQ(u.peers.size(), 2u);
    EXPECT_EQ(u.peers[0].addr.text, "10.0.0.1:8080");
    EXPECT_EQ(u.peers[0].fails, 1);
    EXPECT_EQ(u.peers[1].addr.text, "10.0.0.3:8080");
    EXPECT_FALSE(u.peers[1].gone);
    EXPECT_EQ(u.peers[1].pool_key, "u|10.0.0.3:8080");
    EXPECT_EQ(c.added, (std::vector<std::string>{"10.0.0.3:8080"}));
    EXPECT_EQ(c.removed, (std::vector<std::string>{"10.0.0.2:8080"}));
    EXPECT_EQ(c.reused, 1);

    // .3 has a request in flight when it vanishes: its slot is kept, .4 appended
    ++u.peers[1].conns;
    c = apply_addresses(u, r, addrs({"10.0.0.1:8080", "10.0.0.4:8080"}), 3000, true);
    ASSERT_EQ(u.peers.size(), 3u);
    EXPECT_TRUE(u.peers[1].gone);
    EXPECT_EQ(u.peers[1].addr.text, "10.0.0.3:8080");
    EXPECT_EQ(int(u.peers[1].conns), 1);
    EXPECT_EQ(u.peers[2].addr.text, "10.0.0.4:8080");
    EXPECT_EQ(c.reused, 0);
    EXPECT_FALSE(peer_usable(u.peers[1], 3000));

    // the same answer again changes nothing
    c = apply_addresses(u, r, addrs({"10.0.0.4:8080", "10.0.0.1:8080"}), 3500, true);
    EXPECT_FALSE(c.changed());
    EXPECT_EQ(u.peers.size(), 3u);

    // .3 comes back while still gone: the same slot lives again, fresh state
    u.peers[1].fails = 5;
    c = apply_addresses(u, r, addrs({"10.0.0.1:8080", "10.0.0.3:8080", "10.0.0.4:8080"}), 4000, true);
    ASSERT_EQ(u.peers.size(), 3u);
    EXPECT_FALSE(u.peers[1].gone);
    EXPECT_EQ(u.peers[1].fails, 0);
    EXPECT_EQ(int(u.peers[1].conns), 1);   // the request in flight still counts
    EXPECT_EQ(c.added, (std::vector<std::string>{"10.0.0.3:8080"}));
    EXPECT_TRUE(c.removed.empty());

    // no address at all (NXDOMAIN): every peer gone, none removed from the vector
    c = apply_addresses(u, r, {}, 5000, true);
    EXPECT_EQ(u.peers.size(), 3u);
    EXPECT_TRUE(live(u).empty());
    EXPECT_EQ(c.removed.size(), 3u);
    std::vector<size_t> tried;
    PickState st;
    EXPECT_EQ(pick(u, tried, 5000, "", st), -1);
}

TEST(ApplyAddresses, SlowStartRampsOnlyPeersAddedLater) {
    conf::Upstream u;
    u.name = "u";
    u.resolve.push_back(resolve_server("b.test", 80, 0));
    u.resolve[0].tmpl.slow_start = 30000;
    apply_addresses(u, u.resolve[0], addrs({"10.0.0.1:80"}), 1000, false);
    EXPECT_EQ(u.peers[0].recovered_ms, 0u);   // the first answer: full weight at once
    apply_addresses(u, u.resolve[0], addrs({"10.0.0.1:80", "10.0.0.2:80"}), 2000, true);
    EXPECT_EQ(u.peers[0].recovered_ms, 0u);
    EXPECT_EQ(u.peers[1].recovered_ms, 2000u);
}

TEST(ApplyAddresses, OtherServerLinesAreLeftAlone) {
    conf::Upstream u;
    u.name = "u";
    conf::Peer st;
    st.name = "10.9.9.9:80";
    st.addr = addr("10.9.9.9:80");
    st.server = 0;
    u.peers.push_back(st);
    u.resolve.push_back(resolve_server("a.test", 80, 1));
    u.resolve.push_back(resolve_server("b.test", 80, 2));
    apply_addresses(u, u.resolve[0], addrs({"10.0.0.1:80"}), 0, false);
    apply_addresses(u, u.resolve[1], addrs({"10.0.0.1:80", "10.0.0.2:80"}), 0, false);
    // the same address under two server lines is two peers, as in nginx
    EXPECT_EQ(live(u), (std::vector<std::string>{"10.9.9.9:80", "10.0.0.1:80", "10.0.0.1:80", "10.0.0.2:80"}));
    apply_addresses(u, u.resolve[0], {}, 0, true);
    EXPECT_TRUE(u.peers[1].gone);
    EXPECT_FALSE(u.peers[0].gone);
    EXPECT_EQ(live(u), (std::vector<std::string>{"10.9.9.9:80", "10.0.0.1:80", "10.0.0.2:80"}));
    EXPECT_EQ(u.peers[2].server, 2);
}

TEST(ApplyAddresses, RebuildsTheRingForConsistentHash) {
    conf::Upstream u;
    u.name = "u";
    u.balance = conf::Balance::HashConsistent;
    u.resolve.push_back(resolve_server("a.test", 80, 0));
    u.resolve.push_back(resolve_server("b.test", 80, 1));
    apply_addresses(u, u.resolve[0], addrs({"10.0.0.1:80"}), 0, false);
    EXPECT_EQ(u.ring.size(), 160u);
    apply_addresses(u, u.resolve[1], addrs({"10.0.0.2:80"}), 0, false);
    EXPECT_GE(u.ring.size(), 319u);
    auto before = u.ring;
    auto chash = [&](const std::string& key) {
        PickState st;
        std::vector<size_t> tried;
        return pick_hash_consistent(u, tried, 0, key, st);
    };
    std::vector<int> picks;
    for (int k = 0; k < 200; ++k) picks.push_back(chash("key" + std::to_string(k)));
    EXPECT_TRUE(std::count(picks.begin(), picks.end(), 0) > 0 && std::count(picks.begin(), picks.end(), 1) > 0);

    // b.test has no address any more: its points leave the ring
    apply_addresses(u, u.resolve[1], {}, 0, true);
    EXPECT_EQ(u.ring.size(), 160u);
    for (auto& [point, i] : u.ring) EXPECT_EQ(i, 0u);

    // a new address for b.test takes the free slot; the ring has b's points
    // again (they hash the server name), so every key maps where it did
    apply_addresses(u, u.resolve[1], addrs({"10.0.0.3:80"}), 0, true);
    ASSERT_EQ(u.peers.size(), 2u);
    EXPECT_EQ(u.peers[1].addr.text, "10.0.0.3:80");
    EXPECT_EQ(u.ring, before);
    for (int k = 0; k < 200; ++k) EXPECT_EQ(chash("key" + std::to_string(k)), picks[size_t(k)]) << k;
}

TEST(ApplyAddresses, NoPeerBeforeTheFirstAnswer) {
    for (auto b : {conf::Balance::RoundRobin, conf::Balance::IpHash, conf::Balance::Hash, conf::Balance::HashConsistent,
                   conf::Balance::LeastConn, conf::Balance::Random, conf::Balance::RandomTwo,
                   conf::Balance::RandomTwoLeastConn}) {
        conf::Upstream u;
        u.name = "u";
        u.balance = b;
        u.resolve.push_back(resolve_server("a.test", 80, 0));
        finish_peers(u);
        std::vector<size_t> tried;
        PickState st;
        EXPECT_EQ(pick(u, tried, 0, std::string(4, '\1'), st), -1) << int(b);
    }
}

// ---- DynamicPeers on a loaded configuration ----------------------------------------

struct Loaded {
    test::TempDir dir;
    std::shared_ptr<conf::Config> cfg;
    const conf::Upstream& up(const std::string& name = "u") const {
        for (auto& u : cfg->http->upstreams)
            if (u->name == name) return *u;
        throw std::runtime_error("no upstream " + name);
    }
};

std::unique_ptr<Loaded> load(uint16_t dns_port, const std::string& resolver_extra, const std::string& servers,
                             const std::string& upstream_extra = "") {
    auto l = std::make_unique<Loaded>();
    std::string text = "events {}\nhttp {\n    resolver 127.0.0.1:" + std::to_string(dns_port) + " " + resolver_extra +
                       ";\n    resolver_timeout 300ms;\n    upstream u {\n        zone u 64k;\n" + upstream_extra +
                       servers + "    }\n    server { location / { proxy_pass http://u; } }\n}\n";
    l->dir.write("nginx.conf", text);
    conf::LoadOptions o;
    o.prefix = l->dir.path();
    o.conf_file = "nginx.conf";
    auto r = conf::load(o);
    if (auto* e = std::get_if<std::string>(&r)) ADD_FAILURE() << *e << "\n" << text;
    else l->cfg = std::get<std::shared_ptr<conf::Config>>(r);
    return l;
}

bool has_live(const conf::Upstream& u, const std::string& text) {
    for (auto& p : u.peers)
        if (!p.gone && p.addr.text == text) return true;
    return false;
}

TEST(DynamicPeers, NothingToDoWithoutResolve) {
    auto l = std::make_unique<Loaded>();
    l->dir.write("nginx.conf", "events {}\nhttp { server { location / { proxy_pass http://127.0.0.1:1; } } }\n");
    conf::LoadOptions o;
    o.prefix = l->dir.path();
    o.conf_file = "nginx.conf";
    auto cfg = std::get<std::shared_ptr<conf::Config>>(conf::load(o));
    EventLoop loop;
    EXPECT_EQ(DynamicPeers::create(loop, cfg, nullptr), nullptr);
}

TEST(DynamicPeers, FollowsAnAddressChangeAfterTheTtl) {
    clock::update();
    TestDns dns;
    dns.set("backend.test", {{"127.0.0.2"}, {}, 1});
    auto l = load(dns.port(), "ipv6=off", "        server backend.test:8080 resolve;\n");
    ASSERT_TRUE(l->cfg);
    const conf::Upstream& u = l->up();
    EXPECT_TRUE(u.peers.empty());
    EventLoop loop;
    auto d = DynamicPeers::create(loop, l->cfg, nullptr);
    ASSERT_TRUE(d);
    EXPECT_EQ(dns.queries("backend.test"), 0);   // nothing is sent before the loop runs
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.2:8080"); }));
    EXPECT_EQ(u.peers.size(), 1u);
    EXPECT_EQ(u.peers[0].pool_key, "u|127.0.0.2:8080");

    dns.set("backend.test", {{"127.0.0.3"}, {}, 1});
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.3:8080") && !has_live(u, "127.0.0.2:8080"); }));
    EXPECT_EQ(u.peers.size(), 1u);   // the old slot had no connection: reused
    EXPECT_GE(d->stats().ok, 2u);
}

TEST(DynamicPeers, ValidOverridesALongTtl) {
    clock::update();
    TestDns dns;
    dns.set("backend.test", {{"127.0.0.2"}, {}, 3600});
    auto l = load(dns.port(), "valid=1s ipv6=off", "        server backend.test resolve;\n");
    ASSERT_TRUE(l->cfg);
    const conf::Upstream& u = l->up();
    EventLoop loop;
    auto d = DynamicPeers::create(loop, l->cfg, nullptr);
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.2:80"); }));
    dns.set("backend.test", {{"127.0.0.2", "127.0.0.4"}, {}, 3600});
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.4:80"); }));
    EXPECT_TRUE(has_live(u, "127.0.0.2:80"));
    EXPECT_EQ(u.peers.size(), 2u);
}

TEST(DynamicPeers, FailureKeepsPeersNxdomainRemovesThem) {
    clock::update();
    TestDns dns;
    dns.set("backend.test", {{"127.0.0.2"}, {}, 0});
    auto l = load(dns.port(), "valid=1s ipv6=off", "        server backend.test:8080 resolve;\n");
    ASSERT_TRUE(l->cfg);
    const conf::Upstream& u = l->up();
    EventLoop loop;
    auto d = DynamicPeers::create(loop, l->cfg, nullptr);
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.2:8080"); }));

    // no answer (timeout): the last addresses stay
    dns.mode(TestDns::Mode::Drop);
    ASSERT_TRUE(run_until(loop, [&] { return d->stats().failed >= 1; }));
    EXPECT_TRUE(has_live(u, "127.0.0.2:8080"));
    // SERVFAIL: the same
    dns.mode(TestDns::Mode::ServFail);
    ASSERT_TRUE(run_until(loop, [&] { return d->stats().failed >= 2; }));
    EXPECT_TRUE(has_live(u, "127.0.0.2:8080"));

    // NXDOMAIN: the name has no address; the peer goes (nginx's behaviour)
    dns.mode(TestDns::Mode::Answer);
    dns.erase("backend.test");
    ASSERT_TRUE(run_until(loop, [&] { return d->stats().not_found >= 1; }));
    ASSERT_EQ(u.peers.size(), 1u);
    EXPECT_TRUE(u.peers[0].gone);

    // and comes back in the same slot when the name does
    dns.set("backend.test", {{"127.0.0.2"}, {}, 0});
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.2:8080"); }));
    EXPECT_EQ(u.peers.size(), 1u);
}

TEST(DynamicPeers, ConsistentHashRingFollowsDns) {
    clock::update();
    TestDns dns;
    dns.set("a.test", {{"127.0.0.2"}, {}, 0});
    auto l = load(dns.port(), "valid=1s ipv6=off", "        server a.test:80 resolve;\n        server b.test:80 resolve;\n",
                  "        hash $request_uri consistent;\n");
    ASSERT_TRUE(l->cfg);
    const conf::Upstream& u = l->up();
    EXPECT_TRUE(u.ring.empty());
    EventLoop loop;
    auto d = DynamicPeers::create(loop, l->cfg, nullptr);
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.2:80") && d->stats().not_found >= 1; }));
    EXPECT_EQ(u.ring.size(), 160u);   // b.test does not resolve yet
    dns.set("b.test", {{"127.0.0.3"}, {}, 0});
    ASSERT_TRUE(run_until(loop, [&] { return has_live(u, "127.0.0.3:80"); }));
    EXPECT_GE(u.ring.size(), 319u);
    std::set<uint32_t> owners;
    for (auto& [point, i] : u.ring) owners.insert(i);
    EXPECT_EQ(owners.size(), 2u);
}

TEST(DynamicPeers, AReloadStartsFromThePreviousAddresses) {
    clock::update();
    TestDns dns;
    dns.set("backend.test", {{"127.0.0.2", "127.0.0.5"}, {}, 60});
    auto l1 = load(dns.port(), "ipv6=off", "        server backend.test:8080 resolve weight=2;\n");
    auto l2 = load(dns.port(), "ipv6=off", "        server backend.test:8080 resolve weight=5;\n");
    auto l3 = load(dns.port(), "ipv6=off", "        server backend.test:9090 resolve;\n");
    ASSERT_TRUE(l1->cfg && l2->cfg && l3->cfg);
    EventLoop loop;
    auto d1 = DynamicPeers::create(loop, l1->cfg, nullptr);
    ASSERT_TRUE(run_until(loop, [&] { return l1->up().peers.size() == 2; }));
    int asked = dns.queries("backend.test");

    d1.reset();
    auto d2 = DynamicPeers::create(loop, l2->cfg, l1->cfg.get());
    // before any lookup of its own: the old addresses, with the new parameters
    EXPECT_EQ(dns.queries("backend.test"), asked);
    ASSERT_EQ(l2->up().peers.size(), 2u);
    EXPECT_TRUE(has_live(l2->up(), "127.0.0.2:8080"));
    EXPECT_TRUE(has_live(l2->up(), "127.0.0.5:8080"));
    EXPECT_EQ(l2->up().peers[0].weight, 5);
    // a different port is a different server: nothing carried over
    auto d3 = DynamicPeers::create(loop, l3->cfg, l1->cfg.get());
    EXPECT_TRUE(l3->up().peers.empty());
}

TEST(DynamicPeers, StoppingWithALookupInFlight) {
    clock::update();
    TestDns dns;
    dns.mode(TestDns::Mode::Drop);
    auto l = load(dns.port(), "", "        server backend.test:8080 resolve;\n        server other.test resolve;\n");
    ASSERT_TRUE(l->cfg);
    EventLoop loop;
    auto d = DynamicPeers::create(loop, l->cfg, nullptr);
    ASSERT_TRUE(run_until(loop, [&] { return dns.queries("backend.test") > 0 && dns.queries("other.test") > 0; }));
    d.reset();
    for (int i = 0; i < 5; ++i) loop.run_once(5);
    EXPECT_TRUE(l->up().peers.empty());
}

}  // namespace
}  // namespace sy::upstream

// Micro-benchmark: the cost of one peer pick (+ its release) per balancing
// method, as the number of peers grows. Google Benchmark; built as the
// `pick_bench` CMake target when libbenchmark is found (not in sanitizer or
// fuzz builds). Not part of CI: run it by hand, see bench/README.md.
//
//   build/pick_bench                                  # everything
//   build/pick_bench --benchmark_filter='RoundRobin'  # one method
//
// Every pick goes through upstream::pick() as the proxy does (fresh
// PickState, no tried peers, all peers healthy), then the chosen peer's
// connection count is raised and lowered again, as a request that ends
// before the next one starts. The hash-based methods cycle through 1,024
// precomputed keys so the result is not one cached ring position.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/conf.h"
#include "upstream/balancer.h"

namespace {

using sy::conf::Balance;
using sy::conf::Peer;
using sy::conf::Upstream;

constexpr uint64_t kNow = 1'000'000;

// n peers "10.x.y.z:80"; weights 1, or 1..5 from a fixed pseudo-random sequence.
Upstream make(size_t n, Balance b, bool weighted, double load_factor = 0) {
    Upstream u;
    u.name = "bench";
    u.balance = b;
    u.load_factor = load_factor;
    uint32_t x = 12345;
    for (size_t i = 0; i < n; ++i) {
        Peer p;
        p.name = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                 std::to_string(i & 255) + ":80";
        p.addr.text = p.name;
        x = x * 1103515245u + 12345u;
        p.weight = weighted ? int((x >> 16) % 5) + 1 : 1;
        u.peers.push_back(p);
    }
    sy::upstream::index_peers(u);   // as finish_peers() does at load
    if (b == Balance::HashConsistent) sy::upstream::build_ring(u);
    return u;
}

std::vector<std::string> keys(Balance b) {
    std::vector<std::string> out;
    for (uint32_t k = 0; k < 1024; ++k) {
        if (b == Balance::IpHash) {
            uint32_t a = 0x0a000000u + k * 2654435761u % 0xffffffu;   // 10.x.y.z, spread over /24s
            out.push_back({char(a >> 24), char(a >> 16), char(a >> 8), char(a)});
        } else {
            out.push_back("/item/" + std::to_string(k * 7919u));
        }
    }
    return out;
}

void run(benchmark::State& state, Balance b, bool weighted, double load_factor = 0) {
    Upstream u = make(size_t(state.range(0)), b, weighted, load_factor);
    const std::vector<std::string> ks = keys(b);
    const std::vector<size_t> tried;
    size_t k = 0;
    for (auto _ : state) {
        sy::upstream::PickState st;
        int i = sy::upstream::pick(u, tried, kNow, ks[k++ & 1023], st);
        benchmark::DoNotOptimize(i);
        const Peer& p = u.peers[size_t(i)];
        ++p.conns;   // the request is in flight ...
        --p.conns;   // ... and done
    }
    state.SetItemsProcessed(int64_t(state.iterations()));
}

void BM_RoundRobin(benchmark::State& s) { run(s, Balance::RoundRobin, false); }
void BM_WeightedRoundRobin(benchmark::State& s) { run(s, Balance::RoundRobin, true); }
void BM_LeastConn(benchmark::State& s) { run(s, Balance::LeastConn, false); }
void BM_IpHash(benchmark::State& s) { run(s, Balance::IpHash, false); }
void BM_Hash(benchmark::State& s) { run(s, Balance::Hash, false); }
void BM_HashConsistent(benchmark::State& s) { run(s, Balance::HashConsistent, false); }
void BM_RandomTwoLeastConn(benchmark::State& s) { run(s, Balance::RandomTwoLeastConn, false); }
// `hash ... consistent load_factor=1.25`: the bound costs a pass over the peers' counts
void BM_HashConsistentBounded(benchmark::State& s) { run(s, Balance::HashConsistent, false, 1.25); }

// least_conn with connections held: every peer carries a few, so ties are
// among a subset (the realistic case under load), not all peers.
void BM_LeastConnLoaded(benchmark::State& state) {
    Upstream u = make(size_t(state.range(0)), Balance::LeastConn, false);
    for (size_t i = 0; i < u.peers.size(); ++i) u.peers[i].conns = int(i % 3);
    const std::vector<size_t> tried;
    for (auto _ : state) {
        sy::upstream::PickState st;
        int i = sy::upstream::pick(u, tried, kNow, {}, st);
        benchmark::DoNotOptimize(i);
        const Peer& p = u.peers[size_t(i)];
        ++p.conns;
        --p.conns;
    }
    state.SetItemsProcessed(int64_t(state.iterations()));
}

#define PEERS ->Arg(4)->Arg(16)->Arg(64)->Arg(256)->Arg(1000)
BENCHMARK(BM_RoundRobin) PEERS;
BENCHMARK(BM_WeightedRoundRobin) PEERS;
BENCHMARK(BM_LeastConn) PEERS;
BENCHMARK(BM_LeastConnLoaded) PEERS;
BENCHMARK(BM_IpHash) PEERS;
BENCHMARK(BM_Hash) PEERS;
BENCHMARK(BM_HashConsistent) PEERS;
BENCHMARK(BM_HashConsistentBounded) PEERS;
BENCHMARK(BM_RandomTwoLeastConn) PEERS;

}  // namespace

BENCHMARK_MAIN();

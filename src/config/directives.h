// Directive table types and the builder context handlers write into.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/conf.h"

namespace sy::conf {

// Contexts a directive may appear in.
enum : uint32_t {
    kMain = 1u << 0, kEvents = 1u << 1, kHttp = 1u << 2, kServer = 1u << 3,
    kLocation = 1u << 4, kUpstream = 1u << 5,
    kStream = 1u << 6, kStreamServer = 1u << 7, kStreamUpstream = 1u << 8,   // the stream {} block
};
// Argument counts: bit N allows N arguments; kMore1/kMore2 allow N or more.
enum : uint32_t {
    A0 = 1u << 0, A1 = 1u << 1, A2 = 1u << 2, A3 = 1u << 3, A4 = 1u << 4,
    kMore1 = 1u << 20, kMore2 = 1u << 21,
};
// Shape flags.
enum : uint32_t {
    kBlock = 1u << 0,     // must be written with a block
    kRawBlock = 1u << 1,  // the handler reads the block itself (map, types)
};

struct Ctx;
using Handler = bool (*)(Ctx&, const Directive&);

struct Spec {
    std::string_view name;
    uint32_t contexts;
    uint32_t arity;
    uint32_t shape;
    Handler handler;
};

std::span<const Spec> directive_table();
void add_combined_format(Http& h);   // nginx's predefined "combined"

// Resolves map variables and named regex captures while templates compile.
struct Scope : VarScope {
    const Http* http = nullptr;
    std::vector<std::string> named_captures;
    bool lookup(std::string_view name, VarRef& ref) const override;
};

struct Ctx {
    Config& cfg;
    Http* http = nullptr;
    Server* server = nullptr;
    Location* loc = nullptr;
    LocConf* lc = nullptr;
    LocationTree* tree = nullptr;
    std::vector<RewriteStep>* rewrites = nullptr;
    Upstream* up = nullptr;
    uint32_t context = kMain;
    Scope scope;

    bool seen_daemon = false, seen_pid = false, seen_events = false, server_named = false;
    std::string err;            // set by a failing handler
    SrcLoc err_where;   // overrides the directive's line (map/types entries)

    struct ProxySite { Location* loc; SrcLoc where; };
    std::vector<ProxySite> proxy_sites;

    struct Saved { Server* server; Location* loc; LocConf* lc; LocationTree* tree; std::vector<RewriteStep>* rewrites; Upstream* up; uint32_t context; };
    Saved save() const { return {server, loc, lc, tree, rewrites, up, context}; }
    void restore(const Saved& s) { server = s.server; loc = s.loc; lc = s.lc; tree = s.tree; rewrites = s.rewrites; up = s.up; context = s.context; }

    explicit Ctx(Config& c) : cfg(c) {}
    bool walk(const std::vector<Directive>& list, uint32_t ctx);
    void prescan_http(const std::vector<Directive>& list);
    void note_named_captures(const Regex& re);
    std::string full_path(const std::string& p) const;
};

// A directive argument with variables compiled into `t` (nginx's messages in
// c.err); notes when it reads response headers. For every handler file.
bool compile_value(Ctx& c, const std::string& text, Template& t);
std::string ascii_lower(std::string s);

}  // namespace sy::conf

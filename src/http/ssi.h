// ngx_http_ssi_module for switchyard: the commands of an SSI document
// (http/ssi_parser.h) run against one Exchange, whose body they produce.
// `include virtual=|file=` runs a SubExchange (http/subrequest.h) and goes on
// when it ended; includes run one after another, so the output keeps the
// document's order (nginx's postponed output gives the same bytes).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/event_loop.h"
#include "http/ssi_parser.h"

namespace sy::http {

class Exchange;
class SubExchange;

// State of the main request shared by every SSI document it includes
// (nginx keeps it in the main request's context): variables, blocks, captures.
struct SsiShared {
    std::vector<std::pair<std::string, std::string>> vars;
    struct Block {
        std::string name;
        std::string body;
    };
    std::vector<Block> blocks;
    std::vector<std::string> captures;   // $0..$9 of the last `if expr="... /re/"`
};

class SsiRun final : public Deletable {
public:
    SsiRun(Exchange& ex, std::vector<ssi::Piece> pieces, bool chunked);
    ~SsiRun() override;
    void resume();
    void drained();   // the client took its backlog (the include in flight reads on)

    // ngx_escape_uri(NGX_ESCAPE_HTML) and ngx_escape_html, for echo's encodings
    static std::string escape_url(std::string_view s);
    static std::string escape_entity(std::string_view s);

private:
    enum class Rc { Ok, Error, Wait };
    Rc exec(ssi::Command& c);
    Rc include(const std::string* params[]);
    Rc echo(const std::string* params[]);
    Rc cond_if(ssi::Command& c, const std::string* params[]);
    bool evaluate(std::string_view text, bool add_prefix, std::string& out);
    bool lookup(std::string_view name, std::string& out);   // SSI variable, then nginx's
    std::string* ssi_var(std::string_view name);
    void emit(std::string_view bytes);
    void log(std::string msg);   // an [error] line with nginx's action
    void fail();                 // errmsg unless ssi_silent_errors
    void sub_done();
    void end();

    Exchange& ex_;
    std::vector<ssi::Piece> pieces_;
    size_t next_ = 0;
    bool chunked_;
    bool output_ = true, output_chosen_ = false, block_ = false;
    int conditional_ = 0;        // 1: inside if/elif, 2: after else
    enum class Enc { None, Url, Entity } enc_ = Enc::Entity;
    std::string errmsg_ = "[an error occurred while processing the directive]";
    std::string timefmt_ = "%A, %d-%b-%Y %H:%M:%S %Z";
    // the include in flight
    std::unique_ptr<SubExchange> sub_;
    std::string set_var_;        // set=
    int stub_ = -1;              // stub= block index
    bool waiting_ = false, ended_ = false;
    std::vector<std::unique_ptr<SubExchange>> old_subs_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sy::http

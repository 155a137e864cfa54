// switchyard: nginx's command line in front of one event-loop worker.
#include <fcntl.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "build_info.h"
#include "config/loader.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "http/tls_front.h"
#include "http/server.h"
#include "http/temp_file.h"
#include "http/router.h"
#include "stream/session.h"

#ifndef SY_DEFAULT_PREFIX
#define SY_DEFAULT_PREFIX "/usr/local/switchyard/"
#endif

namespace {

struct Options {
    std::string prefix = SY_DEFAULT_PREFIX;
    std::string conf = "conf/switchyard.conf";
    std::string globals;
    std::string error_log;      // -e
    bool test = false, dump = false, quiet = false;
    std::string signal;
};

void usage(FILE* out) {
    fmt::print(out,
               "Usage: switchyard [-?hvVtTq] [-s signal] [-p prefix]\n"
               "             [-e filename] [-c filename] [-g directives]\n\n"
               "Options:\n"
               "  -?,-h         : this help\n"
               "  -v            : show version and exit\n"
               "  -V            : show version and configure options then exit\n"
               "  -t            : test configuration and exit\n"
               "  -T            : test configuration, dump it and exit\n"
               "  -q            : suppress non-error messages during configuration testing\n"
               "  -s signal     : send signal to a master process: stop, quit, reopen, reload\n"
               "  -p prefix     : set prefix path (default: {})\n"
               "  -e filename   : set error log file (default: logs/error.log)\n"
               "  -c filename   : set configuration file (default: {})\n"
               "  -g directives : set global directives out of configuration file\n\n",
               SY_DEFAULT_PREFIX, "conf/switchyard.conf");
}

void version(bool full) {
    fmt::print(stderr, "nginx version: nginx/{} (switchyard/{})\n", SY_NGINX_COMPAT_VERSION, SY_VERSION);
    if (!full) return;
    fmt::print(stderr, "built by {} (switchyard {})\n", SY_CXX_COMPILER, SY_VERSION);
    fmt::print(stderr, "built with {}\n", OPENSSL_VERSION_TEXT);
    fmt::print(stderr, "TLS SNI support enabled\n");
    // What is built in, in nginx's words, so that tools which read -V (nginx's
    // own test suite among them) know what this binary can do: a module
    // nginx builds by default that switchyard lacks is declared --without-.
    // tests/integration/test_cli.py checks each claim against -t.
    fmt::print(stderr,
               "configure arguments: --prefix={} --conf-path=conf/switchyard.conf --error-log-path=logs/error.log "
               "--pid-path=logs/nginx.pid --http-client-body-temp-path=client_body_temp "
               "--http-proxy-temp-path=proxy_temp --with-pcre-jit "
               "--with-http_ssl_module --with-http_v2_module --with-http_realip_module "
               "--with-stream --with-stream_ssl_module --with-stream_ssl_preread_module --with-stream_realip_module "
               "--without-http_gzip_module "
               "--without-http_userid_module --without-http_access_module --without-http_auth_basic_module "
               "--without-http_mirror_module --without-http_autoindex_module "
               "--without-http_split_clients_module --without-http_referer_module "
               "--without-http_fastcgi_module --without-http_uwsgi_module --without-http_scgi_module "
               "--without-http_grpc_module --without-http_memcached_module --without-http_limit_conn_module "
               "--without-http_limit_req_module --without-http_empty_gif_module --without-http_browser_module "
               "--without-http_tunnel_module --without-http-cache "
               "--without-stream_access_module --without-stream_limit_conn_module "
               "--without-stream_set_module --without-stream_split_clients_module "
               "--without-stream_pass_module --without-mail_pop3_module --without-mail_imap_module "
               "--without-mail_smtp_module "
               "--program=switchyard-{}\n",
               SY_DEFAULT_PREFIX, SY_VERSION);
}

bool parse_args(int argc, char** argv, Options& o, int& exit_code) {
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        if (a[0] != '-') {
            fmt::print(stderr, "switchyard: invalid option: \"{}\"\n", a);
            exit_code = 1;
            return false;
        }
        for (const char* p = a + 1; *p; ++p) {
            auto take = [&](std::string& dst, const char* what) {
                if (p[1]) { dst = p + 1; }
                else if (i + 1 < argc) { dst = argv[++i]; }
                else {
                    fmt::print(stderr, "switchyard: option \"-{}\" requires {}\n", *p, what);
                    return false;
                }
                return true;
            };
            switch (*p) {
            case '?': case 'h': usage(stderr); exit_code = 0; return false;
            case 'v': version(false); exit_code = 0; return false;
            case 'V': version(true); exit_code = 0; return false;
            case 't': o.test = true; continue;
            case 'T': o.test = o.dump = true; continue;
            case 'q': o.quiet = true; continue;
            case 'p': if (!take(o.prefix, "directory name")) { exit_code = 1; return false; } break;
            case 'c': if (!take(o.conf, "file name")) { exit_code = 1; return false; } break;
            case 'g': if (!take(o.globals, "directives")) { exit_code = 1; return false; } break;
            case 'e': if (!take(o.error_log, "file name")) { exit_code = 1; return false; } break;
            case 's':
                if (!take(o.signal, "signal number")) { exit_code = 1; return false; }
                if (o.signal != "stop" && o.signal != "quit" && o.signal != "reopen" && o.signal != "reload") {
                    fmt::print(stderr, "switchyard: invalid option: \"-s {}\"\n", o.signal);
                    exit_code = 1;
                    return false;
                }
                break;
            default:
                fmt::print(stderr, "switchyard: invalid option: \"{}\"\n", *p);
                exit_code = 1;
                return false;
            }
            break;
        }
    }
    if (!o.prefix.empty() && o.prefix.back() != '/') o.prefix += '/';
    return true;
}

std::variant<std::shared_ptr<sy::conf::Config>, std::string> load(const Options& o) {
    sy::conf::LoadOptions lo;
    lo.prefix = o.prefix;
    lo.conf_file = o.conf;
    lo.global_directives = o.globals;
    return sy::conf::load(lo);
}

std::string default_error_log(const Options& o) {
    if (o.error_log.empty()) return o.prefix + "logs/error.log";
    if (o.error_log == "stderr" || o.error_log[0] == '/') return o.error_log;
    return o.prefix + o.error_log;
}

// Before a configuration is in force, nginx reports to stderr and to the
// default error log (-e or logs/error.log) alike.
void startup_error(const Options& o, const std::string& msg) {
    fmt::print(stderr, "switchyard: [emerg] {}\n", msg);
    std::string path = default_error_log(o);
    if (path == "stderr") return;
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    sy::errlog().set_targets({{path, fd, sy::Level::Emerg}});
    SY_LOG(sy::Level::Emerg, 0, "{}", msg);
}

bool apply_error_logs(const sy::conf::Config& cfg, const Options& o, bool to_stderr_too, std::string& err) {
    std::vector<sy::ErrorLog::Target> t;
    auto entries = cfg.error_logs;
    if (entries.empty()) entries.push_back({default_error_log(o), sy::Level::Error});
    for (auto& e : entries) {
        sy::ErrorLog::Target x;
        x.path = e.path;
        x.level = e.level;
        if (e.path == "stderr") x.fd = 2;
        else {
            x.fd = ::open(e.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (x.fd < 0) {
                err = fmt::format("open() \"{}\" failed ({}: {})", e.path, errno, strerror(errno));
                for (auto& o2 : t) if (o2.fd > 2) ::close(o2.fd);
                return false;
            }
        }
        t.push_back(x);
    }
    if (to_stderr_too) t.push_back({"stderr", 2, sy::Level::Emerg});
    sy::errlog().set_targets(std::move(t));
    return true;
}

std::shared_ptr<sy::http::Generation> make_generation(std::shared_ptr<sy::conf::Config> cfg, std::string& err) {
    auto g = std::make_shared<sy::http::Generation>();
    g->cfg = cfg;
    if (cfg->http) g->groups = sy::http::build_groups(*cfg->http);
    if (cfg->stream) sy::http::add_stream_groups(*cfg->stream, g->groups);
    sy::http::install_tls_callbacks(g->groups);
    sy::stream::install_tls_callbacks(g->groups);
    if (!sy::http::create_temp_paths(*cfg, err)) return nullptr;
    if (!g->open_logs(err)) return nullptr;
    return g;
}

int send_signal(const Options& o) {
    auto r = load(o);
    if (auto* e = std::get_if<std::string>(&r)) {
        fmt::print(stderr, "switchyard: [emerg] {}\n", *e);
        return 1;
    }
    auto cfg = std::get<std::shared_ptr<sy::conf::Config>>(r);
    FILE* f = fopen(cfg->pid_path.c_str(), "r");
    if (!f) {
        fmt::print(stderr, "switchyard: [error] open() \"{}\" failed ({}: {})\n", cfg->pid_path, errno, strerror(errno));
        return 1;
    }
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    std::string s(buf, n);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    char* end = nullptr;
    long pid = strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || pid <= 0) {
        fmt::print(stderr, "switchyard: [error] invalid PID number \"{}\" in \"{}\"\n", s, cfg->pid_path);
        return 1;
    }
    int sig = o.signal == "stop" ? SIGTERM : o.signal == "quit" ? SIGQUIT : o.signal == "reopen" ? SIGUSR1 : SIGHUP;
    if (kill(pid_t(pid), sig) != 0) {
        fmt::print(stderr, "switchyard: [error] kill({}, {}) failed ({}: {})\n", pid, sig, errno, strerror(errno));
        return 1;
    }
    return 0;
}

// Signals arrive through a signalfd on the loop, so handlers run as ordinary events.
class Signals : public sy::IoHandler {
public:
    Signals(sy::EventLoop& loop, sy::http::Worker& w, Options o) : loop_(loop), w_(w), o_(std::move(o)) {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
        sigprocmask(SIG_BLOCK, &set, nullptr);
        io_.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        io_.owner = this;
        loop_.add_level_read(io_);
    }
    ~Signals() override { if (io_.fd >= 0) ::close(io_.fd); }
    bool quitting() const { return quitting_; }

    void on_io(int, uint32_t) override {
        signalfd_siginfo si;
        while (::read(io_.fd, &si, sizeof si) == sizeof si) {
            switch (si.ssi_signo) {
            case SIGTERM:
            case SIGINT:
                SY_LOG(sy::Level::Notice, 0, "signal {} ({}) received, exiting", si.ssi_signo, strsignal(int(si.ssi_signo)));
                loop_.stop();
                break;
            case SIGQUIT:
                SY_LOG(sy::Level::Notice, 0, "gracefully shutting down");
                quitting_ = true;
                w_.set_draining();
                w_.stop_accepting();
                w_.close_connections(true);  // idle keep-alive connections go now
                break;
            case SIGHUP: reload(); break;
            case SIGUSR1:
                SY_LOG(sy::Level::Notice, 0, "reopening logs");
                sy::errlog().reopen();
                w_.reopen_logs();
                break;
            }
        }
    }

private:
    void reload() {
        SY_LOG(sy::Level::Notice, 0, "signal 1 (SIGHUP) received from {}, reconfiguring", "kill");
        auto r = load(o_);
        if (auto* e = std::get_if<std::string>(&r)) {
            SY_LOG(sy::Level::Emerg, 0, "{}", *e);
            return;
        }
        std::string err;
        auto cfg = std::get<std::shared_ptr<sy::conf::Config>>(r);
        for (auto& w : cfg->warnings) SY_LOG(sy::Level::Warn, 0, "{}", w);
        auto gen = make_generation(cfg, err);
        if (!gen || !w_.activate(gen, err)) {
            SY_LOG(sy::Level::Emerg, 0, "{}", err);
            return;
        }
        if (!apply_error_logs(*cfg, o_, false, err)) SY_LOG(sy::Level::Emerg, 0, "{}", err);
        SY_LOG(sy::Level::Notice, 0, "configuration reloaded");
    }

    sy::EventLoop& loop_;
    sy::http::Worker& w_;
    Options o_;
    sy::Io io_;
    bool quitting_ = false;
};

bool write_pid(const std::string& path, std::string& err) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = fmt::format("open() \"{}\" failed ({}: {})", path, errno, strerror(errno));
        return false;
    }
    std::string s = std::to_string(getpid()) + "\n";
    bool ok = ::write(fd, s.data(), s.size()) == ssize_t(s.size());
    ::close(fd);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    int code = 0;
    if (!parse_args(argc, argv, o, code)) return code;
    sy::clock::update();
    signal(SIGPIPE, SIG_IGN);
    if (!o.signal.empty()) return send_signal(o);

    auto r = load(o);
    std::string conf_path = (o.conf[0] == '/' ? o.conf : o.prefix + o.conf);
    if (auto* e = std::get_if<std::string>(&r)) {
        startup_error(o, *e);
        if (o.test) fmt::print(stderr, "switchyard: configuration file {} test failed\n", conf_path);
        return 1;
    }
    auto cfg = std::get<std::shared_ptr<sy::conf::Config>>(r);
    for (auto& w : cfg->warnings) fmt::print(stderr, "switchyard: [warn] {}\n", w);
    std::string err;
    if (o.test) {
        auto gen = make_generation(cfg, err);
        if (!gen) {
            startup_error(o, err);
            fmt::print(stderr, "switchyard: configuration file {} test failed\n", cfg->conf_file);
            return 1;
        }
        if (!o.quiet) {
            fmt::print(stderr, "switchyard: the configuration file {} syntax is ok\n", cfg->conf_file);
            fmt::print(stderr, "switchyard: configuration file {} test is successful\n", cfg->conf_file);
        }
        if (o.dump)
            for (auto& f : cfg->files) fmt::print(stdout, "# configuration file {}:\n{}\n", f.path, f.text);
        return 0;
    }
    if (!apply_error_logs(*cfg, o, true, err)) {
        startup_error(o, err);
        return 1;
    }
    for (auto& w : cfg->warnings) SY_LOG(sy::Level::Warn, 0, "{}", w);
    if (cfg->worker_rlimit_nofile) {
        rlimit rl{rlim_t(*cfg->worker_rlimit_nofile), rlim_t(*cfg->worker_rlimit_nofile)};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            SY_LOG(sy::Level::Alert, 0, "setrlimit(RLIMIT_NOFILE, {}) failed ({}: {})", *cfg->worker_rlimit_nofile, errno, strerror(errno));
    }
    sy::EventLoop loop;
    sy::http::Worker worker(loop);
    auto gen = make_generation(cfg, err);
    if (!gen || !worker.activate(gen, err)) {
        SY_LOG(sy::Level::Emerg, 0, "{}", err);
        return 1;
    }
    gen.reset();   // the worker and the connections hold it: it dies with the last of them after a reload
    if (cfg->daemon) {
        pid_t pid = fork();
        if (pid < 0) {
            SY_LOG(sy::Level::Emerg, 0, "fork() failed ({}: {})", errno, strerror(errno));
            return 1;
        }
        if (pid > 0) return 0;
        setsid();
        int nul = ::open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
            if (nul > 2) ::close(nul);
        }
    }
    // only the configured targets from here on (stderr was for start-up errors)
    apply_error_logs(*cfg, o, false, err);
    if (!write_pid(cfg->pid_path, err)) {
        SY_LOG(sy::Level::Emerg, 0, "{}", err);
        return 1;
    }
    std::string pid_path = cfg->pid_path;
    // Nothing here pins the first configuration: after a reload it is freed
    // (and its log files closed) with its last connection.
    cfg.reset();
    r = std::string();
    Signals sigs(loop, worker, o);
    SY_LOG(sy::Level::Notice, 0, "switchyard/{} started", SY_VERSION);
    // Graceful quit ends the loop once the last connection is gone.
    struct QuitCheck : sy::TimerHandler {
        sy::EventLoop& loop; sy::http::Worker& w; Signals& s; sy::Timer t;
        QuitCheck(sy::EventLoop& l, sy::http::Worker& w_, Signals& s_) : loop(l), w(w_), s(s_) { t.owner = this; loop.arm(t, 100); }
        void on_timer(int) override {
            if (s.quitting() && w.connections() == 0) { loop.stop(); return; }
            loop.arm(t, 100);
        }
    } quit(loop, worker, sigs);
    loop.run();
    // Whatever is still open is closed and freed before exit.
    worker.close_connections(false);
    loop.run_once(0);
    ::unlink(pid_path.c_str());
    SY_LOG(sy::Level::Notice, 0, "exit");
    return 0;
}

#!/usr/bin/env bash
# bench/run.sh - side-by-side benchmark of switchyard, nginx and HAProxy on one
# machine (loopback only). See bench/README.md.
#
#   bench/run.sh                                  # everything, ~1.5 minutes
#   PROXIES="nginx haproxy" bench/run.sh          # without switchyard
#   SCENARIOS="ws_echo" DURATION=5 bench/run.sh   # one scenario, shorter
#   SCENARIOS="tls_full tls_resume wss_echo h2" bench/run.sh   # the TLS set
#   SCENARIOS="tcp_tput tcp_conn" PROXIES="direct nginx haproxy switchyard" bench/run.sh  # stream {}
#   SCENARIOS="tcp_idle" bench/run.sh             # memory per idle stream {} session
#
# Environment (defaults in brackets):
#   PROXIES [nginx haproxy switchyard]   SCENARIOS [ws_echo http idle]
#     opt-in: http4; the TLS set: tls_full tls_resume wss_echo h2 (HTTP/2 over TLS, h2load);
#     the stream set: tcp_tput tcp_conn tcp_idle (stream {} / mode tcp). PROXIES may also
#     name "direct": no proxy, tcp_tput/tcp_conn's load straight to the backend (the
#     ceiling; it skips tcp_idle, which measures a proxy's memory)
#   DURATION [10] measured seconds per throughput scenario; WARMUP [2]
#   CONNS [256] WebSocket echo connections; MSG_SIZE [32] bytes per message
#   HTTP_CONNS [64] wrk connections; HTTP_BODY [64] backend response body bytes
#   IDLE_CONNS [5000] idle tunnels for the memory scenario
#   TCP_IDLE_CONNS [IDLE_CONNS] idle stream {} sessions (client + upstream connection) of tcp_idle
#   TLS_CONNS [32] concurrent connections of tls_full / tls_resume
#   H2_CONNS [16] h2load connections; H2_STREAMS [10] concurrent streams on each
#   TLS_VERSION [1.3] highest TLS version the clients offer (1.3 or 1.2)
#   TCP_TPUT_CONNS [16] tcp_tput connections; TCP_CONN_CONNS [32] tcp_conn connection slots
#   NGINX_STREAM_MODULE [/usr/lib/nginx/modules/ngx_stream_module.so] load_module'd with the stream set
#   BASE_PORT [18080] proxy port; TLS server BASE_PORT+1; stream server BASE_PORT+2;
#     backends BASE_PORT+10 .. +14, TCP backend BASE_PORT+15
#   PROXY_CPU [0] core for the proxy; LOAD_CPU [1] core for backends, load, driver
#   SWITCHYARD_BIN [build/switchyard]  NGINX_BIN [/usr/sbin/nginx]
#   HAPROXY_BIN [/usr/sbin/haproxy]    BENCH_BUILD_DIR [/tmp/switchyard-bench-build]
#   RESULTS [bench/results/latest.md]  KEEP_WORK [0] keep logs/configs on success
#   RATIOS [switchyard/nginx switchyard/haproxy, plus switchyard/direct with direct]
#   REPEAT [1] runs of each scenario (median reported)
#   NOISE_LIMIT [10] % of the proxy or load core used by other processes above which
#   an attempt is discarded and retried, at most NOISY_RETRIES [1] times
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/bench

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-256}
MSG_SIZE=${MSG_SIZE:-32}
HTTP_CONNS=${HTTP_CONNS:-64}
HTTP_BODY=${HTTP_BODY:-64}
IDLE_CONNS=${IDLE_CONNS:-5000}
TLS_CONNS=${TLS_CONNS:-32}
H2_CONNS=${H2_CONNS:-16}
H2_STREAMS=${H2_STREAMS:-10}
TLS_VERSION=${TLS_VERSION:-1.3}
TCP_TPUT_CONNS=${TCP_TPUT_CONNS:-16}
TCP_CONN_CONNS=${TCP_CONN_CONNS:-32}
TCP_IDLE_CONNS=${TCP_IDLE_CONNS:-$IDLE_CONNS}
NGINX_STREAM_MODULE=${NGINX_STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}
PROXIES=${PROXIES:-"nginx haproxy switchyard"}
SCENARIOS=${SCENARIOS:-"ws_echo http idle"}
BASE_PORT=${BASE_PORT:-18080}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
SWITCHYARD_BIN=${SWITCHYARD_BIN:-$ROOT/build/switchyard}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
HAPROXY_BIN=${HAPROXY_BIN:-/usr/sbin/haproxy}
BUILD_DIR=${BENCH_BUILD_DIR:-/tmp/switchyard-bench-build}
RESULTS=${RESULTS:-$BENCH_DIR/results/latest.md}
KEEP_WORK=${KEEP_WORK:-0}
if [[ -z ${RATIOS:-} ]]; then
    RATIOS="switchyard/nginx switchyard/haproxy"
    [[ " $PROXIES " == *" direct "* ]] && RATIOS+=" switchyard/direct"
fi
REPEAT=${REPEAT:-1}
NOISE_LIMIT=${NOISE_LIMIT:-10}
NOISY_RETRIES=${NOISY_RETRIES:-1}

PROXY_PORT=$BASE_PORT
TLS_PORT=$((BASE_PORT + 1))            # the `listen ... ssl` server (TLS scenarios)
WS_PORT=$((BASE_PORT + 10))
HTTP_PORT=$((BASE_PORT + 11))          # single-backend HTTP scenario
HTTP4_PORTS="$((BASE_PORT + 11))-$((BASE_PORT + 14))"  # 4-backend scenario
STREAM_PORT=$((BASE_PORT + 2))         # the stream {} server / HAProxy mode tcp frontend
TCP_BE_PORT=$((BASE_PORT + 15))        # tcp_backend (stream scenarios)
# the larger of the two idle scenarios' connection counts (a fresh proxy runs
# each scenario, so they never add up)
IDLE_MAX=$(( TCP_IDLE_CONNS > IDLE_CONNS ? TCP_IDLE_CONNS : IDLE_CONNS ))
# nginx preallocates worker_connections; each tunnel or stream session uses 2
# (client + upstream)
WORKER_CONNECTIONS=${WORKER_CONNECTIONS:-$(( (2 * IDLE_MAX + 2 * CONNS + 2 * HTTP_CONNS + 100) > 20000 ? (2 * IDLE_MAX + 2 * CONNS + 2 * HTTP_CONNS + 100) : 20000 ))}
HAPROXY_MAXCONN=$((IDLE_MAX + CONNS + HTTP_CONNS + TLS_CONNS + TCP_TPUT_CONNS + TCP_CONN_CONNS + 1000))
# scenarios that need the TLS server block, its certificate and TLS smoke tests
TLS_SCENARIOS="tls_full tls_resume wss_echo h2"
tls_selected() {
    local s
    for s in $TLS_SCENARIOS; do [[ " $SCENARIOS " == *" $s "* ]] && return 0; done
    return 1
}
# scenarios that need the stream {} server (plain TCP proxying) and tcp_backend
STREAM_SCENARIOS="tcp_tput tcp_conn tcp_idle"
stream_selected() {
    local s
    for s in $STREAM_SCENARIOS; do [[ " $SCENARIOS " == *" $s "* ]] && return 0; done
    return 1
}
# the only ones the pseudo-proxy "direct" runs (tcp_idle measures a proxy's
# memory: with no proxy there is nothing to measure)
DIRECT_SCENARIOS="tcp_tput tcp_conn"
direct_selected() {
    local s
    for s in $DIRECT_SCENARIOS; do [[ " $SCENARIOS " == *" $s "* ]] && return 0; done
    return 1
}
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ processes
# Every process this script starts is recorded as "pid:starttime" so cleanup
# never signals a recycled pid. Nothing is ever killed by name.
TRACKED=()
WORK=""
FAILED_ANY=0

proc_starttime() {  # field 22 of /proc/PID/stat
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    local -a f
    read -ra f <<<"$line"
    echo "${f[19]}"
}

track() {
    local st
    st=$(proc_starttime "$1") && TRACKED+=("$1:$st")
}

is_ours_alive() {  # pid starttime: same process (not a recycled pid), not a zombie
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    local -a f
    read -ra f <<<"$line"
    [[ ${f[19]} == "$2" && ${f[0]} != Z ]]
}

kill_tracked() {  # signal pids...  (only tracked ones)
    local sig=$1 e pid st
    shift
    for e in "${TRACKED[@]}"; do
        pid=${e%%:*}; st=${e##*:}
        for want in "$@"; do
            if [[ $pid == "$want" ]] && is_ours_alive "$pid" "$st"; then
                kill "-$sig" "$pid" 2>/dev/null
            fi
        done
    done
}

# Stops the given tracked pids: TERM, wait up to 5 s, then KILL.
stop_pids() {
    local pids=("$@") i e pid st alive
    [[ ${#pids[@]} -eq 0 ]] && return 0
    kill_tracked TERM "${pids[@]}"
    for ((i = 0; i < 50; i++)); do
        alive=0
        for e in "${TRACKED[@]}"; do
            pid=${e%%:*}; st=${e##*:}
            for want in "${pids[@]}"; do
                [[ $pid == "$want" ]] && is_ours_alive "$pid" "$st" && alive=1
            done
        done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    [[ $alive == 1 ]] && kill_tracked KILL "${pids[@]}"
    for want in "${pids[@]}"; do wait "$want" 2>/dev/null; done
    return 0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local all=() e
    for e in "${TRACKED[@]}"; do all+=("${e%%:*}"); done
    if [[ ${#all[@]} -gt 0 ]]; then stop_pids "${all[@]}"; fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP_WORK == 1 || $rc != 0 || $FAILED_ANY != 0 ]]; then
            log "logs and configs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# spawn NAME CPU CMD... -> runs CMD pinned to CPU in the background with
# stdout/stderr in $WORK/logs/NAME.{out,err}; sets SPAWNED.
spawn() {
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" &
    SPAWNED=$!
    track "$SPAWNED"
}

# run_tracked NAME CPU CMD... -> like spawn, then waits; returns CMD's status.
run_tracked() {
    spawn "$@"
    wait "$SPAWNED"
}

# Pid plus all descendants of a pid (one pass over /proc).
proc_tree() {
    local root=$1 f line rest pid
    local -A kids=()
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        pid=${line%% *}
        rest=${line##*) }
        local -a a
        read -ra a <<<"$rest"
        kids[${a[1]}]+="$pid "
    done
    local tree=() queue=("$root") p c
    while [[ ${#queue[@]} -gt 0 ]]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -e /proc/$p ]] || continue
        tree+=("$p")
        for c in ${kids[$p]:-}; do queue+=("$c"); done
    done
    echo "${tree[@]}"
}

cpu_ticks() {  # sum of utime+stime (clock ticks) of the given pids
    local t=0 p line rest
    for p in "$@"; do
        read -r line 2>/dev/null <"/proc/$p/stat" || continue
        rest=${line##*) }
        local -a a
        read -ra a <<<"$rest"
        t=$((t + a[11] + a[12]))
    done
    echo "$t"
}

mem_kb() {  # "PSS RSS" in KiB summed over the given pids (smaps_rollup)
    local pss=0 rss=0 p k v
    for p in "$@"; do
        while read -r k v _; do
            case $k in
                Pss:) pss=$((pss + v)) ;;
                Rss:) rss=$((rss + v)) ;;
            esac
        done <"/proc/$p/smaps_rollup"
    done
    echo "$pss $rss"
}

# Busy ticks of cpu N from /proc/stat: user+nice+system+irq+softirq+steal.
# (Loopback softirq work done while the proxy runs is charged to the proxy's
# utime+stime too, so on a quiet core this equals the proxy's ticks.)
core_busy() {
    local k u n s irq sirq steal rest
    while read -r k u n s _ _ irq sirq steal rest; do
        [[ $k == "cpu$1" ]] && { echo $((u + n + s + irq + sirq + steal)); return 0; }
    done </proc/stat
    echo 0
}

# Ticks used by our load side: backends + this driver + its reaped children
# (wrk, ws_load, curl... once waited for, their time is in cutime/cstime).
load_side_ticks() {
    local line
    read -r line </proc/$$/stat
    line=${line##*) }
    local -a a
    read -ra a <<<"$line"
    echo $(( a[11] + a[12] + a[13] + a[14] + $(cpu_ticks $WS_BE_PID $HTTP_BE_PID $TCP_BE_PID) ))
}

port_busy() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

wait_port() {  # port pid timeout_s
    local port=$1 pid=$2 n=$(( $3 * 10 ))
    while ((n-- > 0)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

kv() {  # kv "LINE" key -> value of key=value in LINE
    local w
    for w in $1; do
        [[ $w == "$2="* ]] && { echo "${w#*=}"; return 0; }
    done
    return 1
}

fmt() { awk -v v="$1" -v p="$2" 'BEGIN { printf "%.*f", p, v }'; }
fdiv() { awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN { if (b == 0) print "n/a"; else printf "%.*f", p, a / b }'; }

# ------------------------------------------------------------------- results
# Metrics registry: key -> column header; "h" = higher is better, "l" = lower.
declare -A METRIC_HDR=() METRIC_DIR=() SCEN_METRICS=() SCEN_CPU_SENSITIVE=() R=() NOTE=()
METRIC_ORDER=()
register_metric() { METRIC_HDR[$1]=$2; METRIC_DIR[$1]=$3; METRIC_ORDER+=("$1"); }
declare -A RALL=() RES_CUR=()
set_result() { RES_CUR["$1|$2"]=$3; }  # kept only if the attempt is accepted
add_note() {
    [[ "; ${NOTE[$1]:-}; " == *"; $2; "* ]] && return 0
    NOTE[$1]="${NOTE[$1]:-}${NOTE[$1]:+; }$2"
}

# ------------------------------------------------------------------ configs
# The /ws location of both nginx servers: WebSocket tunnels to the echo backend.
nginx_ws_location() {
    cat <<'EOF'
        location /ws {
            proxy_pass http://ws_backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 3600s;
        }
EOF
}

# One nginx.conf text, used verbatim by nginx and by switchyard.
write_nginx_conf() {
    local out=$1
    {
        # Debian's nginx has the stream module as a dynamic one: this must be
        # the first line (switchyard has it built in and accepts the line)
        stream_selected && echo "load_module $NGINX_STREAM_MODULE;"
        cat <<EOF
# switchyard benchmark configuration: used VERBATIM by nginx and switchyard.
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;

events {
    worker_connections $WORKER_CONNECTIONS;
}

http {
    access_log off;

    upstream ws_backend {
        server 127.0.0.1:$WS_PORT;
    }

    upstream http_backend {
        server 127.0.0.1:$HTTP_PORT;
        keepalive 32;
    }
EOF
        if [[ " $SCENARIOS " == *" http4 "* ]]; then
            cat <<EOF

    upstream http_backend4 {
        server 127.0.0.1:$((BASE_PORT + 11));
        server 127.0.0.1:$((BASE_PORT + 12));
        server 127.0.0.1:$((BASE_PORT + 13));
        server 127.0.0.1:$((BASE_PORT + 14));
        keepalive 32;
    }
EOF
        fi
        cat <<EOF

    server {
        listen 127.0.0.1:$PROXY_PORT;

EOF
        nginx_ws_location
        if [[ " $SCENARIOS " == *" http4 "* ]]; then
            cat <<EOF

        location /b4/ {
            proxy_pass http://http_backend4;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
EOF
        fi
        cat <<EOF

        location / {
            proxy_pass http://http_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
        if tls_selected; then
            cat <<EOF

    # TLS scenarios: TLS terminated here; /ws proxied to the plain backend
    server {
        listen 127.0.0.1:$TLS_PORT ssl$([[ " $SCENARIOS " == *" h2 "* ]] && echo " http2");
        ssl_certificate $WORK/tls/cert.pem;
        ssl_certificate_key $WORK/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        # HTTP/2 connections last the whole run (nginx's default is 1000 streams)
        keepalive_requests 10000000;

EOF
            nginx_ws_location
            cat <<EOF

        location = /tls {
            return 200 "ok";
        }

        location / {
            proxy_pass http://http_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
        fi
        echo "}"
        if stream_selected; then
            cat <<EOF

# stream scenarios: plain TCP proxying to tcp_backend
stream {
    upstream tcp_backend {
        server 127.0.0.1:$TCP_BE_PORT;
    }

    server {
        listen 127.0.0.1:$STREAM_PORT;
        proxy_pass tcp_backend;
        proxy_timeout 3600s;
    }
}
EOF
        fi
    } >"$out"
}

# The HAProxy equivalent: one thread, same routes, tunnel timeout = 3600 s,
# server-side connection reuse like nginx's upstream keepalive.
write_haproxy_cfg() {
    local out=$1
    {
        cat <<EOF
global
    nbthread 1
    maxconn $HAPROXY_MAXCONN

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 75s
    timeout tunnel 3600s

frontend fe
    bind 127.0.0.1:$PROXY_PORT
    maxconn $HAPROXY_MAXCONN
    acl is_ws path_beg /ws
    use_backend ws_backend if is_ws
EOF
        if [[ " $SCENARIOS " == *" http4 "* ]]; then
            cat <<EOF
    acl is_b4 path_beg /b4/
    use_backend http_backend4 if is_b4
EOF
        fi
        cat <<EOF
    default_backend http_backend
EOF
        if tls_selected; then
            cat <<EOF

frontend fe_tls
    bind 127.0.0.1:$TLS_PORT ssl crt $WORK/tls/combined.pem ssl-min-ver TLSv1.2$([[ " $SCENARIOS " == *" h2 "* ]] && echo " alpn h2,http/1.1")
    maxconn $HAPROXY_MAXCONN
    http-request return status 200 content-type text/plain string "ok" if { path /tls }
    acl is_ws path_beg /ws
    use_backend ws_backend if is_ws
    default_backend http_backend
EOF
        fi
        cat <<EOF

backend ws_backend
    server ws1 127.0.0.1:$WS_PORT

backend http_backend
    http-reuse always
    server h1 127.0.0.1:$HTTP_PORT pool-max-conn 32
EOF
        if [[ " $SCENARIOS " == *" http4 "* ]]; then
            cat <<EOF

backend http_backend4
    balance roundrobin
    http-reuse always
    server h1 127.0.0.1:$((BASE_PORT + 11)) pool-max-conn 8
    server h2 127.0.0.1:$((BASE_PORT + 12)) pool-max-conn 8
    server h3 127.0.0.1:$((BASE_PORT + 13)) pool-max-conn 8
    server h4 127.0.0.1:$((BASE_PORT + 14)) pool-max-conn 8
EOF
        fi
        if stream_selected; then
            cat <<EOF

# stream scenarios: plain TCP proxying to tcp_backend
frontend fe_tcp
    mode tcp
    bind 127.0.0.1:$STREAM_PORT
    maxconn $HAPROXY_MAXCONN
    timeout client 3600s
    default_backend tcp_backend

backend tcp_backend
    mode tcp
    timeout server 3600s
    timeout tunnel 3600s
    server t1 127.0.0.1:$TCP_BE_PORT
EOF
        fi
    } >"$out"
}

# ------------------------------------------------------------------ proxies
PROXY_PID=""

# start_proxy NAME -> sets PROXY_PID; returns non-zero on failure.
start_proxy() {
    local name=$1 prefix="$WORK/$1"
    mkdir -p "$prefix/conf" "$prefix/logs"
    case $name in
        nginx | switchyard)
            cp "$WORK/nginx.conf" "$prefix/conf/nginx.conf"
            local bin=$NGINX_BIN
            [[ $name == switchyard ]] && bin=$SWITCHYARD_BIN
            spawn "$name.$CUR_SCEN" "$PROXY_CPU" "$bin" -p "$prefix/" -c "$prefix/conf/nginx.conf" -g "daemon off;"
            ;;
        haproxy)
            cp "$WORK/haproxy.cfg" "$prefix/conf/haproxy.cfg"
            spawn "$name.$CUR_SCEN" "$PROXY_CPU" "$HAPROXY_BIN" -f "$prefix/conf/haproxy.cfg" -db
            ;;
        *) log "unknown proxy $name"; return 1 ;;
    esac
    PROXY_PID=$SPAWNED
    if ! wait_port "$PROXY_PORT" "$PROXY_PID" 10; then
        log "$name did not start listening on $PROXY_PORT; its stderr / error log:"
        tail -n 20 "$WORK/logs/$name.$CUR_SCEN.err" "$prefix/logs/error.log" 2>/dev/null >&2
        return 1
    fi
    # smoke tests (also make sure the worker, not just the master, is serving)
    local s="smoke.$name.$CUR_SCEN"
    if ! run_tracked "$s.ws" "$LOAD_CPU" "$BUILD_DIR/ws_load" idle --port "$PROXY_PORT" \
        --conns 1 --hold 0 --connect-timeout 10; then
        log "$name: WebSocket smoke test failed:"
        cat "$WORK/logs/$s.ws.err" >&2
        return 1
    fi
    if ! run_tracked "$s.http" "$LOAD_CPU" curl -fsS -m 10 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$PROXY_PORT/" || [[ $(<"$WORK/logs/$s.http.out") != "200 $HTTP_BODY" ]]; then
        log "$name: HTTP smoke test failed: $(cat "$WORK/logs/$s.http.out" "$WORK/logs/$s.http.err")"
        return 1
    fi
    if tls_selected; then  # the TLS server: a request and a wss:// tunnel
        if ! run_tracked "$s.https" "$LOAD_CPU" curl -ksS -m 10 -o /dev/null -w '%{http_code} %{size_download}' \
            "https://127.0.0.1:$TLS_PORT/tls" || [[ $(<"$WORK/logs/$s.https.out") != "200 2" ]]; then
            log "$name: HTTPS smoke test failed: $(cat "$WORK/logs/$s.https.out" "$WORK/logs/$s.https.err")"
            return 1
        fi
        if ! run_tracked "$s.wss" "$LOAD_CPU" "$BUILD_DIR/ws_load" idle --tls --port "$TLS_PORT" \
            --conns 1 --hold 0 --connect-timeout 10; then
            log "$name: wss:// smoke test failed:"
            cat "$WORK/logs/$s.wss.err" >&2
            return 1
        fi
    fi
    if stream_selected; then  # the stream server: connections that echo one byte
        if ! run_tracked "$s.tcp" "$LOAD_CPU" "$BUILD_DIR/tcp_load" conn --port "$STREAM_PORT" \
            --conns 1 --duration 0.2 --warmup 0 --timeout 5; then
            log "$name: stream (TCP) smoke test failed:"
            cat "$WORK/logs/$s.tcp.err" >&2
            return 1
        fi
    fi
    # record every process of the proxy (nginx: master + worker) for cleanup
    local p
    for p in $(proc_tree "$PROXY_PID"); do [[ $p != "$PROXY_PID" ]] && track "$p"; done
    return 0
}

stop_proxy() {
    [[ -z $PROXY_PID ]] && return 0
    local pids
    read -ra pids <<<"$(proc_tree "$PROXY_PID")"
    stop_pids "${pids[@]}" "$PROXY_PID"
    PROXY_PID=""
}

# After a scenario: if the proxy died, say how (exit status or signal).
proxy_alive_or_note() {  # proxy
    kill -0 "$PROXY_PID" 2>/dev/null && return 0
    local st=0 how
    wait "$PROXY_PID" 2>/dev/null || st=$?
    how="exited with status $st"
    ((st > 128)) && how="was killed by SIG$(kill -l $((st - 128)))"
    add_note "$1" "$CUR_SCEN: the proxy $how"
    log "ERROR: $1 $how during $CUR_SCEN"
    FAILED_ANY=1
    return 1
}

# ---------------------------------------------------------------- scenarios
# A scenario is a function scenario_NAME PROXY that runs against an already
# started proxy (PROXY_PID), calls set_result PROXY METRIC VALUE for the
# metrics it listed in SCEN_METRICS[NAME], and add_note PROXY TEXT on trouble.
# SCEN_CPU_SENSITIVE[NAME]=0 exempts it from the noise retry (default 1).

register_metric ws_rate "WS echo msg/s" h
register_metric ws_p99 "WS p99 ms" l
register_metric ws_cpu "WS proxy CPU µs/msg" l
SCEN_METRICS[ws_echo]="ws_rate ws_p99 ws_cpu"
scenario_ws_echo() { run_ws_echo "$1" ws_echo ws echo "$PROXY_PORT"; }

register_metric wss_rate "WSS echo msg/s" h
register_metric wss_p99 "WSS p99 ms" l
register_metric wss_cpu "WSS proxy CPU µs/msg" l
SCEN_METRICS[wss_echo]="wss_rate wss_p99 wss_cpu"
scenario_wss_echo() { run_ws_echo "$1" wss_echo wss wss "$TLS_PORT" --tls --tls-version "$TLS_VERSION"; }

# run_ws_echo PROXY SCENARIO METRIC_PREFIX LOG_TAG PORT [ws_load options...]
run_ws_echo() {
    local proxy=$1 scen=$2 m=$3 tag=$4 port=$5 pids
    shift 5
    pids=$(proc_tree "$PROXY_PID")
    spawn "ws_load.$tag.$proxy" "$LOAD_CPU" "$BUILD_DIR/ws_load" echo --port "$port" \
        --conns "$CONNS" --size "$MSG_SIZE" --duration "$DURATION" --warmup "$WARMUP" \
        --connect-timeout 30 --watch-pids "${pids// /,}" "$@"
    wait "$SPAWNED"
    local rc=$? line
    line=$(grep '^RESULT ' "$WORK/logs/ws_load.$tag.$proxy.out" | tail -n 1)
    cat "$WORK/logs/ws_load.$tag.$proxy.err" >&2
    if [[ -z $line || $(kv "$line" ok) != 1 ]]; then
        add_note "$proxy" "$scen failed (ws_load exit $rc; see log above)"
        FAILED_ANY=1
        [[ -z $line || -z $(kv "$line" msgs_per_s) ]] && return 1
    fi
    set_result "$proxy" "${m}_rate" "$(fmt "$(kv "$line" msgs_per_s)" 0)"
    set_result "$proxy" "${m}_p99" "$(fmt "$(awk -v u="$(kv "$line" p99_us)" 'BEGIN{print u/1000}')" 2)"
    local cpu
    cpu=$(kv "$line" cpu_us_per_msg) && set_result "$proxy" "${m}_cpu" "$(fmt "$cpu" 2)"
    DETAILS+=("$proxy $scen: $line")
}

register_metric tlsf_rate "TLS full handshakes/s" h
register_metric tlsf_cpu "TLS full CPU µs/handshake" l
SCEN_METRICS[tls_full]="tlsf_rate tlsf_cpu"
scenario_tls_full() { run_tls_load "$1" tls_full tlsf; }

register_metric tlsr_rate "TLS resumed handshakes/s" h
register_metric tlsr_cpu "TLS resumed CPU µs/handshake" l
SCEN_METRICS[tls_resume]="tlsr_rate tlsr_cpu"
scenario_tls_resume() { run_tls_load "$1" tls_resume tlsr --resume; }

# Resumed share below which a tls_resume run counts as failed (%).
TLS_MIN_RESUMED=99

# run_tls_load PROXY SCENARIO METRIC_PREFIX [tls_load options...]
run_tls_load() {
    local proxy=$1 scen=$2 m=$3 pids
    shift 3
    pids=$(proc_tree "$PROXY_PID")
    local log="$WORK/logs/tls_load.$scen.$proxy"
    spawn "tls_load.$scen.$proxy" "$LOAD_CPU" "$BUILD_DIR/tls_load" --port "$TLS_PORT" \
        --conns "$TLS_CONNS" --duration "$DURATION" --warmup "$WARMUP" --tls-version "$TLS_VERSION" \
        --path /tls --expect ok --watch-pids "${pids// /,}" "$@"
    wait "$SPAWNED"
    local rc=$? line
    line=$(grep '^RESULT ' "$log.out" | tail -n 1)
    cat "$log.err" >&2
    if [[ -z $line || $(kv "$line" ok) != 1 ]]; then
        add_note "$proxy" "$scen failed (tls_load exit $rc, $(kv "$line" errors || echo '?') errors; see log above)"
        FAILED_ANY=1
        [[ -z $line || -z $(kv "$line" per_s) ]] && return 1
    fi
    local rate=per_s
    if [[ $scen == tls_resume ]]; then
        rate=resumed_per_s
        local pct
        pct=$(kv "$line" resumed_pct)
        if awk -v p="$pct" -v min="$TLS_MIN_RESUMED" 'BEGIN { exit !(p < min) }'; then
            add_note "$proxy" "$scen: only $pct% of the handshakes resumed a session"
            FAILED_ANY=1
        fi
    fi
    set_result "$proxy" "${m}_rate" "$(fmt "$(kv "$line" "$rate")" 0)"
    local cpu
    cpu=$(kv "$line" cpu_us_per_hs) && set_result "$proxy" "${m}_cpu" "$(fmt "$cpu" 1)"
    DETAILS+=("$proxy $scen: $line")
    log "$proxy $scen: $(kv "$line" per_s) handshakes/s ($(kv "$line" resumed_pct)% resumed, $(kv "$line" protocol)), proxy cpu $(kv "$line" cpu_us_per_hs) us/handshake, tls_load at $(kv "$line" load_cpu_pct)% of its core"
}

register_metric h2_rate "HTTP/2 req/s" h
register_metric h2_cpu "HTTP/2 proxy CPU µs/req" l
SCEN_METRICS[h2]="h2_rate h2_cpu"
# h2load over TLS (ALPN h2) on the `listen ... ssl http2` server: GET / proxied
# to the HTTP/1.1 backend through the keepalive pool, H2_STREAMS at once on
# each of H2_CONNS connections. The warm-up is a separate, unmeasured run.
scenario_h2() {
    local proxy=$1 url="https://127.0.0.1:$TLS_PORT/" pids
    local args=(-t1 -c"$H2_CONNS" -m"$H2_STREAMS")
    if [[ $WARMUP != 0 ]]; then
        spawn "h2load.warm.$proxy" "$LOAD_CPU" h2load "${args[@]}" -D"$WARMUP" "$url"
        wait "$SPAWNED"
    fi
    read -ra pids <<<"$(proc_tree "$PROXY_PID")"
    local c0 c1
    c0=$(cpu_ticks "${pids[@]}")
    spawn "h2load.$proxy" "$LOAD_CPU" h2load "${args[@]}" -D"$DURATION" "$url"
    wait "$SPAWNED"
    local rc=$?
    c1=$(cpu_ticks "${pids[@]}")
    local out="$WORK/logs/h2load.$proxy.out" done ok rps proto
    # "requests: 10 total, 10 started, 10 done, 10 succeeded, 0 failed, 0 errored, 0 timeout"
    done=$(awk '/^requests:/ {print $6; exit}' "$out")
    ok=$(awk '/^requests:/ {print $8; exit}' "$out")
    rps=$(awk '/^finished in/ {print $4; exit}' "$out")
    proto=$(awk '/^Application protocol:/ {print $3; exit}' "$out")
    if [[ $rc != 0 || -z $done || -z $rps || $proto != h2 ]]; then
        add_note "$proxy" "h2: h2load failed (exit $rc, protocol ${proto:-none})"
        FAILED_ANY=1
        cat "$out" "$WORK/logs/h2load.$proxy.err" >&2
        return 1
    fi
    [[ $ok != "$done" ]] && { add_note "$proxy" "h2: $((done - ok)) of $done requests failed"; FAILED_ANY=1; }
    set_result "$proxy" h2_rate "$(fmt "$rps" 0)"
    set_result "$proxy" h2_cpu "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$done" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
    DETAILS+=("$proxy h2: $(grep -E '^(finished in|requests:|status codes:)' "$out" | tr -s ' \n' ' ') proxy_cpu_ticks=$((c1 - c0))")
    log "$proxy h2: $rps req/s, proxy cpu $(( (c1 - c0) * 1000 / CLK_TCK )) ms for $done requests"
}

register_metric http_rate "HTTP req/s" h
register_metric http_p99 "HTTP p99 ms" l
register_metric http_cpu "HTTP proxy CPU µs/req" l
register_metric http_upconn "HTTP upstream conns /1k req" l
SCEN_METRICS[http]="http_rate http_p99 http_cpu http_upconn"
scenario_http() { run_wrk "$1" / http; }

register_metric http4_rate "HTTP 4-backend req/s" h
register_metric http4_p99 "HTTP 4-backend p99 ms" l
register_metric http4_cpu "HTTP 4-backend CPU µs/req" l
register_metric http4_upconn "HTTP 4-backend upstream conns /1k req" l
SCEN_METRICS[http4]="http4_rate http4_p99 http4_cpu http4_upconn"
scenario_http4() { run_wrk "$1" /b4/ http4; }

# Connections the HTTP backend has accepted so far (it prints STATS on SIGUSR1).
http_backend_accepted() {
    local out="$WORK/logs/http_backend.out" n0 n i
    n0=$(grep -c '^STATS ' "$out")
    kill_tracked USR1 "$HTTP_BE_PID"
    for ((i = 0; i < 50; i++)); do
        n=$(grep -c '^STATS ' "$out")
        if ((n > n0)); then
            kv "$(grep '^STATS ' "$out" | tail -n 1)" accepted
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# run_wrk PROXY PATH METRIC_PREFIX
run_wrk() {
    local proxy=$1 m=$3 url="http://127.0.0.1:$PROXY_PORT$2" pids
    # warmup (fills the upstream keepalive pool), not measured
    if [[ $WARMUP != 0 ]]; then
        spawn "wrk.warm.$m.$proxy" "$LOAD_CPU" wrk -t1 -c"$HTTP_CONNS" -d"${WARMUP}s" "$url"
        wait "$SPAWNED"
    fi
    read -ra pids <<<"$(proc_tree "$PROXY_PID")"
    local c0 c1 a0 a1
    a0=$(http_backend_accepted)
    c0=$(cpu_ticks "${pids[@]}")
    spawn "wrk.$m.$proxy" "$LOAD_CPU" wrk -t1 -c"$HTTP_CONNS" -d"${DURATION}s" --latency "$url"
    wait "$SPAWNED"
    local rc=$?
    c1=$(cpu_ticks "${pids[@]}")
    a1=$(http_backend_accepted)
    local out="$WORK/logs/wrk.$m.$proxy.out"
    local reqs rps p99 non2xx sockerr
    reqs=$(awk '/requests in/ {print $1; exit}' "$out")
    rps=$(awk '/^Requests\/sec:/ {print $2; exit}' "$out")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v; exit }' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF; exit}' "$out")
    sockerr=$(grep -m1 'Socket errors' "$out" || true)
    if [[ $rc != 0 || -z $reqs || -z $rps ]]; then
        add_note "$proxy" "$m: wrk failed (exit $rc)"
        FAILED_ANY=1
        cat "$out" "$WORK/logs/wrk.$m.$proxy.err" >&2
        return 1
    fi
    [[ -n $non2xx ]] && { add_note "$proxy" "$m: $non2xx non-2xx responses"; FAILED_ANY=1; }
    [[ -n $sockerr ]] && add_note "$proxy" "$m: wrk ${sockerr# }"
    set_result "$proxy" "${m}_rate" "$(fmt "$rps" 0)"
    [[ -n $p99 ]] && set_result "$proxy" "${m}_p99" "$(fmt "$p99" 2)"
    [[ -n $a0 && -n $a1 ]] && set_result "$proxy" "${m}_upconn" "$(fdiv $(( (a1 - a0) * 1000 )) "$reqs" 1)"
    set_result "$proxy" "${m}_cpu" "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
    DETAILS+=("$proxy $m: $(grep -E 'Latency|99%|requests in|Requests/sec|Socket|Non-2xx' "$out" | tr -s ' \n' ' ') proxy_cpu_ticks=$((c1 - c0)) upstream_conns_opened=$(( ${a1:-0} - ${a0:-0} ))")
    log "$proxy $m: $rps req/s, p99 ${p99:-?} ms, proxy cpu $(( (c1 - c0) * 1000 / CLK_TCK )) ms for $reqs requests, $(( ${a1:-0} - ${a0:-0} )) upstream connections opened"
}

register_metric idle_pss "Idle tunnel KiB (PSS)" l
register_metric idle_rss "Idle tunnel KiB (RSS)" l
SCEN_METRICS[idle]="idle_pss idle_rss"
SCEN_CPU_SENSITIVE[idle]=0  # memory only: CPU interference does not matter
scenario_idle() { run_idle_mem "$1" idle idle "$IDLE_CONNS" tunnels ws_load --port "$PROXY_PORT"; }

# run_idle_mem PROXY SCENARIO METRIC_PREFIX CONNS WHAT TOOL [TOOL options...]:
# memory (PSS, RSS) of all proxy processes before, with CONNS idle connections
# held open by "TOOL idle" (ws_load, tcp_load: it prints "READY n" once they
# are up and "FAILED k" if some are not, holds them until SIGUSR1) and after
# they are closed; the per-connection figures are the with-minus-before deltas
# divided by n. WHAT names the connections in notes and logs.
run_idle_mem() {
    local proxy=$1 scen=$2 m=$3 conns=$4 what=$5 tool=$6 pids m0 m1 m2
    shift 6
    sleep 0.5
    read -ra pids <<<"$(proc_tree "$PROXY_PID")"
    m0=$(mem_kb "${pids[@]}")
    local hold=$((conns / 100 + 90)) name="$tool.$scen.$proxy"
    spawn "$name" "$LOAD_CPU" "$BUILD_DIR/$tool" idle "$@" \
        --conns "$conns" --hold "$hold" --connect-timeout 60
    local lg=$SPAWNED out="$WORK/logs/$name.out" n="" i
    for ((i = 0; i < 900; i++)); do  # <= 90 s
        n=$(awk '$1 == "READY" { print $2; exit }' "$out" 2>/dev/null)
        [[ -n $n ]] && break
        kill -0 "$lg" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $n ]]; then
        add_note "$proxy" "$scen: $what never became ready"
        FAILED_ANY=1
        cat "$WORK/logs/$name.err" >&2
        stop_pids "$lg"
        return 1
    fi
    sleep 1  # let the proxy settle (deferred frees, lazy buffers)
    read -ra pids <<<"$(proc_tree "$PROXY_PID")"
    m1=$(mem_kb "${pids[@]}")
    kill_tracked USR1 "$lg"  # the tool closes all connections and exits
    wait "$lg"
    local rc=$?
    sleep 1
    read -ra pids <<<"$(proc_tree "$PROXY_PID")"
    m2=$(mem_kb "${pids[@]}")
    cat "$WORK/logs/$name.err" >&2
    local failed
    failed=$(awk '$1 == "FAILED" { print $2; exit }' "$out")
    if [[ -n $failed || $rc != 0 ]]; then
        add_note "$proxy" "$scen: only $n of $conns $what established ($tool exit $rc)"
        FAILED_ANY=1
    fi
    if [[ $n -gt 0 ]]; then
        local p0 r0 p1 r1 p2 r2
        read -r p0 r0 <<<"$m0"
        read -r p1 r1 <<<"$m1"
        read -r p2 r2 <<<"$m2"
        set_result "$proxy" "${m}_pss" "$(fdiv $((p1 - p0)) "$n" 2)"
        set_result "$proxy" "${m}_rss" "$(fdiv $((r1 - r0)) "$n" 2)"
        DETAILS+=("$proxy $scen: $n $what; PSS KiB before=$p0 with_$what=$p1 after_close=$p2; RSS KiB before=$r0 with_$what=$r1 after_close=$r2")
        log "$proxy $scen: $n $what, PSS $p0 -> $p1 KiB (after close $p2), RSS $r0 -> $r1 KiB"
    fi
}

register_metric tcpt_rate "TCP MB/s" h
register_metric tcpt_cpu "TCP proxy CPU µs/MB" l
SCEN_METRICS[tcp_tput]="tcpt_rate tcpt_cpu"
scenario_tcp_tput() { run_tcp_load "$1" tcp_tput tcpt tput --conns "$TCP_TPUT_CONNS"; }

register_metric tcpc_rate "TCP conn/s" h
register_metric tcpc_cpu "TCP proxy CPU µs/conn" l
SCEN_METRICS[tcp_conn]="tcpc_rate tcpc_cpu"
scenario_tcp_conn() { run_tcp_load "$1" tcp_conn tcpc conn --conns "$TCP_CONN_CONNS"; }

register_metric tcpi_pss "TCP idle PSS KiB/conn" l
register_metric tcpi_rss "TCP idle RSS KiB/conn" l
SCEN_METRICS[tcp_idle]="tcpi_pss tcpi_rss"
SCEN_CPU_SENSITIVE[tcp_idle]=0  # memory only, as idle
# TCP_IDLE_CONNS idle sessions through the stream server (tcp_load idle: each
# echoes one byte through tcp_backend first). Not for "direct" (main skips it).
scenario_tcp_idle() {
    run_idle_mem "$1" tcp_idle tcpi "$TCP_IDLE_CONNS" sessions tcp_load --port "$STREAM_PORT"
}

# run_tcp_load PROXY SCENARIO METRIC_PREFIX MODE [tcp_load options...]: tcp_load
# through the stream server, or with the pseudo-proxy "direct" straight to
# tcp_backend (no proxy CPU to watch).
run_tcp_load() {
    local proxy=$1 scen=$2 m=$3 mode=$4 port=$STREAM_PORT watch=() pids
    shift 4
    if [[ $proxy == direct ]]; then
        port=$TCP_BE_PORT
    else
        pids=$(proc_tree "$PROXY_PID")
        watch=(--watch-pids "${pids// /,}")
    fi
    local log="$WORK/logs/tcp_load.$scen.$proxy"
    spawn "tcp_load.$scen.$proxy" "$LOAD_CPU" "$BUILD_DIR/tcp_load" "$mode" --port "$port" \
        --duration "$DURATION" --warmup "$WARMUP" "${watch[@]}" "$@"
    wait "$SPAWNED"
    local rc=$? line
    line=$(grep '^RESULT ' "$log.out" | tail -n 1)
    cat "$log.err" >&2
    local rate=per_s cpu_key=cpu_us_per_conn
    [[ $mode == tput ]] && rate=mb_per_s cpu_key=cpu_us_per_mb
    if [[ -z $line || $(kv "$line" ok) != 1 ]]; then
        add_note "$proxy" "$scen failed (tcp_load exit $rc, $(kv "$line" errors || echo '?') errors; see log above)"
        FAILED_ANY=1
        [[ -z $line || -z $(kv "$line" "$rate") ]] && return 1
    fi
    set_result "$proxy" "${m}_rate" "$(fmt "$(kv "$line" "$rate")" 0)"
    local cpu
    cpu=$(kv "$line" "$cpu_key") && set_result "$proxy" "${m}_cpu" "$(fmt "$cpu" 1)"
    DETAILS+=("$proxy $scen: $line")
    if [[ $mode == tput ]]; then
        log "$proxy $scen: $(kv "$line" rx_mb_per_s) MB/s back to the client, $(kv "$line" tx_mb_per_s) MB/s sent, proxy cpu ${cpu:-n/a} us/MB ($(kv "$line" cpu_pct || echo n/a)% of its core), tcp_load at $(kv "$line" load_cpu_pct)% of its core"
    else
        log "$proxy $scen: $(kv "$line" per_s) connections/s, proxy cpu ${cpu:-n/a} us/connection ($(kv "$line" cpu_pct || echo n/a)% of its core), tcp_load at $(kv "$line" load_cpu_pct)% of its core"
    fi
}

# foreign_pct CORE_BUSY_TICKS OUR_TICKS ELAPSED_NS -> % of the core used by others
foreign_pct() {
    awk -v b="$1" -v p="$2" -v ns="$3" -v hz="$CLK_TCK" \
        'BEGIN { f = (b - p) / (ns / 1e9 * hz) * 100; if (f < 0) f = 0; printf "%.0f", f }'
}

# run_one PROXY SCENARIO REP: fresh proxy, one scenario, interference check.
# An attempt during which other processes took >= NOISE_LIMIT % of the proxy
# core is discarded and retried (at most NOISY_RETRIES times).
run_one() {
    local proxy=$1 scen=$2 rep=$3 attempt ppids b0 p0 t0 b1 p1 t1 l0 l1 lb0 lb1 foreign foreign1 tag=""
    ((REPEAT > 1)) && tag=" (run $rep/$REPEAT)"
    for ((attempt = 0; attempt <= NOISY_RETRIES; attempt++)); do
        CUR_SCEN=$scen
        RES_CUR=()
        log "=== $proxy: $scen$tag$( ((attempt > 0)) && echo " retry $attempt")"
        # a fresh proxy per scenario: scenarios do not see each other's state
        # ("direct" has none: everything on the proxy core is someone else's)
        if [[ $proxy != direct ]] && ! start_proxy "$proxy"; then
            add_note "$proxy" "$scen: proxy failed to start or serve"
            FAILED_ANY=1
            stop_proxy
            return 1
        fi
        # interference: CPU time on the proxy core not used by the proxy
        ppids=()
        [[ -n $PROXY_PID ]] && read -ra ppids <<<"$(proc_tree "$PROXY_PID")"
        # and on the load core: its busy time minus backends + driver + children
        b0=$(core_busy "$PROXY_CPU"); p0=$(cpu_ticks "${ppids[@]}")
        lb0=$(core_busy "$LOAD_CPU"); l0=$(load_side_ticks); t0=$(date +%s%N)
        "scenario_$scen" "$proxy"
        b1=$(core_busy "$PROXY_CPU"); p1=$(cpu_ticks "${ppids[@]}")
        lb1=$(core_busy "$LOAD_CPU"); l1=$(load_side_ticks); t1=$(date +%s%N)
        local died=0
        if [[ -n $PROXY_PID ]]; then
            proxy_alive_or_note "$proxy" || died=1
            stop_proxy
        fi
        foreign=$(foreign_pct $((b1 - b0)) $((p1 - p0)) $((t1 - t0)))
        foreign1=$(foreign_pct $((lb1 - lb0)) $((l1 - l0)) $((t1 - t0)))
        ((PROXY_CPU == LOAD_CPU)) && foreign1=0
        local sensitive=${SCEN_CPU_SENSITIVE[$scen]:-1} noise="other processes used $foreign% of the proxy core (cpu$PROXY_CPU) and $foreign1% of the load core (cpu$LOAD_CPU)"
        if [[ $proxy == direct ]]; then  # nothing of ours on the proxy core: only the load core counts
            noise="other processes used $foreign1% of the load core (cpu$LOAD_CPU) (and $foreign% of the unused proxy core)"
            foreign=0
        fi
        if ((!died && sensitive && (foreign >= NOISE_LIMIT || foreign1 >= NOISE_LIMIT) && attempt < NOISY_RETRIES)); then
            log "WARNING: $proxy $scen: $noise: discarding, retrying"
            DETAILS+=("$proxy $scen$tag: attempt discarded, $noise")
            sleep 2
            continue
        fi
        DETAILS+=("$proxy $scen$tag: $noise")
        if ((!died && sensitive && (foreign >= 5 || foreign1 >= 5))); then
            add_note "$proxy" "$scen$tag: $noise (noisy)"
            log "WARNING: $proxy $scen: $noise"
        fi
        local k
        for k in "${!RES_CUR[@]}"; do RALL[$k]+="${RES_CUR[$k]} "; done
        return 0
    done
}

# ------------------------------------------------------------------ main
# install_pkg PACKAGE MISSING: apt-get installs PACKAGE as root; otherwise dies
# with "MISSING with: apt-get install -y PACKAGE".
install_pkg() {
    [[ $(id -u) == 0 ]] || die "$2 with: apt-get install -y $1"
    log "installing $1 ..."
    apt-get install -y "$1" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y "$1" >/dev/null 2>&1; } ||
        die "could not install $1"
}

ensure_pkg() {  # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    install_pkg "$2" "$1 is missing; install it"
}

# tool_stale TOOL: its binary is missing or older than its source or a bench header.
tool_stale() {
    local bin=$BUILD_DIR/$1 h
    [[ ! -x $bin || $BENCH_DIR/$1.cpp -nt $bin ]] && return 0
    for h in "$BENCH_DIR"/*.h; do [[ $h -nt $bin ]] && return 0; done
    return 1
}

build_tools() {
    mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
    local t
    for t in ws_load ws_echo_backend http_backend tls_load tcp_load tcp_backend; do
        if tool_stale "$t"; then
            log "building $t"
            local libs=()
            # OpenSSL clients (wss://, TLS); tcp_load includes load_client.h too
            [[ $t == ws_load || $t == tls_load || $t == tcp_load ]] && libs=(-lssl -lcrypto)
            g++ -std=c++20 -O2 -Wall -Wextra -Werror -o "$BUILD_DIR/$t.tmp" "$BENCH_DIR/$t.cpp" "${libs[@]}" ||
                die "build of $t failed"
            mv "$BUILD_DIR/$t.tmp" "$BUILD_DIR/$t"
        fi
        "$BUILD_DIR/$t" --selftest >/dev/null 2>&1 || [[ $t == http_backend ]] || die "$t self-test failed"
    done
}

# RSA-2048 self-signed certificate for the TLS server (CN and SAN localhost,
# 127.0.0.1): cert.pem + key.pem for nginx/switchyard, combined.pem for HAProxy.
make_cert() {
    local d="$WORK/tls"
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$d/key.pem" -out "$d/cert.pem" >"$WORK/logs/openssl.out" 2>&1 ||
        die "certificate generation failed: $(cat "$WORK/logs/openssl.out")"
    cat "$d/cert.pem" "$d/key.pem" >"$d/combined.pem"
}

# Busy percentage of each core over 1 s (other users of the machine).
background_load() {
    local a b
    a=$(grep '^cpu[0-9]' /proc/stat)
    sleep 1
    b=$(grep '^cpu[0-9]' /proc/stat)
    paste <(echo "$a") <(echo "$b") | awk '{
        n = (NF) / 2; bi = 0; bt = 0; ai = 0; at = 0
        for (i = 2; i <= n; i++) { at += $i; if (i == 5 || i == 6) ai += $i }
        for (i = n + 2; i <= NF; i++) { bt += $i; if (i == n + 5 || i == n + 6) bi += $i }
        dt = bt - at; busy = dt > 0 ? 100 * (1 - (bi - ai) / dt) : 0
        printf "%s %.0f%%  ", $1, busy }'
}

versions() {
    local vers=() p
    for p in $PROXIES; do
        case $p in
            nginx) [[ -x $NGINX_BIN ]] && vers+=("$("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //')") ;;
            haproxy) [[ -x $HAPROXY_BIN ]] && vers+=("$("$HAPROXY_BIN" -v 2>/dev/null | awk 'NR == 1 {print "HAProxy " $3}')") ;;
            switchyard)
                if [[ -x $SWITCHYARD_BIN ]]; then
                    vers+=("switchyard $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')$([[ $SWITCHYARD_BIN != "$ROOT/build/switchyard" ]] && echo " (tree; binary $SWITCHYARD_BIN of $(date -u -r "$SWITCHYARD_BIN" '+%F %H:%M UTC'))")")
                else
                    vers+=("switchyard not built")
                fi ;;
        esac
    done
    local IFS=,
    echo "${vers[*]}" | sed 's/,/, /g'
}

main() {
    [[ $(uname -s) == Linux ]] || die "Linux only"
    local var
    for var in DURATION WARMUP CONNS MSG_SIZE HTTP_CONNS HTTP_BODY IDLE_CONNS TLS_CONNS H2_CONNS H2_STREAMS TCP_TPUT_CONNS TCP_CONN_CONNS TCP_IDLE_CONNS BASE_PORT PROXY_CPU LOAD_CPU REPEAT NOISE_LIMIT NOISY_RETRIES; do
        [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a whole number (got '${!var}')"
    done
    ((DURATION >= 1 && CONNS >= 1 && IDLE_CONNS >= 1 && TLS_CONNS >= 1 && TCP_TPUT_CONNS >= 1 && TCP_CONN_CONNS >= 1 && TCP_IDLE_CONNS >= 1 && REPEAT >= 1)) ||
        die "DURATION, CONNS, IDLE_CONNS, TLS_CONNS, TCP_TPUT_CONNS, TCP_CONN_CONNS, TCP_IDLE_CONNS and REPEAT must be >= 1"
    [[ $TLS_VERSION == 1.3 || $TLS_VERSION == 1.2 ]] || die "TLS_VERSION must be 1.3 or 1.2 (got '$TLS_VERSION')"
    NCPU=$(getconf _NPROCESSORS_ONLN)
    if ((NCPU < 2)); then
        log "WARNING: only $NCPU CPU; proxy and load share it"
        PROXY_CPU=0; LOAD_CPU=0
    fi
    # fd limits: the proxy needs 2 per tunnel or stream session; raise the soft
    # limit to the hard one (tcp_backend and the load tools need 1 per connection)
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    local need=$((2 * IDLE_MAX + 2 * CONNS + 200)) have
    have=$(ulimit -n)
    if [[ $have != unlimited && $have -lt $need ]]; then
        die "ulimit -n is $have but IDLE_CONNS=$IDLE_CONNS / TCP_IDLE_CONNS=$TCP_IDLE_CONNS need about $need; lower them"
    fi

    # pin this driver (and so wrk, curl, helpers) away from the proxy core
    taskset -pc "$LOAD_CPU" $$ >/dev/null || die "taskset failed"

    ensure_pkg wrk wrk
    [[ " $SCENARIOS " == *" h2 "* ]] && ensure_pkg h2load nghttp2-client
    ensure_pkg curl curl
    ensure_pkg ss iproute2
    ensure_pkg openssl openssl
    # ws_load and tls_load link OpenSSL
    [[ -e /usr/include/openssl/ssl.h ]] || install_pkg libssl-dev "OpenSSL headers are missing; install them"
    [[ " $PROXIES " == *" haproxy "* ]] && ensure_pkg "$HAPROXY_BIN" haproxy
    [[ " $PROXIES " == *" nginx "* ]] && ensure_pkg "$NGINX_BIN" nginx
    # Debian's nginx has stream {} as a dynamic module, in its own package
    if stream_selected && [[ " $PROXIES " == *" nginx "* && ! -e $NGINX_STREAM_MODULE ]]; then
        install_pkg libnginx-mod-stream "nginx's stream module ($NGINX_STREAM_MODULE) is missing; install it"
        [[ -e $NGINX_STREAM_MODULE ]] || die "libnginx-mod-stream is installed but $NGINX_STREAM_MODULE is not there (set NGINX_STREAM_MODULE)"
    fi

    local p
    local ports="$PROXY_PORT $TLS_PORT $WS_PORT $((BASE_PORT + 11)) $((BASE_PORT + 12)) $((BASE_PORT + 13)) $((BASE_PORT + 14))"
    stream_selected && ports+=" $STREAM_PORT $TCP_BE_PORT"
    for p in $ports; do
        port_busy "$p" && die "port $p is in use (set BASE_PORT to move all ports)"
    done

    WORK=$(mktemp -d /tmp/switchyard-bench.XXXXXX)
    mkdir -p "$WORK/logs"
    build_tools

    local bg
    bg=$(background_load)
    log "background CPU use before start: $bg"
    if awk -v s="$bg" 'BEGIN { n = split(s, f, " "); for (i = 2; i <= n; i += 2) { sub(/%/, "", f[i]); if (f[i] + 0 > 15) exit 0 } exit 1 }'; then
        log "WARNING: other processes are using the CPUs; results will be noisy (see README caveats)"
    fi

    tls_selected && make_cert
    write_nginx_conf "$WORK/nginx.conf"
    write_haproxy_cfg "$WORK/haproxy.cfg"

    # backends: pinned with the load generators, lifetime-bounded themselves
    local life=$((600 + 4 * DURATION * 6))
    spawn ws_echo_backend "$LOAD_CPU" "$BUILD_DIR/ws_echo_backend" -p "$WS_PORT" -T "$life" -c $((IDLE_CONNS + CONNS + 100))
    local ws_be=$SPAWNED
    WS_BE_PID=$SPAWNED
    local hports=$HTTP_PORT
    [[ " $SCENARIOS " == *" http4 "* ]] && hports=$HTTP4_PORTS
    spawn http_backend "$LOAD_CPU" "$BUILD_DIR/http_backend" -p "$hports" -b "$HTTP_BODY" -T "$life"
    local http_be=$SPAWNED
    HTTP_BE_PID=$SPAWNED
    wait_port "$WS_PORT" "$ws_be" 5 || die "ws_echo_backend did not start: $(cat "$WORK/logs/ws_echo_backend.err")"
    wait_port "$HTTP_PORT" "$http_be" 5 || die "http_backend did not start: $(cat "$WORK/logs/http_backend.err")"
    if stream_selected; then
        spawn tcp_backend "$LOAD_CPU" "$BUILD_DIR/tcp_backend" -p "$TCP_BE_PORT" -T "$life"
        TCP_BE_PID=$SPAWNED
        wait_port "$TCP_BE_PORT" "$TCP_BE_PID" 5 || die "tcp_backend did not start: $(cat "$WORK/logs/tcp_backend.err")"
    fi

    DETAILS=()
    local ran=() proxy scen r
    for proxy in $PROXIES; do
        case $proxy in
            switchyard)
                if [[ ! -x $SWITCHYARD_BIN ]]; then
                    log "switchyard: skipped ($SWITCHYARD_BIN not found; build it first)"
                    skipped+=("switchyard")
                    NOTE[switchyard]="skipped: ${SWITCHYARD_BIN#"$ROOT"/} not found"
                    continue
                fi ;;
            nginx) [[ -x $NGINX_BIN ]] || { skipped+=(nginx); NOTE[nginx]="skipped: $NGINX_BIN not found"; continue; } ;;
            haproxy) [[ -x $HAPROXY_BIN ]] || { skipped+=(haproxy); NOTE[haproxy]="skipped: $HAPROXY_BIN not found"; continue; } ;;
            direct)
                local others=""
                for scen in $SCENARIOS; do [[ " $DIRECT_SCENARIOS " == *" $scen "* ]] || others+=" $scen"; done
                [[ -n $others ]] && add_note direct "no proxy: runs only $DIRECT_SCENARIOS, not$others"
                direct_selected || { log "direct: none of $DIRECT_SCENARIOS selected, nothing to run"; continue; } ;;
            *) die "unknown proxy '$proxy' (nginx, haproxy, switchyard, direct)" ;;
        esac
        ran+=("$proxy")
    done
    for scen in $SCENARIOS; do
        declare -F "scenario_$scen" >/dev/null || die "unknown scenario '$scen'"
    done
    # Scenario-major order: the proxies run one scenario back to back, so a
    # drift in background load hits them alike.
    for ((r = 1; r <= REPEAT; r++)); do
        for scen in $SCENARIOS; do
            for proxy in "${ran[@]}"; do
                [[ $proxy == direct && " $DIRECT_SCENARIOS " != *" $scen "* ]] && continue
                run_one "$proxy" "$scen" "$r"
            done
        done
    done
    CUR_SCEN=""
    # with REPEAT > 1 each figure is the median of its runs
    local k
    for k in "${!RALL[@]}"; do
        R[$k]=$(tr ' ' '\n' <<<"${RALL[$k]}" | grep . | sort -g |
            awk '{ v[NR] = $1; if (!d) d = (i = index($1, ".")) ? length($1) - i : 0 }
                 END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.*f", d, m }')
    done

    # ------------------------------------------------------------ report
    local metrics=() m
    for m in "${METRIC_ORDER[@]}"; do
        for scen in $SCENARIOS; do
            [[ " ${SCEN_METRICS[$scen]:-} " == *" $m "* ]] && metrics+=("$m")
        done
    done
    local md="$WORK/latest.md"
    {
        echo "# switchyard benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "- machine: $NCPU cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
        echo "- pinning: proxy (1 worker / 1 thread) on cpu$PROXY_CPU; backends, load generators and driver on cpu$LOAD_CPU"
        echo "- params: DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS MSG_SIZE=${MSG_SIZE}B HTTP_CONNS=$HTTP_CONNS HTTP_BODY=${HTTP_BODY}B IDLE_CONNS=$IDLE_CONNS$(tls_selected && echo " TLS_CONNS=$TLS_CONNS TLS_VERSION=$TLS_VERSION")$([[ " $SCENARIOS " == *" h2 "* ]] && echo " H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS")$(stream_selected && echo " TCP_TPUT_CONNS=$TCP_TPUT_CONNS TCP_CONN_CONNS=$TCP_CONN_CONNS")$([[ " $SCENARIOS " == *" tcp_idle "* ]] && echo " TCP_IDLE_CONNS=$TCP_IDLE_CONNS") REPEAT=$REPEAT$( ((REPEAT > 1)) && echo ' (medians)')"
        tls_selected && echo "- TLS: RSA-2048 self-signed certificate; clients offer TLS 1.2 up to $TLS_VERSION; $(openssl version | awk '{print $1, $2}') on the client side"
        [[ " $PROXIES " == *" direct "* ]] && direct_selected && echo "- direct: no proxy, tcp_load straight to tcp_backend (both on cpu$LOAD_CPU): the ceiling of the load side; no proxy CPU (n/a)"
        echo "- versions: $(versions)"
        echo "- background CPU use before the run: $bg"
        echo
        local hdr="| proxy |" sep="|---|"
        for m in "${metrics[@]}"; do hdr+=" ${METRIC_HDR[$m]} |"; sep+="---:|"; done
        echo "$hdr"
        echo "$sep"
        local -A best=() nval=()
        for m in "${metrics[@]}"; do
            for proxy in $PROXIES; do
                local v=${R["$proxy|$m"]:-}
                [[ -z $v || $proxy == direct ]] && continue  # the ceiling, not a contender
                nval[$m]=$(( ${nval[$m]:-0} + 1 ))
                if [[ -z ${best[$m]:-} ]] || awk -v a="$v" -v b="${best[$m]}" -v d="${METRIC_DIR[$m]}" \
                    'BEGIN { exit !((d == "h") ? a > b : a < b) }'; then
                    best[$m]=$v
                fi
            done
        done
        for proxy in $PROXIES; do
            local row="| $proxy |"
            local first=1
            for m in "${metrics[@]}"; do
                local v=${R["$proxy|$m"]:-—}
                [[ $proxy == direct && $v == — ]] && v="n/a"
                [[ $first == 1 && " ${skipped[*]} " == *" $proxy "* ]] && v="skipped"
                first=0
                [[ $proxy != direct && $v == "${best[$m]:-}" && ${nval[$m]:-0} -ge 2 ]] && v="**$v**"
                row+=" $v |"
            done
            echo "$row"
        done
        echo
        local pair a b have_ratio=0
        for pair in $RATIOS; do
            a=${pair%/*}; b=${pair#*/}
            local row="| $a / $b |"
            for m in "${metrics[@]}"; do
                if [[ -n ${R["$a|$m"]:-} && -n ${R["$b|$m"]:-} ]]; then
                    row+=" $(fdiv "${R["$a|$m"]}" "${R["$b|$m"]}" 2) |"
                    have_ratio=1
                else
                    row+=" n/a |"
                fi
            done
            RATIO_ROWS+=("$row")
        done
        echo "Ratios (msg/s, req/s, handshakes/s, MB/s and conn/s: higher is better; latency, CPU and memory: lower is better):"
        echo
        echo "$hdr" | sed 's/^| proxy |/| ratio |/'
        echo "$sep"
        printf '%s\n' "${RATIO_ROWS[@]}"
        [[ $have_ratio == 0 ]] && echo && echo "(no ratio computed: a proxy of each pair did not run)"
        echo
        local any_note=0
        for proxy in $PROXIES; do
            if [[ -n ${NOTE[$proxy]:-} ]]; then
                [[ $any_note == 0 ]] && echo "Notes:" && echo
                any_note=1
                echo "- $proxy: ${NOTE[$proxy]}"
            fi
        done
        [[ $any_note == 1 ]] && echo
        echo "Column meanings: bench/README.md. Noise between runs is about ±20%: compare proxies within one run."
        echo
        echo "<details><summary>raw figures</summary>"
        echo
        echo '```'
        printf '%s\n' "${DETAILS[@]}"
        echo '```'
        echo
        echo "nginx.conf (identical for nginx and switchyard):"
        echo
        echo '```nginx'
        cat "$WORK/nginx.conf"
        echo '```'
        echo
        echo "haproxy.cfg:"
        echo
        echo '```'
        cat "$WORK/haproxy.cfg"
        echo '```'
        echo
        echo "</details>"
    } >"$md"
    mkdir -p "$(dirname "$RESULTS")"
    cp "$md" "$RESULTS"
    echo
    sed '/^<details>/,$d' "$md"
    log "written to $RESULTS"
    [[ ${#ran[@]} -gt 0 ]] || die "no proxy was run"
    if ((FAILED_ANY)); then
        log "some scenarios failed (see Notes above); exit status 1"
        return 1
    fi
    return 0
}

RATIO_ROWS=()
skipped=()
HTTP_BE_PID=""
WS_BE_PID=""
TCP_BE_PID=""
CUR_SCEN=""
NCPU=2
main "$@"
exit $?

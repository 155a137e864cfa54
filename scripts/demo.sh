#!/usr/bin/env bash
# One-command demo: the WebSocket chat backend plus switchyard in front of it.
#
#   scripts/demo.sh                          # uses build/switchyard
#   SY_BIN=/usr/sbin/nginx scripts/demo.sh   # same config under nginx
#
# Then open http://127.0.0.1:8080/ . Ctrl-C stops both processes.
#
# Environment:
#   SY_BIN   proxy binary (default: build/switchyard). Any binary with nginx's
#            command line works: -p PREFIX -c FILE -e ERRLOG -g DIRECTIVES -t
#   PYTHON   interpreter for the backend (default: the first of
#            /usr/bin/python3 and python3 that can `import websockets`)
# shellcheck disable=SC2317  # cleanup/on_signal are only reached through traps
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SY_BIN="${SY_BIN:-$REPO/build/switchyard}"
CONF="conf/switchyard.conf"          # relative to the prefix, like nginx's -c
BACKEND_PORT=9001                    # must match `upstream chat_backend` in $CONF
PROXY_PORT=8080                      # must match `listen` in $CONF

die() { echo "demo: $*" >&2; exit 1; }
say() { echo "demo: $*"; }

# Is something accepting TCP connections on 127.0.0.1:$1?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- preflight ---------------------------------------------------------------
if [[ ! -x "$SY_BIN" ]]; then
    if [[ "$SY_BIN" == "$REPO/build/switchyard" ]]; then
        die "build/switchyard not found. Build it first:
    cmake -S . -B build && cmake --build build -j
or try the same config with nginx:  SY_BIN=/usr/sbin/nginx scripts/demo.sh"
    fi
    die "SY_BIN=$SY_BIN is not an executable file"
fi

PY=""
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import websockets' 2>/dev/null; then
        PY="$cand"
        break
    fi
done
[[ -n "$PY" ]] || die "no python3 with the 'websockets' module (Debian: apt-get install python3-websockets)"

port_open "$BACKEND_PORT" && die "port $BACKEND_PORT is already in use (an old backend still running?)"
port_open "$PROXY_PORT" && die "port $PROXY_PORT is already in use (an old proxy still running?)"

cd "$REPO"
mkdir -p logs
PROXY_ARGS=(-p "$REPO/" -c "$CONF" -e "$REPO/logs/error.log")

if ! out="$("$SY_BIN" "${PROXY_ARGS[@]}" -t 2>&1)"; then
    echo "$out" >&2
    die "configuration test failed: $SY_BIN -p $REPO/ -c $CONF -t"
fi

# ---- processes (only these two pids are ever signalled) ----------------------
backend_pid=""
proxy_pid=""

stop_pid() {  # stop_pid PID NAME: TERM, wait up to 5 s, then KILL
    local pid="$1" name="$2" i
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) did not stop, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    trap - EXIT INT TERM
    stop_pid "$proxy_pid" "proxy"
    stop_pid "$backend_pid" "backend"
}
trap cleanup EXIT
on_signal() {
    # Ctrl-C / kill: once the proxy runs, ask it to stop and let the main
    # `wait` below collect it; before that, just exit (cleanup runs on EXIT).
    say "stopping"
    if [[ -n "$proxy_pid" ]]; then
        kill -TERM "$proxy_pid" 2>/dev/null || true
    else
        exit 130
    fi
}
trap on_signal INT TERM

say "starting backend: $PY examples/chat_backend.py $BACKEND_PORT"
"$PY" examples/chat_backend.py "$BACKEND_PORT" &
backend_pid=$!

for ((i = 0; i < 100; i++)); do        # up to ~10 s
    port_open "$BACKEND_PORT" && break
    kill -0 "$backend_pid" 2>/dev/null || die "backend exited during startup"
    sleep 0.1
done
port_open "$BACKEND_PORT" || die "backend did not accept connections on 127.0.0.1:$BACKEND_PORT within 10 s"

echo
echo "    Open http://127.0.0.1:$PROXY_PORT/"
echo
say "proxy: $SY_BIN ${PROXY_ARGS[*]} -g 'daemon off;'"
say "logs:  logs/access.log logs/error.log    (Ctrl-C to stop)"

"$SY_BIN" "${PROXY_ARGS[@]}" -g "daemon off;" &
proxy_pid=$!

# `wait` returns early when a trapped signal arrives; keep waiting until the
# proxy has really exited and report its status.
rc=0
wait "$proxy_pid" || rc=$?
while kill -0 "$proxy_pid" 2>/dev/null; do
    rc=0
    wait "$proxy_pid" || rc=$?
done
proxy_pid=""
say "proxy exited with status $rc"
exit "$rc"

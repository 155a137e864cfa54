#!/usr/bin/env bash
# Installs what switchyard needs to build and test on Debian 12, only if missing.
# Usage: scripts/install-deps.sh [build|test]   (test adds the test/bench peers)
set -euo pipefail
mode=${1:-build}

build_pkgs=(build-essential cmake ninja-build pkg-config libssl-dev libpcre2-dev libfmt-dev libc-ares-dev libnghttp2-dev
            python3 python3-websockets curl)
test_pkgs=(libgtest-dev libbenchmark-dev clang libclang-rt-14-dev python3-pytest nginx libnginx-mod-stream openssl chromium nghttp2-client python3-h2 iproute2 libio-socket-ssl-perl libnet-ssleay-perl libprotocol-websocket-perl)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
# Debian's nginx package would start a system nginx on port 80; we only need
# the binary as a reference, so keep its service from starting.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
fi
trap '[ $made_policy = 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

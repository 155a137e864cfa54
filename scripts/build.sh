#!/usr/bin/env bash
# Builds one configuration: scripts/build.sh [release|asan|fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
    release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSY_SANITIZE=ON) ;;
    fuzz)    dir=build-fuzz; flags=(-DCMAKE_BUILD_TYPE=Debug -DSY_FUZZ=ON -DSY_TESTS=OFF
                                    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
    *) echo "unknown build kind: $kind" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DSY_WERROR=ON "${flags[@]}" >/dev/null
ninja -C "$dir"

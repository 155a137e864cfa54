#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to every test: unit tests and
# integration tests on a release build and on an ASan+UBSan build, and a
# short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
PY=/usr/bin/python3
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

scripts/build.sh release
scripts/build.sh asan
scripts/build.sh fuzz

status=0
echo "== unit tests (release)"
build/sy_unit_tests --gtest_brief=1 || status=1
echo "== unit tests (asan+ubsan)"
build-asan/sy_unit_tests --gtest_brief=1 || status=1

echo "== fuzz (${FUZZ_SECONDS}s each)"
for f in build-fuzz/fuzz_*; do
    name=$(basename "$f")
    corpus=fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    if ! "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 "$work" > "$work.log" 2>&1; then
        echo "fuzz target $name failed:"; tail -40 "$work.log"; status=1
    else
        grep -E "^#[0-9]+.*(DONE|pulse)" "$work.log" | tail -1
    fi
    rm -rf "$work" "$work.log"
done

echo "== integration tests (release binary, reference nginx alongside)"
SY_BINARY=$PWD/build/switchyard SY_IMPLS=switchyard,nginx $PY -m pytest tests/integration -q -p no:cacheprovider || status=1
echo "== integration tests (asan+ubsan binary)"
# A 16 MB quarantine (ASan's default is 256 MB): freed memory is still held
# back long enough to catch a use after free, and the tests that bound the
# proxy's RSS (64 MB uploads over HTTP/2) measure the proxy, not ASan.
ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16} \
SY_BINARY=$PWD/build-asan/switchyard SY_IMPLS=switchyard $PY -m pytest tests/integration -q -p no:cacheprovider || status=1
exit $status

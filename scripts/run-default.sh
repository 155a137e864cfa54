#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running switchyard on its
# bundled default config: http://127.0.0.1:8080/ (demo page + WebSocket chat).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh release
exec scripts/demo.sh

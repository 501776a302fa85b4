#!/usr/bin/env bash
# The README's first command: installs the dependencies, builds llmgate and
# starts it in the foreground on its embedded default config (port $PORT,
# default 8080). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build
exec ./build/llmgate "$@"

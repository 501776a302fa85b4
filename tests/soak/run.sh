#!/usr/bin/env bash
# Soak test: mixed streaming and non-streaming load with injected upstream
# faults against llmgate for SECONDS (default 1800), checking that memory
# stays flat (summed PSS of the master and workers within 10% of its value
# after the warm-up), that no error but the injected ones happens, that no
# worker restarts, that SIGTERM still drains, and (on a sanitizer build) that
# no sanitizer report appears. The last line is `N passed, N failed`.
# See docs/operations.md, "Soak test".
#
#   bash tests/soak/run.sh [SECONDS]
#   BUILD_DIR=build              the build to test (llmgate and tests/mock/llmgate-mock)
#   LLMGATE_SOAK_OUT=DIR         where the report goes (default: a new /tmp/llmgate-soak-XXXX)
#   LLMGATE_SOAK_STREAMS=8       concurrent client loops (streams, non-stream, faults)
#   LLMGATE_SOAK_ATTACKS=1       attacks beside the traffic (0: none; docs/operations.md)
#   LLMGATE_SOAK_RPS=25          h2load requests per second per connection (2 connections, h1 and h2c)
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-1800}
BUILD_DIR=${BUILD_DIR:-build}
OUT=${LLMGATE_SOAK_OUT:-$(mktemp -d /tmp/llmgate-soak-XXXXXX)}
mkdir -p "$OUT/sanitizer"

fail() {
    echo "soak: $1" >&2
    echo "0 passed, 1 failed"
    exit 1
}
for tool in node h2load; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ -x "$BUILD_DIR/llmgate" ] || fail "$BUILD_DIR/llmgate not found (build it: meson setup $BUILD_DIR && ninja -C $BUILD_DIR)"
[ -x "$BUILD_DIR/tests/mock/llmgate-mock" ] || fail "$BUILD_DIR/tests/mock/llmgate-mock not found"

# a sanitizer build writes its reports here (one file per process that
# reported); a normal build ignores these variables. The quarantine is kept
# small so that ASan's own memory does not look like a leak in the PSS check.
export ASAN_OPTIONS="log_path=$OUT/sanitizer/asan:detect_leaks=1:quarantine_size_mb=16"
export UBSAN_OPTIONS="log_path=$OUT/sanitizer/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export LLMGATE_SOAK_SANITIZER_DIR="$OUT/sanitizer"
export LLMGATE_BIN="$PWD/$BUILD_DIR/llmgate"
export LLMGATE_MOCK_BIN="$PWD/$BUILD_DIR/tests/mock/llmgate-mock"

echo "soak: $SECS s against $BUILD_DIR, report in $OUT"
node tests/soak/soak.mjs "$SECS" "$OUT" 2>&1 | tee "$OUT/soak.log"
status=${PIPESTATUS[0]}
grep -qE '^[0-9]+ passed, [0-9]+ failed' "$OUT/soak.log" || { echo "soak: the driver died (status $status)"; echo "0 passed, 1 failed"; exit 1; }
exit "$status"

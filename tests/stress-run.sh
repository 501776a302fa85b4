#!/usr/bin/env bash
# tests/stress-run.sh: the whole suite (tests/run) on a busy machine. A CPU hog
# (`stress-ng --cpu N`, one busy-looping process per core by default) runs
# beside it the whole time, and tests/run runs RUNS times in a row (default 2),
# normal and sanitizer passes included; it passes only when every run does.
# This is how the suite is shown not to depend on scheduling: a test that
# passes here waits for events, not for time. Not part of .ci/run.
#
#   bash tests/stress-run.sh [RUNS]
#   LLMGATE_STRESS_CPUS=N     hog processes (default: every core, `nproc`)
#   LLMGATE_STRESS_LOG=DIR    where each run's output goes (default: a new /tmp/llmgate-stress-XXXX)
#   every variable of tests/run (BUILD_DIR, LLMGATE_SANITIZE, ...) is passed on
#
# Installs stress-ng (Debian package) when it is missing. Ends with
# `N passed, N failed`, N counting runs; each run's own summary line is shown.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-2}
CPUS=${LLMGATE_STRESS_CPUS:-$(nproc)}
LOG=${LLMGATE_STRESS_LOG:-$(mktemp -d /tmp/llmgate-stress-XXXXXX)}
mkdir -p "$LOG"

if ! command -v stress-ng >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends stress-ng >/dev/null ||
        { echo "stress-run: could not install stress-ng" >&2; echo "0 passed, $RUNS failed"; exit 1; }
fi

# --timeout 0: until killed. Its own process group, so that every hog goes.
setsid stress-ng --cpu "$CPUS" --timeout 0 --quiet &
HOG=$!
trap 'kill -- -$HOG 2>/dev/null; wait $HOG 2>/dev/null' EXIT
echo "stress-run: $CPUS CPU hogs (stress-ng, pid $HOG), $RUNS runs of tests/run, logs in $LOG"

ok=0
bad=0
for i in $(seq "$RUNS"); do
    start=$(date +%s)
    bash tests/run >"$LOG/run-$i.log" 2>&1
    status=$?
    secs=$(($(date +%s) - start))
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOG/run-$i.log" | tail -n 1)
    kill -0 "$HOG" 2>/dev/null || echo "stress-run: the hog was gone by the end of run $i" >&2
    if [ $status -eq 0 ]; then
        ok=$((ok + 1))
        echo "run $i: ok in ${secs}s ($summary)"
    else
        bad=$((bad + 1))
        echo "run $i: FAILED in ${secs}s, exit $status ($summary); failures:"
        grep -E '^(not ok|FAIL|tests/run:)|^# .*FAIL|CHECK failed|failed at' "$LOG/run-$i.log" | head -n 40
    fi
done
echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]

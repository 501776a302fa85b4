#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (ASan+UBSan) in their
# own build directory and runs each for N seconds (default 10), starting from
# the seed corpus in tests/fuzz/corpus/<target>/ (new inputs go to a temporary
# copy, never into the repository) and, when it exists, the dictionary
# tests/fuzz/<target>.dict. A target that crashes, leaks or trips a
# check, or runs one input for more than 10 s (-timeout=10: a hang), counts as
# failed; its reproducer is kept under build-fuzz/artifacts/.
# Ends with `N passed, N failed`; exits non-zero when anything failed.
# tests/run runs it for 7 s a target; a longer run before a release, or
# after a change to a parser, is `tests/fuzz/run.sh 600` (10 minutes a
# target). docs/fuzzing.md lists the targets, what each asserts, and how to
# reproduce a crash from its artifact.
#
#   tests/fuzz/run.sh [seconds]
#   FUZZ_BUILD_DIR=build-fuzz   the build directory (configured if absent)
#   FUZZ_TARGETS="fuzz_poe ..." a subset of the targets
#   FUZZ_JOBS=N                 targets fuzzed at once (default: nproc)
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
dir=${FUZZ_BUILD_DIR:-build-fuzz}
targets=${FUZZ_TARGETS:-"fuzz_sse fuzz_ndjson fuzz_poe fuzz_puter fuzz_conf fuzz_request fuzz_json_edit fuzz_h1 fuzz_usage fuzz_upstream_error fuzz_echo fuzz_anthropic_request fuzz_anthropic_stream fuzz_openai_stream fuzz_ollama_request fuzz_ollama_embed fuzz_responses_request fuzz_cluster fuzz_traceparent"}

if ! command -v clang >/dev/null; then
    echo "tests/fuzz/run.sh: clang is needed (apt-get install clang libclang-rt-14-dev)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" -Dbuildtype=debug >"$dir.setup.log" 2>&1 || {
        cat "$dir.setup.log"
        echo "0 passed, 1 failed"
        exit 1
    }
    rm -f "$dir.setup.log"
fi
build_targets=()
for t in $targets; do build_targets+=("tests/fuzz/$t"); done
if ! ninja -C "$dir" "${build_targets[@]}"; then
    echo "0 passed, 1 failed"
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/artifacts"

run_one() { # $1 target: its log in $work/$1.log, its status in $work/$1.rc
    local t=$1 dict=()
    mkdir -p "$work/$t"
    [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
    "$dir/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$dir/artifacts/$t-" "$work/$t" "tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1
    echo $? >"$work/$t.rc"
}

# FUZZ_JOBS targets at once (default: the number of cores), each for the
# full time: the same fuzzing in a fraction of the wall-clock time
jobs=${FUZZ_JOBS:-$(nproc)}
for t in $targets; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    run_one "$t" &
done
wait

passed=0
failed=0
for t in $targets; do
    echo "== $t: ${seconds}s"
    if [ "$(cat "$work/$t.rc" 2>/dev/null)" = 0 ]; then
        grep -E '^stat::number_of_executed_units|^Done ' "$work/$t.log" | tail -n 2
        passed=$((passed + 1))
    else
        tail -n 40 "$work/$t.log"
        echo "$t: FAILED (reproducer in $dir/artifacts/)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

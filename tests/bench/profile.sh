#!/usr/bin/env bash
# tests/bench/profile.sh: deterministic per-request costs of llmgate's proxy
# path (docs/benchmarks.md, "Profiles"), for when wall-clock numbers are too
# noisy: instructions per request (valgrind callgrind) and syscalls per
# request / per chunk (strace -c on the worker).
#
#   bash tests/bench/profile.sh [BUILD_DIR] [MODE...]
#
# BUILD_DIR (default build-bench, run.sh's) must hold llmgate and
# tests/mock/llmgate-mock (built there with ninja when it has a build.ninja;
# a release build, as the bench's). MODEs (default: strace-req strace-wait
# strace-stream callgrind-req callgrind-stream):
#   strace-req      N non-stream requests, one keep-alive connection (h2load)
#   strace-wait     the same with an upstream that answers after 1 ms (so that
#                   curl always waits for the upstream socket on the loop, as
#                   with a real upstream; N/4 requests)
#   strace-stream   S streams one after the other, 64 chunks 2 ms apart
#   strace-1024     1024 concurrent streams, 64 chunks 20 ms apart
#   cpu-req         N*10 non-stream requests on 32 connections (h2load): the
#                   worker's CPU time per request (user + system, /proc)
#   cpu-1024        as strace-1024 without strace: the worker's CPU time per
#                   chunk (/proc/PID/stat) and the chunk delay (wall clock:
#                   noisy on a shared machine)
#   perf-1024       as cpu-1024, with the worker's syscalls counted by perf
#                   tracepoints (far lighter than strace: the timing stays
#                   close to the real one)
#   record-1024     as cpu-1024 under perf record: the worker's hot spots
#   callgrind-req   as strace-req, under callgrind (worker only, after a warm-up)
#   callgrind-stream as strace-stream, under callgrind
# Env: N (default 2000), S (default 20), OUT (default $BUILD_DIR/profile),
# LLMGATE (default $BUILD_DIR/llmgate: another binary to profile),
# UPSTREAM_TLS (1: the mock behind a TLS front, an https:// provider), API
# (chat, default: POST /v1/chat/completions; messages: POST /v1/messages in
# Anthropic's form; responses: POST /v1/responses, OpenAI's Responses API;
# ollama: POST /api/chat, Ollama's NDJSON), PTYPE (openai, default, or
# anthropic: the provider's type, the mock answering in that API).
# One worker (workers: 1), one provider in front of the mock.
# Needs valgrind, strace, perf (the *-1024 modes), h2load, gcc, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build-bench}" && pwd)
shift || true
MODES=("$@")
[ ${#MODES[@]} -eq 0 ] && MODES=(strace-req strace-wait strace-stream callgrind-req callgrind-stream)
N=${N:-2000}
S=${S:-20}
OUT=${OUT:-$BUILD/profile}
LLMGATE=${LLMGATE:-$BUILD/llmgate}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

[ -f "$BUILD/build.ninja" ] && ninja -C "$BUILD" llmgate tests/mock/llmgate-mock >/dev/null
LOADGEN=$BUILD/bench/loadgen
mkdir -p "$BUILD/bench"
if [ ! -x "$LOADGEN" ] || [ "$HERE/loadgen.c" -nt "$LOADGEN" ]; then
    gcc -O2 -std=gnu11 -Wall -Wextra -o "$LOADGEN" "$HERE/loadgen.c"
fi

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

"$BUILD/tests/mock/llmgate-mock" --port 0 --no-record 2>"$OUT/mock.log" &
PIDS+=($!)
for _ in $(seq 200); do grep -q 'mock listening' "$OUT/mock.log" 2>/dev/null && break; sleep 0.05; done
MPORT=$(sed -n 's/.*mock listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT/mock.log")
[ -n "$MPORT" ] || { echo "profile.sh: the mock did not start" >&2; exit 1; }

# API=messages: the requests go to POST /v1/messages in Anthropic's form;
# API=responses: POST /v1/responses; API=ollama: POST /api/chat ("stream":
# false said for the non-stream requests: Ollama streams by default);
# PTYPE=anthropic: the provider is of type anthropic (the mock's /v1/messages)
API=${API:-chat}
PTYPE=${PTYPE:-openai}
HDR=()
LHDR=()
MSGS='"messages":[{"role":"user","content":"Say hello to the benchmark."}]'
SMSGS='"messages":[{"role":"user","content":"Count to sixty-four."}]'
case $API in
messages)
    APIPATH=/v1/messages
    BODY="{\"model\":\"bench\",\"max_tokens\":1024,$MSGS}"
    SREST="\"max_tokens\":1024,\"stream\":true,$SMSGS"
    HDR=(-H 'anthropic-version: 2023-06-01')
    LHDR=(--header 'anthropic-version: 2023-06-01') ;;
responses)
    APIPATH=/v1/responses
    BODY='{"model":"bench","input":"Say hello to the benchmark."}'
    SREST='"input":"Count to sixty-four.","stream":true' ;;
ollama)
    APIPATH=/api/chat
    BODY="{\"model\":\"bench\",\"stream\":false,$MSGS}"
    SREST="\"stream\":true,$SMSGS" ;;
chat)
    APIPATH=/v1/chat/completions
    BODY="{\"model\":\"bench\",$MSGS}"
    SREST="\"stream\":true,$SMSGS" ;;
*) echo "profile.sh: API=$API: chat, messages, responses or ollama" >&2; exit 1 ;;
esac
# UPSTREAM_TLS=1: the mock behind a TLS front (node, tls-front.mjs; a
# private CA the provider trusts with tls.ca_file): what the own client's
# TLS costs the worker, next to the same mode without it
SCHEME=http UPORT=$MPORT TLSCONF=
if [ "${UPSTREAM_TLS:-0}" = 1 ]; then
    node "$HERE/tls-front.mjs" "$MPORT" >"$OUT/tls-front.out" 2>"$OUT/tls-front.log" &
    PIDS+=($!)
    for _ in $(seq 200); do [ -s "$OUT/tls-front.out" ] && break; sleep 0.05; done
    read -r UPORT CAFILE <"$OUT/tls-front.out" || { echo "profile.sh: the TLS front did not start" >&2; exit 1; }
    SCHEME=https TLSCONF=", tls: {ca_file: \"$CAFILE\"}"
fi
if [ "$PTYPE" = anthropic ]; then BASE="$SCHEME://127.0.0.1:$UPORT"; else BASE="$SCHEME://127.0.0.1:$UPORT/v1"; fi
printf '%s' "$BODY" >"$OUT/body.json"
printf '%s' "${BODY/\"bench\"/\"bench~latency=1\"}" >"$OUT/body-wait.json"
sbody() { printf '{"model":"bench~chunks=64,chunk_size=8,stamp=true,interval=%sms",%s}' "$1" "$SREST"; }

# start_gw [valgrind args...]: llmgate with one worker; sets GW (master) and WORKER
start_gw() {
    PORT=$(free_port)
    cat >"$OUT/llmgate.yaml" <<EOF
listen: [{address: 127.0.0.1, port: $PORT}]
workers: 1
providers: [{name: up, type: $PTYPE, base_url: "$BASE", keys: [sk-bench], models: ["*"]$TLSCONF}]
EOF
    "$@" "$LLMGATE" -c "$OUT/llmgate.yaml" 2>"$OUT/llmgate.log" &
    GW=$!
    PIDS+=($GW)
    for _ in $(seq 600); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break
        sleep 0.1
    done
    WORKER=$(pgrep -P "$GW" | head -1)
    # under valgrind the master is valgrind's process; its child is the worker
    [ -n "$WORKER" ] || { echo "profile.sh: no worker" >&2; exit 1; }
}
stop_gw() {
    kill -TERM "$GW" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$GW" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$GW" 2>/dev/null || true
}

run_req() { h2load -t 1 -c 1 -n "$1" --h1 -d "$OUT/${BODYFILE:-body.json}" -H 'content-type: application/json' \
    "${HDR[@]+"${HDR[@]}"}" "http://127.0.0.1:$PORT$APIPATH" | grep -E '^requests:|^status codes:'; }
run_stream() { # streams total interval
    "$LOADGEN" stream --url "http://127.0.0.1:$PORT$APIPATH" --body "$(sbody "$3")" "${LHDR[@]+"${LHDR[@]}"}" \
        --streams "$1" --total "$2" --chunks 64 --timeout 120 $([ "$1" -gt 1 ] && echo --ramp-ms 64) |
        python3 -c 'import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); print({k:d.get(k) for k in ("errors","delay_p50_us","delay_p99_us","ttft_p50_us","streams_ok","complete") if k in d})'
}

# strace_run NAME UNITS CMD...: strace -c -f on the worker while CMD runs
strace_run() {
    local name=$1 units=$2
    shift 2
    strace -c -f -p "$WORKER" -o "$OUT/$name.strace" &
    local sp=$!
    sleep 0.5
    "$@"
    sleep 0.2
    kill -INT "$sp"
    wait "$sp" 2>/dev/null || true
    python3 - "$OUT/$name.strace" "$units" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls = int(f[3]); rows.append((calls, f[-1]))
units = float(sys.argv[2])
tot = sum(c for c, _ in rows)
print(f"  syscalls per unit: {tot/units:.2f}  (" + ", ".join(f"{n} {c/units:.2f}" for c, n in sorted(rows, reverse=True)) + ")")
EOF
}

for mode in "${MODES[@]}"; do
    echo "== $mode"
    case $mode in
    strace-req)
        start_gw
        run_req 200 >/dev/null
        strace_run req "$N" run_req "$N"
        stop_gw ;;
    strace-wait)
        start_gw
        BODYFILE=body-wait.json run_req 50 >/dev/null
        BODYFILE=body-wait.json strace_run wait $((N / 4)) run_req $((N / 4))
        stop_gw ;;
    strace-stream)
        start_gw
        run_stream 1 2 2 >/dev/null
        strace_run stream $((S * 64)) run_stream 1 "$S" 2
        stop_gw ;;
    strace-1024)
        start_gw
        run_stream 64 64 20 >/dev/null
        strace_run s1024 $((1024 * 64)) run_stream 1024 1024 20
        stop_gw ;;
    cpu-req)
        start_gw
        h2load -t 1 -c 32 -n 2000 --h1 -d "$OUT/body.json" -H 'content-type: application/json' \
            "${HDR[@]+"${HDR[@]}"}" "http://127.0.0.1:$PORT$APIPATH" >/dev/null
        read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$WORKER/stat")
        h2load -t 1 -c 32 -n $((N * 10)) --h1 -d "$OUT/body.json" -H 'content-type: application/json' \
            "${HDR[@]+"${HDR[@]}"}" "http://127.0.0.1:$PORT$APIPATH" | grep -E '^finished|^requests:'
        read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$WORKER/stat")
        python3 -c "import os;t=os.sysconf('SC_CLK_TCK');n=$N*10;print(f'  worker CPU per request: user {($u1-$u0)/t*1e6/n:.1f} us + system {($s1-$s0)/t*1e6/n:.1f} us')"
        stop_gw ;;
    cpu-1024)
        start_gw
        run_stream 64 64 20 >/dev/null
        t0=$(awk '{print $14 + $15}' "/proc/$WORKER/stat")
        run_stream 1024 1024 20
        t1=$(awk '{print $14 + $15}' "/proc/$WORKER/stat")
        echo "  worker CPU per chunk: $(python3 -c "import os;print(round(($t1-$t0)/os.sysconf('SC_CLK_TCK')*1e6/(1024*64),1))") us"
        stop_gw ;;
    perf-1024)
        start_gw
        run_stream 64 64 20 >/dev/null
        ev=task-clock
        for sc in epoll_wait epoll_ctl recvfrom poll writev read sendto write; do ev=$ev,syscalls:sys_enter_$sc; done
        perf stat -x, -e "$ev" -p "$WORKER" -o "$OUT/perf-1024.txt" &
        pp=$!
        sleep 0.3
        read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$WORKER/stat")
        run_stream 1024 1024 20
        read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$WORKER/stat")
        python3 -c "import os;t=os.sysconf('SC_CLK_TCK');n=1024*64;print(f'  user {($u1-$u0)/t*1e6/n:.1f} us + system {($s1-$s0)/t*1e6/n:.1f} us per chunk')"
        kill -INT "$pp"
        wait "$pp" 2>/dev/null || true
        python3 - "$OUT/perf-1024.txt" $((1024 * 64)) <<'PY'
import sys
units = float(sys.argv[2])
out = []
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        name = f[2].replace("syscalls:sys_enter_", "")
        v = float(f[0])
        out.append(f"{name} {v / units:.3f}" if name != "task-clock" else f"CPU {v * 1000 / units:.1f} us")
print("  per chunk: " + ", ".join(out))
PY
        stop_gw ;;
    record-1024)
        # where the worker's time goes at 1024 streams (perf sampling)
        start_gw
        run_stream 64 64 20 >/dev/null
        perf record -q -F 2000 -g -p "$WORKER" -o "$OUT/perf-1024.data" 2>/dev/null &
        pp=$!
        sleep 0.3
        run_stream 1024 1024 20
        kill -INT "$pp"
        wait "$pp" 2>/dev/null || true
        perf report -i "$OUT/perf-1024.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -30
        stop_gw ;;
    callgrind-req | callgrind-stream)
        rm -f "$OUT"/callgrind.out.*
        start_gw valgrind --tool=callgrind --trace-children=yes --compress-strings=no --compress-pos=no --callgrind-out-file="$OUT/callgrind.out.%p"
        if [ "$mode" = callgrind-req ]; then
            run_req 200 >/dev/null
            callgrind_control -z "$WORKER" >/dev/null
            run_req "$N"
            units=$N
        else
            run_stream 1 2 2 >/dev/null
            callgrind_control -z "$WORKER" >/dev/null
            run_stream 1 "$S" 2
            units=$((S * 64))
        fi
        callgrind_control -d "$WORKER" >/dev/null
        f=$(ls -t "$OUT"/callgrind.out."$WORKER"* | grep -v '\.[0-9]*$' | head -1 || true)
        f=${f:-$(ls -t "$OUT"/callgrind.out."$WORKER"* | head -1)}
        cp "$f" "$OUT/$mode.callgrind"
        stop_gw
        total=$(sed -n 's/^summary: //p' "$OUT/$mode.callgrind")
        echo "  instructions per unit ($units units): $((total / units))"
        # self cost per object and function (callgrind_annotate 3.19 does not
        # resolve the files of forked children)
        python3 "$HERE/cgself.py" "$OUT/$mode.callgrind" "$units" 25 >"$OUT/$mode.top"
        sed -n '2,40p' "$OUT/$mode.top" ;;
    *) echo "unknown mode $mode" >&2; exit 1 ;;
    esac
done

#!/usr/bin/env bash
# tests/bench/http2/run.sh: llmgate's upstream HTTP/1.1 (default) against
# LLMGATE_UPSTREAM_HTTP2=1, same run, alternating h1 h2 h1 h2 ...
# (docs/upstream-http2.md explains the option and the numbers).
#
#   bash tests/bench/http2/run.sh [--quick]
#
# Env: REPS (3), DUR (h2load seconds per point, 5), CONCS ("8 64 256"),
#      STREAMS (256), OUT (results dir, default tests/bench/http2/results/<ts>).
#
# Topology, loopback only:
#   h2load / loadgen (core 0) -> llmgate (core 1, 1 worker) --TLS--> h2o
#   (core 0, h2 via ALPN or http/1.1) --keep-alive cleartext--> llmgate-mock
#   (core 0)
# The h2o certificate is self-signed (made here with openssl). llmgate has no
# CA option and its libcurl ignores SSL_CERT_FILE / SSL_CERT_DIR /
# CURL_CA_BUNDLE (checked by the "ca" step below), so the gateway runs with
# LD_PRELOAD=cainfo_shim.so, which sets CURLOPT_CAINFO to that certificate
# (verification stays on). Benchmark only.
#
# Per repetition and mode (a fresh gateway for each of the three parts):
#   1. non-stream: warm-up (h2load -c 8 -n 2000), then h2load --h1 -c C -D DUR --warm-up-time 1 -d body.json, C in CONCS
#   2. streaming: tests/bench/loadgen.c, STREAMS concurrent streams of
#      chunks=64,interval=20 (base_url /s/chunks=64,chunk_size=8,interval=20,stamp=true/v1):
#      completion time, summed Pss of the llmgate processes with all streams
#      in flight
#   3. paused: 16 clients that never read a big streamed answer (paused.py),
#      peak Pss growth, while 16 normal streams run next to them (do they
#      still finish on time?)
# and the peak count of established gateway->h2o TCP connections during each.
# Every process it starts is stopped when it ends, however it ends; the whole
# run is bounded by a watchdog (20 min).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$ROOT"

REPS=${REPS:-3}
DUR=${DUR:-5}
CONCS=${CONCS:-"8 64 256"}
STREAMS=${STREAMS:-256}
if [ "${1:-}" = --quick ]; then REPS=1 DUR=2 CONCS="8 64" STREAMS=64; fi
TS=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$HERE/results/$TS}
mkdir -p "$OUT"

GW_BIN=$ROOT/build/llmgate
MOCK_BIN=$ROOT/build/tests/mock/llmgate-mock
for b in h2o h2load openssl taskset ss jq python3 cc curl; do
    command -v $b >/dev/null || { echo "run.sh: needs $b (apt-get install -y h2o nghttp2-client jq)" >&2; exit 1; }
done
ninja -C build >/dev/null
[ -x "$GW_BIN" ] && [ -x "$MOCK_BIN" ] || { echo "run.sh: build/llmgate or the mock is missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/llg-h2bench.XXXXXX)
PIDS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep 1200 & sp=$!; wait $sp; echo "run.sh: watchdog: 20 min, stopping" >&2; kill -TERM $$ ) &
PIDS+=($!)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# ---- tools and files
cc -O2 -o "$WORK/loadgen" tests/bench/loadgen.c
cc -O2 -Wall -shared -fPIC -o "$WORK/cainfo_shim.so" "$HERE/cainfo_shim.c" -ldl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
echo '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello to the benchmark."}]}' >"$WORK/body.json"
STREAM_BODY='{"model":"stream-bench","stream":true,"messages":[{"role":"user","content":"Count to sixty-four."}]}'
SMALL_STREAM_BODY='{"model":"stream-bench","stream":true,"messages":[{"role":"user","content":"Count."}]}'

# ---- mock and h2o (core 0)
taskset -c 0 "$MOCK_BIN" --port 0 --no-record 2>"$WORK/mock.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'mock listening' "$WORK/mock.log" && break; sleep 0.05; done
MOCK_PORT=$(sed -n 's/.*mock listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/mock.log")
[ -n "$MOCK_PORT" ] || { echo "run.sh: the mock did not start" >&2; exit 1; }
H2O_PORT=$(free_port)
cat >"$WORK/h2o.conf" <<EOF
listen:
  host: 127.0.0.1
  port: $H2O_PORT
  ssl:
    certificate-file: $WORK/cert.pem
    key-file: $WORK/key.pem
num-threads: 1
max-connections: 20000
error-log: $WORK/h2o-error.log
pid-file: $WORK/h2o.pid
user: $(id -un)
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:$MOCK_PORT/
        proxy.timeout.keepalive: 60000
        proxy.timeout.io: 60000
EOF
taskset -c 0 h2o -c "$WORK/h2o.conf" >"$WORK/h2o.log" 2>&1 &
PIDS+=($!)
wait_port "$H2O_PORT" || { echo "run.sh: h2o did not start" >&2; cat "$WORK/h2o.log" >&2; exit 1; }
alpn=$(curl -sS --cacert "$WORK/cert.pem" --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$H2O_PORT/health")
log "mock :$MOCK_PORT, h2o TLS :$H2O_PORT (curl --http2 negotiated HTTP/$alpn)"

GW_PORT=$(free_port)
cat >"$WORK/gw.yaml" <<EOF
listen: [{address: 127.0.0.1, port: $GW_PORT}]
workers: 1
providers:
  - {name: stream, type: openai, base_url: "https://127.0.0.1:$H2O_PORT/s/chunks=64,chunk_size=8,interval=20,stamp=true/v1", keys: [sk-x], models: ["stream-*"]}
  - {name: big, type: openai, base_url: "https://127.0.0.1:$H2O_PORT/s/chunks=4000,chunk_size=2000/v1", keys: [sk-x], models: ["big-*"]}
  - {name: up, type: openai, base_url: "https://127.0.0.1:$H2O_PORT/v1", keys: [sk-x], models: ["*"]}
EOF

GW_PID=
start_gw() { # $1: h1|h2 [$2: extra env]
    local h2=0
    [ "$1" = h2 ] && h2=1
    env ${2:-} LLMGATE_UPSTREAM_HTTP2=$h2 taskset -c 1 "$GW_BIN" -c "$WORK/gw.yaml" >>"$WORK/gw-$1.log" 2>&1 &
    GW_PID=$!
    PIDS+=($GW_PID)
    wait_port "$GW_PORT" || { echo "run.sh: llmgate did not start" >&2; tail "$WORK/gw-$1.log" >&2; exit 1; }
}
stop_gw() {
    kill -TERM "$GW_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
}
gw_pids() { echo "$GW_PID" $(pgrep -P "$GW_PID" || true) | tr ' ' ','; }
conns() { ss -Htn state established "( dport = :$H2O_PORT )" | wc -l; }
# peak of conns() while "$@" runs
with_conns() { # $1: file for the peak; rest: command
    local f=$1
    shift
    (m=0; while :; do c=$(conns); [ "$c" -gt "$m" ] && m=$c && echo $m >"$f"; sleep 0.2; done) &
    local sp=$!
    PIDS+=($sp)
    local rc=0
    "$@" || rc=$?
    kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
    [ -s "$f" ] || echo 0 >"$f"
    return $rc
}
curl_gw() { curl -sS -m 5 "http://127.0.0.1:$GW_PORT/v1/chat/completions" -H content-type:application/json "$@"; }

# ---- step "ca": does this libcurl honour SSL_CERT_FILE / SSL_CERT_DIR / CURL_CA_BUNDLE?
mkdir -p "$WORK/cadir" && cp "$WORK/cert.pem" "$WORK/cadir/" && openssl rehash "$WORK/cadir" 2>/dev/null
: >"$OUT/ca.txt"
for e in "SSL_CERT_FILE=$WORK/cert.pem" "SSL_CERT_DIR=$WORK/cadir" "CURL_CA_BUNDLE=$WORK/cert.pem" \
    "LD_PRELOAD=$WORK/cainfo_shim.so LLG_BENCH_CAINFO=$WORK/cert.pem"; do
    start_gw h1 "$e"
    r=$(curl_gw -d @"$WORK/body.json" -o /dev/null -w '%{http_code}' || true)
    stop_gw
    echo "${e//$WORK/\$WORK} -> HTTP $r" | tee -a "$OUT/ca.txt" >&2
done
SHIM="LD_PRELOAD=$WORK/cainfo_shim.so LLG_BENCH_CAINFO=$WORK/cert.pem"

# ---- the runs
H2LOAD_CMD="h2load --h1 -t 1 -c C -D $DUR --warm-up-time 1 -d body.json -H content-type:application/json http://127.0.0.1:PORT/v1/chat/completions"
echo "$H2LOAD_CMD" >"$OUT/h2load-cmd.txt"
RES=$OUT/results.jsonl
: >"$RES"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); reps=$REPS dur=${DUR}s concs=[$CONCS] streams=$STREAMS"
for rep in $(seq "$REPS"); do
    for mode in h1 h2; do
        start_gw "$mode" "$SHIM"
        # warm-up: connections, TLS sessions, allocator
        timeout 30 taskset -c 0 h2load --h1 -t 1 -c 8 -n 2000 -d "$WORK/body.json" \
            -H content-type:application/json "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null 2>&1 || true
        for c in $CONCS; do
            f=$WORK/h2load-$rep-$mode-$c.txt
            with_conns "$WORK/peak" timeout $((DUR + 30)) taskset -c 0 h2load --h1 -t 1 -c "$c" -D "$DUR" \
                --warm-up-time 1 -d "$WORK/body.json" -H content-type:application/json \
                "http://127.0.0.1:$GW_PORT/v1/chat/completions" >"$f" 2>&1 || true
            rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$f")
            read -r ok failed < <(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed.*/\1 \2/p' "$f")
            mean=$(awk '/^time for request:/{print $6}' "$f")
            jq -cn --arg mode "$mode" --argjson rep "$rep" --argjson c "$c" --arg rps "${rps:-0}" --arg ok "${ok:-0}" \
                --arg failed "${failed:-0}" --arg mean "$mean" --argjson up "$(cat "$WORK/peak")" \
                '{kind:"nonstream",mode:$mode,rep:$rep,c:$c,rps:($rps|tonumber),ok:($ok|tonumber),failed:($failed|tonumber),mean_latency:$mean,upstream_conns:$up}' |
                tee -a "$RES" >&2
        done
        # fresh gateway for streaming, so that its Pss and connection count
        # are not those left by the non-stream phase
        stop_gw
        start_gw "$mode" "$SHIM"
        f=$WORK/stream-$rep-$mode.json
        with_conns "$WORK/peak" timeout 90 taskset -c 0 "$WORK/loadgen" stream \
            --url "http://127.0.0.1:$GW_PORT/v1/chat/completions" --body "$STREAM_BODY" \
            --streams "$STREAMS" --total "$STREAMS" --chunks 64 --timeout 60 --pss-pids "$(gw_pids)" >"$f" || true
        jq -c --arg mode "$mode" --argjson rep "$rep" --argjson up "$(cat "$WORK/peak")" \
            '{kind:"stream",mode:$mode,rep:$rep,streams:.streams,ok:.streams_ok,errors:.errors,elapsed_s:.elapsed_s,
              ttft_p50_ms:(.ttft_p50_us/1000),delay_p99_ms:(.delay_p99_us/1000),gap_p99_ms:(.gap_p99_us/1000),
              pss_kb:.pss_kb,upstream_conns:$up,first_error:.first_error}' "$f" | tee -a "$RES" >&2
        # paused clients next to normal streams (fresh gateway again)
        stop_gw
        start_gw "$mode" "$SHIM"
        fp=$WORK/paused-$rep-$mode.json
        fs=$WORK/paused-streams-$rep-$mode.json
        (with_conns "$WORK/ppeak" timeout 60 taskset -c 0 python3 "$HERE/paused.py" --port "$GW_PORT" --model big-bench --conns 16 \
            --hold 4 --pids "$(gw_pids)" >"$fp" || true) &
        pp=$!
        PIDS+=($pp)
        sleep 0.5
        timeout 60 taskset -c 0 "$WORK/loadgen" stream --url "http://127.0.0.1:$GW_PORT/v1/chat/completions" \
            --body "$STREAM_BODY" --streams 16 --total 16 --chunks 64 --timeout 20 >"$fs" || true
        wait "$pp" || true
        jq -c --arg mode "$mode" --argjson rep "$rep" --slurpfile s "$fs" --argjson up "$(cat "$WORK/ppeak" 2>/dev/null || echo 0)" \
            '{kind:"paused",mode:$mode,rep:$rep,paused_clients:.conns,pss_idle_kb:.pss_idle_kb,pss_peak_kb:.pss_peak_kb,
              growth_kb:.growth_kb,side_streams_ok:$s[0].streams_ok,side_elapsed_s:$s[0].elapsed_s,
              side_gap_p99_ms:($s[0].gap_p99_us/1000),answered_200:.answered_200,upstream_conns:$up}' "$fp" | tee -a "$RES" >&2 || true
        stop_gw
    done
done
cp "$WORK/h2o.conf" "$WORK/gw.yaml" "$OUT/"
grep -h 'warn\|error' "$WORK"/gw-h*.log | sort | uniq -c | sort -rn | head -20 >"$OUT/gw-warnings.txt" || true

# ---- medians
python3 - "$RES" <<'EOF' | tee "$OUT/summary.md"
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda xs: st.median(xs) if xs else float("nan")
def pick(kind, mode, key, **f):
    return [r[key] for r in rows if r["kind"] == kind and r["mode"] == mode and all(r.get(k) == v for k, v in f.items())
            and r.get(key) is not None]
reps = max(r["rep"] for r in rows)
print(f"medians of {reps} repetition(s), h1 = HTTP/1.1 upstream (default), h2 = LLMGATE_UPSTREAM_HTTP2=1\n")
print("| non-stream | h1 req/s | h2 req/s | h2/h1 | h1 mean latency | h2 mean latency | h1 upstream conns | h2 upstream conns | failed (h1/h2) |")
print("|---|---|---|---|---|---|---|---|---|")
for c in sorted({r["c"] for r in rows if r["kind"] == "nonstream"}):
    a, b = med(pick("nonstream", "h1", "rps", c=c)), med(pick("nonstream", "h2", "rps", c=c))
    la = [r["mean_latency"] for r in rows if r["kind"] == "nonstream" and r["mode"] == "h1" and r["c"] == c]
    lb = [r["mean_latency"] for r in rows if r["kind"] == "nonstream" and r["mode"] == "h2" and r["c"] == c]
    print(f"| -c {c} | {a:.0f} | {b:.0f} | {b / a:.2f} | {'/'.join(la)} | {'/'.join(lb)} | "
          f"{med(pick('nonstream', 'h1', 'upstream_conns', c=c)):.0f} | {med(pick('nonstream', 'h2', 'upstream_conns', c=c)):.0f} | "
          f"{sum(pick('nonstream', 'h1', 'failed', c=c))}/{sum(pick('nonstream', 'h2', 'failed', c=c))} |")
print()
print("| streaming | h1 | h2 |")
print("|---|---|---|")
for key, label, fmt in [("elapsed_s", "completion time of all streams (s)", "{:.3f}"),
                        ("pss_kb", "llmgate Pss, all streams in flight (MB)", "{:.1f}"),
                        ("ttft_p50_ms", "time to first chunk p50 (ms)", "{:.1f}"),
                        ("delay_p99_ms", "chunk delay p99 (ms)", "{:.1f}"),
                        ("upstream_conns", "upstream TCP connections (peak)", "{:.0f}"),
                        ("ok", "streams ok", "{:.0f}")]:
    vals = []
    for m in ("h1", "h2"):
        v = med(pick("stream", m, key))
        if key == "pss_kb":
            v /= 1024
        vals.append(fmt.format(v))
    print(f"| {label} | {vals[0]} | {vals[1]} |")
print()
print("| 16 paused clients + 16 normal streams | h1 | h2 |")
print("|---|---|---|")
for key, label, fmt, div in [("growth_kb", "llmgate Pss growth while paused (MB)", "{:.1f}", 1024),
                             ("side_streams_ok", "normal streams ok (of 16)", "{:.0f}", 1),
                             ("side_elapsed_s", "normal streams completion (s)", "{:.3f}", 1),
                             ("side_gap_p99_ms", "normal streams chunk gap p99 (ms)", "{:.1f}", 1),
                             ("upstream_conns", "upstream TCP connections (peak)", "{:.0f}", 1)]:
    print(f"| {label} | " + " | ".join(fmt.format(med(pick('paused', m, key)) / div) for m in ("h1", "h2")) + " |")
print("\nper repetition:")
for r in rows:
    print("    " + json.dumps(r))
EOF
log "results: $OUT"

#!/usr/bin/env bash
# tests/bench/run.sh: llmgate's side-by-side benchmark (SPEC section 9;
# docs/benchmarks.md says what every number means). One command:
#
#   bash tests/bench/run.sh            full run (~15-20 min), rewrites docs/benchmarks.md
#   bash tests/bench/run.sh --smoke    every kind of measurement, tiny durations (CI)
#
#   bash tests/bench/run.sh --only protocols [--reps N] [--before BUILD_DIR]
#                                      only the protocol rows (Anthropic's
#                                      Messages API, OpenAI's Responses API,
#                                      Ollama's /api/chat; llmgate only; ~3 min
#                                      per repetition), rewrites only their
#                                      two sections
#   bash tests/bench/run.sh --only cluster [--reps N]
#                                      only the cluster scenario (llmgate
#                                      without and with `cluster:`, three
#                                      instances sharing one redis-server;
#                                      ~3 min), rewrites only its section
#   bash tests/bench/run.sh --only https [--reps N] [--https-churn S]
#                                      only the HTTPS-upstream scenario (nginx
#                                      behind TLS with a private CA made here
#                                      by openssl; h2o, nginx, llmgate with
#                                      its default upstream client and with
#                                      LLMGATE_UPSTREAM_CLIENT=curl, and
#                                      Portkey in front; ~5 min; --https-churn
#                                      S adds S s per proxy at 32 and 512
#                                      connections, then counts TIME-WAIT
#                                      towards the upstream), rewrites only
#                                      its section
#
# Options after the mode go to bench.py: --no-portkey, --out DIR, --no-docs,
# --reps N, --https-churn S, --before BUILD_DIR (an earlier llmgate build: row (a) of the
# protocol rows is run with it too), --only protocols|cluster|https.
# It installs what is missing (Debian: h2o, nginx-light, gnuplot-nox,
# nghttp2-client, redis-server, the build dependencies; npm: the Portkey
# gateway pinned by
# tests/bench/portkey/package-lock.json), without ever starting the packages'
# own services, builds llmgate, the mock and tests/bench/loadgen.c into
# build-bench/ (BENCH_BUILD overrides), then runs tests/bench/bench.py.
# Results: tests/bench/results/<timestamp>/. Loopback only; every process it
# starts is stopped when it ends, however it ends.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
cd "$ROOT"

mode=full
args=()
docs=1
for a in "$@"; do
    case $a in
    --smoke) mode=smoke ;;
    --no-docs) docs=0 ;;
    -h | --help)
        sed -n '2,37p' "$0"
        exit 0
        ;;
    *) args+=("$a") ;;
    esac
done
[ "$mode" = smoke ] && docs=0

BENCH_PID=
cleanup() {
    # bench.py stops its own processes; this is for an interrupted run
    if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BENCH_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- packages
need=()
command -v h2o >/dev/null || need+=(h2o)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx-light)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v redis-server >/dev/null || need+=(redis-server)
command -v taskset >/dev/null || need+=(util-linux)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v python3 >/dev/null || need+=(python3)
command -v gcc >/dev/null || need+=(gcc)
command -v meson >/dev/null || need+=(meson)
command -v ninja >/dev/null || need+=(ninja-build)
command -v pkg-config >/dev/null || need+=(pkg-config)
for pc in yaml-0.1:libyaml-dev libcjson:libcjson-dev libh2o:libh2o-dev libuv:libuv1-dev openssl:libssl-dev \
    libcurl:libcurl4-openssl-dev; do
    pkg-config --exists "${pc%%:*}" 2>/dev/null || need+=("${pc#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "run.sh: missing ${need[*]}; run as root to install them" >&2; exit 1; }
    log "installing ${need[*]}"
    # packages must not start their services (nginx and h2o would take port
    # 80): a policy-rc.d that denies every start, only for this install
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "${rc:-0}" = 0 ] || { echo "run.sh: apt-get install failed" >&2; exit 1; }
fi
# whatever happened, no daemon of the packages may run: their pid files
for pidfile in /run/nginx.pid /run/h2o.pid /var/run/nginx.pid /var/run/h2o.pid; do
    if [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile")
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        if [ "$comm" = nginx ] || [ "$comm" = h2o ]; then
            log "stopping the package's own $comm daemon (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            sleep 0.5
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
done

# thousands of connections per process
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- build
if [ ! -f "$BUILD/build.ninja" ]; then
    log "meson setup $BUILD"
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
log "building llmgate and the mock (release)"
if ! ninja -C "$BUILD" llmgate tests/mock/llmgate-mock >"$BUILD/bench-build.log" 2>&1; then
    tail -40 "$BUILD/bench-build.log" >&2
    echo "run.sh: the build failed" >&2
    exit 1
fi
mkdir -p "$BUILD/bench"
if [ ! -x "$BUILD/bench/loadgen" ] || [ "$HERE/loadgen.c" -nt "$BUILD/bench/loadgen" ]; then
    gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$BUILD/bench/loadgen" "$HERE/loadgen.c"
fi

# ---- Portkey, pinned (not in smoke runs: CI needs no npm install)
pk_args=()
# (--only https has a Portkey row too; the other --only scenarios have none)
if [ "$mode" = full ] && [[ " ${args[*]-} " != *" --no-portkey "* ]] &&
    { [[ " ${args[*]-} " != *" --only "* ]] || [[ " ${args[*]-} " == *" --only https "* ]]; }; then
    PK=$BUILD/portkey
    mkdir -p "$PK"
    if ! cmp -s "$HERE/portkey/package-lock.json" "$PK/package-lock.json" || [ ! -d "$PK/node_modules/@portkey-ai/gateway" ]; then
        log "installing the Portkey gateway (npm ci)"
        cp "$HERE/portkey/package.json" "$HERE/portkey/package-lock.json" "$PK/"
        (cd "$PK" && npm ci --no-audit --no-fund --ignore-scripts >&2)
    fi
else
    pk_args=(--no-portkey)
fi

bench_args=("${args[@]+"${args[@]}"}" "${pk_args[@]+"${pk_args[@]}"}")
[ "$mode" = smoke ] && bench_args+=(--smoke)
[ "$docs" = 1 ] && bench_args+=(--write-docs)
# at the highest priority when root (every process of the benchmark inherits
# it), so that other jobs on the machine disturb the measurements less
prio=()
[ "$(id -u)" = 0 ] && prio=(nice -n -20)
"${prio[@]+"${prio[@]}"}" python3 "$HERE/bench.py" --build "$BUILD" "${bench_args[@]}" &
BENCH_PID=$!
wait "$BENCH_PID"

#!/usr/bin/env bash
# Measures the time from exec to the first answered /health request, median
# of 10 starts. Usage: bash tests/bench/startup.sh [path/to/llmgate]
set -euo pipefail
BIN=${1:-build/llmgate}
PORT=${PORT:-18999}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'listen: [{address: 127.0.0.1, port: %s}]\nworkers: 2\nproviders: [{name: echo, type: echo}]\n' "$PORT" >"$dir/c.yaml"
python3 - "$BIN" "$dir/c.yaml" "$PORT" <<'PY'
import socket, subprocess, sys, time, statistics
bin_, conf, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(10):
    t0 = time.perf_counter()
    p = subprocess.Popen([bin_, "-c", conf], stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(12).startswith(b"HTTP/1.1 200"):
                s.close()
                break
            s.close()
        except OSError:
            time.sleep(0.0005)
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
print(f"start to first answered /health: median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f} (10 starts)")
PY

#!/usr/bin/env python3
"""tests/bench/http2/paused.py: slow-client probe for tests/bench/http2/run.sh.

Opens --conns client connections to llmgate (127.0.0.1:--port), each sends one
streaming chat request for a large answer (the model routes to a provider
whose base_url asks the mock for many big chunks, no pacing) and then never
reads: the gateway's client buffer fills, llmgate pauses the curl transfer
(server/proxy.c HIGH_WATER). Samples the summed Pss (/proc/PID/smaps_rollup)
of --pids every 0.25 s for --hold seconds and prints one JSON object:
idle Pss, the peak while paused and its growth. Loopback only; closes every
socket it opened.
"""
import argparse, json, os, socket, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench import pss_kb  # noqa: E402  (tests/bench/bench.py: summed Pss of pids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--hold", type=float, default=4.0)
    ap.add_argument("--pids", required=True)
    a = ap.parse_args()
    pids = [int(p) for p in a.pids.split(",") if p]
    body = json.dumps({"model": a.model, "stream": True,
                       "messages": [{"role": "user", "content": "Say a lot."}]}).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
           b"\r\n\r\n" + body)
    idle = pss_kb(pids)
    socks = []
    try:
        for _ in range(a.conns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader
            s.settimeout(5)
            s.connect(("127.0.0.1", a.port))
            s.sendall(req)
            socks.append(s)
        peak, t_end = idle, time.monotonic() + a.hold
        while time.monotonic() < t_end:
            peak = max(peak, pss_kb(pids))
            time.sleep(0.25)
        last = pss_kb(pids)
        ok = 0
        for s in socks:  # the answers did start (status line)
            try:
                ok += s.recv(64).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
    finally:
        for s in socks:
            s.close()
    print(json.dumps({"conns": a.conns, "pss_idle_kb": idle, "pss_peak_kb": peak, "pss_end_kb": last,
                      "growth_kb": peak - idle, "answered_200": ok}))


if __name__ == "__main__":
    main()

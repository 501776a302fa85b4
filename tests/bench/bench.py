#!/usr/bin/env python3
"""tests/bench/bench.py: the side-by-side benchmark of llmgate (SPEC section 9).

Started by tests/bench/run.sh, which installs the tools and builds the
binaries first; see docs/benchmarks.md for what every number means.

One run starts a fast local upstream (llmgate-mock) and, in front of it,
llmgate, h2o's reverse proxy, nginx proxy_pass and the Portkey gateway, all
listening on 127.0.0.1 only. The gateways run pinned to core 1, the mock and
the load generators to core 0. Each cell (one contender, one setting) is run
REPS times, the contenders alternating (A B C A B C ...), and the medians are
reported. Every process started here is in its own session and is killed on
exit, whatever happens.

Output: results/<timestamp>/{raw.jsonl,results.json,results.md,*.png,work/}
and, with --write-docs, docs/benchmarks.md.
"""
import argparse
import ctypes
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CLK = os.sysconf("SC_CLK_TCK")
CORE_GW, CORE_LOAD = "1", "0"

NONSTREAM_BODY = '{"model":"bench","messages":[{"role":"user","content":"Say hello to the benchmark."}]}'


def scenario(chunks, interval_ms):
    """the mock's model name for a stream of `chunks` content chunks of 8
    bytes, each stamped by the mock with the CLOCK_MONOTONIC microsecond at
    which it was written ([t=...]), interval_ms apart (0: all at once)"""
    opts = f"chunks={chunks},chunk_size=8,stamp=true"
    if interval_ms:
        opts += f",interval={interval_ms}ms"
    return "bench~" + opts


def stream_body(chunks, interval_ms):
    """also Ollama's /api/chat streaming body (the same fields)"""
    return ('{"model":"%s","stream":true,"messages":[{"role":"user","content":"Count to sixty-four."}]}'
            % scenario(chunks, interval_ms))


# Anthropic's Messages API (the protocol rows): the same requests in its form
# (max_tokens is required there), sent with the header its SDK sends
MESSAGES_BODY = ('{"model":"bench","max_tokens":1024,"messages":[{"role":"user","content":'
                 '"Say hello to the benchmark."}]}')
ANTHROPIC_HEADERS = ["anthropic-version: 2023-06-01"]


def messages_stream_body(chunks, interval_ms):
    return ('{"model":"%s","max_tokens":1024,"stream":true,"messages":[{"role":"user",'
            '"content":"Count to sixty-four."}]}' % scenario(chunks, interval_ms))


# OpenAI's Responses API and Ollama's /api/chat (the protocol rows): the same
# requests in their forms. Ollama streams unless told otherwise, so its
# non-stream body says "stream": false; its streaming body is stream_body's.
RESPONSES_BODY = '{"model":"bench","input":"Say hello to the benchmark."}'
OLLAMA_BODY = ('{"model":"bench","stream":false,"messages":[{"role":"user","content":'
               '"Say hello to the benchmark."}]}')


def responses_stream_body(chunks, interval_ms):
    return '{"model":"%s","input":"Count to sixty-four.","stream":true}' % scenario(chunks, interval_ms)


# the client APIs of the protocol rows: path, non-stream body, stream body
# maker, headers (chat: the bench's own body.json)
PROTO_APIS = {
    "messages": ("/v1/messages", MESSAGES_BODY, messages_stream_body, ANTHROPIC_HEADERS),
    "responses": ("/v1/responses", RESPONSES_BODY, responses_stream_body, []),
    "ollama": ("/api/chat", OLLAMA_BODY, stream_body, []),
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_cpu(pid):
    """utime + stime of a process (all its threads), seconds"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, ValueError):
        return 0.0


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            if int(s[s.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(d))
        except (OSError, ValueError):
            pass
    return sorted(out)


def pss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def stat_busy():
    """user + nice + system of /proc/stat, seconds (all cores)"""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return (int(v[1]) + int(v[2]) + int(v[3])) / CLK


def core_busy():
    """per core: everything but idle and iowait (softirq included: the
    kernel's loopback work), seconds"""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = line.split()
                n = [int(x) for x in v[1:9]]
                out[v[0]] = (n[0] + n[1] + n[2] + n[5] + n[6] + n[7]) / CLK
    return out


def rusage_s(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def wall_ok(rec):
    """CPU shares of cells shorter than 0.25 s mean nothing (10 ms ticks)"""
    return rec.get("wall_s", 0) >= 0.25


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- processes
_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    """in the child before exec: die with this script (PR_SET_PDEATHSIG),
    even when it is killed with SIGKILL and cannot clean up"""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class Procs:
    """every long-lived process started here; each in its own session"""

    def __init__(self):
        self.procs = []

    def start(self, cmd, logpath, env=None, cwd=None):
        f = open(logpath, "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=env, cwd=cwd, preexec_fn=_child_setup)
        f.close()
        self.procs.append(p)
        return p

    def stop(self, p, wait=5.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        else:
            # the leader is gone; its group may not be
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        """SIGTERM to every group at once, then SIGKILL what is left after 3 s"""
        ps = list(self.procs)
        for p in ps:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 3
        for p in ps:
            try:
                p.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in ps:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                log(f"could not stop pid {p.pid}")
        self.procs = []


PROCS = Procs()


def run_client(cmd, timeout, env=None):
    """runs a load generator to completion; returns (rc, stdout, stderr)"""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env, preexec_fn=_child_setup)
    PROCS.procs.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        err = (err or b"") + b"\n(killed: took longer than %d s)" % timeout
    finally:
        if p in PROCS.procs:
            PROCS.procs.remove(p)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def http_ok(port, method="GET", path="/health", body=None, headers=None, timeout=1.0):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return False
    try:
        h = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        for x in headers or []:
            h += x + "\r\n"
        if body is not None:
            h += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        s.sendall((h + "\r\n" + (body or "")).encode())
        data = b""
        while len(data) < 12:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------- contenders
class Contender:
    def __init__(self, key, label, short):
        self.key, self.label, self.short = key, label, short
        self.port = None
        self.h2c_port = None  # None: no h2c
        self.headers = []
        self.proc = None
        self.ready_ms = None
        # the API the requests go to (the protocol rows also use /v1/messages,
        # /v1/responses and /api/chat)
        self.path = "/v1/chat/completions"
        self.ready_body = NONSTREAM_BODY
        self.body_file = None  # None: work/body.json

    def url(self, h2c=False):
        return f"http://127.0.0.1:{self.h2c_port if h2c else self.port}{self.path}"

    def pids(self):
        """the processes whose CPU and memory are counted"""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid] + children_of(self.proc.pid)

    def ready(self):
        return http_ok(self.port, "POST", self.path, self.ready_body, self.headers)

    def wait_ready(self, timeout=30):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; see its log")
            if self.ready():
                self.ready_ms = (time.monotonic() - t0) * 1000
                return
            time.sleep(0.005)
        raise RuntimeError(f"{self.label} not ready after {timeout} s")


def start_mock(cfg, work, name, pin):
    logp = os.path.join(work, f"{name}.log")
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + [cfg.mock, "--port", "0", "--no-record"]
    p = PROCS.start(cmd, logp)
    for _ in range(3000):  # up to 30 s: a busy machine starts it late
        try:
            m = re.search(r"mock listening on 127\.0\.0\.1:(\d+)", open(logp).read())
        except OSError:
            m = None
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.01)
    raise RuntimeError(f"the mock did not start; see {logp}")


def make_direct(mock_port):
    c = Contender("direct", "mock, direct", "direct")
    c.port = mock_port
    return c


# llmgate's access log is on by default; the comparisons run it off, as
# nginx's (access_log off) and h2o's (no access-log): rows (h) and (i) of the
# protocol rows measure it and tracing
ALOG_OFF = "access_log: {enabled: false}\n"


class OtlpSink:
    """a local OTLP/HTTP collector for row (i): answers every POST with an
    empty ExportTraceServiceResponse, counting the bytes and requests"""

    def __init__(self):
        import http.server
        import threading
        sink = self
        self.requests = 0
        self.bytes = 0

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                self.rfile.read(n)
                sink.requests += 1
                sink.bytes += n
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def make_llmgate(cfg, work, mock_port, key="llmgate", workers=1, pin=CORE_GW):
    c = Contender(key, "llmgate" if workers == 1 else f"llmgate, {workers} workers, unpinned", key)
    c.port = free_port()
    c.h2c_port = c.port
    conf = os.path.join(work, f"{key}.yaml")
    with open(conf, "w") as f:
        f.write(f"listen: [{{address: 127.0.0.1, port: {c.port}}}]\n"
                f"workers: {workers}\n"
                f"{ALOG_OFF}"
                f"providers: [{{name: up, type: openai, base_url: \"http://127.0.0.1:{mock_port}/v1\", "
                f"keys: [sk-bench], models: [\"*\"]}}]\n")
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + [cfg.llmgate, "-c", conf]
    c.proc = PROCS.start(cmd, os.path.join(work, f"{key}.log"))
    return c


def make_llmgate_proto(cfg, work, mock_port, key, ptype, binary, group=0, observe=None):
    """one llmgate (workers: 1, pinned to the gateway core) with one provider
    of type ptype (openai or anthropic) in front of the mock; with group=N,
    instead N providers of the mock as the targets of one weighted model
    group that every model name matches. The access log is off (as nginx's
    and h2o's) unless `observe` (YAML of access_log: and otel:) says
    otherwise; an earlier build (--before) gets neither key."""
    c = Contender(key, key, key)
    c.port = free_port()
    base = f"http://127.0.0.1:{mock_port}/v1" if ptype == "openai" else f"http://127.0.0.1:{mock_port}"
    conf = os.path.join(work, f"{key}.yaml")
    with open(conf, "w") as f:
        f.write(f"listen: [{{address: 127.0.0.1, port: {c.port}}}]\n"
                f"workers: 1\n")
        if binary == cfg.llmgate:
            f.write(observe if observe is not None else ALOG_OFF)
        if group:
            f.write("providers:\n" + "".join(f"  - {{name: up{i}, type: {ptype}, base_url: \"{base}\", "
                                             f"keys: [sk-bench-{i}], models: []}}\n" for i in range(group)) +
                    "model_groups:\n  - name: \"*\"\n    strategy: weighted\n    targets:\n" +
                    "".join(f"      - {{provider: up{i}}}\n" for i in range(group)))
        else:
            f.write(f"providers: [{{name: up, type: {ptype}, base_url: \"{base}\", "
                    f"keys: [sk-bench], models: [\"*\"]}}]\n")
    c.proc = PROCS.start(["taskset", "-c", CORE_GW, binary, "-c", conf], os.path.join(work, f"{key}.log"))
    return c


# The protocol rows: llmgate only (h2o, nginx and Portkey do not speak
# Anthropic's Messages API, OpenAI's Responses API nor Ollama's API). key,
# label, gateway (None: the mock itself), client API, upstream type. The floor
# of a row ("added" times) is the mock called directly in the upstream's own
# API. (e) and (f) go through the same llmgate as (a) and (b).
PROTO_ROUTES = [
    ("p_direct_oa", "mock, direct, /v1/chat/completions", None, "chat", "openai"),
    ("p_direct_an", "mock, direct, /v1/messages", None, "messages", "anthropic"),
    ("p_a", "(a) /v1/chat/completions → openai upstream (relay)", "openai", "chat", "openai"),
    ("p_a_before", "(a) the same, an earlier llmgate build (--before)", "before", "chat", "openai"),
    ("p_g", "(g) /v1/chat/completions → a model group of 4 targets (weighted) → openai upstream", "group", "chat",
     "openai"),
    ("p_h", "(h) (a) with the access log on (JSON lines to a file)", "alog", "chat", "openai"),
    ("p_i", "(i) (a) with traces, sample 1.0, to a local OTLP collector (protobuf)", "otel", "chat", "openai"),
    ("p_b", "(b) /v1/messages → openai upstream (translated)", "openai", "messages", "openai"),
    ("p_c", "(c) /v1/messages → anthropic upstream (relay)", "anthropic", "messages", "anthropic"),
    ("p_d", "(d) /v1/chat/completions → anthropic upstream (translated)", "anthropic", "chat", "anthropic"),
    ("p_e", "(e) /v1/responses → openai upstream (translated)", "openai", "responses", "openai"),
    ("p_f", "(f) /api/chat (Ollama) → openai upstream (translated)", "openai", "ollama", "openai"),
]
# the rows of the subsection "OpenAI Responses API and Ollama API" (with the
# floor and the relay (a) they are compared with); the others are the
# Anthropic section's
PROTO_RO_KEYS = ("p_direct_oa", "p_a", "p_e", "p_f")
PROTO_FLOOR = {"openai": "p_direct_oa", "anthropic": "p_direct_an"}


def make_h2o(cfg, work, mock_port, key="h2o", threads=1, pin=CORE_GW):
    c = Contender(key, "h2o proxy" if threads == 1 else f"h2o proxy, {threads} threads, unpinned", key)
    c.port = free_port()
    c.h2c_port = c.port
    d = os.path.join(work, key)
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "h2o.conf")
    with open(conf, "w") as f:
        f.write(f"""listen:
  host: 127.0.0.1
  port: {c.port}
num-threads: {threads}
max-connections: 20000
error-log: {d}/error.log
pid-file: {d}/h2o.pid
user: root
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:{mock_port}/
        proxy.timeout.keepalive: 60000
        proxy.timeout.io: 60000
""")
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + [cfg.h2o, "-c", conf]
    c.proc = PROCS.start(cmd, os.path.join(work, f"{key}.log"))
    return c


def h2o_pids(c):
    # the server process only: h2o also spawns a perl crash handler
    # (annotate-backtrace-symbols) that serves no request
    if c.proc is None or c.proc.poll() is not None:
        return []
    return [c.proc.pid]


def make_nginx(cfg, work, mock_port, key="nginx", pin=CORE_GW):
    c = Contender(key, "nginx proxy_pass", key)
    c.port = free_port()
    c.h2c_port = free_port()
    d = os.path.join(work, key)
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  upstream mock {{
    server 127.0.0.1:{mock_port};
    keepalive 1024;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
  }}
  server {{
    listen 127.0.0.1:{c.port} backlog=4096;
    listen 127.0.0.1:{c.h2c_port} http2 backlog=4096;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + [cfg.nginx, "-c", conf, "-p", d, "-e", f"{d}/error.log"]
    c.proc = PROCS.start(cmd, os.path.join(work, f"{key}.log"))
    return c


def make_portkey(cfg, work, mock_port, key="portkey", pin=CORE_GW, c=None, scheme="http", env=None):
    """Portkey in front of the upstream at 127.0.0.1:mock_port (scheme://),
    as contender c (default: a new Contender); env: added to its environment"""
    if c is None:
        c = Contender(key, f"Portkey gateway {cfg.portkey_version}", "portkey")
    c.port = free_port()
    c.headers = ["x-portkey-provider: openai", f"x-portkey-custom-host: {scheme}://127.0.0.1:{mock_port}/v1",
                 "Authorization: Bearer sk-bench"]
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + ["node", os.path.join(HERE, "portkey", "serve.mjs"),
                                                              f"--port={c.port}", "--headless"]
    env = dict(os.environ, PORTKEY_DIR=cfg.portkey_dir, NODE_ENV="production", **(env or {}))
    c.proc = PROCS.start(cmd, os.path.join(work, f"{key}.log"), env=env, cwd=cfg.portkey_dir)
    return c


# ---------------------------------------------------------------- https
# The HTTPS-upstream scenario (issue 17): the upstream is nginx behind TLS
# (a certificate of a private CA made here with openssl) answering a fixed
# chat completion; h2o, nginx and llmgate (its default upstream client and
# LLMGATE_UPSTREAM_CLIENT=curl) in front of it, each verifying the upstream
# against that CA, keep-alive to the upstream everywhere. The upstream nginx
# listens on one port per contender and logs `$msec $server_port $connection
# $connection_requests` of every request: a line with $connection_requests 1
# is a TLS connection opened by that contender.
HTTPS_SECTION = "## HTTPS upstreams"
HTTPS_ROWS = [
    ("s_direct", "upstream direct (TLS)"),
    ("s_h2o", "h2o proxy, `proxy.ssl.verify-peer: ON`"),
    ("s_nginx", "nginx, `proxy_ssl_verify on`"),
    ("s_llmgate", "llmgate, default upstream client"),
    ("s_llmgate_curl", "llmgate, `LLMGATE_UPSTREAM_CLIENT=curl`"),
    ("s_portkey", "Portkey gateway, `NODE_EXTRA_CA_CERTS`"),
    # controls: the same proxies to the same upstream nginx over cleartext,
    # so that what TLS itself costs each (row minus its control) is seen
    # apart from the rest of a proxy's work per request
    ("s_h2o_plain", "control: h2o proxy, cleartext upstream"),
    ("s_llmgate_plain", "control: llmgate, cleartext upstream"),
]
HTTPS_PLAIN = ("s_h2o_plain", "s_llmgate_plain")
HTTPS_ANSWER = ('{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench",'
                '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello, benchmark!"},'
                '"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}')


def make_ca(d):
    """a private CA and the upstream's certificate (ECDSA P-256; SAN
    DNS:localhost and IP:127.0.0.1) signed by it; returns (ca.pem, cert, key)"""
    os.makedirs(d, exist_ok=True)
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    crt, key, csr = os.path.join(d, "upstream.pem"), os.path.join(d, "upstream.key"), os.path.join(d, "upstream.csr")
    ext = os.path.join(d, "upstream.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (["openssl", "req", "-x509", *ec, "-keyout", cakey, "-out", ca, "-days", "2",
                 "-subj", "/CN=llmgate bench private CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
                 "-out", crt, "-days", "2", "-extfile", ext]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])}: {r.stderr.strip()[-300:]}")
    return ca, crt, key


def start_tls_upstream(cfg, work, ports, crt, key, pin=CORE_LOAD, plain=(), stream=None):
    """nginx on 127.0.0.1 behind TLS, one listening port per contender (the
    ports in plain: cleartext), answering HTTPS_ANSWER to every request; with
    stream = (port, mock port), also a TLS front on that port relaying to the
    mock unbuffered (the streaming cells: the mock paces and stamps the
    chunks); returns (process, access log)"""
    d = os.path.join(work, "tls-upstream")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    alog = os.path.join(d, "access.log")

    def listen(host, p):
        return f"    listen {host}:{p}{'' if p in plain else ' ssl'} backlog=4096;"
    listens = "\n".join(listen("127.0.0.1", p) for p in ports)
    v6 = has_ipv6_loopback()
    if v6:
        # h2o goes to https://localhost:PORT/ (2.2.5 checks no IP address
        # in a certificate), and localhost may be ::1
        listens += "\n" + "\n".join(listen("[::1]", p) for p in ports)
    relay = ""
    if stream:
        sp, mp = stream
        relay = f"""  upstream mock {{
    server 127.0.0.1:{mp};
    keepalive 1024;
  }}
  server {{
    listen 127.0.0.1:{sp} ssl backlog=4096;
{f"    listen [::1]:{sp} ssl backlog=4096;" if v6 else ""}
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
"""
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
  log_format conns '$msec $server_port $connection $connection_requests';
  access_log {alog} conns buffer=256k flush=1s;
  client_body_temp_path {d}/body;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  ssl_certificate {crt};
  ssl_certificate_key {key};
  ssl_session_cache shared:bench:4m;
  server {{
{listens}
    default_type application/json;
    location / {{
      return 200 '{HTTPS_ANSWER}';
    }}
  }}
{relay}}}
""")
    cmd = ([] if pin is None else ["taskset", "-c", pin]) + [cfg.nginx, "-c", conf, "-p", d, "-e", f"{d}/error.log"]
    p = PROCS.start(cmd, os.path.join(work, "tls-upstream.log"))
    return p, alog


def time_wait_since(port, secs):
    """sockets in TIME-WAIT with port at either end that entered it within
    the last secs seconds (Linux keeps them 60 s: `ss -o` shows the time
    left), or None when ss fails"""
    rc, out, _ = run_client(["ss", "-Htano", "state", "time-wait", f"( dport = :{port} or sport = :{port} )"], timeout=30)
    if rc != 0:
        return None
    n = 0
    for m in re.finditer(r"timer:\(timewait,([\d.]+)(ms|sec|min)", out):
        left = float(m.group(1)) * {"ms": 0.001, "sec": 1, "min": 60}[m.group(2)]
        n += left >= 60 - secs - 1
    return n


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
            return True
        finally:
            s.close()
    except OSError:
        return False


class HttpsContender(Contender):
    def __init__(self, key, label):
        super().__init__(key, label, key)
        self.up_port = None  # its own listening port on the upstream
        self.scheme = "http"
        self.env = None

    def url(self, h2c=False):
        return f"{self.scheme}://127.0.0.1:{self.port}{self.path}"

    def ready(self):
        if self.scheme == "https":
            return True
        return http_ok(self.port, "POST", self.path, self.ready_body, self.headers)


def make_https(cfg, work, key, up_port, ca, tag=""):
    """one contender of the HTTPS scenario in front of the upstream's port
    up_port (its process started; not yet ready)"""
    label = dict(HTTPS_ROWS)[key]
    c = HttpsContender(key, label)
    c.up_port = up_port
    if key == "s_direct":
        c.port, c.scheme = up_port, "https"
        return c
    if key == "s_portkey":
        # Portkey (node's fetch) trusts the private CA through
        # NODE_EXTRA_CA_CERTS; the upstream as a custom OpenAI host
        return make_portkey(cfg, work, up_port, key=key + tag, c=c, scheme="https", env={"NODE_EXTRA_CA_CERTS": ca})
    c.port = free_port()
    name = key + tag
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    pin = ["taskset", "-c", CORE_GW]
    if key in ("s_h2o", "s_h2o_plain"):
        conf = os.path.join(d, "h2o.conf")
        with open(conf, "w") as f:
            f.write(f"""listen:
  host: 127.0.0.1
  port: {c.port}
num-threads: 1
max-connections: 20000
error-log: {d}/error.log
pid-file: {d}/h2o.pid
user: root
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: {"http" if key in HTTPS_PLAIN else "https"}://localhost:{up_port}/
        proxy.ssl.verify-peer: ON
        proxy.ssl.cafile: {ca}
        proxy.timeout.keepalive: 60000
        proxy.timeout.io: 60000
""")
        cmd = pin + [cfg.h2o, "-c", conf]
    elif key == "s_nginx":
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  upstream tls_up {{
    server 127.0.0.1:{up_port};
    keepalive 1024;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
  }}
  server {{
    listen 127.0.0.1:{c.port} backlog=4096;
    location / {{
      proxy_pass https://tls_up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {ca};
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }}
  }}
}}
""")
        cmd = pin + [cfg.nginx, "-c", conf, "-p", d, "-e", f"{d}/error.log"]
    else:
        conf = os.path.join(d, "llmgate.yaml")
        scheme, tls = ("http", "") if key in HTTPS_PLAIN else ("https", f", tls: {{ca_file: \"{ca}\"}}")
        with open(conf, "w") as f:
            f.write(f"listen: [{{address: 127.0.0.1, port: {c.port}}}]\n"
                    f"workers: 1\n{ALOG_OFF}"
                    f"providers: [{{name: up, type: openai, base_url: \"{scheme}://127.0.0.1:{up_port}/v1\", "
                    f"keys: [sk-bench], models: [\"*\"]{tls}}}]\n"
                    # one key: a cell whose upstream connections time out
                    # would otherwise cool it for 30 s and more (every later
                    # cell a 429); 1 s keeps the cells independent
                    f"keys: {{cooldown: 1, max_cooldown: 1}}\n")
        cmd = pin + [cfg.llmgate, "-c", conf]
        env = dict(os.environ)
        env.pop("LLMGATE_UPSTREAM_CLIENT", None)
        if key == "s_llmgate_curl":
            env["LLMGATE_UPSTREAM_CLIENT"] = "curl"
        c.env = env
    c.proc = PROCS.start(cmd, os.path.join(work, f"{name}.log"), env=c.env)
    return c


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def read_log_us(path, t_from_us=0):
    """h2load --log-file: (start µs since the epoch, status, µs) per request"""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    try:
                        st, code, us = int(parts[0]), int(parts[1]), int(parts[2])
                    except ValueError:
                        continue
                    if st >= t_from_us:
                        out.append((st, code, us))
    except OSError:
        pass
    return out


# ---------------------------------------------------------------- cluster
# The cluster scenario (docs/cluster.md): llmgate without `cluster:`, with
# `cluster:` and Redis up, and three instances sharing one Redis; the
# redis-servers are Debian's, started here on free loopback ports with a
# password (no persistence), pinned to the mock's core.
CLUSTER_TOKEN = "sk-bench-client"
CLUSTER_ADMIN = "sk-bench-admin"
CLUSTER_PW_ENV = "LLMGATE_BENCH_REDIS_PASSWORD"
CLUSTER_HEADERS = [f"Authorization: Bearer {CLUSTER_TOKEN}"]
CLUSTER_COOL_MS = 250  # the mock's retry-after-ms for the key that answers 429
# key, label; the latency floor first
CLUSTER_ROWS = [
    ("c_direct", "mock, direct"),
    ("c_none", "1 instance, no `cluster:`"),
    ("c_one", "1 instance, `cluster:` (Redis up)"),
    ("c_three", "3 instances sharing Redis"),
]
CLUSTER_SECTION = "## Cluster (Redis)"


def resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp_read(f):
    """one RESP2 reply from a buffered socket file (errors as RuntimeError)"""
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise OSError(f"redis: bad reply {line[:40]!r}")


class RedisConn:
    """one blocking connection, authenticated"""

    def __init__(self, port, password, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")
        self.cmd("AUTH", password)

    def cmd(self, *args):
        self.s.sendall(resp_encode(args))
        return resp_read(self.f)

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


class Redis:
    """a redis-server of the benchmark, and one connection to read its
    INFO commandstats (the INFO calls themselves are left out of the counts)"""

    def __init__(self, work, name, pin=CORE_LOAD):
        self.name = name
        self.port = free_port()
        self.password = "bench-" + os.urandom(9).hex()
        cmd = ([] if pin is None else ["taskset", "-c", pin]) + [
            shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port),
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", self.password]
        self.proc = PROCS.start(cmd, os.path.join(work, f"{name}.log"))
        t0 = time.monotonic()
        while True:
            try:
                self.conn = RedisConn(self.port, self.password)
                if self.conn.cmd("PING") == "PONG":
                    break
            except (OSError, RuntimeError):
                pass
            if self.proc.poll() is not None or time.monotonic() - t0 > 20:
                raise RuntimeError(f"redis-server {name} did not start; see {work}/{name}.log")
            time.sleep(0.02)

    def commandstats(self):
        """command name -> calls so far (INFO itself left out)"""
        out = {}
        for line in self.conn.cmd("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
            if m and m.group(1) != "info":
                out[m.group(1)] = int(m.group(2))
        return out


class Subscriber(threading.Thread):
    """SUBSCRIBEs to a channel and stamps every message (time.monotonic())"""

    def __init__(self, redis, channel):
        super().__init__(daemon=True)
        self.conn = RedisConn(redis.port, redis.password, timeout=None)
        self.conn.s.settimeout(None)
        self.conn.cmd("SUBSCRIBE", channel)
        self.msgs = []
        self.lock = threading.Lock()
        self.start()

    def run(self):
        try:
            while True:
                m = resp_read(self.conn.f)
                t = time.monotonic()
                if isinstance(m, list) and len(m) == 3 and m[0] == "message":
                    with self.lock:
                        self.msgs.append((t, m[2]))
        except (OSError, ValueError, RuntimeError):
            pass

    def since(self, i):
        with self.lock:
            return self.msgs[i:], len(self.msgs)

    def count(self):
        with self.lock:
            return len(self.msgs)

    def close(self):
        try:
            self.conn.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class ClusterContender(Contender):
    """one or more llmgate instances; connections spread over their ports"""

    def __init__(self, key, label):
        super().__init__(key, label, key)
        self.procs, self.ports = [], []
        self.redis = None
        self.headers = list(CLUSTER_HEADERS)

    def pids(self):
        out = []
        for p in self.procs:
            if p.poll() is None:
                out += [p.pid] + children_of(p.pid)
        return out

    def url_args(self):
        return sum((["--url", f"http://127.0.0.1:{p}{self.path}"] for p in self.ports or [self.port]), [])

    def ready(self):
        return all(http_ok(p, "POST", self.path, self.ready_body, self.headers) for p in self.ports or [self.port])


def http_get_json(conn, path, token):
    """GET on a keep-alive http.client connection; the decoded JSON"""
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")
    return json.loads(body)


def make_llmgate_cluster(cfg, work, mport, name, redis=None, prefix=None):
    """one llmgate (workers: 1, pinned to the gateway core): an access token
    with rpm 1000000 (the rate-limit path runs, never limits), an admin token
    (/admin/keys), the provider `up` (the mock, model `bench`) and the provider
    `cool` (model `cool`) whose only key the mock answers 429 with
    retry-after-ms; with redis, `cluster:` on it. Returns (process, port)."""
    port = free_port()
    conf = os.path.join(work, f"{name}.yaml")
    base = f"http://127.0.0.1:{mport}/v1"
    with open(conf, "w") as f:
        f.write(f"listen: [{{address: 127.0.0.1, port: {port}}}]\n"
                "workers: 1\n" + ALOG_OFF +
                f"admin_token: {CLUSTER_ADMIN}\n"
                f"access_tokens: [{{token: {CLUSTER_TOKEN}, name: bench, rpm: 1000000}}]\n"
                "keys: {cooldown: 30s, max_cooldown: 60s, probe_after: 60s}\n"
                f"providers:\n"
                f"  - {{name: up, type: openai, base_url: \"{base}\", keys: [sk-bench], models: [bench]}}\n"
                f"  - {{name: cool, type: openai, base_url: \"{base}\", "
                f"keys: [sk-bench-cool-fail429-retry_after_ms={CLUSTER_COOL_MS}], models: [cool]}}\n")
        if redis is not None:
            f.write("cluster:\n  redis:\n"
                    f"    url: \"redis://127.0.0.1:{redis.port}\"\n"
                    f"    password_env: {CLUSTER_PW_ENV}\n"
                    f"    prefix: \"{prefix}\"\n"
                    "    timeout: 2s\n")
    env = dict(os.environ)
    if redis is not None:
        env[CLUSTER_PW_ENV] = redis.password
    p = PROCS.start(["taskset", "-c", CORE_GW, cfg.llmgate, "-c", conf], os.path.join(work, f"{name}.log"), env=env)
    return p, port


def wait_cluster_up(port, timeout=30):
    """/health says "cluster": "up" (the link is connected)"""
    import http.client
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            r = c.getresponse()
            h = json.loads(r.read())
            c.close()
            if h.get("cluster") == "up":
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"llmgate on port {port}: cluster not up after {timeout} s")


# ---------------------------------------------------------------- the run
class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self.out = cfg.out
        self.work = os.path.join(self.out, "work")
        os.makedirs(self.work, exist_ok=True)
        self.raw = open(os.path.join(self.out, "raw.jsonl"), "w")
        self.failures = []
        self.r = {}  # results
        self.last_load = {}
        self.mock_max = {"cpu_pct": 0.0, "core0_pct": 0.0}
        self.foreign = []
        self.retried = 0
        self.noisy_waits = 0
        self.retry_budget = cfg.retry_budget
        with open(os.path.join(self.work, "body.json"), "w") as f:
            f.write(NONSTREAM_BODY)

    # -- bookkeeping
    def all_pids(self):
        pids = list(self.mock_pids)
        for c in self.contenders:
            pids += c.pids()
        return list(dict.fromkeys(pids))

    def alive(self, c):
        """restarts a contender that died since the last cell (and says so):
        a run on a shared machine must not measure a dead process"""
        if c.proc is None or c.proc.poll() is None:
            return
        msg = f"{c.label} exited (status {c.proc.returncode}) before a {self.cur_phase} cell; restarted"
        log(msg)
        self.failures.append(msg)
        PROCS.stop(c.proc)
        if c.key in ("llmgate", "h2o", "nginx", "portkey"):
            n = self.fresh(c, self.mport, key=c.key + "-restarted")
            c.proc, c.port, c.h2c_port = n.proc, n.port, n.h2c_port
            c.wait_ready()

    def foreign_now(self, window=0.3):
        """CPU (% of one core) used by processes outside the benchmark now"""
        pids = self.all_pids()
        c0 = sum(proc_cpu(p) for p in pids)
        b0, s0 = stat_busy(), rusage_s(resource.RUSAGE_SELF)
        time.sleep(window)
        c1 = sum(proc_cpu(p) for p in pids)
        b1, s1 = stat_busy(), rusage_s(resource.RUSAGE_SELF)
        return 100 * max(0.0, (b1 - b0) - (c1 - c0) - (s1 - s0)) / window

    def wait_quiet(self):
        """waits (up to cfg.quiet_wait s) until other jobs leave the CPU alone"""
        t0 = time.monotonic()
        while time.monotonic() - t0 < self.cfg.quiet_wait:
            if self.foreign_now() <= self.cfg.noise_pct:
                return
            time.sleep(0.5)
        self.noisy_waits += 1

    def cell(self, phase, c, params, fn, check=True, retry=True):
        """runs one measurement with CPU accounting around it; a cell during
        which other jobs used more than noise_pct of a core is run again
        (up to cfg.retries times, within a budget for the whole run)"""
        for attempt in range(1 + (self.cfg.retries if retry else 0)):
            rec = self.cell_once(phase, c, params, fn, check=False)
            noisy = rec["wall_s"] >= 0.25 and rec["foreign_cpu_pct"] > self.cfg.noise_pct
            if not noisy or not retry or attempt == self.cfg.retries or self.retry_budget <= 0:
                break
            self.retry_budget -= 1
            self.retried += 1
            rec["discarded"] = "other jobs used the CPU"
            self.raw.write(json.dumps(rec) + "\n")
            self.r[phase][rec["contender_key"]].remove(rec) if phase != "mem_streams" else None
            self.wait_quiet()
        self.raw.write(json.dumps(rec) + "\n")
        self.raw.flush()
        if wall_ok(rec):
            if c.pinned:
                self.mock_max["cpu_pct"] = max(self.mock_max["cpu_pct"], rec["mock_cpu_pct"])
                self.mock_max["core0_pct"] = max(self.mock_max["core0_pct"], rec.get("core0_busy_pct", 0))
            self.foreign.append(rec["foreign_cpu_pct"])
        if check and rec.get("errors", 0):
            msg = f"{phase} {c.key} {params}: {rec.get('errors')} errors ({rec.get('first_error', '')})"
            self.failures.append(msg)
            log("FAIL " + msg)
        return rec

    def cell_once(self, phase, c, params, fn, check=True):
        self.cur_phase = phase
        if c in self.contenders:
            self.alive(c)
        pids = list(dict.fromkeys(self.all_pids() + self.gw_pids(c)))
        gw = set(self.gw_pids(c))
        cpu0 = {p: proc_cpu(p) for p in pids}
        busy0, ch0, self0 = stat_busy(), rusage_s(resource.RUSAGE_CHILDREN), rusage_s(resource.RUSAGE_SELF)
        cores0 = core_busy()
        t0 = time.monotonic()
        res = fn()
        t1 = time.monotonic()
        cpu1 = {p: proc_cpu(p) for p in pids}
        busy1, ch1, self1 = stat_busy(), rusage_s(resource.RUSAGE_CHILDREN), rusage_s(resource.RUSAGE_SELF)
        cores1 = core_busy()
        wall = t1 - t0
        d = {p: cpu1[p] - cpu0[p] for p in pids}
        res["wall_s"] = round(wall, 3)
        res["gw_cpu_s"] = round(sum(v for p, v in d.items() if p in gw), 3)
        mock_cpu = sum(d.get(p, 0) for p in self.mock_pids_for(c))
        res["mock_cpu_pct"] = round(100 * mock_cpu / wall, 1)
        res["client_cpu_pct"] = round(100 * (ch1 - ch0) / wall, 1)
        ours = sum(d.values()) + (ch1 - ch0) + (self1 - self0)
        res["foreign_cpu_pct"] = round(100 * max(0.0, (busy1 - busy0) - ours) / wall, 1)
        for core in ("cpu0", "cpu1"):
            if core in cores0 and core in cores1:
                res[f"core{core[3:]}_busy_pct"] = round(100 * (cores1[core] - cores0[core]) / wall, 1)
        rec = {"phase": phase, "contender": c.key, **params, **res}
        rec["contender_key"] = c.key
        if phase != "mem_streams":
            self.r.setdefault(phase, {}).setdefault(c.key, []).append(rec)
        else:
            self.r.setdefault(phase, {})
        self.last_load[c.key] = time.monotonic()
        return rec

    def gw_pids(self, c):
        if c.key in ("direct", "direct2", "s_direct"):
            return []
        if c.key.startswith(("h2o", "s_h2o")):
            return h2o_pids(c)
        return c.pids()

    def mock_pids_for(self, c):
        return [c.mock_pid]

    # -- load generators
    def loadgen(self, args, timeout=120):
        rc, out, err = run_client([*self.client_pin(), self.cfg.loadgen, *args], timeout)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"errors": 1, "first_error": f"loadgen rc={rc}: {err.strip()[-300:]}"}
        return res

    def h2load(self, c, conns, dur, h2c=False, streams=1):
        args = [*self.client_pin(), "h2load", "-t", "1", "-c", str(conns), "-D", f"{int(dur * 1000)}ms",
                "-d", c.body_file or os.path.join(self.work, "body.json"), "-H", "content-type: application/json"]
        for h in c.headers:
            args += ["-H", h]
        if h2c:
            args += ["-m", str(streams)]
        else:
            args += ["--h1"]
        args.append(c.url(h2c))
        mid = {}
        if self.sample_load_pss:
            def sampler():
                time.sleep(dur / 2)
                mid["pss"] = pss_kb(self.gw_pids(c))
            th = threading.Thread(target=sampler, daemon=True)
            th.start()
        rc, out, err = run_client(args, timeout=dur + 60)
        res = {"errors": 0}
        m = re.search(r"finished in ([\d.]+)(?:ms|s), ([\d.]+) req/s", out)
        m2 = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
        m3 = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if not (m and m2 and m3):
            return {"errors": 1, "first_error": f"h2load rc={rc}: {(out + err).strip()[-300:]}"}
        res["rps"] = float(m.group(2))
        res["done"] = int(m2.group(3))
        res["succeeded"] = int(m2.group(4))
        res["failed"], res["errored"], res["timeout"] = int(m2.group(5)), int(m2.group(6)), int(m2.group(7))
        res["non2xx"] = int(m3.group(2)) + int(m3.group(3)) + int(m3.group(4))
        res["errors"] = res["failed"] + res["errored"] + res["timeout"] + res["non2xx"]
        if res["errors"]:
            res["first_error"] = " ".join(l for l in out.splitlines() if l.startswith(("requests:", "status codes:")))
        if self.sample_load_pss:
            th.join()
            res["pss_kb"] = mid.get("pss")
        return res

    def client_pin(self):
        return ["taskset", "-c", CORE_LOAD] if self.pinned_now else []

    # -- phases
    def run(self):
        cfg = self.cfg
        S = cfg.smoke
        self.pinned_now = True
        self.sample_load_pss = False
        mock, mport = start_mock(cfg, self.work, "mock", CORE_LOAD)
        self.mock_pids = [mock.pid]
        self.mport = mport
        cs = [make_direct(mport)]
        cs.append(make_llmgate(cfg, self.work, mport))
        cs.append(make_h2o(cfg, self.work, mport))
        cs.append(make_nginx(cfg, self.work, mport))
        if cfg.portkey:
            cs.append(make_portkey(cfg, self.work, mport))
        for c in cs:
            c.mock_pid = mock.pid
            c.pinned = True
        self.contenders = cs
        for c in cs:
            c.wait_ready()
        # idle memory: every contender answered one request (the readiness
        # probe) and nothing else
        self.r["mem_idle"] = {}
        for c in cs[1:]:
            pids = self.gw_pids(c)
            self.r["mem_idle"][c.key] = {"pss_kb": pss_kb(pids),
                                         "per_process_kb": {str(p): pss_kb([p]) for p in pids}}
        if "llmgate" in self.r["mem_idle"]:
            lg = next(c for c in cs if c.key == "llmgate")
            self.r["mem_idle"]["llmgate"]["workers_kb"] = [pss_kb([p]) for p in children_of(lg.proc.pid)]
            self.r["mem_idle"]["llmgate"]["master_kb"] = pss_kb([lg.proc.pid])
        log("started: " + ", ".join(f"{c.key}:{c.port}" for c in cs) + f", mock:{mport}")
        reps = cfg.reps
        gws = [c for c in cs if c.key != "direct"]

        # warm-up: every contender gets a short burst first
        # (Portkey longer: node's JIT needs a few thousand requests)
        for c in cs:
            self.loadgen(["closed", "--url", c.url(), "--body-file", os.path.join(self.work, "body.json"),
                          *sum((["--header", h] for h in c.headers), []), "--conns", "8",
                          "--duration", str(cfg.warm * (5 if c.key == "portkey" else 1)), "--warmup", "0"])

        # 1. non-streaming latency at concurrency 1
        log("latency at concurrency 1")
        self.wait_quiet()
        for rep in range(reps):
            for c in cs:
                self.cell("lat1", c, {"rep": rep}, lambda c=c: self.loadgen(
                    ["closed", "--url", c.url(), "--body-file", os.path.join(self.work, "body.json"),
                     *sum((["--header", h] for h in c.headers), []), "--conns", "1",
                     "--duration", str(cfg.lat_dur), "--warmup", str(cfg.lat_warm)]))

        # 1b. the first request on a new connection (connect included)
        for rep in range(reps):
            for c in cs:
                self.cell("newconn", c, {"rep": rep}, lambda c=c: self.loadgen(
                    ["closed", "--url", c.url(), "--body-file", os.path.join(self.work, "body.json"),
                     *sum((["--header", h] for h in c.headers), []), "--conns", "1", "--reconnect", "1", "--pause-ms", "50",
                     "--duration", str(cfg.newconn_dur), "--warmup", "0"]))

        # 2. throughput: HTTP/1.1 keep-alive, h2c
        log("throughput")
        for rep in range(reps):
            for n in cfg.conc:
                for c in cs:
                    self.sample_load_pss = n == max(cfg.conc)
                    self.cell("tput_h1", c, {"rep": rep, "conns": n},
                              lambda c=c, n=n: self.h2load(c, n, cfg.tput_dur))
                    self.sample_load_pss = False
            for c in cs:
                if c.h2c_port:
                    self.cell("tput_h2c", c, {"rep": rep, "conns": cfg.h2c_conns, "streams": 16},
                              lambda c=c: self.h2load(c, cfg.h2c_conns, cfg.tput_dur, h2c=True, streams=16))

        # 3. rate sweep with a constant-rate (open-loop) client
        log("rate sweep")
        base = {}
        for c in cs:
            base[c.key] = med([x["rps"] for x in self.r["tput_h1"][c.key]
                               if x["conns"] == cfg.rate_base_conns and x.get("rps")]) or 1000
        for rep in range(reps):
            for c in cs:
                overloaded = 0
                for frac in cfg.rate_fracs:
                    rate = max(100, int(base[c.key] * frac))
                    rec = self.cell("rate", c, {"rep": rep, "frac": frac, "rate": rate}, lambda c=c, rate=rate: self.loadgen(
                        ["rate", "--url", c.url(), "--body-file", os.path.join(self.work, "body.json"),
                         *sum((["--header", h] for h in c.headers), []), "--rate", str(rate), "--conns", "64",
                         "--duration", str(cfg.rate_dur), "--warmup", str(cfg.rate_warm)]), check=False)
                    if rec.get("non2xx") or rec.get("sock_errors"):
                        self.failures.append(f"rate {c.key} {rate}/s: {rec.get('first_error')}")
                    # p99 is not monotonic in the rate here (idle cores wake
                    # up slowly): sweep on until clearly overloaded
                    over = rec.get("errors") or rec.get("p99_us", -1) < 0 or rec.get("p99_us", 0) > 20000
                    overloaded = overloaded + 1 if over else 0
                    if overloaded >= 2 or rec.get("errors"):
                        break

        # 4. streaming: one stream at a time, 64 chunks 20 ms apart
        log("streaming, one stream")
        sb = stream_body(cfg.chunks, 20)
        for rep in range(reps):
            for c in cs:
                self.cell("stream1", c, {"rep": rep}, lambda c=c: self.stream(c, 1, cfg.stream1_total, sb, cfg.chunks))
        # burst: the same chunks with no delay (the mock writes them at once)
        log("streaming, burst")
        bb = stream_body(cfg.chunks, 0)
        for rep in range(reps):
            for c in cs:
                self.cell("burst1", c, {"rep": rep}, lambda c=c: self.stream(c, 1, cfg.burst_total, bb, cfg.chunks))
                self.cell("burst64", c, {"rep": rep},
                          lambda c=c: self.stream(c, cfg.burst_conc, cfg.burst_conc * 4, bb, cfg.chunks))
        # concurrency sweep
        log("streaming, concurrency sweep")
        for rep in range(reps):
            for n in cfg.stream_conc:
                for c in cs:
                    rec = self.cell("sweep", c, {"rep": rep, "streams": n},
                                    lambda c=c, n=n: self.stream(c, n, n, sb, cfg.chunks, timeout=cfg.sweep_timeout),
                                    check=False)
                    if n <= 64 and rec.get("errors"):
                        self.failures.append(f"sweep {c.key} {n} streams: {rec.get('first_error')}")
        for c in cs:
            self.last_load[c.key] = time.monotonic()

        # 5. startup
        log("start to ready")
        self.startup()

        # 6. memory after the load
        log(f"memory {cfg.after_s} s after the load")
        self.r["mem_after"] = {}
        for c in sorted(gws, key=lambda c: self.last_load.get(c.key, 0)):
            wait = self.last_load[c.key] + cfg.after_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.r["mem_after"][c.key] = {"pss_kb": pss_kb(self.gw_pids(c)),
                                          "after_s": round(time.monotonic() - self.last_load[c.key], 1)}
        # 7. memory per in-flight stream: a fresh copy of each gateway (what an
        # earlier cell allocated would hide the cost), Pss after one request,
        # then with mem_streams streams open
        log(f"memory with {cfg.mem_streams} open streams (fresh processes)")
        for rep in range(reps):
            for c in gws:
                f = self.fresh(c, mport)
                try:
                    f.wait_ready()
                    time.sleep(0.2)
                    pre = pss_kb(self.gw_pids(f))
                    rec = self.cell("mem_streams", f, {"rep": rep, "streams": cfg.mem_streams, "of": c.key,
                                                       "pss_before_kb": pre},
                                    lambda f=f: self.stream(f, cfg.mem_streams, cfg.mem_streams, sb, cfg.chunks,
                                                            pss=self.gw_pids(f), timeout=cfg.sweep_timeout),
                                    check=False, retry=False)
                    self.r["mem_streams"].setdefault(c.key, []).append(rec)
                finally:
                    PROCS.stop(f.proc)

        for c in cs:
            if c.proc:
                PROCS.stop(c.proc)
        PROCS.stop(mock)

        # 8. the unpinned run: llmgate with 2 workers and h2o with 2 threads
        if cfg.unpinned:
            log("unpinned run")
            self.pinned_now = False
            mock2, mport2 = start_mock(cfg, self.work, "mock-unpinned", None)
            self.mock_pids = [mock2.pid]
            us = [make_direct(mport2)]
            us[0].key, us[0].label = "direct2", "mock, direct, unpinned"
            us.append(make_llmgate(cfg, self.work, mport2, key="llmgate2", workers=2, pin=None))
            us.append(make_h2o(cfg, self.work, mport2, key="h2o2", threads=2, pin=None))
            for c in us:
                c.mock_pid = mock2.pid
                c.pinned = False
            self.contenders = us
            for c in us:
                c.wait_ready()
            for c in us:
                self.loadgen(["closed", "--url", c.url(), "--body-file", os.path.join(self.work, "body.json"),
                              "--conns", "8", "--duration", str(cfg.warm), "--warmup", "0"])
            for rep in range(reps):
                for c in us:
                    self.cell("u_lat1", c, {"rep": rep}, lambda c=c: self.loadgen(
                        ["closed", "--url", c.url(), "--body-file", os.path.join(self.work, "body.json"),
                         "--conns", "1", "--duration", str(cfg.lat_dur), "--warmup", str(cfg.lat_warm)]))
                for c in us:
                    self.cell("u_tput_h1", c, {"rep": rep, "conns": cfg.unpinned_conns},
                              lambda c=c: self.h2load(c, cfg.unpinned_conns, cfg.tput_dur))
                for c in us:
                    if c.h2c_port:
                        self.cell("u_tput_h2c", c, {"rep": rep, "conns": cfg.h2c_conns, "streams": 16},
                                  lambda c=c: self.h2load(c, cfg.h2c_conns, cfg.tput_dur, h2c=True, streams=16))
            self.unpinned_labels = {c.key: c.label for c in us}
            for c in us:
                if c.proc:
                    PROCS.stop(c.proc)
            PROCS.stop(mock2)
        self.labels = {c.key: c.label for c in cs}
        self.ready_ms = {c.key: c.ready_ms for c in cs}

        # 9. the protocol rows (llmgate only): Anthropic's Messages API,
        # OpenAI's Responses API, Ollama's /api/chat
        log("protocol rows (Anthropic Messages API, Responses API, Ollama)")
        self.run_protocols()

        # 10. the cluster scenario (llmgate only, with redis-server)
        if cfg.redis:
            log("cluster (Redis)")
            self.run_cluster()
        else:
            log("cluster (Redis): skipped, no redis-server")

        # 11. HTTPS upstreams (h2o, nginx, llmgate twice; nginx behind TLS)
        log("HTTPS upstreams")
        self.run_https()

    def run_protocols(self):
        """the protocol rows: one mock (core 0), llmgate with an openai
        provider, llmgate with an anthropic provider and, with --before, the
        older llmgate with the openai provider (core 1); every row is one
        (gateway, client API) pair, the rows alternating in every cell"""
        cfg = self.cfg
        self.pinned_now = True
        self.sample_load_pss = False
        mock, mport = start_mock(cfg, self.work, "mock-protocols", CORE_LOAD)
        self.mock_pids = [mock.pid]
        self.mport = mport
        api_files = {}
        for api, (_, body, _, _) in PROTO_APIS.items():
            api_files[api] = os.path.join(self.work, f"body-{api}.json")
            with open(api_files[api], "w") as f:
                f.write(body)
        gws = {"openai": make_llmgate_proto(cfg, self.work, mport, "llmgate-openai", "openai", cfg.llmgate),
               "anthropic": make_llmgate_proto(cfg, self.work, mport, "llmgate-anthropic", "anthropic", cfg.llmgate)}
        gws["group"] = make_llmgate_proto(cfg, self.work, mport, "llmgate-group", "openai", cfg.llmgate, group=4)
        alog = os.path.join(self.work, "access.jsonl")
        gws["alog"] = make_llmgate_proto(cfg, self.work, mport, "llmgate-alog", "openai", cfg.llmgate,
                                         observe=f"access_log: {{path: \"{alog}\", format: json}}\n")
        sink = OtlpSink()
        gws["otel"] = make_llmgate_proto(cfg, self.work, mport, "llmgate-otel", "openai", cfg.llmgate,
                                         observe=ALOG_OFF + f"otel: {{endpoint: \"http://127.0.0.1:{sink.port}\", sample: 1.0}}\n")
        if cfg.llmgate_before:
            gws["before"] = make_llmgate_proto(cfg, self.work, mport, "llmgate-before", "openai", cfg.llmgate_before)
        routes = []
        for key, label, gw, api, up in PROTO_ROUTES:
            if gw is not None and gw not in gws:
                continue
            c = Contender(key, label, key)
            if gw is None:
                c.port = mport
            else:
                c.port, c.proc = gws[gw].port, gws[gw].proc
            c.gw, c.api, c.upstream = gw, api, up
            if api in PROTO_APIS:
                c.path, c.ready_body, c.sbody, hdrs = PROTO_APIS[api]
                c.body_file, c.headers = api_files[api], list(hdrs)
            else:
                c.sbody = stream_body
            c.mock_pid, c.pinned = mock.pid, True
            routes.append(c)
        self.contenders = routes
        for c in routes:
            c.wait_ready()
        log("protocol rows: " + ", ".join(f"{c.key}:{c.port}{c.path}" for c in routes) + f", mock:{mport}")
        for c in routes:
            self.loadgen(["closed", "--url", c.url(), "--body-file", c.body_file or os.path.join(self.work, "body.json"),
                          *sum((["--header", h] for h in c.headers), []), "--conns", "8",
                          "--duration", str(cfg.warm), "--warmup", "0"])
        ch = cfg.chunks
        for rep in range(cfg.reps):
            log(f"protocol rows, repetition {rep + 1} of {cfg.reps}")
            self.wait_quiet()
            for c in routes:
                self.cell("p_lat1", c, {"rep": rep}, lambda c=c: self.loadgen(
                    ["closed", "--url", c.url(), "--body-file", c.body_file or os.path.join(self.work, "body.json"),
                     *sum((["--header", h] for h in c.headers), []), "--conns", "1",
                     "--duration", str(cfg.p_lat_dur), "--warmup", str(cfg.lat_warm)]))
            for c in routes:
                self.cell("p_cpu", c, {"rep": rep, "conns": cfg.rate_base_conns},
                          lambda c=c: self.h2load(c, cfg.rate_base_conns, cfg.tput_dur))
            for c in routes:
                self.cell("p_stream1", c, {"rep": rep}, lambda c=c: self.stream(
                    c, 1, cfg.stream1_total, c.sbody(ch, 20), ch))
            for c in routes:
                self.cell("p_streams", c, {"rep": rep, "streams": cfg.p_streams}, lambda c=c: self.stream(
                    c, cfg.p_streams, cfg.p_streams * cfg.p_rounds, c.sbody(ch, 20), ch))
            for c in routes:
                self.cell("p_burst", c, {"rep": rep, "streams": cfg.burst_conc}, lambda c=c: self.stream(
                    c, cfg.burst_conc, cfg.burst_conc * cfg.p_burst_rounds, c.sbody(ch, 0), ch))
        for g in gws.values():
            PROCS.stop(g.proc)
        PROCS.stop(mock)
        log(f"OTLP sink: {sink.requests} export requests, {sink.bytes} bytes")
        sink.close()
        self.proto_labels = {c.key: c.label for c in routes}

    def h2load_s(self, c, conns, dur, warm, logfile=None, n_req=None):
        """h2load over HTTP/1.1 (keep-alive; TLS for the upstream itself) to
        c: conns connections for dur s after warm s; with logfile, p50/p99 of
        the requests started after the warm-up (h2load --log-file). With
        n_req: n_req requests in all instead of a duration (every one is
        answered before h2load ends). Keeps the
        wall-clock window of the measurement for the upstream's access log."""
        if logfile and os.path.exists(logfile):
            os.unlink(logfile)
        args = [*self.client_pin(), "h2load", "--h1", "-t", "1", "-c", str(conns),
                *(["-n", str(n_req)] if n_req else ["-D", f"{int(dur * 1000)}ms"]),
                "-d", os.path.join(self.work, "body.json"), "-H", "content-type: application/json",
                *sum((["-H", h] for h in c.headers), [])]
        if warm:
            args += ["--warm-up-time", f"{int(warm * 1000)}ms"]
        if logfile:
            args += ["--log-file", logfile]
        args.append(c.url())
        t0 = time.time()
        rc, out, err = run_client(args, timeout=dur + warm + 60)
        t1 = time.time()
        res = {"errors": 0, "win_from": t0 + warm, "win_to": t1}
        m = re.search(r"finished in ([\d.]+)(?:ms|s), ([\d.]+) req/s", out)
        m2 = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                       r"(\d+) errored, (\d+) timeout", out)
        m3 = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if not (m and m2 and m3):
            return {"errors": 1, "first_error": f"h2load rc={rc}: {(out + err).strip()[-300:]}", **res}
        res["rps"] = float(m.group(2))
        res["done"], res["succeeded"] = int(m2.group(3)), int(m2.group(4))
        # h2load counts a non-2xx answer as failed too
        res["errors"] = max(int(m2.group(5)) + int(m2.group(6)) + int(m2.group(7)), sum(int(m3.group(i)) for i in (2, 3, 4)))
        if res["errors"]:
            res["first_error"] = " ".join(l for l in out.splitlines() if l.startswith(("requests:", "status codes:")))
        if logfile:
            xs = read_log_us(logfile, int((t0 + warm) * 1e6))
            lat = [us for _, code, us in xs if 200 <= code < 300]
            res["n_lat"] = len(lat)
            res["p50_us"], res["p99_us"] = pctl(lat, 50), pctl(lat, 99)
            res["max_us"] = max(lat) if lat else None
        return res

    def run_https(self):
        """the HTTPS-upstream scenario (docs/benchmarks.md, "HTTPS
        upstreams"): nginx behind TLS on core 0 as the upstream (one port per
        contender), h2o, nginx and llmgate twice (default upstream client and
        LLMGATE_UPSTREAM_CLIENT=curl) on core 1, h2load on core 0; latency at
        concurrency 1, throughput at cfg.s_conc connections, a cold start
        (fresh process, at once 32 connections), and the TLS connections each
        contender opened to the upstream (its access log)"""
        cfg = self.cfg
        self.pinned_now = True
        self.sample_load_pss = False
        d = os.path.join(self.work, "https")
        ca, crt, key = make_ca(os.path.join(d, "pki"))
        rows = [(k, l) for k, l in HTTPS_ROWS if k != "s_portkey" or cfg.portkey]
        ports = {k: free_port() for k, _ in rows}
        # streaming: the mock (pacing and stamping chunks) behind the same
        # nginx's TLS on its own port
        mock, mport = start_mock(cfg, d, "mock-https", CORE_LOAD)
        sport = free_port()
        up, alog = start_tls_upstream(cfg, d, list(ports.values()), crt, key,
                                      plain=[ports[k] for k in HTTPS_PLAIN if k in ports], stream=(sport, mport))
        for _ in range(3000):
            if all(port_open(p) for p in ports.values()):
                break
            if up.poll() is not None:
                raise RuntimeError(f"the TLS upstream (nginx) exited; see {d}/tls-upstream/error.log")
            time.sleep(0.01)
        time.sleep(0.1)
        up_pids = [up.pid] + children_of(up.pid)
        self.mock_pids = up_pids + [mock.pid]
        self.https_up_pid = up_pids[-1]
        cs = [make_https(cfg, d, k, ports[k], ca) for k, _ in rows]
        for c in cs:
            c.mock_pid, c.pinned = up_pids[-1], True
        self.contenders = cs
        for c in cs:
            c.wait_ready()
        log("https: " + ", ".join(f"{c.key}:{c.port}" for c in cs) + f", upstream (TLS): {up.pid}")
        for c in cs:  # warm-up; the first TLS connections (node's JIT: longer)
            self.h2load_s(c, 8, cfg.warm * (5 if c.key == "s_portkey" else 1), 0)
        logf = os.path.join(d, "h2load-requests.log")
        cold_keys = [k for k, _ in rows if k != "s_direct" and k not in HTTPS_PLAIN]
        for rep in range(cfg.reps):
            log(f"https, repetition {rep + 1} of {cfg.reps}")
            for c in cs:
                self.cell("s_lat1", c, {"rep": rep}, lambda c=c: self.h2load_s(c, 1, cfg.lat_dur, cfg.lat_warm, logf),
                          retry=False)
            for n in cfg.s_conc:
                for c in cs:
                    self.cell("s_tput", c, {"rep": rep, "conns": n},
                              lambda c=c, n=n: self.h2load_s(c, n, cfg.tput_dur, cfg.lat_warm), retry=False)
            # cold start: a fresh process, and as soon as its port accepts,
            # 32 connections at once
            for k in cold_keys:
                c = make_https(cfg, d, k, ports[k], ca, tag=f"-cold{rep}")
                c.mock_pid, c.pinned = up_pids[-1], True
                t0 = time.monotonic()
                while not port_open(c.port):
                    if c.proc.poll() is not None or time.monotonic() - t0 > 30:
                        raise RuntimeError(f"{c.label} (cold start) did not listen; see its log")
                    time.sleep(0.002)
                rec = self.cell("s_cold", c, {"rep": rep, "conns": 32, "listen_ms": round((time.monotonic() - t0) * 1000, 1)},
                                lambda c=c: self.h2load_s(c, 32, 60, 0, logf, n_req=cfg.s_cold_n), retry=False)
                PROCS.stop(c.proc)
        # the measured processes go before the fresh ones of the streaming
        # and churn cells: their idle upstream connections would close (and
        # enter TIME-WAIT) during those cells
        for c in cs:
            if c.proc is not None:
                PROCS.stop(c.proc)
        self.https_streams(cs, sport, mport, ca, d)
        if cfg.s_churn:
            self.https_churn(cs, ports, ca, d)
        # the upstream's access log: every cell's requests and the TLS
        # connections opened (first request on a connection), per contender
        time.sleep(1.3)  # flush=1s
        PROCS.stop(up)
        PROCS.stop(mock)
        for c in cs:
            if c.proc is not None:
                PROCS.stop(c.proc)
        lines = []
        try:
            with open(alog) as f:
                for line in f:
                    p = line.split()
                    if len(p) == 4:
                        lines.append((float(p[0]), int(p[1]), int(p[3])))
        except OSError:
            pass
        for phase in ("s_lat1", "s_tput", "s_cold", "s_churn"):
            for k, recs in self.r.get(phase, {}).items():
                for rec in recs:
                    if "win_from" not in rec:
                        continue
                    sel = [x for x in lines if x[1] == ports[k] and rec["win_from"] <= x[0] <= rec["win_to"] + 0.05]
                    rec["up_reqs"] = len(sel)
                    rec["up_opens"] = sum(1 for x in sel if x[2] == 1)
                    self.raw.write(json.dumps({"phase": phase + "_upstream", "contender": k, "rep": rec.get("rep"),
                                               "conns": rec.get("conns"), "up_reqs": rec["up_reqs"],
                                               "up_opens": rec["up_opens"]}) + "\n")
        self.raw.flush()
        self.https_labels = {c.key: c.label for c in cs}

    def https_streams(self, cs, sport, mport, ca, work):
        """streaming over TLS: each proxy (a fresh process) in front of the
        mock behind nginx's TLS (sport); one stream at a time, then 64 at
        once, 64 chunks 20 ms apart, stamped by the mock. The reference row
        is the mock called directly (cleartext: the client has no TLS), so
        every proxy's added time includes the TLS front's relay, the same for
        all of them"""
        cfg = self.cfg
        sb = stream_body(cfg.chunks, 20)
        direct = HttpsContender("s_direct", "mock direct (cleartext)")
        direct.port, direct.mock_pid, direct.pinned = mport, self.mock_pids[-1], True
        rows = [direct]
        for k in [c.key for c in cs if c.key != "s_direct" and c.key not in HTTPS_PLAIN]:
            c = make_https(cfg, work, k, sport, ca, tag="-stream")
            c.mock_pid, c.pinned = self.https_up_pid, True
            c.wait_ready()
            rows.append(c)
        for rep in range(cfg.reps):
            log(f"https streaming, repetition {rep + 1} of {cfg.reps}")
            for c in rows:
                self.cell("s_stream1", c, {"rep": rep}, lambda c=c: self.stream(c, 1, cfg.stream1_total, sb, cfg.chunks),
                          retry=False)
            for c in rows:
                self.cell("s_stream64", c, {"rep": rep, "streams": 64},
                          lambda c=c: self.stream(c, 64, 64, sb, cfg.chunks), retry=False)
        for c in rows[1:]:
            PROCS.stop(c.proc)

    def https_churn(self, cs, ports, ca, work):
        """--https-churn S (issue 17: "TIME-WAIT towards the upstream stays
        near zero over a 60 s run at 32 and 512 client connections"): a fresh
        process of each proxy under S s of load at 32, then at 512
        connections; after each run, before the process stops, the sockets in
        TIME-WAIT on its upstream port (either end) that entered it during
        the run, and (the upstream's access log) the connections it opened:
        as many as the connections of the load is no churn"""
        cfg = self.cfg
        for n in (32, 512):
            for k in [c.key for c in cs if c.key != "s_direct" and c.key not in HTTPS_PLAIN]:
                log(f"https churn: {k}, {n} connections, {cfg.s_churn:g} s")
                c = make_https(cfg, work, k, ports[k], ca, tag=f"-churn{n}")
                c.mock_pid, c.pinned = self.https_up_pid, True
                c.wait_ready()

                def run(c=c, n=n):
                    t0 = time.monotonic()
                    res = self.h2load_s(c, n, cfg.s_churn, 0)
                    res["time_wait"] = time_wait_since(ports[c.key], time.monotonic() - t0)
                    return res
                self.cell("s_churn", c, {"conns": n, "seconds": cfg.s_churn}, run, retry=False)
                PROCS.stop(c.proc)

    def run_cluster(self):
        """the cluster scenario (docs/benchmarks.md, "Cluster (Redis)"): one
        llmgate without `cluster:`, one with `cluster:` and Redis up, three
        sharing one Redis (each set-up with its own redis-server, so that the
        command counts are its own), all pinned to the gateway core; the mock,
        the redis-servers and the client to core 0. Throughput at
        cfg.cl_conc connections, latency at concurrency 1, Redis commands per
        request in every cell, then the propagation of a key's cooldown from
        one of the three instances to the two others"""
        cfg = self.cfg
        self.pinned_now = True
        self.sample_load_pss = False
        mock, mport = start_mock(cfg, self.work, "mock-cluster", CORE_LOAD)
        self.mock_pids = [mock.pid]
        self.mport = mport
        r1 = Redis(self.work, "redis-one")
        r3 = Redis(self.work, "redis-three")
        self.mock_pids += [r1.proc.pid, r3.proc.pid]
        cs = []
        for key, label in CLUSTER_ROWS:
            c = ClusterContender(key, label)
            if key == "c_direct":
                c.port, c.headers = mport, []
            elif key == "c_none":
                p, port = make_llmgate_cluster(cfg, self.work, mport, "llmgate-nocluster")
                c.procs, c.ports = [p], [port]
            elif key == "c_one":
                c.redis, c.prefix = r1, "llmgate-bench-one:"
                p, port = make_llmgate_cluster(cfg, self.work, mport, "llmgate-cluster1", r1, c.prefix)
                c.procs, c.ports = [p], [port]
            else:
                c.redis, c.prefix = r3, "llmgate-bench-three:"
                for i in range(3):
                    p, port = make_llmgate_cluster(cfg, self.work, mport, f"llmgate-cluster3-{'abc'[i]}", r3, c.prefix)
                    c.procs.append(p)
                    c.ports.append(port)
            if c.procs:
                c.proc, c.port = c.procs[0], c.ports[0]
            c.mock_pid, c.pinned = mock.pid, True
            cs.append(c)
        self.contenders = cs
        for c in cs:
            c.wait_ready()
            if c.redis is not None:
                for port in c.ports:
                    wait_cluster_up(port)
        log("cluster: " + ", ".join(f"{c.key}:{'/'.join(map(str, c.ports or [c.port]))}" for c in cs)
            + f", mock:{mport}, redis:{r1.port}/{r3.port}")
        body = os.path.join(self.work, "body.json")
        for c in cs:
            self.loadgen(["closed", *c.url_args(), "--body-file", body, *sum((["--header", h] for h in c.headers), []),
                          "--conns", "8", "--duration", str(cfg.warm), "--warmup", "0"])

        def measured(c, args):
            """a loadgen run, with the Redis commands counted around it"""
            before = c.redis.commandstats() if c.redis else None
            t0 = time.monotonic()
            res = self.loadgen(args)
            window = time.monotonic() - t0
            if c.redis is not None:
                after = c.redis.commandstats()
                by = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
                res["redis_cmds"] = sum(by.values())
                res["redis_by_cmd"] = by
                res["redis_window_s"] = round(window, 3)
                res["redis_cmds_per_s"] = round(res["redis_cmds"] / window, 2)
                if res.get("requests"):
                    # (commands/s) / (requests/s / 1000), over the same window
                    res["redis_per_1k"] = round(1000 * res["redis_cmds"] / res["requests"], 4)
            return res

        for rep in range(cfg.reps):
            log(f"cluster, repetition {rep + 1} of {cfg.reps}")
            self.wait_quiet()
            for c in cs:
                self.cell("cl_lat1", c, {"rep": rep}, lambda c=c: measured(c, [
                    "closed", *c.url_args(), "--body-file", body, *sum((["--header", h] for h in c.headers), []),
                    "--conns", "1", "--duration", str(cfg.cl_lat_dur), "--warmup", str(cfg.lat_warm)]))
            for n in cfg.cl_conc:
                for c in cs[1:]:
                    self.cell("cl_tput", c, {"rep": rep, "conns": n}, lambda c=c, n=n: measured(c, [
                        "closed", *c.url_args(), "--body-file", body, *sum((["--header", h] for h in c.headers), []),
                        "--conns", str(n), "--duration", str(cfg.tput_dur), "--warmup", "0.2"]))
        log(f"cluster: cooldown propagation, {cfg.cl_trials} trials")
        self.cluster_propagation(cs[-1])
        for c in cs:
            for p in c.procs:
                PROCS.stop(p)
        for r in (r1, r3):
            r.conn.close()
            PROCS.stop(r.proc)
        PROCS.stop(mock)
        self.cluster_labels = {c.key: c.label for c in cs}

    def cluster_propagation(self, c):
        """a 429 for the key of provider `cool` seen by instance A (one
        request), then /admin/keys of B and C polled back to back (about 1 ms
        apart) until both show the key cooling; a subscriber on the
        `<prefix>keys` channel stamps the message meanwhile. Times from the end
        of A's answer (the key rests before A answers)."""
        import http.client
        cfg = self.cfg
        sub = Subscriber(c.redis, c.prefix + "keys")
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=5) for p in c.ports]
        req = json.dumps({"model": "cool", "messages": [{"role": "user", "content": "hi"}]})
        trials = self.r.setdefault("cl_prop", [])

        def cooling(i):
            for k in http_get_json(conns[i], "/admin/keys", CLUSTER_ADMIN)["keys"]:
                if k.get("provider") == "cool":
                    return k.get("state") == "cooling", k.get("state")
            raise RuntimeError("no key of provider cool in /admin/keys")
        try:
            for t in range(cfg.cl_trials):
                # the previous rest is over everywhere
                t_wait = time.monotonic()
                while any(cooling(i)[1] != "usable" for i in range(3)):
                    if time.monotonic() - t_wait > 10:
                        raise RuntimeError("the key of provider cool did not become usable again within 10 s")
                    time.sleep(0.01)
                mark = sub.count()
                conns[0].request("POST", "/v1/chat/completions", body=req,
                                 headers={"Authorization": f"Bearer {CLUSTER_TOKEN}",
                                          "Content-Type": "application/json"})
                r = conns[0].getresponse()
                r.read()
                t0 = time.monotonic()
                seen = {}
                while len(seen) < 2 and time.monotonic() - t0 < 5:
                    for i in (1, 2):
                        if i not in seen and cooling(i)[0]:
                            seen[i] = time.monotonic()
                    time.sleep(0.0005)
                msgs, _ = sub.since(mark)
                pub = next((tm for tm, m in msgs if len(m.split()) >= 4 and m.split()[3] == "c"), None)
                if pub is None and msgs:
                    pub = msgs[0][0]
                rec = {"trial": t, "status_a": r.status,
                       "b_ms": round((seen[1] - t0) * 1000, 3) if 1 in seen else None,
                       "c_ms": round((seen[2] - t0) * 1000, 3) if 2 in seen else None,
                       "pub_ms": round((pub - t0) * 1000, 3) if pub is not None else None,
                       "messages": len(msgs)}
                if pub is not None:
                    rec["apply_b_ms"] = round((seen[1] - pub) * 1000, 3) if 1 in seen else None
                    rec["apply_c_ms"] = round((seen[2] - pub) * 1000, 3) if 2 in seen else None
                trials.append(rec)
                self.raw.write(json.dumps({"phase": "cl_prop", **rec}) + "\n")
                if len(seen) < 2:
                    msg = f"cluster propagation trial {t}: the key was not cooling on B and C within 5 s"
                    self.failures.append(msg)
                    log("FAIL " + msg)
        except (OSError, RuntimeError, ValueError) as e:
            msg = f"cluster propagation: {e}"
            self.failures.append(msg)
            log("FAIL " + msg)
        finally:
            for x in conns:
                x.close()
            sub.close()
        self.raw.flush()

    def fresh(self, c, mport, key=None):
        cfg, key = self.cfg, key or c.key + "-fresh"
        if c.key == "llmgate":
            f = make_llmgate(cfg, self.work, mport, key=key)
        elif c.key == "h2o":
            f = make_h2o(cfg, self.work, mport, key=key)
        elif c.key == "nginx":
            f = make_nginx(cfg, self.work, mport, key=key)
        else:
            f = make_portkey(cfg, self.work, mport, key=key)
        f.mock_pid, f.pinned = c.mock_pid, c.pinned
        return f

    def stream(self, c, n, total, body, chunks, pss=None, timeout=None):
        args = ["stream", "--url", c.url(), "--body", body, *sum((["--header", h] for h in c.headers), []),
                "--streams", str(n), "--total", str(total), "--chunks", str(chunks),
                "--timeout", str(timeout or self.cfg.stream_timeout)]
        if n > 1:
            # spread the starts over at least one chunk interval, so that the
            # streams' chunks are not all due at the same instant
            args += ["--ramp-ms", str(max(20, min(400, n / 16)))]
        if pss:
            args += ["--pss-pids", ",".join(map(str, pss))]
        return self.loadgen(args, timeout=(timeout or self.cfg.stream_timeout) + 30)

    def startup(self):
        cfg = self.cfg
        res = {}
        # llmgate: the project's own script (median of 10 starts, /health answered)
        env = dict(os.environ, PORT=str(free_port()))
        rc, out, err = run_client(["bash", os.path.join(HERE, "startup.sh"), cfg.llmgate], 120, env=env)
        m = re.search(r"median ([\d.]+) ms", out)
        res["llmgate"] = {"median_ms": float(m.group(1)) if m else None, "how": out.strip() or err.strip()[-200:]}
        # the others: the same measure (exec to the first answered /health,
        # which they proxy to the mock), fewer starts
        mock, mport = start_mock(cfg, self.work, "mock-startup", CORE_LOAD)
        try:
            makers = [("h2o", lambda: make_h2o(cfg, self.work, mport, key="h2o-start")),
                      ("nginx", lambda: make_nginx(cfg, self.work, mport, key="nginx-start"))]
            if cfg.portkey:
                makers.append(("portkey", lambda: make_portkey(cfg, self.work, mport)))
            for key, mk in makers:
                times = []
                for _ in range(cfg.startup_n):
                    t0 = time.monotonic()
                    c = mk()
                    try:
                        while time.monotonic() - t0 < 30:
                            if (http_ok(c.port) if key != "portkey" else c.ready()):
                                times.append((time.monotonic() - t0) * 1000)
                                break
                            time.sleep(0.0005)
                    finally:
                        PROCS.stop(c.proc)
                res[key] = {"median_ms": round(med(times), 1) if times else None, "n": len(times)}
        finally:
            PROCS.stop(mock)
        self.r["startup"] = res


# ---------------------------------------------------------------- report
SHORT = {"direct": "mock, direct", "llmgate": "llmgate", "h2o": "h2o proxy", "nginx": "nginx", "portkey": "Portkey"}


def fmt(v, unit="", nd=0):
    if v is None:
        return "n/a"
    if isinstance(v, float) and nd == 0 and abs(v) < 10 and v != int(v):
        nd = 1
    return f"{v:,.{nd}f}{unit}"


def ratio(a, b):
    """a / b; none when either is missing or not positive (an added time
    that is zero or negative is within the noise: no meaningful ratio)"""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b


def rfmt(x):
    if x is None:
        return "n/a"
    return f"{x:.3f}×" if x < 0.1 else f"{x:.2f}×"


class Report:
    def __init__(self, b):
        self.b = b
        self.cfg = b.cfg
        self.r = b.r
        self.labels = b.labels
        self.keys = [k for k in ["direct", "llmgate", "h2o", "nginx", "portkey"] if k in self.labels]
        self.gws = [k for k in self.keys if k != "direct"]
        self.s = self.summarize()

    def medof(self, phase, key, field, **match):
        rows = [x for x in self.r.get(phase, {}).get(key, []) if all(x.get(k) == v for k, v in match.items())]
        return med([x.get(field) for x in rows if x.get(field) is not None and x.get(field) >= 0])

    def summarize(self):
        cfg, r = self.cfg, self.r
        s = {"lat": {}, "tput": {}, "h2c": {}, "cpu": {}, "rate": {}, "stream1": {}, "burst": {}, "sweep": {},
             "mem": {}, "startup": r.get("startup", {}), "unpinned": {}}
        for k in self.keys:
            s["lat"][k] = {q: self.medof("lat1", k, q) for q in ["p50_us", "p99_us", "p999_us", "rps"]}
        d = s["lat"]["direct"]
        for k in self.gws:
            for q in ["p50_us", "p99_us", "p999_us"]:
                v = s["lat"][k][q]
                s["lat"][k]["added_" + q] = None if v is None or d[q] is None else v - d[q]
        s["newconn"] = {k: {q: self.medof("newconn", k, q) for q in ["p50_us", "p99_us", "rps"]} for k in self.keys}
        for k in self.keys:
            s["tput"][k] = {n: self.medof("tput_h1", k, "rps", conns=n) for n in cfg.conc}
            s["h2c"][k] = self.medof("tput_h2c", k, "rps")
            # CPU per request at the base concurrency, from the gateway's (or,
            # for direct, the mock's) utime+stime
            rows = [x for x in r.get("tput_h1", {}).get(k, []) if x["conns"] == cfg.rate_base_conns and x.get("done")]
            if k == "direct":
                s["cpu"][k] = med([x["mock_cpu_pct"] / 100 * x["wall_s"] / x["done"] * 1e6 for x in rows])
            else:
                s["cpu"][k] = med([x["gw_cpu_s"] / x["done"] * 1e6 for x in rows])
            s.setdefault("busy", {})[k] = {
                "gw_pct": med([x.get("core1_busy_pct") for x in rows]) if k != "direct" else None,
                "core0_pct": med([x.get("core0_busy_pct") for x in rows])}
        # rate sweep: per rep, the highest rate whose p99 was under the bound
        # (without errors); the median of the reps
        for k in self.keys:
            rows = r.get("rate", {}).get(k, [])
            out = {}
            for bound in (1000, 5000):
                per = []
                for rep in range(cfg.reps):
                    ok = [x["rate"] for x in rows if x["rep"] == rep and not x.get("errors")
                          and 0 <= x.get("p99_us", -1) < bound]
                    per.append(max(ok) if ok else 0)
                out[bound] = med(per)
            out["curve"] = sorted({x["rate"]: None for x in rows})
            s["rate"][k] = out
        for k in self.keys:
            s["stream1"][k] = {q: self.medof("stream1", k, q) for q in
                               ["ttft_p50_us", "delay_p50_us", "delay_p99_us", "gap_p50_us", "gap_p99_us", "gap_max_us"]}
            rows = r.get("stream1", {}).get(k, []) + r.get("burst1", {}).get(k, []) + r.get("burst64", {}).get(k, [])
            s["burst"][k] = {"ttft_p50_us": self.medof("burst1", k, "ttft_p50_us"),
                             "delay_p50_us": self.medof("burst1", k, "delay_p50_us"),
                             "delay_p99_us": self.medof("burst1", k, "delay_p99_us"),
                             "delay64_p99_us": self.medof("burst64", k, "delay_p99_us"),
                             "events": sum(x.get("content_events", 0) for x in rows),
                             "expected": sum(x.get("streams", 0) * x.get("chunks_expected", 0) for x in rows),
                             "lost": sum(x.get("lost_chunks", 0) for x in rows),
                             "merged": sum(x.get("merged_events", 0) for x in rows),
                             "bad": sum(x.get("streams_bad", 0) for x in rows)}
        for k in self.keys:
            s["sweep"][k] = {}
            sustained, broken = 0, False
            for n in cfg.stream_conc:
                rows = [x for x in r.get("sweep", {}).get(k, []) if x["streams"] == n]
                ok = bool(rows) and all(not x.get("errors") and not x.get("lost_chunks") and
                                        0 <= x.get("gap_max_us", -1) < 200000 for x in rows)
                s["sweep"][k][n] = {
                    "ok": ok,
                    "lost": sum(x.get("lost_chunks", 0) for x in rows),
                    "bad": sum(x.get("streams_bad", 0) for x in rows),
                    "errors": sum(x.get("errors", 0) for x in rows),
                    "gap_max_us": max([x.get("gap_max_us", -1) for x in rows] or [None]),
                    "gap_p99_us": med([x.get("gap_p99_us") for x in rows]),
                    "delay_p50_us": med([x.get("delay_p50_us") for x in rows if x.get("delay_p50_us", -1) >= 0]),
                    "delay_p99_us": med([x.get("delay_p99_us") for x in rows if x.get("delay_p99_us", -1) >= 0]),
                    "ttft_p50_us": med([x.get("ttft_p50_us") for x in rows if x.get("ttft_p50_us", -1) >= 0]),
                    "cpu_us_per_chunk": med([x["gw_cpu_s"] * 1e6 / x["content_events"] for x in rows
                                             if x.get("content_events")]) if k != "direct" else None,
                    "mock_cpu_pct": max([x.get("mock_cpu_pct", 0) for x in rows] or [0]),
                    "client_cpu_pct": max([x.get("client_cpu_pct", 0) for x in rows] or [0]),
                }
                if ok and not broken:
                    sustained = n
                broken = broken or not ok
            s["sweep"][k]["sustained"] = sustained
        for k in self.gws:
            idle = r.get("mem_idle", {}).get(k, {})
            rows = [x for x in r.get("mem_streams", {}).get(k, []) if x.get("pss_kb", -1) > 0]
            per_stream = med([(x["pss_kb"] - x["pss_before_kb"]) / x["pss_inflight"] for x in rows if x.get("pss_inflight")])
            s["mem"][k] = {"idle_kb": idle.get("pss_kb"),
                           "load_kb": med([x.get("pss_kb") for x in r.get("tput_h1", {}).get(k, [])
                                           if x["conns"] == max(cfg.conc) and x.get("pss_kb")]),
                           "per_stream_kb": per_stream,
                           "inflight_kb": med([x["pss_kb"] for x in rows]),
                           "after_kb": r.get("mem_after", {}).get(k, {}).get("pss_kb"),
                           "after_s": r.get("mem_after", {}).get(k, {}).get("after_s")}
            if k == "llmgate":
                s["mem"][k]["workers_kb"] = idle.get("workers_kb")
                s["mem"][k]["master_kb"] = idle.get("master_kb")
        for k in getattr(self.b, "unpinned_labels", {}):
            s["unpinned"][k] = {"p50_us": self.medof("u_lat1", k, "p50_us"), "p99_us": self.medof("u_lat1", k, "p99_us"),
                                "rps": self.medof("u_tput_h1", k, "rps"), "h2c": self.medof("u_tput_h2c", k, "rps")}
        s["mock_max"] = self.b.mock_max
        s["foreign_max_pct"] = max(self.b.foreign or [0])
        s["foreign_median_pct"] = med(self.b.foreign)
        return s

    # -- the targets of SPEC section 9
    def targets(self):
        s, cfg = self.s, self.cfg
        t = []
        lg, h = s["lat"].get("llmgate", {}), s["lat"].get("h2o", {})

        def row(name, target, value, ok):
            t.append((name, target, value, "pass" if ok else ("FAIL" if ok is not None else "n/a")))

        v = lg.get("added_p50_us")
        row("added latency, concurrency 1, p50", "≤ 120 µs", fmt(v, " µs"), None if v is None else v <= 120)
        v = lg.get("added_p99_us")
        row("added latency, concurrency 1, p99", "≤ 250 µs", fmt(v, " µs"), None if v is None else v <= 250)
        ratios = [(n, ratio(s["tput"]["llmgate"][n], s["tput"]["h2o"][n])) for n in cfg.conc]
        worst = min([x for _, x in ratios if x is not None] or [None]) if ratios else None
        row("HTTP/1.1 keep-alive throughput vs h2o (each of " + ", ".join(map(str, cfg.conc)) + " connections)",
            "≥ 70% of h2o", ", ".join(f"{n}: {fmt(100 * x if x is not None else None, '%')}" for n, x in ratios),
            None if worst is None else worst >= 0.70)
        d1, st = s["stream1"], s["sweep"]

        def added(tab, k, q):
            a, b = tab.get(k, {}).get(q), tab.get("direct", {}).get(q)
            return None if a is None or b is None else a - b

        for q, what in (("delay_p50_us", "added delay per chunk (p50)"), ("ttft_p50_us", "added time to first token (p50)")):
            a, b = added(d1, "llmgate", q), added(d1, "h2o", q)
            row(f"{what}, 1 stream", "≤ h2o's", f"llmgate {fmt(a, ' µs')}, h2o {fmt(b, ' µs')}",
                None if a is None or b is None else a <= b)
            n = cfg.mem_streams
            sw = {k: st.get(k, {}).get(n, {}) for k in ("llmgate", "h2o", "direct")}
            a = None if sw["llmgate"].get(q) is None or sw["direct"].get(q) is None else sw["llmgate"][q] - sw["direct"][q]
            b = None if sw["h2o"].get(q) is None or sw["direct"].get(q) is None else sw["h2o"][q] - sw["direct"][q]
            row(f"{what}, {n} concurrent streams", "≤ h2o's", f"llmgate {fmt(a, ' µs')}, h2o {fmt(b, ' µs')}",
                None if a is None or b is None else a <= b)
        a = added(d1, "llmgate", "ttft_p50_us")
        row("absolute: added time to first token, 1 stream (quieter hardware)", "≤ 300 µs", fmt(a, " µs"),
            None if a is None else a <= 300)
        a = added(d1, "llmgate", "delay_p50_us")
        row("absolute: added delay per chunk, 1 stream (quieter hardware)", "≤ 50 µs", fmt(a, " µs"),
            None if a is None else a <= 50)
        big = max(cfg.stream_conc)
        x = st.get("llmgate", {}).get(big, {})
        row(f"{big} concurrent streams without a lost chunk", "0 lost",
            f"{x.get('lost', 'n/a')} lost, {x.get('bad', 'n/a')} incomplete streams, {x.get('errors', 'n/a')} errors",
            None if not x else (x.get("lost") == 0 and x.get("bad") == 0 and x.get("errors") == 0))
        m = s["mem"].get("llmgate", {})
        w = max(m.get("workers_kb") or [0]) or None
        row("memory per idle worker (Pss)", "≤ 10 MB", fmt(w and w / 1024, " MB", 1) + f" (master {fmt((m.get('master_kb') or 0) / 1024, ' MB', 1)})",
            None if w is None else w <= 10 * 1024)
        v = m.get("per_stream_kb")
        row(f"memory per in-flight stream ({cfg.mem_streams} open)", "≤ 64 KB", fmt(v, " KB", 1), None if v is None else v <= 64)
        v = s["startup"].get("llmgate", {}).get("median_ms")
        row("ready after start", "≤ 50 ms", fmt(v, " ms", 1), None if v is None else v <= 50)
        return t

    def headline(self):
        """llmgate against h2o and Portkey, one line per metric"""
        s, cfg = self.s, self.cfg
        rows = []

        def add(metric, vals, better="higher", unit="", nd=0):
            lg = vals.get("llmgate")
            line = [metric, fmt(lg, unit, nd)]
            for k in ("h2o", "portkey"):
                if k not in self.keys:
                    line += ["n/a", "n/a"]
                    continue
                v = vals.get(k)
                line += [fmt(v, unit, nd), rfmt(ratio(lg, v)) if better == "higher" else rfmt(ratio(v, lg))]
            rows.append(line)

        g = lambda tab, q: {k: s[tab].get(k, {}).get(q) for k in self.keys}
        add("added latency p50, concurrency 1", g("lat", "added_p50_us"), "lower", " µs")
        add("added latency p99, concurrency 1", g("lat", "added_p99_us"), "lower", " µs")
        add("added latency p99.9, concurrency 1", g("lat", "added_p999_us"), "lower", " µs")
        nc = s.get("newconn", {})
        if nc.get("direct", {}).get("p50_us") is not None:
            add("added latency p50, a new connection per request, 50 ms apart",
                {k: None if nc[k]["p50_us"] is None else nc[k]["p50_us"] - nc["direct"]["p50_us"] for k in self.keys},
                "lower", " µs")
        for n in cfg.conc:
            add(f"HTTP/1.1 keep-alive req/s, {n} conn", {k: s["tput"][k][n] for k in self.keys})
        add(f"h2c req/s, {cfg.h2c_conns} conn × 16 streams", {k: s["h2c"][k] for k in self.keys})
        add("highest rate with p99 < 1 ms (req/s)", {k: s["rate"][k][1000] for k in self.keys})
        add("highest rate with p99 < 5 ms (req/s)", {k: s["rate"][k][5000] for k in self.keys})
        add(f"CPU per request ({cfg.rate_base_conns} conn)", s["cpu"], "lower", " µs", 1)

        def addd(tab, q):
            return {k: (None if s[tab].get(k, {}).get(q) is None or s[tab]["direct"].get(q) is None
                        else s[tab][k][q] - s[tab]["direct"][q]) for k in self.keys}
        add("streaming, 1 stream: added time to first token", addd("stream1", "ttft_p50_us"), "lower", " µs")
        add("streaming, 1 stream: added delay per chunk p50", addd("stream1", "delay_p50_us"), "lower", " µs")
        add("streaming, 1 stream: added delay per chunk p99", addd("stream1", "delay_p99_us"), "lower", " µs")
        n = cfg.mem_streams
        sw = {k: s["sweep"][k].get(n, {}) for k in self.keys}
        add(f"streaming, {n} streams: added delay per chunk p50",
            {k: None if sw[k].get("delay_p50_us") is None or sw["direct"].get("delay_p50_us") is None
             else sw[k]["delay_p50_us"] - sw["direct"]["delay_p50_us"] for k in self.keys}, "lower", " µs")
        add(f"streaming, {n} streams: CPU per chunk", {k: sw[k].get("cpu_us_per_chunk") for k in self.keys}, "lower", " µs", 1)
        add("concurrent streams sustained", {k: s["sweep"][k]["sustained"] for k in self.keys})
        add("memory idle (Pss)", {k: s["mem"].get(k, {}).get("idle_kb") and s["mem"][k]["idle_kb"] / 1024 for k in self.keys},
            "lower", " MB", 1)
        add(f"memory per in-flight stream ({n} open)", {k: s["mem"].get(k, {}).get("per_stream_kb") for k in self.keys},
            "lower", " KB", 1)
        add("start to ready", {k: s["startup"].get(k, {}).get("median_ms") for k in self.keys}, "lower", " ms", 1)
        return rows

    def md_table(self, head, rows):
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
        return "\n".join(out)

    def tables(self):
        s, cfg, L = self.s, self.cfg, self.labels
        parts = []
        parts.append("### llmgate against h2o and Portkey\n\nRatios are llmgate's advantage: above 1× llmgate is "
                     "better (more requests, or less added time, CPU or memory), below 1× it is worse.\n")
        parts.append(self.md_table(["metric", "llmgate", "h2o proxy", "llmgate vs h2o", "Portkey", "llmgate vs Portkey"],
                                   self.headline()))
        parts.append("\n### Targets (SPEC section 9)\n")
        parts.append(self.md_table(["target", "goal", "measured", "result"], self.targets()))
        parts.append("\n### Non-streaming latency at concurrency 1 (µs; added = contender − direct)\n")
        rows = []
        for k in self.keys:
            x = s["lat"][k]
            rows.append([L[k], fmt(x["p50_us"], "", 1), fmt(x["p99_us"], "", 1), fmt(x["p999_us"], "", 1),
                         fmt(x.get("added_p50_us"), "", 1) if k != "direct" else "—",
                         fmt(x.get("added_p99_us"), "", 1) if k != "direct" else "—",
                         fmt(x.get("added_p999_us"), "", 1) if k != "direct" else "—", fmt(x["rps"])])
        parts.append(self.md_table(["contender", "p50", "p99", "p99.9", "added p50", "added p99", "added p99.9", "req/s"], rows))
        nc = s.get("newconn", {})
        if nc.get("direct", {}).get("p50_us") is not None:
            parts.append("\n### A new connection per request, 50 ms apart (µs, connect() to the complete answer)\n")
            rows = [[L[k], fmt(nc[k]["p50_us"], "", 1), fmt(nc[k]["p99_us"], "", 1),
                     fmt(nc[k]["p50_us"] - nc["direct"]["p50_us"] if nc[k]["p50_us"] is not None else None, "", 1)
                     if k != "direct" else "—", fmt(nc[k]["rps"])] for k in self.keys]
            parts.append(self.md_table(["contender", "p50", "p99", "added p50", "req/s"], rows))
        parts.append("\n### Throughput (requests/s, h2load, medians)\n")
        b = cfg.rate_base_conns
        head = ["contender"] + [f"HTTP/1.1 {n} conn" for n in cfg.conc] + [
            f"h2c {cfg.h2c_conns}×16", f"CPU µs/req ({b} conn)", f"gateway core busy ({b} conn)", f"core 0 busy ({b} conn)"]
        rows = [[L[k]] + [fmt(s["tput"][k][n]) for n in cfg.conc] + [
            fmt(s["h2c"][k]), fmt(s["cpu"][k], "", 1), fmt(s["busy"][k]["gw_pct"], "%"), fmt(s["busy"][k]["core0_pct"], "%")]
            for k in self.keys]
        parts.append(self.md_table(head, rows))
        parts.append("\n(*Core busy*: /proc/stat of core 1 (the gateway's) and core 0 (mock and load generator), "
                     "kernel network work included, over the run. A gateway whose core is well under 100% while core 0 "
                     "is near 100% was held back by the load side: its number is a lower bound.)\n")
        parts.append("\n### Constant-rate sweep (open loop, 64 connections)\n")
        rows = [[L[k], fmt(s["rate"][k][1000]), fmt(s["rate"][k][5000])] for k in self.keys]
        parts.append(self.md_table(["contender", "highest req/s with p99 < 1 ms", "highest req/s with p99 < 5 ms"], rows))
        parts.append(f"\n### Streaming, one stream ({cfg.chunks} chunks, 20 ms apart; µs)\n")
        rows = []
        for k in self.keys:
            x = s["stream1"][k]
            rows.append([L[k], fmt(x["ttft_p50_us"], "", 1), fmt(x["delay_p50_us"], "", 1), fmt(x["delay_p99_us"], "", 1),
                         fmt(x["gap_p50_us"], "", 1), fmt(x["gap_p99_us"], "", 1), fmt(x["gap_max_us"], "", 1)])
        parts.append(self.md_table(["contender", "time to first token p50", "delay per chunk p50", "delay p99",
                                    "gap p50", "gap p99", "gap max"], rows))
        parts.append(f"\n### Streaming burst ({cfg.chunks} chunks written at once)\n")
        rows = []
        for k in self.keys:
            x = s["burst"][k]
            rows.append([L[k], fmt(x["ttft_p50_us"], "", 1), fmt(x["delay_p50_us"], "", 1), fmt(x["delay_p99_us"], "", 1),
                         fmt(x["delay64_p99_us"], "", 1), f"{x['events']:,} / {x['expected']:,}", x["lost"], x["merged"], x["bad"]])
        parts.append(self.md_table(["contender", "TTFT p50 (µs)", "delay p50 (µs)", "delay p99 (µs)",
                                    f"delay p99, {cfg.burst_conc} streams (µs)",
                                    "content events received / sent (all streaming cells)", "lost", "merged", "incomplete streams"], rows))
        parts.append("\n### Concurrent streams (each cell: lost chunks / max gap ms / added delay p50 µs / TTFT p50 ms)\n")
        head = ["contender"] + [f"{n}" for n in cfg.stream_conc] + ["sustained"]
        rows = []
        for k in self.keys:
            line = [L[k]]
            for n in cfg.stream_conc:
                x = s["sweep"][k][n]
                dd = s["sweep"]["direct"][n].get("delay_p50_us")
                ad = None if x["delay_p50_us"] is None or dd is None else x["delay_p50_us"] - dd
                line.append(f"{x['lost']} / {fmt(x['gap_max_us'] and x['gap_max_us'] / 1000, '', 0)} / "
                            f"{fmt(ad if k != 'direct' else x['delay_p50_us'], '', 0)} / "
                            f"{fmt(x['ttft_p50_us'] and x['ttft_p50_us'] / 1000, '', 1)}" + ("" if x["ok"] else " ✗")
                            + (f" ({x['errors']:,} errors)" if x["errors"] else ""))
            line.append(str(s["sweep"][k]["sustained"]))
            rows.append(line)
        parts.append(self.md_table(head, rows))
        note = ("\n(For *direct* the third number is the delay itself, not an added one. ✗: a lost chunk, an "
                "error or a gap over 200 ms in at least one repetition; errors are resets and streams still open "
                f"at the {cfg.sweep_timeout} s time limit, whose missing chunks count as lost.")
        bad = [n for n in cfg.stream_conc if not s["sweep"]["direct"][n]["ok"]]
        if bad:
            note += (f" The client and the mock on core 0 cannot themselves deliver {bad[0]:,} streams' chunks on time "
                     f"(*direct* fails there): at {', '.join(f'{n:,}' for n in bad)} streams the gaps and delays say "
                     "little about the gateways; the lost-chunk counts still hold.")
        parts.append(note + ")\n")
        parts.append("\n### Memory (proportional set size, all processes of the contender)\n")
        rows = []
        for k in self.gws:
            x = s["mem"][k]
            rows.append([L[k], fmt(x["idle_kb"] and x["idle_kb"] / 1024, "", 1), fmt(x["load_kb"] and x["load_kb"] / 1024, "", 1),
                         fmt(x["inflight_kb"] and x["inflight_kb"] / 1024, "", 1), fmt(x["per_stream_kb"], "", 1),
                         fmt(x["after_kb"] and x["after_kb"] / 1024, "", 1) + (f" ({x['after_s']:.0f} s)" if x.get("after_s") else "")])
        parts.append(self.md_table(["contender", "idle (MB)", f"under load, {max(cfg.conc)} conn (MB)",
                                    f"{cfg.mem_streams} open streams (MB)", "per in-flight stream (KB)",
                                    f"after the last load ({max(cfg.stream_conc):,} streams) (MB)"], rows))
        m = s["mem"].get("llmgate", {})
        if m.get("workers_kb"):
            parts.append(f"\nllmgate idle: master {fmt(m['master_kb'] / 1024, ' MB', 1)}, worker(s) "
                         + ", ".join(fmt(w / 1024, " MB", 1) for w in m["workers_kb"]) + ".")
        parts.append("\n### Start to ready (median ms)\n")
        rows = [[L[k], fmt(s["startup"].get(k, {}).get("median_ms"), "", 1)] for k in self.gws]
        parts.append(self.md_table(["contender", "exec to first answered request"], rows))
        if s["unpinned"]:
            parts.append(f"\n### Unpinned run (no taskset; llmgate `workers: 2`, h2o `num-threads: 2`)\n")
            UL = self.b.unpinned_labels
            rows = [[UL[k], fmt(x["p50_us"], "", 1), fmt(x["p99_us"], "", 1), fmt(x["rps"]), fmt(x["h2c"])]
                    for k, x in s["unpinned"].items()]
            parts.append(self.md_table(["contender", "latency p50, conc. 1 (µs)", "p99 (µs)",
                                        f"HTTP/1.1 {cfg.unpinned_conns} conn (req/s)", f"h2c {cfg.h2c_conns}×16 (req/s)"], rows))
        parts.append("\n### Checks\n")
        direct = s["tput"]["direct"].get(cfg.rate_base_conns)
        best = max([s["tput"][k].get(cfg.rate_base_conns) or 0 for k in self.gws] or [0])
        chk = [
            ["failed cells (non-2xx, socket errors)", str(len(self.b.failures)), "pass" if not self.b.failures else "FAIL"],
            ["the mock's CPU, highest of any pinned cell (its core: < 80%)", fmt(s["mock_max"]["cpu_pct"], "%"),
             "pass" if s["mock_max"]["cpu_pct"] < 80 else "FAIL"],
            ["core 0 (mock + load generator + kernel), highest of any pinned cell", fmt(s["mock_max"]["core0_pct"], "%"), "info"],
            [f"direct-to-mock rate vs the fastest gateway ({cfg.rate_base_conns} conn)",
             f"{fmt(direct)} vs {fmt(best)} ({rfmt(ratio(direct, best))})",
             "pass" if direct and best and direct > 1.5 * best else "FAIL"],
            ["CPU of processes outside the benchmark, median / highest cell (% of one core)",
             f"{fmt(s['foreign_median_pct'], '%')} / {fmt(s['foreign_max_pct'], '%')}",
             "pass" if (s["foreign_max_pct"] or 0) < 10 else "noisy"],
            [f"cells run again because other jobs used over {cfg.noise_pct}% of a core (up to {cfg.retries} times each)",
             str(self.b.retried), "info"],
        ]
        parts.append(self.md_table(["check", "value", "result"], chk))
        if self.b.failures:
            parts.append("\nFailed cells:\n\n" + "\n".join(f"- {f}" for f in self.b.failures))
        return "\n".join(parts) + "\n"

    # -- charts
    def charts(self, out):
        if not shutil.which("gnuplot"):
            log("gnuplot missing: no charts")
            return []
        s, cfg, L = self.s, self.cfg, self.labels
        d = os.path.join(out, "plot")
        os.makedirs(d, exist_ok=True)
        files = []
        colors = {"direct": "#888888", "llmgate": "#d62728", "h2o": "#1f77b4", "nginx": "#2ca02c", "portkey": "#9467bd"}
        term = "set terminal pngcairo size 960,560 font 'DejaVu Sans,11' noenhanced\n"

        def q(x):
            return "NaN" if x is None else f"{x:.3f}"

        # throughput vs connections
        with open(f"{d}/tput.dat", "w") as f:
            f.write("# conns " + " ".join(self.keys) + "\n")
            for n in cfg.conc:
                f.write(f"{n} " + " ".join(q(s["tput"][k][n]) for k in self.keys) + "\n")
        plots = ", ".join(f"'{d}/tput.dat' using 1:{i + 2} with linespoints lw 2 pt 7 lc rgb '{colors[k]}' title '{L[k]}'"
                          for i, k in enumerate(self.keys))
        gp = term + f"""set output '{out}/throughput.png'
set title 'Non-streaming throughput, HTTP/1.1 keep-alive (gateways on 1 pinned core)'
set xlabel 'connections'; set ylabel 'requests/s'; set logscale x 2; set grid; set key outside right
set xtics ({', '.join(str(n) for n in cfg.conc)}); set yrange [0:*]
set xrange [{min(cfg.conc) * 0.7}:{max(cfg.conc) * 1.4}]
plot {plots}
"""
        files.append(self.gnuplot(gp, d, "throughput"))
        # latency at concurrency 1
        with open(f"{d}/lat.dat", "w") as f:
            for k in self.keys:
                x = s["lat"][k]
                f.write(f"\"{SHORT.get(k, k)}\" {q(x['p50_us'])} {q(x['p99_us'])} {q(x['p999_us'])}\n")
        gp = term + f"""set output '{out}/latency.png'
set title 'Non-streaming latency at concurrency 1 (client-measured round trip)'
set ylabel 'microseconds (log)'; set logscale y; set grid ytics
set style data histogram; set style histogram clustered gap 1; set style fill solid 0.85 border -1; set boxwidth 0.9
set key top left; set xtics nomirror
plot '{d}/lat.dat' using 2:xtic(1) title 'p50' lc rgb '#4c72b0', '' using 3 title 'p99' lc rgb '#dd8452', '' using 4 title 'p99.9' lc rgb '#c44e52'
"""
        files.append(self.gnuplot(gp, d, "latency"))
        # rate sweep: p99 against the offered rate
        plots = []
        for i, k in enumerate(self.keys):
            rows = {}
            for x in self.r.get("rate", {}).get(k, []):
                if x.get("p99_us", -1) > 0:
                    rows.setdefault(x["rate"], []).append(x["p99_us"] / 1000)
            with open(f"{d}/rate_{k}.dat", "w") as f:
                for rate in sorted(rows):
                    f.write(f"{rate} {statistics.median(rows[rate]):.4f}\n")
            if rows:
                plots.append(f"'{d}/rate_{k}.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '{colors[k]}' title '{L[k]}'")
        gp = term + f"""set output '{out}/rate.png'
set title 'Constant-rate sweep: p99 latency against the offered rate (open loop)'
set xlabel 'offered requests/s (log)'; set ylabel 'p99 latency, ms (log)'; set logscale xy; set grid; set key outside right
plot {', '.join(plots + ["1 with lines dt 2 lc rgb '#444444' title '1 ms'", "5 with lines dt 3 lc rgb '#444444' title '5 ms'"])}
"""
        files.append(self.gnuplot(gp, d, "rate"))
        # streaming: per-chunk delay p50 and max gap against concurrency
        with open(f"{d}/sweep.dat", "w") as f:
            for n in cfg.stream_conc:
                vals = []
                for k in self.keys:
                    x = s["sweep"][k][n]
                    vals += [q(x["delay_p50_us"] and x["delay_p50_us"] / 1000), q(x["delay_p99_us"] and x["delay_p99_us"] / 1000),
                             q(x["gap_max_us"] and x["gap_max_us"] / 1000 if (x["gap_max_us"] or -1) > 0 else None)]
                f.write(f"{n} " + " ".join(vals) + "\n")
        p1 = ", ".join(f"'{d}/sweep.dat' using 1:{3 * i + 2} with linespoints lw 2 pt 7 lc rgb '{colors[k]}' title '{L[k]} p50', "
                       f"'' using 1:{3 * i + 3} with linespoints lw 1 dt 2 pt 6 lc rgb '{colors[k]}' title '{L[k]} p99'"
                       for i, k in enumerate(self.keys))
        p2 = ", ".join(f"'{d}/sweep.dat' using 1:{3 * i + 4} with linespoints lw 2 pt 7 lc rgb '{colors[k]}' title '{L[k]}'"
                       for i, k in enumerate(self.keys))
        gp = term.replace("960,560", "960,820") + f"""set output '{out}/streams.png'
set multiplot layout 2,1 title 'Streaming, {cfg.chunks} chunks 20 ms apart, N concurrent streams'
set logscale xy; set grid; set key outside right; set xlabel 'concurrent streams (log)'
set xtics ({', '.join(str(n) for n in cfg.stream_conc)})
set ylabel 'delay per chunk, ms (log)'; set title 'upstream write to client read (mock stamp to read time)'
plot {p1}
set ylabel 'largest gap, ms (log)'; set title 'largest gap between two chunks of one stream (sent 20 ms apart; 200 ms = fail)'
plot {p2}, 200 with lines dt 2 lc rgb '#444444' title '200 ms'
unset multiplot
"""
        files.append(self.gnuplot(gp, d, "streams"))
        # memory
        with open(f"{d}/mem.dat", "w") as f:
            for k in self.gws:
                x = s["mem"][k]
                mb = lambda v: q(v / 1024 if v else 0.0)
                f.write(f"\"{SHORT.get(k, k)}\" {mb(x['idle_kb'])} {mb(x['load_kb'])} {mb(x['inflight_kb'])} {mb(x['after_kb'])}\n")
        gp = term + f"""set output '{out}/memory.png'
set title 'Memory: proportional set size of all the contender''s processes'
set ylabel 'MB'; set grid ytics; set yrange [0:*]
set style data histogram; set style histogram clustered gap 1; set style fill solid 0.85 border -1; set boxwidth 0.9
set key top left
plot '{d}/mem.dat' using 2:xtic(1) title 'idle' lc rgb '#4c72b0', '' using 3 title 'under load ({max(cfg.conc)} conn)' lc rgb '#dd8452', \\
     '' using 4 title '{cfg.mem_streams} open streams' lc rgb '#c44e52', '' using 5 title 'after the load' lc rgb '#55a868'
"""
        files.append(self.gnuplot(gp, d, "memory"))
        return [f for f in files if f]

    def gnuplot(self, script, d, name):
        p = f"{d}/{name}.gp"
        with open(p, "w") as f:
            f.write(script)
        r = subprocess.run(["gnuplot", p], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            log(f"gnuplot {name}: {r.stderr.strip()[-300:]}")
            return None
        return name + ".png"


# ---------------------------------------------------------------- protocol rows: report
PROTO_SECTION = "## Anthropic Messages API: translation and relay"
# rows (e) and (f), from the same run
PROTO_RO_SECTION = "## OpenAI Responses API and Ollama API"
PROTO_NOTES = "### Notes on these rows"


def proto_summary(r, labels):
    """per protocol row: per repetition, then the medians over the
    repetitions; ratios to row (a) (or to the earlier build) are the median
    of the per-repetition ratios (the rows of one repetition run within a
    minute of each other, so a slow phase of a shared machine weighs on both
    sides of a ratio)"""
    def rows(phase, k):
        return r.get(phase, {}).get(k, [])

    def per_rep(phase, k, fn):
        out = {}
        for x in rows(phase, k):
            try:
                v = fn(x)
            except (KeyError, TypeError, ZeroDivisionError):
                v = None
            if v is not None and v >= 0:
                out[x["rep"]] = v
        return out

    def cpu(k, per):
        if k.startswith("p_direct"):
            return lambda x: x["mock_cpu_pct"] / 100 * x["wall_s"] / x[per] * 1e6
        return lambda x: x["gw_cpu_s"] / x[per] * 1e6

    pr = {}
    for k in labels:
        pr[k] = {"lat_p50": per_rep("p_lat1", k, lambda x: x.get("p50_us")),
                 "lat_p99": per_rep("p_lat1", k, lambda x: x.get("p99_us")),
                 "rps": per_rep("p_cpu", k, lambda x: x.get("rps")),
                 "cpu_req": per_rep("p_cpu", k, cpu(k, "done")),
                 "ttft": per_rep("p_stream1", k, lambda x: x.get("ttft_p50_us")),
                 "delay_p50": per_rep("p_stream1", k, lambda x: x.get("delay_p50_us")),
                 "delay_p99": per_rep("p_stream1", k, lambda x: x.get("delay_p99_us")),
                 "cpu_chunk": per_rep("p_streams", k, cpu(k, "content_events")),
                 "cpu_chunk_burst": per_rep("p_burst", k, cpu(k, "content_events")),
                 "busy_streams": per_rep("p_streams", k, lambda x: x.get("core1_busy_pct"))}
    for key, _, gw, _, up in PROTO_ROUTES:
        if key not in pr or gw is None:
            continue
        f = pr.get(PROTO_FLOOR[up], {})
        for q in ("lat_p50", "lat_p99", "ttft", "delay_p50", "delay_p99"):
            pr[key]["added_" + q] = {rep: v - f[q][rep] for rep, v in pr[key][q].items() if rep in f.get(q, {})}
    s = {}
    for k in labels:
        v = {q: med(list(d.values())) for q, d in pr[k].items()}
        sr = rows("p_stream1", k) + rows("p_streams", k) + rows("p_burst", k)
        v["events"] = sum(x.get("content_events", 0) for x in sr)
        v["expected"] = sum(x.get("streams", 0) * x.get("chunks_expected", 0) for x in sr)
        v["lost"] = sum(x.get("lost_chunks", 0) for x in sr)
        v["merged"] = sum(x.get("merged_events", 0) for x in sr)
        v["bad"] = sum(x.get("streams_bad", 0) for x in sr)
        v["errors"] = sum(x.get("errors", 0) for ph in ("p_lat1", "p_cpu", "p_stream1", "p_streams", "p_burst")
                          for x in rows(ph, k))
        v["reps"] = len(rows("p_cpu", k))
        v["_per_rep"] = pr[k]
        s[k] = v
    return s


def paired(s, k, ref, q):
    """the median over the repetitions of row k's q / row ref's q (None when
    no repetition has both, or a value is not positive)"""
    a, b = s.get(k, {}).get("_per_rep", {}).get(q, {}), s.get(ref, {}).get("_per_rep", {}).get(q, {})
    return med([ratio(a[rep], b[rep]) for rep in a if rep in b])


def proto_targets(s, keys=None):
    """the targets of the rows in keys (default: all)"""
    t = []
    keys = set(s if keys is None else keys)

    def row(name, goal, k, ref, q, bound):
        x = paired(s, k, ref, q)
        t.append((name, goal, f"{rfmt(x)} (medians {fmt(s[k].get(q), ' µs')} / {fmt(s[ref].get(q), ' µs')})",
                  "n/a" if x is None else ("pass" if x <= bound else "FAIL")))

    if "p_a" not in s:
        return t
    for k, what in (("p_b", "(b) /v1/messages → openai"), ("p_d", "(d) /v1/chat/completions → anthropic"),
                    ("p_e", "(e) /v1/responses → openai"), ("p_f", "(f) /api/chat → openai")):
        if k not in s or k not in keys:
            continue
        row(f"translation {what}: CPU per chunk (paced streams) vs (a)", "≤ 1.30×", k, "p_a", "cpu_chunk", 1.30)
        row(f"translation {what}: CPU per non-stream request vs (a)", "≤ 1.30×", k, "p_a", "cpu_req", 1.30)
    if "p_g" in s and "p_g" in keys:
        row("(g) model group vs (a): CPU per non-stream request", "≤ 1.05×", "p_g", "p_a", "cpu_req", 1.05)
        row("(g) model group vs (a): added latency p50, concurrency 1", "≤ 1.05×", "p_g", "p_a", "added_lat_p50", 1.05)
    if "p_h" in s and "p_h" in keys:
        row("(h) access log on vs off (a): req/s, 32 conn ((a) / (h))", "≤ 1.05×", "p_a", "p_h", "rps", 1.05)
        row("(h) access log on vs off (a): CPU per non-stream request", "≤ 1.05×", "p_h", "p_a", "cpu_req", 1.05)
        row("(h) access log on vs off (a): CPU per chunk (paced streams)", "≤ 1.05×", "p_h", "p_a", "cpu_chunk", 1.05)
    if "p_i" in s and "p_i" in keys:
        row("(i) traces at sample 1.0 vs (a): req/s, 32 conn ((a) / (i))", "≤ 1.10×", "p_a", "p_i", "rps", 1.10)
        row("(i) traces at sample 1.0 vs (a): CPU per non-stream request", "≤ 1.10×", "p_i", "p_a", "cpu_req", 1.10)
        row("(i) traces at sample 1.0 vs (a): added latency p50, concurrency 1", "≤ 1.10×", "p_i", "p_a", "added_lat_p50",
            1.10)
    if "p_a_before" in s and "p_a_before" in keys:
        b = "p_a_before"
        row("(a) now vs before: CPU per non-stream request", "≤ 1.05×", "p_a", b, "cpu_req", 1.05)
        row("(a) now vs before: CPU per chunk (paced streams)", "≤ 1.05×", "p_a", b, "cpu_chunk", 1.05)
        row("(a) now vs before: added latency p50, concurrency 1", "≤ 1.05×", "p_a", b, "added_lat_p50", 1.05)
        row("(a) now vs before: added time to first token p50, 1 stream", "≤ 1.05×", "p_a", b, "added_ttft", 1.05)
        row("(a) now vs before: added delay per chunk p50, 1 stream", "≤ 1.05×", "p_a", b, "added_delay_p50", 1.05)
    return t


def proto_tables(r, labels, cfg, foreign=None, keys=None):
    """the tables of the rows in keys (default: all of labels)"""
    s = proto_summary(r, labels)
    keys = [k for k in (labels if keys is None else keys) if k in labels]
    out = []

    def x(k, q):
        return "—" if k.startswith("p_direct") or k == "p_a" else rfmt(paired(s, k, "p_a", q))

    out.append("× (a): the row's number / row (a)'s in the same repetition, median over the repetitions (below 1×: "
               "cheaper or faster than the plain relay). The other numbers are medians over the repetitions.\n")
    out.append("#### Non-streaming (µs)\n")
    out.append("| row | CPU per request (32 conn) | × (a) | req/s (32 conn) | latency p50, conc. 1 | added p50 | × (a) "
               "| added p99 |")
    out.append("|---|---|---|---|---|---|---|---|")
    for k in keys:
        v = s[k]
        out.append(f"| {labels[k]} | {fmt(v['cpu_req'])} | {x(k, 'cpu_req')} | {fmt(v['rps'])} | {fmt(v['lat_p50'])} | "
                   f"{fmt(v.get('added_lat_p50'))} | {x(k, 'added_lat_p50')} | {fmt(v.get('added_lat_p99'))} |")
    out.append("")
    out.append(f"#### Streaming, {cfg.chunks} chunks (µs)\n")
    out.append(f"| row | CPU per chunk, {cfg.p_streams} streams 20 ms apart | × (a) | CPU per chunk, burst "
               f"({cfg.burst_conc} streams; few ticks, indicative) | × (a) | added time to first token p50, 1 stream | × (a) "
               "| added delay per chunk p50 | × (a) | added delay p99 |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        v = s[k]
        if k.startswith("p_direct"):
            out.append(f"| {labels[k]} | {fmt(v['cpu_chunk'])} (mock) | — | {fmt(v['cpu_chunk_burst'])} (mock) | — | "
                       f"{fmt(v['ttft'])} (itself) | — | {fmt(v['delay_p50'])} (itself) | — | {fmt(v['delay_p99'])} (itself) |")
            continue
        out.append(f"| {labels[k]} | {fmt(v['cpu_chunk'])} | {x(k, 'cpu_chunk')} | {fmt(v['cpu_chunk_burst'])} | "
                   f"{x(k, 'cpu_chunk_burst')} | {fmt(v.get('added_ttft'))} | {x(k, 'added_ttft')} | "
                   f"{fmt(v.get('added_delay_p50'))} | {x(k, 'added_delay_p50')} | {fmt(v.get('added_delay_p99'))} |")
    out.append("")
    out.append("#### Targets\n")
    out.append("| target | goal | measured (ratio per repetition, median) | result |")
    out.append("|---|---|---|---|")
    for name, goal, val, res in proto_targets(s, keys):
        out.append(f"| {name} | {goal} | {val} | {res} |")
    out.append("")
    out.append("#### Checks\n")
    out.append("| row | content events received / sent | lost | merged | incomplete streams | errors | "
               "gateway core busy, paced streams |")
    out.append("|---|---|---|---|---|---|---|")
    for k in keys:
        v = s[k]
        out.append(f"| {labels[k]} | {v['events']:,} / {v['expected']:,} | {v['lost']} | {v['merged']} | {v['bad']} | "
                   f"{v['errors']} | {fmt(v['busy_streams'], '%') if not k.startswith('p_direct') else 'n/a'} |")
    if foreign:
        out.append("")
        out.append(f"CPU of processes outside the benchmark during the cells (% of one core): median "
                   f"{fmt(med(foreign))}, highest {fmt(max(foreign))}.")
    return "\n".join(out) + "\n", s


def proto_run_lines(cfg, mach, vers, date, command, retried):
    """the run, command and machine lines of a protocol section"""
    before = vers.get("llmgate_before")
    return [
        f"- run: {date}; llmgate `{vers.get('llmgate')}`" + (f", before: `{before}`" if before else "")
        + f"; machine: `nproc` = {mach['nproc']}, {mach['cpu']}, kernel {mach['kernel']}",
        f"- command: `{command}` ({cfg.reps} repetitions per cell, rows alternating, medians; "
        f"{cfg.elapsed_min:.1f} min; cells run again because other jobs used the CPU: {retried})",
    ]


def proto_how(cfg):
    """how the protocol rows are measured (both sections)"""
    return (
        f"latency with `loadgen closed --conns 1` for {cfg.p_lat_dur} s, CPU per request with "
        f"`h2load --h1 -c {cfg.rate_base_conns}` for {cfg.tput_dur} s "
        "(the gateway's utime+stime / requests). Streaming: the mock's 64 stamped chunks of 8 bytes; "
        f"*time to first token* and *delay per chunk* from {cfg.stream1_total} streams one after the other, 20 ms "
        f"between chunks; *CPU per chunk* = the gateway's CPU during {cfg.p_streams} concurrent streams (20 ms "
        f"apart; {cfg.p_streams * getattr(cfg, 'p_rounds', 1)} in all) or {cfg.burst_conc} concurrent streams "
        f"({cfg.burst_conc * getattr(cfg, 'p_burst_rounds', 4)} in all; burst: the mock writes all chunks at once) "
        "/ the content events delivered (setup and end of each stream included).")


def proto_ro_section(r, labels, cfg, mach, vers, date, command, foreign=None, retried=0):
    """the section of rows (e) and (f), or "" when the run has neither"""
    if "p_e" not in labels and "p_f" not in labels:
        return ""
    tables, _ = proto_tables(r, labels, cfg, foreign, keys=PROTO_RO_KEYS)
    lines = [
        PROTO_RO_SECTION + "\n",
        "llmgate only, the same run as the Anthropic rows above (and the same llmgate process as their rows (a) "
        "and (b)): (e) `POST /v1/responses` (OpenAI's Responses API, stateless) to the `type: openai` provider: "
        "the request translated to a chat completions request, the answer (SSE chunks) rendered as the Responses "
        "API's `response.*` events; (f) `POST /api/chat` (Ollama's API) to the same provider, the answer rendered "
        "as Ollama's NDJSON lines. Both next to (a), `POST /v1/chat/completions` relayed to the same provider. "
        "The goal (the same as for the Messages API): a translation at most 1.3× the relay's CPU per chunk.\n",
        *proto_run_lines(cfg, mach, vers, date, command, retried),
        "- how: as in the Anthropic section. Non-streaming: `{\"model\":\"bench\",\"input\":\"Say hello to the "
        "benchmark.\"}` for (e), the bench's chat body with `\"stream\":false` for (f) (Ollama streams unless told "
        "not to); " + proto_how(cfg) + " Streaming requests: (e) `{\"model\":...,\"input\":\"Count to "
        "sixty-four.\",\"stream\":true}`, (f) the chat body with `\"stream\":true`. *Added* = the row minus the "
        "mock called directly at `/v1/chat/completions`. The client counts as content events only (e)'s "
        "`response.output_text.delta` events (the `.done` events and `response.completed` repeat the whole text) "
        "and (f)'s lines with a stamp; a stream ends with `response.completed` (e) or the line with "
        "`\"done\":true` (f). The setup and end events of (e) (`response.created`, `in_progress`, "
        "`output_item.added`, `content_part.added`, then `output_text.done`, `content_part.done`, "
        "`output_item.done`, `response.completed`, the last four with the whole text) are in its CPU per chunk.\n",
        tables,
    ]
    return "\n".join(lines)


def proto_section(r, labels, cfg, mach, vers, date, command, foreign=None, retried=0):
    """the section of the Anthropic rows (all rows but (e) and (f))"""
    tables, _ = proto_tables(r, labels, cfg, foreign, keys=[k for k in labels if k not in PROTO_RO_KEYS[2:]])
    before = vers.get("llmgate_before")
    lines = [
        PROTO_SECTION + "\n",
        "llmgate only (h2o, nginx and Portkey do not speak Anthropic's Messages API; their rows above are the plain "
        "relay). Four ways through llmgate, side by side in one run, each against the same mock: "
        "(a) `POST /v1/chat/completions` to a `type: openai` provider, relayed (the relay of the tables above); "
        "(b) `POST /v1/messages` to the same provider: the request translated to OpenAI's chat form, the answer "
        "(SSE chunks) back into Anthropic's events; (c) `POST /v1/messages` to a `type: anthropic` provider, "
        "relayed as is; (d) `POST /v1/chat/completions` to the `type: anthropic` provider, translated both ways; "
        "(g) what (a) asks, through a model group (docs/routing.md) of four targets, four providers of the same "
        "mock, strategy `weighted`: the cost of choosing a target and of its bookkeeping; "
        "(h) what (a) asks, with the access log on (`access_log: {path: FILE, format: json}`; every other row runs "
        "it off, as nginx and h2o run theirs above): the cost of a log line; (i) the same with traces at "
        "`otel: {sample: 1.0}` exported (protobuf) to a local OTLP/HTTP collector, a Python thread of the bench that "
        "answers every export 200: the cost of the spans of every request (a SERVER span and a CLIENT span) and of "
        "their export."
        + (f" Row (a) is also run with an earlier llmgate build (`{before}`, `--before`), same config, same "
           "release build type." if before else "") + "\n",
        *proto_run_lines(cfg, mach, vers, date, command, retried),
        "- how: as above, llmgate (`workers: 1`) pinned to core 1, the mock and the clients to core 0. One llmgate "
        "per provider type, one for the group, one with the access log and one with traces (idle but for their own "
        "rows' cells)"
        + (" and the earlier binary as another process. " if before else ". ") +
        "Non-streaming: the bench's body (Anthropic's form adds `\"max_tokens\":1024` and the header "
        "`anthropic-version`), " + proto_how(cfg) + " *Added* = the row minus the mock called directly in the "
        "upstream's API "
        "(openai: `/v1/chat/completions`, anthropic: `/v1/messages`). In Anthropic's events the stamp is in the "
        "`text_delta`'s text and the stream ends with `message_stop` (the client checks for it as for `[DONE]`).\n",
        tables,
    ]
    return "\n".join(lines)


def splice_proto_section(old, section, heading=PROTO_SECTION):
    """docs/benchmarks.md with the protocol section `heading` replaced where
    it is (or inserted before ## Profiles); the hand-written notes of the old
    section are kept"""
    notes = ""
    new = section.rstrip("\n") + "\n"
    i = old.find("\n" + heading + "\n")
    if i >= 0:
        j = old.find("\n## ", i + 1)
        j = len(old) if j < 0 else j
        body = old[i:j]
        n = body.find("\n" + PROTO_NOTES + "\n")
        if n >= 0 and "\n" + PROTO_NOTES + "\n" not in section:
            notes = body[n:].strip("\n") + "\n"
        new += "\n" + notes if notes else ""
        return old[:i].rstrip("\n") + "\n\n" + new + ("\n" + old[j:].lstrip("\n") if j < len(old) else "")
    k = old.find("\n## Profiles\n")
    if k < 0:
        return old.rstrip("\n") + "\n\n" + new
    return old[:k].rstrip("\n") + "\n\n" + new + "\n" + old[k:].lstrip("\n")


def pctl(xs, p):
    """nearest-rank percentile (p in 0..100) of a list; None when empty"""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, -(-p * len(xs) // 100) - 1))]


def cluster_summary(r, labels, conc):
    """per row: per repetition, then medians; ratios to the row without
    `cluster:` are the median of the per-repetition ratios"""
    def per_rep(phase, k, fn, conns=None):
        out = {}
        for x in r.get(phase, {}).get(k, []):
            if conns is not None and x.get("conns") != conns:
                continue
            try:
                v = fn(x)
            except (KeyError, TypeError, ZeroDivisionError):
                v = None
            if v is not None and v >= 0:
                out[x["rep"]] = v
        return out

    pr = {}
    for k in labels:
        d = {"lat_p50": per_rep("cl_lat1", k, lambda x: x.get("p50_us")),
             "lat_p99": per_rep("cl_lat1", k, lambda x: x.get("p99_us")),
             "lat_redis_1k": per_rep("cl_lat1", k, lambda x: x.get("redis_per_1k"))}
        for n in conc:
            d[f"rps_{n}"] = per_rep("cl_tput", k, lambda x: x.get("rps"), n)
            d[f"cpu_{n}"] = per_rep("cl_tput", k, lambda x: x["gw_cpu_s"] / x["requests"] * 1e6, n)
            d[f"redis_1k_{n}"] = per_rep("cl_tput", k, lambda x: x.get("redis_per_1k"), n)
            d[f"redis_s_{n}"] = per_rep("cl_tput", k, lambda x: x.get("redis_cmds_per_s"), n)
        pr[k] = d
    f = pr.get("c_direct", {})
    for k in labels:
        if k == "c_direct":
            continue
        for q in ("lat_p50", "lat_p99"):
            pr[k]["added_" + q] = {rep: v - f[q][rep] for rep, v in pr[k][q].items() if rep in f.get(q, {})}
    s = {}
    for k in labels:
        v = {q: med(list(d.values())) for q, d in pr[k].items()}
        by = {}
        for ph in ("cl_lat1", "cl_tput"):
            for x in r.get(ph, {}).get(k, []):
                for cmd, n in (x.get("redis_by_cmd") or {}).items():
                    by[cmd] = by.get(cmd, 0) + n
        v["redis_by_cmd"] = by
        v["requests"] = sum(x.get("requests", 0) for ph in ("cl_lat1", "cl_tput") for x in r.get(ph, {}).get(k, []))
        v["errors"] = sum(x.get("errors", 0) for ph in ("cl_lat1", "cl_tput") for x in r.get(ph, {}).get(k, []))
        v["reps"] = len(r.get("cl_lat1", {}).get(k, []))
        v["_per_rep"] = pr[k]
        s[k] = v
    t = r.get("cl_prop", [])
    e2e = [x.get("b_ms") for x in t] + [x.get("c_ms") for x in t]
    pub = [x.get("pub_ms") for x in t]
    app = [x.get("apply_b_ms") for x in t] + [x.get("apply_c_ms") for x in t]
    s["_prop"] = {"trials": len(t), "observations": len([x for x in e2e if x is not None]),
                  "missed": len([x for x in e2e if x is None]),
                  "p50": pctl(e2e, 50), "p99": pctl(e2e, 99), "max": pctl(e2e, 100),
                  "pub_p50": pctl(pub, 50), "pub_p99": pctl(pub, 99),
                  "apply_p50": pctl(app, 50), "apply_p99": pctl(app, 99),
                  "status_a": sorted({x.get("status_a") for x in t if x.get("status_a")})}
    return s


def cluster_tables(r, labels, cfg, foreign=None):
    conc = cfg.cl_conc
    s = cluster_summary(r, labels, conc)
    gws = [k for k in labels if k != "c_direct"]
    out = []

    def x(k, q):
        return "—" if k == "c_none" else rfmt(paired(s, k, "c_none", q))

    out.append("× none: the row's number / the row without `cluster:` in the same repetition, median over the "
               "repetitions. The other numbers are medians over the repetitions.\n")
    out.append("#### Throughput (req/s, HTTP/1.1 keep-alive, one request in flight per connection)\n")
    out.append("| set-up | " + " | ".join(f"{n} conn | × none" for n in conc) + f" | CPU µs/req ({conc[-1]} conn; all "
               "processes of the instances) | × none |")
    out.append("|---|" + "---|---|" * len(conc) + "---|---|")
    for k in gws:
        v = s[k]
        out.append(f"| {labels[k]} | " + " | ".join(f"{fmt(v[f'rps_{n}'])} | {x(k, f'rps_{n}')}" for n in conc)
                   + f" | {fmt(v[f'cpu_{conc[-1]}'], nd=1)} | {x(k, f'cpu_{conc[-1]}')} |")
    out.append("")
    out.append("#### Latency at concurrency 1 (µs)\n")
    out.append("| set-up | p50 | p99 | added p50 (− direct) | added p99 | p50 × none | p99 × none |")
    out.append("|---|---|---|---|---|---|---|")
    for k in labels:
        v = s[k]
        if k == "c_direct":
            out.append(f"| {labels[k]} | {fmt(v['lat_p50'])} | {fmt(v['lat_p99'])} | — | — | — | — |")
            continue
        out.append(f"| {labels[k]} | {fmt(v['lat_p50'])} | {fmt(v['lat_p99'])} | {fmt(v.get('added_lat_p50'))} | "
                   f"{fmt(v.get('added_lat_p99'))} | {x(k, 'lat_p50')} | {x(k, 'lat_p99')} |")
    out.append("")
    out.append("#### Redis commands per 1,000 client requests\n")
    out.append("(Redis commands/s) / (client requests/s / 1000), over the same cell: `INFO commandstats` of the "
               "set-up's own redis-server before and after each cell (the benchmark's INFO calls left out).\n")
    out.append("| set-up | latency cells (1 conn) | " + " | ".join(f"throughput, {n} conn" for n in conc) + f" | commands/s ({conc[-1]} conn) "
               "| commands seen (all cells) |")
    out.append("|---|---|" + "---|" * len(conc) + "---|---|")
    for k in gws:
        v = s[k]
        if k == "c_none":
            out.append(f"| {labels[k]} | n/a | " + " | ".join("n/a" for _ in conc) + " | n/a | no Redis |")
            continue
        by = ", ".join(f"{c} {n:,}" for c, n in sorted(v["redis_by_cmd"].items(), key=lambda i: -i[1])) or "none"
        out.append(f"| {labels[k]} | {fmt(v['lat_redis_1k'], nd=3)} | "
                   + " | ".join(fmt(v[f'redis_1k_{n}'], nd=3) for n in conc)
                   + f" | {fmt(v[f'redis_s_{conc[-1]}'], nd=1)} | {by} ({v['requests']:,} requests) |")
    out.append("")
    p = s["_prop"]
    out.append("#### Key cooldown propagation (ms)\n")
    out.append(f"{p['trials']} trials: one request to instance A whose only key for the model answers 429 "
               f"(`retry-after-ms: {CLUSTER_COOL_MS}`), then `/admin/keys` of B and C polled back to back "
               "(about 1 ms apart) until both show the key `cooling`; times from the end of A's answer. "
               f"A subscriber on the `<prefix>keys` channel stamps the message meanwhile. A's answers: "
               f"{', '.join(map(str, p['status_a'])) or 'n/a'}.\n")
    out.append("| measure | observations | p50 | p99 | max |")
    out.append("|---|---|---|---|---|")
    out.append(f"| A's answer → cooling in `/admin/keys` of B and of C | {p['observations']}"
               + (f" ({p['missed']} not within 5 s)" if p["missed"] else "")
               + f" | {fmt(p['p50'], nd=1)} | {fmt(p['p99'], nd=1)} | {fmt(p['max'], nd=1)} |")
    out.append(f"| A's answer → the message on the channel (subscriber) | {p['trials']} | {fmt(p['pub_p50'], nd=1)} | "
               f"{fmt(p['pub_p99'], nd=1)} | |")
    out.append(f"| the message → cooling in B's and C's `/admin/keys` | {p['observations']} | "
               f"{fmt(p['apply_p50'], nd=1)} | {fmt(p['apply_p99'], nd=1)} | |")
    out.append("")
    out.append("#### Targets\n")
    out.append("| target | goal | measured (ratio per repetition, median) | result |")
    out.append("|---|---|---|---|")
    for name, goal, val, res in cluster_targets(s):
        out.append(f"| {name} | {goal} | {val} | {res} |")
    out.append("")
    out.append("#### Checks\n")
    out.append("| set-up | requests | errors (non-2xx, socket, timeouts) | repetitions |")
    out.append("|---|---|---|---|")
    for k in labels:
        out.append(f"| {labels[k]} | {s[k]['requests']:,} | {s[k]['errors']} | {s[k]['reps']} |")
    if foreign:
        out.append("")
        out.append(f"CPU of processes outside the benchmark during the cells (% of one core): median "
                   f"{fmt(med(foreign))}, highest {fmt(max(foreign))}.")
    return "\n".join(out) + "\n", s


def cluster_targets(s):
    t = []
    if "c_none" not in s or "c_one" not in s:
        return t
    for q, what, bound in (("lat_p50", "p50", 1.05), ("lat_p99", "p99", 1.05)):
        v = paired(s, "c_one", "c_none", q)
        t.append((f"latency {what} at concurrency 1, `cluster:` (Redis up) vs none", f"≤ {bound:.2f}×",
                  f"{rfmt(v)} (medians {fmt(s['c_one'].get(q), ' µs')} / {fmt(s['c_none'].get(q), ' µs')})",
                  "n/a" if v is None else ("pass" if v <= bound else "FAIL")))
    return t


def cluster_section(r, labels, cfg, mach, vers, date, command, foreign=None, retried=0):
    tables, _ = cluster_tables(r, labels, cfg, foreign)
    lines = [
        CLUSTER_SECTION + "\n",
        "llmgate only ([cluster.md](cluster.md)): one instance without `cluster:`, one with `cluster:` and its "
        "redis-server up, and three instances sharing one redis-server, side by side in one run against the same "
        "mock. The goal (issue 16): with Redis configured, the latency at concurrency 1 within 5% of the latency "
        "without.\n",
        f"- run: {date}; llmgate `{vers.get('llmgate')}`; {vers.get('redis', 'redis-server')}; machine: `nproc` = "
        f"{mach['nproc']}, {mach['cpu']}, kernel {mach['kernel']}",
        f"- command: `{command}` ({cfg.reps} repetitions per cell, set-ups alternating, medians; "
        f"{cfg.elapsed_min:.1f} min; cells run again because other jobs used the CPU: {retried})",
        "- how: every instance `workers: 1` (its master, worker and, with `cluster:`, its cluster link process), "
        "all five pinned to core 1 (the three instances share that core: the same CPU as the single instance); "
        "the mock, both redis-servers (one per set-up with `cluster:`, so that each count of commands is its "
        "own; password, no persistence) and the client (`tests/bench/loadgen.c`, `closed`; for the three "
        "instances its connections go round robin to their three ports, so concurrency 1 uses instance A only) "
        "on core 0. Every request `POST /v1/chat/completions` through a `type: openai` provider to the mock, with "
        "an access token with `rpm: 1000000` (the rate-limit path runs and never limits). "
        f"Latency: `--conns 1` for {cfg.cl_lat_dur} s after {cfg.lat_warm} s; throughput: "
        f"`--conns N` for {cfg.tput_dur} s after 0.2 s. *CPU µs/req*: utime+stime of all the processes of the "
        "set-up's instances (links included) / the requests of the cell. The idle set-ups stay up meanwhile (their "
        "links poll every 10 ms on core 1).\n",
        tables,
    ]
    return "\n".join(lines)


def cluster_command(cfg):
    return f"bash tests/bench/run.sh --only cluster --reps {cfg.reps}"


def finish_cluster(b, cfg, mach, vers, date, write):
    """--only cluster: results.md and (with write) the cluster section of
    docs/benchmarks.md"""
    sec = cluster_section(b.r, b.cluster_labels, cfg, mach, vers, date,
                          getattr(cfg, "command", None) or cluster_command(cfg), b.foreign, getattr(b, "retried", 0))
    _, s = cluster_tables(b.r, b.cluster_labels, cfg)
    with open(os.path.join(cfg.out, "results.json"), "w") as f:
        json.dump({"machine": mach, "versions": vers, "date": date, "cluster": s, "failures": b.failures},
                  f, indent=1, default=str)
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(f"# llmgate benchmark {os.path.basename(cfg.out)}: cluster\n\n" + sec)
    if write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        with open(path) as f:
            old = f.read()
        with open(path, "w") as f:
            f.write(_with_old_notes(old, old, sec, CLUSTER_SECTION))
        log("wrote the cluster section of docs/benchmarks.md")
    print(sec)


def https_summary(r, labels, conc):
    """per row: medians over the repetitions; ratios to h2o = median of the
    per-repetition ratios; upstream connections opened per 10,000 requests
    summed over the repetitions"""
    def recs(phase, k, **kw):
        return [x for x in r.get(phase, {}).get(k, []) if all(x.get(a) == b for a, b in kw.items())]

    def per_rep(phase, k, field, **kw):
        return {x["rep"]: x.get(field) for x in recs(phase, k, **kw) if x.get(field) is not None and not x.get("errors")}

    def per10k(xs):
        reqs = sum(x.get("up_reqs", 0) for x in xs)
        return round(10000 * sum(x.get("up_opens", 0) for x in xs) / reqs, 2) if reqs else None

    s = {}
    h2o_p50 = per_rep("s_lat1", "s_h2o", "p50_us")
    dir_p50 = per_rep("s_lat1", "s_direct", "p50_us")
    for k in labels:
        e = {}
        p50, p99 = per_rep("s_lat1", k, "p50_us"), per_rep("s_lat1", k, "p99_us")
        e["p50_us"], e["p99_us"] = med(p50.values()), med(p99.values())
        e["rps1"] = med(per_rep("s_lat1", k, "rps").values())
        if k != "s_direct":
            added = {i: p50[i] - dir_p50[i] for i in p50 if i in dir_p50}
            e["added_us"] = med(added.values())
            h2o_added = {i: h2o_p50[i] - dir_p50[i] for i in h2o_p50 if i in dir_p50}
            rs = [added[i] / h2o_added[i] for i in added if i in h2o_added and h2o_added[i] > 0]
            e["added_x_h2o"] = med(rs)
        e["opens10k"] = {"1": per10k(recs("s_lat1", k))}
        e["tput"], e["tput_x_h2o"] = {}, {}
        h1, k1 = per_rep("s_lat1", "s_h2o", "rps"), per_rep("s_lat1", k, "rps")
        e["tput_x_h2o"]["1"] = med([k1[i] / h1[i] for i in k1 if h1.get(i)])
        e["tput"]["1"] = e["rps1"]
        for n in conc:
            kn, hn = per_rep("s_tput", k, "rps", conns=n), per_rep("s_tput", "s_h2o", "rps", conns=n)
            e["tput"][str(n)] = med(kn.values())
            e["tput_x_h2o"][str(n)] = med([kn[i] / hn[i] for i in kn if hn.get(i)])
            e["opens10k"][str(n)] = per10k(recs("s_tput", k, conns=n))
        cold = recs("s_cold", k)
        if cold:
            e["cold_p99_us"] = med([x.get("p99_us") for x in cold])
            e["cold_p99_max_us"] = max((x.get("p99_us") for x in cold if x.get("p99_us") is not None), default=None)
            e["cold_max_us"] = med([x.get("max_us") for x in cold])
            e["cold_rps"] = med([x.get("rps") for x in cold])
            e["cold_opens"] = med([x.get("up_opens") for x in cold])
            e["cold_listen_ms"] = med([x.get("listen_ms") for x in cold])
            e["cold_errors"] = sum(x.get("errors", 0) for x in cold)
        e["errors"] = sum(x.get("errors", 0) for ph in ("s_lat1", "s_tput") for x in recs(ph, k))
        s[k] = e
    return s


def https_targets(s, conc):
    """issue 17's goals, for each llmgate row"""
    t = []
    for k in ("s_llmgate", "s_llmgate_curl"):
        e = s.get(k)
        if not e:
            continue
        name = "default client" if k == "s_llmgate" else "curl"
        for n in ["1"] + [str(x) for x in conc]:
            v = e["tput_x_h2o"].get(n)
            t.append((f"throughput at {n} connection{'s' if n != '1' else ''} ({name})", "≥ 0.90× h2o",
                      rfmt(v), "?" if v is None else ("pass" if v >= 0.9 else "FAIL")))
        v = e.get("added_x_h2o")
        t.append((f"added latency at concurrency 1, p50 ({name})", "≤ 1.10× h2o's", rfmt(v),
                  "?" if v is None else ("pass" if v <= 1.10 else "FAIL")))
        v = e.get("cold_p99_max_us")
        t.append((f"p99 at 32 connections from a cold start, worst repetition ({name})", "≤ 10 ms",
                  "–" if v is None else f"{v / 1000:.2f} ms", "?" if v is None else ("pass" if v <= 10000 else "FAIL")))
    return t


def https_tables(r, labels, cfg, foreign=None):
    conc = cfg.s_conc
    s = https_summary(r, labels, conc)
    ns = ["1"] + [str(n) for n in conc]
    out = []

    def us(v):
        return "–" if v is None else f"{v:,.0f}"

    out.append("### Targets (issue 17)\n")
    out.append("| goal | target | this run | |")
    out.append("|---|---|---|---|")
    for name, goal, val, res in https_targets(s, conc):
        out.append(f"| {name} | {goal} | {val} | {res} |")
    out.append("")
    out.append("### Throughput (requests/s, h2load `--h1`, medians; × h2o: median of the per-repetition ratios)\n")
    out.append("| | " + " | ".join(f"{n} conn{'s' if n != '1' else ''}" for n in ns) + " |")
    out.append("|---|" + "---|" * len(ns))
    for k, label in labels.items():
        cells = []
        for n in ns:
            v, x = s[k]["tput"].get(n), s[k]["tput_x_h2o"].get(n)
            cells.append(("–" if v is None else f"{v:,.0f}") + ("" if k in ("s_h2o",) or x is None else f" ({rfmt(x)})"))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("### Latency at concurrency 1 (µs, h2load `-c 1`, per-request log; added = row − upstream direct)\n")
    out.append("| | p50 | p99 | added p50 | added × h2o |")
    out.append("|---|---|---|---|---|")
    for k, label in labels.items():
        e = s[k]
        out.append(f"| {label} | {us(e['p50_us'])} | {us(e['p99_us'])} | {us(e.get('added_us'))} | "
                   f"{rfmt(e.get('added_x_h2o')) if k not in ('s_direct', 's_h2o') else '–'} |")
    out.append("")
    if all(k in s for k in ("s_h2o", "s_llmgate") + HTTPS_PLAIN):
        # per repetition, then medians: TLS's own cost = row − its control
        def p50s(k):
            return {x["rep"]: x["p50_us"] for x in r.get("s_lat1", {}).get(k, []) if x.get("p50_us") is not None}
        h, hp, g, gp = p50s("s_h2o"), p50s("s_h2o_plain"), p50s("s_llmgate"), p50s("s_llmgate_plain")
        reps = [i for i in h if i in hp and i in g and i in gp]
        tls_h, tls_g = med([h[i] - hp[i] for i in reps]), med([g[i] - gp[i] for i in reps])
        work = med([gp[i] - hp[i] for i in reps])
        out.append("What the added latency is made of (p50 at concurrency 1, µs, medians of per-repetition "
                   "differences): TLS to the upstream (row − its cleartext control) costs h2o "
                   f"{us(tls_h)} and llmgate {us(tls_g)}; over cleartext llmgate's own work per request "
                   f"(its control − h2o's control: authentication, JSON, routing, the key pool) is {us(work)}.\n")
    out.append("### Cold start: a fresh process, 32 connections as soon as its port accepts "
               f"({cfg.s_cold_n:,} requests, no warm-up; µs; medians over the repetitions)\n")
    out.append("| | p99 (median) | p99 (worst repetition) | max (median) | requests/s | "
               "upstream TLS connections opened | errors |")
    out.append("|---|---|---|---|---|---|---|")
    for k, label in labels.items():
        e = s[k]
        if "cold_p99_us" not in e:
            continue
        out.append(f"| {label} | {us(e['cold_p99_us'])} | {us(e['cold_p99_max_us'])} | {us(e['cold_max_us'])} | "
                   f"{us(e['cold_rps'])} | "
                   f"{e['cold_opens'] if e['cold_opens'] is not None else '–'} | "
                   f"{e['cold_errors']} |")
    out.append("")
    out.append("### Upstream TLS connections opened per 10,000 requests (steady state, after the warm-ups; the "
               "upstream's access log)\n")
    out.append("| | " + " | ".join(f"{n} conn{'s' if n != '1' else ''}" for n in ns) + " |")
    out.append("|---|" + "---|" * len(ns))
    for k, label in labels.items():
        vals = [s[k]["opens10k"].get(n) for n in ns]
        out.append(f"| {label} | " + " | ".join("–" if v is None else f"{v:g}" for v in vals) + " |")
    out.append("")
    if r.get("s_stream1"):
        out.append("### Streaming over TLS (64 chunks 20 ms apart, stamped by the mock behind nginx's TLS; µs, medians; "
                   "added = row − the mock called directly, so it includes the TLS front's relay, the same for every "
                   "row)\n")
        out.append("| | 1 stream: added TTFT | added delay per chunk p50 | p99 | "
                   "64 streams: added TTFT p50 | added delay per chunk p50 | p99 | errors |")
        out.append("|---|---|---|---|---|---|---|---|")

        def smed(phase, k, f):
            return med([x.get(f) for x in r.get(phase, {}).get(k, []) if x.get(f) is not None])
        base = {(ph, f): smed(ph, "s_direct", f) for ph in ("s_stream1", "s_stream64")
                for f in ("ttft_p50_us", "delay_p50_us", "delay_p99_us")}
        for k, label in labels.items():
            if k == "s_direct" or k in HTTPS_PLAIN or k not in r["s_stream1"]:
                continue
            cells = []
            for ph in ("s_stream1", "s_stream64"):
                for f in ("ttft_p50_us", "delay_p50_us", "delay_p99_us"):
                    v, b = smed(ph, k, f), base[(ph, f)]
                    cells.append(us(v - b) if v is not None and b is not None else "–")
            errs = sum(x.get("errors", 0) for ph in ("s_stream1", "s_stream64") for x in r.get(ph, {}).get(k, []))
            out.append(f"| {label} | " + " | ".join(cells) + f" | {errs} |")
        d1 = [base[("s_stream1", f)] for f in ("ttft_p50_us", "delay_p50_us", "delay_p99_us")]
        out.append(f"\nThe mock called directly: TTFT {us(d1[0])}, delay per chunk p50 {us(d1[1])}, p99 {us(d1[2])} "
                   "(1 stream).\n")
    churn = r.get("s_churn", {})
    if churn:
        sec = getattr(cfg, "s_churn", 0)
        out.append(f"### Connection churn: {sec:g} s of load per cell (`--https-churn {sec:g}`)\n")
        out.append("| | 32 conns: req/s | TLS connections opened | TIME-WAIT (entered during the run) | "
                   "512 conns: req/s | TLS connections opened | TIME-WAIT |")
        out.append("|---|---|---|---|---|---|---|")
        for k, label in labels.items():
            cells = []
            for n in (32, 512):
                x = next((x for x in churn.get(k, []) if x.get("conns") == n), None)
                cells += ["–"] * 3 if x is None else [us(x.get("rps")), str(x.get("up_opens", "–")),
                                                        str(x.get("time_wait", "–"))]
            if any(v != "–" for v in cells):
                out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    errs = {labels[k]: s[k]["errors"] for k in labels if s[k]["errors"]}
    if errs:
        out.append("Errors (non-2xx, socket errors, timeouts) in the measured cells: "
                   + ", ".join(f"{k}: {v}" for k, v in errs.items()) + ".\n")
    if foreign:
        out.append(f"Other jobs' CPU during the cells (% of one core, of 200): median {med(foreign):.0f}, "
                   f"max {max(foreign):.0f}.\n")
    return "\n".join(out), s


def https_section(r, labels, cfg, mach, vers, date, command, foreign=None, retried=0):
    tables, _ = https_tables(r, labels, cfg, foreign)
    lines = [
        HTTPS_SECTION + "\n",
        "The upstream behind TLS (issue 17): nginx answering a fixed chat completion over HTTPS, with a "
        "certificate of a private CA made by the bench with `openssl` (ECDSA P-256; SAN `localhost` and "
        "`127.0.0.1`). Every proxy verifies it against that CA and keeps its connections to the upstream alive: "
        "h2o `proxy.reverse.url: https://localhost:PORT/` (2.2.5 matches no IP address in a certificate: "
        "with `https://127.0.0.1:PORT/` its handshakes fail with \"certificate name mismatch\") with "
        "`proxy.ssl.verify-peer: ON` and `proxy.ssl.cafile`; nginx `proxy_pass https://` to an `upstream` block with `keepalive 1024`, "
        "`proxy_http_version 1.1`, `proxy_set_header Connection \"\"`, `proxy_ssl_verify on`, "
        "`proxy_ssl_trusted_certificate`, `proxy_ssl_name localhost`, `proxy_ssl_session_reuse on`; llmgate a "
        "`type: openai` provider with `base_url: https://127.0.0.1:PORT/v1` and `tls: {ca_file: ca.pem}` (and `keys: {cooldown: 1, max_cooldown: 1}`: with one key, a cell whose "
        "upstream handshakes time out would otherwise cool the key for 30 s and more, and every later cell would "
        "measure 429s), run "
        "twice: with its default upstream client (whichever that is in the build measured) and with "
        "`LLMGATE_UPSTREAM_CLIENT=curl`; Portkey (when installed: `--only https` installs it like a full run) "
        "with `x-portkey-custom-host: https://127.0.0.1:PORT/v1`, trusting the CA through `NODE_EXTRA_CA_CERTS`. "
        "Ratios are to h2o "
        "(the goal: ≥ 0.9× h2o's throughput at every connection count, added latency at concurrency 1 within "
        "10% of h2o's, no p99 above 10 ms at 32 connections from a cold start).\n",
        f"- run: {date}; llmgate `{vers.get('llmgate')}` (release build); {vers.get('h2o')}; {vers.get('nginx')}; "
        f"{vers.get('h2load')}; machine: `nproc` = {mach['nproc']}, {mach['cpu']}, kernel {mach['kernel']}",
        f"- command: `{command}` ({cfg.reps} repetitions per cell, contenders alternating, medians; "
        f"{cfg.elapsed_min:.1f} min)",
        "- how: the contenders (`workers: 1`, h2o `num-threads: 1`, nginx `worker_processes 1`) pinned to core 1; "
        "the upstream nginx (one worker, one listening port per contender, so that its access log "
        "`$msec $server_port $connection $connection_requests` tells whose connections were opened: a request "
        "with `$connection_requests` 1 is a new TLS connection) and the client on core 0. The client is h2load "
        "`--h1` for every row (TLS only for the upstream direct; cleartext HTTP/1.1 keep-alive to the proxies), "
        f"`POST /v1/chat/completions` with a {len(NONSTREAM_BODY)}-byte body. Latency: `-c 1` for {cfg.lat_dur} s "
        f"after `--warm-up-time` {cfg.lat_warm} s, percentiles from `--log-file` (its requests/s is the "
        f"1-connection throughput); throughput: `-c N` for {cfg.tput_dur} s after {cfg.lat_warm} s. Cold start: "
        "per repetition a new process of each proxy (same config), its port polled every 2 ms, then at once "
        f"h2load `-c 32 -n {cfg.s_cold_n}` (every request answered before it ends) without warm-up; its "
        "connections to the upstream start from none. Each contender gets 1 s at 8 connections before the first cell. "
        "Streaming: a fresh process of each proxy in front of the mock behind the same nginx's TLS (a second server "
        "relaying unbuffered), the bench's loadgen counting stamped chunks; cleartext controls: h2o and llmgate to "
        "the same nginx over cleartext (latency and throughput cells only). Churn (`--https-churn S`): a fresh "
        "process per proxy and connection count, S s of h2load, then `ss -o` counts the sockets on its upstream "
        "port that entered TIME-WAIT during the run.",
        "- noise: a 2-core machine shared with other jobs; no cell was rerun (the scenario keeps to a few "
        "minutes), so single cells can be off; the other jobs' CPU is below the tables.\n",
        tables,
    ]
    return "\n".join(lines)


def https_command(cfg):
    churn = f" --https-churn {cfg.s_churn:g}" if getattr(cfg, "s_churn", 0) else ""
    return f"bash tests/bench/run.sh --only https --reps {cfg.reps}{churn}"


def finish_https(b, cfg, mach, vers, date, write):
    """--only https: results.md and (with write) the HTTPS section of
    docs/benchmarks.md"""
    sec = https_section(b.r, b.https_labels, cfg, mach, vers, date,
                        getattr(cfg, "command", None) or https_command(cfg), b.foreign, getattr(b, "retried", 0))
    _, s = https_tables(b.r, b.https_labels, cfg)
    with open(os.path.join(cfg.out, "results.json"), "w") as f:
        json.dump({"machine": mach, "versions": vers, "date": date, "https": s, "failures": b.failures},
                  f, indent=1, default=str)
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(f"# llmgate benchmark {os.path.basename(cfg.out)}: HTTPS upstreams\n\n" + sec)
    if write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        with open(path) as f:
            old = f.read()
        with open(path, "w") as f:
            f.write(_with_old_notes(old, old, sec, HTTPS_SECTION))
        log("wrote the HTTPS section of docs/benchmarks.md")
    print(sec)


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "memory": mem}


def versions(cfg):
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    v = {"h2o": first([cfg.h2o, "--version"]), "nginx": first([cfg.nginx, "-v"]),
         "h2load": first(["h2load", "--version"]), "node": first(["node", "--version"])}
    if cfg.portkey:
        v["portkey"] = f"@portkey-ai/gateway {cfg.portkey_version}"
    if getattr(cfg, "redis", False):
        m = re.search(r"v=(\S+)", first(["redis-server", "--version"]))
        v["redis"] = f"redis-server {m.group(1)}" if m else "redis-server ?"
    try:
        v["llmgate"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                                      text=True, timeout=10).stdout.strip()
    except Exception:
        v["llmgate"] = "?"
    return v


DOC_HOW = """## Running it

Run it (root; installs h2o, nginx-light, gnuplot-nox, nghttp2-client and the
pinned Portkey gateway when they are missing; builds into `build-bench/`):

```
{command}
```

`bash tests/bench/run.sh --smoke` runs every kind of measurement with tiny
durations and one repetition (about 10-20 seconds after the build) for CI; its
numbers mean nothing. Each run writes `tests/bench/results/<timestamp>/`
(gitignored): `results.md` (the tables below), `raw.jsonl` (every cell),
`results.json`, the PNG charts `throughput.png`, `latency.png`, `rate.png`,
`streams.png`, `memory.png`, and the configs and logs of every process under
`work/`. A full run rewrites this page; `python3 tests/bench/bench.py
--redo-report tests/bench/results/<timestamp> --write-docs` rebuilds it (and
the charts) from a finished run's `state.json`.

`bash tests/bench/run.sh --only protocols [--reps N] [--before BUILD_DIR]`
runs only the llmgate rows of Anthropic's Messages API ([below](#anthropic-messages-api-translation-and-relay))
and of OpenAI's Responses API and Ollama's `/api/chat` ([below](#openai-responses-api-and-ollama-api)),
about 3 minutes per repetition on a quiet machine, and rewrites only those
two sections; `--before` names a build of an earlier commit whose llmgate
also runs row (a). A full run includes these rows too.

`bash tests/bench/run.sh --only cluster [--reps N]` runs only the cluster
scenario ([below](#cluster-redis): llmgate without and with `cluster:`, and
three instances sharing one redis-server; about 3 minutes with 3
repetitions on a quiet machine) and rewrites only its section. A full run
and the smoke run include it too (skipped when `redis-server` is missing).

`bash tests/bench/run.sh --only https [--reps N]` runs only the HTTPS-upstream
scenario ([below](#https-upstreams): nginx behind TLS with a private CA made
by the bench with `openssl`; h2o, nginx and llmgate, with its default upstream
client and with `LLMGATE_UPSTREAM_CLIENT=curl`, verifying it; about 4 minutes
with 3 repetitions) and rewrites only its section. A full run and the smoke
run include it too.
"""

DOC_MEANING = """## What each number means

**Setup.** The machine has 2 cores. Every gateway runs pinned to core 1
(`taskset -c 1`): llmgate with `workers: 1` (plus its master, which serves no
request), h2o with `num-threads: 1`, nginx with `worker_processes 1`, Portkey
as one node process. The mock upstream and the load generators are pinned to
core 0. All listen on 127.0.0.1 only, and all run at `nice -n -20` (the
machine may be shared with other jobs; their CPU use is measured, see the
checks). Every cell is repeated {reps} times with
the contenders alternating (direct, llmgate, h2o, nginx, Portkey, direct,
llmgate, ...); the tables show medians. A non-2xx answer or a socket error in
any cell fails the run (except the concurrent-streams sweep, whose failures are
its result). The unpinned run at the end uses no taskset at all and 2
workers/threads.

**Contenders.** *direct*: the load generator talks to the mock itself; it is
the floor every "added" number is measured against. *h2o proxy*: Debian's h2o
2.2.5, `proxy.reverse.url` with upstream keep-alive (the same libh2o version
llmgate is built on). *nginx proxy_pass*: Debian's nginx-light, an `upstream`
block with `keepalive 1024`, `proxy_http_version 1.1`, `proxy_buffering off`
(needed for streaming), h2c on a second `listen ... http2` port. *Portkey*:
`@portkey-ai/gateway` at an exact version with the dependency versions of its
own lock file (`tests/bench/portkey/`), bound to 127.0.0.1, given the mock as a
custom OpenAI host with the headers `x-portkey-provider: openai` and
`x-portkey-custom-host: http://127.0.0.1:PORT/v1`. h2o and nginx are plain
reverse proxies and do no API work; llmgate and Portkey parse and route the
request (llmgate: model routing, key pool, body checks; Portkey: its provider
transforms). Every contender is warmed up before the first cell (Portkey 5×
longer: node's JIT needs a few thousand requests).

**Request.** Non-streaming: `POST /v1/chat/completions` with a {body_len}-byte
JSON body; the mock answers a ~300-byte chat completion at once. Streaming: the same
with `"stream": true` and a model name that tells the mock to send {chunks}
content chunks of 8 bytes, 20 ms apart (or all at once for the burst case),
each stamped with the CLOCK_MONOTONIC microsecond at which the mock wrote it.

**Non-streaming latency at concurrency 1**: one connection, one request at a
time, `loadgen closed --conns 1`, for {lat_dur} s after {lat_warm} s of warm-up;
p50, p99 and p99.9 of the client-measured round trip. *Added* = the
contender's percentile minus direct's. *A new connection per request*: the
same, one request per TCP connection, 50 ms apart (a sporadic client; for
{newconn_dur} s, `--reconnect 1 --pause-ms 50`), timed from `connect()` to the
complete answer.

**Throughput**: `h2load` with HTTP/1.1 keep-alive (`--h1 -c N`, one request in
flight per connection) for {tput_dur} s, and h2c (HTTP/2 without TLS, prior
knowledge) with {h2c_conns} connections × 16 concurrent streams (the mock
itself and Portkey speak no HTTP/2: n/a). *CPU µs/req*: utime+stime of all the
gateway's processes (/proc/PID/stat) during the {base} connection run, divided
by the requests done; for direct, the mock's own.

**Constant-rate sweep**: an open-loop client (`loadgen rate`, 64 connections)
sends requests on a fixed schedule, at {fracs} of each contender's own
{base}-connection throughput, {rate_dur} s per step; latency is counted from
when a request was due, so a contender that falls behind is charged for its
queue (when a connection was free at the due time but the client woke up
late, the latency counts from the send instead: that lateness is the
client's). The number is the highest rate of the sweep whose p99 stayed under
1 ms (or 5 ms), median of the repetitions; the sweep goes on until two steps
in a row are over 20 ms, because p99 is not monotonic in the rate here (see
below). The mock and the client share core 0, so the floor (direct) is itself
limited: read these against the direct row.

**Streaming, one stream**: {stream1_total} streams one after the other per
repetition. *Time to first token*: request written to the first content chunk
read. *Delay per chunk*: the client's read time minus the mock's stamp (both
CLOCK_MONOTONIC on the same machine) — the time from the upstream writing a
chunk to the client reading it. *Gap*: time between two consecutive chunks of
one stream at the client (20 ms by design). Added = contender − direct.

**Burst**: the {chunks} chunks written at once by the mock, one stream at a
time ({burst_total} streams) and {burst_conc} at a time. *Received / sent*
counts the content events the client parsed against those the mock sent, over
all streaming cells: a gateway must deliver every SSE event intact — *lost*
(fewer events than sent), *merged* (two stamps in one event) and *incomplete
streams* (lost chunk, missing `[DONE]`, error) must all be 0.

**Concurrent streams**: N streams at once (opened over ≤ 400 ms), N =
{conc_list}. A level is *sustained* when no repetition lost a chunk, had an
error, or showed a gap over 200 ms between two chunks of a stream. The same
client against the mock directly shows what the client and mock themselves
can do on core 0.

**Memory**: proportional set size (`Pss` of /proc/PID/smaps_rollup), summed
over the contender's processes (llmgate: master + workers; nginx: master +
worker; h2o: its server process, without the perl crash-handler helper it
spawns; Portkey: the node process). *Idle*: after start and one request.
*Under load*: mid-way through the {maxc}-connection throughput run. *{mem_streams}
open streams* and *per in-flight stream*: a fresh copy of each gateway (so that
buffers kept from earlier cells hide nothing), Pss after one request, then Pss
once all {mem_streams} streams have their first chunk (for a server too slow
for that moment to come, Portkey, at the 100 ms sample with the most streams
sent and not complete); per stream = the difference / the streams open.
*After*: about {after_s} s after the contender's last load, which is the
{maxs}-stream cell (the long-running copy).

**Start to ready**: llmgate: `tests/bench/startup.sh` (exec to the first
answered `/health`, median of 10 starts, `workers: 2`, an echo provider). Others:
the same measure with their configs from this run ({startup_n} starts; h2o and
nginx answer `/health` through the mock; Portkey: the first proxied request).

**Reading the latency numbers on this machine.** Its 2 cores are the vCPUs
of a VM. A request through a gateway crosses between the cores four times
(client → gateway → mock → gateway → client); each crossing wakes a vCPU that
was idle, which costs tens of µs and sometimes milliseconds, and more so when
the machine is lightly loaded (so p99 is often worse at low rates than at
medium ones). The mock called directly never crosses (client and mock share
core 0). h2o and nginx do almost no work per request, so what they add is
mostly this floor: compare llmgate's added time with theirs, not with zero.

**Trust checks.** The mock must never be the bottleneck: its CPU in any pinned
cell stays under 80% of its core, and the direct-to-mock rate must be well
above the fastest gateway's. The CPU used by processes outside the benchmark
(other jobs on the machine) is measured in every cell from /proc/stat; before
the first cell and before each repeated one the run waits (up to 10 s) for it
to drop, and a cell during which it was over 15% of a core is run again, up to
twice, within a budget for the run (the discarded cells stay in `raw.jsonl`,
marked). The checks table says how noisy the run still was.
"""


def write_docs(rep, cfg, mach, vers, tables, charts, date):
    """docs/benchmarks.md: the ratios first, then the targets, the run, every
    table, how to run it and what each number means"""
    head, _, rest = tables.partition("\n### Targets")
    targets, _, rest = rest.partition("\n### Non-streaming latency")
    missed = [t for t in rep.targets() if t[3] == "FAIL"]
    lines = [
        "# Benchmarks\n",
        "llmgate next to the upstream called directly, h2o's own reverse proxy, nginx `proxy_pass` and the Portkey "
        "gateway, all in front of the same fast local upstream (llmgate-mock), on one 2-core machine, in one run "
        f"({date}). These are measurements, not tests. How the numbers are made and what each one means: "
        "[below](#what-each-number-means).\n",
        head.strip() + "\n",
        "### Targets" + targets.rstrip() + "\n",
    ]
    tt = rep.targets()
    lines.append(f"{sum(t[3] == 'pass' for t in tt)} of {len(tt)} targets met in this run, {len(missed)} missed "
                 "(FAIL above).\n")
    lines += [
        "## The run\n",
        f"- machine: `nproc` = {mach['nproc']}, CPU: {mach['cpu']} (/proc/cpuinfo), kernel {mach['kernel']}, "
        f"memory {mach['memory']}",
        f"- llmgate: `{vers.get('llmgate')}` (git describe), release build",
        f"- references: {vers.get('h2o')}; {vers.get('nginx')}; {vers.get('portkey', 'Portkey: not run')} on node "
        f"{vers.get('node')}",
        f"- load: {vers.get('h2load')}; tests/bench/loadgen.c",
        f"- command: `bash tests/bench/run.sh` ({cfg.reps} repetitions per cell, contenders alternating, medians; "
        f"{cfg.elapsed_min:.1f} min)",
        f"- charts (PNG, not committed): `tests/bench/results/{os.path.basename(cfg.out)}/` "
        + ", ".join(f"`{c}`" for c in charts) + "\n",
        "## All numbers\n",
        "### Non-streaming latency" + rest.rstrip() + "\n",
        DOC_HOW.format(command="bash tests/bench/run.sh"),
        DOC_MEANING.format(reps=cfg.reps, chunks=cfg.chunks, lat_dur=cfg.lat_dur, lat_warm=cfg.lat_warm,
                           tput_dur=cfg.tput_dur, h2c_conns=cfg.h2c_conns, base=cfg.rate_base_conns,
                           rate_dur=cfg.rate_dur, stream1_total=cfg.stream1_total, burst_total=cfg.burst_total,
                           burst_conc=cfg.burst_conc, conc_list=", ".join(map(str, cfg.stream_conc)),
                           maxc=max(cfg.conc), mem_streams=cfg.mem_streams, after_s=cfg.after_s,
                           startup_n=cfg.startup_n, body_len=len(NONSTREAM_BODY), maxs=max(cfg.stream_conc),
                           newconn_dur=getattr(cfg, "newconn_dur", 1), fracs=", ".join(f"{round(f * 100)}%" for f in cfg.rate_fracs)),
    ]
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    # the "## Profiles" section (tests/bench/profile.sh) is written by hand:
    # a new run keeps it
    old = ""
    try:
        with open(path) as f:
            old = f.read()
        i = old.find("\n## Profiles\n")
        if i >= 0:
            lines.append(old[i:].strip("\n") + "\n")
    except OSError:
        pass
    text = "\n".join(lines)
    # the protocol rows: this run's when it has them (with the notes written
    # by hand under the old section), else the old section as it was
    proto = getattr(rep.b, "proto_labels", None)
    if proto:
        args = (rep.r, proto, cfg, mach, vers, date, "bash tests/bench/run.sh", rep.b.foreign,
                getattr(rep.b, "retried", 0))
        text = _with_old_notes(text, old, proto_section(*args))
        ro = proto_ro_section(*args)
        if ro:
            text = _with_old_notes(text, old, ro, PROTO_RO_SECTION)
    else:
        for heading in (PROTO_SECTION, PROTO_RO_SECTION):
            if heading in old:
                i = old.find("\n" + heading + "\n")
                j = old.find("\n## ", i + 1)
                text = splice_proto_section(text, old[i:j if j >= 0 else len(old)].strip("\n") + "\n", heading)
    # the cluster section: this run's when it has one, else the old one
    cl = getattr(rep.b, "cluster_labels", None)
    if cl:
        text = _with_old_notes(text, old, cluster_section(rep.r, cl, cfg, mach, vers, date, "bash tests/bench/run.sh",
                                                          rep.b.foreign, getattr(rep.b, "retried", 0)), CLUSTER_SECTION)
    elif "\n" + CLUSTER_SECTION + "\n" in old:
        i = old.find("\n" + CLUSTER_SECTION + "\n")
        j = old.find("\n## ", i + 1)
        text = splice_proto_section(text, old[i:j if j >= 0 else len(old)].strip("\n") + "\n", CLUSTER_SECTION)
    # the HTTPS section: this run's when it has one, else the old one
    hl = getattr(rep.b, "https_labels", None)
    if hl:
        text = _with_old_notes(text, old, https_section(rep.r, hl, cfg, mach, vers, date, "bash tests/bench/run.sh",
                                                        rep.b.foreign, getattr(rep.b, "retried", 0)), HTTPS_SECTION)
    elif "\n" + HTTPS_SECTION + "\n" in old:
        i = old.find("\n" + HTTPS_SECTION + "\n")
        j = old.find("\n## ", i + 1)
        text = splice_proto_section(text, old[i:j if j >= 0 else len(old)].strip("\n") + "\n", HTTPS_SECTION)
    with open(path, "w") as f:
        f.write(text)


def _with_old_notes(text, old, sec, heading=PROTO_SECTION):
    """the new section with the notes of the old document's section"""
    i = old.find("\n" + heading + "\n")
    if i < 0:
        return splice_proto_section(text, sec, heading)
    j = old.find("\n## ", i + 1)
    body = old[i:j if j >= 0 else len(old)]
    n = body.find("\n" + PROTO_NOTES + "\n")
    if n >= 0:
        sec = sec.rstrip("\n") + "\n\n" + body[n:].strip("\n") + "\n"
    return splice_proto_section(text, sec, heading)


def redo_report(d, write):
    """rebuilds results.md, the charts and (with write) docs/benchmarks.md
    from a finished run's state.json"""
    with open(os.path.join(d, "state.json")) as f:
        st = json.load(f)
    cfg = argparse.Namespace(**st["cfg"])
    cfg.out = d
    b = argparse.Namespace(r=st["r"], failures=st["failures"], labels=st["labels"],
                           unpinned_labels=st.get("unpinned_labels", {}), mock_max=st["mock_max"],
                           foreign=st["foreign"], retried=st.get("retried", 0), cfg=cfg,
                           proto_labels=st.get("proto_labels", {}), cluster_labels=st.get("cluster_labels", {}),
                           https_labels=st.get("https_labels", {}))
    if st.get("only") == "protocols":
        return finish_protocols(b, cfg, st["machine"], st["versions"], st["date"], write)
    if st.get("only") == "cluster":
        return finish_cluster(b, cfg, st["machine"], st["versions"], st["date"], write)
    if st.get("only") == "https":
        return finish_https(b, cfg, st["machine"], st["versions"], st["date"], write)
    return finish(b, cfg, st["machine"], st["versions"], st["date"], write)


def proto_command(cfg):
    return (f"bash tests/bench/run.sh --only protocols --reps {cfg.reps}"
            + (f" --before {cfg.before_dir}" if getattr(cfg, "before_dir", None) else ""))


def finish_protocols(b, cfg, mach, vers, date, write):
    """--only protocols: results.md and (with write) the protocol section of
    docs/benchmarks.md"""
    args = (b.r, b.proto_labels, cfg, mach, vers, date, getattr(cfg, "command", None) or proto_command(cfg),
            b.foreign, getattr(b, "retried", 0))
    sec, ro = proto_section(*args), proto_ro_section(*args)
    _, s = proto_tables(b.r, b.proto_labels, cfg)
    with open(os.path.join(cfg.out, "results.json"), "w") as f:
        json.dump({"machine": mach, "versions": vers, "date": date, "protocols": s, "failures": b.failures},
                  f, indent=1, default=str)
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(f"# llmgate benchmark {os.path.basename(cfg.out)}: protocol rows\n\n" + sec + ("\n" + ro if ro else ""))
    if write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        with open(path) as f:
            old = f.read()
        text = _with_old_notes(old, old, sec)
        if ro:
            text = _with_old_notes(text, old, ro, PROTO_RO_SECTION)
        with open(path, "w") as f:
            f.write(text)
        log("wrote the protocol sections of docs/benchmarks.md")
    print(sec + ("\n" + ro if ro else ""))


def finish(b, cfg, mach, vers, date, write):
    rep = Report(b)
    tables = rep.tables()
    charts = rep.charts(cfg.out)
    with open(os.path.join(cfg.out, "results.json"), "w") as f:
        json.dump({"machine": mach, "versions": vers, "date": date, "summary": rep.s, "failures": b.failures},
                  f, indent=1, default=str)
    cl = getattr(b, "cluster_labels", None)
    cl_sec = cluster_section(b.r, cl, cfg, mach, vers, date, "bash tests/bench/run.sh", b.foreign,
                             getattr(b, "retried", 0)) if cl else ""
    hl = getattr(b, "https_labels", None)
    hs_sec = https_section(b.r, hl, cfg, mach, vers, date, "bash tests/bench/run.sh", b.foreign,
                           getattr(b, "retried", 0)) if hl else ""
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(f"# llmgate benchmark {os.path.basename(cfg.out)}\n\n"
                f"machine: nproc {mach['nproc']}, {mach['cpu']}, kernel {mach['kernel']}; versions: {vers}\n\n" + tables
                + ("\n" + cl_sec if cl_sec else "") + ("\n" + hs_sec if hs_sec else ""))
    if write:
        write_docs(rep, cfg, mach, vers, tables, charts, date)
        log("wrote docs/benchmarks.md")
    print(tables)
    return rep


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-portkey", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--redo-report", metavar="DIR", help="rebuild the report of a finished run from DIR/state.json")
    ap.add_argument("--only", choices=["protocols", "cluster", "https"],
                    help="protocols: only the protocol rows (Anthropic's Messages API, OpenAI's Responses API, "
                         "Ollama's /api/chat; llmgate only; a few minutes); cluster: only the cluster scenario "
                         "(llmgate with and without Redis, three instances sharing it; about 3 minutes); https: only the "
                         "HTTPS-upstream scenario (h2o, nginx, llmgate twice in front of nginx behind TLS; about "
                         "4 minutes); with "
                         "--write-docs only their sections of docs/benchmarks.md are rewritten")
    ap.add_argument("--reps", type=int, help="repetitions per cell (default 3; smoke 1)")
    ap.add_argument("--https-churn", type=float, default=0, metavar="SECONDS",
                    help="with --only https: also SECONDS of load per proxy at 32 and at 512 connections, then "
                         "the sockets in TIME-WAIT towards the upstream (issue 17 asks for 60)")
    ap.add_argument("--before", metavar="BUILD_DIR",
                    help="a build of an earlier llmgate (BUILD_DIR/llmgate): row (a) of the protocol rows is also "
                         "run with it")
    a = ap.parse_args()
    if a.redo_report:
        redo_report(a.redo_report, a.write_docs)
        return
    cfg = argparse.Namespace()
    cfg.smoke = a.smoke
    cfg.llmgate = os.path.join(a.build, "llmgate")
    cfg.mock = os.path.join(a.build, "tests", "mock", "llmgate-mock")
    cfg.loadgen = os.path.join(a.build, "bench", "loadgen")
    cfg.h2o = shutil.which("h2o") or "/usr/bin/h2o"
    cfg.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    cfg.portkey_dir = os.path.join(a.build, "portkey")
    cfg.portkey = not a.no_portkey and os.path.isdir(os.path.join(cfg.portkey_dir, "node_modules", "@portkey-ai", "gateway"))
    cfg.portkey_version = "?"
    if cfg.portkey:
        with open(os.path.join(cfg.portkey_dir, "node_modules", "@portkey-ai", "gateway", "package.json")) as f:
            cfg.portkey_version = json.load(f)["version"]
    ts = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if a.smoke else "")
    ts += f"-{a.only}" if a.only else ""
    cfg.out = a.out or os.path.join(HERE, "results", ts)
    os.makedirs(cfg.out, exist_ok=True)
    if a.smoke:
        cfg.reps, cfg.warm = 1, 0.1
        cfg.lat_dur, cfg.lat_warm, cfg.newconn_dur = 0.3, 0.05, 0.2
        cfg.conc, cfg.tput_dur, cfg.h2c_conns = [32], 0.3, 8
        cfg.rate_base_conns, cfg.rate_fracs, cfg.rate_dur, cfg.rate_warm = 32, [0.2, 0.5], 0.3, 0.05
        cfg.chunks, cfg.stream1_total, cfg.burst_total, cfg.burst_conc = 16, 1, 10, 8
        # generous caps: the smoke run shares CI's machine with whatever else runs
        cfg.stream_conc, cfg.mem_streams, cfg.sweep_timeout, cfg.stream_timeout = [64], 64, 60, 60
        cfg.after_s, cfg.startup_n, cfg.unpinned, cfg.unpinned_conns = 1, 2, True, 32
        cfg.noise_pct, cfg.retries, cfg.retry_budget, cfg.quiet_wait = 15, 0, 0, 0.5
        cfg.p_lat_dur, cfg.p_streams, cfg.p_rounds, cfg.p_burst_rounds = 0.3, 16, 1, 4
        cfg.cl_conc, cfg.cl_lat_dur, cfg.cl_trials = [1, 32], 0.3, 3
        cfg.s_conc, cfg.s_cold_n = [32], 320
    else:
        cfg.reps, cfg.warm = 3, 1.0
        cfg.lat_dur, cfg.lat_warm, cfg.newconn_dur = 3, 0.5, 2
        cfg.conc, cfg.tput_dur, cfg.h2c_conns = [1, 8, 32, 128, 512], 2, 8
        cfg.rate_base_conns, cfg.rate_fracs, cfg.rate_dur, cfg.rate_warm = 32, [0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9], 1.5, 0.3
        cfg.chunks, cfg.stream1_total, cfg.burst_total, cfg.burst_conc = 64, 3, 50, 64
        cfg.stream_conc, cfg.mem_streams, cfg.sweep_timeout, cfg.stream_timeout = [1, 64, 256, 1024, 4096], 1024, 40, 30
        cfg.after_s, cfg.startup_n, cfg.unpinned, cfg.unpinned_conns = 30, 5, True, 128
        cfg.noise_pct, cfg.retries, cfg.retry_budget, cfg.quiet_wait = 15, 2, 80, 10
        # CPU per chunk: the gateway's utime+stime in 10 ms ticks, so enough
        # chunks for a few hundred ticks (256 x 2 x 64 paced; 64 x 16 x 64 burst)
        cfg.p_lat_dur, cfg.p_streams, cfg.p_rounds, cfg.p_burst_rounds = 2, 256, 2, 16
        cfg.cl_conc, cfg.cl_lat_dur, cfg.cl_trials = [1, 32, 128], 3, 50
        cfg.s_conc, cfg.s_cold_n = [32, 128, 512], 6400
    if a.reps:
        cfg.reps = a.reps
    cfg.only = a.only
    cfg.s_churn = a.https_churn
    cfg.redis = shutil.which("redis-server") is not None
    if a.only == "cluster" and not cfg.redis:
        sys.exit("bench: redis-server missing (Debian: apt-get install redis-server); run tests/bench/run.sh")
    for p in (cfg.llmgate, cfg.mock, cfg.loadgen):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench: {p} missing; run tests/bench/run.sh")
    # the binary under another name, so that a `killall llmgate` by another
    # job on a shared machine cannot stop the benchmark's gateway mid-run
    copy = os.path.join(a.build, "bench", "llmgate-bench")
    shutil.copy2(cfg.llmgate, copy)
    cfg.llmgate = copy
    # the mock too (a parallel job's `pkill llmgate-mock` stopped it mid-run)
    mcopy = os.path.join(a.build, "bench", "llmgate-mock-bench")
    shutil.copy2(cfg.mock, mcopy)
    cfg.mock = mcopy
    cfg.llmgate_before, cfg.before_dir = None, a.before
    if a.before:
        src = os.path.join(a.before, "llmgate")
        if not os.access(src, os.X_OK):
            sys.exit(f"bench: {src} missing")
        cfg.llmgate_before = os.path.join(a.build, "bench", "llmgate-before-bench")
        shutil.copy2(src, cfg.llmgate_before)

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    t0 = time.monotonic()
    mach, vers = machine(), versions(cfg)
    if a.before:
        try:
            src = os.path.dirname(os.path.abspath(a.before.rstrip("/")))
            vers["llmgate_before"] = subprocess.run(["git", "-C", src, "describe", "--always", "--dirty"],
                                                    capture_output=True, text=True, timeout=10).stdout.strip() or "?"
        except Exception:
            vers["llmgate_before"] = "?"
    b = Bench(cfg)
    try:
        log(f"llmgate benchmark ({cfg.only or ('smoke' if cfg.smoke else 'full')}), results in {cfg.out}")
        if cfg.only == "protocols":
            b.run_protocols()
            b.labels = {}
        elif cfg.only == "cluster":
            b.run_cluster()
            b.labels = {}
        elif cfg.only == "https":
            b.run_https()
            b.labels = {}
        else:
            b.run()
    finally:
        PROCS.stop_all()
    cfg.elapsed_min = (time.monotonic() - t0) / 60
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(os.path.join(cfg.out, "state.json"), "w") as f:
        json.dump({"r": b.r, "failures": b.failures, "labels": b.labels,
                   "unpinned_labels": getattr(b, "unpinned_labels", {}), "mock_max": b.mock_max,
                   "foreign": b.foreign, "retried": b.retried, "machine": mach, "versions": vers, "date": date,
                   "proto_labels": getattr(b, "proto_labels", {}), "only": cfg.only,
                   "cluster_labels": getattr(b, "cluster_labels", {}),
                   "https_labels": getattr(b, "https_labels", {}),
                   "cfg": {k: v for k, v in vars(cfg).items() if isinstance(v, (int, float, str, list, bool))}},
                  f, default=str)
    if cfg.only == "protocols":
        finish_protocols(b, cfg, mach, vers, date, a.write_docs)
    elif cfg.only == "cluster":
        finish_cluster(b, cfg, mach, vers, date, a.write_docs)
    elif cfg.only == "https":
        finish_https(b, cfg, mach, vers, date, a.write_docs)
    else:
        finish(b, cfg, mach, vers, date, a.write_docs)
    log(f"done in {cfg.elapsed_min:.1f} min: {cfg.out}")
    if b.failures:
        log(f"{len(b.failures)} failed cell(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()

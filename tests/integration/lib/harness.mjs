// Test harness for the llmgate black-box integration tests.
//
// Every process started here runs in its own process group and is killed when
// the test process exits, whatever happened (see killAll). Tests only ever talk
// to 127.0.0.1 / ::1.

import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePki, startTlsFront } from './tls.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.LLMGATE_BIN || path.resolve(here, '../../../build/llmgate');

// Environment variables the gateway reads: removed from the inherited
// environment so that each test states exactly what the gateway sees.
const GATEWAY_ENV = [
  'PORT', 'LLMGATE_CONFIG', 'LLMGATE_WORKERS', 'API_ACCESS_TOKENS', 'TOKEN',
  'POE_APIKEYS', 'OPENROUTER_API_KEY', 'OPENAI_API_KEY', 'DEEPINFRA_API_KEY', 'LLMGATE_REDIS_URL',
];

export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of GATEWAY_ENV) delete env[k];
  return { ...env, ...extra };
}

// LLMGATE_TEST_UPSTREAM_TLS=1 (tests/run's TLS pass of the upstream suites,
// issue 17): every mock is reached through a TLS front (lib/tls.mjs) with a
// certificate of a private CA made once per test process, `mock.base` is its
// https:// URL (the mock's own endpoints stay on its cleartext port), and every
// gateway trusts that CA through SSL_CERT_FILE (OpenSSL's default verify file).
export const UPSTREAM_TLS = process.env.LLMGATE_TEST_UPSTREAM_TLS === '1';
let testPki;
const upstreamPki = () => (testPki ||= makePki());

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves with `p`, or rejects with `what` after `ms`: a ceiling that only
// bounds a hang (the timer is cleared, so it keeps nothing alive).
export function withCeiling(p, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} (nothing after ${ms} ms)`)), ms); });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

export async function waitFor(fn, { timeout = 30000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await sleep(interval);
  }
}

export function tmpDir(prefix = 'llmgate-it-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

// ---- ports -----------------------------------------------------------------

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n, host = '127.0.0.1') {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort(host));
  return [...ports];
}

export function ipv6LoopbackAvailable() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.on('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

// Resolves true if a TCP connection to host:port is accepted.
export function canConnect(port, host = '127.0.0.1', timeout = 10000) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (v) => { s.destroy(); resolve(v); };
    s.setTimeout(timeout, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

// ---- process bookkeeping ---------------------------------------------------

const live = new Set();
const tmpDirs = [];

function killAll() {
  for (const g of live) {
    try { process.kill(-g.pid, 'SIGKILL'); } catch { /* gone */ }
    for (const w of g.lastWorkers || []) { try { process.kill(w, 'SIGKILL'); } catch { /* gone */ } }
  }
  live.clear();
  for (const d of tmpDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

// If this test process dies without running its exit handler (SIGKILL, a
// runner timeout), a detached shell kills the gateway's process group.
function watchdog(gpid) {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${gpid} 2>/dev/null; do sleep 1; done; ` +
    `kill -0 ${process.pid} 2>/dev/null || kill -KILL -${gpid} 2>/dev/null`;
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
}

// Children of a process, from /proc (every thread's children file), zombies
// excluded (a reaped-late dead worker is not a worker).
export function childPids(pid) {
  let kids = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
        if (s) kids.push(...s.split(/\s+/).map(Number));
      } catch { /* thread gone */ }
    }
  } catch {
    const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
    kids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  }
  return [...new Set(kids)].filter((p) => procState(p) !== 'Z' && procState(p) !== null).sort((a, b) => a - b);
}

export function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return null;
  }
}

// ---- the gateway -----------------------------------------------------------

// Spawns the llmgate binary.
//   config: YAML string, or a function ({port, ports, dir}) => YAML, or null for
//           no -c (embedded default: env PORT is set to a free port, cwd is an
//           empty temp dir).
//   ports:  how many free ports to pick (ports[0] is `port`).
//   env, args, cwd: extra environment, extra arguments, working directory.
//   wait:   wait for the `listening on` log line (default true).
export async function startGateway({ config = null, ports: nports = 1, env = {}, args = [], cwd, wait = true, readyTimeout = 30000 } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`llmgate binary not found at ${BIN} (build it with ninja -C build, or set LLMGATE_BIN)`);
  const dir = tmpDir();
  const ports = await freePorts(nports);
  const port = ports[0];
  const fullEnv = cleanEnv(UPSTREAM_TLS ? { SSL_CERT_FILE: upstreamPki().ca.cert, ...env } : env);
  const argv = [...args];
  let configFile = null;
  if (config !== null) {
    const text = typeof config === 'function' ? config({ port, ports, dir }) : config;
    configFile = path.join(dir, 'gateway.yaml');
    fs.writeFileSync(configFile, text);
    argv.unshift('-c', configFile);
  } else if (fullEnv.PORT === undefined) {
    fullEnv.PORT = String(port);
  }
  const proc = spawn(BIN, argv, { cwd: cwd || dir, env: fullEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const g = {
    proc, pid: proc.pid, port, ports, dir, configFile, lastWorkers: [],
    stderr: '', stdout: '', exitCode: undefined, exitSignal: undefined,
  };
  live.add(g);
  watchdog(proc.pid);
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => { g.stderr += d; });
  proc.stdout.on('data', (d) => { g.stdout += d; });
  g.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      g.exitCode = code;
      g.exitSignal = signal;
      // workers left behind by a crashed master are killed with the group
      try { process.kill(-g.pid, 'SIGKILL'); } catch { /* gone */ }
      live.delete(g);
      resolve({ code, signal });
    });
  });
  // a failed spawn (ENOENT, ETXTBSY while the binary is being relinked) emits
  // 'error' and no 'exit': end `exited` too, so that nothing waits forever
  proc.on('error', (e) => {
    g.stderr += `\n[harness] spawn error: ${e.message}\n`;
    if (proc.pid === undefined) proc.emit('exit', null, null);
  });

  g.logs = () => g.stderr + g.stdout;
  g.url = (p = '/', host = '127.0.0.1', prt = port) => `http://${host.includes(':') ? `[${host}]` : host}:${prt}${p}`;
  g.workerPids = () => { const w = childPids(g.pid); if (w.length) g.lastWorkers = w; return w; };
  g.alive = () => g.exitCode === undefined && g.exitSignal === undefined;
  g.signal = (sig) => process.kill(g.pid, sig);
  // Sends `sig` (default SIGTERM), waits for the master to exit, SIGKILLs the
  // group after `timeout` ms. Returns {code, signal}.
  g.stop = async (sig = 'SIGTERM', timeout = 30000) => {
    if (!g.alive()) return { code: g.exitCode, signal: g.exitSignal };
    try { process.kill(g.pid, sig); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(-g.pid, 'SIGKILL'); } catch { /* gone */ } }, timeout);
    const r = await g.exited;
    clearTimeout(t);
    return r;
  };
  g.waitLog = (needle, timeout = 30000) => waitFor(
    () => (typeof needle === 'string' ? g.logs().includes(needle) : needle.test(g.logs())),
    { timeout, what: `log ${needle}` });

  if (wait) {
    const ready = waitFor(() => g.stderr.includes('listening on'), { timeout: readyTimeout, interval: 20, what: '"listening on" in stderr' });
    const died = g.exited.then((r) => { throw new Error(`llmgate exited before ready (${JSON.stringify(r)})`); });
    try {
      await Promise.race([ready, died]);
    } catch (e) {
      await g.stop('SIGKILL', 1000);
      e.message += `\n--- llmgate stderr ---\n${g.logs()}`;
      throw e;
    }
    g.workerPids();
  }
  return g;
}

// The usual test config: one echo provider. opts: port, workers, extra YAML
// (top-level keys, appended verbatim), delay, listen (YAML list replacing the
// default listener).
export function echoConfig({ port, workers = 2, extra = '', delay, listen } = {}) {
  return [
    'listen:',
    listen || `  - address: 127.0.0.1\n    port: ${port}`,
    `workers: ${workers}`,
    'providers:',
    '  - name: echo',
    '    type: echo',
    '    models: [echo, "echo-*"]',
    delay !== undefined ? `    delay: ${delay}` : '',
    extra,
  ].filter((l) => l !== '').join('\n') + '\n';
}

// ---- the mock upstream -------------------------------------------------------

export const MOCK_BIN = process.env.LLMGATE_MOCK_BIN || path.resolve(here, '../../../build/tests/mock/llmgate-mock');

// Spawns the mock upstream (docs/mock.md) on a free port and waits for its
// `mock listening on 127.0.0.1:PORT` line. args: extra arguments (e.g.
// ['--record', FILE]). Returns {proc, pid, port, base, url(p), record(),
// reset(), stop(), stderr}:
//   base:     'http://127.0.0.1:PORT'
//   record(): GET /_mock/record, parsed (an array of entries)
//   reset():  POST /_mock/reset
export async function startMock({ args = [], readyTimeout = 30000 } = {}) {
  if (!fs.existsSync(MOCK_BIN)) throw new Error(`mock binary not found at ${MOCK_BIN} (build it with ninja -C build, or set LLMGATE_MOCK_BIN)`);
  const proc = spawn(MOCK_BIN, ['--port', '0', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = { proc, pid: proc.pid, port: 0, stderr: '', lastWorkers: [], exitCode: undefined, exitSignal: undefined };
  live.add(m);
  watchdog(proc.pid);
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => { m.stderr += d; });
  proc.stdout.on('data', (d) => { m.stderr += d; });
  m.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { m.exitCode = code; m.exitSignal = signal; live.delete(m); resolve({ code, signal }); });
  });
  proc.on('error', (e) => {
    m.stderr += `\n[harness] spawn error: ${e.message}\n`;
    if (proc.pid === undefined) proc.emit('exit', null, null);
  });
  m.alive = () => m.exitCode === undefined && m.exitSignal === undefined;
  m.stop = async (timeout = 5000) => {
    if (!m.alive()) return { code: m.exitCode, signal: m.exitSignal };
    try { process.kill(m.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(-m.pid, 'SIGKILL'); } catch { /* gone */ } }, timeout);
    const r = await m.exited;
    clearTimeout(t);
    return r;
  };
  const ready = waitFor(() => /mock listening on \S+:(\d+)/.exec(m.stderr), { timeout: readyTimeout, interval: 10, what: '"mock listening on" in the mock\'s stderr' });
  const died = m.exited.then((r) => { throw new Error(`llmgate-mock exited before ready (${JSON.stringify(r)})`); });
  let match;
  try {
    match = await Promise.race([ready, died]);
  } catch (e) {
    try { process.kill(-m.pid, 'SIGKILL'); } catch { /* gone */ }
    e.message += `\n--- mock stderr ---\n${m.stderr}`;
    throw e;
  }
  m.port = Number(match[1]);
  m.base = `http://127.0.0.1:${m.port}`;
  const plain = m.base;
  m.url = (p = '/') => `${plain}${p}`;
  if (UPSTREAM_TLS) {
    const front = await startTlsFront(m.port, upstreamPki().server);
    const stop = m.stop;
    m.front = front;
    m.base = front.base;
    m.stop = async (...a) => { await front.close(); return stop(...a); };
  }
  m.record = async () => {
    const r = await fetch(m.url('/_mock/record'), { signal: AbortSignal.timeout(30000) });
    if (r.status !== 200) throw new Error(`GET /_mock/record: ${r.status}`);
    return JSON.parse(await r.text());
  };
  m.reset = async () => {
    const r = await fetch(m.url('/_mock/reset'), { method: 'POST', signal: AbortSignal.timeout(30000) });
    if (r.status !== 200) throw new Error(`POST /_mock/reset: ${r.status}`);
    await r.text();
  };
  return m;
}

// Runs the binary to completion (for -t, --version, ...).
export function runCli(args, { env = {}, cwd, timeout = 60000 } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`llmgate binary not found at ${BIN}`);
  return runProcess(BIN, args, { env: cleanEnv(env), cwd: cwd || tmpDir(), timeout });
}

export function runProcess(cmd, args, { env = process.env, cwd, timeout = 60000, input } = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '', stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }, timeout);
    p.on('error', (e) => { stderr += `spawn error: ${e.message}`; });
    p.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout, stderr }); });
    if (input !== undefined) p.stdin.end(input); else p.stdin.end();
  });
}

// ---- HTTP clients ----------------------------------------------------------

// fetch wrapper: returns {status, headers (Headers), text, json (or undefined)}.
export async function request(url, { method = 'GET', body, headers = {}, token, timeout = 60000 } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    payload = JSON.stringify(body);
    h['content-type'] = h['content-type'] || 'application/json';
  }
  let res, text;
  try {
    res = await fetch(url, { method, body: payload, headers: h, signal: AbortSignal.timeout(timeout) });
    text = await res.text();
  } catch (e) {
    const c = e.cause;
    throw new Error(`${method} ${url}: ${e.message}${c ? ` (${c.code || ''} ${c.message || c})` : ''}`);
  }
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export function chat(gw, body, opts = {}) {
  return request(gw.url(opts.path || '/v1/chat/completions'), { method: 'POST', body, ...opts });
}

// Runs the curl CLI. Returns {status, httpVersion, headers (lower-cased map of
// the last header block), headerBlocks, body, exitCode, stderr, info}.
export async function curl(args, { timeout = 60000 } = {}) {
  const dir = tmpDir('llmgate-curl-');
  const hdr = path.join(dir, 'h'), out = path.join(dir, 'b');
  const r = await runProcess('curl', ['-sS', '-D', hdr, '-o', out, '-w', '%{json}', ...args], { timeout });
  let info = {};
  try { info = JSON.parse(r.stdout); } catch { /* curl killed */ }
  const raw = fs.existsSync(hdr) ? fs.readFileSync(hdr, 'utf8') : '';
  const blocks = raw.split(/\r?\n\r?\n/).filter((b) => /^HTTP\//.test(b));
  const headerBlocks = blocks.map(parseHeaderBlock);
  const last = headerBlocks[headerBlocks.length - 1] || { status: 0, headers: {} };
  const body = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  let json;
  try { json = JSON.parse(body); } catch { /* not JSON */ }
  return {
    status: last.status, headers: last.headers, headerBlocks, body, json,
    httpVersion: info.http_version, exitCode: r.code, stderr: r.stderr, info,
  };
}

function parseHeaderBlock(block) {
  const lines = block.split(/\r?\n/);
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase(), v = l.slice(i + 1).trim();
    headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
  }
  return { status, headers, statusLine: lines[0] };
}

export function nghttp(args, opts = {}) {
  return runProcess('nghttp', args, { timeout: 60000, ...opts });
}

// A raw TCP exchange: writes `data`, collects everything until the peer
// closes or `timeout` ms pass. Returns {text, closed, error}.
export function rawExchange(port, data, { host = '127.0.0.1', timeout = 15000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    let text = '', error = null, done = false, timer = null;
    const finish = (closed) => { if (done) return; done = true; clearTimeout(timer); s.destroy(); resolve({ text, closed, error }); };
    s.setEncoding('latin1');
    s.on('connect', () => s.write(data));
    s.on('data', (d) => { text += d; });
    s.on('error', (e) => { error = e; });
    s.on('close', () => finish(true));
    timer = setTimeout(() => finish(false), timeout);
  });
}

// Parses one HTTP/1.x response (Content-Length or chunked body).
export function parseHttpResponse(text) {
  const i = text.indexOf('\r\n\r\n');
  if (i < 0) return null;
  const head = parseHeaderBlock(text.slice(0, i));
  let rest = text.slice(i + 4), body = '';
  if (/chunked/i.test(head.headers['transfer-encoding'] || '')) {
    for (;;) {
      const j = rest.indexOf('\r\n');
      if (j < 0) break;
      const n = parseInt(rest.slice(0, j), 16);
      if (!n) break;
      body += rest.slice(j + 2, j + 2 + n);
      rest = rest.slice(j + 2 + n + 2);
    }
  } else if (head.headers['content-length'] !== undefined) {
    body = rest.slice(0, Number(head.headers['content-length']));
  } else {
    body = rest;
  }
  return { ...head, body };
}

// One HTTP/1.1 request on a fresh connection (Connection: close).
export async function http1(port, { method = 'GET', path: p = '/', headers = {}, body = '', host = '127.0.0.1', timeout = 15000 } = {}) {
  const h = { host: `127.0.0.1:${port}`, connection: 'close', ...headers };
  if (body !== '' || method === 'POST') h['content-length'] = Buffer.byteLength(body);
  const req = `${method} ${p} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
  const r = await rawExchange(port, req, { host, timeout });
  const res = parseHttpResponse(r.text);
  if (!res) throw new Error(`no HTTP response (closed=${r.closed}, error=${r.error && r.error.code}, got ${JSON.stringify(r.text.slice(0, 200))})`);
  return res;
}

// ---- SSE -------------------------------------------------------------------

// Parses an SSE body into the list of `data:` payloads (comments skipped).
export function parseSSE(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length) out.push(data.join('\n'));
  }
  return out;
}

// Reads a fetch Response body as SSE, yielding {data, t} as each event
// completes (t: performance.now() at arrival).
export async function* sseEvents(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const t = performance.now();
    buf += dec.decode(value, { stream: true });
    let m;
    while ((m = /\r?\n\r?\n/.exec(buf))) {
      const block = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
      if (data.length) yield { data: data.join('\n'), t };
    }
  }
  if (buf.trim()) yield { data: null, rest: buf, t: performance.now() };
}

// Checks a list of SSE payloads is a well-formed chat completion stream and
// returns {text, chunks, usage}. Uses assert-like throws.
export function checkChatStream(payloads, { model, includeUsage = false } = {}) {
  const fail = (m) => { throw new Error(`${m}\nstream: ${JSON.stringify(payloads).slice(0, 2000)}`); };
  if (payloads[payloads.length - 1] !== '[DONE]') fail('stream does not end with [DONE]');
  if (payloads.filter((p) => p === '[DONE]').length !== 1) fail('more than one [DONE]');
  const chunks = payloads.slice(0, -1).map((p) => { try { return JSON.parse(p); } catch { return fail(`non-JSON event ${p}`); } });
  if (chunks.length < 3) fail('fewer than 3 chunks');
  const id = chunks[0].id, created = chunks[0].created;
  if (typeof id !== 'string' || !id.startsWith('chatcmpl-')) fail(`bad id ${id}`);
  if (!Number.isInteger(created)) fail(`bad created ${created}`);
  for (const c of chunks) {
    if (c.id !== id) fail(`chunk id ${c.id} differs from ${id}`);
    if (c.created !== created) fail('created differs between chunks');
    if (c.object !== 'chat.completion.chunk') fail(`object ${c.object}`);
    if (model !== undefined && c.model !== model) fail(`model ${c.model} != ${model}`);
  }
  let usage;
  let body = chunks;
  if (includeUsage) {
    const u = chunks[chunks.length - 1];
    if (!Array.isArray(u.choices) || u.choices.length !== 0) fail('usage chunk must have choices: []');
    if (!u.usage) fail('usage chunk has no usage');
    usage = u.usage;
    body = chunks.slice(0, -1);
  }
  for (const c of body) if (c.usage) fail('usage present without include_usage / before the usage chunk');
  const first = body[0].choices[0];
  if (first.delta.role !== 'assistant' || first.delta.content !== '') fail(`first delta ${JSON.stringify(first.delta)}`);
  const last = body[body.length - 1].choices[0];
  if (last.finish_reason !== 'stop' || Object.keys(last.delta).length !== 0) fail(`last chunk ${JSON.stringify(last)}`);
  const content = body.slice(1, -1).map((c) => {
    if (c.choices.length !== 1 || c.choices[0].index !== 0) fail('content chunk choices');
    if (c.choices[0].finish_reason !== null) fail(`content chunk finish_reason ${c.choices[0].finish_reason}`);
    if (typeof c.choices[0].delta.content !== 'string') fail('content delta not a string');
    return c.choices[0].delta.content;
  });
  return { text: content.join(''), pieces: content, chunks, usage };
}

// ---- assertions about the OpenAI error shape -------------------------------

export function isOpenAIError(json) {
  if (!json || typeof json !== 'object' || !json.error || typeof json.error !== 'object') return false;
  const e = json.error;
  return typeof e.message === 'string' && e.message.length > 0 && typeof e.type === 'string' && e.type.length > 0 &&
    (e.param === null || typeof e.param === 'string') && (e.code === null || typeof e.code === 'string') &&
    'param' in e && 'code' in e;
}

// ---- TLS -------------------------------------------------------------------

export async function makeCert(dir) {
  const cert = path.join(dir, 'cert.pem'), key = path.join(dir, 'key.pem');
  const r = await runProcess('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

// ---- Prometheus text format --------------------------------------------------

// Parses a Prometheus text exposition (format 0.0.4). Returns
// {samples: [{name, labels, value, line}], help: Map, type: Map, errors: [...]}
// where errors lists every line that does not parse, every sample of a family
// without # HELP or # TYPE (or whose TYPE comes after its first sample), every
// duplicated series and every TYPE given twice.
export function parsePrometheus(text) {
  const help = new Map(), type = new Map(), errors = [], samples = [];
  const seenSeries = new Set(), sampledFamilies = new Set();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
  const labelRe = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
  const family = (name) => {
    for (const suf of ['_bucket', '_sum', '_count']) {
      const base = name.endsWith(suf) ? name.slice(0, -suf.length) : null;
      if (base && ['histogram', 'summary'].includes(type.get(base))) return base;
    }
    return name;
  };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else errors.push('the exposition does not end with a newline');
  lines.forEach((line, i) => {
    const at = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!new RegExp(`^${NAME}$`).test(name)) errors.push(`${at}: bad metric name`);
      if (kind === 'HELP') {
        if (help.has(name)) errors.push(`${at}: second HELP for ${name}`);
        help.set(name, rest);
      } else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) errors.push(`${at}: bad TYPE`);
        if (type.has(name)) errors.push(`${at}: second TYPE for ${name}`);
        if (sampledFamilies.has(name)) errors.push(`${at}: TYPE after the first sample of ${name}`);
        type.set(name, rest);
      }
      return;
    }
    const m = sampleRe.exec(line);
    if (!m) { errors.push(`${at}: not "name{labels} value"`); return; }
    const [, name, labelText = '', valueText] = m;
    const labels = {};
    let rest = labelText;
    while (rest.length) {
      const l = labelRe.exec(rest);
      if (!l) { errors.push(`${at}: bad labels`); return; }
      if (l[1] in labels) errors.push(`${at}: label ${l[1]} twice`);
      labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    let value;
    if (/^[+-]?Inf$/.test(valueText)) value = valueText.startsWith('-') ? -Infinity : Infinity;
    else if (valueText === 'NaN') value = NaN;
    else if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(valueText)) value = Number(valueText);
    else { errors.push(`${at}: bad value`); return; }
    const fam = family(name);
    sampledFamilies.add(fam);
    if (!help.has(fam)) errors.push(`${at}: no # HELP for ${fam} before its samples`);
    if (!type.has(fam)) errors.push(`${at}: no # TYPE for ${fam} before its samples`);
    const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
    if (seenSeries.has(key)) errors.push(`${at}: duplicate series ${key}`);
    seenSeries.add(key);
    samples.push({ name, labels, value, line });
  });
  return { samples, help, type, errors };
}

// The value of the one sample `name` whose labels equal `labels` exactly;
// undefined when there is none.
export function metricValue(parsed, name, labels = {}) {
  const want = Object.entries(labels);
  const hits = parsed.samples.filter((s) => s.name === name &&
    Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === String(v)));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits.length ? hits[0].value : undefined;
}

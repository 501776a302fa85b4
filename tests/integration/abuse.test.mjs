// Connection abuse and header limits (docs/security.md "Slow clients" and
// "Request limits"): max_header_bytes answers 431 over HTTP/1.1 and h2c;
// timeouts.client_header cuts slowloris clients and trickled bodies;
// timeouts.client_idle closes idle HTTP/1.1 and HTTP/2 connections; while
// hundreds of abusive connections hang, fresh clients are served meanwhile, and
// no worker is ever replaced. Timings are checked only where the design fixes
// them: a timer cannot fire before its time (a lower bound, counted from before
// the connection was even opened), and a connection that a timer should close
// is closed well before the other timer could have (a ceiling that only bounds
// a hang). "Served meanwhile" is proven by order: the answer came while every
// abusive connection was still open. The machine may be loaded and the ASan
// build is slower, so no assertion depends on how fast anything is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import {
  startGateway, echoConfig, curl, http1, rawExchange, parseHttpResponse, isOpenAIError, sleep, makeCert, tmpDir, waitFor,
} from './lib/harness.mjs';

const LIMIT = 4096;

// The test process and the gateway share the soft RLIMIT_NOFILE (20000 where
// this was written); with a smaller one the connection counts shrink to fit.
function nofile() {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}
const FD_BUDGET = nofile() - 300;
const fit = (want, share) => Math.max(10, Math.min(want, Math.floor(FD_BUDGET * share)));
const SLOWLORIS = fit(500, 1);
const IDLE_TCP = fit(3000, 0.85), IDLE_H2C = fit(500, 0.15);

// gwHead: client_header 5 s (and so the HTTP/1.1 timer, the shorter of the
// two), client_idle 60 s. gwIdle: client_idle 8 s, client_header 60 s.
// gwHead also listens with TLS on ports[1] (the handshake timeout).
// The short timer is long enough for fresh clients to be served, even on a
// loaded machine, before the abusive connections are cut (gwIdle's test opens
// 3,500 of them first, which takes a while); the long one is far beyond
// CEILING, so a close seen before CEILING is the short timer's doing.
const HEADER_S = 5, IDLE_S = 8; // seconds
const CEILING = 30000; // ms: only bounds a hang
const SLACK = 0.5; // s: h2o's timers run on the event loop's cached clock
const T = 30000; // per-request ceiling (ms)
let gwHead, gwIdle;
before(async () => {
  const { cert, key } = await makeCert(tmpDir());
  gwHead = await startGateway({
    ports: 2,
    config: ({ port, ports }) => echoConfig({
      port,
      listen: `  - address: 127.0.0.1\n    port: ${port}\n  - address: 127.0.0.1\n    port: ${ports[1]}\n    tls: {certificate: ${cert}, key: ${key}}`,
      extra: `max_header_bytes: ${LIMIT}\ntimeouts:\n  client_header: ${HEADER_S}s\n  client_idle: 60s\n`,
    }),
  });
  gwIdle = await startGateway({
    // thousands of idle connections from one address: the idle timers are under
    // test here, not limits.max_connections_per_client (hostile.test.mjs)
    config: ({ port }) => echoConfig({ port, extra: `timeouts:\n  client_header: 60s\n  client_idle: ${IDLE_S}s\nlimits:\n  max_connections_per_client: 0\n` }),
  });
});
after(async () => {
  await gwHead?.stop();
  await gwIdle?.stop();
});

const CHAT = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'still here' }] });

// The gateway answers on fresh connections, and no worker was replaced.
async function assertServing(g, workers) {
  const h = await http1(g.port, { path: '/health', timeout: T });
  assert.equal(h.status, 200, `/health: ${h.status} ${h.body}`);
  const c = await http1(g.port, { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: CHAT, timeout: T });
  assert.equal(c.status, 200, `chat: ${c.status} ${c.body}`);
  assert.equal(JSON.parse(c.body).choices[0].message.content, 'still here');
  assert.ok(g.alive(), `master exited; log tail:\n${g.logs().slice(-2000)}`);
  assert.deepEqual(g.workerPids(), workers, 'a worker was replaced');
}

// /health and an echo chat on fresh connections, each answered while every
// one of the abusive connections `socks` is still open (proven by order, not
// by how fast the answer came).
async function assertServedMeanwhile(g, socks) {
  for (const [what, opts] of [
    ['/health', { path: '/health' }],
    ['chat', { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: CHAT }],
  ]) {
    const r = await http1(g.port, { ...opts, timeout: T });
    assert.equal(r.status, 200, `${what}: ${r.status} ${r.body}`);
    const gone = socks.filter((s) => s.closedAt !== undefined).length;
    assert.equal(gone, 0, `${what} was answered only after ${gone} of ${socks.length} abusive connections had been closed`);
  }
}

// A socket whose start and close times are kept: s.startedAt (before connect
// was called: the server cannot have accepted it earlier), s.connectedAt,
// s.closedAt and s.whenClosed (a promise of the close time), s.received (what
// the server sent).
function openSocket(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const s = net.connect({ port, host });
    s.startedAt = startedAt;
    s.received = '';
    s.setEncoding('latin1');
    s.on('data', (d) => { s.received += d; });
    s.on('error', () => { /* a reset after the server closed: the close event follows */ });
    s.whenClosed = new Promise((r) => s.on('close', () => { s.closedAt = performance.now(); r(s.closedAt); }));
    s.once('connect', () => { s.connectedAt = performance.now(); resolve(s); });
    s.once('error', (e) => { if (s.connectedAt === undefined) reject(e); });
  });
}

async function openMany(port, n, batch = 250) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => openSocket(port))));
  }
  return out;
}

// Seconds each socket stayed open (from before its connect to its close),
// after all have closed or `limit` ms passed (those still open count as
// Infinity, and are destroyed).
async function lifetimes(socks, limit = CEILING) {
  let timer;
  const deadline = new Promise((r) => { timer = setTimeout(() => r(null), limit); });
  const out = await Promise.all(socks.map(async (s) => {
    const t = await Promise.race([s.whenClosed, deadline]);
    return t === null ? Infinity : (t - s.startedAt) / 1000;
  }));
  clearTimeout(timer);
  for (const s of socks) s.destroy();
  return out;
}

// Every connection was closed by the server, none before `timeout` seconds
// (a timer cannot fire early), all before the CEILING (no hang; far below
// the other client timer, 60 s).
function assertClosedByTimer(times, timeout, what) {
  const sorted = [...times].sort((a, b) => a - b);
  const min = sorted[0], max = sorted[sorted.length - 1];
  assert.ok(max !== Infinity,
    `${what}: ${times.filter((t) => t === Infinity).length} of ${times.length} connections still open after ${CEILING / 1000} s`);
  assert.ok(min >= timeout - SLACK,
    `${what}: ${times.length} connections closed after ${min.toFixed(2)}..${max.toFixed(2)} s, some before the ${timeout} s timer`);
}

// Reads one whole HTTP/1.1 response (Content-Length) from a kept-alive socket.
function readResponse(s, timeout = T) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const r = parseHttpResponse(s.received);
      const len = r && Number(r.headers['content-length']);
      if (r && r.body.length >= len) {
        const end = s.received.indexOf('\r\n\r\n') + 4 + len;
        s.received = s.received.slice(end);
        return resolve(r);
      }
      if (s.destroyed || Date.now() - t0 > timeout) return reject(new Error(`no whole response (got ${JSON.stringify(s.received.slice(0, 300))})`));
      setTimeout(poll, 10);
    };
    poll();
  });
}

function assert431(r, what) {
  assert.equal(r.status, 431, `${what}: status ${r.status} body ${String(r.body).slice(0, 300)}`);
  assert.match(r.headers['content-type'] || '', /^application\/json/, `${what}: content-type`);
  const json = JSON.parse(r.body);
  assert.ok(isOpenAIError(json), `${what}: not an OpenAI error: ${r.body}`);
  assert.equal(json.error.type, 'invalid_request_error');
  assert.equal(json.error.code, 'request_header_fields_too_large');
  assert.match(json.error.message, /max_header_bytes/);
  assert.ok(r.headers['x-request-id'], `${what}: no x-request-id`);
}

// ---- max_header_bytes --------------------------------------------------------

// "GET /health HTTP/1.1", Host: h, X-Pad: <pad> counts 3 + 7 + 1 + 5 + pad.
const rawGet = (pad) => `GET /health HTTP/1.1\r\nHost: h\r\nX-Pad: ${'p'.repeat(pad)}\r\n\r\n`;

test('431 over HTTP/1.1 (raw socket) one byte over max_header_bytes; exactly at it is served; the connection stays usable', async () => {
  const workers = gwHead.workerPids();
  const s = await openSocket(gwHead.port);
  try {
    s.write(rawGet(LIMIT - 16 + 1));
    const over = await readResponse(s);
    assert431(over, 'one byte over');
    assert.match(over.statusLine, /^HTTP\/1\.1 431 Request Header Fields Too Large/);
    s.write(rawGet(LIMIT - 16));
    const at = await readResponse(s);
    assert.equal(at.status, 200, `exactly at the limit: ${at.status} ${at.body}`);
    assert.equal(JSON.parse(at.body).status, 'ok');
    assert.ok(!s.destroyed, 'the 431 closed the connection');
  } finally {
    s.destroy();
  }
  // the client's x-request-id comes back on the 431
  const r = await rawExchange(gwHead.port, `GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Request-Id: abuse-431\r\nX-Pad: ${'p'.repeat(LIMIT)}\r\n\r\n`, { timeout: T });
  const res = parseHttpResponse(r.text);
  assert431(res, 'with x-request-id');
  assert.equal(res.headers['x-request-id'], 'abuse-431');
  await assertServing(gwHead, workers);
});

test('431 over HTTP/1.1 and h2c (curl, node http2), on GET and on a chat POST; exactly at the limit over h2c is served', async () => {
  const workers = gwHead.workerPids();
  const big = ['-H', `X-Pad: ${'q'.repeat(LIMIT)}`];
  for (const proto of ['--http1.1', '--http2-prior-knowledge']) {
    const g = await curl([proto, ...big, gwHead.url('/health')]);
    assert431(g, `curl ${proto} GET`);
    assert.equal(g.httpVersion, proto === '--http1.1' ? '1.1' : '2');
    const p = await curl([proto, ...big, '-H', 'content-type: application/json', '-H', 'x-request-id: abuse-chat', '--data-binary', CHAT,
      gwHead.url('/v1/chat/completions')]);
    assert431(p, `curl ${proto} POST`);
    assert.equal(p.headers['x-request-id'], 'abuse-chat');
  }
  // h2c counts :method, :path, :authority and the fields, not :scheme
  const authority = `127.0.0.1:${gwHead.port}`;
  const base = 3 + '/health'.length + authority.length + 'x-pad'.length;
  const bare = ['--http2-prior-knowledge', '-H', 'User-Agent:', '-H', 'Accept:'];
  const at = await curl([...bare, '-H', `X-Pad: ${'r'.repeat(LIMIT - base)}`, gwHead.url('/health')]);
  assert.equal(at.status, 200, `h2c exactly at the limit: ${at.status} ${at.body}`);
  const over = await curl([...bare, '-H', `X-Pad: ${'r'.repeat(LIMIT - base + 1)}`, gwHead.url('/health')]);
  assert431(over, 'h2c one byte over');
  // one h2c connection (node's client): 431, then 200 on the same connection
  const session = http2.connect(gwHead.url('/'));
  try {
    const h2get = (headers) => new Promise((resolve, reject) => {
      const st = session.request({ ':path': '/health', ...headers });
      let body = '', head;
      st.setEncoding('utf8');
      st.on('response', (h) => { head = h; });
      st.on('data', (d) => { body += d; });
      st.on('end', () => resolve({ status: head[':status'], headers: head, body }));
      st.on('error', reject);
      st.end();
    });
    assert431(await h2get({ 'x-pad': 's'.repeat(LIMIT) }), 'node http2 client');
    assert.equal((await h2get({})).status, 200, 'the h2c connection is unusable after a 431');
  } finally {
    session.close();
  }
  await assertServing(gwHead, workers);
});

test("a head over h2o's own limit (417,792 bytes) is refused, and nothing breaks", async () => {
  // h2o writes its fixed 400 itself before any request exists (docs/security.md)
  const workers = gwHead.workerPids();
  const r = await rawExchange(gwHead.port, `GET /health HTTP/1.1\r\nHost: h\r\nX-Big: ${'b'.repeat(500000)}\r\n\r\n`, { timeout: T });
  assert.match(r.text, /^HTTP\/1\.1 4(00|31) /);
  await assertServing(gwHead, workers);
});

// ---- timeouts.client_header ---------------------------------------------------

test(`slowloris: ${SLOWLORIS} clients trickling a request head are closed at client_header (${HEADER_S} s); others are served meanwhile`, async () => {
  const workers = gwHead.workerPids();
  const socks = await openMany(gwHead.port, SLOWLORIS);
  for (const s of socks) s.write('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const drip = setInterval(() => { for (const s of socks) if (!s.destroyed && s.writable) s.write('a'); }, 1000);
  try {
    const closed = lifetimes(socks);
    await sleep(300);
    await assertServedMeanwhile(gwHead, socks);
    await sleep(500);
    await assertServedMeanwhile(gwHead, socks);
    const times = await closed;
    assertClosedByTimer(times, HEADER_S, 'slowloris');
    for (const s of socks) assert.equal(s.received, '', 'a timed-out client got a response');
  } finally {
    clearInterval(drip);
    for (const s of socks) s.destroy();
  }
  await assertServing(gwHead, workers);
});

test('a body trickled after complete headers is cut at client_header', async () => {
  const workers = gwHead.workerPids();
  const socks = await openMany(gwHead.port, 20);
  for (const s of socks) s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n`);
  let sent = 0;
  const drip = setInterval(() => {
    for (const s of socks) if (!s.destroyed && s.writable) s.write(CHAT[sent]);
    sent++;
  }, 250);
  try {
    const times = await lifetimes(socks);
    assertClosedByTimer(times, HEADER_S, 'slow body');
    assert.ok(sent < CHAT.length, 'the whole body went out before the cut');
    for (const s of socks) assert.equal(s.received, '', 'a cut client got a response');
  } finally {
    clearInterval(drip);
  }
  await assertServing(gwHead, workers);
});

test('a TLS client that never completes its handshake is closed at client_header; HTTPS is served meanwhile', async () => {
  const workers = gwHead.workerPids();
  const socks = await openMany(gwHead.ports[1], 50);
  for (const s of socks.slice(0, 25)) s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a ClientHello's first bytes
  const closed = lifetimes(socks);
  await sleep(300);
  const r = await curl(['-k', '--http2', `https://127.0.0.1:${gwHead.ports[1]}/health`], { timeout: T });
  assert.equal(r.status, 200, `HTTPS /health: ${r.status} ${r.stderr}`);
  assert.equal(r.httpVersion, '2');
  const gone = socks.filter((s) => s.closedAt !== undefined).length;
  assert.equal(gone, 0, `HTTPS was answered only after ${gone} of ${socks.length} stalled handshakes had been closed`);
  assertClosedByTimer(await closed, HEADER_S, 'TLS handshake');
  await assertServing(gwHead, workers);
});

// ---- timeouts.client_idle ------------------------------------------------------

const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

test(`${IDLE_TCP} idle TCP connections and ${IDLE_H2C} idle h2c connections: served meanwhile, closed at client_idle (${IDLE_S} s)`, async () => {
  const workers = gwIdle.workerPids();
  const tcp = await openMany(gwIdle.port, IDLE_TCP, 500);
  const h2 = await openMany(gwIdle.port, IDLE_H2C);
  for (const s of h2) s.write(H2_PREFACE);
  try {
    const tcpClosed = lifetimes(tcp);
    const h2Closed = lifetimes(h2);
    await sleep(200);
    await assertServedMeanwhile(gwIdle, [...tcp, ...h2]);
    await sleep(400);
    await assertServedMeanwhile(gwIdle, [...tcp, ...h2]);
    assertClosedByTimer(await tcpClosed, IDLE_S, 'idle TCP (HTTP/1.1)');
    assertClosedByTimer(await h2Closed, IDLE_S, 'idle h2c');
    // HTTP/2: the server's SETTINGS first, a GOAWAY (frame type 7) before the close
    for (const s of h2) {
      const b = Buffer.from(s.received, 'latin1');
      assert.ok(b.length >= 9 && b[3] === 4, 'no server SETTINGS frame');
      let off = 0, goaway = false;
      while (off + 9 <= b.length) {
        if (b[off + 3] === 7) goaway = true;
        off += 9 + b.readUIntBE(off, 3);
      }
      assert.ok(goaway, 'no GOAWAY before the idle close');
    }
  } finally {
    for (const s of [...tcp, ...h2]) s.destroy();
  }
  await assertServing(gwIdle, workers);
});

test('HTTP/1.1 keep-alive: a connection idle within client_idle is kept, one idle beyond it is closed', async () => {
  const workers = gwIdle.workerPids();
  const s = await openSocket(gwIdle.port);
  try {
    s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await readResponse(s)).status, 200);
    await sleep(1000);
    assert.ok(!s.destroyed, 'closed within client_idle');
    // the server's keep-alive timer starts after its answer, so after this
    const idleFrom = performance.now();
    s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const second = await readResponse(s);
    assert.equal(second.status, 200, 'the kept connection did not answer');
    const [idle] = await lifetimes([Object.assign(s, { startedAt: idleFrom })]);
    assert.ok(idle !== Infinity, `an idle keep-alive connection was not closed within ${CEILING / 1000} s`);
    assert.ok(idle >= IDLE_S - SLACK, `closed after ${idle.toFixed(2)} s idle, before client_idle (${IDLE_S} s)`);
  } finally {
    s.destroy();
  }
  await assertServing(gwIdle, workers);
});

test('HTTP/2: a connection idle within client_idle is kept', async () => {
  const workers = gwIdle.workerPids();
  const s = await openSocket(gwIdle.port);
  try {
    s.write(H2_PREFACE);
    await waitFor(() => s.received.length >= 9 || s.destroyed, { what: "the server's SETTINGS" });
    await sleep(1000); // well within client_idle (8 s)
    assert.ok(!s.destroyed && s.received.length > 0, 'h2c connection closed within client_idle');
    assert.ok(!s.received.includes('idle timeout'), 'GOAWAY within client_idle');
  } finally {
    s.destroy();
  }
  await assertServing(gwIdle, workers);
});

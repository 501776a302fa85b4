// Memory before authentication (issue 13, item 1; docs/security.md "Memory
// before authentication"): request bodies are admitted at their head against
// per-worker and per-client-address budgets, a missing token is refused before
// a large body is read, connections are capped per worker and per address, and
// a client refused before its body reads the answer (lingering close).
//
// Attackers connect from other loopback addresses (127.0.0.2, ...) than the
// legitimate client (127.0.0.1): the per-address budgets are what keep the
// latter served. "The attack is in place" is an event, not a delay: every
// attacking connection was either answered, or has sent everything it meant
// to and the gateway has read all of it (/proc/net/tcp: nothing queued on
// either side).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import fs from 'node:fs';
import path from 'node:path';
import { startGateway, echoConfig, request, curl, isOpenAIError, waitFor, withCeiling, tmpDir } from './lib/harness.mjs';
import { h1Stall, h2Stall, attackInPlace, rssKiB, CHAT_PATH } from './lib/attack.mjs';

const HANG = 60000; // ms: only a hang takes this long
const SANITIZER = /log_path=/.test(process.env.ASAN_OPTIONS || ''); // tests/run's sanitizer pass
const MiB = 1024 * 1024;
const chatJSON = (text) => JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: text }] });
const gateways = [];
after(async () => { for (const g of gateways) await g.stop(); });

async function gateway(opts) {
  const g = await startGateway(opts);
  gateways.push(g);
  return g;
}

function assertOpenAIError(r, status, code, what) {
  assert.ok(r, `${what}: no answer`);
  assert.equal(r.status, status, `${what}: status ${r.status} ${JSON.stringify(r.json)}`);
  assert.ok(isOpenAIError(r.json), `${what}: not an OpenAI error: ${JSON.stringify(r.json)}`);
  if (code) assert.equal(r.json.error.code, code, `${what}: code`);
}

// Legitimate traffic from 127.0.0.1 until `stop()`: echo chats and /health,
// one at a time. Returns {stop (resolves {count, failures, p50, p99})}.
function legitimateLoop(g) {
  let running = true;
  const times = [], failures = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const t0 = process.hrtime.bigint();
      try {
        const r = i % 2 === 0
          ? await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON(`hello ${i}`), headers: { 'content-type': 'application/json' }, timeout: HANG })
          : await request(g.url('/health'), { timeout: HANG });
        if (r.status !== 200 || (i % 2 === 0 && r.json?.choices?.[0]?.message?.content !== `hello ${i}`))
          failures.push(`${i}: ${r.status} ${r.text.slice(0, 200)}`);
      } catch (e) {
        failures.push(`${i}: ${e.message}`);
      }
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      const s = [...times].sort((a, b) => a - b);
      const pct = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
      return { count: times.length, failures, p50: pct(0.5), p99: pct(0.99) };
    },
  };
}

// ---- the scenario -----------------------------------------------------

test('default config: 200 stalled connections (100 HTTP/1.1, 100 h2c) each one byte short of the largest body raise the worker by at most 256 MiB; the legitimate client is served throughout', async () => {
  // the embedded default config (no file), one worker: every attack lands on it
  const g = await gateway({ env: { LLMGATE_WORKERS: '1' } });
  const [worker] = g.workerPids();
  const MAX = 4 * MiB; // the default max_body_bytes
  const warm = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('warm'), headers: { 'content-type': 'application/json' } });
  assert.equal(warm.status, 200, warm.text);
  const before = rssKiB(worker);
  const legit = legitimateLoop(g);
  const attackers = [];
  for (let i = 0; i < 100; i++) attackers.push(h1Stall(g.port, '127.0.0.2', { cl: MAX, send: MAX - 1 }));
  for (let i = 0; i < 100; i++) attackers.push(h2Stall(g.port, '127.0.0.3', { cl: MAX, send: MAX - 1 }));
  try {
    const state = await attackInPlace(attackers, g.port, '200 stalled bodies in place', 4 * HANG);
    const during = rssKiB(worker);
    const stats = await legit.stop();
    const answered = state.filter((s) => s.answer);
    for (const s of answered) assertOpenAIError(s.answer, 429, 'too_many_pending_bodies', 'an attacker over its address budget');
    const held = state.length - answered.length;
    console.log(`worker RSS ${Math.round(before / 1024)} MiB -> ${Math.round(during / 1024)} MiB (+${Math.round((during - before) / 1024)} MiB); ` +
      `${held} bodies held, ${answered.length} refused with 429; legitimate: ${stats.count} requests, p50 ${stats.p50.toFixed(2)} ms, p99 ${stats.p99.toFixed(2)} ms`);
    assert.deepEqual(stats.failures, [], 'a legitimate request failed during the attack');
    // 64 MiB per address (limits.max_buffered_body_bytes_per_client): 15 bodies of 4 MiB each
    assert.ok(held >= 2 && held <= 32, `${held} bodies held`);
    if (!SANITIZER) assert.ok(during - before <= 256 * 1024, `the worker grew by ${Math.round((during - before) / 1024)} MiB`);
  } finally {
    for (const a of attackers) a.sock.destroy();
  }
  // the budgets are given back: a full-size body from an attacking address is served
  await waitFor(async () => {
    const r = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('y'.repeat(MAX - 200)), headers: { 'content-type': 'application/json' }, timeout: HANG });
    return r.status === 200 || (r.status === 429 ? false : r);
  }, { timeout: HANG, what: 'a full-size body served after the attack' });
  assert.deepEqual(g.workerPids(), [worker], 'the worker was replaced');
});

// ---- a missing token before the body -------------------------------------------

test('with access tokens: 200 stalled connections without a token get 401 before their bodies are read; the worker barely grows; a valid token is served', async () => {
  const g = await gateway({
    config: ({ port }) => echoConfig({ port, workers: 1, extra: 'access_tokens:\n  - {name: app, token: sk-preauth-good}\n' }),
  });
  const [worker] = g.workerPids();
  const MAX = 4 * MiB;
  const before = rssKiB(worker);
  const attackers = [];
  for (let i = 0; i < 100; i++) attackers.push(h1Stall(g.port, '127.0.0.2', { cl: MAX, send: MAX - 1 }));
  for (let i = 0; i < 100; i++) attackers.push(h2Stall(g.port, '127.0.0.3', { cl: MAX, send: MAX - 1, headers: { authorization: 'Bearer sk-wrong' } }));
  try {
    const answers = await withCeiling(Promise.all(attackers.map((a) => a.answered)), 4 * HANG, '401 to every attacker');
    const during = rssKiB(worker);
    answers.forEach((r, i) => {
      const a = attackers[i];
      assertOpenAIError(r, 401, a.kind === 'h1' ? 'missing_api_key' : 'invalid_api_key', `${a.kind} attacker ${i}`);
      if (a.kind === 'h1') {
        assert.match(r.head, /\r\nwww-authenticate: bearer/, 'WWW-Authenticate');
        assert.match(r.head, /\r\nconnection: close/, 'the connection closes');
      } else {
        assert.equal(r.headers['www-authenticate'], 'Bearer');
      }
    });
    console.log(`worker RSS +${Math.round((during - before) / 1024)} MiB with 200 refused attackers holding their connections`);
    if (!SANITIZER) assert.ok(during - before <= 64 * 1024, `the worker grew by ${Math.round((during - before) / 1024)} MiB`);
    const ok = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('with a token'), headers: { 'content-type': 'application/json', authorization: 'Bearer sk-preauth-good' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.choices[0].message.content, 'with a token');
    // a small body without a token is still refused by its handler, keeping the connection
    const small = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('no token'), headers: { 'content-type': 'application/json' } });
    assertOpenAIError({ status: small.status, json: small.json }, 401, 'missing_api_key', 'small body');
    // the same 401 before the body as after it, over both protocols (OpenAI's type for a bad key)
    for (const r of answers) assert.equal(r.json.error.type, small.json.error.type, 'error.type of a 401 before the body');
    assert.equal(small.json.error.type, 'invalid_request_error');
  } finally {
    for (const a of attackers) a.sock.destroy();
  }
  assert.deepEqual(g.workerPids(), [worker], 'the worker was replaced');
});

test('a client sending a large body with a wrong token reads the 401, not a reset (curl, HTTP/1.1 and h2c); its x-request-id is echoed', async () => {
  const g = await gateway({
    config: ({ port }) => echoConfig({ port, workers: 1, extra: 'access_tokens:\n  - {name: app, token: sk-preauth-good}\n' }),
  });
  const file = path.join(tmpDir(), 'big.json');
  fs.writeFileSync(file, chatJSON('z'.repeat(3 * MiB)));
  for (const proto of ['--http1.1', '--http2-prior-knowledge']) {
    const r = await curl([proto, '-H', 'content-type: application/json', '-H', 'Expect:', '-H', 'authorization: Bearer sk-nope', '-H', 'x-request-id: mine-123',
      '--data-binary', `@${file}`, g.url(CHAT_PATH)], { timeout: HANG });
    assert.equal(r.exitCode, 0, `${proto}: curl exit ${r.exitCode}: ${r.stderr}`);
    assert.equal(r.status, 401, `${proto}: ${r.body}`);
    assert.equal(JSON.parse(r.body).error.code, 'invalid_api_key');
    assert.equal(r.headers['x-request-id'], 'mine-123', `${proto}: x-request-id`);
  }
});

// ---- the budgets -----------------------------------------------------------------

test('budgets: 429 past the address budget, 503 past the worker budget (both protocols, Retry-After), given back when a request ends', async () => {
  const BODY = 1000000;
  const g = await gateway({
    config: ({ port }) => echoConfig({ port, workers: 1, extra: `max_body_bytes: ${BODY}\nlimits:\n  max_buffered_body_bytes_per_client: 2100000\n  max_buffered_body_bytes: 3200000\n` }),
  });
  const held = [];
  const stall = (proto, src) => {
    const a = (proto === 'h1' ? h1Stall : h2Stall)(g.port, src, { cl: BODY, send: 10 });
    held.push(a);
    return a;
  };
  try {
    // each reservation is the body, the head and 4 KiB: two fit in 2.1 MB
    const a1 = stall('h1', '127.0.0.2'), a2 = stall('h2', '127.0.0.2');
    await attackInPlace([a1, a2], g.port, 'two held bodies');
    for (const proto of ['h1', 'h2']) {
      const r = await withCeiling(stall(proto, '127.0.0.2').answered, HANG, `${proto}: third body from one address`);
      assertOpenAIError(r, 429, 'too_many_pending_bodies', `${proto}: third body from one address`);
      assert.equal(proto === 'h1' ? /\r\nretry-after: 1/.test(r.head) : r.headers['retry-after'], proto === 'h1' ? true : '1', 'Retry-After');
    }
    const b1 = stall('h1', '127.0.0.3');
    await attackInPlace([b1], g.port, 'a third held body');
    for (const proto of ['h1', 'h2']) {
      const r = await withCeiling(stall(proto, '127.0.0.4').answered, HANG, `${proto}: a body past the worker budget`);
      assertOpenAIError(r, 503, 'server_busy', `${proto}: a body past the worker budget`);
    }
    // a small body still fits in what is left of the worker's budget
    const small = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('small'), headers: { 'content-type': 'application/json' } });
    assert.equal(small.status, 200, small.text);
    // bodiless requests need no budget
    assert.equal((await request(g.url('/health'))).status, 200);
    // one held body leaves: its room comes back
    a1.sock.destroy();
    await waitFor(async () => {
      const r = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('room again'), headers: { 'content-type': 'application/json' } });
      return r.status === 200 || (r.status === 503 ? false : r);
    }, { timeout: HANG, what: 'room after a held body left' });
  } finally {
    for (const a of held) a.sock.destroy();
  }
});

test('h2c bodies without content-length reserve what has arrived, not max_body_bytes: 40 concurrent streams from one address are served', async () => {
  const g = await gateway({ config: ({ port }) => echoConfig({ port, workers: 1 }) });
  const session = http2.connect(`http://127.0.0.1:${g.port}`);
  session.on('error', () => {});
  try {
    const one = (i) => new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': CHAT_PATH, 'content-type': 'application/json' });
      let status, body = '';
      req.on('response', (h) => { status = h[':status']; });
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end(chatJSON(`${i} ${'w'.repeat(200 * 1024)}`));
    });
    // 40 × 4 MiB (max_body_bytes) would be 160 MiB, past the address's 64 MiB
    const results = await withCeiling(Promise.all(Array.from({ length: 40 }, (_, i) => one(i))), HANG, '40 streams');
    results.forEach((r, i) => {
      assert.equal(r.status, 200, `stream ${i}: ${r.body.slice(0, 200)}`);
      assert.ok(JSON.parse(r.body).choices[0].message.content.startsWith(`${i} www`), `stream ${i}`);
    });
  } finally {
    session.destroy();
  }
});

test('h2c body of unknown length growing past the address budget: answered 429 mid-body, the held one is untouched', async () => {
  const g = await gateway({
    config: ({ port }) => echoConfig({ port, workers: 1, extra: 'max_body_bytes: 1000000\nlimits:\n  max_buffered_body_bytes_per_client: 1300000\n' }),
  });
  const held = h2Stall(g.port, '127.0.0.2', { cl: null, send: 900000 });
  const late = [];
  try {
    const [state] = await attackInPlace([held], g.port, 'a 900 kB body of unknown length held');
    assert.equal(state.answer, undefined, 'the first body is held, not answered');
    // the second grows past what is left of 1.3 MB as its data comes
    late.push(h2Stall(g.port, '127.0.0.2', { cl: null, send: 900000 }));
    const r = await withCeiling(late[0].answered, HANG, 'the second body is answered');
    assertOpenAIError(r, 429, 'too_many_pending_bodies', 'the second body');
    assert.equal(r.headers['retry-after'], '1');
    // another address is not concerned
    const other = await request(g.url(CHAT_PATH), { method: 'POST', body: chatJSON('another client'), headers: { 'content-type': 'application/json' } });
    assert.equal(other.status, 200, other.text);
  } finally {
    held.sock.destroy();
    for (const a of late) a.sock.destroy();
  }
});

test('413 at the head for a declared body over max_body_bytes, before any of it is read (HTTP/1.1 with and without Expect, h2c)', async () => {
  const g = await gateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: 'max_body_bytes: 1000\n' }) });
  const h1 = h1Stall(g.port, '127.0.0.2', { cl: 50 * MiB, send: 100 });
  const h2 = h2Stall(g.port, '127.0.0.2', { cl: 50 * MiB, send: 100 });
  try {
    for (const [name, a] of [['h1', h1], ['h2', h2]]) {
      const r = await withCeiling(a.answered, HANG, `${name} 413`);
      assertOpenAIError(r, 413, 'request_too_large', name);
      assert.match(r.json.error.message, /max_body_bytes/);
    }
  } finally {
    h1.sock.destroy();
    h2.sock.destroy();
  }
  const r = await rawHead(g.port, `POST ${CHAT_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 5000\r\n\r\n`);
  assert.match(r, /^HTTP\/1\.1 413 /, 'no 100 Continue before the 413');
});

function rawHead(port, data) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    s.on('connect', () => s.write(data));
    s.setEncoding('latin1');
    s.on('data', (d) => { text += d; if (text.includes('\r\n\r\n')) { s.destroy(); resolve(text); } });
    s.on('error', () => {});
    s.on('close', () => resolve(text));
  });
}

// ---- connection caps -------------------------------------------------------------

function openConn(port, src) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: src });
    s.on('connect', () => resolve(s));
    s.on('error', () => resolve(s));
  });
}

// a connection refused at accept is closed by the gateway without a byte
function closedByGateway(s) {
  return withCeiling(new Promise((resolve) => {
    let got = '';
    s.on('data', (d) => { got += d; });
    if (s.destroyed) resolve(got);
    s.on('close', () => resolve(got));
  }), HANG, 'the gateway closes a connection over the cap');
}

test('limits.max_connections_per_client and limits.max_connections: further connections are closed at accept; others and later ones are served', async () => {
  const g = await gateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: 'limits:\n  max_connections: 6\n  max_connections_per_client: 3\n' }) });
  const open = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await openConn(g.port, '127.0.0.2'));
    // the fourth from that address is closed; the ones it has stay usable
    assert.equal(await closedByGateway(await openConn(g.port, '127.0.0.2')), '');
    open[0].write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    const first = await withCeiling(new Promise((r) => open[0].once('data', (d) => r(String(d)))), HANG, 'an admitted connection answers');
    assert.match(first, /^HTTP\/1\.1 200 /);
    // another address has its own count, up to the worker's 6
    for (let i = 0; i < 2; i++) open.push(await openConn(g.port, '127.0.0.3'));
    const sixth = await openConn(g.port, '127.0.0.1');
    open.push(sixth);
    sixth.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    const h = await withCeiling(new Promise((r) => sixth.once('data', (d) => r(String(d)))), HANG, 'the sixth connection answers');
    assert.match(h, /^HTTP\/1\.1 200 /, 'the sixth connection (127.0.0.1) is served');
    // with 6 open, a seventh is closed whatever its address
    assert.equal(await closedByGateway(await openConn(g.port, '127.0.0.4')), '');
    // one leaves: there is room again
    open.shift().destroy();
    await waitFor(async () => {
      const s = await openConn(g.port, '127.0.0.2');
      s.write('GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      const got = await closedByGateway(s);
      return /^HTTP\/1\.1 200 /.test(got);
    }, { timeout: HANG, what: 'a connection admitted after one closed' });
  } finally {
    for (const s of open) s.destroy();
  }
  assert.match(g.logs(), /connection refused at accept/);
});

// Hostile TLS upstreams (issue 17, item 4): a raw TLS server (node's tls over
// a TCP socket the test holds, lib/tls.mjs startRawTls) answers the gateway's
// upstream requests in broken ways, for both upstream clients: the own
// HTTP/1.1 client (server/h1_client.c, h1_tls.c) and libcurl
// (LLMGATE_UPSTREAM_CLIENT=curl), each in its own gateway. Cases: TLS closed
// without close_notify mid-head, mid-body, mid-chunk, mid-stream and in a
// close-delimited body; RST and a stray alert record after the handshake; a
// plaintext or garbage answer to the ClientHello, a silent server and a
// handshake stalled half-way; malformed heads and framings; 100 Continue;
// HTTP/1.0; a server-initiated renegotiation (TLS 1.2); 1-byte TLS records;
// then ~200 random mutations of a valid answer (seeded: LLMGATE_FUZZ_SEED
// replays one run); and a client leaving a stream delimited by the close
// (under ASan, libcurl's held TLS context must not leak). Every answer is a
// clear error in the OpenAI shape (or the stream contract of
// upstream-stream.test.mjs: an error event, then [DONE]) or the right
// answer, within the request's own timeouts; no worker
// restarts, the upstream keys appear in no answer nor log, and both gateways
// serve a normal request afterwards. The cleartext counterparts are in
// upstream-h1.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { startGateway, request, parseSSE, waitFor } from './lib/harness.mjs';
import { gatewayYaml, chatBody, assertOpenAIError, keyRows, rnd, RAW_ANSWER, RAW_EVENTS } from './lib/upstream.mjs';
import { makePki, startRawTls, closeRaw } from './lib/tls.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const HANG = 30000; // ms: the test's own ceiling per request; only a hang takes it
const ANSWER = RAW_ANSWER, EVENTS = RAW_EVENTS;
const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
const OK = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`;
const OK_SSE = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
  EVENTS.map(chunk).join('') + chunk('data: [DONE]\n\n') + '0\r\n\r\n';

// Writes s one byte per TLS record, a loop turn apart.
function drip(sock, s) {
  const b = Buffer.from(s);
  let i = 0;
  const next = () => { if (i < b.length && !sock.destroyed) { sock.write(b.subarray(i, ++i)); setImmediate(next); } };
  next();
}

// what: 'ok' (the right answer), 'error' (a 502/504 in the OpenAI shape),
// 'either' (one of those two), 'cut' (a stream: error event then [DONE]);
// stream: the request asks for a stream; status: the error status wanted.
const CASES = {
  // the valid answer, asked after every case
  good: { what: 'ok', up: (s) => s.write(OK) },
  // closed without close_notify, mid-head, mid-body, mid-chunk, mid-stream
  cuthead: { what: 'error', status: 502, up: (s, c) => closeRaw(c, 'HTTP/1.1 200 OK\r\nContent-Type: appl') },
  // the same head cut with a close_notify: still no answer
  cutheadtls: { what: 'error', status: 502, up: (s) => s.end('HTTP/1.1 200 OK\r\nContent-Type: appl') },
  cutbody: { what: 'error', status: 502, up: (s, c) => closeRaw(c, `HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length + 50}\r\n\r\n${ANSWER}`) },
  cutchunk: { what: 'error', status: 502, up: (s, c) => closeRaw(c, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${ANSWER.slice(0, 10)}`) },
  cutsse: { what: 'cut', stream: true, up: (s, c) => closeRaw(c, OK_SSE.slice(0, OK_SSE.indexOf(chunk(EVENTS[1])))) },
  // a close-delimited body (HTTP/1.0): whole with a close_notify; cut
  // without one, it may be a truncation (RFC 9112 section 9.8)
  http10: { what: 'ok', up: (s) => s.end(`HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${ANSWER}`) },
  // (libcurl 7.88 reads a TCP close without close_notify as the end, curl
  // issue 4624: server/proxy_upstream.c checks for the close_notify)
  http10cut: { what: 'error', status: 502, up: (s, c) => closeRaw(c, `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${ANSWER.slice(0, 40)}`) },
  http10sse: { what: 'cut', stream: true, up: (s, c) => closeRaw(c, `HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n${EVENTS[0]}`) },
  // after the handshake: a reset before any answer, a reset mid-body, an
  // alert record in clear text (not a record of the session)
  rst: { what: 'error', status: 502, up: (s, c) => c.raw.resetAndDestroy() },
  rstbody: { what: 'error', status: 502, up: (s, c) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER.slice(0, 20)}`, () => c.raw.resetAndDestroy()) },
  alert: { what: 'error', status: 502, up: (s, c) => c.raw.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])) },
  // malformed heads and framings
  badstatus: { what: 'error', status: 502, up: (s) => s.write('HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}') },
  hugehead: { what: 'error', status: 502, up: (s) => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(200 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`) },
  // 3,000 fields (44 KB): under the 64 KiB head limit, so a right answer
  manyheads: { what: 'ok', up: (s) => s.write(`HTTP/1.1 200 OK\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join('')}Content-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`) },
  badchunk: { what: 'error', status: 502, up: (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n') },
  bigchunk: { what: 'error', status: 502, up: (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n') },
  negcl: { what: 'error', status: 502, up: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}') },
  // (libcurl ignores a length it cannot hold and waits for the close: the
  // request's timeout, a 504)
  hugecl: { what: 'error', status: 502, curl: { status: 504 }, up: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}') },
  nulhead: { what: 'error', status: 502, up: (s) => s.write(`HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`) },
  // both lengths: chunked wins (RFC 9112 section 6.3), the length is ignored
  clte: { what: 'ok', up: (s) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(ANSWER)}0\r\n\r\n`) },
  continue: { what: 'ok', up: (s) => s.write(`HTTP/1.1 100 Continue\r\n\r\n${OK}`) },
  // far more body than declared: the declared length is the answer
  overlong: { what: 'ok', up: (s) => s.write(OK + 'x'.repeat(256 * 1024)) },
  // every byte its own TLS record
  drip: { what: 'ok', up: (s) => drip(s, OK) },
  dripsse: { what: 'ok', stream: true, up: (s) => drip(s, OK_SSE) },
  // TLS 1.2 and a HelloRequest before the answer: either client may refuse
  // to renegotiate (h2o does: a 502), or renegotiate and read the answer
  reneg: {
    what: 'either', status: 502, tls: { maxVersion: 'TLSv1.2' },
    up: (s) => { if (!s.renegotiate({ rejectUnauthorized: false }, () => { if (!s.destroyed) s.write(OK); })) s.destroy(); },
  },
};

// Before any TLS: each a plain TCP server. A plaintext HTTP answer to the
// ClientHello, garbage bytes, silence, and a handshake that stalls half-way
// (the real server's first 60 bytes, then nothing).
const PRE = {
  plaintext: { status: 502, blame: false, conn: (sock) => sock.once('data', () => sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')) },
  garbage: { status: 502, blame: false, conn: (sock) => sock.once('data', () => sock.end(crypto.randomBytes(300))) },
  silent: { status: 504, conn: () => {} },
  halfway: {
    status: 504,
    conn: (sock) => {
      const up = net.connect(raws.plain.port, '127.0.0.1');
      up.on('error', () => {});
      sock.on('close', () => up.destroy());
      sock.pipe(up);
      let sent = 0;
      up.on('data', (d) => { if (sent < 60) { sock.write(d.subarray(0, 60 - sent)); sent += Math.min(d.length, 60 - sent); } });
    },
  },
};

// ---- random mutations of a valid answer (seeded) --------------------------

const SEED = Number(process.env.LLMGATE_FUZZ_SEED) || crypto.randomInt(1, 2 ** 31);
const FUZZ_N = 100; // per client: ~200 answers in all
function prng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const TOKENS = ['\r\n', '\n', '\r', '\0', ':', ' ', '0', '-1', 'ffffffffffffffffffff', 'chunked', 'Transfer-Encoding: chunked\r\n',
  'Content-Length: 0\r\n', 'Content-Length: 1000\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.0 ', 'Connection: close\r\n', '\r\n\r\n', '\xff'];
const BASES = [OK, OK_SSE, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(ANSWER.slice(0, 30))}${chunk(ANSWER.slice(30))}0\r\n\r\n`];
// The i-th answer of the run: 1-4 mutations of a valid answer (a byte
// flipped, bytes deleted, a token inserted, a cut, a span repeated).
function mutant(i) {
  const r = prng(SEED + i);
  const pick = (n) => Math.floor(r() * n);
  let b = Buffer.from(BASES[pick(BASES.length)], 'latin1');
  for (let k = 1 + pick(4); k > 0; k--) {
    const at = pick(b.length + 1);
    switch (pick(5)) {
    case 0: if (b.length) b[Math.min(at, b.length - 1)] ^= 1 << pick(8); break;
    case 1: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + pick(16)))]); break;
    case 2: b = Buffer.concat([b.subarray(0, at), Buffer.from(TOKENS[pick(TOKENS.length)], 'latin1'), b.subarray(at)]); break;
    case 3: b = b.subarray(0, at); break;
    default: { const to = Math.min(b.length, at + pick(64)); b = Buffer.concat([b.subarray(0, to), b.subarray(at, to), b.subarray(to)]); }
    }
  }
  return { bytes: b, notify: r() < 0.5, stream: r() < 0.3 };
}

// ---- set-up --------------------------------------------------------------

let pki;
const raws = {}; // the raw TLS upstreams: plain (every case), and one per case with its own TLS options
const pres = {}; // the pre-TLS servers
const G = {}; // own, curl: the gateways
const KEYS = {}; // provider -> its key
const answers = []; // every answer text, searched for the keys at the end

const held = []; // the connections of the `held` upstream
function upstream(sock, req, conn) {
  if (req.name === 'held') {
    // a stream delimited by the close that stays open: the client leaves
    held.push(conn);
    sock.write(`HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n${EVENTS[0]}`);
    return;
  }
  if (req.name === 'fuzz') {
    const i = Number(/fuzz-(\d+)/.exec(req.body)?.[1]);
    const m = mutant(i);
    sock.write(m.bytes, () => (m.notify ? sock.end() : conn.raw.destroy()));
    return;
  }
  CASES[req.name].up(sock, conn);
}

before(async () => {
  pki = makePki();
  raws.plain = await startRawTls(pki.server, upstream);
  for (const [name, c] of Object.entries(CASES)) if (c.tls) raws[name] = await startRawTls(pki.server, upstream, { tls: c.tls });
  for (const [name, c] of Object.entries(PRE)) {
    const conns = [];
    const srv = net.createServer((sock) => { conns.push(sock); sock.on('error', () => {}); c.conn(sock); });
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    pres[name] = { srv, conns };
  }
  // ca: replace: no provider loads the system's CA bundle (~40 of them)
  const ca = `{ca_file: ${JSON.stringify(pki.ca.cert)}, ca: replace}`;
  const provider = (name, port) => {
    KEYS[name] = `sk-hostile-${name}-${rnd()}`;
    return { name, base: `https://127.0.0.1:${port}/${name}/v1`, keys: [KEYS[name]], models: [name], extra: { tls: ca } };
  };
  const providers = [
    ...Object.keys(CASES).map((n) => provider(n, (raws[n] || raws.plain).port)),
    ...Object.keys(PRE).map((n) => provider(n, pres[n].srv.address().port)),
    provider('fuzz', raws.plain.port), provider('held', raws.plain.port),
  ];
  // short timeouts: every hang ends within seconds (a 504); keys rest 1 ms
  // after failures, so that the fuzz pass reaches the upstream every time
  const config = ({ port }) => gatewayYaml({
    port, workers: 1, providers,
    top: `admin_token: ${ADMIN}\nretry: {attempts: 1}\ntimeouts: {ping: 0, connect: 1500ms, request: 4s, idle: 4s}\n` +
      'keys: {cooldown: 1ms, max_cooldown: 1ms, probe_after: 1ms}',
  });
  [G.own, G.curl] = await Promise.all([startGateway({ config }), startGateway({ config, env: { LLMGATE_UPSTREAM_CLIENT: 'curl' } })]);
  for (const g of Object.values(G)) g.workers0 = g.workerPids();
});

after(async () => {
  await Promise.all(Object.values(G).map((g) => g.stop()));
  await Promise.all(Object.values(raws).map((u) => u.close()));
  for (const p of Object.values(pres)) { for (const s of p.conns) s.destroy(); p.srv.close(); }
});

const ask = async (g, model, { stream = false, content = 'Hi' } = {}) => {
  const r = await request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody(model, content, stream ? { stream: true } : {}), timeout: HANG });
  answers.push(r.text);
  return r;
};

// The same master and worker, /health answers, no dead worker nor sanitizer
// report in the log (as hostile.test.mjs's assertNoRestart).
async function assertNoRestart(g, what) {
  const h = await request(g.url('/health'), { timeout: HANG });
  assert.ok(g.alive(), `${what}: master exited (${g.exitCode}/${g.exitSignal}); log tail:\n${g.logs().slice(-2000)}`);
  assert.equal(h.status, 200, `${what}: /health: ${h.text}`);
  assert.deepEqual(g.workerPids(), g.workers0, `${what}: a worker was replaced; log tail:\n${g.logs().slice(-2000)}`);
  assert.doesNotMatch(g.logs(), /killed by signal|exited with status|starting a new one|dying at start-up|AddressSanitizer|runtime error:/,
    `${what}: the log reports a dead worker`);
}

function assertAnswer(r, c, what) {
  if (c.what === 'cut') {
    // the stream contract (upstream-stream.test.mjs): 200, an error event, then [DONE]
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    const ev = parseSSE(r.text);
    assert.equal(ev.at(-1), '[DONE]', `${what}: the stream does not end with [DONE]: ${r.text.slice(-400)}`);
    assert.equal(ev.filter((d) => d === '[DONE]').length, 1, `${what}: more than one [DONE]`);
    const err = JSON.parse(ev.at(-2));
    assert.ok(err.error?.message && !err.choices, `${what}: no error event before [DONE]: ${ev.at(-2)}`);
    return;
  }
  if (r.status === 200 && c.what !== 'error') {
    if (c.stream) {
      const ev = parseSSE(r.text);
      assert.equal(ev.at(-1), '[DONE]', `${what}: ${r.text}`);
      assert.deepEqual(ev.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.content), ['a', 'b'], `${what}: ${r.text}`);
    } else {
      assert.deepEqual(r.json, JSON.parse(ANSWER), `${what}: ${r.text}`);
    }
    return;
  }
  assert.ok(c.what !== 'ok', `${what}: want the answer, got ${r.status} ${r.text.slice(0, 300)}`);
  assertOpenAIError(r, c.status, what);
}

const CLIENTS = ['own', 'curl'];

test('hostile answers after the handshake get a clear error or the right answer (both clients at once)', async () => {
  const failures = []; // every case runs: one report lists them all
  await Promise.all(CLIENTS.map(async (client) => {
    const g = G[client];
    for (const [name, c] of Object.entries(CASES)) {
      const what = `${client} ${name}`;
      const r = await ask(g, name, { stream: !!c.stream || c.what === 'cut' });
      if (c.what === 'either') console.log(`${what}: ${r.status} ${r.text.slice(0, 160)}`);
      try { assertAnswer(r, { ...c, ...c[client] }, what); } catch (e) { failures.push(e.message); }
      assert.equal((await ask(g, 'good')).status, 200, `after ${what}`);
    }
    // a malformed answer is the key's failure (a network one), unlike a
    // TLS failure (docs/key-health.md)
    for (const name of ['badstatus', 'cutbody']) {
      const [k] = await keyRows(g, ADMIN, name);
      assert.equal(k.network, 1, `${client} ${name}: ${JSON.stringify(k)}`);
    }
  }));
  assert.deepEqual(failures, []);
  for (const client of CLIENTS) await assertNoRestart(G[client], `${client} answers`);
});

test('before or in the handshake: plaintext, garbage, silence, a stalled handshake (both clients at once)', async () => {
  await Promise.all(CLIENTS.flatMap((client) => Object.entries(PRE).map(async ([name, c]) => {
    const g = G[client];
    const what = `${client} ${name}`;
    assertOpenAIError(await ask(g, name), c.status, what);
    assert.ok(pres[name].conns.length >= 1, `${what}: no TCP connection was made`);
    if (c.status === 504) await g.waitLog(new RegExp(`upstream ${name}: Timeout was reached`));
    if (c.blame === false) {
      // a TLS failure: the key is not blamed (docs/key-health.md)
      const [k] = await keyRows(g, ADMIN, name);
      assert.equal(k.state, 'usable', `${what}: ${JSON.stringify(k)}`);
      assert.equal(k.network, 0, `${what}: counted as a network failure: ${JSON.stringify(k)}`);
    }
  })));
  for (const client of CLIENTS) {
    assert.equal((await ask(G[client], 'good')).status, 200, client);
    await assertNoRestart(G[client], `${client} handshakes`);
  }
});

test(`random mutations of a valid answer (seed ${SEED}: LLMGATE_FUZZ_SEED=${SEED} replays it), both clients at once`, async () => {
  const run = async (client) => {
    const g = G[client];
    const statuses = {};
    for (let i = 0; i < FUZZ_N; i++) {
      const m = mutant(i);
      let r;
      try {
        r = await ask(g, 'fuzz', { stream: m.stream, content: `fuzz-${i}` });
      } catch (e) {
        assert.fail(`${client}: mutant ${i} (LLMGATE_FUZZ_SEED=${SEED}) got no answer: ${e.message}\n${JSON.stringify(m.bytes.toString('latin1'))}`);
      }
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      if (r.status !== 200) assert.ok(r.json?.error?.message, `${client}: mutant ${i} (LLMGATE_FUZZ_SEED=${SEED}): ${r.status} without an error object: ${r.text.slice(0, 300)}`);
    }
    assert.equal((await ask(g, 'good')).status, 200, `${client}: after the fuzz pass (LLMGATE_FUZZ_SEED=${SEED})`);
    await assertNoRestart(g, `${client} fuzz (LLMGATE_FUZZ_SEED=${SEED})`);
    return statuses;
  };
  const [own, curl] = await Promise.all([run('own'), run('curl')]);
  console.log(`fuzz seed ${SEED}: statuses own ${JSON.stringify(own)}, curl ${JSON.stringify(curl)}`);
});

test('a client that leaves a stream delimited by the close: the upstream connection is closed (both clients at once)', async () => {
  await Promise.all(CLIENTS.map(async (client) => {
    const g = G[client];
    const before = held.length;
    const ac = new AbortController();
    const res = await fetch(g.url('/v1/chat/completions'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody('held', 'Hi', { stream: true })), signal: ac.signal,
    });
    assert.equal(res.status, 200, client);
    const reader = res.body.getReader();
    let text = '';
    while (!text.includes('"content":"a"')) {
      const { value, done } = await reader.read();
      assert.ok(!done, `${client}: the stream ended before its first event: ${text}`);
      text += Buffer.from(value).toString();
    }
    ac.abort();
    const conn = held[before];
    assert.ok(conn, `${client}: the upstream got no request`);
    await waitFor(() => conn.closed, { what: `${client}: the gateway to close the upstream connection` });
    assert.equal((await ask(g, 'good')).status, 200, client);
    await assertNoRestart(g, `${client} held`);
  }));
});

test('no upstream key in any answer or log', () => {
  for (const [name, key] of Object.entries(KEYS)) {
    for (const t of answers) assert.ok(!t.includes(key), `the key of ${name} in an answer: ${t.slice(0, 300)}`);
    for (const [client, g] of Object.entries(G)) assert.ok(!g.logs().includes(key), `${client}: the key of ${name} in the log`);
  }
  assert.ok(!answers.some((t) => t.includes('sk-hostile-')), 'a key prefix in an answer');
});

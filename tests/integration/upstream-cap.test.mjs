// A provider's connection cap, `max_connections` (issue 17,
// docs/upstream-client.md): a request that finds every connection busy waits
// for one instead of failing or opening another. Each case runs on llmgate's
// own HTTP/1.1 client and on libcurl (LLMGATE_UPSTREAM_CLIENT=curl), over
// cleartext and TLS (a TLS front, lib/tls.mjs, trusted through
// SSL_CERT_FILE). The upstreams are node servers that hold every request
// until the test releases it and count their open connections, so each step
// waits for an event (a request arriving, the queue gauge in /metrics), never
// for a time: 20 concurrent requests through a cap of 2 all succeed and the
// upstream never has more than 2 connections open; queued requests whose
// client went away are dropped and never reach the upstream; a request that
// waited queue_timeout gets a 503 and its key is not blamed; `-t` refuses a
// bad value with FILE:LINE:COLUMN; a reload with a new cap applies it to new
// requests while the old worker serves its queued ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startGateway, request, waitFor, runCli, tmpDir, parsePrometheus, metricValue, isOpenAIError } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody, keyRows } from './lib/upstream.mjs';
import { makePki, startTlsFront } from './lib/tls.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const ANSWER = JSON.stringify({
  id: 'chatcmpl-cap', object: 'chat.completion', created: 1, model: 'cap',
  choices: [{ index: 0, message: { role: 'assistant', content: 'held answer' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
});

// An upstream that holds every request until release(); open: connections
// open now, maxOpen: the most ever open at once, accepted: connections in all.
async function heldUpstream() {
  const u = { open: 0, maxOpen: 0, accepted: 0, pending: [], bodies: [], sockets: new Set(), dropNext: false, dropped: 0 };
  const srv = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (u.dropNext) {
        // the stale-connection case: the request is lost with its connection
        u.dropNext = false;
        u.dropped++;
        req.socket.destroy();
        return;
      }
      u.bodies.push(body);
      u.pending.push(res);
    });
  });
  srv.keepAliveTimeout = 120000;
  srv.on('connection', (s) => {
    u.open++;
    u.accepted++;
    u.maxOpen = Math.max(u.maxOpen, u.open);
    u.sockets.add(s);
    s.on('close', () => { u.open--; u.sockets.delete(s); });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  u.port = srv.address().port;
  u.release = (status = 200) => {
    for (const res of u.pending.splice(0)) {
      if (res.destroyed) continue;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? ANSWER : JSON.stringify({ error: { message: 'held failure', type: 'server_error' } }));
    }
  };
  u.close = () => new Promise((r) => { for (const s of u.sockets) s.destroy(); srv.close(r); });
  return u;
}

// A POST on a connection of its own (fetch could reuse one to an old worker).
function postNewConnection(port, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), connection: 'close' },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

// Whether process `pid` has a socket listening on TCP `port` (/proc/net/tcp).
function holdsListener(pid, port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length > 9 && c[1].endsWith(`:${hex}`) && c[3] === '0A') inodes.add(c[9]);
    }
  }
  let fds = [];
  try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return false; }
  return fds.some((fd) => {
    try { return inodes.has(/^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]); } catch { return false; }
  });
}

const post = (gw, model, tag, signal) => fetch(gw.url('/v1/chat/completions'), {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatBody(model, tag)), signal,
});

async function queued(gw, provider) {
  const r = await request(gw.url('/metrics'));
  assert.equal(r.status, 200, r.text);
  return metricValue(parsePrometheus(r.text), 'llmgate_upstream_queued', { provider }) ?? 0;
}

const waitQueued = (gw, provider, n) => waitFor(async () => (await queued(gw, provider)) === n,
  { what: `llmgate_upstream_queued{provider="${provider}"} == ${n}` });

let pki;
const everything = [];
before(() => { pki = makePki(); });
after(async () => { for (const c of everything.reverse()) await c(); });

const MODES = [
  { name: 'own client, cleartext', env: {} },
  { name: 'libcurl, cleartext', env: { LLMGATE_UPSTREAM_CLIENT: 'curl' } },
  { name: 'own client, TLS', env: {}, tls: true },
  { name: 'libcurl, TLS', env: { LLMGATE_UPSTREAM_CLIENT: 'curl' }, tls: true },
];

for (const mode of MODES) {
  const S = {}; // held upstreams by provider
  let gw;
  const base = async (u) => {
    if (!mode.tls) return `http://127.0.0.1:${u.port}/v1`;
    const f = await startTlsFront(u.port, pki.server);
    everything.push(() => f.close());
    return `${f.base}/v1`;
  };

  test(`${mode.name}: start`, async () => {
    for (const n of ['capped', 'solo', 'brief']) {
      S[n] = await heldUpstream();
      everything.push(() => S[n].close());
    }
    const providers = [
      { name: 'capped', base: await base(S.capped), keys: [mkKey('capped')], models: ['capped-model'], extra: { max_connections: 2 } },
      { name: 'solo', base: await base(S.solo), keys: [mkKey('solo')], models: ['solo-model'], extra: { max_connections: 1 } },
      {
        name: 'brief', base: await base(S.brief), keys: [mkKey('brief')], models: ['brief-model'],
        extra: { max_connections: 1, queue_timeout: '1s' },
      },
    ];
    gw = await startGateway({
      env: { ...mode.env, ...(mode.tls ? { SSL_CERT_FILE: pki.ca.cert } : {}) },
      config: ({ port }) => gatewayYaml({
        port, workers: 1, top: `admin_token: ${ADMIN}\nretry: {attempts: 1}\ntimeouts: {ping: 0}`, providers,
      }),
    });
    everything.push(() => gw.stop());
  });

  test(`${mode.name}: 20 concurrent requests through max_connections 2 all succeed, at most 2 connections`, async () => {
    const u = S.capped;
    const N = 20;
    const all = Array.from({ length: N }, (_, i) => post(gw, 'capped-model', `burst-${i}`).then(async (r) => ({ status: r.status, text: await r.text() })));
    // the first two hold the connections, the 18 others wait in the gateway
    await waitQueued(gw, 'capped', N - 2);
    let answered = 0;
    while (answered < N) {
      const want = Math.min(2, N - answered);
      await waitFor(() => u.pending.length === want, { what: `${want} requests held by the upstream (answered ${answered})` });
      assert.ok(u.open <= 2, `${u.open} connections open`);
      answered += u.pending.length;
      u.release();
    }
    const res = await Promise.all(all);
    for (const r of res) assert.equal(r.status, 200, r.text);
    assert.equal(u.bodies.length, N);
    assert.ok(u.maxOpen <= 2, `the upstream saw ${u.maxOpen} connections open at once`);
    assert.equal(await queued(gw, 'capped'), 0);
    console.log(`# ${mode.name}: ${N} requests, cap 2: at most ${u.maxOpen} connections open at once, ${u.accepted} accepted in all`);
  });

  test(`${mode.name}: a queued request whose client went away never reaches the upstream`, async () => {
    const u = S.solo;
    const first = post(gw, 'solo-model', 'held-first');
    await waitFor(() => u.pending.length === 1, { what: 'the first request at the upstream' });
    const ac = [new AbortController(), new AbortController()];
    const gone = ac.map((a, i) => post(gw, 'solo-model', `gone-${i}`, a.signal).catch((e) => e));
    await waitQueued(gw, 'solo', 2);
    ac.forEach((a) => a.abort());
    for (const g of gone) assert.equal((await g).name, 'AbortError');
    await waitQueued(gw, 'solo', 0);
    u.release();
    assert.equal((await first).status, 200);
    // the connection is free: the next request takes it
    const next = post(gw, 'solo-model', 'after-cancel');
    await waitFor(() => u.pending.length === 1, { what: 'the next request at the upstream' });
    u.release();
    const r = await next;
    assert.equal(r.status, 200, await r.text());
    assert.deepEqual(u.bodies.map((b) => /held-first|gone-\d|after-cancel/.exec(b)?.[0]), ['held-first', 'after-cancel']);
    assert.ok(u.maxOpen <= 1, `${u.maxOpen} connections open at once`);
  });

  test(`${mode.name}: a request that waits queue_timeout gets a 503, the key is not blamed`, async () => {
    const u = S.brief;
    const first = post(gw, 'brief-model', 'held-brief');
    await waitFor(() => u.pending.length === 1, { what: 'the first request at the upstream' });
    const r = await request(gw.url('/v1/chat/completions'), { method: 'POST', body: chatBody('brief-model', 'waits-too-long') });
    assert.equal(r.status, 503, r.text);
    assert.ok(isOpenAIError(r.json), r.text);
    assert.equal(r.json.error.code ?? r.json.error.type, r.json.error.code ? 'upstream_busy' : r.json.error.type, r.text);
    assert.match(r.text, /busy/);
    const [k] = await keyRows(gw, ADMIN, 'brief');
    assert.equal(k.state, 'usable', JSON.stringify(k));
    assert.equal(k.consecutive_failures, 0, JSON.stringify(k));
    for (const f of ['server', 'network']) assert.equal(k[f], 0, `counted as ${f}: ${JSON.stringify(k)}`);
    u.release();
    assert.equal((await first).status, 200);
    assert.equal(u.bodies.length, 1, 'the request that timed out in the queue reached the upstream');
    assert.equal(await queued(gw, 'brief'), 0);
  });

  test(`${mode.name}: a reused connection lost before the answer is retried within the cap`, async () => {
    const u = S.solo;
    const before = { bodies: u.bodies.length, accepted: u.accepted };
    assert.ok(u.open === 1, `the solo upstream has ${u.open} connections open, expected its idle one`);
    u.dropNext = true;
    const r = post(gw, 'solo-model', 'stale-retry');
    await waitFor(() => u.pending.length === 1, { what: 'the retried request at the upstream' });
    u.release();
    const res = await r;
    assert.equal(res.status, 200, await res.text());
    assert.equal(u.dropped, 1);
    assert.equal(u.bodies.length, before.bodies + 1);
    assert.equal(u.accepted, before.accepted + 1, 'one new connection for the retry');
    assert.ok(u.maxOpen <= 1, `${u.maxOpen} connections open at once`);
    const [k] = await keyRows(gw, ADMIN, 'solo');
    assert.equal(k.network, 0, JSON.stringify(k));
  });

  test(`${mode.name}: a request still queued at timeouts.request gets a 504, its key is not blamed`, async () => {
    // B goes first to `lead`, which the test fails once A holds the only
    // connection of `slow`: B falls back to `slow` and waits there. B's
    // deadline comes before A's (B started first), so B times out queued.
    const L = await heldUpstream(), U = await heldUpstream();
    everything.push(() => L.close(), () => U.close());
    const slowBase = await base(U);
    const g = await startGateway({
      env: { ...mode.env, ...(mode.tls ? { SSL_CERT_FILE: pki.ca.cert } : {}) },
      config: ({ port }) => gatewayYaml({
        port, workers: 1, top: `admin_token: ${ADMIN}\nretry: {attempts: 3}\ntimeouts: {ping: 0, request: 4s}`,
        providers: [
          { name: 'lead', base: `http://127.0.0.1:${L.port}/v1`, keys: [mkKey('lead')], models: ['lead-model'], extra: { fallback: '[slow]' } },
          { name: 'slow', base: slowBase, keys: [mkKey('slow')], models: ['slow-model'], extra: { max_connections: 1 } },
        ],
      }),
    });
    everything.push(() => g.stop());
    const b = request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody('lead-model', 'queued-b') });
    await waitFor(() => L.pending.length === 1, { what: 'B at lead' });
    const a = request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody('slow-model', 'held-a') });
    await waitFor(() => U.pending.length === 1, { what: 'A at slow' });
    L.release(500);
    await waitQueued(g, 'slow', 1);
    const rb = await b;
    assert.equal(rb.status, 504, rb.text);
    assert.ok(isOpenAIError(rb.json), rb.text);
    assert.match(rb.text, /busy/, rb.text);
    const ra = await a; // A's own timeout: it was at the upstream, so it counts
    assert.equal(ra.status, 504, ra.text);
    const [k] = await keyRows(g, ADMIN, 'slow');
    assert.equal(k.network, 1, `only A's timeout counts: ${JSON.stringify(k)}`);
    assert.deepEqual(U.bodies.map((x) => /queued-b|held-a/.exec(x)?.[0]), ['held-a']);
    assert.equal(await queued(g, 'slow'), 0);
  });
}

test('a request that waits queue_timeout goes to the next provider of fallback', async () => {
  const u = await heldUpstream(), f = await heldUpstream();
  everything.push(() => u.close(), () => f.close());
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 1, top: `admin_token: ${ADMIN}\ntimeouts: {ping: 0}`,
      providers: [
        { name: 'busy', base: `http://127.0.0.1:${u.port}/v1`, keys: [mkKey('busy')], models: ['m'], extra: { max_connections: 1, queue_timeout: '500ms', fallback: '[spare]' } },
        { name: 'spare', base: `http://127.0.0.1:${f.port}/v1`, keys: [mkKey('spare')], models: ['spare-model'] },
      ],
    }),
  });
  everything.push(() => g.stop());
  const a = post(g, 'm', 'holds-busy');
  await waitFor(() => u.pending.length === 1, { what: 'the first request at busy' });
  const b = post(g, 'm', 'to-spare');
  await waitFor(() => f.pending.length === 1, { what: 'the second request at the fallback' });
  f.release();
  const rb = await b;
  assert.equal(rb.status, 200, await rb.text());
  u.release();
  assert.equal((await a).status, 200);
  assert.equal(u.bodies.length, 1);
  const [k] = await keyRows(g, ADMIN, 'busy');
  assert.equal(k.network, 0, JSON.stringify(k));
});

test('two workers share max_connections 2: at most 2 connections in all, every request answered', async () => {
  const u = await heldUpstream();
  everything.push(() => u.close());
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: 'timeouts: {ping: 0}',
      providers: [{ name: 'shared', base: `http://127.0.0.1:${u.port}/v1`, keys: [mkKey('shared')], models: ['m'], extra: { max_connections: 2 } }],
    }),
  });
  everything.push(() => g.stop());
  const N = 12;
  const all = Array.from({ length: N }, (_, i) => post(g, 'm', `w-${i}`).then((r) => r.status));
  let answered = 0;
  while (answered < N) {
    await waitFor(() => u.pending.length > 0, { what: `a request at the upstream (answered ${answered})` });
    assert.ok(u.open <= 2, `${u.open} connections open`);
    answered += u.pending.length;
    u.release();
  }
  assert.deepEqual(await Promise.all(all), Array(N).fill(200));
  assert.ok(u.maxOpen <= 2, `${u.maxOpen} connections open at once`);
});

test('a reload (SIGHUP) with a new max_connections applies to new requests; the old worker serves its queued ones', async () => {
  const u = await heldUpstream();
  everything.push(() => u.close());
  const yaml = (cap) => ({ port }) => gatewayYaml({
    port, workers: 1, top: 'timeouts: {ping: 0}',
    providers: [{ name: 'r', base: `http://127.0.0.1:${u.port}/v1`, keys: [mkKey('r')], models: ['m'], extra: { max_connections: cap } }],
  });
  const g = await startGateway({ config: yaml(1) });
  everything.push(() => g.stop());
  const a = post(g, 'm', 'old-a');
  await waitFor(() => u.pending.length === 1, { what: 'A at the upstream' });
  const b = post(g, 'm', 'old-b');
  await waitQueued(g, 'r', 1);
  const old = g.workerPids();
  fs.writeFileSync(g.configFile, yaml(3)({ port: g.port }));
  g.signal('SIGHUP');
  await waitFor(() => g.workerPids().some((p) => !old.includes(p)), { what: 'the new worker' });
  // the old worker takes no new connection once it closed its listener
  // (until then SO_REUSEPORT may give it some); the new requests open
  // connections of their own (an idle one of fetch's may lead to the old worker)
  await waitFor(() => old.every((p) => !holdsListener(p, g.port)), { what: 'the old worker to close its listener' });
  // the new worker's cap is 3: three new requests reach the upstream at once,
  // while B still waits in the old worker behind A
  const fresh = [0, 1, 2].map((i) => postNewConnection(g.port, chatBody('m', `new-${i}`)));
  await waitFor(() => u.pending.length === 4, { what: 'A and the three new requests at the upstream' });
  assert.equal(await queued(g, 'r'), 1);
  u.release();
  for (const r of await Promise.all(fresh)) assert.equal(r.status, 200, r.text);
  assert.equal((await a).status, 200);
  await waitFor(() => u.pending.length === 1, { what: 'B on the connection A left' });
  u.release();
  assert.equal((await b).status, 200);
  assert.ok(u.maxOpen <= 4, `${u.maxOpen} connections open at once`);
});

test('-t refuses a bad max_connections or queue_timeout with FILE:LINE:COLUMN', async () => {
  const dir = tmpDir();
  const cases = [
    ['max_connections: -1', /llmgate\.yaml:7:22: providers\[0\]\.max_connections: must be between 0 and 100000, got -1/],
    ['max_connections: lots', /llmgate\.yaml:7:22: providers\[0\]\.max_connections: expected an integer/],
    ['queue_timeout: 5s', /llmgate\.yaml:7:5: providers\[0\]\.queue_timeout: needs max_connections/],
  ];
  for (const [line, re] of cases) {
    const file = path.join(dir, 'llmgate.yaml');
    fs.writeFileSync(file, [
      'providers:', '  - name: up', '    type: openai', '    base_url: "http://127.0.0.1:9/v1"', '    keys: ["sk-x"]',
      '    models: ["*"]', `    ${line}`, '',
    ].join('\n'));
    const r = await runCli(['-t', '-c', file]);
    assert.notEqual(r.code ?? r.exitCode, 0, `${line}: accepted`);
    assert.match(r.stderr, re, `${line}: ${r.stderr}`);
  }
});

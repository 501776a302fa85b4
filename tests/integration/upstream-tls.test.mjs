// https:// upstreams through llmgate's own HTTP/1.1 client (issue 17,
// docs/upstream-client.md): a private PKI made per run (lib/tls.mjs) and TLS
// fronts in front of the mock. Chat with and without stream over TLS,
// keep-alive reuse (sequential and concurrent), session resumption after the
// upstream closed its idle connections, the provider's tls: settings (ca_file
// added or replacing the system's CAs, server_name, client certificate,
// verify: false), and refused certificates (unknown CA, wrong name, expired):
// a 502, one log line with the reason, and the key not blamed. A raw TLS
// upstream (node's tls, byte-exact answers) checks the stale-connection
// retry, an idle connection closed by the upstream, and backpressure over TLS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, startMock, request, waitFor } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody, keyRows } from './lib/upstream.mjs';
import { makePki, startTlsFront, startRawTls } from './lib/tls.mjs';

const ADMIN = `sk-admin-${rnd()}`;
let pki, mock, gw, silent;
const silentConns = [];
const F = {}; // the TLS fronts
const P = {}; // provider name -> {keys}

function provider(name, base, tls) {
  P[name] = { keys: [mkKey(name)] };
  const extra = {};
  if (tls) extra.tls = `{${Object.entries(tls).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}}`;
  return { name, base, keys: P[name].keys, models: [`${name}-model`], extra };
}

// ---- the raw TLS upstream: its path's first segment names the case ------
const ANSWER = JSON.stringify({
  id: 'chatcmpl-raw', object: 'chat.completion', created: 1, model: 'raw',
  choices: [{ index: 0, message: { role: 'assistant', content: 'raw answer' }, finish_reason: 'stop' }],
});
const chunk = (t) => `${Buffer.byteLength(t).toString(16)}\r\n${t}\r\n`;
const okAnswer = (sock) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`);
// as in upstream-h1.test.mjs: longer than what the kernel's buffers can hold
const sysMax = (f) => { try { return Number(fs.readFileSync(f, 'utf8').trim().split(/\s+/)[2]) || 0; } catch { return 0; } };
const KERNEL_MAX = 2 * Math.max(sysMax('/proc/sys/net/ipv4/tcp_rmem'), 6 << 20) + 2 * Math.max(sysMax('/proc/sys/net/ipv4/tcp_wmem'), 4 << 20);
const BIG_EVENTS = Math.ceil((KERNEL_MAX + (16 << 20)) / 2000);
let bigUp;
const CASES = {
  // the second request on a connection is dropped unanswered
  dropsecond: (sock, c) => { if (c.n === 2) sock.destroy(); else okAnswer(sock); },
  // answers, then closes the idle connection after 30 ms
  idleclose: (sock) => { okAnswer(sock); setTimeout(() => sock.destroy(), 30); },
  // BIG_EVENTS events of ~2 KB, written as fast as the TLS socket drains
  big: (sock) => {
    const state = { written: 0, done: false };
    bigUp = state;
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    const pad = 'x'.repeat(2000);
    let i = 0;
    const pump = () => {
      while (i < BIG_EVENTS) {
        const d = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'raw',
          choices: [{ index: 0, delta: { content: `${i}:${pad}` }, finish_reason: null }] });
        const c = chunk(`data: ${d}\n\n`);
        i++;
        state.written += c.length;
        if (!sock.write(c)) { sock.once('drain', pump); return; }
      }
      sock.write(chunk('data: [DONE]\n\n') + '0\r\n\r\n');
      state.done = true;
    };
    pump();
  },
};
const rawReqs = [];
const rawClosed = new Set();
let rawUp;

const startRaw = (pki) => startRawTls(pki, (sock, req, c) => {
  rawReqs.push({ conn: c.id, nth: req.nth, name: req.name });
  c.raw.once('close', () => rawClosed.add(c.id));
  CASES[req.name](sock, c);
});
const rawOf = (name) => rawReqs.filter((r) => r.name === name);

const chat = (name, extra = {}, tag = rnd()) =>
  request(gw.url('/v1/chat/completions'), { method: 'POST', body: chatBody(`${name}-model`, `hello ${tag}`, extra) });

before(async () => {
  pki = makePki();
  mock = await startMock();
  const front = (name, opts) => startTlsFront(mock.port, opts).then((f) => { F[name] = f; });
  await Promise.all([
    front('good', pki.server), front('ka', pki.server), front('resume', pki.server), front('byname', pki.server),
    front('replace', pki.server),
    front('unknown', pki.unknown), front('noverify', pki.unknown), front('wrong', pki.wrongName),
    front('sni', pki.wrongName), front('expired', pki.expired),
    front('mtls', { ...pki.server, requestCert: true, ca: pki.ca.cert }),
  ]);
  rawUp = await startRaw(pki.server);
  const rawPort = rawUp.port;
  // accepts TCP connections and never answers the ClientHello
  silent = net.createServer((sock) => { silentConns.push(sock); sock.on('error', () => {}); });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const ca = { ca_file: pki.ca.cert };
  const providers = [
    ...Object.keys(CASES).map((name) => provider(name, `https://127.0.0.1:${rawPort}/${name}`, ca)),
    provider('good', `${F.good.base}/v1`, ca),
    provider('ka', `${F.ka.base}/v1`, ca),
    provider('resume', `${F.resume.base}/v1`, ca),
    provider('byname', `https://localhost:${F.byname.port}/v1`, ca),
    provider('replace', `${F.replace.base}/v1`, { ...ca, ca: 'replace' }),
    provider('unknown', `${F.unknown.base}/v1`, ca),
    provider('noverify', `${F.noverify.base}/v1`, { verify: false }),
    provider('wrong', `${F.wrong.base}/v1`, ca),
    provider('wrongdns', `https://localhost:${F.wrong.port}/v1`, ca),
    provider('sni', `${F.sni.base}/v1`, { ...ca, server_name: 'other.invalid' }),
    provider('expired', `${F.expired.base}/v1`, ca),
    provider('mtls', `${F.mtls.base}/v1`, { ...ca, client_certificate: pki.client.cert, client_key: pki.client.key }),
    provider('nocert', `${F.mtls.base}/v1`, ca),
    provider('silent', `https://127.0.0.1:${silent.address().port}/v1`, ca),
  ];
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, top: `admin_token: ${ADMIN}\nretry: {attempts: 1}\ntimeouts: {ping: 0, connect: 1s}`, providers,
    }),
  });
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
  await Promise.all(Object.values(F).map((f) => f.close()));
  await rawUp?.close();
  for (const s of silentConns) s.destroy();
  silent?.close();
});

test('chat over TLS: non-stream and stream, by IP and by name', async () => {
  for (const name of ['good', 'byname']) {
    const r = await chat(name);
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.equal(r.json.object, 'chat.completion', r.text);
    const s = await chat(name, { stream: true });
    assert.equal(s.status, 200, `${name} stream: ${s.text}`);
    assert.match(s.headers.get('content-type'), /text\/event-stream/);
    assert.ok(s.text.includes('data: [DONE]'), `${name} stream: no [DONE]: ${s.text.slice(-300)}`);
    assert.ok(s.text.includes('"chat.completion.chunk"'), s.text.slice(0, 300));
  }
  assert.ok(F.good.connections >= 1 && F.byname.connections >= 1, 'the requests did not go through the TLS fronts');
  assert.deepEqual(F.good.handshakeErrors, []);
});

test('keep-alive: 50 sequential requests use one TLS connection; 32 concurrent then 32 more reuse theirs', async () => {
  for (let i = 0; i < 50; i++) {
    const r = await chat('ka');
    assert.equal(r.status, 200, r.text);
  }
  assert.equal(F.ka.connections, 1, `50 sequential requests opened ${F.ka.connections} TLS connections`);
  const burst = async () => {
    const rs = await Promise.all(Array.from({ length: 32 }, () => chat('ka', { stream: true })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
  };
  await burst();
  const afterFirst = F.ka.connections;
  assert.ok(afterFirst <= 32, `32 concurrent requests opened ${afterFirst} connections`);
  await burst();
  assert.ok(F.ka.connections <= 32, `a second burst of 32 opened new connections: ${F.ka.connections} in all`);
  assert.deepEqual(F.ka.handshakeErrors, []);
});

test('session resumption: after the upstream closed the idle connection, the next handshake resumes', async () => {
  assert.equal((await chat('resume')).status, 200);
  assert.equal((await chat('resume')).status, 200); // the TLS 1.3 ticket has arrived by now
  const before = F.resume.connections;
  for (const s of F.resume.sockets) s.destroy();
  // the closed idle connection is noticed (or retried once) and a new one made
  const r = await chat('resume');
  assert.equal(r.status, 200, r.text);
  assert.equal(F.resume.connections, before + 1);
  assert.ok(F.resume.resumed >= 1, `no resumed session (connections ${F.resume.connections})`);
});

test('ca: replace with ca_file trusts that CA only', async () => {
  const r = await chat('replace');
  assert.equal(r.status, 200, r.text);
});

// A refused certificate: 502 to the client, one log line with the reason, and
// the key neither cooled nor disabled (three failures would cool a key that
// a network error hit).
async function refused(name, reason, { host = '127.0.0.1', front = name } = {}) {
  for (let i = 0; i < 4; i++) {
    const r = await chat(name);
    assert.equal(r.status, 502, `${name}: ${r.status} ${r.text}`);
    assert.ok(r.json?.error, `${name}: not an error body: ${r.text}`);
  }
  await gw.waitLog(new RegExp(`upstream TLS: certificate verify failed: ${reason} \\(provider ${name}, host ${host.replaceAll('.', '\\.')}\\)`));
  const [k] = await keyRows(gw, ADMIN, name);
  assert.equal(k.state, 'usable', `${name}: the key is ${k.state}: ${JSON.stringify(k)}`);
  assert.equal(k.consecutive_failures, 0, JSON.stringify(k));
  for (const f of ['server', 'network', 'auth', 'payment', 'rate_limited']) assert.equal(k[f], 0, `${name}: counted as ${f}`);
  assert.equal(F[front].connections, 0, `${name}: a connection was accepted past the refused certificate`);
}

test('unknown CA: 502, the reason logged, the key still usable', async () => {
  await refused('unknown', 'unable to get local issuer certificate');
});

test('wrong name (by IP and by DNS name): 502', async () => {
  await refused('wrong', 'IP address mismatch');
  await refused('wrongdns', 'hostname mismatch', { host: 'localhost', front: 'wrong' });
});

test('expired certificate: 502', async () => {
  await refused('expired', 'certificate has expired');
});

test('server_name makes the certificate for other.invalid pass', async () => {
  const r = await chat('sni');
  assert.equal(r.status, 200, r.text);
  const s = await chat('sni', { stream: true });
  assert.equal(s.status, 200, s.text);
});

test('mutual TLS: works with client_certificate and client_key, 502 without', async () => {
  const r = await chat('mtls');
  assert.equal(r.status, 200, r.text);
  assert.ok(F.mtls.clientCerts.length >= 1, 'no client certificate was presented');
  const n = await chat('nocert');
  assert.equal(n.status, 502, n.text);
  await waitFor(() => F.mtls.handshakeErrors.length > 0 || /upstream TLS: .*provider nocert/.test(gw.logs()),
    { what: 'the refused client' });
  await gw.waitLog(/upstream TLS: .*\(provider nocert, host 127\.0\.0\.1\)/);
  const [k] = await keyRows(gw, ADMIN, 'nocert');
  assert.equal(k.state, 'usable', JSON.stringify(k));
  assert.equal(k.network, 0, JSON.stringify(k));
});

test('verify: false accepts an unknown CA, with a warning at start and in /health', async () => {
  const r = await chat('noverify');
  assert.equal(r.status, 200, r.text);
  assert.match(gw.logs(), /provider noverify: tls\.verify is false/);
  assert.equal(gw.logs().match(/provider noverify: tls\.verify is false/g).length, 1, 'the warning is not once per provider');
  assert.doesNotMatch(gw.logs(), /provider good: tls\.verify is false/);
  const h = await request(gw.url('/health'));
  const byName = Object.fromEntries(h.json.providers.map((p) => [p.name, p]));
  assert.equal(byName.noverify.tls_verify, false, h.text);
  assert.equal(byName.good.tls_verify, undefined, h.text);
});

test('an idle TLS connection the upstream closed is not reused', async () => {
  assert.equal((await chat('idleclose')).status, 200);
  const first = rawOf('idleclose')[0];
  await waitFor(() => rawClosed.has(first.conn), { what: 'the upstream to close the idle connection' });
  const r = await chat('idleclose');
  assert.equal(r.status, 200, r.text);
  const q = rawOf('idleclose');
  assert.equal(q.length, 2, 'no request was lost or sent twice');
  assert.notEqual(q[0].conn, q[1].conn);
});

test('a reused TLS connection dropped without an answer: the request goes once more on a new connection', async () => {
  assert.equal((await chat('dropsecond')).status, 200);
  const r = await chat('dropsecond');
  assert.equal(r.status, 200, r.text);
  const q = rawOf('dropsecond');
  const trace = JSON.stringify(q.map((x) => [x.conn, x.nth]));
  assert.deepEqual(q.map((x) => x.nth), [1, 2, 1], trace);
  assert.ok(q[2].conn > q[1].conn, trace);
  const [k] = await keyRows(gw, ADMIN, 'dropsecond');
  assert.equal(k.network, 0, `the retried request counted as a failure: ${JSON.stringify(k)}`);
});

test('backpressure over TLS: a client that stops reading stops the upstream reads; then every event arrives, in order', async () => {
  const http = await import('node:http');
  const body = JSON.stringify(chatBody('big-model', 'Hi', { stream: true }));
  const res = await new Promise((resolve, reject) => {
    const rq = http.request(gw.url('/v1/chat/completions'), {
      method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, resolve);
    rq.on('error', reject);
    rq.end(body);
  });
  assert.equal(res.statusCode, 200);
  res.pause();
  assert.ok(bigUp, 'the upstream got the request');
  // the steady state: the upstream's progress stops for 1 s (or it finished)
  let prev = -1, sameSince = performance.now();
  await waitFor(() => {
    if (bigUp.written !== prev) { prev = bigUp.written; sameSince = performance.now(); }
    return bigUp.done || performance.now() - sameSince >= 1000;
  }, { timeout: 60000, interval: 100, what: 'the upstream writes to stall or finish' });
  assert.ok(!bigUp.done, `the upstream wrote all ${BIG_EVENTS} events: the gateway kept reading`);
  let buf = '', n = 0, inOrder = true, done = false;
  res.setEncoding('utf8');
  res.on('data', (d) => {
    buf += d;
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (ev === 'data: [DONE]') { done = true; continue; }
      if (Number(JSON.parse(ev.slice(6)).choices[0].delta.content.split(':')[0]) !== n) inOrder = false;
      n++;
    }
  });
  res.resume();
  await new Promise((resolve) => res.on('end', resolve));
  assert.ok(done, 'the stream ends with [DONE]');
  assert.equal(n, BIG_EVENTS);
  assert.ok(inOrder, 'events lost, merged or out of order');
});

// A TLS front that records the ALPN protocols each client offered, and the
// SNI it sent.
async function alpnFront(target, { cert, key }) {
  const f = { offered: [], sni: [] };
  f.server = tls.createServer({
    cert: fs.readFileSync(cert), key: fs.readFileSync(key),
    ALPNCallback: ({ servername, protocols }) => {
      f.offered.push(protocols);
      f.sni.push(servername || null);
      return protocols.includes('http/1.1') ? 'http/1.1' : undefined; },
  }, (sock) => {
    const up = net.connect(target, '127.0.0.1');
    sock.pipe(up).pipe(sock);
    const end = () => { sock.destroy(); up.destroy(); };
    sock.on('error', end); up.on('error', end); sock.on('close', end); up.on('close', end);
  });
  f.server.on('tlsClientError', () => {});
  await new Promise((resolve) => f.server.listen(0, '127.0.0.1', resolve));
  f.port = f.server.address().port;
  return f;
}

test('ALPN and SNI: the own client offers http/1.1 only, and SNI for a name, not for an IP; with LLMGATE_UPSTREAM_HTTP2=1 libcurl serves https:// (and offers h2)', async () => {
  const front = await alpnFront(mock.port, pki.server);
  const yaml = ({ port }) => gatewayYaml({
    port, top: 'retry: {attempts: 1}',
    providers: ['127.0.0.1', 'localhost'].map((host, i) => ({
      name: `alpn${i}`, base: `https://${host}:${front.port}/v1`, keys: [mkKey('alpn')], models: [`alpn${i}-model`],
      extra: { tls: `{ca_file: ${JSON.stringify(pki.ca.cert)}}` },
    })),
  });
  const ask = (g, i = 0) => request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody(`alpn${i}-model`) });
  const own = await startGateway({ config: yaml });
  try {
    for (const i of [0, 1]) {
      const r = await ask(own, i);
      assert.equal(r.status, 200, r.text);
    }
    assert.deepEqual(front.offered, [['http/1.1'], ['http/1.1']]);
    assert.deepEqual(front.sni, [null, 'localhost']);
  } finally {
    await own.stop();
  }
  const h2 = await startGateway({ config: yaml, env: { LLMGATE_UPSTREAM_HTTP2: '1' } });
  try {
    await ask(h2); // libcurl may or may not apply tls: yet: only its ClientHello matters here
    assert.equal(front.offered.length, 3, JSON.stringify(front.offered));
    assert.ok(front.offered[2].includes('h2'), `libcurl did not carry the request: ${JSON.stringify(front.offered)}`);
  } finally {
    await h2.stop();
    front.server.close();
  }
});

test('timeouts.connect bounds the TLS handshake: an upstream that never answers it gets a 504', async () => {
  const t0 = performance.now();
  const r = await chat('silent');
  const ms = performance.now() - t0;
  assert.equal(r.status, 504, r.text);
  assert.ok(silentConns.length >= 1, 'no TCP connection was made');
  assert.ok(ms < 8000, `the handshake was waited on for ${Math.round(ms)} ms (connect timeout 1 s)`);
  await gw.waitLog(/upstream silent: Timeout was reached/);
});

test('reloads (SIGHUP) under load with a TLS upstream lose no request', async (t) => {
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({ port, workers: 2, top: 'timeouts: {ping: 0}', providers: [provider('reload', `${F.good.base}/v1`, { ca_file: pki.ca.cert })] }),
  });
  t.after(() => g.stop());
  let running = true, ok = 0;
  const failures = [];
  // fresh connections, as clients of a load balancer do, streamed and not
  const loop = async (stream) => {
    while (running) {
      try {
        const r = await request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody('reload-model', `reload ${rnd()}`, stream ? { stream: true } : {}), headers: { connection: 'close' } });
        const good = r.status === 200 && (stream ? r.text.includes('data: [DONE]') : r.json?.choices?.[0]?.finish_reason === 'stop');
        if (good) ok++;
        else failures.push(`${r.status} ${r.text.slice(0, 200)}`);
      } catch (e) {
        failures.push(String(e.message || e));
      }
    }
  };
  const loops = [loop(false), loop(true), loop(false), loop(true)];
  for (let i = 0; i < 3; i++) {
    const before = ok, workers = g.workerPids();
    g.signal('SIGHUP');
    await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !workers.includes(p)); }, { what: 'new workers' });
    await waitFor(() => ok > before + 20, { what: 'requests answered after the reload' });
  }
  running = false;
  await Promise.all(loops);
  assert.deepEqual(failures, []);
  assert.ok(ok > 60, `${ok} requests`);
});

// The system's CAs are parsed once per worker and shared (server/ca_store.c):
// a provider without ca_file uses that store as is, one with `ca: add` a copy
// holding the same certificates plus its own. Here "the system" is the suite's
// CA (SSL_CERT_FILE); both clients.
test('ca: add keeps the system CAs, and one provider\'s ca_file is not trusted by another (both clients)', async (t) => {
  // two fronts with a certificate of the other CA (libcurl may share a
  // connection between providers of one host and port: docs/security.md)
  const other = await startTlsFront(mock.port, pki.unknown);
  const other2 = await startTlsFront(mock.port, pki.unknown);
  t.after(() => Promise.all([other.close(), other2.close()]));
  for (const client of ['own', 'curl']) {
    const providers = [
      provider('sys', `${F.good.base}/v1`), // the system's CA, no tls:
      provider('sysadd', `${F.good.base}/v1`, { ca_file: pki.otherCa.cert }), // the system's CA, through the copy
      provider('addown', `${other.base}/v1`, { ca_file: pki.otherCa.cert }), // the added CA
      provider('sysonly', `${other2.base}/v1`), // the added CA is not in the shared store
    ];
    const g = await startGateway({
      env: { SSL_CERT_FILE: pki.ca.cert, ...(client === 'curl' ? { LLMGATE_UPSTREAM_CLIENT: 'curl' } : {}) },
      config: ({ port }) => gatewayYaml({ port, top: 'retry: {attempts: 1}\ntimeouts: {ping: 0}', providers }),
    });
    try {
      const ask = (name) => request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody(`${name}-model`, `ca ${rnd()}`) });
      for (const name of ['sys', 'sysadd', 'addown']) {
        const r = await ask(name);
        assert.equal(r.status, 200, `${client} ${name}: ${r.text}`);
      }
      const r = await ask('sysonly');
      assert.equal(r.status, 502, `${client} sysonly: ${r.status} ${r.text}`);
    } finally {
      await g.stop();
    }
  }
});

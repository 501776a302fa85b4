// A provider's `tls:` on libcurl (issue 17; docs/configuration.md "tls",
// docs/security.md "TLS to upstreams"): the mock behind TLS fronts
// (lib/tls.mjs) with a private CA, an unknown CA, a certificate for another
// name, an expired one and a front that asks for a client certificate.
// LLMGATE_UPSTREAM_CLIENT=curl: libcurl serves every upstream, whatever the
// own HTTP/1.1 client learns. Verification failures are 502s that blame no
// key and name their reason in the log; verify: false is said at start and in
// /health.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { startGateway, startMock, request, parseSSE, waitFor, tmpDir } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody, keyRows, assertOpenAIError, RAW_ANSWER } from './lib/upstream.mjs';
import { makePki, startTlsFront, startRawTls } from './lib/tls.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const TOKEN = `sk-gate-${rnd()}`;
const K = {
  good: mkKey('tgood'),
  unknown: [mkKey('tunk1'), mkKey('tunk2'), mkKey('tunk3')],
  wrong: mkKey('twrong'),
  expired: mkKey('texp'),
  sni: mkKey('tsni'),
  mtls: mkKey('tmtls'),
  nocert: mkKey('tnocert'),
  noverify: mkKey('tnover'),
  replace: mkKey('trepl'),
  unkfb: mkKey('tunkfb'),
  v12: mkKey('tv12'),
  v13: mkKey('tv13'),
};

// A TLS 1.2-only front for the mock (lib/tls.mjs' fronts speak 1.3).
async function startTls12Front(target, { cert, key }) {
  const f = { connections: 0, sockets: new Set() };
  const server = tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), maxVersion: 'TLSv1.2' }, (sock) => {
    f.connections++;
    const up = net.connect(target, '127.0.0.1');
    for (const s of [sock, up]) f.sockets.add(s);
    sock.pipe(up).pipe(sock);
    const end = () => { sock.destroy(); up.destroy(); f.sockets.delete(sock); f.sockets.delete(up); };
    for (const s of [sock, up]) { s.on('error', end); s.on('close', end); }
  });
  server.on('tlsClientError', () => {});
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  f.base = `https://127.0.0.1:${server.address().port}`;
  f.close = () => new Promise((resolve) => { for (const s of f.sockets) s.destroy(); server.close(() => resolve()); });
  return f;
}

let pki, mock, gw;
const fronts = {};

const tlsYaml = (o) => `{${Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}}`;

before(async () => {
  pki = makePki();
  mock = await startMock();
  fronts.good = await startTlsFront(mock.port, pki.server);
  fronts.unknown = await startTlsFront(mock.port, pki.unknown);
  fronts.wrong = await startTlsFront(mock.port, pki.wrongName);
  fronts.expired = await startTlsFront(mock.port, { cert: pki.expired.cert, key: pki.expired.key });
  fronts.mtls = await startTlsFront(mock.port, { ...pki.server, requestCert: true, ca: pki.ca.cert });
  fronts.tls12 = await startTls12Front(mock.port, pki.server);
  const ca = { ca_file: pki.ca.cert };
  const p = (name, front, keys, tls, path = '/v1') => ({
    name, base: `${front.base}${path}`, keys: Array.isArray(keys) ? keys : [keys], models: [`${name}-*`],
    extra: { tls: tlsYaml(tls) },
  });
  gw = await startGateway({
    env: { LLMGATE_UPSTREAM_CLIENT: 'curl' },
    config: ({ port }) => gatewayYaml({
      port,
      workers: 1,
      top: `admin_token: ${ADMIN}\naccess_tokens: [${TOKEN}]`,
      providers: [
        p('good', fronts.good, K.good, ca, '/s/models=good-a|good-b/v1'),
        p('unknown', fronts.unknown, K.unknown, ca, '/s/models=unknown-a/v1'),
        p('wrong', fronts.wrong, K.wrong, ca),
        p('expired', fronts.expired, K.expired, ca),
        p('sni', fronts.wrong, K.sni, { ...ca, server_name: 'other.invalid' }),
        p('mtls', fronts.mtls, K.mtls, { ...ca, client_certificate: pki.client.cert, client_key: pki.client.key }),
        p('nocert', fronts.mtls, K.nocert, ca),
        p('noverify', fronts.unknown, K.noverify, { verify: false }),
        p('replace', fronts.unknown, K.replace, { ca_file: pki.otherCa.cert, ca: 'replace', min_version: '1.2' }),
        p('v12', fronts.tls12, K.v12, { ...ca, min_version: '1.2' }),
        p('v13', fronts.tls12, K.v13, { ...ca, min_version: '1.3' }),
        { ...p('unkfb', fronts.unknown, K.unkfb, ca), extra: { tls: tlsYaml(ca), fallback: '[good]' } },
      ],
    }),
  });
});

after(async () => {
  await gw?.stop();
  for (const f of Object.values(fronts)) await f.close();
  await mock?.stop();
});

const chat = (model, extra = {}) =>
  request(gw.url('/v1/chat/completions'), { method: 'POST', token: TOKEN, body: chatBody(model, `Hi ${rnd()}`, extra) });

async function assertAnswers(model, front, what) {
  const before = front.connections;
  const r = await chat(model);
  assert.equal(r.status, 200, `${what}: ${r.text}\n${gw.logs().slice(-2000)}`);
  assert.equal(typeof r.json.choices[0].message.content, 'string', r.text);
  assert.ok(front.connections > before || front.connections > 0, `${what}: the TLS front saw no connection`);
  return r;
}

async function assertTlsRefused(model, reason, what) {
  const r = await chat(model);
  assertOpenAIError(r, 502, what);
  assert.equal(r.json.error.code, 'upstream_tls_error', `${what}: ${r.text}\n${gw.logs().split('\n').filter((l) => l.includes(model.split('-')[0])).join('\n')}`);
  const provider = model.split('-')[0];
  await waitFor(() => gw.logs().includes(`provider ${provider}: TLS failure`), { what: `${what}: the TLS log line` });
  const line = gw.logs().split('\n').find((l) => l.includes(`provider ${provider}: TLS failure`));
  assert.match(line, reason, `${what}: the log line names the reason`);
  return r;
}

test('chat over TLS with tls.ca_file (private CA added to the system bundle): non-stream and stream', async () => {
  await assertAnswers('good-1', fronts.good, 'non-stream');
  const r = await request(gw.url('/v1/chat/completions'), {
    method: 'POST', token: TOKEN, body: chatBody('good-1', 'Hi', { stream: true }),
  });
  assert.equal(r.status, 200, r.text);
  const events = parseSSE(r.text);
  assert.ok(events.length > 2, r.text);
  assert.equal(events[events.length - 1], '[DONE]', r.text);
  assert.ok(fronts.good.connections >= 1);
  assert.deepEqual(fronts.good.handshakeErrors, []);
});

test('an unknown CA: 502 upstream_tls_error, one attempt, no key cooled or disabled, the log names the reason', async () => {
  await assertTlsRefused('unknown-1', /certificate|issuer/i, 'unknown CA');
  await assertTlsRefused('unknown-1', /certificate|issuer/i, 'unknown CA again');
  const rec = await mock.record();
  assert.ok(!rec.some((e) => K.unknown.includes(e.key)), 'a request passed the refused TLS front');
  const rows = await keyRows(gw, ADMIN, 'unknown');
  for (const row of rows) {
    assert.equal(row.state, 'usable', JSON.stringify(row));
    assert.equal(row.consecutive_failures, 0, JSON.stringify(row));
  }
  // the refused certificate is the same for every key: the others are not tried
  const attempts = gw.logs().split('\n').filter((l) => l.includes('provider unknown: TLS failure')).length;
  assert.ok(attempts >= 2 && attempts <= 3, `TLS failures logged: ${attempts} (one per request expected, plus the model list at most)`);
});

test('a refused certificate moves on to the fallback provider, which answers', async () => {
  const before = fronts.good.connections;
  const r = await chat('unkfb-1');
  assert.equal(r.status, 200, r.text);
  await waitFor(() => gw.logs().includes('provider unkfb: TLS failure'), { what: 'the TLS log line of unkfb' });
  const rec = await mock.record();
  assert.ok(rec.some((e) => e.key === K.good && (e.body || '').includes('unkfb-1')), 'the fallback did not get the request');
  assert.ok(!rec.some((e) => e.key === K.unkfb), 'a request passed the refused TLS front');
  assert.ok(fronts.good.connections >= before);
});

test('a certificate for another name: 502; tls.server_name makes the same certificate pass', async () => {
  await assertTlsRefused('wrong-1', /name|match/i, 'wrong name');
  await assertAnswers('sni-1', fronts.wrong, 'server_name other.invalid');
});

test('an expired certificate: 502', async () => {
  await assertTlsRefused('expired-1', /expired/i, 'expired');
});

test('mutual TLS: client_certificate + client_key pass; without them, 502', async () => {
  await assertAnswers('mtls-1', fronts.mtls, 'mTLS');
  assert.ok(fronts.mtls.clientCerts.some((cn) => cn === 'client'), `client certificates seen: ${fronts.mtls.clientCerts}`);
  // With TLS 1.3 the front's refusal (its alert) comes after curl's side of
  // the handshake: read, it is a TLS failure that blames no key; when the
  // front's reset wins the race with the request, it is a network error (the
  // reason is not known). A 502 either way, and the key stays usable.
  const r = await chat('nocert-1');
  assertOpenAIError(r, 502, 'no client certificate');
  assert.ok(['upstream_tls_error', 'upstream_unavailable'].includes(r.json.error.code), r.text);
  await waitFor(() => /(provider|upstream) nocert: /.test(gw.logs()), { what: 'the nocert log line' });
  if (r.json.error.code === 'upstream_tls_error')
    assert.match(gw.logs(), /provider nocert: TLS failure, the key is not blamed: .*alert/);
  for (const row of await keyRows(gw, ADMIN, 'nocert'))
    assert.equal(row.state, 'usable', JSON.stringify(row));
  const rec = await mock.record();
  assert.ok(!rec.some((e) => e.key === K.nocert), 'a request without a client certificate passed the mTLS front');
});

test('min_version: "1.2" reaches a TLS 1.2-only upstream, "1.3" is refused (502)', async () => {
  await assertAnswers('v12-1', fronts.tls12, 'min_version 1.2');
  await assertTlsRefused('v13-1', /protocol|version/i, 'min_version 1.3');
});

test('verify: false passes an unknown CA, is warned at start and listed in /health', async () => {
  await assertAnswers('noverify-1', fronts.unknown, 'verify false');
  assert.match(gw.logs(), /provider noverify: tls\.verify is false: the upstream's certificate is NOT checked/);
  const lines = gw.logs().split('\n').filter((l) => l.includes('tls.verify is false'));
  assert.equal(lines.length, 1, lines.join('\n'));
  const h = await request(gw.url('/health'));
  assert.equal(h.status, 200, h.text);
  assert.deepEqual(h.json.tls_verify_off, ['noverify'], h.text);
});

test('ca: replace trusts only ca_file (here the CA the others do not know)', async () => {
  await assertAnswers('replace-1', fronts.unknown, 'ca: replace');
});

test('/v1/models is fetched over TLS with tls.ca_file; a refused upstream adds nothing and blames no key', async () => {
  const r = await request(gw.url('/v1/models'), { token: TOKEN, timeout: 30000 });
  assert.equal(r.status, 200, r.text);
  const ids = r.json.data.map((x) => x.id);
  assert.ok(ids.includes('good-a') && ids.includes('good-b'), `ids: ${ids}`);
  assert.ok(!ids.includes('unknown-a'), `ids: ${ids}`);
  await waitFor(() => gw.logs().includes('provider unknown: TLS failure fetching the model list'), { what: 'the model list TLS log line' });
  for (const row of await keyRows(gw, ADMIN, 'unknown'))
    assert.equal(row.state, 'usable', JSON.stringify(row));
});

test('verify: false is warned again at a reload, still once per provider', async () => {
  gw.signal('SIGHUP');
  await gw.waitLog('configuration reloaded');
  await waitFor(() => gw.logs().split('\n').filter((l) => l.includes('tls.verify is false')).length === 2,
    { what: 'a second verify: false warning' });
  const lines = gw.logs().split('\n').filter((l) => l.includes('tls.verify is false'));
  assert.ok(lines.every((l) => l.includes('provider noverify:')), lines.join('\n'));
  // the new workers apply the settings too
  await assertAnswers('good-2', fronts.good, 'after the reload');
});

// The CA stores are read once per worker, not per connection (issue 17,
// docs/upstream-client.md "libcurl and TLS"): libcurl 7.88 fills every new
// connection's SSL_CTX from CURLOPT_CAINFO/CAPATH, and with Debian's CA path
// its CA cache is off, so each new TLS connection parsed the 220 KB system
// bundle (~20 ms of the worker's loop; a burst of 32 new connections stalled
// every request for about a second, 128 collapsed the throughput). Here the
// system bundle (SSL_CERT_FILE, a copy of the test CA) is deleted after the
// first request of each provider: a burst that needs new connections still
// verifies (against the store read before), and opens no more connections
// than it has requests in flight; the next burst opens none (keep-alive).
// The mock holds each answer 150 ms so that the burst's requests overlap.
test('a burst of new TLS connections reads no CA file, and keep-alive connections are reused (no system bundle per connection)', async () => {
  const dir = tmpDir('llmgate-sysca-');
  const sysCa = path.join(dir, 'system-ca.pem');
  fs.copyFileSync(pki.ca.cert, sysCa);
  const f = { sys: await startTlsFront(mock.port, pki.server), add: await startTlsFront(mock.port, pki.server) };
  const keys = { sys: mkKey('tsys'), add: mkKey('tadd') };
  const g = await startGateway({
    env: { LLMGATE_UPSTREAM_CLIENT: 'curl', SSL_CERT_FILE: sysCa },
    config: ({ port }) => gatewayYaml({
      port,
      workers: 1,
      top: `access_tokens: [${TOKEN}]`,
      providers: [
        // no tls: the system's CAs
        { name: 'sys', base: `${f.sys.base}/s/latency=150/v1`, keys: [keys.sys], models: ['sys-*'] },
        // ca: add: the system's CAs and ca_file's
        { name: 'add', base: `${f.add.base}/s/latency=150/v1`, keys: [keys.add], models: ['add-*'], extra: { tls: tlsYaml({ ca_file: pki.ca.cert }) } },
      ],
    }),
  });
  try {
    const ask = (model) => request(g.url('/v1/chat/completions'), { method: 'POST', token: TOKEN, body: chatBody(model, `Hi ${rnd()}`) });
    const N = 8;
    for (const name of ['sys', 'add']) {
      for (let i = 0; i < 3; i++) {
        const r = await ask(`${name}-1`);
        assert.equal(r.status, 200, `${name}, sequential: ${r.text}\n${g.logs().slice(-1500)}`);
      }
      assert.equal(f[name].connections, 1, `${name}: sequential requests share one connection`);
    }
    fs.rmSync(sysCa);
    for (const name of ['sys', 'add']) {
      const before = f[name].connections;
      const rs = await Promise.all(Array.from({ length: N }, () => ask(`${name}-1`)));
      for (const r of rs) assert.equal(r.status, 200, `${name}, burst after the system bundle went: ${r.text}\n${g.logs().slice(-1500)}`);
      const opened = f[name].connections - before;
      assert.ok(opened >= 1 && opened <= N, `${name}: ${opened} new connections for ${N} overlapping requests`);
      const total = f[name].connections;
      const again = await Promise.all(Array.from({ length: N }, () => ask(`${name}-1`)));
      for (const r of again) assert.equal(r.status, 200, `${name}, second burst: ${r.text}`);
      const extra = f[name].connections - total;
      assert.ok(extra <= Math.max(0, N - total), `${name}: the second burst opened ${extra} connections with ${total} kept alive`);
      assert.deepEqual(f[name].handshakeErrors, [], name);
    }
  } finally {
    await g.stop();
    for (const x of Object.values(f)) await x.close();
  }
});

test('no upstream key in the logs', () => {
  const logs = gw.logs();
  for (const k of [K.good, ...K.unknown, K.wrong, K.expired, K.sni, K.mtls, K.nocert, K.noverify, K.replace, K.unkfb, K.v12, K.v13])
    assert.ok(!logs.includes(k), 'an upstream key is in the logs');
});

// An upstream that closes a kept-alive connection just as the next request
// reuses it (its keep-alive timeout racing ours: nginx's 75 s, a CDN's 60 s;
// the benchmark hit it at 128 connections): libcurl checked the idle
// connection before the close arrived, sends, and gets a broken pipe, a reset
// or nothing. Nothing of an answer came, so the request goes once more on a
// fresh connection (server/curl_loop.c), as the own client does, and the key
// is not blamed. Here the upstream closes a connection when its second
// request arrives, without answering it: with FIN, with a close_notify, and
// with a reset.
for (const how of ['fin', 'close_notify', 'rst']) {
  test(`a kept-alive connection the upstream closes as it is reused (${how}) is retried on a fresh one; the key not blamed`, async (t) => {
    const key = mkKey('idle');
    const up = await startRawTls(pki.server, (sock, req, conn) => {
      if (req.nth === 1) {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${RAW_ANSWER.length}\r\n\r\n${RAW_ANSWER}`);
      } else if (how === 'close_notify') sock.end();
      else if (how === 'fin') conn.raw.end();
      else conn.raw.resetAndDestroy();
    });
    t.after(() => up.close());
    const g = await startGateway({
      env: { LLMGATE_UPSTREAM_CLIENT: 'curl' },
      config: ({ port }) => gatewayYaml({
        port, top: `admin_token: ${ADMIN}\nretry: {attempts: 1}\ntimeouts: {ping: 0}`,
        providers: [{ name: 'idle', base: `https://127.0.0.1:${up.port}/v1`, keys: [key], models: ['idle-model'],
          extra: { tls: `{ca_file: ${JSON.stringify(pki.ca.cert)}}` } }],
      }),
    });
    t.after(() => g.stop());
    for (let i = 0; i < 4; i++) {
      const r = await request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody('idle-model', `idle ${i}`) });
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
    }
    assert.ok(up.conns.length >= 4, `${up.conns.length} connections for 4 requests`);
    const [k] = await keyRows(g, ADMIN, 'idle');
    assert.equal(k.state, 'usable', JSON.stringify(k));
    assert.equal(k.network, 0, `counted as network failures: ${JSON.stringify(k)}`);
  });
}

// https:// upstreams through llmgate's own HTTP/1.1 client (issue 17,
// docs/upstream-client.md): a private PKI made per run (lib/tls.mjs) and TLS
// fronts in front of the mock. Chat with and without stream over TLS,
// keep-alive reuse (sequential and concurrent), session resumption after the
// upstream closed its idle connections, the provider's tls: settings (ca_file
// added or replacing the system's CAs, server_name, client certificate,
// verify: false), and refused certificates (unknown CA, wrong name, expired):
// a 502, one log line with the reason, and the key not blamed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, request, waitFor } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody, keyRows } from './lib/upstream.mjs';
import { makePki, startTlsFront } from './lib/tls.mjs';

const ADMIN = `sk-admin-${rnd()}`;
let pki, mock, gw;
const F = {}; // the TLS fronts
const P = {}; // provider name -> {keys}

function provider(name, base, tls) {
  P[name] = { keys: [mkKey(name)] };
  const extra = {};
  if (tls) extra.tls = `{${Object.entries(tls).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}}`;
  return { name, base, keys: P[name].keys, models: [`${name}-model`], extra };
}

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
  const ca = { ca_file: pki.ca.cert };
  const providers = [
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
  ];
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, top: `admin_token: ${ADMIN}\nretry: {attempts: 1}\ntimeouts: {ping: 0}`, providers,
    }),
  });
});

after(async () => {
  if (process.env.DUMP_LOGS) console.error(gw?.logs());
  await gw?.stop();
  await mock?.stop();
  await Promise.all(Object.values(F).map((f) => f.close()));
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

test('verify: false accepts an unknown CA, with a warning at start', async () => {
  const r = await chat('noverify');
  assert.equal(r.status, 200, r.text);
  assert.match(gw.logs(), /provider noverify: tls\.verify is false/);
  assert.equal(gw.logs().match(/provider noverify: tls\.verify is false/g).length, 1, 'the warning is not once per provider');
  assert.doesNotMatch(gw.logs(), /provider good: tls\.verify is false/);
});

// Protocols (SPEC section 1 and 3): HTTP/1.1 keep-alive, h2c (prior knowledge
// and Upgrade), TLS with ALPN h2 and http/1.1 fallback, several listeners,
// IPv6, streaming over HTTP/2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startGateway, echoConfig, curl, nghttp, makeCert, tmpDir, parseSSE, checkChatStream,
  ipv6LoopbackAvailable, freePort, runProcess,
} from './lib/harness.mjs';

let gw, tlsPort, plainPort2, cert;
before(async () => {
  const dir = tmpDir();
  const pair = await makeCert(dir);
  cert = pair.cert;
  const key = pair.key;
  gw = await startGateway({
    ports: 3,
    config: ({ ports }) => echoConfig({
      listen: [
        `  - address: 127.0.0.1\n    port: ${ports[0]}`,
        `  - address: 127.0.0.1\n    port: ${ports[1]}\n    tls: {certificate: ${cert}, key: ${key}}`,
        `  - address: 127.0.0.1\n    port: ${ports[2]}`,
      ].join('\n'),
      delay: '10ms',
    }),
  });
  tlsPort = gw.ports[1];
  plainPort2 = gw.ports[2];
});
after(() => gw?.stop());

const CHAT = (content, extra = {}) => JSON.stringify({ model: 'echo', messages: [{ role: 'user', content }], ...extra });
const JSON_H = ['-H', 'content-type: application/json'];
const https = (p, port = tlsPort) => `https://127.0.0.1:${port}${p}`;

test('the listening line names every listener', () => {
  for (const p of gw.ports) assert.ok(gw.logs().includes(String(p)), `port ${p} not in:\n${gw.logs()}`);
});

test('HTTP/1.1 keep-alive: several requests on one connection', async () => {
  const dir = tmpDir();
  // --next resets every option: each request repeats its own
  const args = [];
  for (let i = 0; i < 4; i++) {
    if (i > 0) args.push('--next');
    args.push('-sS', '--http1.1', '-w', '%{http_code} %{num_connects} %{http_version}\\n',
      '-o', path.join(dir, `o${i}`), ...JSON_H, '--data-binary', CHAT(`keep alive ${i}`), gw.url('/v1/chat/completions'));
  }
  const r = await runProcess('curl', args);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines, ['200 1 1.1', '200 0 1.1', '200 0 1.1', '200 0 1.1'], 'num_connects 0 means the connection was reused');
  for (let i = 0; i < 4; i++) {
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, `o${i}`), 'utf8')).choices[0].message.content, `keep alive ${i}`);
  }
});

test('HTTP/1.1 keep-alive survives a streamed response', async () => {
  const dir = tmpDir();
  const w = ['-sS', '--http1.1', '-w', '%{http_code} %{num_connects}\\n'];
  const r = await runProcess('curl', [...w,
    '-o', path.join(dir, 'a'), ...JSON_H, '--data-binary', CHAT('one two', { stream: true }), gw.url('/v1/chat/completions'), '--next', ...w,
    '-o', path.join(dir, 'b'), gw.url('/health')]);
  assert.equal(r.stdout, '200 1\n200 0\n');
  checkChatStream(parseSSE(fs.readFileSync(path.join(dir, 'a'), 'utf8')));
});

test('h2c with prior knowledge (curl)', async () => {
  const r = await curl(['--http2-prior-knowledge', ...JSON_H, '--data-binary', CHAT('over h2c'), gw.url('/v1/chat/completions')]);
  assert.equal(r.httpVersion, '2');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.choices[0].message.content, 'over h2c');
  assert.ok(r.headers['x-request-id']);
});

test('h2c with prior knowledge (nghttp -v shows an HTTP/2 exchange)', async () => {
  const dir = tmpDir();
  const data = path.join(dir, 'req.json');
  fs.writeFileSync(data, CHAT('from nghttp'));
  const r = await nghttp(['-v', '-H', 'content-type: application/json', '-d', data, gw.url('/v1/chat/completions')]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /recv SETTINGS frame/);
  assert.match(r.stdout, /:status: 200/);
  assert.match(r.stdout, /"content":"from nghttp"/);
});

test('h2c via Upgrade (curl --http2 on http://)', async () => {
  const r = await curl(['--http2', gw.url('/health')]);
  assert.equal(r.status, 200);
  assert.equal(r.httpVersion, '2', `Upgrade: h2c not honoured (${r.headerBlocks.map((b) => b.statusLine).join(' / ')})`);
  assert.equal(r.headerBlocks[0].status, 101);
});

test('a POST with curl --http2 on http:// is answered (upgraded or not)', async () => {
  const r = await curl(['--http2', ...JSON_H, '--data-binary', CHAT('upgrade post'), gw.url('/v1/chat/completions')]);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.choices[0].message.content, 'upgrade post');
});

test('nghttp -u (HTTP Upgrade) gets an HTTP/2 response', async () => {
  const r = await nghttp(['-v', '-u', gw.url('/health')]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /HTTP Upgrade response/i);
  assert.match(r.stdout, /"status"/);
});

test('TLS listener: ALPN h2 (curl --http2 -k)', async () => {
  const r = await curl(['--http2', '-k', ...JSON_H, '--data-binary', CHAT('over tls h2'), https('/v1/chat/completions')]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.httpVersion, '2');
  assert.equal(r.status, 200);
  assert.equal(r.json.choices[0].message.content, 'over tls h2');
});

test('TLS listener: http/1.1 fallback (curl --http1.1 -k)', async () => {
  const r = await curl(['--http1.1', '-k', ...JSON_H, '--data-binary', CHAT('over tls h1'), https('/v1/chat/completions')]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.httpVersion, '1.1');
  assert.equal(r.status, 200);
  assert.equal(r.json.choices[0].message.content, 'over tls h1');
});

test('TLS listener: serves the configured certificate (verifies with it as CA)', async () => {
  const v = await curl(['--cacert', cert, https('/health')]);
  assert.equal(v.exitCode, 0, v.stderr);
  assert.equal(v.status, 200);
  const unverified = await curl([https('/health')]);
  assert.notEqual(unverified.exitCode, 0, 'a self-signed cert must not verify without --cacert');
});

test('TLS listener: nghttp over TLS negotiates h2', async () => {
  const r = await nghttp(['-v', https('/health')]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /negotiated protocol: h2/i);
  assert.match(r.stdout, /:status: 200/);
});

test('TLS listener: plain HTTP on the TLS port is not served as HTTP', async () => {
  const r = await curl(['--http1.1', '--max-time', '3', `http://127.0.0.1:${tlsPort}/health`]);
  assert.notEqual(r.status, 200);
  assert.equal(gw.alive(), true);
});

test('several listeners: every port answers', async () => {
  for (const u of [gw.url('/health'), gw.url('/health', '127.0.0.1', plainPort2), https('/health')]) {
    const r = await curl(['-k', u]);
    assert.equal(r.status, 200, u);
  }
});

test('streaming over h2c prior knowledge (curl -N)', async () => {
  const r = await curl(['--http2-prior-knowledge', '-N', ...JSON_H, '--data-binary', CHAT('stream over h2c now', { stream: true }), gw.url('/v1/chat/completions')]);
  assert.equal(r.httpVersion, '2');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.equal(checkChatStream(parseSSE(r.body), { model: 'echo' }).text, 'stream over h2c now');
});

test('streaming over TLS h2 (curl -N)', async () => {
  const r = await curl(['--http2', '-k', '-N', ...JSON_H, '--data-binary', CHAT('stream over tls h2', { stream: true, stream_options: { include_usage: true } }), https('/v1/chat/completions')]);
  assert.equal(r.httpVersion, '2');
  assert.equal(r.status, 200);
  assert.equal(checkChatStream(parseSSE(r.body), { model: 'echo', includeUsage: true }).text, 'stream over tls h2');
});

test('h2: many concurrent streams on one connection (nghttp -m)', async () => {
  const r = await nghttp(['-n', '-v', '-m', '20', gw.url('/health')]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const n = (r.stdout.match(/:status: 200/g) || []).length;
  assert.equal(n, 20, `expected 20 responses with status 200 in:\n${r.stdout.slice(0, 3000)}`);
});

test('IPv6 listener on ::1', async (t) => {
  if (!(await ipv6LoopbackAvailable())) {
    t.skip('::1 is not configured on this machine');
    return;
  }
  const port = await freePort('::1');
  const g = await startGateway({ config: echoConfig({ workers: 1, listen: `  - address: "::1"\n    port: ${port}` }) });
  t.after(() => g.stop());
  const r = await curl(['--http1.1', ...JSON_H, '--data-binary', CHAT('over ipv6'), `http://[::1]:${port}/v1/chat/completions`]);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.choices[0].message.content, 'over ipv6');
  const h2 = await curl(['--http2-prior-knowledge', `http://[::1]:${port}/health`]);
  assert.equal(h2.httpVersion, '2');
  assert.equal(h2.status, 200);
});

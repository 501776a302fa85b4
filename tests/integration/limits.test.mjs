// max_body_bytes (SPEC sections 3 and 5): 413 with an OpenAI-shaped body, by
// Content-Length, by chunked encoding, over HTTP/2, and far over the limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startGateway, echoConfig, request, curl, isOpenAIError, tmpDir } from './lib/harness.mjs';

let gw, dir;
before(async () => {
  gw = await startGateway({ config: ({ port }) => echoConfig({ port, extra: 'max_body_bytes: 1000\n' }) });
  dir = tmpDir();
});
after(() => gw?.stop());

function bodyFile(size) {
  // a valid chat request of about `size` bytes
  const pad = Math.max(1, size - 70);
  const file = path.join(dir, `body-${size}.json`);
  fs.writeFileSync(file, JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'x'.repeat(pad) }] }));
  return file;
}

function assert413(r, what) {
  assert.equal(r.status, 413, `${what}: status ${r.status}, curl exit ${r.exitCode} ${r.stderr || ''} body ${String(r.body ?? r.text).slice(0, 200)}`);
  assert.match(r.headers['content-type'] ?? r.headers.get?.('content-type') ?? '', /^application\/json/, `${what}: content-type`);
  assert.ok(isOpenAIError(r.json), `${what}: not an OpenAI error: ${String(r.body ?? r.text).slice(0, 300)}`);
  assert.ok(r.headers['x-request-id'] ?? r.headers.get?.('x-request-id'), `${what}: no x-request-id`);
}

async function assertAlive(workers) {
  const h = await request(gw.url('/health'));
  assert.equal(h.status, 200);
  assert.deepEqual(gw.workerPids(), workers, 'a worker was replaced');
}

const chatUrl = () => gw.url('/v1/chat/completions');
const JSON_H = ['-H', 'content-type: application/json'];

test('a body under the limit is served', async () => {
  const r = await curl(['--http1.1', ...JSON_H, '--data-binary', `@${bodyFile(600)}`, chatUrl()]);
  assert.equal(r.status, 200, r.body);
});

test('413 for a 5 KB body with Content-Length (HTTP/1.1)', async () => {
  const w = gw.workerPids();
  const r = await curl(['--http1.1', ...JSON_H, '-H', 'Expect:', '--data-binary', `@${bodyFile(5000)}`, chatUrl()]);
  assert413(r, 'content-length');
  await assertAlive(w);
});

test('413 for a 5 KB body with Expect: 100-continue (HTTP/1.1)', async () => {
  const r = await curl(['--http1.1', ...JSON_H, '-H', 'Expect: 100-continue', '--data-binary', `@${bodyFile(5000)}`, chatUrl()]);
  assert413(r, 'expect 100-continue');
});

test('413 for a 5 KB body sent chunked (HTTP/1.1)', async () => {
  const w = gw.workerPids();
  const r = await curl(['--http1.1', ...JSON_H, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${bodyFile(5000)}`, chatUrl()]);
  assert413(r, 'chunked');
  await assertAlive(w);
});

test('413 for a 3 MB body (HTTP/1.1)', async () => {
  const w = gw.workerPids();
  const r = await curl(['--http1.1', ...JSON_H, '--data-binary', `@${bodyFile(3 * 1024 * 1024)}`, chatUrl()]);
  assert413(r, '3 MB');
  await assertAlive(w);
});

test('413 for a 3 MB body sent chunked without Expect (HTTP/1.1)', async () => {
  const r = await curl(['--http1.1', ...JSON_H, '-H', 'Expect:', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${bodyFile(3 * 1024 * 1024)}`, chatUrl()]);
  assert413(r, '3 MB chunked');
});

test('413 for a 5 KB and a 3 MB body over h2c', async () => {
  for (const size of [5000, 3 * 1024 * 1024]) {
    const r = await curl(['--http2-prior-knowledge', ...JSON_H, '--data-binary', `@${bodyFile(size)}`, chatUrl()]);
    assert413(r, `h2c ${size}`);
    assert.equal(r.httpVersion, '2');
  }
});

test('413 with fetch, and the connection is usable afterwards', async () => {
  const big = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'y'.repeat(5000) }] });
  const r = await request(chatUrl(), { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 413, r.text);
  assert.ok(isOpenAIError(r.json), r.text);
  const ok = await request(chatUrl(), { method: 'POST', body: { model: 'echo', messages: [{ role: 'user', content: 'after' }] } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.choices[0].message.content, 'after');
});

test('the limit applies to the body, not to headers: exactly at the limit is accepted', async () => {
  const base = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: '' }] });
  const body = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'z'.repeat(1000 - base.length) }] });
  assert.equal(body.length, 1000);
  const r = await request(chatUrl(), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  const over = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'z'.repeat(1001 - base.length) }] });
  const r2 = await request(chatUrl(), { method: 'POST', body: over, headers: { 'content-type': 'application/json' } });
  assert.equal(r2.status, 413, r2.text);
});

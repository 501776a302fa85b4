// CORS (SPEC sections 3 and 5).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, echoConfig, curl } from './lib/harness.mjs';

const gateways = [];
after(async () => { for (const g of gateways) await g.stop(); });
async function gateway(extra) {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra }) });
  gateways.push(g);
  return g;
}

const CHAT = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'cors' }] });
const post = (g, origin, p = '/v1/chat/completions') =>
  curl(['-H', `Origin: ${origin}`, '-H', 'content-type: application/json', '--data-binary', CHAT, g.url(p)]);
const preflight = (g, origin, p = '/v1/chat/completions', reqHeaders = 'authorization, content-type, x-custom-thing') =>
  curl(['-X', 'OPTIONS', '-H', `Origin: ${origin}`, '-H', 'Access-Control-Request-Method: POST',
    '-H', `Access-Control-Request-Headers: ${reqHeaders}`, g.url(p)]);

test('default (allow_origins ["*"]): responses carry Access-Control-Allow-Origin: *', async () => {
  const g = await gateway('');
  const r = await post(g, 'https://any.example');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['access-control-allow-origin'], '*');
  const h = await curl(['-H', 'Origin: https://any.example', g.url('/health')]);
  assert.equal(h.headers['access-control-allow-origin'], '*');
  const e = await curl(['-H', 'Origin: https://any.example', g.url('/nope')]);
  assert.equal(e.status, 404);
  assert.equal(e.headers['access-control-allow-origin'], '*', 'error responses need CORS too, or browsers cannot read them');
});

test('default: OPTIONS preflight on any path is 204 with the CORS headers', async () => {
  const g = await gateway('');
  for (const p of ['/v1/chat/completions', '/chat/completions', '/', '/health', '/v1/models', '/some/unknown/path']) {
    const r = await preflight(g, 'https://any.example', p, 'authorization, content-type, x-custom-thing');
    assert.equal(r.status, 204, `OPTIONS ${p}`);
    assert.equal(r.headers['access-control-allow-origin'], '*', `OPTIONS ${p}`);
    assert.match(r.headers['access-control-allow-methods'] || '', /\bPOST\b/, `OPTIONS ${p}`);
    assert.equal(r.headers['access-control-allow-headers'], 'authorization, content-type, x-custom-thing', `OPTIONS ${p}`);
    assert.equal(r.headers['access-control-max-age'], '86400', `OPTIONS ${p}`);
    assert.ok(r.headers['x-request-id'], `OPTIONS ${p}: x-request-id`);
    assert.equal(r.body, '', `OPTIONS ${p}: 204 has no body`);
  }
});

test('default: Access-Control-Allow-Headers echoes whatever the browser asked for', async () => {
  const g = await gateway('');
  const r = await preflight(g, 'https://any.example', '/v1/chat/completions', 'x-stainless-os,x-stainless-lang,openai-organization');
  assert.equal(r.status, 204);
  assert.equal(r.headers['access-control-allow-headers'], 'x-stainless-os,x-stainless-lang,openai-organization');
});

test('allow_origins [https://a.example]: that origin is echoed with Vary: Origin', async () => {
  const g = await gateway('cors:\n  allow_origins: ["https://a.example"]\n');
  const r = await post(g, 'https://a.example');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['access-control-allow-origin'], 'https://a.example');
  assert.match(r.headers.vary || '', /\bOrigin\b/i);
  const p = await preflight(g, 'https://a.example');
  assert.equal(p.status, 204);
  assert.equal(p.headers['access-control-allow-origin'], 'https://a.example');
  assert.match(p.headers.vary || '', /\bOrigin\b/i);
  assert.equal(p.headers['access-control-max-age'], '86400');
});

test('allow_origins [https://a.example]: another origin gets no Access-Control-Allow-Origin', async () => {
  const g = await gateway('cors:\n  allow_origins: ["https://a.example"]\n');
  const r = await post(g, 'https://evil.example');
  assert.equal(r.status, 200, 'CORS is not access control: the request itself is still served');
  assert.equal(r.headers['access-control-allow-origin'], undefined);
  const p = await preflight(g, 'https://evil.example');
  assert.equal(p.headers['access-control-allow-origin'], undefined);
  const sub = await post(g, 'https://a.example.evil.example');
  assert.equal(sub.headers['access-control-allow-origin'], undefined);
});

test('allow_origins []: no CORS headers at all', async () => {
  const g = await gateway('cors:\n  allow_origins: []\n');
  const rs = [await post(g, 'https://a.example'), await preflight(g, 'https://a.example'), await curl(['-H', 'Origin: https://a.example', g.url('/health')])];
  assert.equal(rs[0].status, 200);
  for (const r of rs) {
    const cors = Object.keys(r.headers).filter((k) => k.startsWith('access-control-'));
    assert.deepEqual(cors, [], `unexpected CORS headers: ${cors}`);
  }
});

// Regression tests for the security review (docs/security.md): a client that
// the access-token check skipped (it was routed to a passthrough provider)
// never reaches the pool's keys through a fallback, and a client's credential
// never goes to a passthrough provider it was not routed to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, chat } from './lib/harness.mjs';
import { rnd } from './lib/upstream.mjs';

const GATE = `sk-gate-${rnd()}`;
const POOL_KEY = `sk-pool-${rnd()}`;
const POOL_KEY2 = `sk-pooltwo-${rnd()}`;
let mock, gw;

before(async () => {
  mock = await startMock();
  const m = mock.port;
  gw = await startGateway({
    config: ({ port }) => `listen: [{address: 127.0.0.1, port: ${port}}]
workers: 1
access_tokens: [${GATE}]
providers:
  - {name: pt, type: openai, base_url: "http://127.0.0.1:${m}/s/fault=500/v1", auth: passthrough, models: ["pt-*"], fallback: [pool]}
  - {name: pool, type: openai, base_url: "http://127.0.0.1:${m}/v1", keys: [${POOL_KEY}], models: ["pool-*"]}
  - {name: pooled, type: openai, base_url: "http://127.0.0.1:${m}/s/fault=500/v1", keys: [${POOL_KEY2}], models: ["p2-*"], fallback: [pt2]}
  - {name: pt2, type: openai, base_url: "http://127.0.0.1:${m}/v1", auth: passthrough, models: ["pt2-*"]}
`,
  });
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const body = (model, tag) => ({ model, messages: [{ role: 'user', content: `security ${tag}` }] });

test('a client routed to a passthrough provider does not reach the pool through its fallback', async () => {
  const tag = rnd();
  const r = await chat(gw, body('pt-model', tag), { token: 'sk-not-a-gateway-token' });
  assert.equal(r.status, 502, r.text);
  const seen = (await mock.record()).filter((e) => e.event === 'request' && (e.body || '').includes(tag));
  assert.equal(seen.length, 1, `upstream requests: ${JSON.stringify(seen.map((e) => e.key))}`);
  assert.equal(seen[0].key, 'sk-not-a-gateway-token');
  assert.ok(!seen.some((e) => e.key === POOL_KEY), 'the pool key was used for an unauthenticated client');
});

test('a gateway access token is never sent to a passthrough provider reached as a fallback', async () => {
  const tag = rnd();
  const r = await chat(gw, body('p2-model', tag), { token: GATE });
  assert.equal(r.status, 502, r.text);
  const seen = (await mock.record()).filter((e) => e.event === 'request' && (e.body || '').includes(tag));
  assert.ok(seen.length >= 1, 'the routed provider was not tried');
  assert.ok(seen.every((e) => e.key === POOL_KEY2), `keys seen upstream: ${JSON.stringify(seen.map((e) => e.key))}`);
  assert.ok(!JSON.stringify(seen).includes(GATE), 'the gateway token reached an upstream');
});

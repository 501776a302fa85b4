// Client access tokens (SPEC sections 3 and 5): Bearer and x-api-key, 401
// codes, WWW-Authenticate, env tokens, open gateway, secrets never logged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, echoConfig, request, chat, isOpenAIError } from './lib/harness.mjs';

const ALPHA = 'sk-gate-alpha-7f3a9c';
const BETA = 'sk-gate-beta-51d2e8';
const WRONG = 'sk-wrong-secret-0b4d6e';
const body = (content = 'authorized') => ({ model: 'echo', messages: [{ role: 'user', content }] });

// debug: the most the gateway ever logs, and one access line per request
// (ending "id=<x-request-id>"), which tells when a request's lines are all out
let gw;
before(async () => {
  gw = await startGateway({
    config: ({ port }) => echoConfig({ port, extra: `access_tokens:\n  - ${ALPHA}\n  - token: ${BETA}\n    name: team-beta\n` }),
    env: { LLMGATE_LOG_LEVEL: 'debug' },
  });
});
after(() => gw?.stop());

function assert401(r, code) {
  assert.equal(r.status, 401, r.text);
  assert.ok(isOpenAIError(r.json), r.text);
  assert.equal(r.json.error.code, code);
  assert.match(r.headers.get('www-authenticate') || '', /^Bearer\b/);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  assert.ok(r.headers.get('x-request-id'));
}

test('no token: 401 missing_api_key with WWW-Authenticate: Bearer', async () => {
  assert401(await chat(gw, body()), 'missing_api_key');
});

test('wrong Bearer token: 401 invalid_api_key', async () => {
  assert401(await chat(gw, body(), { token: WRONG }), 'invalid_api_key');
});

test('wrong x-api-key: 401 invalid_api_key', async () => {
  assert401(await chat(gw, body(), { headers: { 'x-api-key': WRONG } }), 'invalid_api_key');
});

test('a prefix or extension of a valid token is rejected', async () => {
  assert401(await chat(gw, body(), { token: ALPHA.slice(0, -1) }), 'invalid_api_key');
  assert401(await chat(gw, body(), { token: `${ALPHA}x` }), 'invalid_api_key');
});

test('an Authorization header that is not Bearer is rejected', async () => {
  const r = await chat(gw, body(), { headers: { authorization: `Basic ${Buffer.from(`u:${ALPHA}`).toString('base64')}` } });
  assert.equal(r.status, 401, r.text);
  assert.match(r.headers.get('www-authenticate') || '', /^Bearer\b/);
});

test('valid Bearer tokens (bare and named) are accepted', async () => {
  for (const tok of [ALPHA, BETA]) {
    const r = await chat(gw, body(`hi ${tok.slice(8, 12)}`), { token: tok });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, `hi ${tok.slice(8, 12)}`);
  }
});

test('valid x-api-key tokens are accepted', async () => {
  for (const tok of [ALPHA, BETA]) {
    const r = await chat(gw, body('via x-api-key'), { headers: { 'x-api-key': tok } });
    assert.equal(r.status, 200, r.text);
  }
});

test('streaming requests need a token too', async () => {
  assert401(await chat(gw, { ...body(), stream: true }), 'missing_api_key');
  const r = await chat(gw, { ...body('s t'), stream: true }, { token: ALPHA });
  assert.equal(r.status, 200);
  assert.match(r.text, /data: \[DONE\]/);
});

test('/chat/completions and POST / are guarded as well', async () => {
  for (const p of ['/chat/completions', '/']) {
    assert401(await chat(gw, body(), { path: p }), 'missing_api_key');
    assert.equal((await chat(gw, body(), { path: p, token: ALPHA })).status, 200);
  }
});

test('/health, GET / and OPTIONS need no token', async () => {
  assert.equal((await request(gw.url('/health'))).status, 200);
  assert.equal((await request(gw.url('/'))).status, 200);
  const o = await request(gw.url('/v1/chat/completions'), {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
  });
  assert.equal(o.status, 204);
});

test('no token secret (valid or presented-but-wrong) appears in the logs', async () => {
  // exercise every path once more, then wait for each request's access line
  // (the last line a request logs) so that everything they logged is in
  const rid = (i) => `auth-log-${i}-${Date.now()}`;
  const ids = [];
  const tagged = (i, h = {}) => { ids.push(rid(i)); return { ...h, 'x-request-id': ids[ids.length - 1] }; };
  assert.equal((await chat(gw, body(), { token: ALPHA, headers: tagged(1) })).status, 200);
  assert.equal((await chat(gw, body(), { headers: tagged(2, { 'x-api-key': BETA }) })).status, 200);
  assert.equal((await chat(gw, body(), { token: WRONG, headers: tagged(3) })).status, 401);
  assert.equal((await chat(gw, body(), { headers: tagged(4, { 'x-api-key': `${WRONG}-xk` }) })).status, 401);
  assert.equal((await chat(gw, { model: 'nope-model', messages: [] }, { token: ALPHA, headers: tagged(5) })).status, 404);
  for (const id of ids) await gw.waitLog(`id=${id}`, 30000);
  const logs = gw.logs();
  assert.match(logs, /listening on/, 'logs were not captured');
  assert.ok(!logs.includes(ALPHA), 'valid token ALPHA appears in the logs');
  assert.ok(!logs.includes(BETA), 'valid token BETA appears in the logs');
  assert.ok(!logs.includes(WRONG), 'a presented wrong token appears in the logs');
});

test('env API_ACCESS_TOKENS and TOKEN add tokens to the configured ones', async (t) => {
  const g = await startGateway({
    config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens: [${ALPHA}]\n` }),
    env: { API_ACCESS_TOKENS: 'sk-env-one,sk-env-two', TOKEN: 'sk-env-three' },
  });
  t.after(() => g.stop());
  for (const tok of [ALPHA, 'sk-env-one', 'sk-env-two', 'sk-env-three']) {
    const r = await chat(g, body(), { token: tok });
    assert.equal(r.status, 200, `${tok}: ${r.text}`);
  }
  assert401(await chat(g, body(), { token: 'sk-env-four' }), 'invalid_api_key');
  assert401(await chat(g, body()), 'missing_api_key');
  assert.ok(!g.logs().includes('sk-env-'), 'an env token appears in the logs');
});

test('env TOKEN alone closes an otherwise open gateway', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1 }), env: { TOKEN: 'sk-only-env' } });
  t.after(() => g.stop());
  assert401(await chat(g, body()), 'missing_api_key');
  assert.equal((await chat(g, body(), { headers: { 'x-api-key': 'sk-only-env' } })).status, 200);
});

test('with no tokens configured the gateway is open (any or no Authorization)', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1 }) });
  t.after(() => g.stop());
  const a = await chat(g, body('open'));
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.choices[0].message.content, 'open');
  const b = await chat(g, body('open'), { token: 'anything-at-all' });
  assert.equal(b.status, 200, b.text);
});

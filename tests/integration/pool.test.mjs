// The shared-memory pool seen from outside (SPEC sections 3, 5, 6; docs/metrics.md,
// docs/key-health.md): token auth, rpm exact across workers, model allowlists,
// /metrics exact across workers and well-formed, /admin/keys, /health key
// counts, counters and rpm windows across SIGHUP, and no secret anywhere.
//
// Every response seen by this file is recorded; the last test checks that none
// of them, no /metrics or /admin/keys body and no gateway log holds a secret.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  startGateway, echoConfig, request, curl, http1, isOpenAIError, parsePrometheus, metricValue, sleep, waitFor,
} from './lib/harness.mjs';

// ---- secrets (random tails, so that a fragment of one is recognisable) -------

const rnd = () => crypto.randomBytes(8).toString('hex');
const S = {
  bare: `sk-gate-bare-${rnd()}`,
  teamx: `sk-gate-teamx-${rnd()}`,
  rpmA: `sk-gate-rpma-${rnd()}`,
  rpmB: `sk-gate-rpmb-${rnd()}`,
  limited: `sk-gate-limited-${rnd()}`,
  limited2: `sk-gate-limited2-${rnd()}`,
  admin: `sk-admin-${rnd()}`,
  envA: `sk-env-a-${rnd()}`,
  envB: `sk-env-b-${rnd()}`,
  envC: `sk-env-c-${rnd()}`,
  up1: `sk-up-secret-1-${rnd()}`,
  up2: `sk-up-secret-2-${rnd()}`,
  upEnv1: `sk-up-env-1-${rnd()}`,
  upEnv2: `sk-up-env-2-${rnd()}`,
  meter: `sk-gate-meter-${rnd()}`,
  badjson: `sk-gate-badjson-${rnd()}`,
  reloadA: `sk-gate-reload-a-${rnd()}`,
  reloadB: `sk-gate-reload-b-${rnd()}`,
  reloadC: `sk-gate-reload-c-${rnd()}`,
  reloadR: `sk-gate-reload-r-${rnd()}`,
  reloadAdmin: `sk-admin-reload-${rnd()}`,
  reloadAdminBroken: `sk-admin-broken-${rnd()}`,
  k1: `sk-up-k1-${rnd()}`,
  k2: `sk-up-k2-${rnd()}`,
  k3: `sk-up-k3-${rnd()}`,
  wrong: `sk-wrong-${rnd()}`,
};

// Every fragment that would betray a secret: the whole string and each 10-char
// window of its 16-hex random tail.
const FRAGMENTS = Object.entries(S).flatMap(([name, s]) => {
  const tail = s.slice(-16);
  const out = [[name, s]];
  for (let i = 0; i + 10 <= tail.length; i++) out.push([name, tail.slice(i, i + 10)]);
  return out;
});
function secretsIn(text) {
  return [...new Set(FRAGMENTS.filter(([, f]) => text.includes(f)).map(([name]) => name))];
}

// ---- recording clients -----------------------------------------------------

const seen = []; // {what, text}: every response (status, headers, body)
const gateways = []; // every gateway started here (their logs are checked last)

function headersText(h) {
  if (!h) return '';
  if (typeof h.entries === 'function') return [...h.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
  return Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\n');
}
function record(what, r) {
  seen.push({ what, text: `${r.status}\n${headersText(r.headers)}\n\n${r.text ?? r.body ?? ''}` });
  return r;
}
const req = async (url, opts = {}) => record(`${opts.method || 'GET'} ${url}`, await request(url, opts));
const h1 = async (port, opts) => {
  const r = record(`h1 ${opts.method} ${opts.path}`, await http1(port, opts));
  try { r.json = JSON.parse(r.body); } catch { /* not JSON */ }
  return r;
};
const curlReq = async (args) => record(`curl ${args[args.length - 1]}`, await curl(args)); // no header values: they hold tokens

async function start(opts) {
  const g = await startGateway(opts);
  gateways.push(g);
  return g;
}

const msg = (content = 'hello pool', model = 'echo') => ({ model, messages: [{ role: 'user', content }] });
const chatAs = (g, token, body = msg(), { header = 'bearer', ...opts } = {}) => req(g.url('/v1/chat/completions'), {
  method: 'POST', body, ...opts,
  ...(token === undefined ? {} : header === 'bearer' ? { token } : { headers: { 'x-api-key': token } }),
});
const adminKeys = async (g, token) => {
  const r = await req(g.url('/admin/keys'), { token });
  assert.equal(r.status, 200, `/admin/keys: ${r.text}`);
  assert.ok(Array.isArray(r.json?.keys) && Array.isArray(r.json?.tokens), `/admin/keys: ${r.text.slice(0, 300)}`);
  return r.json;
};
const tokenEntry = (keys, id) => keys.tokens.find((t) => t.id === id);
async function scrape(g) {
  const r = await req(g.url('/metrics'));
  assert.equal(r.status, 200, r.text);
  const m = parsePrometheus(r.text);
  assert.deepEqual(m.errors.slice(0, 10), [], 'the /metrics body is not valid Prometheus text');
  return m;
}

function assert401(r, code) {
  assert.equal(r.status, 401, r.text);
  assert.ok(isOpenAIError(r.json), r.text);
  assert.equal(r.json.error.code, code);
  assert.match(r.headers.get('www-authenticate') || '', /^Bearer\b/);
}

function assert429(r, maxRetryAfter, what) {
  assert.equal(r.status, 429, `${what}: ${r.body ?? r.text}`);
  const ra = r.headers['retry-after'] ?? r.headers.get?.('retry-after');
  assert.match(String(ra), /^\d+$/, `${what}: Retry-After ${ra}`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= maxRetryAfter, `${what}: Retry-After ${ra} not in 1..${maxRetryAfter}`);
  assert.ok(isOpenAIError(r.json), `${what}: ${r.body ?? r.text}`);
  assert.match(r.headers['content-type'] ?? r.headers.get?.('content-type') ?? '', /^application\/json/);
}

// Runs fn over items, `n` at a time; results in order.
async function parallel(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
  }));
  return out;
}

const tally = (xs) => xs.reduce((a, x) => { a[x] = (a[x] || 0) + 1; return a; }, {});

// ---- the main gateway: 4 workers, tokens of every kind, an openai provider ---

const mainConfig = ({ port }) => `listen:
  - address: 127.0.0.1
    port: ${port}
workers: 4
admin_token: ${S.admin}
access_tokens:
  - ${S.bare}
  - token: ${S.teamx}
    name: team-x
  - token: ${S.rpmA}
    name: rpm-a
    rpm: 5
  - token: ${S.rpmB}
    name: rpm-b
    rpm: 5
  - token: ${S.limited}
    name: limited
    models: ["echo"]
  - token: ${S.limited2}
    name: limited-2
    models: ["echo"]
providers:
  - name: up
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    keys: [${S.up1}, ${S.up2}]
    models: ["gpt-*"]
  - name: echo
    type: echo
    models: [echo, "echo-*"]
`;

let gw;
before(async () => {
  gw = await start({ config: mainConfig, env: { API_ACCESS_TOKENS: `${S.envA},${S.envB}`, TOKEN: S.envC } });
});
after(() => gw?.stop());

// ---- 1. token auth ---------------------------------------------------------

test('token auth via the pool: Bearer and x-api-key, config and env tokens; 401 missing/invalid', async () => {
  assert.equal(gw.workerPids().length, 4, 'the main gateway should run 4 workers');
  // bare config token: 1 request, env tokens: 2, 3 and 4 (told apart by their counts below)
  const plan = [['bare', S.bare, 1], ['API_ACCESS_TOKENS[0]', S.envA, 2], ['API_ACCESS_TOKENS[1]', S.envB, 3], ['TOKEN', S.envC, 4]];
  let n = 0;
  for (const [what, tok, count] of plan) {
    for (let i = 0; i < count; i++, n++) {
      const header = n % 2 ? 'x-api-key' : 'bearer';
      const r = await chatAs(gw, tok, msg(`auth ${n}`), { header });
      assert.equal(r.status, 200, `${what} via ${header}: ${r.text}`);
      assert.equal(r.json.choices[0].message.content, `auth ${n}`);
    }
  }
  for (const header of ['bearer', 'x-api-key']) {
    const r = await chatAs(gw, S.teamx, msg(`team-x via ${header}`), { header });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, `team-x via ${header}`);
  }
  assert401(await chatAs(gw, S.wrong), 'invalid_api_key');
  assert401(await chatAs(gw, S.wrong, msg(), { header: 'x-api-key' }), 'invalid_api_key');
  assert401(await chatAs(gw, undefined), 'missing_api_key');
  assert401(await chatAs(gw, S.envA.slice(0, -1)), 'invalid_api_key');

  const keys = await adminKeys(gw, S.admin);
  assert.equal(tokenEntry(keys, 'team-x')?.requests, 2, JSON.stringify(keys.tokens));
  const unnamed = keys.tokens.filter((t) => t.name === null);
  assert.equal(unnamed.length, 4, `1 bare config token + 3 env tokens, got ${JSON.stringify(unnamed)}`);
  for (const t of unnamed) assert.match(t.id, /^token-[0-9a-f]{8}$/);
  assert.deepEqual(unnamed.map((t) => t.requests).sort(), [1, 2, 3, 4], 'each token counts its own requests');
  const m = await scrape(gw);
  assert.equal(metricValue(m, 'llmgate_token_requests_total', { token: 'team-x' }), 2);
  for (const t of unnamed) assert.equal(metricValue(m, 'llmgate_token_requests_total', { token: t.id }), t.requests);
});

// ---- 2. rpm exact across workers ---------------------------------------------

// `n` simultaneous chat requests with `token`, each by its own curl process
// (its own connection, so they spread over the workers).
function burst(g, token, n) {
  const body = JSON.stringify(msg('burst'));
  return Promise.all(Array.from({ length: n }, () => curlReq([
    '--http1.1', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${token}`,
    '--data-binary', body, g.url('/v1/chat/completions'),
  ])));
}

// How many requests GCRA (pool/tokens.c) may admit for an idle token of `rpm`
// within `ms`: the burst of rpm, plus one per emission interval 60 s / rpm.
// Under 60 / rpm seconds (12 s for rpm 5, the usual case by far) that is exactly
// rpm; on a machine so slow that the requests spread over longer, a refill is
// the design, not a bug (issue 12: the outcome must not depend on the pace).
const gcraMax = (rpm, ms) => rpm + Math.floor(ms / (60000 / rpm));

test('rpm 5 across 4 workers: 8 simultaneous requests give exactly 5 x 200 and 3 x 429; tokens are independent', async () => {
  const tA = performance.now();
  const a = await burst(gw, S.rpmA, 8);
  // rpm-a is still limited (asked right after its burst), an unlimited token is not
  const again = await chatAs(gw, S.rpmA);
  const spanA = performance.now() - tA;
  for (const r of a) assert.equal(r.exitCode, 0, `curl failed: ${r.stderr}`);
  assert.ok([...a, again].every((r) => r.status === 200 || r.status === 429), `rpm-a: ${[...a, again].map((r) => r.status)}`);
  const okA = [...a, again].filter((x) => x.status === 200).length;
  assert.ok(okA >= 5 && okA <= gcraMax(5, spanA), `rpm-a: ${okA} of 9 admitted within ${Math.round(spanA)} ms (rpm 5)`);
  if (spanA < 12000) {
    assert.deepEqual(tally(a.map((r) => r.status)), { 200: 5, 429: 3 }, 'token rpm-a (rpm 5)');
    assert429(again, 12, 'rpm-a once more');
  }
  for (const r of a.filter((x) => x.status === 200)) assert.equal(r.json.choices[0].message.content, 'burst');
  // rpm 5: one request per 12 s
  for (const r of [...a, again].filter((x) => x.status === 429)) assert429(r, 12, 'rpm-a');
  assert.equal((await chatAs(gw, S.teamx)).status, 200);

  const tB = performance.now();
  const b = await burst(gw, S.rpmB, 8);
  const spanB = performance.now() - tB;
  for (const r of b) assert.equal(r.exitCode, 0, `curl failed: ${r.stderr}`);
  assert.ok(b.every((r) => r.status === 200 || r.status === 429), `rpm-b: ${b.map((r) => r.status)}`);
  const okB = b.filter((x) => x.status === 200).length;
  assert.ok(okB >= 5 && okB <= gcraMax(5, spanB), `rpm-b: ${okB} of 8 admitted within ${Math.round(spanB)} ms (rpm 5)`);
  if (spanB < 12000) assert.deepEqual(tally(b.map((r) => r.status)), { 200: 5, 429: 3 }, 'token rpm-b (rpm 5) must not be affected by rpm-a');
  for (const r of b.filter((x) => x.status === 429)) assert429(r, 12, 'rpm-b');

  // the counters agree with what the clients saw, exactly
  const keys = await adminKeys(gw, S.admin);
  const ta = tokenEntry(keys, 'rpm-a'), tb = tokenEntry(keys, 'rpm-b');
  assert.deepEqual([ta?.rpm, ta?.requests, ta?.rejected_rate_limited, ta?.rejected_forbidden], [5, 9, 9 - okA, 0], JSON.stringify(ta));
  assert.deepEqual([tb?.rpm, tb?.requests, tb?.rejected_rate_limited, tb?.rejected_forbidden], [5, 8, 8 - okB, 0], JSON.stringify(tb));
  const m = await scrape(gw);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'rpm-a', reason: 'rate_limited' }), 9 - okA);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'rpm-b', reason: 'rate_limited' }), 8 - okB);
  assert.equal(metricValue(m, 'llmgate_token_requests_total', { token: 'rpm-b' }), 8);
});

// ---- 3. model allowlist ------------------------------------------------------

test('model allowlist: models ["echo"] gets 403 model_not_allowed for echo-2, 200 for echo; counted as rejected_forbidden', async () => {
  // echo-2 is served (control: an unrestricted token gets it)
  const control = await chatAs(gw, S.teamx, msg('control', 'echo-2'));
  assert.equal(control.status, 200, control.text);
  for (const header of ['bearer', 'x-api-key']) {
    const r = await chatAs(gw, S.limited, msg('nope', 'echo-2'), { header });
    assert.equal(r.status, 403, `${header}: ${r.text}`);
    assert.ok(isOpenAIError(r.json), r.text);
    assert.equal(r.json.error.code, 'model_not_allowed');
  }
  const ok = await chatAs(gw, S.limited, msg('allowed', 'echo'));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.choices[0].message.content, 'allowed');

  const t = tokenEntry(await adminKeys(gw, S.admin), 'limited');
  assert.ok(t, 'token "limited" missing from /admin/keys');
  assert.equal(t.rejected_forbidden, 2, JSON.stringify(t));
  assert.equal(t.rejected_rate_limited, 0, JSON.stringify(t));
  const m = await scrape(gw);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'limited', reason: 'forbidden' }), 2);
});

test('a request refused with 403 still counts in the token\'s requests ("admitted or not", docs/metrics.md)', async () => {
  const r403 = await chatAs(gw, S.limited2, msg('nope', 'echo-7'));
  assert.equal(r403.status, 403, r403.text);
  const r200 = await chatAs(gw, S.limited2, msg('yes', 'echo'));
  assert.equal(r200.status, 200, r200.text);
  const t = tokenEntry(await adminKeys(gw, S.admin), 'limited-2');
  assert.equal(t?.rejected_forbidden, 1, JSON.stringify(t));
  assert.equal(t?.requests, 2, `both requests were authenticated with limited-2: ${JSON.stringify(t)}`);
  const m = await scrape(gw);
  assert.equal(metricValue(m, 'llmgate_token_requests_total', { token: 'limited-2' }), 2);
});

// ---- 5. /admin/keys ------------------------------------------------------------

const KEY_FIELDS = ['provider', 'id', 'state', 'cooldown_remaining_ms', 'requests', 'success', 'rate_limited', 'auth',
  'payment', 'server', 'network', 'client', 'cancelled', 'consecutive_failures', 'in_flight', 'last_status',
  'prompt_tokens', 'completion_tokens'];
const TOKEN_FIELDS = ['id', 'name', 'rpm', 'requests', 'rejected_rate_limited', 'rejected_forbidden', 'prompt_tokens',
  'completion_tokens'];

test('/admin/keys is 404 without admin_token, with or without an Authorization header', async (t) => {
  const g = await start({ config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens: [${S.teamx}]\n` }) });
  t.after(() => g.stop());
  for (const token of [undefined, S.teamx, S.admin]) {
    const r = await req(g.url('/admin/keys'), { token });
    assert.equal(r.status, 404, `token ${token ? 'given' : 'none'}: ${r.text}`);
    assert.ok(isOpenAIError(r.json), r.text);
  }
  assert.equal((await chatAs(g, S.teamx)).status, 200, 'the gateway itself works');
});

test('/admin/keys with admin_token: 401 without or with a wrong token, 200 JSON with keys and tokens', async () => {
  for (const [what, opts] of [
    ['no header', {}],
    ['wrong bearer', { token: S.wrong }],
    ['an access token', { token: S.teamx }],
    ['admin token not as Bearer', { headers: { authorization: `Basic ${Buffer.from(`admin:${S.admin}`).toString('base64')}` } }],
    ['admin token with a suffix', { token: `${S.admin}x` }],
  ]) {
    const r = await req(gw.url('/admin/keys'), opts);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.ok(isOpenAIError(r.json), `${what}: ${r.text}`);
  }
  const r = await req(gw.url('/admin/keys'), { token: S.admin });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  const { keys, tokens } = r.json;

  assert.equal(keys.length, 2, JSON.stringify(keys));
  for (const k of keys) {
    assert.deepEqual(KEY_FIELDS.filter((f) => !(f in k)), [], `fields missing in ${JSON.stringify(k)}`);
    assert.equal(k.provider, 'up');
    assert.match(k.id, /^up-[0-9a-f]{8}$/);
    assert.equal(k.state, 'usable');
    assert.equal(k.requests, 0);
    assert.equal(k.in_flight, 0);
  }
  assert.notEqual(keys[0].id, keys[1].id);

  assert.equal(tokens.length, 9, `6 config tokens (one bare) + 3 env tokens: ${JSON.stringify(tokens.map((x) => x.id))}`);
  for (const tk of tokens) assert.deepEqual(TOKEN_FIELDS.filter((f) => !(f in tk)), [], `fields missing in ${JSON.stringify(tk)}`);
  for (const name of ['team-x', 'rpm-a', 'rpm-b', 'limited', 'limited-2']) {
    const tk = tokenEntry(r.json, name);
    assert.ok(tk, `token ${name} missing`);
    assert.equal(tk.name, name);
  }
  assert.equal(tokenEntry(r.json, 'rpm-a').rpm, 5);
  assert.equal(tokenEntry(r.json, 'team-x').rpm, 0);
  assert.ok(tokenEntry(r.json, 'team-x').requests >= 4, JSON.stringify(tokenEntry(r.json, 'team-x')));

  // /metrics shows the same key ids, usable
  const m = await scrape(gw);
  const metricKeys = m.samples.filter((s) => s.name === 'llmgate_key_state').map((s) => `${s.labels.provider}/${s.labels.key}=${s.value}`).sort();
  assert.deepEqual(metricKeys, keys.map((k) => `up/${k.id}=0`).sort());
});

// ---- 8. /health key counts ---------------------------------------------------

test('/health: per-provider key counts, ok with keys, degraded when a pool-auth openai provider has none', async (t) => {
  const h = await req(gw.url('/health'));
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok', h.text);
  const up = h.json.providers.find((p) => p.name === 'up');
  assert.deepEqual(up?.keys, { total: 2, usable: 2 }, h.text);
  assert.ok(h.json.providers.find((p) => p.name === 'echo'), h.text);

  const providers = (withEmptyPool) => `providers:
${withEmptyPool ? `  - name: nokeys
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    models: ["gpt-*"]
` : ''}  - name: pass
    type: openai
    auth: passthrough
    base_url: "http://127.0.0.1:9/v1"
    models: ["pt-*"]
  - name: fromenv
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    keys_env: LLG_IT_POOL_KEYS
    models: ["env-*"]
  - name: echo
    type: echo
`;
  const cfg = (withEmptyPool) => ({ port }) => `listen:\n  - address: 127.0.0.1\n    port: ${port}\nworkers: 1\n${providers(withEmptyPool)}`;
  const env = { LLG_IT_POOL_KEYS: `${S.upEnv1},${S.upEnv2}` };
  const deg = await start({ config: cfg(true), env });
  t.after(() => deg.stop());
  const d = await req(deg.url('/health'));
  assert.equal(d.status, 200, 'always 200 while serving');
  assert.equal(d.json.status, 'degraded', d.text);
  const byName = Object.fromEntries(d.json.providers.map((p) => [p.name, p.keys]));
  assert.deepEqual(byName.nokeys, { total: 0, usable: 0 }, d.text);
  assert.deepEqual(byName.fromenv, { total: 2, usable: 2 }, `keys_env keys count: ${d.text}`);

  const fine = await start({ config: cfg(false), env });
  t.after(() => fine.stop());
  const f = await req(fine.url('/health'));
  assert.equal(f.status, 200);
  assert.equal(f.json.status, 'ok', `a passthrough provider without keys is not degraded: ${f.text}`);
});

// ---- 4. /metrics exact across workers ------------------------------------------

test('/metrics counts 200 mixed requests over 4 workers exactly, in valid Prometheus text', async (t) => {
  const g = await start({
    config: ({ port }) => echoConfig({
      port, workers: 4,
      extra: `access_tokens:\n  - token: ${S.meter}\n    name: meter\n  - token: ${S.badjson}\n    name: badjson\n`,
    }),
  });
  t.after(() => g.stop());
  assert.equal(g.workerPids().length, 4);

  const kinds = [
    ...Array(90).fill('chat'), ...Array(20).fill('stream'), ...Array(40).fill('404'),
    ...Array(25).fill('400'), ...Array(13).fill('401-missing'), ...Array(12).fill('401-invalid'),
  ];
  assert.equal(kinds.length, 200);
  // shuffle (deterministically) so that every worker sees every kind
  for (let i = kinds.length - 1; i > 0; i--) { const j = (i * 7919) % (i + 1); [kinds[i], kinds[j]] = [kinds[j], kinds[i]]; }
  const json = { 'content-type': 'application/json' };
  const chatReq = (headers, body) => ({ method: 'POST', path: '/v1/chat/completions', headers: { ...json, ...headers }, body });
  // each request on a fresh connection (Connection: close), 16 at a time
  const statuses = await parallel(kinds, 16, async (kind, i) => {
    const auth = i % 2 ? { authorization: `Bearer ${S.meter}` } : { 'x-api-key': S.meter };
    const opts = {
      chat: () => chatReq(auth, JSON.stringify(msg(`m${i}`))),
      stream: () => chatReq(auth, JSON.stringify({ ...msg(`s ${i}`), stream: true })),
      404: () => ({ method: 'GET', path: `/v1/nowhere/${i}`, headers: auth }),
      400: () => chatReq({ authorization: `Bearer ${S.badjson}` }, '{"model": "echo", "messages": ['),
      '401-missing': () => chatReq({}, JSON.stringify(msg())),
      '401-invalid': () => chatReq({ authorization: `Bearer ${S.wrong}` }, JSON.stringify(msg())),
    }[kind]();
    const r = await h1(g.port, opts);
    if (kind === 'stream') assert.match(r.body, /data: \[DONE\]/, `stream ${i}`);
    return `${kind}:${r.status}`;
  });
  assert.deepEqual(tally(statuses), { 'chat:200': 90, 'stream:200': 20, '404:404': 40, '400:400': 25, '401-missing:401': 13, '401-invalid:401': 12 });

  // the counters are written as each response ends, after its last byte may
  // have reached the client (server/http.c log_access): scrape until the 200
  // requests and every earlier scrape (none/200) are counted; a scrape never
  // counts itself. Counting twice or not at all never gets there.
  let scrapes = 0, r, m, none200;
  const counted = (x) => x.samples.filter((s) => s.name === 'llmgate_requests_total' && !(s.labels.provider === 'none' && s.labels.code === '200'))
    .reduce((a, s) => a + s.value, 0);
  const none200Of = (x) => metricValue(x, 'llmgate_requests_total', { provider: 'none', code: '200' }) ?? 0;
  await waitFor(async () => {
    r = await req(g.url('/metrics'));
    scrapes++;
    m = parsePrometheus(r.text);
    none200 = none200Of(m);
    return counted(m) >= 200 && none200 === scrapes - 1 && scrapes >= 2; // >= 2: none/200 has a series
  }, { timeout: 30000, interval: 100, what: '200 requests and the earlier scrapes counted' }).catch(() => {});
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /^text\/plain/);
  assert.deepEqual(m.errors.slice(0, 10), [], 'invalid Prometheus text');
  for (const name of m.type.keys()) assert.ok(m.help.has(name), `no HELP for ${name}`);
  for (const name of m.help.keys()) assert.ok(m.type.has(name), `no TYPE for ${name}`);
  for (const name of ['llmgate_requests_total', 'llmgate_request_duration_seconds', 'llmgate_token_requests_total', 'llmgate_config_reloads_total']) {
    assert.ok(m.type.has(name), `family ${name} missing`);
  }

  // the scrapes before this one, each once
  assert.equal(none200, scrapes - 1, `none/200 is ${none200} after ${scrapes} scrapes`);
  const series = m.samples.filter((s) => s.name === 'llmgate_requests_total').map((s) => `${s.labels.provider}/${s.labels.code}=${s.value}`).sort();
  assert.deepEqual(series, ['echo/200=110', `none/200=${none200}`, 'none/400=25', 'none/401=25', 'none/404=40'].sort());
  assert.equal(metricValue(m, 'llmgate_token_requests_total', { token: 'meter' }), 110);

  for (const [provider, n] of [['echo', 110], ['none', 90 + none200]]) {
    assert.equal(metricValue(m, 'llmgate_request_duration_seconds_count', { provider }), n, `duration _count ${provider}`);
    assert.equal(metricValue(m, 'llmgate_request_duration_seconds_bucket', { provider, le: '+Inf' }), n, `duration +Inf ${provider}`);
    const buckets = m.samples.filter((s) => s.name === 'llmgate_request_duration_seconds_bucket' && s.labels.provider === provider).map((s) => s.value);
    assert.equal(buckets.length, 15, `${provider}: 15 buckets`);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], `${provider}: buckets not cumulative ${buckets}`);
    assert.ok(metricValue(m, 'llmgate_request_duration_seconds_sum', { provider }) > 0);
  }
  assert.equal(metricValue(m, 'llmgate_time_to_first_byte_seconds_count', { provider: 'echo' }), 110);
  assert.equal(metricValue(m, 'llmgate_active_streams'), 0);

  // a later scrape has counted this one, once (as soon as it is written)
  let m2;
  await waitFor(async () => { m2 = await scrape(g); scrapes++; return none200Of(m2) === scrapes - 1; },
    { timeout: 30000, interval: 100, what: 'the scrapes counted' }).catch(() => {});
  assert.equal(none200Of(m2), scrapes - 1, `none/200 after ${scrapes} scrapes`);
  assert.ok(none200Of(m2) > none200);
  assert.equal(metricValue(m2, 'llmgate_requests_total', { provider: 'echo', code: '200' }), 110);
});

// ---- 6. counters across SIGHUP -----------------------------------------------

const reloadConfig = ({ port, tokens, keys, admin = S.reloadAdmin, extra = '' }) => `listen:
  - address: 127.0.0.1
    port: ${port}
workers: 2
admin_token: ${admin}
access_tokens:
${tokens.map(([tok, name, rpm]) => `  - token: ${tok}\n    name: ${name}\n${rpm ? `    rpm: ${rpm}\n` : ''}`).join('')}providers:
  - name: up
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    keys: [${keys.join(', ')}]
    models: ["gpt-*"]
  - name: echo
    type: echo
${extra}`;

test('SIGHUP keeps the counters of kept tokens and keys, adds new ones at 0, drops removed ones; rpm windows survive', async (t) => {
  // tok-r: rpm 1 (GCRA: one request, then one per 60 s), so that its window
  // outlives even a slow reload; rpm 3 was one per 20 s
  const A = [S.reloadA, 'tok-a'], B = [S.reloadB, 'tok-b'], C = [S.reloadC, 'tok-c'], R = [S.reloadR, 'tok-r', 1];
  const g = await start({ config: ({ port }) => reloadConfig({ port, tokens: [A, C, R], keys: [S.k1, S.k2] }) });
  t.after(() => g.stop());

  for (let i = 0; i < 5; i++) assert.equal((await chatAs(g, S.reloadA, msg(`a${i}`), { header: i % 2 ? 'x-api-key' : 'bearer' })).status, 200);
  assert.equal((await chatAs(g, S.reloadC)).status, 200);
  const tR = performance.now();
  assert.equal((await chatAs(g, S.reloadR)).status, 200, 'rpm 1: the first request');
  // one request through the keyed provider: port 9 refuses, so the key(s) record network failures
  const up = await chatAs(g, S.reloadA, msg('to upstream', 'gpt-4o'));
  assert.equal(up.status, 502, `upstream unreachable: ${up.text}`);
  assert.ok(isOpenAIError(up.json), up.text);

  const before = await adminKeys(g, S.reloadAdmin);
  assert.equal(tokenEntry(before, 'tok-a')?.requests, 6, JSON.stringify(before.tokens));
  assert.equal(tokenEntry(before, 'tok-c')?.requests, 1);
  assert.equal(before.keys.length, 2);
  assert.ok(before.keys.reduce((a, k) => a + k.network, 0) >= 1, `no key attempt recorded: ${JSON.stringify(before.keys)}`);
  const m0 = await scrape(g);
  assert.equal(metricValue(m0, 'llmgate_config_reloads_total', { result: 'ok' }), 0);
  assert.equal(metricValue(m0, 'llmgate_config_reloads_total', { result: 'failed' }), 0);

  // reload: token C removed, B added; key k2 removed, k3 added
  const oldWorkers = g.workerPids();
  fs.writeFileSync(g.configFile, reloadConfig({ port: g.port, tokens: [A, B, R], keys: [S.k1, S.k3] }));
  const logAt = g.logs().length;
  g.signal('SIGHUP');
  await waitFor(() => g.logs().slice(logAt).includes('configuration reloaded'), { timeout: 30000, what: '"configuration reloaded"' });
  await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !oldWorkers.includes(p)); },
    { timeout: 30000, what: 'the old workers to be replaced' });

  const afterR = await adminKeys(g, S.reloadAdmin);
  const ta = tokenEntry(afterR, 'tok-a'), tbk = tokenEntry(afterR, 'tok-b');
  assert.equal(ta?.requests, 6, `tok-a's count must survive the reload: ${JSON.stringify(ta)}`);
  assert.ok(tbk, 'tok-b added by the reload is missing');
  assert.deepEqual([tbk.requests, tbk.rejected_rate_limited, tbk.rejected_forbidden], [0, 0, 0]);
  assert.equal(tokenEntry(afterR, 'tok-c'), undefined, 'tok-c was removed by the reload');
  assert.equal(tokenEntry(afterR, 'tok-r')?.requests, 1);
  assert.deepEqual(afterR.tokens.map((x) => x.id).sort(), ['tok-a', 'tok-b', 'tok-r']);

  // keys: one id kept with all its counters, one removed, one new at 0
  assert.equal(afterR.keys.length, 2, JSON.stringify(afterR.keys));
  const oldIds = before.keys.map((k) => k.id), newIds = afterR.keys.map((k) => k.id);
  const kept = newIds.filter((id) => oldIds.includes(id));
  assert.equal(kept.length, 1, `exactly k1 is kept: before ${oldIds}, after ${newIds}`);
  const strip = ({ state, cooldown_remaining_ms: c, ...rest }) => rest; // the state may move on with time
  assert.deepEqual(strip(afterR.keys.find((k) => k.id === kept[0])), strip(before.keys.find((k) => k.id === kept[0])), 'the kept key lost counters');
  const added = afterR.keys.find((k) => !oldIds.includes(k.id));
  assert.match(added.id, /^up-[0-9a-f]{8}$/);
  assert.deepEqual([added.requests, added.network, added.state], [0, 0, 'usable']);

  const m1 = await scrape(g);
  assert.equal(metricValue(m1, 'llmgate_config_reloads_total', { result: 'ok' }), 1);
  assert.equal(metricValue(m1, 'llmgate_config_reloads_total', { result: 'failed' }), 0);
  assert.equal(metricValue(m1, 'llmgate_token_requests_total', { token: 'tok-a' }), 6);
  assert.equal(metricValue(m1, 'llmgate_token_requests_total', { token: 'tok-b' }), 0);
  assert.equal(metricValue(m1, 'llmgate_token_requests_total', { token: 'tok-c' }), undefined, 'series of a removed token must disappear');
  assert.deepEqual(m1.samples.filter((s) => s.labels.key && !newIds.includes(s.labels.key)).map((s) => s.line), [],
    'series of a removed key must disappear');

  // rpm 1: used before the reload, the next is still refused (the window
  // survived) while under 60 s have passed since; a lost window would admit it
  const againR = await chatAs(g, S.reloadR);
  const sinceR = performance.now() - tR;
  if (sinceR < 60000) assert429(againR, 60, `tok-r after the reload (${Math.round(sinceR)} ms after its first request)`);
  else assert.ok([200, 429].includes(againR.status), `tok-r after ${Math.round(sinceR)} ms: ${againR.text}`);
  assert401(await chatAs(g, S.reloadC), 'invalid_api_key');
  assert.equal((await chatAs(g, S.reloadB, msg('b'))).status, 200);
  assert.equal((await chatAs(g, S.reloadA, msg('a'))).status, 200);

  // broken reloads: counted as failed, nothing changes
  const workers = g.workerPids();
  const broken = [
    ['an unknown key', { extra: 'bogus_reload_key: 1\n' }],
    ['a secret of the wrong type', { admin: `[${S.reloadAdminBroken}]` }],
  ];
  for (const [i, [what, change]] of broken.entries()) {
    fs.writeFileSync(g.configFile, reloadConfig({ port: g.port, tokens: [A, B, R], keys: [S.k1, S.k3], ...change }));
    const at = g.logs().length;
    g.signal('SIGHUP');
    await waitFor(() => g.logs().slice(at).includes(`${g.configFile}:`), { timeout: 30000, what: `the error of the reload with ${what} logged` });
    await waitFor(async () => metricValue(await scrape(g), 'llmgate_config_reloads_total', { result: 'failed' }) === i + 1,
      { timeout: 30000, what: `reloads failed = ${i + 1}` });
  }
  const m2 = await scrape(g);
  assert.equal(metricValue(m2, 'llmgate_config_reloads_total', { result: 'failed' }), 2);
  assert.equal(metricValue(m2, 'llmgate_config_reloads_total', { result: 'ok' }), 1);
  assert.deepEqual(g.workerPids(), workers, 'a failed reload must not replace the workers');
  assert.equal((await chatAs(g, S.reloadA, msg('after broken'))).status, 200);
  const final = await adminKeys(g, S.reloadAdmin);
  assert.equal(tokenEntry(final, 'tok-a')?.requests, 8);
  assert.equal(tokenEntry(final, 'tok-b')?.requests, 1);
});

// ---- key request counts -------------------------------------------------------

test('a key\'s requests count the upstream attempts made with it, no more (docs/metrics.md llmgate_key_requests_total)', async (t) => {
  const g = await start({
    config: ({ port }) => `listen:\n  - address: 127.0.0.1\n    port: ${port}\nworkers: 1\nadmin_token: ${S.reloadAdmin}\n` +
      `providers:\n  - name: up\n    type: openai\n    base_url: "http://127.0.0.1:9/v1"\n    keys: [${S.k1}, ${S.k2}]\n    models: ["gpt-*"]\n`,
  });
  t.after(() => g.stop());
  // port 9 refuses: each of the two keys is tried once (retry.attempts 3, but only two keys), both fail
  const r = await chatAs(g, undefined, msg('to upstream', 'gpt-4o'));
  assert.equal(r.status, 502, r.text);
  const m = await scrape(g);
  const attempts = metricValue(m, 'llmgate_upstream_attempts_total', { provider: 'up', outcome: 'network' });
  assert.equal(attempts, 2, 'two upstream attempts, one per key');
  const { keys } = await adminKeys(g, S.reloadAdmin);
  assert.deepEqual(keys.map((k) => [k.network, k.in_flight]), [[1, 0], [1, 0]], JSON.stringify(keys));
  assert.deepEqual(keys.map((k) => k.requests).sort(), [1, 1], `each key was used for one attempt: ${JSON.stringify(keys)}`);
  const keyRequests = m.samples.filter((s) => s.name === 'llmgate_key_requests_total').reduce((a, s) => a + s.value, 0);
  assert.equal(keyRequests, attempts, 'llmgate_key_requests_total sums to more than the attempts made');
});

// ---- 7. no secret anywhere -----------------------------------------------------

test('no access token, admin token or upstream key appears in any log, /metrics, /admin/keys or response', async () => {
  // a last round on the main gateway, through the code paths that handle keys
  await req(gw.url('/v1/models'), { token: S.teamx });
  await chatAs(gw, S.teamx, msg('to upstream', 'gpt-4o'));
  await chatAs(gw, S.teamx, { ...msg('to upstream', 'gpt-4o-mini'), stream: true });
  await chatAs(gw, S.admin); // the admin token is not an access token
  await chatAs(gw, S.limited, msg('x', 'gpt-4o'));
  await req(gw.url('/'));
  await req(gw.url('/health'));
  await req(gw.url('/admin/keys'), { token: S.wrong });
  const metrics = await req(gw.url('/metrics'));
  assert.equal(metrics.status, 200);
  assert.deepEqual(parsePrometheus(metrics.text).errors.slice(0, 10), [], 'invalid Prometheus text on the main gateway');
  const admin = await req(gw.url('/admin/keys'), { token: S.admin });
  assert.equal(admin.status, 200);
  assert.ok(admin.json.keys.some((k) => k.requests > 0), `the upstream keys were never used: ${admin.text}`);
  await sleep(300); // let the logs flush

  // the recording is not empty, and the checker does see a secret
  assert.ok(seen.length > 250, `only ${seen.length} responses recorded`);
  assert.ok(seen.some((s) => s.text.includes('llmgate_requests_total')) && seen.some((s) => s.text.includes('"tokens"')));
  assert.deepEqual(secretsIn(`x ${S.k2.slice(-12)} y`), ['k2']);

  for (const s of seen) {
    const found = secretsIn(s.text);
    assert.deepEqual(found, [], `${found.join(', ')} in the response to ${s.what.slice(0, 200)}:\n${s.text.slice(0, 1000)}`);
  }
  assert.ok(gateways.length >= 5);
  for (const g of gateways) {
    const logs = g.logs();
    assert.match(logs, /listening on/, 'logs were not captured');
    const found = secretsIn(logs);
    assert.deepEqual(found, [], `${found.join(', ')} in the log of the gateway on port ${g.port}:\n${logs.slice(-3000)}`);
  }
});

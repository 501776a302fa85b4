// What a cluster shares beyond key health (docs/cluster.md, issue 16): three
// llmgate instances on one real redis-server (with a password) apply one
// access-token rpm between them (concurrent load on all three admits the
// burst once, within the documented overshoot, and Retry-After is right),
// one requests_per_day quota, and keep usage by day in Redis (the totals
// survive restarting every instance); with Redis gone each instance applies
// its own rpm, and what it admitted meanwhile counts once Redis is back; a key
// disabled (401) on one instance is probed by that instance only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, request, waitFor } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody, mockRequests } from './lib/upstream.mjs';
import { startRedis } from './lib/redis.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const PASSWORD = `redis-pw-${rnd(12)}`;
const PREFIX = `cl-${rnd(6)}:`;

const T = {
  rpm: { token: `sk-rpm-${rnd()}`, name: 'burst', rpm: 30 },
  slow: { token: `sk-slow-${rnd()}`, name: 'slow', rpm: 3 },
  lead: { token: `sk-lead-${rnd()}`, name: 'lead', rpm: 600 },
  day: { token: `sk-day-${rnd()}`, name: 'daily', quota: '{requests_per_day: 12}' },
  use: { token: `sk-use-${rnd()}`, name: 'user' },
};
const KEYS = [mkKey('u1'), mkKey('u2')];

let mock, redis;
let gws = [];

function config(port, { prefix = PREFIX, providers, extra = [] } = {}) {
  const tokens = Object.values(T).map((t) => `  - {token: ${t.token}, name: ${t.name}${t.rpm ? `, rpm: ${t.rpm}` : ''}${t.quota ? `, quota: ${t.quota}` : ''}}`);
  return gatewayYaml({
    port, workers: 2,
    top: [
      `admin_token: ${ADMIN}`,
      'access_tokens:', ...tokens,
      ...extra,
      'cluster:',
      '  redis:',
      `    url: "redis://127.0.0.1:${redis.port}"`,
      '    password_env: LLMGATE_TEST_REDIS_PASSWORD',
      `    prefix: "${prefix}"`,
      '    timeout: 5s',
    ].join('\n'),
    providers: providers || [{ name: 'up', base: `${mock.base}/v1`, keys: KEYS, models: ['up-*'] }, { name: 'echo', type: 'echo', models: ['echo-*'] }],
  });
}

// API_ACCESS_TOKENS repeats the `user` token of the file: one token (one slot,
// one entry in Redis), whose totals must not be overwritten by its twin's
const startInstance = (opts) => startGateway({
  config: ({ port }) => config(port, opts), env: { LLMGATE_TEST_REDIS_PASSWORD: PASSWORD, API_ACCESS_TOKENS: T.use.token },
});

async function health(gw) {
  const r = await request(gw.url('/health'));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const allUp = (list) => Promise.all(list.map((gw) => waitFor(async () => (await health(gw)).cluster === 'up', { timeout: 20000, what: `cluster up on ${gw.port}` })));
const allDown = (list) => Promise.all(list.map((gw) => waitFor(async () => (await health(gw)).cluster === 'degraded', { timeout: 20000, what: `degraded on ${gw.port}` })));

async function usage(gw) {
  const r = await request(gw.url('/admin/usage'), { token: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const tokenUsage = async (gw, name) => (await usage(gw)).tokens.find((t) => t.token === name);

const post = (gw, token, model = 'up-a') => request(gw.url('/v1/chat/completions'), {
  method: 'POST', token, body: chatBody(model, `hi ${rnd()}`),
});

before(async () => {
  mock = await startMock();
  redis = await startRedis({ password: PASSWORD });
  for (let i = 0; i < 3; i++) gws.push(await startInstance());
  await allUp(gws);
});
after(async () => {
  for (const gw of gws) await gw.stop();
  await mock?.stop();
  await redis?.stop();
});

test('rpm is one limit for the cluster: 90 concurrent requests on three instances admit the burst of 30 once', async () => {
  const t0 = Date.now();
  const rs = await Promise.all(Array.from({ length: 90 }, (_, i) => post(gws[i % 3], T.rpm.token)));
  const elapsed = Date.now() - t0;
  const ok = rs.filter((r) => r.status === 200), refused = rs.filter((r) => r.status === 429);
  assert.equal(ok.length + refused.length, 90, rs.filter((r) => r.status !== 200 && r.status !== 429).map((r) => `${r.status} ${r.text}`).join('\n'));
  // GCRA: the burst (30), one more per 2 s that passed, and the documented
  // overshoot of max(2, 2% of rpm)
  const bound = 30 + Math.floor(elapsed / 2000) + 1 + 2;
  console.log(`# cluster rpm: ${ok.length} of 90 admitted in ${elapsed} ms (bound ${bound}; one instance alone would admit 30, three strangers 90)`);
  assert.ok(ok.length <= bound, `${ok.length} admitted, more than ${bound}`);
  assert.ok(ok.length >= 30 - 3, `only ${ok.length} admitted: credits were lost`);
  for (const r of refused) {
    assert.equal(r.json?.error?.code, 'rate_limit_exceeded', r.text);
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(ra >= 1 && ra <= 2, `Retry-After ${ra}: the next cell is at most 2 s away`);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '30');
  }
  for (const r of ok) assert.equal(r.headers.get('x-ratelimit-limit-requests'), '30');
  // Retry-After is right: after it, the cluster has a cell again
  const ra = Math.max(...refused.map((r) => Number(r.headers.get('retry-after'))));
  await new Promise((res) => setTimeout(res, ra * 1000));
  const again = await post(gws[1], T.rpm.token);
  assert.equal(again.status, 200, `after Retry-After (${ra} s): ${again.status} ${again.text}`);
});

test('rpm 600 under sustained load from three instances (credits taken ahead): within the GCRA plus 2%', async () => {
  // 8 loops per instance, 1,500 requests in all, as fast as they are answered
  let next = 0, ok = 0, refused = 0;
  const other = [];
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 24 }, async (_, i) => {
    while (next < 1500) {
      next++;
      const r = await post(gws[i % 3], T.lead.token, 'echo-x');
      if (r.status === 200) ok++;
      else if (r.status === 429) refused++;
      else other.push(`${r.status} ${r.text.slice(0, 200)}`);
    }
  }));
  const elapsed = Date.now() - t0;
  assert.deepEqual(other, []);
  // GCRA: the burst of 600, one per 100 ms elapsed, and the bound of 2% (12)
  const bound = 600 + Math.floor(elapsed / 100) + 1 + 12;
  console.log(`# cluster rpm 600: ${ok} admitted, ${refused} refused in ${elapsed} ms (bound ${bound})`);
  assert.ok(ok <= bound, `${ok} admitted, more than ${bound}`);
  assert.ok(ok >= 600 - 3 * 4, `only ${ok} admitted`);
});

test('requests_per_day is one quota for the cluster; over it every instance answers 429 naming it', async () => {
  for (let i = 0; i < 12; i++) {
    const r = await post(gws[i % 3], T.day.token);
    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.text}`);
    assert.equal(r.headers.get('x-ratelimit-limit-requests-day'), '12');
  }
  // each instance learns the others' counts from Redis (every 100 ms)
  for (const gw of gws) {
    await waitFor(async () => (await tokenUsage(gw, 'daily')).requests === 12, { timeout: 10000, interval: 20, what: `12 requests seen on ${gw.port}` });
    const u = await tokenUsage(gw, 'daily');
    assert.deepEqual(u.quota.requests_per_day.used, 12);
    assert.equal(u.quota.requests_per_day.remaining, 0);
  }
  const midnight = Math.floor(Date.now() / 86400000 + 1) * 86400;
  for (const gw of gws) {
    const r = await post(gw, T.day.token);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.type, 'insufficient_quota');
    assert.equal(r.json.error.code, 'quota_exceeded');
    assert.match(r.json.error.message, /requests_per_day \(12 requests\)/);
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(Math.abs(Date.now() / 1000 + ra - midnight) < 30, `Retry-After ${ra} s is not the next UTC midnight`);
    assert.equal(r.headers.get('x-ratelimit-remaining-requests-day'), '0');
  }
  const u = await usage(gws[0]);
  assert.equal(u.scope, 'cluster');
  assert.equal(u.cluster, 'up');
});

test('usage by day is kept in Redis: the totals survive restarting every instance', async () => {
  for (let i = 0; i < 9; i++) {
    const r = await post(gws[i % 3], T.use.token);
    assert.equal(r.status, 200, r.text);
  }
  // the totals agree everywhere once each instance has sent its counts and read the others'
  let before;
  await waitFor(async () => {
    const all = await Promise.all(gws.map(usage));
    const tok = all.map((u) => u.tokens.find((t) => t.token === 'user'));
    if (tok.some((t) => t.requests !== 9 || t.prompt_tokens === 0 || t.completion_tokens === 0)) return false;
    const keys = all.map((u) => JSON.stringify(u.keys));
    if (keys.some((k) => k !== keys[0])) return false;
    before = all[0];
    return JSON.stringify(tok.map((t) => [t.prompt_tokens, t.completion_tokens])) === JSON.stringify(tok.map(() => [tok[0].prompt_tokens, tok[0].completion_tokens]));
  }, { timeout: 10000, interval: 20, what: 'the same totals on every instance' });
  const keyReqs = before.keys.reduce((n, k) => n + k.requests, 0);
  assert.ok(keyReqs >= 9, `key attempts ${keyReqs}`);
  for (const gw of gws) await gw.stop();
  gws = [];
  for (let i = 0; i < 3; i++) gws.push(await startInstance());
  await allUp(gws);
  for (const gw of gws) {
    await waitFor(async () => (await tokenUsage(gw, 'user'))?.requests === 9, { timeout: 10000, interval: 20, what: `totals read back on ${gw.port}` });
    const after = await usage(gw);
    assert.deepEqual(after.tokens.find((t) => t.token === 'user'), before.tokens.find((t) => t.token === 'user'));
    assert.deepEqual(after.keys, before.keys);
  }
  // and a quota spent before the restart (by the test before) still holds
  const daily = before.tokens.find((t) => t.token === 'daily');
  assert.deepEqual((await usage(gws[2])).tokens.find((t) => t.token === 'daily'), daily);
  if (daily.requests >= 12) assert.equal((await post(gws[2], T.day.token)).status, 429);
});

test('without Redis each instance applies its own rpm; what it admitted counts once Redis is back', async () => {
  await redis.kill();
  await allDown(gws);
  const [A, B] = gws;
  // rpm 3: A alone admits its own burst of 3 (the limit is per host now)
  const rs = [];
  for (let i = 0; i < 4; i++) rs.push(await post(A, T.slow.token));
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 429], rs.map((r) => r.text).join('\n'));
  await redis.start();
  await allUp(gws);
  // A's three admits were added to the cluster's limit (one cell per 20 s):
  // B has no cell to give
  const r = await waitFor(async () => {
    const x = await post(B, T.slow.token);
    return x.status === 429 ? x : null;
  }, { timeout: 15000, interval: 50, what: 'B refused after the reconciliation' });
  assert.equal(r.json.error.code, 'rate_limit_exceeded');
});

test('a key disabled (401) on one instance is probed by that instance only', async () => {
  // each instance has its own mock, so the mock that sees a request tells which instance sent it
  const mocks = await Promise.all([0, 1, 2].map(() => startMock()));
  const bad = mkKey('probe', 'fail401'), good = mkKey('probeok');
  const own = [];
  try {
    for (const m of mocks) {
      own.push(await startInstance({
        prefix: `${PREFIX}probe:`,
        extra: ['keys: {probe_after: 1s}', 'timeouts: {request: 10s}', 'retry: {attempts: 3}'],
        providers: [{ name: 'pp', base: `${m.base}/v1`, keys: [bad, good], models: ['pp-*'] }],
      }));
    }
    await allUp(own);
    const badSeen = async (m) => (await mockRequests(m)).filter((e) => e.key === bad).length;
    const [A, B, C] = own;
    // B meets the 401 first: B owns the probe
    for (let i = 0; i < 4 && await badSeen(mocks[1]) === 0; i++) assert.equal((await post(B, T.use.token, 'pp-x')).status, 200);
    assert.equal(await badSeen(mocks[1]), 1);
    const rowsOf = async (gw) => (await request(gw.url('/admin/keys'), { token: ADMIN })).json.keys.filter((k) => k.provider === 'pp');
    for (const gw of [A, C]) await waitFor(async () => (await rowsOf(gw))[0].state === 'disabled', { timeout: 10000, interval: 5, what: 'disabled everywhere' });
    // traffic on all three until B has probed (and failed) twice more
    await waitFor(async () => {
      await Promise.all(own.map((gw) => post(gw, T.use.token, 'pp-x')));
      return await badSeen(mocks[1]) >= 3;
    }, { timeout: 30000, interval: 20, what: 'two probes by B' });
    assert.equal(await badSeen(mocks[0]), 0, 'A probed the key too');
    assert.equal(await badSeen(mocks[2]), 0, 'C probed the key too');
  } finally {
    for (const gw of own) await gw.stop();
    for (const m of mocks) await m.stop();
  }
});

// Model groups' circuit breakers shared through the cluster link (issue 18
// item 3, docs/cluster.md "Breaker state"): two llmgate instances and a real
// redis-server. A target whose breaker opens on instance 1 is open on
// instance 2 (which then sends it nothing, although it answers there), a
// breaker closed by instance 1's probe closes on instance 2, and an instance
// started later reads the open breakers at connect.
//
// The targets fail on instance 1 only: a target is named across the cluster
// by group, provider and model, so instance 1's provider `ba` can have a key
// that the mock answers with 503 while instance 2's `ba` has a good one (key
// state is not shared for these keys: they differ).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, request, waitFor } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody, mockRequests } from './lib/upstream.mjs';
import { startRedis } from './lib/redis.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const PASSWORD = `redis-pw-${rnd(12)}`;

// per instance: the key of `ba` and of `ca`; bb and cb answer everywhere
const KEYS = {
  1: { ba: mkKey('ba1', 'fail503'), ca: mkKey('ca1', 'fail503-times=2') },
  2: { ba: mkKey('ba2'), ca: mkKey('ca2') },
  3: { ba: mkKey('ba3'), ca: mkKey('ca3') },
};
const GOOD = { bb: mkKey('bb'), cb: mkKey('cb') };

let mock, redis;
const gws = {};

function config(port, n) {
  return gatewayYaml({
    port, workers: 2,
    top: [
      `admin_token: ${ADMIN}`,
      'retry: {attempts: 2}',
      'model_groups:',
      '  - name: bopen',
      '    targets: [{provider: ba, model: m-a}, {provider: bb, model: m-b}]',
      '    breaker: {failures: 2, cooldown: 30s}',
      '  - name: bclose',
      '    targets: [{provider: ca, model: m-a}, {provider: cb, model: m-b}]',
      '    breaker: {failures: 2, cooldown: 2s}',
      'cluster:',
      '  redis:',
      `    url: "redis://127.0.0.1:${redis.port}"`,
      '    password_env: LLMGATE_TEST_REDIS_PASSWORD',
      '    prefix: "llmgate-brk:"',
      '    timeout: 2s',
    ].join('\n'),
    providers: [
      { name: 'ba', base: `${mock.base}/v1`, keys: [KEYS[n].ba] },
      { name: 'bb', base: `${mock.base}/v1`, keys: [GOOD.bb] },
      { name: 'ca', base: `${mock.base}/v1`, keys: [KEYS[n].ca] },
      { name: 'cb', base: `${mock.base}/v1`, keys: [GOOD.cb] },
    ],
  });
}

const startInstance = (n) => startGateway({ config: ({ port }) => config(port, n), env: { LLMGATE_TEST_REDIS_PASSWORD: PASSWORD } });

async function health(gw) {
  const r = await request(gw.url('/health'));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
async function target(gw, group, provider) {
  const r = await request(gw.url('/admin/groups'), { token: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.json.groups.find((g) => g.name === group).targets.find((t) => t.provider === provider);
}
async function post(gw, model) {
  const r = await request(gw.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatBody(model, `hi ${rnd()}`)),
  });
  assert.equal(r.status, 200, `${model} on ${gw.port}: ${r.status} ${r.text}`);
}

// Sends requests of `group` to gw until `provider`'s breaker is `state` there
// (every answer 200: the group fails over to the other target).
async function until(gw, group, provider, state) {
  for (let i = 0; i < 12; i++) {
    await post(gw, group);
    if ((await target(gw, group, provider)).breaker === state) return;
  }
  assert.fail(`${group}/${provider}: the breaker never became ${state} on ${gw.port}`);
}
const seen = (gw, group, provider, state, timeout = 10000) =>
  waitFor(async () => (await target(gw, group, provider)).breaker === state, { timeout, interval: 5, what: `${group}/${provider} ${state} on ${gw.port}` });

before(async () => {
  mock = await startMock();
  redis = await startRedis({ password: PASSWORD });
  for (const n of [1, 2]) gws[n] = await startInstance(n);
  for (const n of [1, 2]) await waitFor(async () => (await health(gws[n])).cluster === 'up', { timeout: 20000, what: 'cluster up' });
});
after(async () => {
  for (const gw of Object.values(gws)) await gw.stop();
  await mock?.stop();
  await redis?.stop();
});

test('a breaker opened on instance 1 is open on instance 2, which sends the target nothing', async () => {
  await until(gws[1], 'bopen', 'ba', 'open');
  await seen(gws[2], 'bopen', 'ba', 'open');
  const t = await target(gws[2], 'bopen', 'ba');
  assert.ok(t.open_remaining_ms > 20000 && t.open_remaining_ms <= 30000, JSON.stringify(t));
  assert.equal(t.available, false);
  // the mock answers ba's key of instance 2; it gets nothing while the breaker is open
  for (let i = 0; i < 10; i++) await post(gws[2], 'bopen');
  assert.equal((await target(gws[2], 'bopen', 'ba')).requests, 0);
  assert.equal((await target(gws[2], 'bopen', 'bb')).requests, 10);
  assert.equal((await mockRequests(mock)).filter((e) => e.key === KEYS[2].ba).length, 0);
  // nothing of the breaker came back to instance 1 as a transition of its own
  assert.equal((await target(gws[1], 'bopen', 'ba')).breaker, 'open');
});

test('an instance started later reads the open breaker at connect', async () => {
  gws[3] = await startInstance(3);
  await waitFor(async () => (await health(gws[3])).cluster === 'up', { timeout: 20000, what: 'instance 3 up' });
  await seen(gws[3], 'bopen', 'ba', 'open', 5000);
  const t = await target(gws[3], 'bopen', 'ba');
  assert.ok(t.open_remaining_ms > 10000, JSON.stringify(t));
  assert.equal(t.requests, 0);
  // a closed breaker is not stored: the other group's are closed there
  assert.equal((await target(gws[3], 'bclose', 'ca')).breaker, 'closed');
});

test('a breaker closed by instance 1\'s probe closes on the other instances', async () => {
  await until(gws[1], 'bclose', 'ca', 'open');
  await Promise.all([seen(gws[2], 'bclose', 'ca', 'open'), seen(gws[3], 'bclose', 'ca', 'open')]);
  // after the 2 s cooldown instance 1 probes ca (its key's two 503s are
  // spent: the probe succeeds) and closes the breaker
  await waitFor(async () => (await target(gws[1], 'bclose', 'ca')).breaker === 'half_open', { timeout: 10000, interval: 20, what: 'ca half-open on 1' });
  await until(gws[1], 'bclose', 'ca', 'closed');
  // instances 2 and 3 send ca nothing: only the news closes it there
  await Promise.all([seen(gws[2], 'bclose', 'ca', 'closed'), seen(gws[3], 'bclose', 'ca', 'closed')]);
  for (const n of [2, 3]) assert.equal((await target(gws[n], 'bclose', 'ca')).requests, 0);
  // and it is taken again there
  for (let i = 0; i < 4; i++) await post(gws[2], 'bclose');
  assert.ok((await target(gws[2], 'bclose', 'ca')).requests > 0);
});

// The cluster link (docs/cluster.md, issue 16 first slice): three llmgate
// instances sharing one real redis-server (with a password) share key health:
// a cooldown (429) or a disabled key (401) seen by one instance rests the key on
// the others within milliseconds (measured here, p50/p99 printed); a new
// instance starts with the cluster's key states; Redis killed under load fails
// no client request and shows as degraded, and sharing resumes when it returns;
// the link is restarted by a reload and when it dies; the password never
// shows; without `cluster:` no link process runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, request, waitFor, parsePrometheus, metricValue } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody } from './lib/upstream.mjs';
import { startRedis } from './lib/redis.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const PASSWORD = `redis-pw-${rnd(12)}`;
// propagation trials: each waits out a 2 s cooldown; the timing itself is the
// benchmark's (tests/bench: --only cluster, 50 trials), not an assertion here
const TRIALS = 5;

// provider -> keys; keys[0] is the bad one when there is one
const P = {
  cool: [mkKey('cool', 'fail429-retry_after_ms=2000'), mkKey('coolok')],
  auth: [mkKey('auth', 'fail401'), mkKey('authok')],
  long: [mkKey('long', 'fail429-retry_after_ms=60000'), mkKey('longok')],
  again: [mkKey('again', 'fail429-retry_after_ms=60000'), mkKey('againok')],
  ok: [mkKey('ok1'), mkKey('ok2')],
};

let mock, redis;
const gws = [];

function config(port) {
  return gatewayYaml({
    port, workers: 1,
    top: [
      `admin_token: ${ADMIN}`,
      'keys: {cooldown: 30s, max_cooldown: 60s, probe_after: 60s}',
      'retry: {attempts: 3}',
      'cluster:',
      '  redis:',
      `    url: "redis://127.0.0.1:${redis.port}"`,
      '    password_env: LLMGATE_TEST_REDIS_PASSWORD',
      '    prefix: "llmgate-test:"',
      '    timeout: 2s',
    ].join('\n'),
    providers: Object.entries(P).map(([name, keys]) => ({ name, base: `${mock.base}/v1`, keys, models: [name] })),
  });
}

const startInstance = () => startGateway({ config: ({ port }) => config(port), env: { LLMGATE_TEST_REDIS_PASSWORD: PASSWORD } });

async function health(gw) {
  const r = await request(gw.url('/health'));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
async function clusterUp(gw) {
  const r = await request(gw.url('/metrics'));
  return metricValue(parsePrometheus(r.text), 'llmgate_cluster_up', {});
}
async function keyState(gw, provider, i = 0) {
  const r = await request(gw.url('/admin/keys'), { token: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.json.keys.filter((k) => k.provider === provider)[i];
}
const post = (gw, model) => request(gw.url('/v1/chat/completions'), {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatBody(model, `hi ${rnd()}`)),
});

// Sends requests of `provider` to `gw` until its bad key is `state` there
// (every answer 200: the good key answers); returns Date.now() after the
// request that changed it.
async function restOn(gw, provider, state) {
  for (let i = 0; i < 4; i++) {
    const r = await post(gw, provider);
    assert.equal(r.status, 200, `${provider}: ${r.status} ${r.text}`);
    const t = Date.now();
    if ((await keyState(gw, provider)).state === state) return t;
  }
  assert.fail(`${provider}: the bad key never became ${state}`);
}

// ms from t0 until `provider`'s bad key is `state` on gw (polled back to back).
async function seenAt(gw, provider, state, t0) {
  await waitFor(async () => (await keyState(gw, provider)).state === state, { timeout: 10000, interval: 1, what: `${provider} ${state} on port ${gw.port}` });
  return Math.max(0, Date.now() - t0);
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

before(async () => {
  mock = await startMock();
  redis = await startRedis({ password: PASSWORD });
  for (let i = 0; i < 3; i++) gws.push(await startInstance());
  for (const gw of gws) await waitFor(async () => (await health(gw)).cluster === 'up', { timeout: 20000, what: 'cluster up' });
});
after(async () => {
  for (const gw of gws) await gw.stop();
  await mock?.stop();
  await redis?.stop();
});

test('a 429 seen by A makes the key cooling on B and C, every time (propagation logged)', async () => {
  const [A, B, C] = gws;
  const times = [];
  for (let t = 0; t < TRIALS; t++) {
    // the previous cooldown (2 s) is over everywhere
    for (const gw of gws) await waitFor(async () => (await keyState(gw, 'cool')).state === 'usable', { timeout: 20000, interval: 20, what: 'cool usable' });
    const t0 = await restOn(A, 'cool', 'cooling');
    times.push(...await Promise.all([seenAt(B, 'cool', 'cooling', t0), seenAt(C, 'cool', 'cooling', t0)]));
  }
  const p50 = pct(times, 50), p99 = pct(times, 99);
  console.log(`# cluster: cooldown propagation over ${times.length} observations (${TRIALS} trials x 2 instances): p50 ${p50} ms, p99 ${p99} ms, max ${Math.max(...times)} ms`);
  assert.equal(times.length, 2 * TRIALS);
});

test('a disabled key (401) on B is disabled on A and C, with about the same rest left', async () => {
  const [A, B, C] = gws;
  const t0 = await restOn(B, 'auth', 'disabled');
  const ms = await Promise.all([seenAt(A, 'auth', 'disabled', t0), seenAt(C, 'auth', 'disabled', t0)]);
  console.log(`# cluster: disabled-key propagation: ${ms.join(' ms, ')} ms`);
  // B, which saw the 401, probes the key when its 60 s are over; A and C wait
  // a grace longer (the request timeout, 120 s by default, plus 2 s) for B's
  // outcome, so that the cluster probes the key once
  for (const gw of [A, C]) {
    const k = await keyState(gw, 'auth');
    assert.ok(k.cooldown_remaining_ms > 50000 + 122000 && k.cooldown_remaining_ms <= 60000 + 122000, JSON.stringify(k));
  }
  const kb = await keyState(B, 'auth');
  assert.ok(kb.cooldown_remaining_ms > 50000 && kb.cooldown_remaining_ms <= 60000, JSON.stringify(kb));
  // the resting key is skipped there: its good key answers without a 401 attempt
  const r = await post(A, 'auth');
  assert.equal(r.status, 200, r.text);
  assert.equal((await keyState(A, 'auth')).auth ?? 0, 0, 'A tried the disabled key');
});

test('an instance started after the cooldown begins with the cluster\'s key states', async () => {
  const [A] = gws;
  await restOn(A, 'long', 'cooling');
  const D = await startInstance();
  try {
    await waitFor(async () => (await health(D)).cluster === 'up', { timeout: 20000, what: 'D up' });
    await waitFor(async () => (await keyState(D, 'long')).state === 'cooling', { timeout: 5000, interval: 10, what: 'long cooling on D' });
    const k = await keyState(D, 'long');
    assert.ok(k.cooldown_remaining_ms > 40000, JSON.stringify(k));
    assert.equal((await keyState(D, 'auth')).state, 'disabled');
    assert.equal(k.requests, 0, 'D never used the key itself');
  } finally {
    await D.stop();
  }
});

test('redis killed under load: no request fails, every instance is degraded, then up again and sharing', async () => {
  const [A, B, C] = gws;
  let stop = false, ok = 0;
  const failures = [];
  const load = gws.map(async (gw) => {
    while (!stop) {
      const r = await post(gw, 'ok');
      if (r.status === 200) ok++;
      else failures.push(`${gw.port}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  });
  try {
    await waitFor(() => ok >= 30, { what: 'load running' });
    await redis.kill();
    for (const gw of gws) {
      await waitFor(async () => (await health(gw)).cluster === 'degraded', { timeout: 20000, what: `degraded on ${gw.port}` });
      assert.equal(await clusterUp(gw), 0);
    }
    const during = ok;
    await waitFor(() => ok >= during + 30, { what: 'requests served while redis is down' });
    await redis.start();
    for (const gw of gws) {
      await waitFor(async () => (await health(gw)).cluster === 'up', { timeout: 30000, what: `up again on ${gw.port}` });
      assert.equal(await clusterUp(gw), 1);
    }
    // a flushed Redis loses the stored states only: messages keep flowing
    assert.match(await redis.cmd(['FLUSHALL']), /\+OK[\s\S]*\+OK/);
    const t0 = await restOn(B, 'again', 'cooling');
    await Promise.all([seenAt(A, 'again', 'cooling', t0), seenAt(C, 'again', 'cooling', t0)]);
  } finally {
    stop = true;
    await Promise.all(load);
  }
  assert.deepEqual(failures, [], `${failures.length} failed requests of ${ok + failures.length}`);
  for (const gw of gws) {
    // one line per change of state: up and down alternate, never repeated
    const logs = gw.logs();
    const states = [...logs.matchAll(/cluster: (connected to redis at redis:\/\/:\*\*\*@127\.0\.0\.1|redis at \S+ (?:lost|unreachable))/g)]
      .map((m) => (m[1].startsWith('connected') ? 'up' : 'down'));
    assert.ok(states.includes('down') && states.at(-1) === 'up', logs);
    for (let i = 1; i < states.length; i++) assert.notEqual(states[i], states[i - 1], logs);
  }
});

// The pids of the link processes that logged "connected" (the log prefix is
// "[level] [pid]").
const linkPids = (gw) => [...gw.logs().matchAll(/\[(\d+)\] cluster: connected to redis/g)].map((m) => Number(m[1]));

async function coolPropagates(from, to) {
  for (const gw of [from, to]) await waitFor(async () => (await keyState(gw, 'cool')).state === 'usable', { timeout: 20000, interval: 20, what: 'cool usable' });
  const t0 = await restOn(from, 'cool', 'cooling');
  return seenAt(to, 'cool', 'cooling', t0);
}

test('the link is restarted by a reload (SIGHUP) and when it dies, and shares again', async () => {
  const [A, B] = gws;
  const before = linkPids(A);
  A.signal('SIGHUP');
  await waitFor(() => linkPids(A).length > before.length, { timeout: 20000, what: 'a new link connected after SIGHUP' });
  await coolPropagates(A, B);
  const pid = linkPids(A).at(-1);
  assert.ok(!before.includes(pid));
  process.kill(pid, 'SIGKILL');
  await A.waitLog(`cluster link (pid ${pid}) was killed by signal 9; starting a new one`);
  await waitFor(() => linkPids(A).at(-1) !== pid, { timeout: 20000, what: 'a new link connected after the kill' });
  await coolPropagates(A, B);
  assert.equal((await health(A)).cluster, 'up');
});

test('the redis password never shows in logs, /metrics, /health or /admin/keys', async () => {
  for (const gw of gws) {
    assert.ok(!gw.logs().includes(PASSWORD), 'password in the log');
    for (const [p, token] of [['/metrics'], ['/health'], ['/admin/keys', ADMIN]]) {
      const r = await request(gw.url(p), { token });
      assert.equal(r.status, 200);
      assert.ok(!r.text.includes(PASSWORD), `password in ${p}`);
    }
  }
  // a wrong password: the instance serves, says why once, masks the URL
  const E = await startGateway({ config: ({ port }) => config(port), env: { LLMGATE_TEST_REDIS_PASSWORD: `${PASSWORD}-wrong` } });
  try {
    await E.waitLog(/cluster: redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 unreachable/);
    assert.equal((await post(E, 'ok')).status, 200);
    assert.equal((await health(E)).cluster, 'degraded');
    assert.ok(!E.logs().includes(PASSWORD));
  } finally {
    await E.stop();
  }
});

test('without cluster: no link process, no cluster fields', async () => {
  const F = await startGateway({
    config: ({ port }) => gatewayYaml({ port, workers: 1, top: `admin_token: ${ADMIN}`, providers: [{ name: 'ok', base: `${mock.base}/v1`, keys: P.ok, models: ['ok'] }] }),
  });
  try {
    assert.equal((await post(F, 'ok')).status, 200);
    const h = await health(F);
    assert.equal(h.cluster, undefined, JSON.stringify(h));
    const m = await request(F.url('/metrics'));
    assert.doesNotMatch(m.text, /llmgate_cluster_up/);
    assert.equal(F.workerPids().length, 1, 'one worker and no link process');
    assert.doesNotMatch(F.logs(), /cluster/);
  } finally {
    await F.stop();
  }
});

// Cluster faults (issue 16, deliverable 4; docs/cluster.md "Failure
// behaviour"): three llmgate instances and one real redis-server (with a
// password) that is absent at start, killed (SIGKILL) and restarted under
// load, and made slow (DEBUG SLEEP longer than cluster.redis.timeout) under
// load. No client request fails (every answer 200 with a complete body or
// stream), every instance shows the change in /health and /metrics, logs
// exactly one line per change of state, reconnects, and shares key state
// again. The password shows nowhere, also when AUTH fails. A connection reset
// (TCP RST, from a minimal fake Redis) is noticed by its socket error, not
// only by the PING timeout. (FLUSHALL under load is in cluster.test.mjs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startGateway, startMock, request, waitFor, parsePrometheus, metricValue, parseSSE, checkChatStream,
} from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, chatBody } from './lib/upstream.mjs';
import { startRedisServer } from './lib/redis.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const PASSWORD = `redis-pw-${rnd(12)}`;
const WRONG = `wrong-pw-${rnd(12)}`; // not a substring of PASSWORD, nor it of this
const TIMEOUT_MS = 500; // cluster.redis.timeout
const SLEEP_S = 3; // DEBUG SLEEP: longer than the timeout plus the 1 s PING period
const STREAM = 'ok~chunks=6,interval=5';

// provider -> keys; keys[0] rests for a minute on its first use (429)
const P = {
  ok: [mkKey('ok1'), mkKey('ok2')],
  pa: [mkKey('pa', 'fail429-retry_after_ms=60000'), mkKey('paok')],
  pb: [mkKey('pb', 'fail429-retry_after_ms=60000'), mkKey('pbok')],
  pc: [mkKey('pc', 'fail429-retry_after_ms=60000'), mkKey('pcok')],
};

let mock, redis;
const gws = [];

const providers = () => Object.entries(P).map(([name, keys]) => ({
  name, base: `${mock.base}/v1`, keys, models: name === 'ok' ? ['ok', STREAM] : [name],
}));
// every request carries a token with an rpm and a quota, so the rpm credits
// and the usage sync are under the same faults as the key states
const TOKEN = `sk-faults-${rnd()}`;
const top = (cluster) => [
  `admin_token: ${ADMIN}`,
  'access_tokens:',
  `  - {token: ${TOKEN}, name: load, rpm: 1000000, quota: {requests_per_day: 100000000}}`,
  'keys: {cooldown: 30s, max_cooldown: 60s, probe_after: 60s}',
  'retry: {attempts: 3}',
  ...(cluster ? [
    'cluster:',
    '  redis:',
    `    url: "redis://127.0.0.1:${redis.port}"`,
    '    password_env: LLMGATE_TEST_REDIS_PASSWORD',
    '    prefix: "llmgate-faults:"',
    `    timeout: ${TIMEOUT_MS}ms`,
  ] : []),
].join('\n');

const startInstance = (password = PASSWORD) => startGateway({
  config: ({ port }) => gatewayYaml({ port, workers: 1, top: top(true), providers: providers() }),
  env: { LLMGATE_TEST_REDIS_PASSWORD: password },
});

async function health(gw) {
  const r = await request(gw.url('/health'));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
async function clusterUp(gw) {
  const r = await request(gw.url('/metrics'));
  assert.equal(r.status, 200, r.text);
  return metricValue(parsePrometheus(r.text), 'llmgate_cluster_up', {});
}
const waitCluster = (gw, state, what = '') => waitFor(async () => (await health(gw)).cluster === state,
  { timeout: 30000, interval: 10, what: `cluster ${state} on port ${gw.port} ${what}` });

async function keyState(gw, provider, i = 0) {
  const r = await request(gw.url('/admin/keys'), { token: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.json.keys.filter((k) => k.provider === provider)[i];
}

// One chat completion, streamed or not; resolves with null when it is a 200
// with a complete answer, else with what went wrong.
async function chat(gw, stream) {
  const body = chatBody(stream ? STREAM : 'ok', `hi ${rnd()}`, stream ? { stream: true } : {});
  let r;
  try {
    r = await request(gw.url('/v1/chat/completions'), {
      method: 'POST', token: TOKEN, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
  } catch (e) {
    return `${gw.port}: ${e.message}`;
  }
  if (r.status !== 200) return `${gw.port}: ${r.status} ${r.text.slice(0, 300)}`;
  try {
    if (stream) {
      const { text } = checkChatStream(parseSSE(r.text));
      if (!text.startsWith('mock')) throw new Error(`stream text ${JSON.stringify(text)}`);
    } else {
      const c = r.json?.choices?.[0];
      if (c?.finish_reason !== 'stop' || !c.message?.content?.startsWith('mock')) throw new Error(`body ${r.text.slice(0, 300)}`);
    }
  } catch (e) {
    return `${gw.port}: ${stream ? 'stream' : 'body'}: ${e.message.slice(0, 500)}`;
  }
  return null;
}

// `loops` concurrent loops per instance of chat completions (streamed and
// not, alternately) until stop().
function startLoad(instances, loops = 4) {
  const L = { ok: 0, failures: [], stopped: false };
  const runs = [];
  for (const gw of instances) {
    for (let i = 0; i < loops; i++) {
      runs.push((async () => {
        for (let n = i; !L.stopped; n++) {
          const err = await chat(gw, n % 2 === 1);
          if (err) L.failures.push(err); else L.ok++;
        }
      })());
    }
  }
  L.stop = async () => { L.stopped = true; await Promise.all(runs); };
  L.more = (n, what) => { const at = L.ok; return waitFor(() => L.ok >= at + n, { timeout: 30000, interval: 5, what }); };
  return L;
}

// The link's state lines in gw's stderr from offset `from` on.
function stateLines(gw, from = 0) {
  const s = gw.stderr.slice(from);
  return {
    connected: [...s.matchAll(/cluster: connected to redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 \(instance [0-9a-f]+\); sharing key state/g)].length,
    lost: [...s.matchAll(/cluster: redis at \S+ lost \(([^)]*)\)/g)].map((m) => m[1]),
    unreachable: [...s.matchAll(/cluster: redis at \S+ unreachable \(([^)]*)\)/g)].map((m) => m[1]),
    text: s,
  };
}

// Waits until gw's stderr from `from` on holds the state lines in `want`
// (the line is written just after the state that /health shows changes, and
// reaches this process a little later), then checks that it holds exactly
// those. want: {connected: n, lost: n or [reasons], unreachable: n or [reasons]}.
async function expectLines(gw, from, want) {
  const n = (x) => (Array.isArray(x) ? x.length : x);
  const enough = (l) => l.connected >= want.connected && l.lost.length >= n(want.lost) && l.unreachable.length >= n(want.unreachable);
  await waitFor(() => enough(stateLines(gw, from)), { timeout: 10000, interval: 5, what: `state lines on port ${gw.port}` }).catch(() => {});
  const l = stateLines(gw, from);
  assert.equal(l.connected, want.connected, `"connected" lines:\n${l.text}`);
  for (const k of ['lost', 'unreachable']) {
    if (Array.isArray(want[k])) assert.deepEqual(l[k], want[k], `"${k}" lines:\n${l.text}`);
    else assert.equal(l[k].length, want[k], `"${k}" lines:\n${l.text}`);
  }
}

const post = (gw, model) => request(gw.url('/v1/chat/completions'), {
  method: 'POST', token: TOKEN, headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatBody(model, `hi ${rnd()}`)),
});

// The bad key of `provider` rests on `from` (a 429; the good key answers
// 200), then is seen cooling on every other instance.
async function sharesRest(from, provider) {
  const r = await post(from, provider);
  assert.equal(r.status, 200, `${provider}: ${r.status} ${r.text}`);
  assert.equal((await keyState(from, provider)).state, 'cooling');
  for (const gw of gws.filter((g) => g !== from)) {
    await waitFor(async () => (await keyState(gw, provider)).state === 'cooling',
      { timeout: 10000, interval: 5, what: `${provider} cooling on port ${gw.port}` });
    assert.equal((await keyState(gw, provider)).requests, 0, 'the key was rested there without being used there');
  }
}

before(async () => {
  mock = await startMock();
  redis = await startRedisServer({ password: PASSWORD, debug: true, started: false });
  for (let i = 0; i < 3; i++) gws.push(await startInstance());
});
after(async () => {
  for (const gw of gws) await gw.stop();
  await mock?.stop();
  await redis?.stop();
});

test('redis absent at start: the instances serve, degraded; once redis starts each goes up and shares', async () => {
  for (const gw of gws) {
    await gw.waitLog(/cluster: redis at \S+ unreachable \(/);
    assert.equal((await health(gw)).cluster, 'degraded');
    assert.equal((await health(gw)).status, 'ok', 'the instance itself is fine');
    assert.equal(await clusterUp(gw), 0);
    for (const stream of [false, true, false, true]) assert.equal(await chat(gw, stream), null);
  }
  await redis.start();
  for (const gw of gws) {
    await waitCluster(gw, 'up', 'after redis started');
    assert.equal(await clusterUp(gw), 1);
    await expectLines(gw, 0, { unreachable: ['Connection refused'], lost: 0, connected: 1 });
  }
  await sharesRest(gws[0], 'pa');
});

test('redis SIGKILLed and restarted under load: no request fails, one "lost" and one "connected" line each, sharing resumes', async () => {
  await Promise.all(gws.map((gw) => waitCluster(gw, 'up', 'before the fault')));
  const marks = gws.map((gw) => gw.stderr.length);
  const load = startLoad(gws);
  try {
    await load.more(30, 'load running');
    await redis.kill();
    await Promise.all(gws.map(async (gw) => {
      await waitCluster(gw, 'degraded', 'after the kill');
      assert.equal(await clusterUp(gw), 0);
    }));
    await load.more(30, 'requests served while redis is down');
    await redis.start();
    await Promise.all(gws.map(async (gw) => {
      await waitCluster(gw, 'up', 'after the restart');
      assert.equal(await clusterUp(gw), 1);
    }));
    await load.more(30, 'requests served after the restart');
  } finally {
    await load.stop();
  }
  console.log(`# cluster-faults: ${load.ok + load.failures.length} requests (half streamed), ${load.failures.length} failed`);
  assert.deepEqual(load.failures, [], `${load.failures.length} failed requests of ${load.ok + load.failures.length}`);
  for (const [i, gw] of gws.entries()) await expectLines(gw, marks[i], { lost: 1, unreachable: 0, connected: 1 });
  await sharesRest(gws[1], 'pb');
});

test('slow redis (DEBUG SLEEP past cluster.redis.timeout) under load: no request fails, the link goes degraded and comes back', async () => {
  await Promise.all(gws.map((gw) => waitCluster(gw, 'up', 'before the fault')));
  const marks = gws.map((gw) => gw.stderr.length);
  const load = startLoad(gws);
  let slept;
  try {
    await load.more(30, 'load running');
    slept = redis.cmdWithin((SLEEP_S + 30) * 1000, ['DEBUG', 'SLEEP', String(SLEEP_S)]);
    await Promise.all(gws.map((gw) => waitCluster(gw, 'degraded', 'while redis sleeps')));
    // the reply to DEBUG SLEEP: redis is awake again
    assert.match(await slept, /^\+OK\r\n\+OK\r\n/);
    await Promise.all(gws.map(async (gw) => {
      await waitCluster(gw, 'up', 'after the sleep');
      assert.equal(await clusterUp(gw), 1);
    }));
    await load.more(30, 'requests served after the sleep');
  } finally {
    await load.stop();
    await slept?.catch(() => {});
  }
  console.log(`# cluster-faults: ${load.ok + load.failures.length} requests (half streamed), ${load.failures.length} failed`);
  assert.deepEqual(load.failures, [], `${load.failures.length} failed requests of ${load.ok + load.failures.length}`);
  for (const [i, gw] of gws.entries()) {
    await expectLines(gw, marks[i], { lost: ['no reply within cluster.redis.timeout'], unreachable: 0, connected: 1 });
  }
  await sharesRest(gws[2], 'pc');
});

// Failed AUTHs so far, from redis's ACL LOG (entries of one kind are counted
// in one entry's `count`).
async function failedAuths() {
  const raw = await redis.cmd(['ACL', 'LOG']);
  return [...raw.matchAll(/\$6\r\nreason\r\n\$4\r\nauth\r\n/g)].length === 0 ? 0
    : [...raw.matchAll(/\$5\r\ncount\r\n:(\d+)\r\n/g)].reduce((a, m) => a + Number(m[1]), 0);
}

async function assertNoSecret(gw, secrets) {
  const where = [['stderr', gw.stderr], ['stdout', gw.stdout]];
  for (const [p, token] of [['/metrics'], ['/health'], ['/admin/keys', ADMIN]]) {
    const r = await request(gw.url(p), { token });
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    where.push([p, r.text]);
  }
  for (const [name, text] of where) for (const s of secrets) assert.ok(!text.includes(s), `a redis password in ${name} of port ${gw.port}`);
}

test('the redis password never shows, also when AUTH fails (wrong password: a clear reason once, degraded, serving)', async () => {
  for (const gw of gws) await assertNoSecret(gw, [PASSWORD]);
  // a wrong password through password_env, then in an LLMGATE_REDIS_URL
  const wrongs = [
    () => startInstance(WRONG),
    () => startGateway({
      config: ({ port }) => gatewayYaml({ port, workers: 1, top: top(false), providers: providers() }),
      env: { LLMGATE_REDIS_URL: `redis://:${WRONG}@127.0.0.1:${redis.port}/0` },
    }),
  ];
  for (const start of wrongs) {
    assert.match(await redis.cmd(['ACL', 'LOG', 'RESET']), /\+OK\r\n\+OK/);
    const E = await start();
    try {
      await E.waitLog(/cluster: redis at \S+ unreachable \(/);
      // several AUTH attempts (reconnects) later: still degraded, still one line
      await waitFor(async () => (await failedAuths()) >= 6, { timeout: 30000, interval: 20, what: 'six failed AUTHs in redis\'s ACL LOG' });
      assert.equal((await health(E)).cluster, 'degraded');
      assert.equal(await clusterUp(E), 0);
      await expectLines(E, 0, { unreachable: 1, lost: 0, connected: 0 });
      const l = stateLines(E);
      assert.match(l.unreachable[0], /^AUTH: WRONGPASS/, l.text);
      assert.match(l.text, /redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 unreachable/);
      for (const stream of [false, true]) assert.equal(await chat(E, stream), null);
      await assertNoSecret(E, [PASSWORD, WRONG]);
    } finally {
      await E.stop();
    }
    assert.ok(!E.stderr.includes(WRONG) && !E.stdout.includes(WRONG), 'the wrong password in the log after the stop');
  }
  for (const gw of gws) await assertNoSecret(gw, [PASSWORD, WRONG]);
});

// A fake Redis that answers the link's commands (AUTH, HGETALL, SUBSCRIBE,
// PING) and can reset (TCP RST) every connection: a real redis-server cannot
// be made to send a RST on demand. `channels`: those the link subscribes to
// (keys, breakers), one reply each.
async function fakeRedis(channels) {
  const socks = new Set();
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
    s.on('data', (d) => {
      for (const m of d.toString().matchAll(/\*\d+\r\n\$\d+\r\n(\w+)\r\n/g)) {
        const c = m[1].toUpperCase();
        if (c === 'HGETALL') s.write('*0\r\n');
        else if (c === 'SUBSCRIBE') channels.forEach((ch, i) => s.write(`*3\r\n$9\r\nsubscribe\r\n$${ch.length}\r\n${ch}\r\n:${i + 1}\r\n`));
        else if (c === 'PING') s.write('+PONG\r\n');
        else s.write('+OK\r\n');
      }
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: srv.address().port,
    connections: () => socks.size,
    reset: () => { for (const s of socks) s.resetAndDestroy(); },
    close: () => new Promise((r) => { for (const s of socks) s.destroy(); srv.close(r); }),
  };
}

test('a connection reset (TCP RST) is seen as such (its socket error), not only when a PING times out', async () => {
  const fake = await fakeRedis(['llmgate-rst:keys', 'llmgate-rst:breakers']);
  const G = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 1, providers: providers(),
      // a timeout far longer than the test: only the socket error can end the link
      top: [top(false), 'cluster:', '  redis:', `    url: "redis://:${WRONG}@127.0.0.1:${fake.port}"`, '    prefix: "llmgate-rst:"', '    timeout: 60s'].join('\n'),
    }),
  });
  try {
    await waitCluster(G, 'up', 'on the fake redis');
    await G.waitLog(/cluster: connected to redis/);
    assert.equal(fake.connections(), 2);
    const mark = G.stderr.length;
    fake.reset();
    await waitCluster(G, 'degraded', 'after the reset');
    assert.equal(await clusterUp(G), 0);
    assert.equal(await chat(G, true), null);
    // the link connects again (to the fake, still listening)
    await waitCluster(G, 'up', 'reconnected to the fake redis');
    await expectLines(G, mark, { lost: ['Connection reset by peer'], unreachable: 0, connected: 1 });
    await assertNoSecret(G, [WRONG]);
  } finally {
    await G.stop();
    await fake.close();
  }
});

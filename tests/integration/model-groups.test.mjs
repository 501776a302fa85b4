// Model groups (issue 18, docs/routing.md): one model name served by several
// upstream targets, chosen by weight, load, latency or conversation affinity,
// in priority tiers, with a circuit breaker per target and failover before
// the first byte. Every target is a mock upstream of its own (one process,
// one port, `auth: none`), so a target's share is the mock's own record (GET
// /_mock/record) or the `model` its answers carry (the target's upstream id);
// a test makes one target slow or failing with the mock's runtime defaults
// (POST /_mock/defaults, docs/mock.md) and heals it the same way. Every step
// waits for the event itself (a request in a mock's record, a state in GET
// /admin/groups, traffic seen moving); deadlines only bound a hang.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startGateway, startMock, request, waitFor, runCli, tmpDir, parsePrometheus, metricValue, freePort } from './lib/harness.mjs';
import { rnd, mkKey } from './lib/upstream.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const M = {}; // mocks by name; provider `name` has base_url on mock `name`, upstream model up-<name>
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

before(async () => {
  await Promise.all(NAMES.map(async (n) => { M[n] = await startMock({ args: ['--record-max', '60000'] }); }));
});
after(async () => {
  agent.destroy();
  for (const n of NAMES) if (M[n]) await M[n].stop();
});

async function mockDefaults(m, opts) {
  const r = await request(m.url('/_mock/defaults'), { method: 'POST', body: opts, timeout: 10000 });
  assert.equal(r.status, 200, `POST /_mock/defaults ${opts}: ${r.text}`);
}
async function resetMocks() {
  await Promise.all(NAMES.map(async (n) => { await M[n].reset(); }));
}
// the request entries of a mock's record (optionally only those of `tag`)
async function seen(m, tag) {
  const rec = await m.record();
  return rec.filter((e) => e.event === 'request' && (tag === undefined || (e.body || '').includes(tag)));
}

// One provider per mock: models `direct-<name>` (never asked for here), no key.
const providerYaml = (n, extra = []) => [
  `  - name: ${n}`, '    type: openai', `    base_url: "${M[n].base}/v1"`, '    auth: none', `    models: ["direct-${n}"]`,
  ...extra.map((l) => `    ${l}`),
].join('\n');

function config({ port, workers = 2, groups, providers = NAMES, extraProviders = [], top = '' }) {
  return [
    'listen:', `  - {address: 127.0.0.1, port: ${port}}`, `workers: ${workers}`, `admin_token: ${ADMIN}`,
    'retry: {attempts: 3}', 'timeouts: {ping: 0}', top, 'model_groups:', groups.trim().split('\n').map((l) => `  ${l}`).join('\n'),
    'providers:', ...providers.map((n) => providerYaml(n)), ...extraProviders,
  ].filter((l) => l !== '').join('\n') + '\n';
}

async function gateway(opts) {
  const gw = await startGateway({ config: ({ port }) => config({ port, ...opts }) });
  return gw;
}

// A chat request over a keep-alive connection; resolves {status, json, text}.
function post(gw, body, { headers = {}, signal } = {}) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port: gw.port, method: 'POST', path: '/v1/chat/completions', agent, signal,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', reject);
    });
    req.setTimeout(120000, () => req.destroy(new Error('request: no answer in 120 s')));
    req.on('error', reject);
    req.end(data);
  });
}
const ask = (gw, model, content, opts) => post(gw, { model, messages: [{ role: 'user', content }] }, opts);

// n requests, `concurrency` in flight at once; mk(i) returns the promise of
// request i. Results in order.
async function blast(n, concurrency, mk) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await mk(i);
    }
  }));
  return out;
}

// n sequential requests of `model`; returns the count per served model
// (the upstream id in the answer) and asserts they all succeeded.
async function servedBy(gw, model, n, tag) {
  const counts = {};
  for (let i = 0; i < n; i++) {
    const r = await ask(gw, model, `${tag}-${i}`);
    assert.equal(r.status, 200, `${tag}-${i}: ${r.text}`);
    counts[r.json.model] = (counts[r.json.model] || 0) + 1;
  }
  return counts;
}

async function groupsState(gw) {
  const r = await request(gw.url('/admin/groups'), { token: ADMIN });
  assert.equal(r.status, 200, `/admin/groups: ${r.text}`);
  return r.json.groups;
}
async function targetState(gw, group, provider) {
  const g = (await groupsState(gw)).find((x) => x.name === group);
  assert.ok(g, `group ${group} not in /admin/groups`);
  const t = g.targets.find((x) => x.provider === provider);
  assert.ok(t, `target ${provider} not in group ${group}: ${JSON.stringify(g)}`);
  return t;
}
async function metrics(gw) {
  const r = await request(gw.url('/metrics'));
  assert.equal(r.status, 200, r.text);
  return parsePrometheus(r.text);
}

function assertShare(counts, total, weights, what) {
  const sum = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const [n, w] of Object.entries(weights)) {
    const want = w / sum, got = (counts[n] || 0) / total;
    assert.ok(Math.abs(got - want) <= 0.03, `${what}: target ${n} got ${counts[n] || 0}/${total} = ${(got * 100).toFixed(2)}%, weight ${(want * 100).toFixed(2)}% (±3%)`);
  }
}

// ---- weighted ---------------------------------------------------------------

test('weighted: 3:1 and 5:3:2 within ±3% over 10,000 requests each, 32 in flight, 2 workers (counted by each mock)', async () => {
  await resetMocks();
  const gw = await gateway({
    groups: `
- name: split-31
  strategy: weighted
  targets:
    - {provider: a, model: up-a, weight: 3}
    - {provider: b, model: up-b, weight: 1}
- name: split-532
  targets:
    - {provider: c, model: up-c, weight: 5}
    - {provider: d, model: up-d, weight: 3}
    - {provider: e, model: up-e, weight: 2}
`,
  });
  try {
    assert.equal(gw.workerPids().length, 2, 'two workers');
    const N = 10000;
    for (const [group, weights] of [['split-31', { a: 3, b: 1 }], ['split-532', { c: 5, d: 3, e: 2 }]]) {
      const tag = `${group}-${rnd()}`;
      const res = await blast(N, 32, (i) => ask(gw, group, `${tag} ${i}`));
      const bad = res.filter((r) => r.status !== 200);
      assert.equal(bad.length, 0, `${bad.length} failed, first: ${bad[0]?.text}`);
      const byAnswer = {};
      for (const r of res) byAnswer[r.json.model] = (byAnswer[r.json.model] || 0) + 1;
      const byMock = {};
      for (const n of Object.keys(weights)) byMock[n] = (await seen(M[n], tag)).length;
      console.log(`# ${group}: per mock ${JSON.stringify(byMock)}, per answer ${JSON.stringify(byAnswer)}`);
      assert.equal(Object.values(byMock).reduce((a, b) => a + b, 0), N, 'every request reached exactly one mock');
      for (const n of Object.keys(weights)) assert.equal(byAnswer[`up-${n}`] || 0, byMock[n], `answers of up-${n} = its mock's count`);
      assertShare(byMock, N, weights, group);
    }
  } finally {
    await gw.stop();
  }
});

// ---- least_busy -------------------------------------------------------------

test('least_busy: while target a holds requests open, every new request goes to b', async () => {
  await resetMocks();
  const gw = await gateway({
    groups: `
- name: lb
  strategy: least_busy
  targets:
    - {provider: a, model: up-a}
    - {provider: b, model: up-b}
`,
  });
  const ac = new AbortController();
  const held = [];
  try {
    // a answers nothing; b answers slowly for a moment, so that a burst
    // spreads over both (each new request goes to the less busy one)
    await mockDefaults(M.a, 'fault=hang');
    await mockDefaults(M.b, 'latency=300');
    const tag = `lb-${rnd()}`;
    const BURST = 8;
    const done = [];
    for (let i = 0; i < BURST; i++) {
      held.push(ask(gw, 'lb', `${tag}-burst-${i}`, { signal: ac.signal }).then((r) => { done.push(r); return r; }, (e) => e));
    }
    // every burst request is either answered by b or held by a
    const k = await waitFor(async () => {
      const atA = (await seen(M.a, tag)).length;
      return atA + done.length === BURST ? atA : 0;
    }, { timeout: 30000, what: `the ${BURST} burst requests answered by b or held by a` });
    for (const r of done) assert.equal(r.status, 200, r.text);
    assert.ok(k >= 1, 'a holds at least one request');
    await mockDefaults(M.b, '');
    const st = await targetState(gw, 'lb', 'a');
    assert.equal(st.in_flight, k, `/admin/groups: a has ${k} in flight: ${JSON.stringify(st)}`);
    assert.equal(metricValue(await metrics(gw), 'llmgate_target_in_flight', { group: 'lb', provider: 'a', model: 'up-a' }), k);
    // a holds k open; requests k/2 at a time (b has fewer than k in flight
    // whenever one is chosen) all go to b
    // (half of k: an attempt that just ended may still count for a moment)
    const conc = Math.max(1, Math.floor(k / 2));
    const tag2 = `lb2-${rnd()}`;
    const res = await blast(200, conc, (i) => ask(gw, 'lb', `${tag2}-${i}`));
    const models = {};
    for (const r of res) { assert.equal(r.status, 200, r.text); models[r.json.model] = (models[r.json.model] || 0) + 1; }
    console.log(`# least_busy: a holds ${k}; then 200 requests ${conc} at a time: ${JSON.stringify(models)}`);
    assert.deepEqual(models, { 'up-b': 200 });
    assert.equal((await seen(M.a, tag2)).length, 0, 'a saw none of them');
  } finally {
    ac.abort();
    await Promise.all(held);
    await mockDefaults(M.a, '');
    await mockDefaults(M.b, '');
    await gw.stop();
  }
});

// ---- latency ----------------------------------------------------------------

test('latency: ≥ 90% of traffic moves off a target made 50 ms slower, and it gets traffic back once it recovers', async () => {
  await resetMocks();
  const gw = await gateway({
    groups: `
- name: lat
  strategy: latency
  latency: {decay: 500ms, error_penalty: 1s}
  targets:
    - {provider: a, model: up-a}
    - {provider: b, model: up-b}
`,
  });
  try {
    const warm = await servedBy(gw, 'lat', 100, `lat-warm-${rnd()}`);
    console.log(`# latency: warm-up ${JSON.stringify(warm)}`);
    await mockDefaults(M.a, 'latency=50');
    // the shift: a gets < 10% of the last 100 (a hang guard, not a timer)
    let rounds = 0;
    await waitFor(async () => {
      rounds++;
      const c = await servedBy(gw, 'lat', 100, `lat-shift-${rounds}`);
      return (c['up-a'] || 0) < 10;
    }, { timeout: 60000, interval: 1, what: 'a (50 ms slower) getting < 10% of 100 requests' });
    const win = await servedBy(gw, 'lat', 200, `lat-win-${rnd()}`);
    console.log(`# latency: shift seen after ${rounds} rounds of 100; the next 200: ${JSON.stringify(win)}`);
    assert.ok((win['up-a'] || 0) <= 20, `a got ${win['up-a'] || 0} of 200 after the shift (≤ 10% wanted)`);
    const st = await targetState(gw, 'lat', 'a');
    const sb = await targetState(gw, 'lat', 'b');
    const m = await metrics(gw);
    const ew = (p) => metricValue(m, 'llmgate_target_latency_ewma_seconds', { group: 'lat', provider: p, model: `up-${p}` });
    // shown, not compared: a's value fades with time (decay 500ms) however slow the machine
    for (const p of ['a', 'b']) assert.ok(ew(p) >= 0, `llmgate_target_latency_ewma_seconds of ${p}: ${ew(p)}`);
    console.log(`# latency: EWMA after the window: /admin/groups a ${st.latency_ewma_ms} ms, b ${sb.latency_ewma_ms} ms; metric a ${ew('a')} s, b ${ew('b')} s`);
    // recovery: the decay brings a back, its fast answers keep it there
    await mockDefaults(M.a, '');
    rounds = 0;
    await waitFor(async () => {
      rounds++;
      const c = await servedBy(gw, 'lat', 100, `lat-back-${rounds}`);
      return (c['up-a'] || 0) >= 10;
    }, { timeout: 60000, interval: 1, what: 'a getting traffic back (≥ 10 of 100) after it recovered' });
    console.log(`# latency: a back after ${rounds} rounds of 100`);
  } finally {
    await mockDefaults(M.a, '');
    await gw.stop();
  }
});

// ---- affinity ---------------------------------------------------------------

test('affinity: each conversation stays on one target (≥ 99%) while healthy and moves, then stays, when it fails', async () => {
  await resetMocks();
  const gw = await gateway({
    groups: `
- name: aff
  strategy: affinity
  targets:
    - {provider: a, model: up-a}
    - {provider: b, model: up-b}
    - {provider: c, model: up-c}
`,
  });
  try {
    // conversations: 20 by header, one by `user`, one by its leading messages
    const convs = [];
    for (let i = 0; i < 20; i++) convs.push({ id: `h${i}`, headers: { 'x-session-id': `sess-${i}-${rnd()}` }, msgs: [] });
    convs.push({ id: 'user', headers: {}, user: `user-${rnd()}`, msgs: [] });
    convs.push({ id: 'prefix', headers: {}, msgs: [{ role: 'system', content: `You are helper ${rnd()}.` }] });
    const turn = async (c, t) => {
      c.msgs.push({ role: 'user', content: `${c.id} turn ${t}` });
      const body = { model: 'aff', messages: c.msgs };
      if (c.user) body.user = c.user;
      const r = await post(gw, body, { headers: c.headers });
      assert.equal(r.status, 200, `${c.id} turn ${t}: ${r.text}`);
      c.msgs.push({ role: 'assistant', content: r.json.choices[0].message.content });
      return r.json.model;
    };
    const TURNS = 15;
    for (const c of convs) c.healthy = {};
    // one request at a time (the load bound never applies)
    for (let t = 0; t < TURNS; t++) {
      for (const c of convs) { const m = await turn(c, t); c.healthy[m] = (c.healthy[m] || 0) + 1; }
    }
    const home = (counts) => Object.entries(counts).sort((x, y) => y[1] - x[1])[0];
    const spread = {};
    for (const c of convs) {
      const [m, n] = home(c.healthy);
      c.home = m;
      spread[m] = (spread[m] || 0) + 1;
      assert.ok(n / TURNS >= 0.99, `${c.id}: ${JSON.stringify(c.healthy)} (≥ 99% on one target wanted)`);
    }
    console.log(`# affinity: conversations per target while healthy ${JSON.stringify(spread)}`);
    // the target with the most conversations fails
    const victim = home(spread)[0];
    const vname = victim.replace(/^up-/, '');
    await mockDefaults(M[vname], 'fault=503');
    for (const c of convs) c.after = [];
    for (let t = TURNS; t < TURNS + 10; t++) for (const c of convs) c.after.push(await turn(c, t));
    for (const c of convs) {
      const counts = {};
      for (const m of c.after) counts[m] = (counts[m] || 0) + 1;
      if (c.home === victim) {
        assert.ok(!c.after.includes(victim), `${c.id} still answered by the failing ${victim}: ${c.after}`);
        // moved to one other target and stays there
        assert.equal(new Set(c.after).size, 1, `${c.id} moved, then moved again: ${c.after}`);
      } else {
        assert.deepEqual(counts, { [c.home]: 10 }, `${c.id} (not on ${victim}) stays on ${c.home}`);
      }
    }
    const moved = convs.filter((c) => c.home === victim).map((c) => `${c.id}→${c.after[0]}`);
    console.log(`# affinity: ${victim} failing; moved: ${moved.join(' ')}`);
  } finally {
    for (const n of ['a', 'b', 'c']) await mockDefaults(M[n], '');
    await gw.stop();
  }
});

// ---- priority tiers ---------------------------------------------------------

test('priority: tier 0 takes everything; tier 1 serves while every tier-0 target fails; tier 0 again once it recovers', async () => {
  await resetMocks();
  const gw = await gateway({
    groups: `
- name: prio
  strategy: weighted
  attempts: 3
  breaker: {failures: 2, cooldown: 1s}
  targets:
    - {provider: a, model: up-a, priority: 0}
    - {provider: b, model: up-b, priority: 0}
    - {provider: c, model: up-c, priority: 1}
`,
  });
  try {
    const first = await servedBy(gw, 'prio', 50, `prio-1-${rnd()}`);
    assert.equal(first['up-c'] || 0, 0, `tier 1 got traffic while tier 0 was healthy: ${JSON.stringify(first)}`);
    assert.equal((first['up-a'] || 0) + (first['up-b'] || 0), 50);
    await mockDefaults(M.a, 'fault=503');
    await mockDefaults(M.b, 'fault=503');
    const down = await servedBy(gw, 'prio', 50, `prio-2-${rnd()}`);
    assert.deepEqual(down, { 'up-c': 50 }, 'tier 1 serves while tier 0 fails');
    await waitFor(async () => (await targetState(gw, 'prio', 'a')).breaker !== 'closed' && (await targetState(gw, 'prio', 'b')).breaker !== 'closed',
      { timeout: 30000, what: 'both tier-0 breakers open' });
    await mockDefaults(M.a, '');
    await mockDefaults(M.b, '');
    // after their cooldown a probe each closes them: tier 0 serves again
    await waitFor(async () => {
      const c = await servedBy(gw, 'prio', 10, `prio-3-${rnd()}`);
      return !c['up-c'];
    }, { timeout: 30000, interval: 20, what: 'tier 0 serving again after recovery' });
    const again = await servedBy(gw, 'prio', 50, `prio-4-${rnd()}`);
    assert.equal(again['up-c'] || 0, 0, `tier 1 still used after tier 0 recovered: ${JSON.stringify(again)}`);
    for (const n of ['a', 'b']) assert.equal((await targetState(gw, 'prio', n)).breaker, 'closed');
  } finally {
    await mockDefaults(M.a, '');
    await mockDefaults(M.b, '');
    await gw.stop();
  }
});

// ---- breaker ----------------------------------------------------------------

test('breaker: 3 failures open it (the target is skipped), after the cooldown one half-open probe, success closes it', async () => {
  await resetMocks();
  const gw = await gateway({
    groups: `
- name: brk
  strategy: weighted
  attempts: 2
  breaker: {failures: 3, cooldown: 1s}
  targets:
    - {provider: a, model: up-a}
    - {provider: b, model: up-b}
`,
  });
  const labels = (p) => ({ group: 'brk', provider: p, model: `up-${p}` });
  try {
    await mockDefaults(M.a, 'fault=503');
    const tag = `brk-${rnd()}`;
    let i = 0;
    // every request succeeds (a's 503 fails over to b) until a failed 3 times
    await waitFor(async () => {
      const r = await ask(gw, 'brk', `${tag}-${i++}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.model, 'up-b');
      return (await seen(M.a, tag)).length >= 3;
    }, { timeout: 30000, interval: 1, what: 'three failed attempts at a' });
    assert.equal((await seen(M.a, tag)).length, 3);
    const open = await targetState(gw, 'brk', 'a');
    assert.equal(open.breaker, 'open', JSON.stringify(open));
    assert.ok(open.open_remaining_ms > 0 && open.open_remaining_ms <= 1000, JSON.stringify(open));
    assert.equal(open.available, false);
    let m = await metrics(gw);
    assert.equal(metricValue(m, 'llmgate_target_breaker_state', labels('a')), 1);
    assert.equal(metricValue(m, 'llmgate_target_breaker_state', labels('b')), 0);
    assert.equal(metricValue(m, 'llmgate_target_requests_total', { ...labels('a'), outcome: 'server' }), 3);
    // while open, a is skipped: its mock sees nothing
    const tagOpen = `brk-open-${rnd()}`;
    const during = await servedBy(gw, 'brk', 10, tagOpen);
    const still = await targetState(gw, 'brk', 'a');
    if (still.breaker === 'open' && still.open_remaining_ms <= open.open_remaining_ms) {
      assert.deepEqual(during, { 'up-b': 10 });
      assert.equal((await seen(M.a, tagOpen)).length, 0, 'a saw a request while its breaker was open');
    } else {
      console.log(`# breaker: the batch outlasted the cooldown (${JSON.stringify(still)}); the skip is not judged`);
    }
    // the probe: a answers again, but holds its answer so the half-open
    // state can be seen
    await mockDefaults(M.a, 'latency=3s');
    const tagProbe = `brk-probe-${rnd()}`;
    let j = 0;
    const probes = [];
    await waitFor(async () => {
      probes.push(ask(gw, 'brk', `${tagProbe}-${j++}`));
      await Promise.race([probes[probes.length - 1], new Promise((r) => setTimeout(r, 20))]);
      return (await seen(M.a, tagProbe)).length >= 1;
    }, { timeout: 30000, interval: 1, what: 'the half-open probe at a' });
    const half = await targetState(gw, 'brk', 'a');
    const probeRec = (await M.a.record()).filter((e) => (e.body || '').includes(tagProbe));
    const held = !probeRec.some((e) => e.event === 'done');
    console.log(`# breaker: probe after ${j} requests; ${held ? `held: ${JSON.stringify(half)}` : 'answered before the snapshot: half_open not judged'}`);
    if (held) { // the snapshot was taken while the probe was held
      assert.equal(half.breaker, 'half_open', JSON.stringify(half));
      assert.equal(half.available, false, `the probe turn is taken: ${JSON.stringify(half)}`);
      assert.equal(half.in_flight, 1);
      m = await metrics(gw);
      assert.equal(metricValue(m, 'llmgate_target_breaker_state', labels('a')), 2);
      // the probe's turn is taken: others go to b
      const side = await servedBy(gw, 'brk', 5, `brk-side-${rnd()}`);
      assert.deepEqual(side, { 'up-b': 5 });
    }
    assert.equal((await seen(M.a, tagProbe)).length, 1, 'one probe');
    await mockDefaults(M.a, '');
    const answers = await Promise.all(probes);
    for (const r of answers) assert.equal(r.status, 200, r.text);
    assert.ok(answers.some((r) => r.json.model === 'up-a'), 'the probe was answered by a');
    await waitFor(async () => (await targetState(gw, 'brk', 'a')).breaker === 'closed', { timeout: 10000, what: 'a closed' });
    m = await metrics(gw);
    assert.equal(metricValue(m, 'llmgate_target_breaker_state', labels('a')), 0);
    assert.ok(metricValue(m, 'llmgate_target_requests_total', { ...labels('a'), outcome: 'success' }) >= 1);
    const after = await servedBy(gw, 'brk', 20, `brk-after-${rnd()}`);
    assert.ok(after['up-a'] >= 5, `a serves again: ${JSON.stringify(after)}`);
  } finally {
    await mockDefaults(M.a, '');
    await gw.stop();
  }
});

// ---- failover ---------------------------------------------------------------

test('failover: a 503 from one target is answered by another, then by the group\'s fallback; attempts bounds the total', async () => {
  await resetMocks();
  const gw = await gateway({
    providers: ['a', 'b'],
    extraProviders: [[
      '  - name: f', '    type: openai', `    base_url: "${M.e.base}/v1"`, '    auth: none', '    models: ["direct-f"]',
      '    model_map: {fo: up-f, fo2: up-f}',
    ].join('\n')],
    groups: `
- name: fo
  strategy: weighted
  attempts: 3
  fallback: [f]
  breaker: {failures: 0}
  targets:
    - {provider: a, model: up-a}
    - {provider: b, model: up-b}
- name: fo2
  strategy: weighted
  attempts: 2
  fallback: [f]
  breaker: {failures: 0}
  targets:
    - {provider: a, model: up-a}
    - {provider: b, model: up-b}
`,
  });
  try {
    await mockDefaults(M.a, 'fault=503');
    const tag = `fo-${rnd()}`;
    const one = await servedBy(gw, 'fo', 10, tag);
    assert.deepEqual(one, { 'up-b': 10 }, 'b answers every request');
    assert.ok((await seen(M.a, tag)).length >= 1, 'some first attempts went to a');
    await mockDefaults(M.b, 'fault=503');
    const tag2 = `fo-fb-${rnd()}`;
    const two = await servedBy(gw, 'fo', 5, tag2);
    assert.deepEqual(two, { 'up-f': 5 }, 'the fallback answers when every target fails');
    for (let k = 0; k < 5; k++) {
      const t = `${tag2}-${k}`;
      // exact tag: "-1" must not match "-10"
      const count = async (m) => (await m.record()).filter((e) => e.event === 'request' && (e.body || '').includes(`"${t}"`)).length;
      assert.deepEqual([await count(M.a), await count(M.b), await count(M.e)], [1, 1, 1], `${t}: a, b, then f`);
    }
    // attempts: 2: a and b, never f
    const tag3 = `fo2-${rnd()}`;
    const r = await ask(gw, 'fo2', tag3);
    assert.ok(r.status >= 500, `every attempt failed: ${r.status} ${r.text}`);
    const total = (await seen(M.a, tag3)).length + (await seen(M.b, tag3)).length + (await seen(M.e, tag3)).length;
    assert.equal(total, 2, 'attempts: 2 bounds the upstream requests');
    assert.equal((await seen(M.e, tag3)).length, 0);
  } finally {
    await mockDefaults(M.a, '');
    await mockDefaults(M.b, '');
    await gw.stop();
  }
});

// ---- keys, 4xx, a target that is down, what is shown ------------------------

test('a key error tries the next key of the same target; a 4xx is relayed; a target that is down fails over; /v1/models, the access log', async () => {
  await resetMocks();
  const bad = mkKey('bad', 'fail429'), good = mkKey('good');
  const downPort = await freePort(); // nothing listens there
  const gw = await startGateway({
    config: ({ port }) => config({
      port,
      workers: 1,
      providers: ['b'],
      extraProviders: [
        ['  - name: ka', '    type: openai', `    base_url: "${M.a.base}/v1"`, `    keys: [${JSON.stringify(bad)}, ${JSON.stringify(good)}]`, '    models: ["direct-ka"]'].join('\n'),
        ['  - name: down', '    type: openai', `    base_url: "http://127.0.0.1:${downPort}/v1"`, '    auth: none', '    models: ["direct-down"]'].join('\n'),
      ],
      groups: `
- name: keyed
  attempts: 3
  targets:
    - {provider: ka, model: up-a, priority: 0}
    - {provider: b, model: up-b, priority: 1}
- name: downg
  attempts: 3
  breaker: {failures: 2, cooldown: 30s}
  targets:
    - {provider: down, model: up-down, priority: 0}
    - {provider: b, model: up-b, priority: 1}
`,
    }),
  });
  try {
    // the pool's round robin may start with either key: until the bad one was used
    const tag = `keyed-${rnd()}`;
    let i = 0, hit = null;
    await waitFor(async () => {
      const t = `${tag}-${i++}`;
      const r = await ask(gw, 'keyed', t);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.model, 'up-a', 'served by the tier-0 target with its other key');
      const at = (await M.a.record()).filter((e) => e.event === 'request' && (e.body || '').includes(`"${t}"`));
      if (at.some((e) => e.key === bad)) hit = { t, at };
      return hit !== null;
    }, { timeout: 30000, interval: 1, what: 'a request that met the 429 key' });
    assert.deepEqual(hit.at.map((e) => e.key), [bad, good], 'the 429 key, then the same target\'s next key');
    assert.equal((await seen(M.b, hit.t)).length, 0, 'the other target was not tried');
    // a 4xx of the request is relayed, not failed over
    const t400 = `keyed-400-${rnd()}`;
    const r400 = await post(gw, { model: 'keyed', messages: [{ role: 'user', content: t400 }], mock: 'fault=400' });
    assert.equal(r400.status, 400, r400.text);
    assert.equal((await seen(M.a, t400)).length, 1);
    assert.equal((await seen(M.b, t400)).length, 0);
    assert.equal((await targetState(gw, 'keyed', 'ka')).breaker, 'closed');
    // a target whose upstream refuses connections: tier 1 answers, the breaker opens
    const down = await servedBy(gw, 'downg', 5, `downg-${rnd()}`);
    assert.deepEqual(down, { 'up-b': 5 });
    const st = await targetState(gw, 'downg', 'down');
    assert.equal(st.breaker, 'open', JSON.stringify(st));
    assert.equal(st.consecutive_failures >= 2, true, JSON.stringify(st));
    const m = await metrics(gw);
    assert.ok(metricValue(m, 'llmgate_target_requests_total', { group: 'downg', provider: 'down', model: 'up-down', outcome: 'network' }) >= 2);
    assert.ok(metricValue(m, 'llmgate_target_requests_total', { group: 'keyed', provider: 'ka', model: 'up-a', outcome: 'rate_limited' }) >= 1);
    assert.ok(metricValue(m, 'llmgate_target_requests_total', { group: 'keyed', provider: 'ka', model: 'up-a', outcome: 'client' }) >= 1);
    // the group names are models
    const models = await request(gw.url('/v1/models'));
    assert.equal(models.status, 200, models.text);
    const ids = models.json.data.map((x) => x.id);
    for (const g of ['keyed', 'downg']) assert.ok(ids.includes(g), `${g} in /v1/models: ${ids}`);
    // the access line names the group and the target
    await gw.waitLog(/ status=200 model=keyed upstream_model=up-a provider=ka group=keyed /, 10000);
    await gw.waitLog(/ status=200 model=downg upstream_model=up-b provider=b group=downg /, 10000);
  } finally {
    await gw.stop();
  }
});

// ---- config -----------------------------------------------------------------

function writeConf(text) {
  const file = path.join(tmpDir(), 'groups.yaml');
  fs.writeFileSync(file, text);
  return file;
}
const BASE = `listen:
  - {address: 127.0.0.1, port: 18080}
providers:
  - name: p1
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    keys: [sk-1]
    models: ["m1"]
  - name: p2
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    keys: [sk-2]
    models: ["m2"]
  - name: pass
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    auth: passthrough
    models: ["m3"]
model_groups:
`;
const BASE_LINES = BASE.split('\n').length - 1; // the group text starts on line BASE_LINES + 1

test('config: -t accepts a valid model_groups', async () => {
  const file = writeConf(`${BASE}  - name: "g-*"
    strategy: affinity
    attempts: 2
    fallback: [p2]
    breaker: {failures: 3, cooldown: 5s}
    affinity: {header: x-conv, load_factor: 1.5}
    targets:
      - {provider: p1, model: up-1, weight: 2, priority: 0}
      - {provider: p2, priority: 1}
  - name: lat
    strategy: latency
    latency: {decay: 2s, error_penalty: 500ms}
    targets:
      - {provider: p1}
      - {provider: p2}
`);
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
});

const BAD = [
  // [what, group text (lines after BASE), the offending line within it (1-based)]
  ['unknown provider', '  - name: g\n    targets:\n      - {provider: nope}\n', 3],
  ['passthrough provider as a target', '  - name: g\n    targets:\n      - {provider: p1}\n      - {provider: pass}\n', 4],
  ['duplicate target', '  - name: g\n    targets:\n      - {provider: p1, model: x}\n      - {provider: p1, model: x}\n', 4],
  ['unknown strategy', '  - name: g\n    strategy: random\n    targets:\n      - {provider: p1}\n', 2],
  ['weight 0', '  - name: g\n    targets:\n      - {provider: p1, weight: 0}\n', 3],
  ['weight 10001', '  - name: g\n    targets:\n      - {provider: p1, weight: 10001}\n', 3],
  ['priority 1001', '  - name: g\n    targets:\n      - {provider: p1, priority: 1001}\n', 3],
  ['latency: with weighted', '  - name: g\n    strategy: weighted\n    latency: {decay: 1s}\n    targets:\n      - {provider: p1}\n', 3],
  ['affinity: with least_busy', '  - name: g\n    strategy: least_busy\n    affinity: {header: x}\n    targets:\n      - {provider: p1}\n', 3],
  ['duplicate group name', '  - name: g\n    targets:\n      - {provider: p1}\n  - name: g\n    targets:\n      - {provider: p2}\n', 4],
  ['unknown key', '  - name: g\n    stratgy: weighted\n    targets:\n      - {provider: p1}\n', 2],
  ['unknown target key', '  - name: g\n    targets:\n      - {provider: p1, wieght: 2}\n', 3],
  ['65 targets', `  - name: g\n    targets:\n${Array.from({ length: 65 }, (_, i) => `      - {provider: p1, model: m${i}}\n`).join('')}`, null],
];

for (const [what, text, line] of BAD) {
  test(`config: -t refuses ${what} with FILE:LINE:COLUMN`, async () => {
    const file = writeConf(BASE + text);
    const r = await runCli(['-t', '-c', file]);
    assert.notEqual(r.code, 0, `accepted: ${r.stderr}${r.stdout}`);
    const out = r.stderr + r.stdout;
    const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const m = new RegExp(`^${esc}:(\\d+):(\\d+): (.+)$`, 'm').exec(out);
    assert.ok(m, `no FILE:LINE:COLUMN line in: ${out}`);
    const got = Number(m[1]);
    if (line !== null) assert.equal(got, BASE_LINES + line, `line of the error (${what}): ${out}`);
    else assert.ok(got > BASE_LINES, `line of the error (${what}): ${out}`);
    assert.ok(Number(m[2]) >= 1);
  });
}

test('a group is matched before the providers\' globs; a glob name; a target without model sends the name asked for', async () => {
  await resetMocks();
  const gw = await startGateway({
    config: ({ port }) => [
      'listen:', `  - {address: 127.0.0.1, port: ${port}}`, 'workers: 1', 'model_groups:',
      '  - name: "glob-*"', '    targets:', '      - {provider: a}',
      'providers:', providerYaml('a'), providerYaml('b').replace('models: ["direct-b"]', 'models: ["glob-*", "*"]'),
    ].join('\n') + '\n',
  });
  try {
    for (const name of ['glob-x1', 'glob-y2']) {
      const r = await ask(gw, name, 'hi');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.model, name);
    }
    assert.equal((await seen(M.a)).length, 2);
    assert.equal((await seen(M.b)).length, 0);
    const r = await ask(gw, 'other', 'hi');
    assert.equal(r.status, 200, r.text);
    assert.equal((await seen(M.b)).length, 1, 'a name no group matches goes to the provider as before');
  } finally {
    await gw.stop();
  }
});

test('a config without model_groups works unchanged', async () => {
  const gw = await startGateway({
    config: ({ port }) => [
      'listen:', `  - {address: 127.0.0.1, port: ${port}}`, 'workers: 1', 'providers:',
      providerYaml('a', ['model_map: {plain: up-a}']).replace('models: ["direct-a"]', 'models: ["plain"]'),
    ].join('\n') + '\n',
  });
  try {
    const r = await ask(gw, 'plain', 'hello');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model, 'up-a');
    assert.equal(r.json.choices[0].message.content, 'mock: hello');
  } finally {
    await gw.stop();
  }
});

test('a reload (SIGHUP) keeps the state of the targets it keeps (an open breaker, the counts); an added target starts fresh', async () => {
  await resetMocks();
  const groups = (targets) => `
- name: rl
  strategy: weighted
  breaker: {failures: 2, cooldown: 10m}
  targets:
${targets.map((n) => `    - {provider: ${n}, model: up-${n}}`).join('\n')}
`;
  const gw = await gateway({ workers: 1, groups: groups(['a', 'b']) });
  try {
    await mockDefaults(M.a, 'fault=503');
    let i = 0;
    await waitFor(async () => {
      const r = await ask(gw, 'rl', `rl-${i++}`);
      assert.equal(r.status, 200, r.text); // a's 503 fails over to b
      return (await targetState(gw, 'rl', 'a')).breaker === 'open';
    }, { timeout: 30000, interval: 1, what: 'a open' });
    const before = await targetState(gw, 'rl', 'a');
    const bBefore = await targetState(gw, 'rl', 'b');
    // the new config keeps a and b and adds c
    const old = gw.workerPids();
    fs.writeFileSync(gw.configFile, config({ port: gw.port, workers: 1, groups: groups(['a', 'b', 'c']) }));
    gw.signal('SIGHUP');
    await waitFor(() => { const w = gw.workerPids(); return w.length > 0 && w.every((p) => !old.includes(p)); },
      { timeout: 60000, what: 'the new generation alone' });
    const g = (await groupsState(gw)).find((x) => x.name === 'rl');
    assert.equal(g.targets.length, 3, JSON.stringify(g));
    const a = g.targets.find((t) => t.provider === 'a'), b = g.targets.find((t) => t.provider === 'b');
    const c = g.targets.find((t) => t.provider === 'c');
    assert.equal(a.breaker, 'open', `a's breaker survives the reload: ${JSON.stringify(a)}`);
    assert.equal(a.requests, before.requests);
    assert.ok(b.requests >= bBefore.requests, JSON.stringify(b));
    assert.equal(c.breaker, 'closed');
    assert.equal(c.requests, 0);
    // a stays out; b and c share its turns
    const tag = `rl-after-${rnd()}`;
    const counts = await servedBy(gw, 'rl', 20, tag);
    assert.equal(counts['up-a'] || 0, 0, JSON.stringify(counts));
    assert.ok((counts['up-b'] || 0) > 0 && (counts['up-c'] || 0) > 0, JSON.stringify(counts));
    assert.equal((await seen(M.a, tag)).length, 0);
  } finally {
    await mockDefaults(M.a, '');
    await gw.stop();
  }
});

// Key health, retries and failover against the mock upstream (SPEC section 6,
// docs/key-health.md, docs/routing.md "Retries and fallback"): every row of the
// key-health table observed in the mock's record and /admin/keys, fallback
// providers, retry.attempts, 429 without calling the upstream when every key
// rests, and relayed 4xx answers that do not blame the key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, curl, request, waitFor } from './lib/harness.mjs';
import {
  mkKey, rnd, gatewayYaml, chatBody, settledRequests, keyRows, scrape, metric, replayDirect, assertOpenAIError,
} from './lib/upstream.mjs';

// The key pool's timing (cooldown doubling, the half-open probe) is the same
// whichever upstream client or transport carries the attempts: those tests
// wait out whole cooldowns, so they run in the normal and sanitizer passes
// only, not again in tests/run's libcurl and TLS reruns of this file.
const RERUN = (process.env.LLMGATE_UPSTREAM_CLIENT === 'curl' || process.env.LLMGATE_TEST_UPSTREAM_TLS === '1') &&
  'the key pool\'s timing: run by the normal and sanitizer passes (tests/run)';

// Cooldowns and disabled periods are long enough (seconds to tens of seconds)
// to outlast the requests a test makes while they run, even on a loaded
// machine. What is left of one that began after `tStart` (Date.now()) lies
// between `ms` minus the time since tStart and `ms` (+ `over` for an HTTP-date,
// which has whole seconds): the window the design allows, however slow.
function assertRemaining(remaining, ms, tStart, what, { over = 0, under = 0 } = {}) {
  const elapsed = Date.now() - tStart;
  assert.ok(remaining <= ms + over && remaining >= ms - under - elapsed - 50,
    `${what}: ${remaining} ms left, want ${ms} ms less the ${elapsed} ms since the request (${ms - under - elapsed}..${ms + over})`);
}
// The same for a Retry-After header (whole seconds).
function assertRetryAfter(r, ms, tStart, what) {
  const elapsed = Date.now() - tStart;
  const ra = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(ra) && ra <= Math.ceil(ms / 1000) && ra >= Math.floor((ms - elapsed) / 1000),
    `${what}: Retry-After ${r.headers['retry-after']}, want ${ms} ms less the ${elapsed} ms since the key began to rest, in seconds`);
}

const ADMIN = `sk-admin-${rnd()}`;
const good = (tag) => mkKey(tag);

// provider name -> {keys, models, extra}; the bad key (when there is one) is keys[0]
const P = {
  'r-ms': { keys: [mkKey('rms', 'fail429-retry_after_ms=20000'), good('rmsok')] },
  'r-s': { keys: [mkKey('rs', 'fail429-retry_after=20'), good('rsok')] },
  'r-date': { keys: [mkKey('rdate', 'fail429-retry_after_date=20'), good('rdateok')] },
  'r-reset': { keys: [mkKey('rreset', 'fail429-reset_requests=20s'), good('rresetok')] },
  'r-none': { keys: [mkKey('rnone', 'fail429'), good('rnoneok')] },
  'a401': { keys: [mkKey('a401', 'fail401'), good('a401ok')] },
  'a403': { keys: [mkKey('a403', 'fail403'), good('a403ok')] },
  'a402': { keys: [mkKey('a402', 'fail402'), good('a402ok')] },
  'a402or': { keys: [mkKey('a402or', 'fail402'), good('a402orok')], base: '/api/v1' },
  'aquota': { keys: [mkKey('aquota', 'failinsufficient_quota'), good('aquotaok')] },
  'nokeys': { keys: [mkKey('nk1', 'fail401'), mkKey('nk2', 'fail403'), mkKey('nk3', 'fail402')] },
  's500': { keys: [mkKey('s500', 'fail500')] },
  'reset': { keys: [mkKey('reset', 'fail500-times=2')] },
  'probe': { keys: [mkKey('probe', 'fail401-times=1-latency=2500')] },
  'prim': { keys: [mkKey('prim1', 'fail500'), mkKey('prim2', 'fail503')], extra: { fallback: '[backup]' } },
  'coolfb': { keys: [mkKey('coolfb', 'fail429-retry_after=20')], extra: { fallback: '[backup]' } }, // before backup: its model_map names coolfb
  'backup': { keys: [good('backup')], models: ['backup-only'], extra: { model_map: '{prim: backup-upstream-model, coolfb: backup-upstream-model}' } },
  'many': { keys: [mkKey('many1', 'fail502'), mkKey('many2', 'fail502'), mkKey('many3', 'fail502'), mkKey('many4', 'fail502')], extra: { fallback: '[backup]' } },
  'cool1': { keys: [mkKey('cool1', 'fail429-retry_after=20')] },
  'cool2': { keys: [mkKey('cool2', 'fail429-retry_after=20')] },
  'rel': { keys: [good('rel')] },
  'rel-or': { keys: [good('relor')], base: '/api/v1' },
  'rel-di': { keys: [good('reldi')], base: '/v1/openai' },
};
const ALL_KEYS = Object.values(P).flatMap((p) => p.keys);

let mock, gw;
const seen = [];

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2,
      top: `admin_token: ${ADMIN}\nkeys: {cooldown: 4s, max_cooldown: 60s, probe_after: 8s}\nretry: {attempts: 3}\ntimeouts: {ping: 0}`,
      providers: Object.entries(P).map(([name, p]) => ({
        name, base: `${mock.base}${p.base || '/v1'}`, keys: p.keys, models: p.models || [name, `${name}~*`], extra: p.extra || {},
      })),
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

async function post(model, content, { extra = {}, headers = [] } = {}) {
  const args = ['-H', 'content-type: application/json'];
  for (const h of headers) args.push('-H', h);
  args.push('--data-binary', JSON.stringify(chatBody(model, content, extra)), gw.url('/v1/chat/completions'));
  const r = await curl(args, { timeout: 60000 });
  seen.push(`${r.status}\n${JSON.stringify(r.headers)}\n${r.body}`);
  return r;
}
const rows = (provider) => keyRows(gw, ADMIN, provider);
const idx = (provider, key) => P[provider].keys.indexOf(key);

// Sends requests to `provider` (at most one per key) until the bad key
// (keys[0]) was tried; every client answer must be 200 from the good key.
// Returns the mock entries of the request that tried the bad key, with
// `tStart`: Date.now() before that request.
async function hitBadKey(provider) {
  const [bad, ok] = P[provider].keys;
  for (let i = 0; i < P[provider].keys.length; i++) {
    const tag = `${provider}-${rnd()}`;
    const tStart = Date.now();
    const r = await post(provider, `hit ${tag}`);
    assert.equal(r.status, 200, `${provider}: the client must get the next key's answer, got ${r.status} ${r.body}`);
    assert.equal(r.json.choices[0].message.content, `mock: hit ${tag}`);
    const entries = await settledRequests(mock, tag);
    for (const e of entries) assert.equal(e.headers['x-request-id'], r.headers['x-request-id']);
    if (entries.some((e) => e.key === bad)) {
      assert.deepEqual(entries.map((e) => idx(provider, e.key)), [0, 1], `${provider}: keys tried in order ${entries.map((e) => idx(provider, e.key))}`);
      assert.equal(entries[1].key, ok);
      entries.tStart = tStart;
      return entries;
    }
    assert.deepEqual(entries.map((e) => e.key), [ok]);
  }
  assert.fail(`${provider}: the bad key was never tried`);
}

// The next `n` requests go to the good key only.
async function onlyGoodKey(provider, n = 2) {
  const tag = `${provider}-after-${rnd()}`;
  for (let i = 0; i < n; i++) {
    const r = await post(provider, `after ${i} ${tag}`);
    assert.equal(r.status, 200, r.body);
  }
  const entries = await settledRequests(mock, tag);
  assert.deepEqual(entries.map((e) => idx(provider, e.key)), Array(n).fill(1), `${provider}: a resting key was used again`);
}

// ---- 429 -------------------------------------------------------------------------

const COOLING = [
  ['r-ms', 'retry-after-ms: 20000', 20000],
  ['r-s', 'Retry-After: 20 (seconds)', 20000],
  ['r-date', 'Retry-After: HTTP-date 20 s ahead', 20000, { over: 100, under: 1000 }],
  ['r-reset', 'x-ratelimit-reset-requests: 20s', 20000],
  ['r-none', 'no hint: keys.cooldown (4s)', 4000],
];
for (const [provider, what, ms, slack] of COOLING) {
  test(`429 with ${what}: the key cools for that long, the next key answers, then only it is used`, async () => {
    const { tStart } = await hitBadKey(provider);
    const [bad, ok] = await rows(provider);
    assert.equal(bad.last_status, 429);
    assert.equal(bad.state, 'cooling', JSON.stringify(bad));
    assertRemaining(bad.cooldown_remaining_ms, ms, tStart, 'cooldown_remaining_ms', slack);
    assert.equal(bad.rate_limited, 1);
    assert.equal(bad.consecutive_failures, 1);
    assert.equal(ok.state, 'usable');
    const m = await scrape(gw);
    assert.equal(metric(m, 'llmgate_key_state', { provider, key: bad.id }), 1);
    assert.ok(metric(m, 'llmgate_key_cooldown_seconds', { provider, key: bad.id }) > 0);
    assert.equal(metric(m, 'llmgate_key_attempts_total', { provider, key: bad.id, outcome: 'rate_limited' }), 1);
    await onlyGoodKey(provider);
  });
}

test('429 without a hint twice in a row: the cooldown doubles (keys.cooldown 4s, then 8s)', { skip: RERUN }, async () => {
  // r-none's bad key is cooling for <= 4 s from the test above
  await waitFor(async () => (await rows('r-none'))[0].cooldown_remaining_ms === 0, { timeout: 30000, what: 'the cooldown to end' });
  const entries = await hitBadKey('r-none'); // the probe of the cooled key: 429 again
  assert.equal(entries.length, 2);
  const [bad] = await rows('r-none');
  assert.equal(bad.state, 'cooling');
  assert.equal(bad.consecutive_failures, 2);
  assertRemaining(bad.cooldown_remaining_ms, 8000, entries.tStart, 'second cooldown');
});

// ---- 401 / 403 / 402 / insufficient_quota ------------------------------------------

for (const [provider, what] of [['a401', '401'], ['a403', '403'], ['a402', '402'], ['a402or', 'OpenRouter 402 (numeric code)'], ['aquota', 'insufficient_quota (429)']]) {
  test(`${what}: the key is disabled until its probe (keys.probe_after), the client gets the next key's answer`, async () => {
    const { tStart } = await hitBadKey(provider);
    const [bad, ok] = await rows(provider);
    assert.equal(bad.state, 'disabled', JSON.stringify(bad));
    assertRemaining(bad.cooldown_remaining_ms, 8000, tStart, 'disabled for ~probe_after (8 s)');
    assert.equal(bad.auth + bad.payment, 1, JSON.stringify(bad));
    assert.equal(provider === 'a401' || provider === 'a403' ? bad.auth : bad.payment, 1, JSON.stringify(bad));
    assert.equal(ok.state, 'usable');
    const m = await scrape(gw);
    assert.equal(metric(m, 'llmgate_key_state', { provider, key: bad.id }), 2);
    await onlyGoodKey(provider);
  });
}

test('401/403/402 on every key: the client never sees them (429 or 502), then 429 without calling the upstream', async () => {
  const tag = `nokeys-${rnd()}`;
  const tStart = Date.now();
  const r = await post('nokeys', `first ${tag}`);
  assert.ok([429, 502].includes(r.status), `the client got ${r.status}: ${r.body}`);
  assertOpenAIError(r, r.status);
  const entries = await settledRequests(mock, tag);
  assert.equal(entries.length, 3, 'every key is tried once');
  assert.deepEqual(entries.map((e) => idx('nokeys', e.key)).sort(), [0, 1, 2]);
  assert.ok((await rows('nokeys')).every((k) => k.state === 'disabled'));
  const r2 = await post('nokeys', `second ${tag}`);
  assertOpenAIError(r2, 429);
  assertRetryAfter(r2, 8000, tStart, 'every key disabled (probe_after 8 s)');
  assert.equal((await settledRequests(mock, tag)).length, 3, 'the upstream was called although no key was usable');
});

// ---- 5xx ---------------------------------------------------------------------------

test('5xx: failures counted, the key cools after the third in a row; then 429 without calling the upstream', async () => {
  const tag = `s500-${rnd()}`;
  let tThird;
  for (let i = 1; i <= 3; i++) {
    tThird = Date.now();
    const r = await post('s500', `${i} ${tag}`);
    assertOpenAIError(r, 502, `request ${i}`);
    const [k] = await rows('s500');
    assert.equal(k.consecutive_failures, i);
    assert.equal(k.server, i);
    assert.equal(k.state, i < 3 ? 'usable' : 'cooling', `after ${i} failures: ${JSON.stringify(k)}`);
    if (i === 3) assertRemaining(k.cooldown_remaining_ms, 4000, tThird, 'cooldown after the third failure (keys.cooldown 4 s)');
  }
  const r = await post('s500', `4 ${tag}`);
  assertOpenAIError(r, 429);
  assertRetryAfter(r, 4000, tThird, 'the key cooling after the third failure');
  assert.equal((await settledRequests(mock, tag)).length, 3);
});

test('success resets the consecutive failures', async () => {
  const tag = `reset-${rnd()}`;
  for (let i = 1; i <= 2; i++) assertOpenAIError(await post('reset', `${i} ${tag}`), 502);
  assert.equal((await rows('reset'))[0].consecutive_failures, 2);
  const r = await post('reset', `3 ${tag}`);
  assert.equal(r.status, 200, r.body);
  const [k] = await rows('reset');
  assert.equal(k.consecutive_failures, 0);
  assert.equal(k.state, 'usable');
  assert.equal(k.server, 2);
  assert.equal(k.success, 1);
});

test('half-open: a disabled key is probed once after probe_after (one probe at a time), success makes it usable', { skip: RERUN }, async () => {
  const tag = `probe-${rnd()}`;
  const r1 = await post('probe', `1 ${tag}`);
  assert.ok([429, 502].includes(r1.status), `${r1.status} ${r1.body}`);
  let [k] = await rows('probe');
  assert.equal(k.state, 'disabled');
  const r2 = await post('probe', `2 ${tag}`);
  assertOpenAIError(r2, 429);
  assert.equal((await settledRequests(mock, tag)).length, 1);
  await waitFor(async () => (await rows('probe'))[0].cooldown_remaining_ms === 0, { timeout: 30000, what: 'probe_after to pass' });
  // the probe takes 2.5 s (latency in the key); meanwhile nobody else may use the key
  const probe = post('probe', `3 ${tag}`);
  await waitFor(async () => (await mock.record()).some((e) => e.event === 'request' && (e.body || '').includes(`3 ${tag}`)),
    { timeout: 30000, what: 'the probe to reach the upstream' });
  [k] = await rows('probe');
  assert.equal(k.state, 'probing', JSON.stringify(k));
  const during = await post('probe', `4 ${tag}`);
  assertOpenAIError(during, 429, 'a request during the probe');
  const p = await probe;
  assert.equal(p.status, 200, p.body);
  [k] = await rows('probe');
  assert.equal(k.state, 'usable');
  const r5 = await post('probe', `5 ${tag}`);
  assert.equal(r5.status, 200, r5.body);
  const entries = await settledRequests(mock, tag);
  assert.deepEqual(entries.map((e) => e.body.match(/"(\d) probe-/)[1]), ['1', '3', '5']);
});

// ---- fallback and retry.attempts ------------------------------------------------------

test('fallback: when every key of the primary fails, the fallback provider answers with its own model_map', async () => {
  const tag = `fb-${rnd()}`;
  const r = await post('prim', `fb ${tag}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.choices[0].message.content, `mock: fb ${tag}`);
  const entries = await settledRequests(mock, tag);
  assert.equal(entries.length, 3);
  assert.deepEqual(entries.slice(0, 2).map((e) => idx('prim', e.key)).sort(), [0, 1]);
  assert.equal(entries[2].key, P.backup.keys[0]);
  assert.equal(entries[2].model, 'backup-upstream-model');
  assert.equal(r.json.model, 'backup-upstream-model');
});

test('retry.attempts caps the upstream requests of one client request (3 of 4 failing keys, no fallback reached): 502', async () => {
  const tag = `many-${rnd()}`;
  const r = await post('many', `many ${tag}`);
  assertOpenAIError(r, 502);
  assert.doesNotMatch(r.body, /cloudflare|<html/i, 'the upstream\'s HTML error page reached the client');
  const entries = await settledRequests(mock, tag);
  assert.equal(entries.length, 3, `upstream requests: ${entries.map((e) => e.key)}`);
  assert.ok(entries.every((e) => P.many.keys.includes(e.key)), 'the fallback was called beyond retry.attempts');
  assert.equal(new Set(entries.map((e) => e.key)).size, 3, 'a key was tried twice');
});

// ---- every key resting -----------------------------------------------------------------

test('every key cooling: 429 with Retry-After, without calling the upstream', async () => {
  const tag = `cool1-${rnd()}`;
  const tStart = Date.now();
  await post('cool1', `1 ${tag}`);
  const [k] = await rows('cool1');
  assert.equal(k.state, 'cooling');
  const r = await post('cool1', `2 ${tag}`);
  assertOpenAIError(r, 429);
  assertRetryAfter(r, 20000, tStart, 'the only key cooling (retry-after: 20)');
  assert.equal((await settledRequests(mock, tag)).length, 1, 'the upstream was called while every key was cooling');
});

test('the request whose 429 leaves every key cooling gets 429 with Retry-After too (docs/routing.md), never the key\'s 429 body', async () => {
  const tag = `cool2-${rnd()}`;
  const tStart = Date.now();
  const r = await post('cool2', `1 ${tag}`);
  assert.doesNotMatch(r.body, /Rate limit reached for requests/, 'the upstream\'s own 429 body was relayed');
  assertOpenAIError(r, 429, 'the only key answered 429 with retry-after: 20; routing.md: every key tried cooling -> 429');
  assertRetryAfter(r, 20000, tStart, 'the key that just answered 429 (retry-after: 20)');
});

test('a cooling primary is skipped without an upstream call: the fallback answers', async () => {
  const tag = `coolfb-${rnd()}`;
  const r1 = await post('coolfb', `1 ${tag}`);
  assert.equal(r1.status, 200, r1.body);
  const r2 = await post('coolfb', `2 ${tag}`);
  assert.equal(r2.status, 200, r2.body);
  assert.equal(r2.json.choices[0].message.content, `mock: 2 ${tag}`);
  const entries = await settledRequests(mock, tag);
  assert.deepEqual(entries.map((e) => (e.key === P.coolfb.keys[0] ? 'primary' : e.key === P.backup.keys[0] ? 'backup' : e.key)),
    ['primary', 'backup', 'backup'], `request 2 must go straight to the fallback: ${JSON.stringify(entries.map((e) => [e.key, e.body]))}`);
});

// ---- relayed 4xx --------------------------------------------------------------------------

async function relayCase(provider, fault) {
  const tag = `${provider}-${fault}-${rnd()}`;
  const [before] = await rows(provider);
  const r = await post(`${provider}~fault=${fault}`, `rel ${tag}`);
  const [entry] = await settledRequests(mock, tag);
  const ref = await replayDirect(mock, entry);
  assert.equal(ref.status, fault);
  const [k] = await rows(provider);
  return { r, ref, before, k };
}

for (const fault of [400, 404, 422]) {
  test(`upstream ${fault} (OpenAI): relayed with its status and message; the key is not blamed`, async () => {
    const { r, ref, before, k } = await relayCase('rel', fault);
    assertOpenAIError(r, fault);
    assert.equal(r.json.error.message, ref.json.error.message);
    assert.equal(r.json.error.code, ref.json.error.code);
    assert.equal(r.json.error.type, ref.json.error.type);
    assert.equal(k.state, 'usable');
    assert.equal(k.consecutive_failures, 0);
    assert.equal(k.client, before.client + 1);
    assert.equal(k.requests, before.requests + 1, 'a relayed 4xx must not be retried on another key');
    for (const f of ['rate_limited', 'auth', 'payment', 'server', 'network']) assert.equal(k[f], 0, f);
  });
}

test('upstream 400 on a stream request (before any byte): relayed as a JSON 400, not as a stream', async () => {
  const tag = `rels-${rnd()}`;
  const r = await post('rel~fault=400', `rels ${tag}`, { extra: { stream: true } });
  assertOpenAIError(r, 400);
  assert.match(r.headers['content-type'] || '', /^application\/json/);
  const [entry] = await settledRequests(mock, tag);
  const ref = await replayDirect(mock, entry);
  assert.equal(r.json.error.message, ref.json.error.message);
});

test('upstream 400 (OpenRouter): numeric code normalised to a string, message relayed, key not blamed', async () => {
  const { r, ref, k } = await relayCase('rel-or', 400);
  assert.equal(typeof ref.json.error.code, 'number');
  assertOpenAIError(r, 400);
  assert.equal(r.json.error.code, String(ref.json.error.code));
  assert.equal(r.json.error.message, ref.json.error.message);
  assert.equal(k.state, 'usable');
  assert.equal(k.client, 1);
});

test('upstream 403 for moderation-flagged input (OpenRouter, metadata.reasons): relayed as 403, the key is not disabled', async () => {
  const tag = `rel-or-mod-${rnd()}`;
  const [before] = await rows('rel-or');
  const r = await post('rel-or~fault=moderation', `rel ${tag}`);
  assertOpenAIError(r, 403);
  assert.match(r.json.error.message, /flagged/);
  const [k] = await rows('rel-or');
  assert.equal(k.state, 'usable');
  assert.equal(k.auth, before.auth, 'a flagged input must not count against the key');
  assert.equal(k.client, before.client + 1);
  assert.equal(k.requests, before.requests + 1, 'not retried on another key');
  // the same status without the moderation metadata is about the key
  const r2 = await post('rel-or~fault=403', `rel2 ${tag}`);
  assert.notEqual(r2.status, 403, r2.body);
  const [k2] = await rows('rel-or');
  assert.equal(k2.auth, before.auth + 1);
});

test('upstream 422 (DeepInfra, FastAPI {"detail":[...]}): relayed as 422 with the upstream\'s message', async () => {
  const { r, ref, k } = await relayCase('rel-di', 422);
  assertOpenAIError(r, 422);
  const msg = ref.json.detail[0].msg;
  assert.ok(r.json.error.message.includes(msg), `message ${JSON.stringify(r.json.error.message)} lacks the upstream's ${JSON.stringify(msg)}`);
  assert.equal(k.state, 'usable');
});

test('no upstream key in any response, /metrics, /admin/keys or the logs', async () => {
  seen.push((await request(gw.url('/metrics'))).text, (await request(gw.url('/admin/keys'), { token: ADMIN })).text, gw.logs());
  const leaks = [];
  for (const k of ALL_KEYS) {
    const secret = k.split('-')[2];
    seen.forEach((t, i) => { if (t.includes(secret)) leaks.push(`text ${i} has ${k}`); });
  }
  assert.deepEqual(leaks, []);
});

// Access-token quotas on one host (docs/quotas.md): requests_per_day exact over
// two workers, tokens_per_day and tokens_per_month counted from the upstream's
// usage (the mock, docs/mock.md: prompt = words, completion = chunks), the 429
// insufficient_quota in each client protocol with Retry-After, the
// x-ratelimit-* headers, /admin/usage, the metrics, SIGHUP keeping the counts
// and config errors. The cluster is tested in cluster.test.mjs; the UTC day
// rollover in tests/unit/test_quota.c (no clock control here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startGateway, startMock, request, waitFor, runCli, tmpDir, parsePrometheus, metricValue,
} from './lib/harness.mjs';
import { gatewayYaml, mkKey, rnd } from './lib/upstream.mjs';

const ADMIN = `adm-${rnd()}`;
const T = {
  rpd: `sk-rpd-${rnd()}`, // requests_per_day 5, no rpm
  hdr: `sk-hdr-${rnd()}`, // rpm 4 and all three quotas
  free: `sk-free-${rnd()}`, // no limits
  tpd: `sk-tpd-${rnd()}`, // tokens_per_day 30
  tpm: `sk-tpm-${rnd()}`, // tokens_per_month 15
  proto: `sk-proto-${rnd()}`, // requests_per_day 1
};
const RPD = 5;
const UPKEY = mkKey('quota');

const tokensYaml = (rpdHup) => [
  `admin_token: ${ADMIN}`,
  'access_tokens:',
  `  - {token: ${T.rpd}, name: rpd, quota: {requests_per_day: ${RPD}}}`,
  `  - {token: ${T.hdr}, name: hdr, rpm: 4, quota: {requests_per_day: 50, tokens_per_day: 100000, tokens_per_month: 1000000}}`,
  `  - {token: ${T.free}, name: free}`,
  `  - {token: ${T.tpd}, name: tpd, quota: {tokens_per_day: 30}}`,
  `  - {token: ${T.tpm}, name: tpm, quota: {tokens_per_month: 15}}`,
  `  - {token: ${T.proto}, name: proto, quota: {requests_per_day: 1}}`,
  rpdHup !== undefined ? `  - {token: ${T.hup}, name: hup, quota: {requests_per_day: ${rpdHup}}}` : '',
].filter(Boolean).join('\n');

const config = (mock, port, rpdHup) => gatewayYaml({
  port,
  workers: 2,
  top: tokensYaml(rpdHup),
  providers: [
    { name: 'mock', base: `${mock.base}/v1`, keys: [UPKEY], models: ['gpt-*'] },
    // a provider of its own for 5xx answers: the key of `mock` stays healthy
    { name: 'bad', base: `${mock.base}/v1`, keys: [mkKey('bad')], models: ['bad-*'] },
    { name: 'echo', type: 'echo', models: ['echo'] },
  ],
});

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway({ config: ({ port }) => config(mock, port) });
});
after(async () => { await gw?.stop(); await mock?.stop(); });

const chatReq = (g, token, body, opts = {}) => request(g.url(opts.path || '/v1/chat/completions'),
  { method: 'POST', token, body, ...opts });
const msg = (model, content = 'one two three four', extra = {}) => ({ model, messages: [{ role: 'user', content }], ...extra });

// A Go duration ("20ms", "12s", "7h32m3s") in milliseconds.
function goDuration(s) {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(s ?? '');
  assert.ok(m && s !== '', `not a Go duration: ${s}`);
  return ((Number(m[1] || 0) * 60 + Number(m[2] || 0)) * 60 + Number(m[3] || 0)) * 1000 + Number(m[4] || 0);
}

const secondsToUtcMidnight = () => {
  const now = Date.now();
  const d = new Date(now);
  return (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - now) / 1000;
};
const nextUtcMidnightIso = () => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)).toISOString().replace('.000Z', 'Z');
};
const nextUtcMonthIso = () => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString().replace('.000Z', 'Z');
};

const rl = (r) => Object.fromEntries([...r.headers].filter(([k]) => k.startsWith('x-ratelimit-')));

// The set `what` (requests, tokens, requests-day, ...) of the x-ratelimit headers.
function rlSet(r, what) {
  const h = rl(r);
  return {
    limit: h[`x-ratelimit-limit-${what}`] === undefined ? undefined : Number(h[`x-ratelimit-limit-${what}`]),
    remaining: h[`x-ratelimit-remaining-${what}`] === undefined ? undefined : Number(h[`x-ratelimit-remaining-${what}`]),
    reset: h[`x-ratelimit-reset-${what}`],
  };
}

function assertQuota429(r, quota, limit, unit, what = '') {
  assert.equal(r.status, 429, `${what}: ${r.text}`);
  assert.equal(r.json?.error?.type, 'insufficient_quota', `${what}: ${r.text}`);
  assert.equal(r.json.error.code, 'quota_exceeded', `${what}: ${r.text}`);
  assert.equal(r.json.error.param, null, `${what}: ${r.text}`);
  const reset = quota === 'tokens_per_month' ? nextUtcMonthIso() : nextUtcMidnightIso();
  const m = new RegExp(`^This API key has used its quota ${quota} \\(${limit} ${unit}\\); it resets at ${reset} \\(in (\\d+) seconds\\)\\.$`)
    .exec(r.json.error.message);
  assert.ok(m, `${what}: message ${r.json.error.message}`);
  const ra = Number(r.headers.get('retry-after'));
  assert.equal(String(ra), m[1], `${what}: Retry-After ${ra} and the message's seconds differ`);
  return ra;
}

async function usage(g = gw) {
  const r = await request(g.url('/admin/usage'), { token: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const tokenUsage = (u, label) => {
  const e = u.tokens.find((t) => t.token === label);
  assert.ok(e, `no token ${label} in /admin/usage: ${JSON.stringify(u.tokens)}`);
  return e;
};
async function scrape(g = gw) {
  const r = await request(g.url('/metrics'));
  assert.equal(r.status, 200);
  return parsePrometheus(r.text);
}

test('requests_per_day over 2 workers: exactly N of many concurrent requests are admitted, the rest 429 insufficient_quota', async () => {
  assert.equal(gw.workerPids().length, 2);
  const N = 40;
  const rs = await Promise.all(Array.from({ length: N }, (_, i) => chatReq(gw, T.rpd, msg('echo', `c${i}`))));
  const ok = rs.filter((r) => r.status === 200), refused = rs.filter((r) => r.status !== 200);
  assert.equal(ok.length, RPD, `admitted: ${rs.map((r) => r.status).join(',')}`);
  assert.equal(refused.length, N - RPD);
  for (const r of refused) {
    const ra = assertQuota429(r, 'requests_per_day', RPD, 'requests', 'concurrent');
    assert.ok(Math.abs(ra - secondsToUtcMidnight()) <= 3, `Retry-After ${ra}, ${secondsToUtcMidnight()} s to UTC midnight`);
    // no rpm: `requests` shows requests_per_day
    const day = rlSet(r, 'requests-day');
    assert.deepEqual([day.limit, day.remaining], [RPD, 0], JSON.stringify(rl(r)));
    assert.ok(Math.abs(goDuration(day.reset) / 1000 - ra) <= 2, `reset ${day.reset} vs Retry-After ${ra}`);
    assert.deepEqual(rlSet(r, 'requests'), day);
    // no token quota: no token headers
    assert.equal(rlSet(r, 'tokens').limit, undefined);
    assert.equal(rlSet(r, 'tokens-day').limit, undefined);
  }
  // the admitted ones carried the count after their own admission: N-1 ... 0
  assert.deepEqual(ok.map((r) => rlSet(r, 'requests-day').remaining).sort(), [0, 1, 2, 3, 4]);
  // still refused afterwards, one at a time
  assertQuota429(await chatReq(gw, T.rpd, msg('echo')), 'requests_per_day', RPD, 'requests', 'after');
  const refusedTotal = N - RPD + 1;
  const u = tokenUsage(await usage(), 'rpd');
  assert.equal(u.requests, RPD);
  assert.deepEqual(u.quota, { requests_per_day: { limit: RPD, used: RPD, remaining: 0, resets_at: nextUtcMidnightIso() } });
  const m = await scrape();
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'rpd', reason: 'quota' }), refusedTotal);
  assert.equal(metricValue(m, 'llmgate_token_quota_remaining', { token: 'rpd', quota: 'requests_per_day' }), 0);
  assert.equal(metricValue(m, 'llmgate_token_usage_today', { token: 'rpd', kind: 'requests', scope: 'host' }), RPD);
  const keys = await request(gw.url('/admin/keys'), { token: ADMIN });
  const tk = keys.json.tokens.find((t) => t.name === 'rpd' || t.id === 'rpd' || t.token === 'rpd');
  assert.ok(tk, keys.text);
  assert.equal(tk.rejected_quota, refusedTotal, JSON.stringify(tk));
  assert.equal(tk.requests, N + 1, JSON.stringify(tk));
});

test('x-ratelimit headers on every answer of a limited token: 200, 200 stream, an upstream error, 429 rpm, 404, 400', async () => {
  const check = (r, rpmRemaining, dayRemaining, what) => {
    const req = rlSet(r, 'requests');
    assert.equal(req.limit, 4, `${what}: the rpm is x-ratelimit-limit-requests: ${JSON.stringify(rl(r))}`);
    assert.equal(req.remaining, rpmRemaining, `${what}: ${JSON.stringify(rl(r))}`);
    assert.ok(goDuration(req.reset) <= 60000, `${what}: ${req.reset}`);
    const day = rlSet(r, 'requests-day');
    assert.deepEqual([day.limit, day.remaining], [50, dayRemaining], `${what}: ${JSON.stringify(rl(r))}`);
    assert.ok(Math.abs(goDuration(day.reset) / 1000 - secondsToUtcMidnight()) <= 3, `${what}: ${day.reset}`);
    const tok = rlSet(r, 'tokens'), td = rlSet(r, 'tokens-day'), tm = rlSet(r, 'tokens-month');
    assert.equal(tok.limit, 100000, `${what}: tokens shows tokens_per_day`);
    assert.deepEqual(tok, td, what);
    assert.equal(tm.limit, 1000000, what);
    assert.ok(tm.remaining <= 1000000 && tm.remaining > 999000, what);
    assert.ok(goDuration(tm.reset) >= goDuration(td.reset), `${what}: month ${tm.reset} day ${td.reset}`);
    return { tokensDay: td.remaining, tokensMonth: tm.remaining };
  };
  const r1 = await chatReq(gw, T.hdr, msg('gpt-q', 'a b c d e'));
  assert.equal(r1.status, 200, r1.text);
  const s1 = check(r1, 3, 49, '200');
  assert.equal(s1.tokensDay, 100000, 'nothing used before the first request');
  const used1 = r1.json.usage.prompt_tokens + r1.json.usage.completion_tokens;
  assert.equal(r1.json.usage.prompt_tokens, 5);
  // the usage of r1 is counted before r2 is admitted (its answer is complete)
  const r2 = await chatReq(gw, T.hdr, msg('gpt-q', 'f g', { stream: true, stream_options: { include_usage: true } }));
  assert.equal(r2.status, 200, r2.text);
  assert.match(r2.headers.get('content-type'), /text\/event-stream/);
  const s2 = check(r2, 2, 48, '200 stream');
  assert.equal(s2.tokensDay, 100000 - used1, 'remaining tokens go down by the usage of the first answer');
  assert.equal(s2.tokensMonth, 1000000 - used1);
  const r3 = await chatReq(gw, T.hdr, msg('gpt-q~fault=400'));
  assert.equal(r3.status, 400, r3.text);
  check(r3, 1, 47, 'upstream 400');
  const r3b = await chatReq(gw, T.hdr, msg('bad-q~fault=503'));
  assert.ok(r3b.status >= 500, r3b.text);
  check(r3b, 0, 46, 'upstream 5xx');
  const r4 = await chatReq(gw, T.hdr, msg('gpt-q'));
  assert.equal(r4.status, 429, r4.text);
  assert.equal(r4.json.error.code, 'rate_limit_exceeded', r4.text);
  check(r4, 0, 46, '429 rpm');
  // refusals of the gateway's own before the admission carry them too, and count nothing
  const r5 = await chatReq(gw, T.hdr, msg('no-such-model'));
  assert.equal(r5.status, 404, r5.text);
  check(r5, 0, 46, '404 unknown model');
  const r6 = await request(gw.url('/v1/chat/completions'), { method: 'POST', token: T.hdr, headers: { 'content-type': 'application/json' }, body: '{"model": "gpt-q", "messages": 3}' });
  assert.equal(r6.status, 400, r6.text);
  check(r6, 0, 46, '400 malformed');
  const m = await scrape();
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'hdr', reason: 'rate_limited' }), 1);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'hdr', reason: 'quota' }), undefined);
});

test('no x-ratelimit header for a token without rpm or quota', async () => {
  for (const body of [msg('echo'), msg('gpt-q'), msg('gpt-q', 'x', { stream: true }), msg('gpt-q~fault=400')]) {
    const r = await chatReq(gw, T.free, body);
    assert.ok(r.status === 200 || r.status === 400, r.text);
    assert.deepEqual(rl(r), {}, `${JSON.stringify(body)} -> ${r.status}`);
  }
});

test('tokens_per_day: counted from the mock\'s usage (non-stream and stream), then 429 naming it', async () => {
  // prompt = 4 words, completion = 8 chunks: 12 a request
  const r1 = await chatReq(gw, T.tpd, msg('gpt-q', 'w1 w2 w3 w4'));
  assert.equal(r1.status, 200, r1.text);
  assert.deepEqual([r1.json.usage.prompt_tokens, r1.json.usage.completion_tokens], [4, 8]);
  assert.deepEqual(rlSet(r1, 'tokens'), { ...rlSet(r1, 'tokens-day'), limit: 30, remaining: 30 });
  assert.equal(rlSet(r1, 'requests').limit, undefined, 'no rpm and no requests_per_day: no requests set');
  // a stream without include_usage: llmgate asks the upstream for the usage
  // itself (and keeps it from the client)
  const r2 = await chatReq(gw, T.tpd, msg('gpt-q', 'w1 w2 w3 w4', { stream: true }));
  assert.equal(r2.status, 200, r2.text);
  assert.equal(rlSet(r2, 'tokens-day').remaining, 18);
  assert.doesNotMatch(r2.text, /"prompt_tokens"/);
  // the stream's usage is counted when it ends
  await waitFor(async () => tokenUsage(await usage(), 'tpd').prompt_tokens === 8, { what: 'the stream\'s usage' });
  const u = tokenUsage(await usage(), 'tpd');
  assert.deepEqual([u.requests, u.prompt_tokens, u.completion_tokens, u.month_tokens], [2, 8, 16, 24]);
  assert.deepEqual(u.quota, { tokens_per_day: { limit: 30, used: 24, remaining: 6, resets_at: nextUtcMidnightIso() } });
  // 24 < 30: admitted, and it overshoots (a token quota is checked before)
  const r3 = await chatReq(gw, T.tpd, msg('gpt-q', 'w1 w2 w3 w4'));
  assert.equal(r3.status, 200, r3.text);
  assert.equal(rlSet(r3, 'tokens-day').remaining, 6);
  const r4 = await chatReq(gw, T.tpd, msg('gpt-q', 'w1'));
  assertQuota429(r4, 'tokens_per_day', 30, 'tokens', 'tokens_per_day');
  assert.equal(rlSet(r4, 'tokens-day').remaining, 0);
  const m = await scrape();
  assert.equal(metricValue(m, 'llmgate_token_quota_remaining', { token: 'tpd', quota: 'tokens_per_day' }), 0);
  assert.equal(metricValue(m, 'llmgate_token_usage_today', { token: 'tpd', kind: 'prompt_tokens', scope: 'host' }), 12);
  assert.equal(metricValue(m, 'llmgate_token_usage_today', { token: 'tpd', kind: 'completion_tokens', scope: 'host' }), 24);
  assert.equal(metricValue(m, 'llmgate_token_usage_today', { token: 'tpd', kind: 'requests', scope: 'host' }), 3);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'tpd', reason: 'quota' }), 1);
});

test('tokens_per_month: x-ratelimit-*-tokens shows it when there is no tokens_per_day; over it, 429 naming it', async () => {
  const r1 = await chatReq(gw, T.tpm, msg('gpt-q', 'a b c d'));
  assert.equal(r1.status, 200, r1.text);
  const tm = rlSet(r1, 'tokens-month');
  assert.deepEqual([tm.limit, tm.remaining], [15, 15]);
  assert.deepEqual(rlSet(r1, 'tokens'), tm);
  assert.equal(rlSet(r1, 'tokens-day').limit, undefined);
  assert.equal(r1.json.usage.total_tokens, 12);
  const r2 = await chatReq(gw, T.tpm, msg('gpt-q', 'a'));
  assert.equal(r2.status, 200, r2.text);
  const total = 12 + r2.json.usage.total_tokens;
  assert.ok(total > 15, `${total}`);
  assert.equal(rlSet(r2, 'tokens-month').remaining, 3);
  const r3 = await chatReq(gw, T.tpm, msg('gpt-q', 'a'));
  const ra = assertQuota429(r3, 'tokens_per_month', 15, 'tokens', 'tokens_per_month');
  const d = new Date();
  const toMonth = (Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - Date.now()) / 1000;
  assert.ok(Math.abs(ra - toMonth) <= 3, `Retry-After ${ra}, ${toMonth} s to the next month`);
  const u = tokenUsage(await usage(), 'tpm');
  assert.equal(u.month_tokens, total);
  assert.equal(u.prompt_tokens + u.completion_tokens, total);
  assert.deepEqual(u.quota.tokens_per_month, { limit: 15, used: total, remaining: 0, resets_at: nextUtcMonthIso() });
});

test('the quota 429 in each client protocol: Anthropic, Responses, Ollama', async () => {
  const first = await chatReq(gw, T.proto, msg('echo'));
  assert.equal(first.status, 200, first.text);
  const want = /^This API key has used its quota requests_per_day \(1 requests\); it resets at .* \(in \d+ seconds\)\.$/;
  const check = (r, what) => {
    assert.equal(r.status, 429, `${what}: ${r.text}`);
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(Math.abs(ra - secondsToUtcMidnight()) <= 3, `${what}: Retry-After ${ra}`);
    assert.deepEqual([rlSet(r, 'requests-day').limit, rlSet(r, 'requests-day').remaining], [1, 0], what);
  };
  const a = await request(gw.url('/v1/messages'), {
    method: 'POST',
    headers: { 'x-api-key': T.proto, 'anthropic-version': '2023-06-01' },
    body: { model: 'echo', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
  });
  check(a, 'anthropic');
  assert.equal(a.json.type, 'error', a.text);
  assert.equal(a.json.error.type, 'rate_limit_error', a.text); // Anthropic has no insufficient_quota
  assert.match(a.json.error.message, want);
  const resp = await request(gw.url('/v1/responses'), { method: 'POST', token: T.proto, body: { model: 'echo', input: 'hi' } });
  check(resp, 'responses');
  assert.equal(resp.json.error.type, 'insufficient_quota', resp.text);
  assert.equal(resp.json.error.code, 'quota_exceeded', resp.text);
  assert.match(resp.json.error.message, want);
  const o = await request(gw.url('/api/chat'), { method: 'POST', token: T.proto, body: { model: 'echo', messages: [{ role: 'user', content: 'hi' }] } });
  check(o, 'ollama');
  assert.equal(typeof o.json.error, 'string', o.text);
  assert.match(o.json.error, want);
  const oa = await chatReq(gw, T.proto, msg('echo'));
  assertQuota429(oa, 'requests_per_day', 1, 'requests', 'openai');
});

test('/admin/usage: day, month, scope host, tokens and keys; /metrics families', async () => {
  const u = await usage();
  const now = new Date().toISOString();
  assert.equal(u.day, now.slice(0, 10));
  assert.equal(u.month, now.slice(0, 7));
  assert.equal(u.scope, 'host');
  assert.equal(u.cluster, undefined);
  for (const t of u.tokens) {
    assert.deepEqual(Object.keys(t).sort(), ['completion_tokens', 'month_tokens', 'prompt_tokens', 'quota', 'requests', 'token'], JSON.stringify(t));
  }
  assert.deepEqual(tokenUsage(u, 'free').quota, {});
  const hdr = tokenUsage(u, 'hdr');
  assert.deepEqual(Object.keys(hdr.quota), ['requests_per_day', 'tokens_per_day', 'tokens_per_month']);
  assert.equal(hdr.quota.requests_per_day.used, hdr.requests);
  assert.equal(hdr.requests, 4, 'the rpm-refused request is not admitted');
  assert.equal(hdr.quota.tokens_per_day.used, hdr.prompt_tokens + hdr.completion_tokens);
  assert.equal(hdr.month_tokens, hdr.prompt_tokens + hdr.completion_tokens);
  assert.ok(!JSON.stringify(u).includes(T.hdr), 'a secret in /admin/usage');
  const keys = u.keys.filter((k) => k.provider === 'mock');
  assert.equal(keys.length, 1, JSON.stringify(u.keys));
  const k = keys[0];
  assert.ok(!JSON.stringify(k).includes(UPKEY), 'an upstream key in /admin/usage');
  // every mock answer's usage went to one key; the tokens' sum is the key's
  const sum = (f) => u.tokens.reduce((a, t) => a + t[f], 0);
  assert.equal(k.prompt_tokens, sum('prompt_tokens'));
  assert.equal(k.completion_tokens, sum('completion_tokens'));
  assert.equal(k.month_tokens, k.prompt_tokens + k.completion_tokens);
  assert.ok(k.requests >= 11, `key attempts ${k.requests}`);
  const echo = u.keys.filter((x) => x.provider === 'echo');
  for (const e of echo) assert.equal(e.prompt_tokens, 0, 'the echo provider counts no tokens');

  const m = await scrape();
  for (const kind of ['requests', 'prompt_tokens', 'completion_tokens']) {
    assert.equal(metricValue(m, 'llmgate_key_usage_today', { provider: 'mock', key: k.id, kind, scope: 'host' }), k[kind], kind);
    assert.equal(metricValue(m, 'llmgate_token_usage_today', { token: 'hdr', kind, scope: 'host' }), hdr[kind], kind);
  }
  assert.equal(metricValue(m, 'llmgate_token_quota_remaining', { token: 'hdr', quota: 'tokens_per_month' }), hdr.quota.tokens_per_month.remaining);
  assert.equal(metricValue(m, 'llmgate_token_quota_remaining', { token: 'free', quota: 'requests_per_day' }), undefined);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'proto', reason: 'quota' }), 4);
  // 401 without the admin token
  assert.equal((await request(gw.url('/admin/usage'))).status, 401);
  assert.equal((await request(gw.url('/admin/usage'), { method: 'POST', token: ADMIN, body: {} })).status, 405);
});

test('SIGHUP keeps the counts; a reload with a new limit applies it to the kept count', async (t) => {
  T.hup = `sk-hup-${rnd()}`;
  const g = await startGateway({ config: ({ port }) => config(mock, port, 3) });
  t.after(() => g.stop());
  const reload = async (rpd) => {
    const oldWorkers = g.workerPids();
    fs.writeFileSync(g.configFile, config(mock, g.port, rpd));
    const at = g.logs().length;
    g.signal('SIGHUP');
    await g.waitLog({ test: (s) => s.slice(at).includes('configuration reloaded') });
    await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !oldWorkers.includes(p)); },
      { what: 'the old workers to be replaced' });
    // the client's kept-alive connections went with the old workers: one
    // request may still meet such a socket closing (a client-side race of
    // keep-alive, not a lost request); the next ones open new connections
    await waitFor(async () => { try { return (await request(g.url('/health'))).status === 200; } catch { return false; } },
      { what: 'a request on a new connection' });
  };
  for (let i = 0; i < 2; i++) assert.equal((await chatReq(g, T.hup, msg('echo'))).status, 200);
  await chatReq(g, T.tpd, msg('gpt-q', 'a b'));
  const before = tokenUsage(await usage(g), 'tpd');
  assert.equal(before.prompt_tokens, 2);
  await reload(3);
  let u = await usage(g);
  assert.equal(tokenUsage(u, 'hup').requests, 2, 'the count survives SIGHUP');
  assert.deepEqual(tokenUsage(u, 'tpd'), before);
  const r = await chatReq(g, T.hup, msg('echo'));
  assert.equal(r.status, 200, r.text);
  assert.equal(rlSet(r, 'requests-day').remaining, 0);
  assertQuota429(await chatReq(g, T.hup, msg('echo')), 'requests_per_day', 3, 'requests', 'after SIGHUP');
  // a higher limit: 2 more
  await reload(5);
  u = await usage(g);
  assert.deepEqual(tokenUsage(u, 'hup').quota.requests_per_day, { limit: 5, used: 3, remaining: 2, resets_at: nextUtcMidnightIso() });
  for (let i = 0; i < 2; i++) assert.equal((await chatReq(g, T.hup, msg('echo'))).status, 200);
  assertQuota429(await chatReq(g, T.hup, msg('echo')), 'requests_per_day', 5, 'requests', 'raised');
  // a lower limit than the count: refused, remaining 0
  await reload(2);
  const low = await chatReq(g, T.hup, msg('echo'));
  assertQuota429(low, 'requests_per_day', 2, 'requests', 'lowered');
  assert.deepEqual([rlSet(low, 'requests-day').limit, rlSet(low, 'requests-day').remaining], [2, 0]);
  u = await usage(g);
  assert.deepEqual(tokenUsage(u, 'hup').quota.requests_per_day, { limit: 2, used: 5, remaining: 0, resets_at: nextUtcMidnightIso() });
  const m = await scrape(g);
  assert.equal(metricValue(m, 'llmgate_token_rejections_total', { token: 'hup', reason: 'quota' }), 3, 'rejections survive too');
});

// ---- config errors ------------------------------------------------------------

function errorLines(out, file) {
  const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${esc}:(\\d+):(\\d+): (.+)$`);
  return out.split('\n').map((l) => re.exec(l.trim())).filter(Boolean)
    .map((m) => ({ line: Number(m[1]), column: Number(m[2]), message: m[3] }));
}

for (const [what, quota, col, re] of [
  ['an empty mapping', 'quota: {}', 12, /requests_per_day/],
  ['a zero limit', 'quota: {requests_per_day: 0}', 31, /requests_per_day/],
  ['a limit over 2^40-1', 'quota: {tokens_per_day: 1099511627776}', 29, /tokens_per_day/],
  // the key's name is not repeated (under access_tokens it might be a secret)
  ['an unknown key', 'quota: {requests_per_hour: 5}', 13, /unknown key in access_tokens\[0\]\.quota/],
  ['a string', 'quota: lots', 12, /quota/],
  ['a string limit', 'quota: {tokens_per_month: many}', 31, /tokens_per_month/],
]) {
  test(`-t refuses a quota with ${what} at FILE:LINE:COLUMN`, async () => {
    const file = path.join(tmpDir(), 'conf.yaml');
    fs.writeFileSync(file, [
      'listen: [{address: 127.0.0.1, port: 18080}]',
      'access_tokens:',
      '  - token: sk-a',
      `    ${quota}`,
      'providers:',
      '  - {name: echo, type: echo, models: [echo]}',
      '',
    ].join('\n'));
    const r = await runCli(['-t', '-c', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const errs = errorLines(r.stderr, file);
    assert.equal(errs.length, 1, r.stderr); // one error each (an unknown key alone was reported twice)
    assert.deepEqual([errs[0].line, errs[0].column], [4, col], r.stderr);
    assert.match(errs[0].message, re);
  });
}

test('-t accepts a full quota', async () => {
  const file = path.join(tmpDir(), 'conf.yaml');
  fs.writeFileSync(file, 'access_tokens:\n  - token: sk-a\n    quota: {requests_per_day: 1, tokens_per_day: 1099511627775, tokens_per_month: 3}\n'
    + 'providers:\n  - {name: echo, type: echo, models: [echo]}\n');
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
});

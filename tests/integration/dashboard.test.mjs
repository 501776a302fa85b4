// The per-model series (docs/metrics.md "Per model") and the Grafana
// dashboard (deploy/grafana/llmgate.json) against a live /metrics: llmgate
// with a mock upstream provider (one key), an access token and a model group
// serves a few requests (successes, a stream, an upstream error, a model the
// config does not know, a model the token may not use); then the per-model
// counts, tokens and histogram counts are checked, and every metric name and
// every `by (...)` label of every panel query must exist in /metrics. Each
// step waits for the counts themselves (the logger counts a request after its
// answer went out); deadlines only bound a hang.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, startMock, waitFor, chat, parseSSE } from './lib/harness.mjs';
import { rnd, mkKey, providerYaml, chatBody, scrape, metric } from './lib/upstream.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD = path.resolve(here, '../../deploy/grafana/llmgate.json');
const TOKEN = `sk-gate-dash-${rnd()}`;
const KEY = mkKey('dash');
let mock, gw;

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => [
      'listen:', `  - {address: 127.0.0.1, port: ${port}}`, 'workers: 2', 'timeouts: {ping: 0}', 'retry: {attempts: 1}',
      'access_tokens:', `  - {token: ${TOKEN}, name: team-dash, models: ["gpt-4o", "smart", "mystery-*", "gpt-4o~*"]}`,
      'model_groups:', '  - {name: smart, targets: [{provider: up, model: gpt-4o}]}',
      'providers:', providerYaml({ name: 'up', base: `${mock.base}/v1`, keys: [KEY], models: ['gpt-4o', '*'] }),
    ].join('\n') + '\n',
  });
});
after(async () => {
  if (gw) await gw.stop();
  if (mock) await mock.stop();
});

const ask = (model, extra = {}) => chat(gw, chatBody(model, 'Hi there', extra), { token: TOKEN });
const series = (m, name, labels) => metric(m, name, { provider: 'up', ...labels });

// Sends the traffic once; both tests read what it left in /metrics.
let traffic;
function sendTraffic() {
  traffic ??= (async () => {
    const usage = { prompt: 0, completion: 0 };
    for (let i = 0; i < 3; i++) {
      const r = await ask('gpt-4o');
      assert.equal(r.status, 200, r.text);
      usage.prompt += r.json.usage.prompt_tokens;
      usage.completion += r.json.usage.completion_tokens;
    }
    const s = await ask('gpt-4o', { stream: true, stream_options: { include_usage: true } });
    assert.equal(s.status, 200, s.text);
    const last = parseSSE(s.text).filter((e) => e !== '[DONE]').map((e) => JSON.parse(e)).filter((e) => e.usage).pop();
    assert.ok(last, `no usage chunk: ${s.text}`);
    usage.prompt += last.usage.prompt_tokens;
    usage.completion += last.usage.completion_tokens;
    for (let i = 0; i < 2; i++) assert.equal((await ask('smart')).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await ask(`mystery-${i}`)).status, 200); // unknown to the config: other
    const bad = await ask('gpt-4o~fault=500'); // an upstream error, not retried (attempts: 1)
    assert.ok(bad.status >= 500, `${bad.status} ${bad.text}`);
    assert.equal((await ask('forbidden-model')).status, 403); // refused by the token: not routed, no model series
    // the logger counts a request once its answer is out: wait for all 9 routed ones
    const m = await waitFor(async () => {
      const x = await scrape(gw);
      const n = ['2xx', '3xx', '4xx', '5xx'].reduce((a, c) => a + x.samples
        .filter((s) => s.name === 'llmgate_model_requests_total' && s.labels.status_class === c)
        .reduce((b, s) => b + s.value, 0), 0);
      return n >= 9 ? x : null;
    }, { timeout: 30000, what: 'nine requests in llmgate_model_requests_total' });
    return { usage, m };
  })();
  return traffic;
}

test('per-model series: counts, other, tokens by kind, ttft and overhead histograms', async () => {
  const { usage, m } = await sendTraffic();
  assert.deepEqual(m.errors, [], m.errors.join('\n'));
  assert.equal(series(m, 'llmgate_model_requests_total', { model: 'gpt-4o', status_class: '2xx' }), 4);
  assert.equal(series(m, 'llmgate_model_requests_total', { model: 'smart', status_class: '2xx' }), 2);
  assert.equal(series(m, 'llmgate_model_requests_total', { model: 'other', status_class: '2xx' }), 2);
  assert.equal(series(m, 'llmgate_model_requests_total', { model: 'other', status_class: '5xx' }), 1);
  for (const s of m.samples.filter((x) => x.name.startsWith('llmgate_model_') || x.name.startsWith('llmgate_gateway_overhead')))
    assert.ok(['gpt-4o', 'smart', 'other'].includes(s.labels.model ?? 'other'), `a model label outside the config: ${s.line}`);
  assert.ok(!m.text.includes('mystery-') && !m.text.includes('forbidden-model') && !m.text.includes(KEY) && !m.text.includes(TOKEN));

  assert.equal(series(m, 'llmgate_model_tokens_total', { model: 'gpt-4o', kind: 'prompt' }), usage.prompt);
  assert.equal(series(m, 'llmgate_model_tokens_total', { model: 'gpt-4o', kind: 'completion' }), usage.completion);
  assert.ok(usage.prompt > 0 && usage.completion > 0);
  for (const kind of ['cached', 'reasoning'])
    assert.notEqual(metric(m, 'llmgate_model_tokens_total', { provider: 'up', model: 'gpt-4o', kind }), undefined);

  // ttft: requests with an attempt and a status below 400; overhead: a finished attempt
  assert.equal(series(m, 'llmgate_model_ttft_seconds_count', { model: 'gpt-4o' }), 4);
  assert.equal(series(m, 'llmgate_model_ttft_seconds_count', { model: 'other' }), 2);
  assert.equal(series(m, 'llmgate_gateway_overhead_seconds_count', { model: 'gpt-4o' }), 4);
  assert.equal(series(m, 'llmgate_gateway_overhead_seconds_count', { model: 'other' }), 3);
  assert.equal(series(m, 'llmgate_gateway_overhead_seconds_bucket', { model: 'smart', le: '+Inf' }), 2);
  for (const fam of ['llmgate_model_ttft_seconds', 'llmgate_gateway_overhead_seconds']) {
    assert.equal(m.type.get(fam), 'histogram');
    const buckets = m.samples.filter((s) => s.name === `${fam}_bucket` && s.labels.model === 'gpt-4o');
    assert.equal(buckets.length, 15);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, `${fam} not cumulative`);
  }
  assert.equal(metric(m, 'llmgate_gateway_overhead_seconds_bucket', { provider: 'up', model: 'gpt-4o', le: '0.00005' }) !== undefined, true);

  // more of one series: the counts grow
  assert.equal((await ask('gpt-4o')).status, 200);
  await waitFor(async () => {
    const x = await scrape(gw);
    return series(x, 'llmgate_model_ttft_seconds_count', { model: 'gpt-4o' }) === 5 &&
      series(x, 'llmgate_gateway_overhead_seconds_count', { model: 'gpt-4o' }) === 5;
  }, { timeout: 30000, what: 'the histograms of gpt-4o to count a fifth request' });
});

// The metric names of a query: identifiers llmgate_...
const metricNames = (expr) => [...new Set(expr.match(/llmgate_[a-z0-9_]+/g) || [])];
const byLabels = (expr) => [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((x) => x[1].split(',').map((s) => s.trim()).filter(Boolean));

test('dashboard: every panel has a datasource and a title; every query names series and labels /metrics has', async () => {
  const dash = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  assert.ok(dash.schemaVersion >= 36, `schemaVersion ${dash.schemaVersion}`);
  const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));
  assert.equal(vars.DS_PROMETHEUS?.type, 'datasource');
  for (const v of ['provider', 'model']) assert.match(JSON.stringify(vars[v]?.query), /label_values\(llmgate_/);

  const { m } = await sendTraffic();
  const labelsOf = new Map(); // series name -> label names seen
  for (const s of m.samples) {
    if (!labelsOf.has(s.name)) labelsOf.set(s.name, new Set());
    for (const k of Object.keys(s.labels)) labelsOf.get(s.name).add(k);
  }
  const panels = dash.panels.flatMap((p) => [p, ...(p.panels || [])]);
  let queries = 0;
  const titles = new Set();
  for (const p of panels) {
    assert.ok(typeof p.title === 'string' && p.title.length > 0, `panel ${p.id} has no title`);
    assert.ok(p.datasource && p.datasource.uid, `panel "${p.title}" has no datasource`);
    titles.add(p.title);
    for (const t of p.targets || []) {
      assert.ok(t.datasource?.uid, `a target of "${p.title}" has no datasource`);
      const names = metricNames(t.expr);
      assert.ok(names.length > 0, `"${p.title}": no llmgate_ metric in ${t.expr}`);
      if (t.expr.includes('histogram_quantile'))
        assert.ok(names.every((n) => n.endsWith('_bucket')), `"${p.title}": histogram_quantile over ${names}`);
      for (const n of names) {
        assert.ok(labelsOf.has(n), `"${p.title}": ${n} is not a series of /metrics`);
        for (const l of byLabels(t.expr))
          assert.ok(labelsOf.get(n).has(l), `"${p.title}": ${n} has no label ${l} (by clause of ${t.expr})`);
      }
      queries++;
    }
  }
  assert.ok(queries >= 15, `only ${queries} queries`);
  // the panels: traffic, errors, TTFT, overhead, key health, tokens by access token, exporters
  const all = panels.flatMap((p) => (p.targets || []).map((t) => t.expr)).join('\n');
  for (const n of ['llmgate_model_requests_total', 'llmgate_model_ttft_seconds_bucket', 'llmgate_gateway_overhead_seconds_bucket',
    'llmgate_key_state', 'llmgate_token_tokens_total', 'llmgate_model_tokens_total', 'llmgate_otel_queue_spans',
    'llmgate_otel_spans_dropped_total', 'llmgate_access_log_dropped_lines_total'])
    assert.ok(all.includes(n), `no panel queries ${n}`);
});

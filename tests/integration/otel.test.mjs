// OpenTelemetry traces (issue 19, docs/observability.md "Traces"): llmgate in
// front of the mock upstream, exporting to a local OTLP/HTTP receiver (a node
// http server) that decodes protobuf with the official definitions
// (@opentelemetry/otlp-transformer's generated root.js, from
// opentelemetry-proto) and the JSON mapping by hand. Every check waits for
// the spans or the counters themselves; deadlines only bound a hang.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { startGateway, startMock, waitFor, freePort, parsePrometheus, metricValue } from './lib/harness.mjs';
import { rnd, mkKey, providerYaml, chatBody } from './lib/upstream.mjs';

const require = createRequire(import.meta.url);
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const ExportReq = otlp.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const SERVER = 2;
const CLIENT = 3;
const KEY = mkKey('otel');
const BAD_KEY = mkKey('otelbad', 'fail503');
const OTEL_SECRET = `otel-secret-${rnd()}`;
let mock;
let deadPort; // nothing listens there: the provider `dead`

before(async () => { mock = await startMock(); deadPort = await freePort(); });
after(async () => { if (mock) await mock.stop(); });

// ---- the receiver ------------------------------------------------------------

const b64hex = (s) => Buffer.from(s, 'base64').toString('hex');

function anyValue(v) {
  if (v === undefined || v === null) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return (v.arrayValue.values || []).map(anyValue);
  return undefined;
}
const attrMap = (list) => Object.fromEntries((list || []).map((kv) => [kv.key, anyValue(kv.value)]));

// An ExportTraceServiceRequest as plain objects (both encodings): its spans,
// each with its resource's and scope's facts.
function flatten(obj, hex) {
  const out = [];
  for (const rs of obj.resourceSpans || []) {
    const resource = attrMap(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        out.push({
          traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: s.parentSpanId ? hex(s.parentSpanId) : '',
          traceState: s.traceState || '', name: s.name, kind: Number(s.kind),
          start: BigInt(s.startTimeUnixNano), end: BigInt(s.endTimeUnixNano),
          attrs: attrMap(s.attributes), status: Number((s.status && s.status.code) || 0),
          resource, scope: ss.scope ? ss.scope.name : undefined,
        });
      }
    }
  }
  return out;
}

// A local OTLP/HTTP receiver. mode: 'ok' (200), 'hang' (never answers).
async function startCollector({ mode = 'ok' } = {}) {
  const c = { spans: [], exports: [], raw: [], held: [] };
  c.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      c.raw.push(body);
      c.exports.push({ path: req.url, headers: req.headers });
      if (mode === 'hang') { c.held.push(res); return; }
      const ct = req.headers['content-type'];
      const spans = ct === 'application/json'
        ? flatten(JSON.parse(body.toString('utf8')), (x) => x)
        : flatten(ExportReq.toObject(ExportReq.decode(body), { longs: String, bytes: String, enums: Number }), b64hex);
      c.spans.push(...spans);
      res.writeHead(200, { 'content-type': ct });
      res.end(ct === 'application/json' ? '{}' : '');
    });
  });
  await new Promise((resolve) => c.server.listen(0, '127.0.0.1', resolve));
  c.port = c.server.address().port;
  c.endpoint = `http://127.0.0.1:${c.port}`;
  c.stop = async () => {
    for (const r of c.held) r.destroy();
    c.server.closeAllConnections();
    await new Promise((resolve) => c.server.close(resolve));
  };
  // the spans of one request (by llmgate.request_id): its SERVER span and attempts
  c.request = (rid, nAttempts = 1) => waitFor(() => {
    const mine = c.spans.filter((s) => s.attrs['llmgate.request_id'] === rid);
    const server = mine.filter((s) => s.kind === SERVER);
    const clients = mine.filter((s) => s.kind === CLIENT).sort((a, b) => a.attrs['llmgate.attempt'] - b.attrs['llmgate.attempt']);
    return server.length === 1 && clients.length === nAttempts ? { server: server[0], clients } : null;
  }, { timeout: 30000, what: `spans of request ${rid}` });
  return c;
}

// ---- the gateway ---------------------------------------------------------------

function config({ port, otel, top = '' }) {
  const providers = [
    providerYaml({ name: 'bad', base: `${mock.base}/v1`, keys: [BAD_KEY], models: ['m-retry'], extra: { fallback: '[up]' } }),
    providerYaml({ name: 'up', base: `${mock.base}/v1`, keys: [KEY], models: ['m1'] }),
    providerYaml({ name: 'dead', base: `http://127.0.0.1:${deadPort}/v1`, keys: [mkKey('dead')], models: ['m-dead'] }),
  ];
  return ['listen:', `  - {address: 127.0.0.1, port: ${port}}`, 'workers: 1', 'retry: {attempts: 3}',
    otel ? `otel: {${otel}}` : '', top, 'providers:', ...providers].filter((l) => l !== '').join('\n') + '\n';
}

async function gateway(otel, top, env = {}) {
  return startGateway({ config: ({ port }) => config({ port, otel, top }), env });
}

// POST /v1/chat/completions; resolves {status, json, rid}
async function chat(gw, body, headers = {}) {
  const r = await fetch(gw.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  const text = await r.text();
  return { status: r.status, json: JSON.parse(text), rid: r.headers.get('x-request-id') };
}

// the mock's record entry of the request whose body holds `tag`
async function upstreamHeaders(tag) {
  const e = await waitFor(async () => (await mock.record()).find((x) => x.event === 'request' && (x.body || '').includes(tag)),
    { timeout: 30000, what: `the mock's request ${tag}` });
  return e.headers;
}

async function metrics(gw) {
  const r = await fetch(gw.url('/metrics'), { signal: AbortSignal.timeout(30000) });
  return parsePrometheus(await r.text());
}
const metricNow = async (gw, name, labels) => (metricValue(await metrics(gw), name, labels) ?? 0);

const TP = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

// ---- the tests ---------------------------------------------------------------

test('one SERVER span per request and one CLIENT span per attempt, with the gen_ai attributes (protobuf)', async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}", service_name: gw-test, interval: 50ms`);
  try {
    const tag = `tag-${rnd()}`;
    const r = await chat(gw, chatBody('m1', tag, { max_tokens: 50, temperature: 0.5, top_p: 0.9 }));
    assert.equal(r.status, 200);
    const { server, clients } = await col.request(r.rid);
    const [client] = clients;
    assert.equal(server.name, 'chat m1');
    assert.equal(client.name, 'chat m1');
    assert.equal(server.parentSpanId, '', 'a root span: the client sent no traceparent');
    assert.equal(client.traceId, server.traceId);
    assert.equal(client.parentSpanId, server.spanId);
    assert.notEqual(client.spanId, server.spanId);
    assert.ok(server.start <= client.start && client.end <= server.end && server.start < server.end);
    assert.deepEqual(server.resource, { 'service.name': 'gw-test', 'service.version': server.resource['service.version'] });
    assert.match(server.resource['service.version'], /^\d+\.\d+/);
    assert.equal(server.scope, 'llmgate');
    for (const s of [server, client]) {
      assert.equal(s.attrs['gen_ai.operation.name'], 'chat');
      assert.equal(s.attrs['gen_ai.provider.name'], 'openai');
      assert.equal(s.attrs['llmgate.provider'], 'up');
      assert.equal(s.attrs['gen_ai.request.model'], 'm1');
      assert.equal(s.attrs['gen_ai.request.max_tokens'], 50);
      assert.equal(s.attrs['gen_ai.request.temperature'], 0.5);
      assert.equal(s.attrs['gen_ai.request.top_p'], 0.9);
      assert.equal(s.attrs['http.response.status_code'], 200);
      assert.equal(s.attrs['error.type'], undefined);
      assert.equal(s.status, 0);
    }
    assert.equal(server.attrs['gen_ai.usage.input_tokens'], r.json.usage.prompt_tokens);
    assert.equal(server.attrs['gen_ai.usage.output_tokens'], r.json.usage.completion_tokens);
    // the answer's own metadata, on the SERVER span and the attempt that served
    for (const s of [server, client]) {
      assert.equal(s.attrs['gen_ai.response.id'], r.json.id);
      assert.equal(s.attrs['gen_ai.response.model'], r.json.model);
      assert.deepEqual(s.attrs['gen_ai.response.finish_reasons'], ['stop']);
    }
    assert.equal(client.attrs['server.address'], '127.0.0.1');
    assert.equal(client.attrs['server.port'], Number(new URL(mock.base).port));
    assert.equal(client.attrs['llmgate.attempt'], 1);
    assert.equal(server.attrs['server.address'], undefined);
    // the upstream continues the trace under the CLIENT span
    const h = await upstreamHeaders(tag);
    const m = TP.exec(h.traceparent);
    assert.ok(m, `traceparent ${h.traceparent}`);
    assert.equal(m[1], server.traceId);
    assert.equal(m[2], client.spanId);
    assert.equal(m[3], '01');
    assert.equal(h.tracestate, undefined);
    // no message content anywhere
    for (const b of col.raw) assert.ok(!b.includes(tag), 'the message text is not exported');
    await waitFor(async () => (await metricNow(gw, 'llmgate_otel_spans_exported_total')) >= 2, { what: 'spans_exported' });
    assert.ok((await metricNow(gw, 'llmgate_otel_exports_total', { result: 'ok' })) >= 1);
  } finally {
    await gw.stop();
    await col.stop();
  }
});

test('a retry: two CLIENT spans, the failed one with error.type and status ERROR', async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}", interval: 50ms`);
  try {
    const r = await chat(gw, chatBody('m-retry', `tag-${rnd()}`));
    assert.equal(r.status, 200);
    const { server, clients } = await col.request(r.rid, 2);
    const [first, second] = clients;
    assert.equal(first.attrs['llmgate.provider'], 'bad');
    assert.equal(first.attrs['llmgate.attempt'], 1);
    assert.equal(first.attrs['http.response.status_code'], 503);
    assert.ok(first.attrs['error.type'], 'the failed attempt says why');
    assert.equal(first.status, 2);
    assert.equal(second.attrs['llmgate.provider'], 'up');
    assert.equal(second.attrs['llmgate.attempt'], 2);
    assert.equal(second.attrs['error.type'], undefined);
    assert.equal(second.status, 0);
    for (const c of clients) assert.equal(c.parentSpanId, server.spanId);
    assert.ok(first.end <= second.start);
    assert.equal(server.attrs['llmgate.provider'], 'up');
    assert.equal(server.attrs['error.type'], undefined);
  } finally {
    await gw.stop();
    await col.stop();
  }
});

test("the client's traceparent is continued and its tracestate passed on; sample 0 still follows a sampled parent", async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}", sample: 0, interval: 50ms, batch_size: 1`);
  try {
    const trace = rnd(16);
    const parent = rnd(8);
    const tag = `tag-${rnd()}`;
    const r = await chat(gw, chatBody('m1', tag), { traceparent: `00-${trace}-${parent}-01`, tracestate: 'vendor=abc,other=1' });
    assert.equal(r.status, 200);
    const { server, clients } = await col.request(r.rid);
    assert.equal(server.traceId, trace);
    assert.equal(server.parentSpanId, parent);
    assert.equal(server.traceState, 'vendor=abc,other=1');
    assert.equal(clients[0].traceId, trace);
    const h = await upstreamHeaders(tag);
    assert.equal(h.traceparent, `00-${trace}-${clients[0].spanId}-01`);
    assert.equal(h.tracestate, 'vendor=abc,other=1');

    // sample 0, no traceparent: no spans; the upstream still gets a context, unsampled
    const tag0 = `tag-${rnd()}`;
    const r0 = await chat(gw, chatBody('m1', tag0));
    // an unsampled client parent: not recorded either
    const tag1 = `tag-${rnd()}`;
    const r1 = await chat(gw, chatBody('m1', tag1), { traceparent: `00-${rnd(16)}-${rnd(8)}-00` });
    // then a sampled one: once its spans are in, the ones before would be too (one worker, one queue in order)
    const r2 = await chat(gw, chatBody('m1', `tag-${rnd()}`), { traceparent: `00-${rnd(16)}-${rnd(8)}-01` });
    await col.request(r2.rid);
    assert.equal(col.spans.filter((s) => s.attrs['llmgate.request_id'] === r0.rid).length, 0);
    assert.equal(col.spans.filter((s) => s.attrs['llmgate.request_id'] === r1.rid).length, 0);
    const h0 = TP.exec((await upstreamHeaders(tag0)).traceparent);
    assert.ok(h0);
    assert.equal(h0[3], '00');
    assert.equal(TP.exec((await upstreamHeaders(tag1)).traceparent)[3], '00');
    // an invalid traceparent (uppercase hex) starts a new trace; its tracestate is not passed on
    const tag2 = `tag-${rnd()}`;
    const bad = `00-${rnd(16).toUpperCase()}-${rnd(8)}-01`;
    await chat(gw, chatBody('m1', tag2), { traceparent: bad, tracestate: 'x=1' });
    const h2 = await upstreamHeaders(tag2);
    assert.notEqual(h2.traceparent, bad);
    assert.ok(TP.exec(h2.traceparent));
    assert.equal(h2.tracestate, undefined);
  } finally {
    await gw.stop();
    await col.stop();
  }
});

test('otel off: the client\'s valid traceparent and tracestate reach the upstream unchanged, an invalid one does not', async () => {
  const gw = await gateway(null);
  try {
    const tag = `tag-${rnd()}`;
    const tp = `00-${rnd(16)}-${rnd(8)}-01`;
    await chat(gw, chatBody('m1', tag), { traceparent: tp, tracestate: 'k=v' });
    const h = await upstreamHeaders(tag);
    assert.equal(h.traceparent, tp);
    assert.equal(h.tracestate, 'k=v');
    const tag2 = `tag-${rnd()}`;
    await chat(gw, chatBody('m1', tag2), { traceparent: `00-${'0'.repeat(32)}-${rnd(8)}-01`, tracestate: 'k=v' });
    const h2 = await upstreamHeaders(tag2);
    assert.equal(h2.traceparent, undefined);
    assert.equal(h2.tracestate, undefined);
    const tag3 = `tag-${rnd()}`;
    await chat(gw, chatBody('m1', tag3));
    assert.equal((await upstreamHeaders(tag3)).traceparent, undefined);
  } finally {
    await gw.stop();
  }
});

test('sample 1 and the JSON protocol: every request traced, OTLP JSON with hex ids', async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}/", protocol: json, sample: 1, interval: 50ms`);
  try {
    const rids = [];
    for (let i = 0; i < 3; i++) {
      const r = await chat(gw, chatBody('m1', `tag-${rnd()}`, { max_tokens: 7 }));
      assert.equal(r.status, 200);
      rids.push(r.rid);
    }
    for (const rid of rids) {
      const { server, clients } = await col.request(rid);
      assert.match(server.traceId, /^[0-9a-f]{32}$/);
      assert.match(server.spanId, /^[0-9a-f]{16}$/);
      assert.equal(clients[0].parentSpanId, server.spanId);
      assert.equal(server.attrs['gen_ai.request.max_tokens'], 7);
      assert.equal(server.attrs['http.response.status_code'], 200);
    }
    assert.ok(col.exports.every((e) => e.headers['content-type'] === 'application/json' && e.path === '/v1/traces'));
  } finally {
    await gw.stop();
    await col.stop();
  }
});

test('a dead collector changes nothing for clients; /metrics counts the failed exports and dropped spans', async () => {
  const port = await freePort(); // nothing listens there
  const gw = await gateway(`endpoint: "http://127.0.0.1:${port}", batch_size: 1, interval: 50ms, timeout: 2s`);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await chat(gw, chatBody('m1', `tag-${rnd()}`));
      assert.equal(r.status, 200);
      assert.equal(r.json.object, 'chat.completion');
    }
    await waitFor(async () => (await metricNow(gw, 'llmgate_otel_spans_dropped_total', { reason: 'export_failed' })) >= 6,
      { what: 'the spans of 3 requests dropped for the failed exports' });
    assert.ok((await metricNow(gw, 'llmgate_otel_exports_total', { result: 'failed' })) >= 1);
    assert.equal(await metricNow(gw, 'llmgate_otel_exports_total', { result: 'ok' }), 0);
    assert.equal(await metricNow(gw, 'llmgate_otel_spans_exported_total'), 0);
    // one warning per failure streak
    await gw.waitLog('otel: an export failed');
    assert.equal(gw.logs().split('otel: an export failed').length - 1, 1, gw.logs());
  } finally {
    await gw.stop();
  }
});

test('a full queue drops and counts; no secret (the exporter header, the key) in any exported byte', async () => {
  const col = await startCollector({ mode: 'hang' });
  const gw = await gateway(
    `endpoint: "${col.endpoint}", batch_size: 1, queue: 2, interval: 50ms, timeout: 60s, headers: {authorization: "Bearer ${OTEL_SECRET}"}`);
  try {
    // the first export hangs; the queue holds 2 more spans; the rest are dropped
    for (let i = 0; i < 4; i++) assert.equal((await chat(gw, chatBody('m1', `tag-${rnd()}`))).status, 200);
    await waitFor(async () => (await metricNow(gw, 'llmgate_otel_spans_dropped_total', { reason: 'queue_full' })) >= 1,
      { what: 'spans dropped for a full queue' });
    assert.equal(await metricNow(gw, 'llmgate_otel_queue_spans'), 2);
    await waitFor(() => col.exports.length >= 1, { what: 'the hung export' });
    assert.equal(col.exports[0].headers.authorization, `Bearer ${OTEL_SECRET}`, 'the config header is sent');
    for (const b of col.raw) {
      assert.ok(!b.includes(OTEL_SECRET));
      assert.ok(!b.includes(KEY));
    }
    assert.ok(!gw.logs().includes(OTEL_SECRET));
    const text = await (await fetch(gw.url('/metrics'))).text();
    assert.ok(!text.includes(OTEL_SECRET));
  } finally {
    await gw.stop();
    await col.stop();
  }
});

test("the worker's exit sends what waits (a long interval, a batch never full)", async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}", interval: 1h, batch_size: 100`);
  let stopped = false;
  try {
    const r = await chat(gw, chatBody('m1', `tag-${rnd()}`));
    assert.equal(r.status, 200);
    await waitFor(async () => (await metricNow(gw, 'llmgate_otel_queue_spans')) === 2, { what: 'two spans waiting' });
    assert.equal(col.exports.length, 0);
    const { code } = await gw.stop();
    stopped = true;
    assert.equal(code, 0);
    // the master exited after its worker, which exported before it exited
    const { server, clients } = await col.request(r.rid);
    assert.equal(clients[0].parentSpanId, server.spanId);
  } finally {
    if (!stopped) await gw.stop();
    await col.stop();
  }
});

test('the libcurl client carries the same trace context (LLMGATE_UPSTREAM_CLIENT=curl)', async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}", interval: 50ms`, '', { LLMGATE_UPSTREAM_CLIENT: 'curl' });
  try {
    const trace = rnd(16);
    const tag = `tag-${rnd()}`;
    const r = await chat(gw, chatBody('m1', tag), { traceparent: `00-${trace}-${rnd(8)}-01`, tracestate: 'a=b' });
    assert.equal(r.status, 200);
    const { clients } = await col.request(r.rid);
    const h = await upstreamHeaders(tag);
    assert.equal(h.traceparent, `00-${trace}-${clients[0].spanId}-01`);
    assert.equal(h.tracestate, 'a=b');
  } finally {
    await gw.stop();
    await col.stop();
  }
});

test('a failed request: the SERVER span has the client\'s error code, every attempt its failure, status ERROR', async () => {
  const col = await startCollector();
  const gw = await gateway(`endpoint: "${col.endpoint}", interval: 50ms`);
  try {
    const r = await chat(gw, chatBody('m-dead', `tag-${rnd()}`));
    assert.ok(r.status >= 500, `status ${r.status}`);
    const { server, clients } = await waitFor(() => {
      const mine = col.spans.filter((s) => s.attrs['llmgate.request_id'] === r.rid);
      const srv = mine.find((s) => s.kind === SERVER);
      return srv ? { server: srv, clients: mine.filter((s) => s.kind === CLIENT) } : null;
    }, { what: 'the failed request\'s spans' });
    assert.equal(server.status, 2);
    assert.equal(server.attrs['error.type'], r.json.error.code || r.json.error.type);
    assert.equal(server.attrs['http.response.status_code'], r.status);
    assert.ok(clients.length >= 1);
    for (const c of clients) {
      assert.equal(c.status, 2);
      assert.ok(c.attrs['error.type'], 'the attempt says why it failed');
      assert.equal(c.attrs['http.response.status_code'], undefined, 'no upstream answer');
      assert.equal(c.attrs['server.port'], deadPort);
    }
  } finally {
    await gw.stop();
    await col.stop();
  }
});

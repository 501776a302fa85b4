// The access log (issue 19, docs/observability.md "Access log"): one line per
// finished request, JSON or text, to a file or stderr. Every test finds its
// line by the request id the response carried and waits for it to be written
// (the writer flushes within LLG_ACCESS_FLUSH_MS); no test sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startGateway, startMock, request, waitFor, runCli, tmpDir } from './lib/harness.mjs';
import { rnd, mkKey, providerYaml, scrape } from './lib/upstream.mjs';

const TOKEN = `sk-gw-${rnd()}`;
const KEY_OK = mkKey('ok');
const KEY_BAD = mkKey('bad', 'fail500');
const KEY_DOWN = mkKey('down', 'fail503');
const FIELDS = ['time', 'request_id', 'client', 'protocol', 'api', 'method', 'path', 'status', 'model', 'upstream_model',
  'provider', 'group', 'key', 'token', 'attempts', 'providers_tried', 'upstream_status', 'prompt_tokens',
  'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'ttfb_ms', 'duration_ms', 'bytes_in', 'bytes_out', 'stream',
  'error'];

let mock;

function config({ port, file, format = 'json', extra = '' }) {
  const providers = [
    { name: 'main', base: `${mock.base}/v1`, keys: [KEY_OK], models: ['gpt-4o', 'gpt-4o-mini', 'gpt-4o~*'],
      extra: { model_map: '{gpt-4o-mini: "gpt-4o-mini-2024-07-18"}' } },
    // the first key fails (500): the second serves; both are main's keys' kin
    { name: 'retry', base: `${mock.base}/v1`, keys: [KEY_BAD, KEY_OK], models: ['retry-model'] },
    // a provider that always fails, and a fallback that serves
    { name: 'down', base: `${mock.base}/v1`, keys: [KEY_DOWN], models: ['fail-over'], extra: { fallback: '[up2]' } },
    { name: 'dead', base: `${mock.base}/v1`, keys: [KEY_DOWN], models: ['down-model'] },
    { name: 'up2', base: `${mock.base}/v1`, keys: [KEY_OK], models: ['up2-only'] },
  ];
  return [
    'listen:', `  - {address: 127.0.0.1, port: ${port}}`, 'workers: 2',
    `access_tokens: [{name: team-a, token: "${TOKEN}"}]`,
    'retry: {attempts: 3}', 'keys: {cooldown: 1ms, max_cooldown: 1ms}',
    file ? `access_log: {path: "${file}", format: ${format}}` : '', extra,
    'providers:', ...providers.map(providerYaml),
  ].filter((l) => l !== '').join('\n') + '\n';
}

function post(gw, body, { headers = {}, token = TOKEN, p = '/v1/chat/completions' } = {}) {
  return request(gw.url(p), { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), token, headers: { 'content-type': 'application/json', ...headers } });
}

const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);
async function lineOf(file, id) {
  let found;
  await waitFor(() => {
    found = lines(file).map((l) => JSON.parse(l)).find((o) => o.request_id === id);
    return found !== undefined;
  }, { what: `the access log line of ${id}` });
  return found;
}

function checkShape(o) {
  assert.deepEqual(Object.keys(o), FIELDS, 'every field, in order');
  assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(o.time) - Date.now()) < 3600e3, 'a time of today');
  assert.equal(o.client, '127.0.0.1');
  assert.equal(o.protocol, 'HTTP/1.1');
  assert.equal(typeof o.duration_ms, 'number');
  assert.ok(o.ttfb_ms === null || (o.ttfb_ms >= 0 && o.ttfb_ms <= o.duration_ms), `ttfb ${o.ttfb_ms} within ${o.duration_ms}`);
}

async function keyIds(gw, provider) {
  const m = await scrape(gw);
  return [...m.text.matchAll(new RegExp(`^llmgate_key_state\\{provider="${provider}",key="([^"]+)"\\}`, 'gm'))].map((x) => x[1]);
}

let gw, dir, file;
before(async () => {
  mock = await startMock();
  dir = tmpDir('llmgate-alog-');
  file = path.join(dir, 'access.log');
  gw = await startGateway({ config: ({ port }) => config({ port, file }) });
});
after(async () => {
  if (gw) await gw.stop();
  if (mock) await mock.stop();
});

test('a success: every field, the key by its id, the token by its name, tokens from the answer', async () => {
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] });
  const r = await post(gw, body);
  assert.equal(r.status, 200, r.text);
  const o = await lineOf(file, r.headers.get('x-request-id'));
  checkShape(o);
  const ids = await keyIds(gw, 'main');
  assert.equal(ids.length, 1);
  assert.deepEqual({ ...o, time: 0, duration_ms: 0, ttfb_ms: 0, request_id: 0, client: 0 }, {
    time: 0, request_id: 0, client: 0, protocol: 'HTTP/1.1', api: 'openai', method: 'POST', path: '/v1/chat/completions',
    status: 200, model: 'gpt-4o-mini', upstream_model: 'gpt-4o-mini-2024-07-18', provider: 'main', group: null, key: ids[0],
    token: 'team-a', attempts: 1, providers_tried: ['main'], upstream_status: 200,
    prompt_tokens: r.json.usage.prompt_tokens, completion_tokens: r.json.usage.completion_tokens,
    cached_tokens: o.cached_tokens, reasoning_tokens: o.reasoning_tokens,
    ttfb_ms: 0, duration_ms: 0, bytes_in: Buffer.byteLength(body), bytes_out: Buffer.byteLength(r.text), stream: false, error: null,
  });
  assert.ok(o.ttfb_ms > 0);
});

test('a stream: stream true, the usage the gateway asked for, the bytes sent', async () => {
  const r = await post(gw, { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'stream me' }] });
  assert.equal(r.status, 200);
  const o = await lineOf(file, r.headers.get('x-request-id'));
  checkShape(o);
  assert.equal(o.stream, true);
  assert.equal(o.status, 200);
  assert.ok(o.prompt_tokens > 0 && o.completion_tokens > 0, JSON.stringify(o));
  assert.equal(o.bytes_out, Buffer.byteLength(r.text));
});

test('cached and reasoning tokens, from the usage details of the answer (stream and not)', async () => {
  for (const stream of [false, true]) {
    const r = await post(gw, { model: 'gpt-4o~cached=5,reasoning=3', stream, messages: [{ role: 'user', content: 'details' }] });
    assert.equal(r.status, 200, r.text);
    const o = await lineOf(file, r.headers.get('x-request-id'));
    assert.deepEqual([o.stream, o.cached_tokens, o.reasoning_tokens], [stream, 5, 3], JSON.stringify(o));
    assert.ok(o.prompt_tokens > 0 && o.completion_tokens > 0);
  }
});

test('a retry: a key that fails then one that serves, both attempts counted', async () => {
  const r = await post(gw, { model: 'retry-model', messages: [{ role: 'user', content: 'retry' }] });
  assert.equal(r.status, 200, r.text);
  const o = await lineOf(file, r.headers.get('x-request-id'));
  checkShape(o);
  assert.equal(o.attempts, 2);
  assert.deepEqual(o.providers_tried, ['retry']);
  assert.equal(o.upstream_status, 200);
  const ids = await keyIds(gw, 'retry');
  assert.ok(ids.includes(o.key), `${o.key} is one of ${ids}`);
});

test('an upstream error: the providers tried, the upstream status, the error code', async () => {
  const r = await post(gw, { model: 'down-model', messages: [{ role: 'user', content: 'x' }] });
  assert.ok(r.status >= 500, r.text);
  const o = await lineOf(file, r.headers.get('x-request-id'));
  checkShape(o);
  assert.equal(o.status, r.status);
  assert.ok(o.attempts >= 1);
  assert.deepEqual(o.providers_tried, ['dead']);
  assert.equal(o.upstream_status, 503);
  assert.equal(typeof o.error, 'string');
  assert.equal(o.error, r.json.error.code ?? r.json.error.type);
  assert.equal(o.prompt_tokens, null);
});

test('a fallback: both providers listed, in order', async () => {
  const r = await post(gw, { model: 'fail-over', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(r.status, 200, r.text);
  const o = await lineOf(file, r.headers.get('x-request-id'));
  assert.deepEqual(o.providers_tried, ['down', 'up2']);
  assert.equal(o.provider, 'up2');
  assert.equal(o.attempts, 2);
});

test("the gateway's own 4xx: unknown model, no token, bad JSON", async () => {
  const a = await post(gw, { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(a.status, 404);
  const b = await post(gw, { model: 'gpt-4o', messages: [] }, { token: null });
  assert.equal(b.status, 401);
  const c = await post(gw, '{"model":', {});
  assert.equal(c.status, 400);
  const oa = await lineOf(file, a.headers.get('x-request-id'));
  checkShape(oa);
  assert.deepEqual([oa.status, oa.model, oa.provider, oa.error, oa.attempts, oa.upstream_status, oa.token],
    [404, 'no-such-model', null, 'model_not_found', null, null, 'team-a']);
  const ob = await lineOf(file, b.headers.get('x-request-id'));
  assert.deepEqual([ob.status, ob.token, ob.error], [401, null, b.json.error.code]);
  const oc = await lineOf(file, c.headers.get('x-request-id'));
  assert.deepEqual([oc.status, oc.error], [400, 'invalid_request_error']);
});

test('a client that leaves mid-stream: 499 and client_closed_request', async () => {
  const id = `cancel-${rnd()}`;
  await new Promise((resolve, reject) => {
    const data = JSON.stringify({ model: 'gpt-4o~chunks=200,interval=50', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'x-request-id': id } }, (res) => {
      res.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', () => {});
    req.end(data);
    setTimeout(() => reject(new Error('no first chunk')), 30000).unref();
  });
  const o = await lineOf(file, id);
  checkShape(o);
  assert.equal(o.status, 499);
  assert.equal(o.error, 'client_closed_request');
  assert.equal(o.stream, true);
  assert.equal(o.provider, 'main');
});

test('control bytes and quotes cannot forge a line; no secret is written', async () => {
  const r = await request(gw.url('/v1/x%0a%22%7b%5cinjected%0d'), { method: 'GET' });
  assert.equal(r.status, 404);
  const o = await lineOf(file, r.headers.get('x-request-id'));
  assert.equal(o.path, '/v1/x\n"{\\injected\r');
  const text = fs.readFileSync(file, 'utf8');
  for (const secret of [TOKEN, KEY_OK, KEY_BAD, KEY_DOWN]) assert.ok(!text.includes(secret), 'no secret in the log');
  for (const l of lines(file)) JSON.parse(l); // every line is one JSON object
});

test('SIGUSR1 reopens the file (logrotate), and so does a reload', async () => {
  const rotated = `${file}.1`;
  fs.renameSync(file, rotated);
  gw.signal('SIGUSR1');
  // every worker reopens: requests until one from each has landed in the new file
  await waitFor(async () => {
    const r = await post(gw, { model: 'gpt-4o', messages: [{ role: 'user', content: 'after rotate' }] });
    assert.equal(r.status, 200);
    const fresh = lines(file).map((l) => JSON.parse(l));
    return fresh.length >= 4;
  }, { what: 'lines in the reopened file' });
  assert.ok(lines(rotated).length > 0, 'the rotated file kept its lines');
  // a reload: the new workers open the file the config names
  fs.renameSync(file, `${file}.2`);
  gw.signal('SIGHUP');
  await waitFor(async () => {
    const r = await post(gw, { model: 'gpt-4o', messages: [{ role: 'user', content: 'after reload' }] });
    return r.status === 200 && lines(file).length > 0;
  }, { what: 'lines in the file after the reload' });
});

test('text format on stderr by default: name=value, escaped', async () => {
  const g = await startGateway({ config: ({ port }) => config({ port }) });
  try {
    const r = await request(g.url('/v1/a%20b%22c'), { method: 'GET' });
    const id = r.headers.get('x-request-id');
    await g.waitLog(`request_id=${id}`);
    const line = g.logs().split('\n').find((l) => l.includes(`request_id=${id}`));
    assert.match(line, /^time=\S+Z request_id=\S+ client=127\.0\.0\.1 protocol=HTTP\/1\.1 api=openai method=GET path=\/v1\/a\\x20b\\x22c status=404 model=- /);
    assert.match(line, / error=not_found$/);
    // FIELDS, in order, as names
    assert.deepEqual(line.split(' ').map((kv) => kv.split('=')[0]), FIELDS);
  } finally {
    await g.stop();
  }
});

test('enabled: false, and the level: no line', async () => {
  for (const [extra, env] of [['access_log: {enabled: false}', {}], ['', { LLMGATE_LOG_LEVEL: 'warn' }]]) {
    // at warn the "listening on" line is not written: wait for /health itself
    const g = await startGateway({ config: ({ port }) => config({ port, extra }), env, wait: false });
    try {
      await waitFor(async () => (await request(g.url('/health')).catch(() => ({}))).status === 200, { what: '/health' });
      assert.equal((await request(g.url('/nope'))).status, 404);
      await g.stop(); // the workers' exit writes whatever was pending
      assert.ok(!g.logs().includes('request_id='), g.logs());
    } finally {
      await g.stop();
    }
  }
});

test('a file that cannot be opened: requests served, lines dropped and counted, SIGUSR1 opens it once it can', async () => {
  const d = tmpDir('llmgate-alog-missing-');
  const sub = path.join(d, 'not-yet');
  const f = path.join(sub, 'access.log');
  const g = await startGateway({ config: ({ port }) => config({ port, file: f }) });
  try {
    await g.waitLog(`access_log: cannot open ${f}`);
    const r = await post(g, { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.status, 200, r.text);
    await waitFor(async () => /^llmgate_access_log_dropped_lines_total [1-9]/m.test((await scrape(g)).text),
      { what: 'a dropped line counted' });
    fs.mkdirSync(sub);
    g.signal('SIGUSR1');
    // every worker reopens: requests until one of them has its line in the file
    const ids = new Set();
    await waitFor(async () => {
      const x = await post(g, { model: 'gpt-4o', messages: [{ role: 'user', content: 'y' }] });
      assert.equal(x.status, 200);
      ids.add(x.headers.get('x-request-id'));
      return lines(f).some((l) => ids.has(JSON.parse(l).request_id));
    }, { what: 'a line in the file once it can be opened' });
  } finally {
    await g.stop();
  }
});

test('config errors: FILE:LINE:COLUMN', async () => {
  const d = tmpDir('llmgate-alog-conf-');
  const f = path.join(d, 'bad.yaml');
  fs.writeFileSync(f, 'providers:\n  - {name: e, type: echo, models: [e]}\naccess_log:\n  format: xml\n  colour: red\n');
  const r = await runCli(['-t', '-c', f]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:11: access_log.format: expected text or json`));
  assert.match(r.stderr, /:5:3: .*colour/);
});

// Helpers shared by the upstream tests (upstream*.test.mjs): llmgate in front
// of the mock upstream (tests/mock, docs/mock.md).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import {
  request, curl, parseSSE, sseEvents, parsePrometheus, metricValue, isOpenAIError, waitFor, sleep, withCeiling,
} from './harness.mjs';

export const rnd = (n = 6) => crypto.randomBytes(n).toString('hex');

// An upstream key for the mock: `sk-<tag>-<random>[-<mock options>]`. The mock
// reads `fail<fault>` and `name=value` segments (docs/mock.md, "Key patterns");
// the random part makes every key a secret that can be searched for later.
export const mkKey = (tag, opts = '') => `sk-${tag}-${rnd()}${opts ? `-${opts}` : ''}`;

// One provider as YAML (a list item under `providers:`).
export function providerYaml({ name, type = 'openai', base, keys, models, extra = {} }) {
  const lines = [`  - name: ${name}`, `    type: ${type}`];
  if (base) lines.push(`    base_url: "${base}"`);
  if (keys) lines.push(`    keys: [${keys.map((k) => JSON.stringify(k)).join(', ')}]`);
  if (models) lines.push(`    models: [${models.map((k) => JSON.stringify(k)).join(', ')}]`);
  for (const [k, v] of Object.entries(extra)) lines.push(`    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return lines.join('\n');
}

// A whole gateway config. top: extra top-level YAML.
export function gatewayYaml({ port, workers = 1, top = '', providers }) {
  return [
    'listen:',
    `  - {address: 127.0.0.1, port: ${port}}`,
    `workers: ${workers}`,
    top.trim(),
    'providers:',
    ...providers.map(providerYaml),
  ].filter((l) => l !== '').join('\n') + '\n';
}

export const userMsg = (content) => [{ role: 'user', content }];
export const chatBody = (model, content = 'Hi', extra = {}) => ({ model, messages: userMsg(content), ...extra });

// The record entries of `event` (default 'request'), optionally only those
// whose body contains `tag`.
export async function mockRequests(mock, { tag, event = 'request' } = {}) {
  const rec = await mock.record();
  return rec.filter((e) => e.event === event && (tag === undefined || (e.body || '').includes(tag)));
}

// Waits until the mock logged a `done` (or client_closed) entry for every
// request entry of `tag`, so that a record read afterwards is complete.
export async function settledRequests(mock, tag, { timeout = 30000 } = {}) {
  return waitFor(async () => {
    const rec = await mock.record();
    const reqs = rec.filter((e) => e.event === 'request' && (tag === undefined || (e.body || '').includes(tag)));
    const ends = new Set(rec.filter((e) => e.event !== 'request').map((e) => e.seq));
    return reqs.every((e) => ends.has(e.seq)) ? reqs : null;
  }, { timeout, interval: 20, what: `mock requests of ${tag} to finish` });
}

// GET /admin/keys; returns its `keys` rows of `provider` (config order).
export async function keyRows(gw, admin, provider) {
  const r = await request(gw.url('/admin/keys'), { token: admin });
  assert.equal(r.status, 200, `/admin/keys: ${r.text}`);
  const rows = r.json.keys.filter((k) => k.provider === provider);
  assert.ok(rows.length > 0, `no key of provider ${provider} in /admin/keys: ${r.text.slice(0, 500)}`);
  return rows;
}

export async function scrape(gw) {
  const r = await request(gw.url('/metrics'));
  assert.equal(r.status, 200, r.text);
  const m = parsePrometheus(r.text);
  m.text = r.text;
  return m;
}
export const metric = (m, name, labels) => metricValue(m, name, labels) ?? 0;

// Replaces the parts of a mock answer that differ between two calls (ids with
// the mock's request number, `created` timestamps, the [t=...] stamps).
export function normalizeMock(text) {
  return text
    .replace(/"(chatcmpl|gen|cmpl)-mock\d+"/g, '"$1-mockN"')
    .replace(/"created":\s*\d+/g, '"created":0');
}

// Splits an SSE body into its raw events (each with its terminating blank line),
// keeping comments and line ends exactly as sent.
export function rawEvents(text) {
  const out = [];
  const re = /\r\n\r\n|\n\n|\r\r/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    out.push(text.slice(last, m.index + m[0].length));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// The event data of a raw event, or null for a comment-only event.
export function eventData(raw) {
  const d = parseSSE(raw);
  return d.length ? d[0] : null;
}

// Calls the mock directly with what the gateway sent for the recorded request
// `entry` (same path, same key, same body), and returns {status, headers,
// body}: the reference for what the gateway should have relayed.
export async function replayDirect(mock, entry) {
  const args = ['-N', '-X', entry.method, mock.url(entry.path), '-H', 'content-type: application/json'];
  if (entry.key) args.push('-H', `authorization: Bearer ${entry.key}`);
  if (entry.body) args.push('--data-binary', entry.body);
  const r = await curl(args);
  assert.equal(r.exitCode, 0, `direct call to the mock failed: ${r.stderr}`);
  return r;
}

export function assertOpenAIError(r, status, what = '') {
  const body = r.body ?? r.text;
  assert.equal(r.status, status, `${what} status: ${body}`);
  assert.ok(isOpenAIError(r.json), `${what}: not an OpenAI-shaped error: ${body}`);
}

// An OpenAI-style streaming upstream that the test holds back (a node server,
// not the mock: its pace is the test's, not a timer's). Every request gets the
// role chunk and pieces[0] at once, and piece i (i >= 1) only once release(i)
// was called (release() with no argument: every piece); sent[i] is true once
// piece i was written (by the last request). So a test knows a stream is in
// flight, and stays so, until it says otherwise, and can prove that a chunk
// reached the client before the next one existed.
export async function heldUpstream(pieces) {
  const sent = pieces.map(() => false);
  const gates = pieces.map(() => { let open; const p = new Promise((r) => { open = r; }); return { p, open }; });
  let requests = 0;
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      requests++;
      const chunk = (delta, finish = null) => `data: ${JSON.stringify({
        id: 'chatcmpl-held', object: 'chat.completion.chunk', created: 1713306744, model: 'held-1',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      })}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(chunk({ role: 'assistant', content: '' }));
      for (let i = 0; i < pieces.length; i++) {
        if (i > 0) await gates[i].p;
        if (res.destroyed) return;
        res.write(chunk({ content: pieces[i] }));
        sent[i] = true;
      }
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const releaseAll = () => gates.forEach((g) => g.open());
  return {
    port: srv.address().port, sent, requests: () => requests,
    release: (i) => (i === undefined ? releaseAll() : gates[i].open()),
    close: () => { releaseAll(); srv.closeAllConnections(); return new Promise((r) => srv.close(r)); },
  };
}

// Starts a stream of `model` (a heldUpstream's: held-*) through the gateway and
// waits (a 30 s ceiling) for its first content piece. Returns {events: the
// data of every event so far, next(): the next event's data (null at the end),
// rest(): reads to the end and returns events}.
export async function startHeldStream(g, { model = 'held-1', token } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(g.url('/v1/chat/completions'), {
    method: 'POST', headers, body: JSON.stringify({ ...chatBody(model, 'held'), stream: true }), signal: AbortSignal.timeout(120000),
  });
  assert.equal(res.status, 200, model);
  const it = sseEvents(res)[Symbol.asyncIterator]();
  const events = [];
  const next = async () => { const r = await it.next(); if (r.done) return null; events.push(r.value.data); return r.value.data; };
  await withCeiling((async () => { while (events.length < 2) if ((await next()) === null) throw new Error(`${model} ended early: ${events}`); })(),
    30000, `${model}: the first piece of the stream never came`);
  const rest = async () => { while ((await next()) !== null); return events; };
  return { events, next, rest };
}

// The provider (a list item under `providers:`) for a heldUpstream: models held-*.
export const heldProvider = (port) => ['  - name: held', '    type: openai', `    base_url: "http://127.0.0.1:${port}/v1"`,
  '    keys: [sk-held-1]', '    models: ["held-*"]'].join('\n');

export { sleep, waitFor };

// The byte-exact upstreams (upstream-h1.test.mjs over TCP, lib/tls.mjs
// startRawTls over TLS): calls handle({head, body, name (the path's first
// segment)}) for each whole request read from sock (a head, then a body of
// its Content-Length).
export function onRequests(sock, handle) {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const head = buf.subarray(0, i).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < i + 4 + len) return;
      const body = buf.subarray(i + 4, i + 4 + len).toString();
      buf = buf.subarray(i + 4 + len);
      handle({ head, body, name: head.split(' ')[1].split('/')[1] });
    }
  });
}

// What those upstreams answer: a chat completion, and a stream's events
// ("a", then "b" with finish_reason stop; [DONE] not included).
export const RAW_ANSWER = JSON.stringify({
  id: 'chatcmpl-raw', object: 'chat.completion', created: 1, model: 'raw',
  choices: [{ index: 0, message: { role: 'assistant', content: 'raw answer' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
});
export const RAW_EVENTS = ['{"id":"c","object":"chat.completion.chunk","created":1,"model":"raw","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
  '{"id":"c","object":"chat.completion.chunk","created":1,"model":"raw","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]}']
  .map((d) => `data: ${d}\n\n`);

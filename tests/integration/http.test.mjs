// HTTP interface (SPEC section 5): endpoints, the echo provider's answers,
// OpenAI-shaped errors, x-request-id, and robustness against bad requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startGateway, echoConfig, request, chat, curl, http1, rawExchange, isOpenAIError,
} from './lib/harness.mjs';

// a ceiling per request that a slow (sanitizer, loaded) machine never reaches
const T = 60000;

let gw, gwDefaults;
before(async () => {
  gw = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  gwDefaults = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: 'defaults:\n  model: echo\n' }) });
});
after(async () => {
  await gw?.stop();
  await gwDefaults?.stop();
});

const user = (content) => ({ model: 'echo', messages: [{ role: 'user', content }] });

// After a bad request: the gateway still answers and no worker died.
async function assertStillHealthy(g, workersBefore) {
  const h = await request(g.url('/health')).catch((e) => ({ status: 0, error: e }));
  assert.ok(g.alive(), `master exited (${g.exitCode}/${g.exitSignal}); log tail:\n${g.logs().slice(-2000)}`);
  assert.equal(h.status, 200, `gateway stopped answering /health: ${h.error?.message}`);
  assert.deepEqual(g.workerPids(), workersBefore, 'a worker was replaced (crashed?)');
}

function assertError(r, status, { code } = {}) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  assert.ok(isOpenAIError(r.json), `not an OpenAI-shaped error: ${r.text}`);
  if (code !== undefined) assert.equal(r.json.error.code, code);
  assert.ok(r.headers.get('x-request-id'), 'no x-request-id on an error');
}

test('GET /health: 200 JSON, status ok, provider info naming echo', async () => {
  const r = await request(gw.url('/health'));
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.ok(['ok', 'degraded'].includes(r.json.status), r.text);
  assert.ok(r.json.providers, `no providers in ${r.text}`);
  assert.match(JSON.stringify(r.json.providers), /echo/);
});

test('GET /: name, version, endpoints', async () => {
  const r = await request(gw.url('/'));
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.json.name, 'llmgate');
  assert.equal(typeof r.json.version, 'string');
  assert.match(r.json.version, /\d+\.\d+/);
  assert.ok(r.json.endpoints, r.text);
  assert.match(JSON.stringify(r.json.endpoints), /\/v1\/chat\/completions/);
});

for (const p of ['/v1/chat/completions', '/chat/completions', '/']) {
  test(`POST ${p}: non-stream chat completion with the echoed text`, async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await chat(gw, user('hello big world'), { path: p });
    const after = Math.ceil(Date.now() / 1000);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    const b = r.json;
    assert.match(b.id, /^chatcmpl-./);
    assert.equal(b.object, 'chat.completion');
    assert.ok(Number.isInteger(b.created) && b.created >= before && b.created <= after, `created ${b.created}, request sent at ${before}, answered by ${after}`);
    assert.equal(b.model, 'echo');
    assert.equal(b.choices.length, 1);
    const c = b.choices[0];
    assert.equal(c.index, 0);
    assert.equal(c.message.role, 'assistant');
    assert.equal(c.message.content, 'hello big world');
    assert.equal(c.logprobs, null);
    assert.equal(c.finish_reason, 'stop');
    const u = b.usage;
    for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.ok(Number.isInteger(u[k]) && u[k] >= 0, `${k}=${u[k]}`);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert.ok(u.completion_tokens > 0);
  });
}

test('echo answers the LAST user message', async () => {
  const r = await chat(gw, {
    model: 'echo',
    messages: [
      { role: 'system', content: 'be nice' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'an answer' },
      { role: 'user', content: 'second question here' },
      { role: 'assistant', content: 'trailing assistant turn' },
    ],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'second question here');
});

test('echo concatenates the text parts of array content', async () => {
  const r = await chat(gw, {
    model: 'echo',
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'part one ' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
      { type: 'text', text: 'part two' },
    ] }],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'part one part two');
});

test('echo keeps unicode, quotes and newlines exactly', async () => {
  const text = 'héllo "wörld" \\ back\nslash 😀 \t tab';
  const r = await chat(gw, user(text));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, text);
});

test('a model matched by a glob (echo-*) is served and echoed back as model', async () => {
  const r = await chat(gw, { model: 'echo-large', messages: [{ role: 'user', content: 'glob' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.model, 'echo-large');
  assert.equal(r.json.choices[0].message.content, 'glob');
});

test('a longer text gives more completion tokens', async () => {
  const a = await chat(gw, user('one'));
  const b = await chat(gw, user('one two three four five six seven eight nine ten'));
  assert.ok(b.json.usage.completion_tokens > a.json.usage.completion_tokens);
});

// ---- errors ---------------------------------------------------------------

const BAD_BODIES = {
  'bad JSON': '{"model": "echo", "messages": [',
  'empty body': '',
  'array body': '[{"role":"user","content":"x"}]',
  'number body': '42',
  'string body': '"hello"',
  'null body': 'null',
  'missing messages': '{"model":"echo"}',
  'messages is a string': '{"model":"echo","messages":"hi"}',
  'messages is an object': '{"model":"echo","messages":{"role":"user","content":"hi"}}',
  'model is a number': '{"model":42,"messages":[{"role":"user","content":"hi"}]}',
  'stream is a string': '{"model":"echo","stream":"yes","messages":[{"role":"user","content":"hi"}]}',
};
for (const [name, body] of Object.entries(BAD_BODIES)) {
  test(`400 for ${name}`, async () => {
    const workers = gw.workerPids();
    const r = await request(gw.url('/v1/chat/completions'), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assertError(r, 400);
    await assertStillHealthy(gw, workers);
  });
}

test('404 for an unknown path, OpenAI-shaped', async () => {
  const r = await request(gw.url('/nope'));
  assertError(r, 404);
  const r2 = await request(gw.url('/v1/chat/completions/extra'), { method: 'POST', body: user('x') });
  assert.equal(r2.status, 404, r2.text);
});

test('405 with Allow: POST for GET /v1/chat/completions', async () => {
  for (const method of ['GET', 'DELETE', 'PUT']) {
    const r = await request(gw.url('/v1/chat/completions'), { method });
    assertError(r, 405);
    assert.match(r.headers.get('allow') || '', /\bPOST\b/, `${method}: Allow=${r.headers.get('allow')}`);
  }
});

test('405 with Allow: GET for POST /health', async () => {
  const r = await request(gw.url('/health'), { method: 'POST', body: '{}' });
  assertError(r, 405);
  assert.match(r.headers.get('allow') || '', /\bGET\b/);
});

test('404 model_not_found for a model no provider serves', async () => {
  const r = await chat(gw, { model: 'nope-model', messages: [{ role: 'user', content: 'x' }] });
  assertError(r, 404, { code: 'model_not_found' });
  assert.match(r.json.error.message, /nope-model/);
});

test('400 when the model is absent and there is no defaults.model', async () => {
  const r = await chat(gw, { messages: [{ role: 'user', content: 'x' }] });
  assertError(r, 400);
});

test('defaults.model answers a request without model', async () => {
  const r = await chat(gwDefaults, { messages: [{ role: 'user', content: 'no model given' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'no model given');
  assert.equal(r.json.model, 'echo');
});

// ---- x-request-id ---------------------------------------------------------

test('x-request-id on every kind of response, generated and unique', async () => {
  const cases = [
    ['GET', '/health'], ['GET', '/'], ['GET', '/nope'], ['GET', '/v1/chat/completions'],
    ['POST', '/v1/chat/completions', JSON.stringify(user('rid'))], ['POST', '/v1/chat/completions', '{bad'],
    ['OPTIONS', '/v1/chat/completions'],
  ];
  const seen = new Set();
  for (const [method, p, body] of cases) {
    const r = await request(gw.url(p), { method, body, headers: { 'content-type': 'application/json' } });
    const id = r.headers.get('x-request-id');
    assert.ok(id && id.trim().length > 0, `${method} ${p} (${r.status}): no x-request-id`);
    assert.ok(!seen.has(id), `x-request-id ${id} reused`);
    seen.add(id);
  }
});

test("the client's x-request-id is echoed back (success, errors, 413, stream)", async () => {
  const small = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: 'max_body_bytes: 1000\n' }) });
  try {
    const mine = 'client-req-id-12345';
    const h = { 'x-request-id': mine, 'content-type': 'application/json' };
    const cases = [
      ['GET', '/health'], ['GET', '/nope'], ['POST', '/health', '{}'], ['OPTIONS', '/v1/chat/completions'],
      ['POST', '/v1/chat/completions', JSON.stringify(user('hello'))],
      ['POST', '/v1/chat/completions', JSON.stringify({ ...user('hello'), stream: true })],
      ['POST', '/v1/chat/completions', '[]'],
      ['POST', '/v1/chat/completions', JSON.stringify(user('x'.repeat(5000)))],
    ];
    for (const [method, p, body] of cases) {
      const r = await request(small.url(p), { method, body, headers: h });
      assert.equal(r.headers.get('x-request-id'), mine, `${method} ${p} -> ${r.status}`);
    }
  } finally {
    await small.stop();
  }
});

// ---- robustness ------------------------------------------------------------

const WEIRD_BODIES = {
  'deeply nested arrays': '['.repeat(100000) + ']'.repeat(100000),
  'deeply nested objects in messages': `{"model":"echo","messages":[${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}]}`,
  'messages with non-objects': '{"model":"echo","messages":[1,null,"x",[]]}',
  'content is a number': '{"model":"echo","messages":[{"role":"user","content":7}]}',
  'content parts of wrong types': '{"model":"echo","messages":[{"role":"user","content":[1,{"type":"text"},{"type":"text","text":5}]}]}',
  'empty messages': '{"model":"echo","messages":[]}',
  'no user message': '{"model":"echo","messages":[{"role":"system","content":"s"}]}',
  'a raw NUL in a string': '{"model":"echo","messages":[{"role":"user","content":"a\u0000b"}]}',
  'invalid UTF-8': Buffer.concat([Buffer.from('{"model":"echo","messages":[{"role":"user","content":"a'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]),
  'huge string model': JSON.stringify({ model: 'm'.repeat(200000), messages: [{ role: 'user', content: 'x' }] }),
  'stream_options not an object': '{"model":"echo","stream":true,"stream_options":5,"messages":[{"role":"user","content":"x"}]}',
  'duplicate keys': '{"model":"nope","model":"echo","messages":[{"role":"user","content":"dup"}]}',
  'trailing garbage': '{"model":"echo","messages":[{"role":"user","content":"x"}]} trailing',
};
for (const [name, body] of Object.entries(WEIRD_BODIES)) {
  test(`robust to ${name}: a 200 or a 4xx OpenAI error, and no crash`, async () => {
    const workers = gw.workerPids();
    const r = await request(gw.url('/v1/chat/completions'), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `status ${r.status}: ${r.text.slice(0, 300)}`);
    if (r.status !== 200) assertError(r, r.status);
    await assertStillHealthy(gw, workers);
  });
}

test('robust to malformed HTTP/1.1 request lines and headers', async () => {
  const workers = gw.workerPids();
  const garbage = [
    'GARBAGE\r\n\r\n',
    'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model"', // truncated body, then close
    `GET /${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(200000)}\r\n\r\n`,
  ];
  for (const g of garbage) await rawExchange(gw.port, g, { timeout: 1500 });
  await assertStillHealthy(gw, workers);
});

test('HTTP/1.0 request without Host is answered', async () => {
  const r = await rawExchange(gw.port, 'GET /health HTTP/1.0\r\n\r\n', { timeout: T });
  assert.match(r.text, /^HTTP\/1\.[01] 200/);
});

test('a client that disconnects mid-request does not hurt the gateway', async () => {
  const workers = gw.workerPids();
  const body = JSON.stringify({ ...user('one two three'), stream: true });
  // the client goes away as soon as its request is handed to the kernel (its
  // close reaches the gateway right behind the request), whatever the load
  await new Promise((resolve) => {
    const s = net.connect({ port: gw.port, host: '127.0.0.1' }, () => {
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        () => s.destroy());
    });
    s.on('error', () => { /* reset */ });
    s.on('close', resolve);
  });
  const r = await http1(gw.port, { path: '/health', timeout: T });
  assert.equal(r.status, 200);
  await assertStillHealthy(gw, workers);
});

test('curl sees the same x-request-id header over HTTP/1.1', async () => {
  const r = await curl(['--http1.1', gw.url('/health')]);
  assert.equal(r.status, 200);
  assert.ok(r.headers['x-request-id']);
});

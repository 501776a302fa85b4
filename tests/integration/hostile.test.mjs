// Hostile input (issue 7, item 1): every bad request gets an exact 4xx in the
// OpenAI error shape (or, below HTTP, a GOAWAY or a close), within seconds, and
// no worker ever restarts. One gateway (2 workers, an echo provider and an
// openai-type provider in front of the mock upstream) serves the whole file;
// every test ends by checking that the same workers still answer /health.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import tls from 'node:tls';
import fs from 'node:fs';
import { startGateway, startMock, request, rawExchange, parseHttpResponse, isOpenAIError, sleep, makeCert, tmpDir } from './lib/harness.mjs';
import { gatewayYaml, mkKey } from './lib/upstream.mjs';

const MAX_BODY = 8 * 1024 * 1024;
let gw, mock, workers0;

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port,
      workers: 2,
      top: `max_body_bytes: ${MAX_BODY}`,
      providers: [
        { name: 'echo', type: 'echo', models: ['echo'] },
        { name: 'up', base: `${mock.base}/v1`, keys: [mkKey('hostile')], models: ['up-*'] },
      ],
    }),
  });
  workers0 = gw.workerPids();
  assert.equal(workers0.length, 2, `expected 2 workers, got ${workers0}`);
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

// The master and the very same workers are alive, /health answers, and the log
// holds no worker death (server/master.c: "was killed by signal", "exited with
// status ... starting a new one") nor a sanitizer report.
async function assertNoRestart(what = '') {
  const h = await request(gw.url('/health'), { timeout: 5000 }).catch((e) => ({ status: 0, text: e.message }));
  assert.ok(gw.alive(), `${what}: master exited (${gw.exitCode}/${gw.exitSignal}); log tail:\n${gw.logs().slice(-2000)}`);
  assert.equal(h.status, 200, `${what}: /health: ${h.text}`);
  assert.deepEqual(gw.workerPids(), workers0, `${what}: a worker was replaced; log tail:\n${gw.logs().slice(-2000)}`);
  assert.doesNotMatch(gw.logs(), /killed by signal|exited with status|starting a new one|dying at start-up|AddressSanitizer|runtime error:/,
    `${what}: the log reports a dead worker`);
}

// ---- the OpenAI error shape ------------------------------------------------

// r: {status, headers (get(name) or a plain object), text, json}
function assertOpenAIError(r, status, param, what) {
  const hdr = (n) => (typeof r.headers.get === 'function' ? r.headers.get(n) : r.headers[n]);
  assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status}: ${String(r.text).slice(0, 300)}`);
  assert.match(hdr('content-type') || '', /^application\/json/, `${what}: content-type`);
  assert.ok(isOpenAIError(r.json), `${what}: not an OpenAI-shaped error: ${String(r.text).slice(0, 300)}`);
  assert.ok(hdr('x-request-id'), `${what}: no x-request-id`);
  if (param !== undefined) assert.equal(r.json.error.param, param, `${what}: param (message: ${r.json.error.message})`);
}

// ---- clients ---------------------------------------------------------------

const CHAT = '/v1/chat/completions';

function post1(body, { path = CHAT, timeout = 15000 } = {}) {
  return request(gw.url(path), { method: 'POST', body, headers: { 'content-type': 'application/json' }, timeout });
}

// One h2c (prior knowledge) request on its own session. Returns
// {status, headers (plain object), text, json}.
function post2(body, { path = CHAT, method = 'POST', timeout = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${gw.port}`);
    const timer = setTimeout(() => { session.destroy(); reject(new Error(`h2c ${path}: timed out`)); }, timeout);
    session.on('error', (e) => { clearTimeout(timer); reject(e); });
    const req = session.request({ ':method': method, ':path': path, 'content-type': 'application/json' });
    let headers = {}, chunks = [];
    req.on('response', (h) => { headers = h; });
    req.on('data', (d) => chunks.push(d));
    req.on('error', (e) => { clearTimeout(timer); session.destroy(); reject(e); });
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      const text = Buffer.concat(chunks).toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      resolve({ status: headers[':status'], headers, text, json });
    });
    if (body !== undefined) req.end(body); else req.end();
  });
}

const b = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
const msgBody = (content) => `{"model":"echo","messages":[{"role":"user","content":${content}}]}`;
const DEEP = 200000;

// [name, body, status, param] — param undefined: not checked.
const BAD_BODIES = [
  ['JSON null', 'null', 400, null],
  ['an empty array', '[]', 400, null],
  ['an array of numbers', '[1,2]', 400, null],
  ['a number', '42', 400, null],
  ['a string', '"str"', 400, null],
  ['true', 'true', 400, null],
  ['whitespace only', ' \r\n\t ', 400, null],
  ['an empty object', '{}', 400, 'messages'],
  ['no messages', '{"model":"echo"}', 400, 'messages'],
  ['messages a string', '{"model":"echo","messages":"hi"}', 400, 'messages'],
  ['messages an object', '{"model":"echo","messages":{"role":"user","content":"x"}}', 400, 'messages'],
  ['messages null', '{"model":"echo","messages":null}', 400, 'messages'],
  ['messages of non-objects', '{"model":"echo","messages":[1,null,"x"]}', 400, 'messages[0]'],
  ['a message without role', '{"model":"echo","messages":[{"content":"x"}]}', 400, 'messages[0].role'],
  ['role a number', '{"model":"echo","messages":[{"role":5,"content":"x"}]}', 400, 'messages[0].role'],
  ['content a number', msgBody('7'), 400, 'messages[0].content'],
  ['content an object', msgBody('{"text":"x"}'), 400, 'messages[0].content'],
  ['second message bad', '{"model":"echo","messages":[{"role":"user","content":"x"},{"role":null}]}', 400, 'messages[1].role'],
  ['model a number', '{"model":5,"messages":[{"role":"user","content":"x"}]}', 400, 'model'],
  ['model an object', '{"model":{},"messages":[{"role":"user","content":"x"}]}', 400, 'model'],
  ['model an array', '{"model":["echo"],"messages":[{"role":"user","content":"x"}]}', 400, 'model'],
  ['model missing', '{"messages":[{"role":"user","content":"x"}]}', 400, 'model'],
  ['stream a string', '{"model":"echo","stream":"yes","messages":[{"role":"user","content":"x"}]}', 400, 'stream'],
  ['stream a number', '{"model":"echo","stream":1,"messages":[{"role":"user","content":"x"}]}', 400, 'stream'],
  ['stream_options a number', '{"model":"echo","stream":true,"stream_options":5,"messages":[{"role":"user","content":"x"}]}', 400, 'stream_options'],
  ['include_usage a string', '{"model":"echo","stream":true,"stream_options":{"include_usage":"y"},"messages":[{"role":"user","content":"x"}]}', 400, 'stream_options.include_usage'],
  ['temperature a string', '{"model":"echo","temperature":"hot","messages":[{"role":"user","content":"x"}]}', 400, 'temperature'],
  ['top_p an array', '{"model":"echo","top_p":[1],"messages":[{"role":"user","content":"x"}]}', 400, 'top_p'],
  ['max_tokens a string', '{"model":"echo","max_tokens":"5","messages":[{"role":"user","content":"x"}]}', 400, 'max_tokens'],
  ['max_tokens negative', '{"model":"echo","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}', 400, 'max_tokens'],
  ['max_tokens zero', '{"model":"echo","max_tokens":0,"messages":[{"role":"user","content":"x"}]}', 400, 'max_tokens'],
  ['max_tokens a float', '{"model":"echo","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}', 400, 'max_tokens'],
  ['max_completion_tokens a boolean', '{"model":"echo","max_completion_tokens":true,"messages":[{"role":"user","content":"x"}]}', 400, 'max_completion_tokens'],
  ['n a string', '{"model":"echo","n":"2","messages":[{"role":"user","content":"x"}]}', 400, 'n'],
  ['stop a number', '{"model":"echo","stop":5,"messages":[{"role":"user","content":"x"}]}', 400, 'stop'],
  ['stop an array of numbers', '{"model":"echo","stop":[5],"messages":[{"role":"user","content":"x"}]}', 400, 'stop'],
  [`arrays ${DEEP} deep (whole body)`, '['.repeat(DEEP) + ']'.repeat(DEEP), 400, null],
  [`objects ${DEEP} deep (whole body)`, '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP), 400, null],
  [`arrays ${DEEP} deep in content`, msgBody('['.repeat(DEEP) + ']'.repeat(DEEP)), 400, null],
  [`objects ${DEEP} deep in content`, msgBody('{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP)), 400, null],
  ['unclosed nesting', '{"model":"echo","messages":[{"role":"user","content":' + '['.repeat(DEEP), 400, null],
  ['overlong C0 80 in a string', b('{"model":"echo","messages":[{"role":"user","content":"a', [0xc0, 0x80], '"}]}'), 400, null],
  ['surrogate ED A0 80 in a string', b('{"model":"echo","messages":[{"role":"user","content":"a', [0xed, 0xa0, 0x80], '"}]}'), 400, null],
  ['F5 80 80 80 in a string', b('{"model":"echo","messages":[{"role":"user","content":"a', [0xf5, 0x80, 0x80, 0x80], '"}]}'), 400, null],
  ['a lone continuation byte', b('{"model":"echo","messages":[{"role":"user","content":"a', [0x80], '"}]}'), 400, null],
  ['a truncated sequence', b('{"model":"echo","messages":[{"role":"user","content":"a', [0xe2, 0x82], '"}]}'), 400, null],
  ['FF FE in the model', b('{"model":"ec', [0xff, 0xfe], 'ho","messages":[{"role":"user","content":"a"}]}'), 400, null],
  ['invalid UTF-8 outside strings', b('{"model":"echo",', [0xc3], '"messages":[{"role":"user","content":"a"}]}'), 400, null],
  ['invalid UTF-8 at the very end', b(msgBody('"a"'), [0xe2]), 400, null],
  ['an escaped \\u0000', msgBody('"a\\u0000b"'), 400, null],
  ['a raw NUL in a string', b('{"model":"echo","messages":[{"role":"user","content":"a', [0], 'b"}]}'), 400, null],
  ['a raw NUL outside strings', b('{"model":"echo",', [0], '"messages":[{"role":"user","content":"a"}]}'), 400, null],
  ['a raw control byte in a string', b('{"model":"echo","messages":[{"role":"user","content":"a', [0x01], 'b"}]}'), 400, null],
  ['a raw newline in a string', b('{"model":"echo","messages":[{"role":"user","content":"a\nb"}]}'), 400, null],
  ['a raw control byte outside strings', b('{"model":"echo",', [0x0b], '"messages":[{"role":"user","content":"a"}]}'), 400, null],
  ['a lone high surrogate escape', msgBody('"a\\ud800b"'), 400, null],
  ['a lone low surrogate escape', msgBody('"a\\udc00b"'), 400, null],
  ['a high surrogate then a non-surrogate', msgBody('"\\ud800\\u0041"'), 400, null],
  ['a bad escape', msgBody('"a\\qb"'), 400, null],
  ['trailing garbage', msgBody('"x"') + ' trailing', 400, null],
  ['two objects', msgBody('"x"') + msgBody('"y"'), 400, null],
  ['a trailing comma', '{"model":"echo","messages":[{"role":"user","content":"x"}],}', 400, null],
  ['single quotes', "{'model':'echo','messages':[]}", 400, null],
  ['a UTF-8 BOM prefix', b([0xef, 0xbb, 0xbf], msgBody('"x"')), 400, null],
  ['duplicate top-level keys', '{"model":"nope","model":"echo","messages":[{"role":"user","content":"dup"}]}', 400, 'model'],
  ['duplicate messages keys', '{"model":"echo","messages":[],"messages":[{"role":"user","content":"dup"}]}', 400, 'messages'],
  ['an empty body', '', 400, null],
];

for (const [name, body, status, param] of BAD_BODIES) {
  test(`bad body, ${name}: ${status} over HTTP/1.1 and h2c`, async () => {
    const r1 = await post1(body);
    assertOpenAIError(r1, status, param, `h1 ${name}`);
    const r2 = await post2(body);
    assertOpenAIError(r2, status, param, `h2c ${name}`);
    assert.equal(r2.json.error.message, r1.json.error.message, 'same message over both protocols');
  });
}

test('bad bodies: no worker restarted', async () => { await assertNoRestart('bad bodies'); });

test('accepted edge cases: a surrogate pair escape, JSON null for optional fields, tabs and CRLF between tokens', async () => {
  for (const body of [
    msgBody('"smile \\ud83d\\ude00 ok"'),
    '{"model":"echo","temperature":null,"max_tokens":null,"stop":null,"n":null,"stream":null,"messages":[{"role":"user","content":"n"}]}',
    '{"model":"echo","temperature":0,"top_p":1,"max_tokens":5,"n":1,"stop":["a","b"],"messages":[{"role":"user","content":"n"}]}',
    '\t{\r\n"model" :\t"echo",\r\n"messages":[{"role":"user","content":"x"}]}\r\n',
  ]) {
    for (const post of [post1, post2]) {
      const r = await post(body);
      assert.equal(r.status, 200, `${body.slice(0, 80)}: ${r.text.slice(0, 300)}`);
    }
  }
  const r = await post1(msgBody('"smile \\ud83d\\ude00 ok"'));
  assert.equal(r.json.choices[0].message.content, 'smile \u{1f600} ok');
});

test('a wrong-typed parameter for an openai-type provider is refused before the upstream', async () => {
  await mock.reset();
  const tag = `tag${Date.now()}`;
  for (const [field, value] of [['temperature', '"hot"'], ['max_tokens', '-3'], ['stream', '"yes"'], ['stop', '{}']]) {
    const r = await post1(`{"model":"up-1",${JSON.stringify(field)}:${value},"messages":[{"role":"user","content":"${tag}"}]}`);
    assertOpenAIError(r, 400, field, `up ${field}`);
  }
  const ok = await post1(`{"model":"up-1","messages":[{"role":"user","content":"${tag}"}]}`);
  assert.equal(ok.status, 200, ok.text);
  const rec = (await mock.record()).filter((e) => e.event === 'request' && (e.body || '').includes(tag));
  assert.equal(rec.length, 1, 'only the valid request reached the upstream');
});

test('/v1/embeddings and /v1/completions refuse the same bad bodies (400), wrong methods 405', async () => {
  const cases = [
    ['null', 'null', null], ['an array', '[1]', null], ['a BOM prefix', b([0xef, 0xbb, 0xbf], '{"model":"up-1","input":"x"}'), null],
    ['a raw control byte', b('{"model":"up-1","input":"a', [0x07], '"}'), null],
    ['invalid UTF-8', b('{"model":"up-1","input":"a', [0xc0, 0x80], '"}'), null],
    ['an escaped NUL', '{"model":"up-1","input":"a\\u0000"}', null],
    ['deep nesting', '{"model":"up-1","input":' + '['.repeat(DEEP) + ']'.repeat(DEEP) + '}', null],
    ['model a number', '{"model":1,"input":"x"}', 'model'], ['an empty body', '', null],
  ];
  for (const path of ['/v1/embeddings', '/v1/completions']) {
    for (const [name, body, param] of cases) {
      assertOpenAIError(await post1(body, { path }), 400, param, `h1 ${path} ${name}`);
      assertOpenAIError(await post2(body, { path }), 400, param, `h2c ${path} ${name}`);
    }
  }
  const echoOnly = await post1('{"model":"echo","input":"x"}', { path: '/v1/embeddings' });
  assertOpenAIError(echoOnly, 400, 'model', 'embeddings on echo');
  assert.equal(echoOnly.json.error.code, 'unsupported_endpoint');
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    const r = await request(gw.url(CHAT), { method, body: method === 'GET' ? undefined : '{}' });
    assertOpenAIError(r, 405, undefined, `${method} ${CHAT}`);
    assert.equal(r.headers.get('allow'), 'POST, OPTIONS');
  }
  await assertNoRestart('other endpoints');
});

test('413 for a body over max_body_bytes over HTTP/1.1 and h2c', async () => {
  const body = msgBody(JSON.stringify('x'.repeat(MAX_BODY + 10)));
  for (const [proto, post] of [['h1', post1], ['h2c', post2]]) {
    const r = await post(body);
    assertOpenAIError(r, 413, undefined, `${proto} 413`);
    assert.equal(r.json.error.code, 'request_too_large');
  }
  await assertNoRestart('413');
});

// ---- big but valid -----------------------------------------------------------

function manyMessages(n) {
  const one = '{"role":"user","content":"m"}';
  return `{"model":"echo","messages":[${Array(n - 1).fill(one).join(',')},{"role":"user","content":"last"}]}`;
}

test('10,000 messages in one request are served (both protocols)', async () => {
  const body = manyMessages(10000);
  for (const post of [post1, post2]) {
    const r = await post(body);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(r.json.choices[0].message.content, 'last');
  }
});

test('100,000 messages (3 MB) are served within a few seconds', async () => {
  const body = manyMessages(100000);
  const t0 = Date.now();
  const r = await post1(body);
  const ms = Date.now() - t0;
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal(r.json.choices[0].message.content, 'last');
  assert.ok(r.json.usage.prompt_tokens >= 100000, JSON.stringify(r.json.usage));
  assert.ok(ms < 5000, `took ${ms} ms`);
  await assertNoRestart('100,000 messages');
});

test('a 1 MB content string is served whole', async () => {
  const big = 'abcdefghij'.repeat(100000);
  for (const post of [post1, post2]) {
    const r = await post(msgBody(JSON.stringify(big)));
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(r.json.choices[0].message.content.length, big.length);
  }
});

test('80,000 distinct top-level keys are refused quickly (the duplicate-key check is n log n)', async () => {
  const keys = Array.from({ length: 80000 }, (_, i) => `"k${i}":${i}`).join(',');
  const t0 = Date.now();
  const r = await post1(`{${keys}}`);
  const ms = Date.now() - t0;
  assertOpenAIError(r, 400, 'messages', '80,000 keys');
  assert.ok(ms < 2000, `took ${ms} ms`);
  const r2 = await post1(`{${keys},"k79999":1,"model":"echo","messages":[]}`);
  assertOpenAIError(r2, 400, 'k79999', '80,000 keys and a duplicate');
  await assertNoRestart('80,000 keys');
});

// ---- raw HTTP/1.1 -------------------------------------------------------------

// Sends `data` on a fresh connection; expects one HTTP response with a status in
// `statuses` (OpenAI-shaped when it is a 4xx) or, when allowClose, a close
// without a response; never a hang.
async function rawExpect(name, data, { statuses = [400], allowClose = true, timeout = 3000 } = {}) {
  const t0 = Date.now();
  const r = await rawExchange(gw.port, data, { timeout });
  const ms = Date.now() - t0;
  const res = parseHttpResponse(r.text);
  if (!res) {
    assert.ok(allowClose, `${name}: no response (closed=${r.closed}, got ${JSON.stringify(r.text.slice(0, 200))})`);
    assert.ok(r.closed, `${name}: neither answered nor closed within ${timeout} ms`);
    return { closed: true, ms };
  }
  assert.ok(statuses.includes(res.status), `${name}: status ${res.status} not in ${statuses}: ${r.text.slice(0, 300)}`);
  if (res.status >= 400) {
    let json;
    try { json = JSON.parse(res.body); } catch { /* not JSON */ }
    assertOpenAIError({ status: res.status, headers: res.headers, text: res.body, json }, res.status, undefined, name);
  }
  return { ...res, closed: r.closed, ms, raw: r.text };
}

const noise = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256));

test('garbage request lines and headers: a 400 in the OpenAI shape or a close, never a hang', async () => {
  const H = 'Host: x\r\n';
  const cases = [
    ['binary noise', noise],
    ['binary noise after a valid method', b('POST ', noise)],
    ['GET alone', 'GET\r\n\r\n'],
    ['GET with no version', 'GET /health\r\n\r\n'],
    ['HTTP/9.9', `GET /health HTTP/9.9\r\n${H}\r\n`],
    ['HTTP/2.0 as an HTTP/1 version', `GET /health HTTP/2.0\r\n${H}\r\n`],
    ['a control byte in the method', b('G', [1], `T /health HTTP/1.1\r\n${H}\r\n`)],
    ['a NUL in the request line', b('GET /hea', [0], `lth HTTP/1.1\r\n${H}\r\n`)],
    ['a bare LF request line with spaces', 'GET  /health  HTTP/1.1\n\n'],
    ['a header without colon', `GET /health HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`],
    ['a space before the colon', `GET /health HTTP/1.1\r\n${H}X-Bad : v\r\n\r\n`],
    ['a NUL in a header value', b(`GET /health HTTP/1.1\r\n${H}X-A: a`, [0], 'b\r\n\r\n')],
    ['a CR alone in a header value', `GET /health HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`],
    ['Content-Length negative', `POST ${CHAT} HTTP/1.1\r\n${H}Content-Length: -5\r\n\r\n`],
    ['Content-Length not a number', `POST ${CHAT} HTTP/1.1\r\n${H}Content-Length: 1x\r\n\r\n`],
    ['Content-Length overflowing', `POST ${CHAT} HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`],
    ['chunked with a non-hex size', `POST ${CHAT} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
    ['chunked with a negative size', `POST ${CHAT} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`],
    ['chunked with an overflowing size', `POST ${CHAT} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n`],
    ['chunked with a missing CRLF after data', `POST ${CHAT} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n`],
  ];
  const results = {};
  for (const [name, data] of cases) {
    const r = await rawExpect(name, data);
    results[name] = r.status ?? 'closed';
    assert.ok(r.ms < 3000, `${name}: ${r.ms} ms`);
  }
  // a request that parses as HTTP but whose method is absurd reaches the handler
  const absurd = await rawExpect('an absurd method', `${'FROBNICATE'.repeat(100)} ${CHAT} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { statuses: [405], allowClose: false });
  assert.equal(absurd.headers.allow, 'POST, OPTIONS');
  // obs-fold: h2o joins or ignores the continuation line (RFC 9112 allows replacing it by SP)
  const fold = await rawExpect('obs-fold', `GET /health HTTP/1.1\r\n${H}X-A: a\r\n b\r\nConnection: close\r\n\r\n`, { statuses: [200, 400] });
  results['obs-fold'] = fold.status ?? 'closed';
  // 10,000 tiny headers: over h2o's 100-header cap
  const many = await rawExpect('10,000 tiny headers', `GET /health HTTP/1.1\r\n${H}${'a: b\r\n'.repeat(10000)}\r\n`, { statuses: [400, 431] });
  results['10,000 headers'] = many.status ?? 'closed';
  console.log('raw HTTP/1.1 results:', JSON.stringify(results));
  await assertNoRestart('garbage request lines');
});

test('over TLS too, an unparsable request head gets the OpenAI-shaped 400', async () => {
  const { cert, key } = await makeCert(tmpDir());
  const g = await startGateway({
    config: ({ port }) => `listen:\n  - {address: 127.0.0.1, port: ${port}, tls: {certificate: "${cert}", key: "${key}"}}\nworkers: 1\nproviders:\n  - {name: echo, type: echo, models: [echo]}\n`,
  });
  try {
    for (const data of ['GET\r\n\r\n', `GET /health HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n`]) {
      const text = await new Promise((resolve, reject) => {
        const s = tls.connect({ port: g.port, host: '127.0.0.1', ca: fs.readFileSync(cert), servername: 'localhost', ALPNProtocols: ['http/1.1'] });
        let out = '';
        const t = setTimeout(() => { s.destroy(); reject(new Error(`TLS: no close, got ${out}`)); }, 3000);
        s.on('secureConnect', () => s.write(data));
        s.on('data', (d) => { out += d; });
        s.on('error', () => {});
        s.on('close', () => { clearTimeout(t); resolve(out); });
      });
      const res = parseHttpResponse(text);
      assertOpenAIError({ status: res?.status, headers: res?.headers ?? {}, text, json: res && JSON.parse(res.body) }, 400, null, `TLS ${JSON.stringify(data)}`);
    }
  } finally {
    await g.stop();
  }
});

test('empty body with Content-Length: 0, and a POST without any length: 400', async () => {
  const r = await rawExpect('Content-Length 0', `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, { allowClose: false });
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.body).error.message, /empty/);
  const r2 = await rawExpect('no length', `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n`, { statuses: [400, 411], allowClose: false });
  assert.ok([400, 411].includes(r2.status));
});

test('Transfer-Encoding wins over Content-Length; of two Content-Length fields h2o takes the first', async () => {
  const te = await rawExpect('CL and TE', `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`, { allowClose: false });
  assert.match(JSON.parse(te.body).error.message, /empty/, 'the chunked (empty) body was read, not 4 bytes');
  const cl = await rawExpect('two CL', `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{}{}{`, { allowClose: false });
  assert.match(JSON.parse(cl.body).error.message, /unexpected data at byte 2/, 'the first Content-Length (4) was used');
});

// Opens a connection, sends `data`; returns the socket and a promise of
// {text, closedAfterMs}.
function openRaw(data) {
  const s = net.connect({ port: gw.port, host: '127.0.0.1' });
  const t0 = Date.now();
  let text = '';
  s.setEncoding('latin1');
  s.on('connect', () => s.write(data));
  s.on('data', (d) => { text += d; });
  s.on('error', () => {});
  const closed = new Promise((resolve) => s.on('close', () => resolve({ text, closedAfterMs: Date.now() - t0 })));
  return { s, closed, text: () => text };
}

test('truncated body, then the client closes: the gateway closes too, answers nothing, and serves others', async () => {
  const conns = [];
  for (let i = 0; i < 20; i++) {
    const c = openRaw(`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"echo","messa`);
    conns.push(c);
  }
  await sleep(100);
  for (const c of conns) c.s.end(); // half-close: FIN after 22 of 1000 bytes
  const ends = await Promise.race([Promise.all(conns.map((c) => c.closed)), sleep(3000).then(() => null)]);
  assert.ok(ends, 'the gateway kept half-closed truncated uploads open for more than 3 s');
  for (const e of ends) assert.equal(e.text, '', 'nothing is answered to a truncated body');
  await assertNoRestart('truncated body + close');
});

test('truncated body, the client waiting: other requests are served meanwhile', async () => {
  const conns = [];
  for (let i = 0; i < 20; i++) conns.push(openRaw(`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"model":"echo"`));
  await sleep(100);
  const t0 = Date.now();
  for (let i = 0; i < 6; i++) {
    const r = await post1(msgBody('"meanwhile"'), { timeout: 3000 });
    assert.equal(r.status, 200);
    const r2 = await post2(msgBody('"meanwhile"'), { timeout: 3000 });
    assert.equal(r2.status, 200);
  }
  assert.ok(Date.now() - t0 < 3000, 'others were slowed down');
  for (const c of conns) {
    assert.equal(c.text(), '', 'nothing answered before the body is complete');
    c.s.destroy();
  }
  await assertNoRestart('truncated body, waiting');
});

test('short Content-Length: the first request is read as declared, the rest as a (bad) next request', async () => {
  const body = msgBody('"x"');
  // 10 bytes declared: `{"model":"` is the body, the rest is a garbage request head
  const r = await rawExchange(gw.port, `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n${body}\r\n\r\n`, { timeout: 3000 });
  assert.ok(r.closed, 'the connection is closed after the garbage');
  const first = parseHttpResponse(r.text);
  assert.equal(first.status, 400, r.text.slice(0, 300));
  assert.match(JSON.parse(first.body).error.message, /parse/);
  const rest = r.text.slice(r.text.indexOf('\r\n\r\n') + 4 + Number(first.headers['content-length']));
  const second = parseHttpResponse(rest);
  assert.equal(second?.status, 400, rest.slice(0, 300));
  assert.ok(isOpenAIError(JSON.parse(second.body)), second.body);
  assert.ok(second.headers['x-request-id'], 'the bare 400 has an x-request-id');
  // without a blank line after it, the rest is an incomplete head: nothing more is answered
  // (h2o waits up to http1 req_timeout), and the gateway serves others meanwhile
  const c = openRaw(`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n${body}`);
  await sleep(300);
  assert.equal((c.text().match(/HTTP\/1\.1 /g) || []).length, 1, c.text());
  assert.equal((await post1(msgBody('"meanwhile"'), { timeout: 3000 })).status, 200);
  c.s.destroy();
  // the declared bytes form a complete request: answered, then the rest is a GET /health
  const full = `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
  const r2 = await rawExchange(gw.port, full, { timeout: 3000 });
  assert.equal((r2.text.match(/HTTP\/1\.1 200 /g) || []).length, 2, r2.text.slice(0, 500));
  await assertNoRestart('short Content-Length');
});

test('chunked body: a valid one is served, a truncated one then a close frees the connection', async () => {
  const body = msgBody('"chunked"');
  const mid = 20;
  const ok = await rawExchange(gw.port, `POST ${CHAT} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
    `${mid.toString(16)}\r\n${body.slice(0, mid)}\r\n${(body.length - mid).toString(16)}\r\n${body.slice(mid)}\r\n0\r\n\r\n`, { timeout: 3000 });
  assert.match(ok.text, /^HTTP\/1\.1 200/);
  const c = openRaw(`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${mid.toString(16)}\r\n${body.slice(0, mid)}\r\n`);
  await sleep(100);
  c.s.end();
  const end = await Promise.race([c.closed, sleep(3000).then(() => null)]);
  assert.ok(end, 'a half-closed chunked upload stayed open');
  await assertNoRestart('chunked');
});

// ---- raw HTTP/2 ---------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 };
const E = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };
const ERRNAME = Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k]));

function frame(type, flags, stream, payload = Buffer.alloc(0), length = payload.length) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}
const u32 = (n) => { const x = Buffer.alloc(4); x.writeUInt32BE(n >>> 0); return x; };
const settings = (pairs = []) => frame(T.SETTINGS, 0, 0, Buffer.concat(pairs.map(([id, v]) => { const x = Buffer.alloc(6); x.writeUInt16BE(id); x.writeUInt32BE(v, 2); return x; })));
const str = (s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]); // HPACK literal, no Huffman, < 127 bytes
// HPACK: :method (0x82 GET, 0x83 POST), :scheme http (0x86), :path (literal, name index 4), :authority (literal, name index 1)
const hpack = (method, path) => Buffer.concat([Buffer.from([method === 'POST' ? 0x83 : 0x82, 0x86, 0x04]), str(path), Buffer.from([0x01]), str('127.0.0.1')]);
const headers = (stream, method = 'GET', path = '/health', flags = F.END_HEADERS | F.END_STREAM) => frame(T.HEADERS, flags, stream, hpack(method, path));
const START = Buffer.concat([PREFACE, settings()]);

// Writes `data` on a raw connection to the h2c port and reads frames until a
// GOAWAY (then waits briefly for the close), a close, `until(frames)`, or
// `timeout` ms.
function h2raw(data, { timeout = 3000, until } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ port: gw.port, host: '127.0.0.1' });
    const t0 = Date.now();
    let buf = Buffer.alloc(0), frames = [], goaway = null, done = false, timer, bytes = 0;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ frames, goaway, closed, ms: Date.now() - t0, bytes, rst: frames.filter((f) => f.type === T.RST_STREAM).map((f) => ({ stream: f.stream, code: f.payload.readUInt32BE(0) })) });
    };
    s.on('connect', () => s.write(data));
    s.on('data', (d) => {
      bytes += d.length;
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const f = { type: buf[3], flags: buf[4], stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
        buf = buf.subarray(9 + len);
        if (frames.length < 50000) frames.push(f);
        if (f.type === T.GOAWAY && !goaway) {
          goaway = { last: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('latin1') };
          setTimeout(() => finish(false), 300); // a close should follow
        }
      }
      if (until && until(frames)) finish(false);
    });
    s.on('error', () => {});
    s.on('close', () => finish(true));
    timer = setTimeout(() => finish(false), timeout);
  });
}

const h2results = {};
// The connection ends in a GOAWAY with one of `codes`, or a close, within 2 s.
function expectGoaway(name, r, codes) {
  const got = r.goaway ? `GOAWAY ${ERRNAME[r.goaway.code] ?? r.goaway.code}` : r.closed ? 'closed' : 'still open';
  h2results[name] = got + (r.rst.length ? ` (+${r.rst.length} RST_STREAM ${ERRNAME[r.rst[0].code]})` : '');
  assert.ok(r.goaway || r.closed, `${name}: neither GOAWAY nor close (${got}; ${r.frames.length} frames)`);
  if (r.goaway) assert.ok(codes.map((c) => E[c]).includes(r.goaway.code), `${name}: ${got}, expected one of ${codes}`);
  assert.ok(r.ms < 2500, `${name}: took ${r.ms} ms`);
}

test('h2c: a valid raw exchange works (the frame helpers are right)', async () => {
  const r = await h2raw(Buffer.concat([START, headers(1)]), { until: (fs) => fs.some((f) => f.type === T.DATA && f.stream === 1 && (f.flags & F.END_STREAM)) });
  const hs = r.frames.find((f) => f.type === T.HEADERS && f.stream === 1);
  assert.ok(hs, `no HEADERS answer: ${JSON.stringify(r.frames.map((f) => f.type))}`);
  assert.equal(hs.payload[0], 0x88, 'the answer is :status 200 (static index 8)');
  assert.equal(r.goaway, null);
});

test('bad HTTP/2 prefaces and frames: GOAWAY with the right error or a close, and others still served', async () => {
  const big = Buffer.alloc(20000, 0x61);
  const cases = [
    ['a wrong preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), ['PROTOCOL_ERROR']],
    ['a preface cut short, then noise', Buffer.concat([PREFACE.subarray(0, 18), noise]), ['PROTOCOL_ERROR']],
    ['a valid preface then garbage', Buffer.concat([PREFACE, noise]), ['PROTOCOL_ERROR', 'FRAME_SIZE_ERROR']],
    ['a frame over SETTINGS_MAX_FRAME_SIZE', Buffer.concat([START, headers(1, 'POST', CHAT, F.END_HEADERS), frame(T.DATA, 0, 1, big)]), ['FRAME_SIZE_ERROR']],
    ['a HEADERS over SETTINGS_MAX_FRAME_SIZE', Buffer.concat([START, frame(T.HEADERS, F.END_HEADERS, 1, big)]), ['FRAME_SIZE_ERROR', 'COMPRESSION_ERROR']],
    ['SETTINGS with a length not a multiple of 6', Buffer.concat([START, frame(T.SETTINGS, 0, 0, Buffer.alloc(7))]), ['FRAME_SIZE_ERROR']],
    ['SETTINGS on a stream', Buffer.concat([START, frame(T.SETTINGS, 0, 1, Buffer.alloc(6))]), ['PROTOCOL_ERROR']],
    ['SETTINGS ACK with a payload', Buffer.concat([START, frame(T.SETTINGS, F.ACK, 0, Buffer.alloc(6))]), ['FRAME_SIZE_ERROR']],
    ['SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', Buffer.concat([START, settings([[4, 0x80000000]])]), ['FLOW_CONTROL_ERROR']],
    ['SETTINGS_MAX_FRAME_SIZE below 16384', Buffer.concat([START, settings([[5, 100]])]), ['PROTOCOL_ERROR']],
    ['SETTINGS_ENABLE_PUSH 2', Buffer.concat([START, settings([[2, 2]])]), ['PROTOCOL_ERROR']],
    ['HEADERS on stream 0', Buffer.concat([START, headers(0)]), ['PROTOCOL_ERROR']],
    ['an even client stream id', Buffer.concat([START, headers(2)]), ['PROTOCOL_ERROR']],
    ['a stream id going backwards', Buffer.concat([START, headers(5), headers(3)]), ['PROTOCOL_ERROR', 'STREAM_CLOSED']],
    ['DATA on an idle stream', Buffer.concat([START, frame(T.DATA, F.END_STREAM, 7, Buffer.from('{}'))]), ['PROTOCOL_ERROR', 'STREAM_CLOSED']],
    ['DATA on stream 0', Buffer.concat([START, frame(T.DATA, 0, 0, Buffer.from('{}'))]), ['PROTOCOL_ERROR']],
    ['invalid HPACK (index out of range)', Buffer.concat([START, frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, Buffer.from([0xbe]))]), ['COMPRESSION_ERROR']],
    ['invalid HPACK (truncated literal)', Buffer.concat([START, frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, Buffer.from([0x82, 0x04, 0x7f]))]), ['COMPRESSION_ERROR']],
    ['invalid HPACK (dynamic table size over the limit)', Buffer.concat([START, frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, Buffer.from([0x3f, 0xe1, 0xff, 0xff, 0x0f, 0x82]))]), ['COMPRESSION_ERROR']],
    ['CONTINUATION without HEADERS', Buffer.concat([START, frame(T.CONTINUATION, F.END_HEADERS, 1, hpack('GET', '/health'))]), ['PROTOCOL_ERROR']],
    ['HEADERS without END_HEADERS, then another frame', Buffer.concat([START, headers(1, 'GET', '/health', F.END_STREAM), frame(T.PING, 0, 0, Buffer.alloc(8))]), ['PROTOCOL_ERROR']],
    ['WINDOW_UPDATE with increment 0 (connection)', Buffer.concat([START, frame(T.WINDOW_UPDATE, 0, 0, u32(0))]), ['PROTOCOL_ERROR']],
    ['WINDOW_UPDATE overflowing the connection window', Buffer.concat([START, frame(T.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))]), ['FLOW_CONTROL_ERROR']],
    ['WINDOW_UPDATE with a bad length', Buffer.concat([START, frame(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))]), ['FRAME_SIZE_ERROR']],
    ['PING with a wrong length', Buffer.concat([START, frame(T.PING, 0, 0, Buffer.alloc(7))]), ['FRAME_SIZE_ERROR']],
    ['PING on a stream', Buffer.concat([START, frame(T.PING, 0, 1, Buffer.alloc(8))]), ['PROTOCOL_ERROR']],
    ['RST_STREAM on an idle stream', Buffer.concat([START, frame(T.RST_STREAM, 0, 9, u32(8))]), ['PROTOCOL_ERROR']],
    ['RST_STREAM with a wrong length', Buffer.concat([START, headers(1, 'POST', CHAT, F.END_HEADERS), frame(T.RST_STREAM, 0, 1, Buffer.alloc(3))]), ['FRAME_SIZE_ERROR']],
    ['PRIORITY with a wrong length', Buffer.concat([START, frame(T.PRIORITY, 0, 1, Buffer.alloc(4))]), ['FRAME_SIZE_ERROR']],
    ['PUSH_PROMISE from a client', Buffer.concat([START, frame(T.PUSH_PROMISE, F.END_HEADERS, 1, Buffer.concat([u32(2), hpack('GET', '/')]))]), ['PROTOCOL_ERROR']],
    ['GOAWAY with a bad length', Buffer.concat([START, frame(T.GOAWAY, 0, 0, Buffer.alloc(3))]), ['FRAME_SIZE_ERROR', 'PROTOCOL_ERROR']],
  ];
  const failures = [];
  for (const [name, data, codes] of cases) {
    const r = await h2raw(data);
    try { expectGoaway(name, r, codes); } catch (e) { failures.push(e.message); }
  }
  // h2o 2.2.5 does not insist on SETTINGS as the first frame (RFC 9113 3.4 asks
  // for a PROTOCOL_ERROR): harmless, the PING is answered and the server's
  // SETTINGS were sent first.
  const lax = await h2raw(Buffer.concat([PREFACE, frame(T.PING, 0, 0, Buffer.from('12345678'))]),
    { until: (fs) => fs.some((f) => f.type === T.PING && (f.flags & F.ACK)) });
  h2results['a first frame other than SETTINGS (tolerated by h2o)'] = lax.goaway ? `GOAWAY ${ERRNAME[lax.goaway.code]}` : lax.closed ? 'closed' : 'PING answered';
  assert.ok(lax.goaway?.code === E.PROTOCOL_ERROR || lax.closed || lax.frames.some((f) => f.type === T.PING && (f.flags & F.ACK)), 'a first PING is refused or answered');
  console.log('raw HTTP/2 results:', JSON.stringify(h2results, null, 1));
  assert.deepEqual(failures, []);
  await assertNoRestart('bad HTTP/2 frames');
});

test('h2c rapid reset: 10,000 HEADERS+RST_STREAM pairs, then the connection still answers or was refused; others served', async () => {
  for (const [method, path, flags] of [['POST', CHAT, F.END_HEADERS], ['GET', '/health', F.END_HEADERS | F.END_STREAM]]) {
    const parts = [START];
    for (let i = 0; i < 5000; i++) {
      const id = 1 + 2 * i;
      parts.push(headers(id, method, path, flags), frame(T.RST_STREAM, 0, id, u32(E.CANCEL)));
    }
    parts.push(frame(T.PING, 0, 0, Buffer.from('rapidrst')));
    const t0 = Date.now();
    const other = (async () => { await sleep(50); return post1(msgBody('"during the flood"'), { timeout: 5000 }); })();
    const r = await h2raw(Buffer.concat(parts), { timeout: 8000, until: (fs) => fs.some((f) => f.type === T.PING && (f.flags & F.ACK)) });
    const pong = r.frames.some((f) => f.type === T.PING && (f.flags & F.ACK));
    h2results[`rapid reset ${method}`] = `${pong ? 'PING answered' : ''}${r.goaway ? ` GOAWAY ${ERRNAME[r.goaway.code]}` : ''}${r.closed ? ' closed' : ''} in ${Date.now() - t0} ms`;
    assert.ok(pong || r.goaway || r.closed, `rapid reset ${method}: no answer within 8 s`);
    if (r.goaway) assert.ok([E.ENHANCE_YOUR_CALM, E.PROTOCOL_ERROR, E.NO_ERROR].includes(r.goaway.code), `GOAWAY ${r.goaway.code}`);
    const o = await other;
    assert.equal(o.status, 200, 'another client was served during the flood');
  }
  console.log('rapid reset:', JSON.stringify(h2results, null, 1));
  await assertNoRestart('rapid reset');
});

test('h2c SETTINGS and PING floods: answered (or refused) within seconds; others served', async () => {
  for (const [name, f] of [['SETTINGS', settings([[4, 65535]])], ['PING', frame(T.PING, 0, 0, Buffer.alloc(8))], ['WINDOW_UPDATE', frame(T.WINDOW_UPDATE, 0, 0, u32(1))]]) {
    const n = name === 'WINDOW_UPDATE' ? 1000 : 10000; // 1000 increments stay under 2^31-1 - 65535
    const flood = Buffer.concat([START, ...Array(n).fill(f), frame(T.PING, 0, 0, Buffer.from('lastping'))]);
    const t0 = Date.now();
    const r = await h2raw(flood, { timeout: 8000, until: (fs) => fs.some((x) => x.type === T.PING && (x.flags & F.ACK) && x.payload.toString() === 'lastping') });
    const pong = r.frames.some((x) => x.type === T.PING && (x.flags & F.ACK) && x.payload.toString() === 'lastping');
    h2results[`${name} flood`] = `${pong ? 'last PING answered' : ''}${r.goaway ? ` GOAWAY ${ERRNAME[r.goaway.code]}` : ''}${r.closed ? ' closed' : ''} in ${Date.now() - t0} ms`;
    assert.ok(pong || r.goaway || r.closed, `${name} flood: no answer within 8 s`);
    const o = await post2(msgBody('"after the flood"'), { timeout: 5000 });
    assert.equal(o.status, 200);
  }
  console.log('floods:', JSON.stringify(h2results, null, 1));
  await assertNoRestart('floods');
});

test('h2c: a stream whose body never ends is dropped by RST_STREAM, and the session keeps working', async () => {
  const body = Buffer.from(msgBody('"cut"'));
  const data = Buffer.concat([START, headers(1, 'POST', CHAT, F.END_HEADERS), frame(T.DATA, 0, 1, body.subarray(0, 10)),
    frame(T.RST_STREAM, 0, 1, u32(E.CANCEL)), headers(3)]);
  const r = await h2raw(data, { until: (fs) => fs.some((f) => f.type === T.DATA && f.stream === 3 && (f.flags & F.END_STREAM)) });
  assert.ok(r.frames.some((f) => f.type === T.HEADERS && f.stream === 3), 'stream 3 answered');
  assert.ok(!r.frames.some((f) => f.type === T.HEADERS && f.stream === 1), 'the cancelled stream got no answer');
  await assertNoRestart('h2 cancelled upload');
});

test('at the end: the same workers, the master alive, no crash in the log', async () => {
  await assertNoRestart('end');
});

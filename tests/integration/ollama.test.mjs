// The official `ollama` JavaScript client (and raw requests) against llmgate's
// Ollama API (/api/chat, /api/generate, /api/tags, /api/show, /api/version,
// /api/embed, /api/embeddings): on the echo model, text and tool calls,
// stream and not, the tool round trip; through an `openai` provider (the
// mock), the same answer streamed and not, usage, tool calls and the next
// turn, options, format and images as the upstream receives them; errors as
// {"error": "..."} with the HTTP status, before the stream and in it (a last
// {"error"} line). Embeddings: relayed as OpenAI's /embeddings (the request
// the upstream gets, the vectors and their numbers exactly as it wrote them,
// a fallback), and refused for models of providers that have none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Ollama } from 'ollama';
import { startGateway, startMock, echoConfig, request } from './lib/harness.mjs';
import { mkKey, gatewayYaml, settledRequests, rnd } from './lib/upstream.mjs';

const TOKEN = 'sk-gate-ollama-7d1e';
let open, guarded, mock, viaMock, embedGw, precise;

before(async () => {
  open = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  guarded = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens: [${TOKEN}]\n` }) });
  mock = await startMock();
  viaMock = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: 'timeouts: {ping: 0}',
      providers: [
        {
          name: 'oai', base: `${mock.base}/v1`, keys: [mkKey('o')], models: ['gpt-*', 'text-embedding-*', 'emb-alias'],
          extra: { list_models: [], model_map: { 'emb-alias': 'text-embedding-3-small' } },
        },
        { name: 'echo', type: 'echo', models: ['echo', 'echo-*'] },
      ],
    }),
  });
  precise = await preciseUpstream();
  embedGw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 1,
      providers: [
        // every key of `down` fails: its models are answered by its fallback
        { name: 'down', base: `${mock.base}/v1`, keys: [mkKey('d', 'fail503')], models: ['emb-*'], extra: { fallback: ['up'] } },
        { name: 'up', base: `${mock.base}/v1`, keys: [mkKey('u')], models: ['up-only'] },
        { name: 'precise', base: `http://127.0.0.1:${precise.port}/v1`, keys: ['sk-precise'], models: ['precise-*'] },
        { name: 'poe', type: 'poe', base: `${mock.base}`, keys: [mkKey('p')], models: ['Bot-*'] },
      ],
    }),
  });
});
after(async () => {
  await open?.stop();
  await guarded?.stop();
  await viaMock?.stop();
  await embedGw?.stop();
  await precise?.close();
  await mock?.stop();
});

// An OpenAI-style embeddings upstream whose answer is fixed text: numbers
// written with more digits than a double holds, exponents, -0, and the
// vectors out of index order. It keeps the body of the last request.
const PRECISE_ANSWER = '{"object":"list","data":[' +
  '{"object":"embedding","index":1,"embedding":[ -0.0069292834959924223712, 1e-7, 3.4028234663852886e+38 ]},\n' +
  '{"object":"embedding","index":0,"embedding":[0.1,-0,2.5E-308,-1.2345678901234567890e-3]}],' +
  '"model":"precise-1","usage":{"prompt_tokens":7,"total_tokens":7}}';
async function preciseUpstream() {
  const seen = { body: null };
  const srv = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      seen.body = body;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (!body.includes('precise-huge')) {
        res.end(PRECISE_ANSWER);
        return;
      }
      // one vector of 65 MiB of zeros: more than llmgate holds
      res.write('{"data":[{"index":0,"embedding":[0');
      const block = ',0'.repeat(512 * 1024);
      for (let sent = 0; sent < 65 * 1024 * 1024 && !res.destroyed; sent += block.length)
        if (!res.write(block)) await new Promise((r) => { res.once('drain', r); res.once('close', r); });
      res.end(']}]}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { port: srv.address().port, seen, close: () => { srv.closeAllConnections(); return new Promise((r) => srv.close(r)); } };
}

// The client has no timeout of its own: a ceiling a loaded machine never
// reaches, so that a hung answer fails the test instead of hanging it.
const CEILING = 60000;
function ceilingFetch(url, init = {}) {
  const limit = AbortSignal.timeout(CEILING);
  const signal = init.signal && AbortSignal.any ? AbortSignal.any([init.signal, limit]) : (init.signal ?? limit);
  return fetch(url, { ...init, signal });
}
// the client adds /api itself
const client = (gw, opts = {}) => new Ollama({ host: gw.url(''), fetch: ceilingFetch, ...opts });
const user = (content, extra = {}) => [{ role: 'user', content, ...extra }];

const WEATHER = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'The current weather in a city',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
}];

// Reads a whole stream from the client: every part, the concatenated text
// (message.content for chat, response for generate), the last part.
async function drain(iterable, field = 'chat') {
  const parts = [];
  for await (const p of iterable) parts.push(p);
  const pieces = parts.map((p) => (field === 'chat' ? p.message?.content : p.response) ?? '');
  return { parts, pieces: pieces.filter((s) => s !== ''), text: pieces.join(''), last: parts.at(-1) };
}

// Raw NDJSON: every line (the body ends with a line feed) parses as JSON.
function ndjson(text) {
  assert.ok(text.endsWith('\n'), `the NDJSON body does not end with a line feed: ${JSON.stringify(text.slice(-80))}`);
  const lines = text.slice(0, -1).split('\n');
  return lines.map((l, i) => {
    try { return JSON.parse(l); } catch (e) { assert.fail(`line ${i} is not JSON (${e.message}): ${JSON.stringify(l)}\n--- body ---\n${text}`); }
  });
}

const isTime = (s) => typeof s === 'string' && !Number.isNaN(Date.parse(s));

// The statistics of a final part (done: true).
function checkFinal(p, { reason = 'stop', model } = {}) {
  assert.equal(p.done, true, JSON.stringify(p));
  assert.equal(p.done_reason, reason, JSON.stringify(p));
  if (model) assert.equal(p.model, model);
  assert.ok(isTime(p.created_at), `created_at: ${p.created_at}`);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration'])
    assert.ok(Number.isInteger(p[k]) && p[k] >= 0, `${k}: ${JSON.stringify(p[k])} in ${JSON.stringify(p)}`);
  assert.ok(p.prompt_eval_count > 0, `prompt_eval_count: ${p.prompt_eval_count}`);
  assert.ok(p.eval_count > 0, `eval_count: ${p.eval_count}`);
}

// The last request the mock received whose body contains `tag`, parsed.
async function upstreamBody(tag) {
  const reqs = await settledRequests(mock, tag);
  assert.ok(reqs.length > 0, `the mock received no request with ${tag}`);
  return JSON.parse(reqs.at(-1).body);
}

// ---- echo -------------------------------------------------------------------

test('chat, non-stream: one object with the whole message, done, done_reason stop and the statistics', async () => {
  const r = await client(open).chat({ model: 'echo', messages: user('hello from the ollama client'), stream: false });
  assert.equal(r.model, 'echo');
  assert.deepEqual({ role: r.message.role, content: r.message.content }, { role: 'assistant', content: 'hello from the ollama client' });
  assert.equal(r.message.tool_calls?.length ?? 0, 0, JSON.stringify(r.message));
  checkFinal(r, { model: 'echo' });
});

test('chat, stream: word by word, done false on every part but the last; the last has no text, done_reason stop and the counts', async () => {
  const { parts, pieces, text, last } = await drain(await client(open).chat({ model: 'echo', messages: user('streamed word by word'), stream: true }));
  assert.equal(text, 'streamed word by word');
  assert.deepEqual(pieces, ['streamed', ' word', ' by', ' word']);
  for (const p of parts.slice(0, -1)) {
    assert.equal(p.done, false, JSON.stringify(p));
    assert.equal(p.model, 'echo');
    assert.equal(p.message.role, 'assistant');
    assert.ok(isTime(p.created_at), JSON.stringify(p));
  }
  assert.equal(last.message.role, 'assistant');
  assert.equal(last.message.content, '');
  checkFinal(last, { model: 'echo' });
  // the streamed counts are the non-stream answer's
  const whole = await client(open).chat({ model: 'echo', messages: user('streamed word by word') });
  assert.equal(whole.message.content, text);
  assert.equal(last.prompt_eval_count, whole.prompt_eval_count);
  assert.equal(last.eval_count, whole.eval_count);
});

test('chat: the answer is the last user message (history and a system message before it)', async () => {
  const r = await client(open).chat({
    model: 'echo',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'second question' },
    ],
    options: { temperature: 0.2, top_p: 0.9, num_predict: 100, stop: ['\n\n'], seed: 42 },
  });
  assert.equal(r.message.content, 'second question');
});

test('generate, non-stream and stream: response pieces, the final part with done_reason stop and the counts', async () => {
  const whole = await client(open).generate({ model: 'echo', prompt: 'generate these four words', system: 'Be brief.' });
  assert.equal(whole.model, 'echo');
  assert.equal(whole.response, 'generate these four words');
  checkFinal(whole, { model: 'echo' });

  const { parts, pieces, text, last } = await drain(await client(open).generate({ model: 'echo', prompt: 'generate these four words', stream: true }), 'generate');
  assert.equal(text, 'generate these four words');
  assert.deepEqual(pieces, ['generate', ' these', ' four', ' words']);
  for (const p of parts.slice(0, -1)) {
    assert.equal(p.done, false, JSON.stringify(p));
    assert.equal(p.model, 'echo');
    assert.equal(typeof p.response, 'string');
    assert.equal(p.message, undefined, 'generate parts have `response`, not `message`');
  }
  assert.equal(last.response, '');
  checkFinal(last, { model: 'echo' });
  assert.equal(last.eval_count, whole.eval_count);
});

test('list() (GET /api/tags): every model in Ollama\'s shape, echo among them, no wildcard', async () => {
  const { models } = await client(open).list();
  assert.ok(Array.isArray(models), JSON.stringify(models));
  const names = models.map((m) => m.name);
  assert.ok(names.includes('echo'), `no "echo" in ${JSON.stringify(names)}`);
  assert.ok(!names.some((n) => n.includes('*')), `a wildcard is listed: ${JSON.stringify(names)}`);
  for (const m of models) {
    assert.equal(typeof m.name, 'string');
    assert.equal(m.model, m.name, JSON.stringify(m));
    assert.ok(isTime(m.modified_at), JSON.stringify(m));
    assert.equal(m.size, 0, JSON.stringify(m));
    assert.equal(typeof m.digest, 'string', JSON.stringify(m));
    assert.ok(m.details && typeof m.details === 'object' && !Array.isArray(m.details), JSON.stringify(m));
  }
  const raw = await request(open.url('/api/tags'));
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type'), /^application\/json/);
});

test('show() (POST /api/show): details and capabilities; an unknown model is a 404', async () => {
  const s = await client(open).show({ model: 'echo' });
  assert.ok(s.details && typeof s.details === 'object', JSON.stringify(s));
  assert.ok(Array.isArray(s.capabilities), JSON.stringify(s));
  assert.ok(s.capabilities.includes('completion'), JSON.stringify(s.capabilities));
  await assert.rejects(client(open).show({ model: 'no-such-model' }), (e) => {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, 404);
    return true;
  });
});

test('version() (GET /api/version): {"version": "<non-empty string>"}', async () => {
  const v = await client(open).version();
  assert.equal(typeof v.version, 'string', JSON.stringify(v));
  assert.ok(v.version.length > 0);
  const raw = await request(open.url('/api/version'));
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(Object.keys(raw.json), ['version']);
});

test('tools: `call get_weather {json}` gets that tool call, arguments as an object, non-stream and stream', async () => {
  const ask = user('call get_weather {"location":"Paris"}');
  const r = await client(open).chat({ model: 'echo', messages: ask, tools: WEATHER });
  assert.equal(r.message.role, 'assistant');
  assert.equal(r.message.content, '');
  assert.equal(r.message.tool_calls?.length, 1, JSON.stringify(r.message));
  assert.equal(r.message.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(r.message.tool_calls[0].function.arguments, { location: 'Paris' });
  checkFinal(r);

  const { parts, text, last } = await drain(await client(open).chat({ model: 'echo', messages: ask, tools: WEATHER, stream: true }));
  assert.equal(text, '');
  const withCalls = parts.filter((p) => p.message?.tool_calls?.length);
  assert.equal(withCalls.length, 1, `the call comes whole in one part: ${JSON.stringify(parts)}`);
  assert.equal(withCalls[0].done, false, 'the call comes before the final part');
  assert.deepEqual(withCalls[0].message.tool_calls.map((c) => [c.function.name, c.function.arguments]), [['get_weather', { location: 'Paris' }]]);
  checkFinal(last);
});

test('tools: the round trip, the tool message (role tool) answered with its text, non-stream and stream', async () => {
  const ask = user('call get_weather {"location":"Paris"}');
  const first = await client(open).chat({ model: 'echo', messages: ask, tools: WEATHER });
  const turn2 = [...ask, first.message, { role: 'tool', content: '21C', tool_name: 'get_weather' }];
  const r = await client(open).chat({ model: 'echo', messages: turn2, tools: WEATHER });
  assert.equal(r.message.content, '21C');
  assert.equal(r.message.tool_calls?.length ?? 0, 0, JSON.stringify(r.message));
  checkFinal(r);
  const s = await drain(await client(open).chat({ model: 'echo', messages: turn2, tools: WEATHER, stream: true }));
  assert.equal(s.text, '21C');
  checkFinal(s.last);
});

test('tools: a `call` of a tool that is not offered is echoed as text', async () => {
  const r = await client(open).chat({ model: 'echo', messages: user('call get_time {"zone":"UTC"}'), tools: WEATHER });
  assert.equal(r.message.content, 'call get_time {"zone":"UTC"}');
  assert.equal(r.message.tool_calls?.length ?? 0, 0);
});

test('images (base64) on a user message are accepted; echo answers the text', async () => {
  const r = await client(open).chat({ model: 'echo', messages: user('what is in this picture', { images: [PNG] }) });
  assert.equal(r.message.content, 'what is in this picture');
});

test('format "json" and a JSON schema are accepted', async () => {
  const a = await client(open).chat({ model: 'echo', messages: user('{"a": 1}'), format: 'json' });
  assert.equal(a.message.content, '{"a": 1}');
  const b = await client(open).generate({ model: 'echo', prompt: '{"b": 2}', format: { type: 'object', properties: { b: { type: 'integer' } } } });
  assert.equal(b.response, '{"b": 2}');
});

// ---- raw wire format ----------------------------------------------------------

test('raw: stream is the default; application/x-ndjson, every line JSON, one object per line, the done line last', async () => {
  for (const [path, body, field] of [
    ['/api/chat', { model: 'echo', messages: user('raw ndjson lines here') }, 'chat'],
    ['/api/generate', { model: 'echo', prompt: 'raw ndjson lines here' }, 'generate'],
  ]) {
    const r = await request(open.url(path), { method: 'POST', body });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /^application\/x-ndjson/, path);
    const lines = ndjson(r.text);
    assert.ok(lines.length >= 5, `${path}: ${lines.length} lines`);
    assert.deepEqual(lines.map((l) => l.done), [...Array(lines.length - 1).fill(false), true], `${path}: ${r.text}`);
    const text = lines.map((l) => (field === 'chat' ? l.message.content : l.response)).join('');
    assert.equal(text, 'raw ndjson lines here', path);
    checkFinal(lines.at(-1), { model: 'echo' });
  }
});

test('raw: "stream": false is one application/json object', async () => {
  const r = await request(open.url('/api/chat'), { method: 'POST', body: { model: 'echo', stream: false, messages: user('one object') } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.text.trim().split('\n').length, 1, r.text);
  assert.equal(r.json.message.content, 'one object');
  checkFinal(r.json, { model: 'echo' });
});

// ---- errors -------------------------------------------------------------------

test('errors: an unknown model is a 404 {"error"}; the client throws ResponseError with status_code 404 and that message', async () => {
  const raw = await request(open.url('/api/chat'), { method: 'POST', body: { model: 'no-such-model', messages: user('x') } });
  assert.equal(raw.status, 404, raw.text);
  assert.match(raw.headers.get('content-type'), /^application\/json/);
  assert.equal(typeof raw.json?.error, 'string', raw.text);
  assert.match(raw.json.error, /no-such-model/);
  const check = (e) => {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, 404);
    assert.equal(e.error, raw.json.error);
    assert.equal(e.message, raw.json.error);
    return true;
  };
  const c = client(open);
  await assert.rejects(c.chat({ model: 'no-such-model', messages: user('x') }), check);
  await assert.rejects(c.chat({ model: 'no-such-model', messages: user('x'), stream: true }), check);
  await assert.rejects(c.generate({ model: 'no-such-model', prompt: 'x' }), (e) => e.name === 'ResponseError' && e.status_code === 404 && /no-such-model/.test(e.message));
  // the server keeps serving
  assert.equal((await c.chat({ model: 'echo', messages: user('still here') })).message.content, 'still here');
});

test('errors: bad requests are 400 {"error": "<message>"}', async () => {
  for (const [path, body] of [
    ['/api/chat', '{"model": "echo", "messages": ['],
    ['/api/chat', { model: 'echo', messages: 'not an array' }],
    ['/api/chat', { messages: user('no model') }],
    ['/api/generate', { prompt: 'no model' }],
    ['/api/generate', { model: 'echo', prompt: 12 }],
    ['/api/show', { }],
  ]) {
    const r = await request(open.url(path), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const what = `${path} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
    assert.equal(typeof r.json?.error, 'string', `${what}: ${r.text}`);
    assert.ok(r.json.error.length > 0, what);
  }
  await assert.rejects(client(open).chat({ model: 'echo', messages: 'not an array' }), (e) => e.name === 'ResponseError' && e.status_code === 400);
});

test('access tokens: without one the client gets a 401; with Authorization: Bearer it works', async () => {
  await assert.rejects(client(guarded).chat({ model: 'echo', messages: user('x') }), (e) => {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, 401);
    return true;
  });
  const ok = await client(guarded, { headers: { Authorization: `Bearer ${TOKEN}` } }).chat({ model: 'echo', messages: user('with the token') });
  assert.equal(ok.message.content, 'with the token');
});

test('aborting a stream midway does not break the gateway', async () => {
  const c = client(open);
  const stream = await c.chat({ model: 'echo', messages: user(Array(200).fill('w').join(' ')), stream: true });
  let n = 0;
  for await (const _ of stream) { if (++n === 3) { stream.abort(); break; } }
  assert.equal((await c.chat({ model: 'echo', messages: user('still fine') })).message.content, 'still fine');
});

// ---- through an openai provider (the mock) ---------------------------------------

test('openai upstream: streamed text equals the non-stream text, one part per upstream chunk, same counts', async () => {
  const tag = `t${rnd()}`;
  const c = client(viaMock);
  const whole = await c.chat({ model: 'gpt-4o~chunks=3', messages: user(`hello ${tag}`) });
  assert.equal(whole.model, 'gpt-4o~chunks=3');
  assert.equal(whole.message.content, `mock: hello ${tag}`);
  checkFinal(whole);
  assert.equal(whole.eval_count, 3, 'eval_count is the upstream\'s completion_tokens (the mock: its chunks)');
  assert.equal(whole.prompt_eval_count, 2, 'prompt_eval_count is the upstream\'s prompt_tokens (the mock: words of the messages)');

  const s = await drain(await c.chat({ model: 'gpt-4o~chunks=3', messages: user(`hello ${tag}`), stream: true }));
  assert.equal(s.text, whole.message.content);
  assert.equal(s.pieces.length, 3, JSON.stringify(s.pieces));
  checkFinal(s.last);
  assert.equal(s.last.eval_count, whole.eval_count);
  assert.equal(s.last.prompt_eval_count, whole.prompt_eval_count);

  const g = await c.generate({ model: 'gpt-4o~chunks=3', prompt: `gen ${tag}` });
  assert.equal(g.response, `mock: gen ${tag}`);
  const gs = await drain(await c.generate({ model: 'gpt-4o~chunks=3', prompt: `gen ${tag}`, stream: true }), 'generate');
  assert.equal(gs.text, g.response);
  checkFinal(gs.last);
});

test('openai upstream: a length stop is done_reason "length", stream and not', async () => {
  const c = client(viaMock);
  const r = await c.chat({ model: 'gpt-4o~chunks=2,finish=length', messages: user('cut short') });
  assert.equal(r.done_reason, 'length', JSON.stringify(r));
  const s = await drain(await c.chat({ model: 'gpt-4o~chunks=2,finish=length', messages: user('cut short'), stream: true }));
  assert.equal(s.last.done_reason, 'length', JSON.stringify(s.last));
});

test('openai upstream: options, format, system and stream reach the upstream as chat completion fields', async () => {
  const tag = `t${rnd()}`;
  const c = client(viaMock);
  await c.chat({
    model: 'gpt-4o~chunks=2', messages: [{ role: 'system', content: 'Be brief.' }, ...user(`opts ${tag}`)],
    format: 'json', options: { temperature: 0.25, top_p: 0.5, num_predict: 7, stop: ['END'], seed: 42 },
  });
  const b = await upstreamBody(`opts ${tag}`);
  assert.equal(b.model, 'gpt-4o~chunks=2');
  const roleContent = (ms) => ms.map(({ role, content }) => ({ role, content }));
  assert.deepEqual(roleContent(b.messages), [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `opts ${tag}` }]);
  assert.equal(b.temperature, 0.25);
  assert.equal(b.top_p, 0.5);
  assert.equal(b.max_tokens ?? b.max_completion_tokens, 7, `num_predict: ${JSON.stringify(b)}`);
  assert.deepEqual(typeof b.stop === 'string' ? [b.stop] : b.stop, ['END']);
  assert.equal(b.seed, 42);
  assert.deepEqual(b.response_format, { type: 'json_object' });
  assert.ok(!b.stream, `non-stream: ${JSON.stringify(b)}`);

  const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] };
  const gs = await drain(await c.generate({ model: 'gpt-4o~chunks=2', prompt: `schema ${tag}`, system: 'Answer in JSON.', format: schema, stream: true }), 'generate');
  assert.equal(gs.text, `mock: schema ${tag}`);
  const g = await upstreamBody(`schema ${tag}`);
  assert.deepEqual(roleContent(g.messages), [{ role: 'system', content: 'Answer in JSON.' }, { role: 'user', content: `schema ${tag}` }]);
  assert.equal(g.stream, true);
  assert.equal(g.response_format?.type, 'json_schema', JSON.stringify(g.response_format));
  assert.deepEqual(g.response_format.json_schema?.schema, schema, JSON.stringify(g.response_format));
});

test('openai upstream: images become image_url parts (data: URLs) next to the text', async () => {
  const tag = `t${rnd()}`;
  const r = await client(viaMock).chat({ model: 'gpt-4o~chunks=2', messages: user(`look ${tag}`, { images: [PNG] }) });
  assert.equal(r.message.content, `mock: look ${tag}`);
  const b = await upstreamBody(`look ${tag}`);
  const content = b.messages.at(-1).content;
  assert.ok(Array.isArray(content), JSON.stringify(b.messages));
  assert.deepEqual(content.filter((p) => p.type === 'text').map((p) => p.text), [`look ${tag}`]);
  const urls = content.filter((p) => p.type === 'image_url').map((p) => p.image_url?.url);
  assert.equal(urls.length, 1, JSON.stringify(content));
  assert.match(urls[0], /^data:image\/png;base64,/);
  assert.equal(urls[0].slice(urls[0].indexOf(',') + 1), PNG);
});

test('openai upstream: a tool call (arguments streamed upstream) arrives whole, stream and not; the tool result goes back with its call id', async () => {
  const tag = `t${rnd()}`;
  const c = client(viaMock);
  const ask = user(`weather ${tag}`);
  const r = await c.chat({ model: 'gpt-4o~tools=1', messages: ask, tools: WEATHER });
  assert.equal(r.message.content, `mock: weather ${tag}`);
  assert.deepEqual(r.message.tool_calls.map((t) => [t.function.name, t.function.arguments]), [['get_weather', { location: 'Paris', n: 0 }]]);
  checkFinal(r);

  const s = await drain(await c.chat({ model: 'gpt-4o~tools=1', messages: ask, tools: WEATHER, stream: true }));
  assert.equal(s.text, r.message.content);
  const withCalls = s.parts.filter((p) => p.message?.tool_calls?.length);
  assert.equal(withCalls.length, 1, `the call comes whole in one part: ${JSON.stringify(s.parts)}`);
  assert.equal(withCalls[0].done, false);
  assert.deepEqual(withCalls[0].message.tool_calls.map((t) => [t.function.name, t.function.arguments]), [['get_weather', { location: 'Paris', n: 0 }]]);
  checkFinal(s.last);

  // the upstream got the tools in OpenAI's shape
  const b1 = await upstreamBody(`weather ${tag}`);
  assert.deepEqual(b1.tools?.map((t) => [t.type, t.function.name, t.function.parameters]), [['function', 'get_weather', WEATHER[0].function.parameters]], JSON.stringify(b1.tools));

  // the next turn: the assistant's call and the tool's result, in OpenAI's shape
  const turn2 = [...ask, r.message, { role: 'tool', content: `21C ${tag}`, tool_name: 'get_weather' }];
  const t2 = await c.chat({ model: 'gpt-4o~tools=1', messages: turn2, tools: WEATHER });
  assert.equal(t2.message.content, `tool said: 21C ${tag}`);
  assert.equal(t2.message.tool_calls?.length ?? 0, 0);
  const b2 = await upstreamBody(`21C ${tag}`);
  const [asst, tool] = b2.messages.slice(-2);
  assert.equal(asst.role, 'assistant');
  assert.equal(asst.tool_calls?.length, 1, JSON.stringify(asst));
  assert.equal(asst.tool_calls[0].type, 'function');
  assert.equal(asst.tool_calls[0].function.name, 'get_weather');
  assert.equal(typeof asst.tool_calls[0].function.arguments, 'string', 'OpenAI wants the arguments as a JSON string');
  assert.deepEqual(JSON.parse(asst.tool_calls[0].function.arguments), { location: 'Paris', n: 0 });
  assert.equal(typeof asst.tool_calls[0].id, 'string');
  assert.ok(asst.tool_calls[0].id.length > 0);
  assert.equal(tool.role, 'tool');
  assert.equal(tool.content, `21C ${tag}`);
  assert.equal(tool.tool_call_id, asst.tool_calls[0].id, 'the tool result answers the call\'s id');
});

test('openai upstream: parallel tool calls, in order, in one part before the final one', async () => {
  const tools = [WEATHER[0], { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } }];
  const want = [['get_weather', { location: 'Paris', n: 0 }], ['get_time', { location: 'Paris', n: 1 }]];
  const c = client(viaMock);
  const r = await c.chat({ model: 'gpt-4o~chunks=0,tools=2', messages: user('two calls'), tools });
  assert.equal(r.message.content, '');
  assert.deepEqual(r.message.tool_calls.map((t) => [t.function.name, t.function.arguments]), want);
  assert.equal(r.done_reason, 'stop');
  const s = await drain(await c.chat({ model: 'gpt-4o~chunks=0,tools=2', messages: user('two calls'), tools, stream: true }));
  const withCalls = s.parts.filter((p) => p.message?.tool_calls?.length);
  assert.equal(withCalls.length, 1, JSON.stringify(s.parts));
  assert.deepEqual(withCalls[0].message.tool_calls.map((t) => [t.function.name, t.function.arguments]), want);
  assert.equal(s.last.done, true);
  assert.equal(s.last.done_reason, 'stop');
});

test('openai upstream: reasoning comes as message.thinking, before the text, stream and not', async () => {
  const c = client(viaMock);
  const r = await c.chat({ model: 'gpt-4o~chunks=2,thinking=1', messages: user('think first'), think: true });
  assert.equal(r.message.thinking, 'Let me think about that.');
  assert.equal(r.message.content, 'mock: think first');
  const s = await drain(await c.chat({ model: 'gpt-4o~chunks=2,thinking=1', messages: user('think first'), think: true, stream: true }));
  const thinking = s.parts.map((p) => p.message?.thinking ?? '');
  assert.equal(thinking.join(''), 'Let me think about that.');
  assert.equal(s.text, 'mock: think first');
  const firstText = s.parts.findIndex((p) => p.message?.content);
  assert.ok(thinking.slice(firstText).every((t) => t === ''), 'no thinking after the text began');
});

test('openai upstream: an error before the first byte is {"error"} with its status; the client throws ResponseError', async () => {
  const raw = await request(viaMock.url('/api/chat'), { method: 'POST', body: { model: 'gpt-4o~fault=400', messages: user('x') } });
  assert.equal(raw.status, 400, raw.text);
  assert.equal(typeof raw.json?.error, 'string', raw.text);
  assert.ok(raw.json.error.length > 0);
  await assert.rejects(client(viaMock).chat({ model: 'gpt-4o~fault=400', messages: user('x'), stream: true }), (e) => {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, 400);
    assert.equal(e.message, raw.json.error);
    return true;
  });
});

test('openai upstream: an error mid-stream ends the stream with an {"error"} line; the client throws it', async () => {
  const model = 'gpt-4o~chunks=4,fault=error_midstream,after=2';
  const r = await request(viaMock.url('/api/chat'), { method: 'POST', body: { model, messages: user('fail midway') } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/x-ndjson/);
  const lines = ndjson(r.text);
  const last = lines.at(-1);
  assert.equal(typeof last.error, 'string', `the last line is not an error: ${r.text}`);
  assert.ok(last.error.length > 0);
  assert.ok(lines.slice(0, -1).every((l) => l.done === false && l.error === undefined), r.text);
  assert.ok(!lines.some((l) => l.done === true), r.text);
  assert.ok(lines.slice(0, -1).map((l) => l.message.content).join('').length > 0, 'the text before the error came through');

  const seen = [];
  await assert.rejects(async () => {
    for await (const p of await client(viaMock).chat({ model, messages: user('fail midway'), stream: true })) seen.push(p);
  }, (e) => {
    assert.equal(e.message, last.error);
    return true;
  });
  assert.ok(seen.length >= 1, 'parts before the error reached the client');
});

// a 1x1 PNG
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

test('a model named with Ollama\'s :latest tag routes as the bare name; the durations are the answer\'s own time', async () => {
  const r = await client(open).chat({ model: 'echo:latest', messages: [{ role: 'user', content: 'tagged name' }], stream: false });
  assert.equal(r.message.content, 'tagged name');
  assert.ok(r.eval_duration > 0 && r.total_duration >= r.eval_duration, JSON.stringify(r));
  const s = await client(open).show({ model: 'echo:latest' });
  assert.ok(Array.isArray(s.capabilities));
});

// ---- embeddings (/api/embed, /api/embeddings) -------------------------------------

test('show(): an embedding model (by its name) has the embedding capability', async () => {
  assert.deepEqual((await client(viaMock).show({ model: 'text-embedding-3-small' })).capabilities, ['embedding']);
  assert.deepEqual((await client(viaMock).show({ model: 'gpt-4o' })).capabilities, ['completion', 'tools']);
});

// OpenAI's /v1/embeddings through the same gateway: the reference answer.
async function openaiEmbeddings(gw, model, input) {
  const r = await request(gw.url('/v1/embeddings'), { method: 'POST', body: { model, input } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('embed: one vector per input, the numbers of /v1/embeddings; model, durations and prompt_eval_count', async () => {
  const tag = `t${rnd()}`;
  const input = [`first ${tag}`, `second text ${tag}`, `third ${tag}`];
  const r = await client(viaMock).embed({ model: 'text-embedding-3-small', input });
  assert.deepEqual(Object.keys(r).sort(), ['embeddings', 'load_duration', 'model', 'prompt_eval_count', 'total_duration']);
  assert.equal(r.model, 'text-embedding-3-small');
  const ref = await openaiEmbeddings(viaMock, 'text-embedding-3-small', input);
  assert.deepEqual(r.embeddings, ref.data.map((d) => d.embedding));
  assert.equal(r.embeddings.length, 3);
  assert.ok(r.embeddings.every((v) => v.length === 8), 'the mock\'s 8 dimensions');
  assert.equal(r.prompt_eval_count, ref.usage.prompt_tokens);
  assert.ok(Number.isInteger(r.total_duration) && r.total_duration > 0, JSON.stringify(r.total_duration));
  assert.equal(r.load_duration, 0);

  // one string is one vector
  const one = await client(viaMock).embed({ model: 'text-embedding-3-small', input: `first ${tag}` });
  assert.deepEqual(one.embeddings, [ref.data[0].embedding]);
  const raw = await request(viaMock.url('/api/embed'), { method: 'POST', body: { model: 'text-embedding-3-small', input: 'x' } });
  assert.equal(raw.status, 200, raw.text);
  assert.match(raw.headers.get('content-type'), /^application\/json/);
  assert.equal(raw.headers.get('content-length'), String(Buffer.byteLength(raw.text)), 'one whole body, not chunks');
});

test('embed: the upstream gets OpenAI\'s request: model (:latest dropped, model_map applied), input, dimensions; no truncate, options, keep_alive', async () => {
  const tag = `t${rnd()}`;
  const r = await client(viaMock).embed({
    model: 'text-embedding-3-small:latest', input: [`dims ${tag}`], dimensions: 4, truncate: true, keep_alive: '5m', options: { num_ctx: 512 },
  });
  assert.equal(r.model, 'text-embedding-3-small');
  assert.deepEqual(r.embeddings.map((v) => v.length), [4]);
  assert.deepEqual(await upstreamBody(`dims ${tag}`), { model: 'text-embedding-3-small', input: [`dims ${tag}`], dimensions: 4 });

  const m = await client(viaMock).embed({ model: 'emb-alias', input: `alias ${tag}` });
  assert.equal(m.model, 'emb-alias', 'the client\'s name, not the upstream\'s');
  assert.deepEqual(await upstreamBody(`alias ${tag}`), { model: 'text-embedding-3-small', input: `alias ${tag}` });
});

test('embeddings (the older POST /api/embeddings): {"embedding"}, embed\'s vector for the prompt', async () => {
  const tag = `t${rnd()}`;
  const r = await client(viaMock).embeddings({ model: 'text-embedding-3-small', prompt: `older ${tag}`, options: { temperature: 0 } });
  assert.deepEqual(Object.keys(r), ['embedding']);
  const e = await client(viaMock).embed({ model: 'text-embedding-3-small', input: `older ${tag}` });
  assert.deepEqual(r.embedding, e.embeddings[0]);
  assert.deepEqual(await upstreamBody(`older ${tag}`), { model: 'text-embedding-3-small', input: `older ${tag}` });
});

test('embed: every number reaches the client as the upstream wrote it, the vectors in the order of their index', async () => {
  const raw = await request(embedGw.url('/api/embed'), { method: 'POST', body: { model: 'precise-1', input: ['a', 'b'] } });
  assert.equal(raw.status, 200, raw.text);
  assert.ok(raw.text.includes('"embeddings":[[0.1,-0,2.5E-308,-1.2345678901234567890e-3],' +
    '[-0.0069292834959924223712,1e-7,3.4028234663852886e+38]]'), raw.text);
  assert.equal(raw.json.prompt_eval_count, 7);
  const want = JSON.parse(PRECISE_ANSWER).data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
  const r = await client(embedGw).embed({ model: 'precise-1', input: ['a', 'b'] });
  assert.deepEqual(r.embeddings, want);
  assert.ok(Object.is(r.embeddings[0][1], -0));
  assert.deepEqual(JSON.parse(precise.seen.body), { model: 'precise-1', input: ['a', 'b'] });

  // two vectors cannot be the older endpoint's one: a 502 in Ollama's shape
  await assert.rejects(client(embedGw).embeddings({ model: 'precise-1', prompt: 'a' }), (e) => {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, 502);
    assert.match(e.message, /could not be read: it holds 2 vectors, not one/);
    return true;
  });
});

test('embed: an upstream answer larger than 64 MiB is a 502 {"error"}, and the gateway keeps serving', async () => {
  const r = await request(embedGw.url('/api/embed'), { method: 'POST', body: { model: 'precise-huge', input: 'x' } });
  assert.equal(r.status, 502, r.text.slice(0, 300));
  assert.deepEqual(r.json, { error: 'The upstream provider\'s answer is larger than 64 MiB.' });
  const again = await client(embedGw).embed({ model: 'precise-1', input: 'y' });
  assert.equal(again.embeddings.length, 2);
});

test('embed: a provider whose keys fail hands the request to its fallback', async () => {
  const tag = `t${rnd()}`;
  const r = await client(embedGw).embed({ model: 'emb-small', input: `fallback ${tag}` });
  assert.equal(r.model, 'emb-small');
  assert.equal(r.embeddings.length, 1);
  const reqs = await settledRequests(mock, `fallback ${tag}`);
  assert.deepEqual(reqs.map((q) => q.key.split('-')[1]), ['d', 'u'], 'the failing key, then the fallback\'s');
});

test('embed with no input is Ollama\'s preload: no vectors, and no upstream request', async () => {
  const tag = `preload-${Date.now()}`;
  const model = `text-embedding-${tag}`;
  const e = await client(viaMock).embed({ model, input: [] });
  assert.deepEqual(e.embeddings, []);
  assert.equal(e.model, model);
  for (const body of [{ model }, { model, input: '' }]) {
    const r = await request(viaMock.url('/api/embed'), { method: 'POST', body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.embeddings, []);
  }
  assert.deepEqual((await client(viaMock).embeddings({ model, prompt: '' })).embedding, []);
  // a request that does reach the upstream, then: only it is in the record
  await client(viaMock).embed({ model, input: 'real' });
  const sent = await settledRequests(mock, tag);
  assert.equal(sent.length, 1, JSON.stringify(sent.map((x) => x.body)));
  assert.equal(JSON.parse(sent[0].body).input, 'real');
});

test('embed errors: models without embeddings (echo, poe) 400, unknown 404, bad input 400, all {"error"}', async () => {
  const check = (status, re) => (e) => {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, status, e.message);
    if (re) assert.match(e.message, re);
    return true;
  };
  await assert.rejects(client(viaMock).embed({ model: 'echo', input: 'x' }), check(400, /echo.*only serves chat/));
  await assert.rejects(client(viaMock).embeddings({ model: 'echo:latest', prompt: 'x' }), check(400, /echo/));
  await assert.rejects(client(embedGw).embed({ model: 'Bot-1', input: 'x' }), check(400, /type poe/));
  await assert.rejects(client(viaMock).embed({ model: 'no-such-embedder', input: 'x' }), check(404, /no-such-embedder/));
  for (const [path, body, re] of [
    ['/api/embed', { input: 'x' }, /model is required/],
    ['/api/embed', { model: 'text-embedding-3-small', input: ['a', ''] }, /input\[1\] is empty/],
    ['/api/embed', { model: 'text-embedding-3-small', input: ['a', 3] }, /invalid input type/],
    ['/api/embed', { model: 'text-embedding-3-small', input: { text: 'a' } }, /invalid input type/],
    ['/api/embed', { model: 'text-embedding-3-small', input: 'a', dimensions: -1 }, /dimensions/],
    ['/api/embeddings', { model: 'text-embedding-3-small', prompt: ['a'] }, /invalid prompt type/],
    ['/api/embed', '{"model": "text-embedding-3-small", "input": [', /./],
  ]) {
    const r = await request(viaMock.url(path), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const what = `${path} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.deepEqual(Object.keys(r.json ?? {}), ['error'], `${what}: ${r.text}`);
    assert.match(r.json.error, re, what);
  }
  await assert.rejects(client(viaMock).embed({ model: 'text-embedding-3-small', input: ['a', 3] }), check(400, /invalid input type/));
});

test('embed errors: the upstream\'s own 4xx reaches the client in Ollama\'s shape; a 5xx on every key is a 502', async () => {
  const r = await request(viaMock.url('/api/embed'), { method: 'POST', body: { model: 'text-embedding-3-small~fault=400', input: 'x' } });
  assert.equal(r.status, 400, r.text);
  assert.deepEqual(Object.keys(r.json), ['error'], r.text);
  assert.ok(r.json.error.length > 0);
  await assert.rejects(client(viaMock).embed({ model: 'text-embedding-3-small~fault=500', input: 'x' }), (e) => {
    assert.equal(e.status_code, 502, e.message);
    return true;
  });
  await assert.rejects(client(viaMock).embeddings({ model: 'text-embedding-3-small~fault=400', prompt: 'x' }), (e) => e.status_code === 400);
});

// The official `ollama` JavaScript client (and raw requests) against llmgate's
// Ollama API (/api/chat, /api/generate, /api/tags, /api/show, /api/version):
// on the echo model, text and tool calls, stream and not, the tool round
// trip; through an `openai` provider (the mock), the same answer streamed and
// not, usage, tool calls and the next turn, options, format and images as the
// upstream receives them; errors as {"error": "..."} with the HTTP status,
// before the stream and in it (a last {"error"} line).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startGateway, startMock, echoConfig, request } from './lib/harness.mjs';
import { mkKey, gatewayYaml, settledRequests, rnd } from './lib/upstream.mjs';

const TOKEN = 'sk-gate-ollama-7d1e';
let open, guarded, mock, viaMock;

before(async () => {
  open = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  guarded = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens: [${TOKEN}]\n` }) });
  mock = await startMock();
  viaMock = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: 'timeouts: {ping: 0}',
      providers: [
        { name: 'oai', base: `${mock.base}/v1`, keys: [mkKey('o')], models: ['gpt-*'], extra: { list_models: [] } },
        { name: 'echo', type: 'echo', models: ['echo', 'echo-*'] },
      ],
    }),
  });
});
after(async () => {
  await open?.stop();
  await guarded?.stop();
  await viaMock?.stop();
  await mock?.stop();
});

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

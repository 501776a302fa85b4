// The `poe` provider (Poe's bot query protocol) through the real binary against
// the mock upstream (SPEC section 7, docs/translation.md "Poe", docs/mock.md):
// answers in exact OpenAI form (stream and not, curl and the openai npm
// client), the query body (version 1.2, roles, tool results folded into text),
// canonical bot names, replace_response, errors before and after the first
// text (insufficient_fund disables the key and the next key answers), streams
// without `done`, CRLF and split events, /v1/models, message modes, estimated
// usage and token counters, and a client cancel reaching the upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startMock, curl, request, parseSSE, checkChatStream, isOpenAIError, sseEvents } from './lib/harness.mjs';
import {
  mkKey, rnd, gatewayYaml, settledRequests, keyRows, scrape, metric, assertOpenAIError, waitFor,
} from './lib/upstream.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const TOKEN = `sk-gate-${rnd()}`;
const FUND = 'failpoe_error_before-error_type=insufficient_fund';
const K = {
  poe: [mkKey('poe1'), mkKey('poe2')],
  fund: [mkKey('fundbad', FUND), mkKey('fundok')],   // the bad key first (config order)
  funds: [mkKey('fundsbad', FUND), mkKey('fundsok')],
  broke: [mkKey('brokefund', FUND), mkKey('broke401', 'fail401')],
  err: [mkKey('err1'), mkKey('err2')],
  after: mkKey('after'),
  nodone: [mkKey('nodone1'), mkKey('nodone2')],
  replace: mkKey('replace'),
  crlf: mkKey('crlf'),
  slow: mkKey('slow'),
  std: mkKey('std'),
  full: mkKey('full'),
};
const BOTS = ['GPT-4o', 'Claude-3.5-Sonnet'];
// the mock's default Puter model list (tests/mock/puter.c)
const PUTER_MODELS = ['openrouter:anthropic/claude-3.5-sonnet', 'openrouter:openai/gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4'];

let mock, gw;

// auxiliary Poe providers: one behaviour each, chosen by the base_url's /s/ options
const aux = (name, models, keys, opts = '', extra = {}) => ({
  name, type: 'poe', base: opts ? `${mock.base}/s/${opts}` : mock.base, keys, models, extra: { list_models: [], ...extra },
});

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2,
      top: `admin_token: ${ADMIN}\naccess_tokens: [${TOKEN}]\nkeys: {cooldown: 1s, probe_after: 60s}\ntimeouts: {ping: 0}`,
      providers: [
        { name: 'poe', type: 'poe', base: mock.base, keys: K.poe, models: ['GPT-*', 'Claude-*'], extra: { list_models: BOTS } },
        { name: 'puter', type: 'puter', base: mock.base, models: ['openrouter:*', 'gpt-*'], extra: { auth: 'passthrough' } },
        aux('poefund', ['Fund-*'], K.fund),
        aux('poefunds', ['Funds-*'], K.funds),
        aux('poebroke', ['Broke-*'], K.broke),
        aux('poeerr', ['Err-*'], K.err, 'fault=poe_error_before'),
        aux('poeafter', ['After-*'], [K.after], 'fault=poe_error_after,after=3'),
        aux('poenodone', ['Nodone-*'], K.nodone, 'fault=poe_no_done'),
        aux('poereplace', ['Replace-*'], [K.replace], 'poe_replace=1'),
        aux('poecrlf', ['Crlf-*'], [K.crlf], 'crlf=1,split=1,comments=1'),
        aux('poeslow', ['Slow-*'], [K.slow], 'interval=100,chunks=100'),
        aux('poestd', ['Std-*'], [K.std], '', { message_mode: 'standard' }),
        aux('poefull', ['Full-*'], [K.full], '', { message_mode: 'full' }),
      ],
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const sdk = () => new OpenAI({ baseURL: gw.url('/v1'), apiKey: TOKEN, maxRetries: 0, timeout: 60000 });
const user = (content) => [{ role: 'user', content }];

// POST /v1/chat/completions through the gateway with curl (-N).
function post(body, { token = TOKEN } = {}) {
  return curl(['-N', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${token}`,
    '--data-binary', JSON.stringify(body), gw.url('/v1/chat/completions')], { timeout: 60000 });
}

// The upstream requests of `tag` (each with its parsed body), once all ended.
async function upstream(tag) {
  const reqs = await settledRequests(mock, tag);
  return reqs.map((e) => ({ ...e, json: JSON.parse(e.body) }));
}

// A non-stream answer in exact OpenAI form; returns it.
function checkCompletion(j, text) {
  assert.equal(typeof j, 'object', 'no JSON body');
  assert.match(j.id, /^chatcmpl-/);
  assert.equal(j.object, 'chat.completion');
  assert.ok(Number.isInteger(j.created) && Math.abs(j.created - Date.now() / 1000) < 60, `created ${j.created}`);
  assert.equal(typeof j.model, 'string');
  assert.equal(j.choices.length, 1);
  const c = j.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, 'assistant');
  assert.equal(c.message.content, text);
  assert.equal(c.finish_reason, 'stop');
  checkUsage(j.usage);
  return j;
}

function checkUsage(u) {
  assert.ok(u, 'no usage');
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
    assert.ok(Number.isInteger(u[k]) && u[k] > 0, `usage.${k} = ${u[k]} (${JSON.stringify(u)})`);
  }
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
}

// ---- answers in OpenAI form --------------------------------------------------

test('non-stream (curl): one chat.completion in exact OpenAI form holding the bot\'s whole text', async () => {
  const tag = `ns-${rnd()}`;
  const r = await post({ model: 'gpt-4o', messages: user(`hello ${tag}`) });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  checkCompletion(r.json, `mock: hello ${tag}`);
  const [e] = await upstream(tag);
  assert.equal(e.path, '/bot/GPT-4o');
  assert.ok(K.poe.includes(e.key), `upstream key ${e.key}`);
});

test('non-stream (openai client): the same answer, usage estimated as integers', async () => {
  const tag = `nssdk-${rnd()}`;
  const j = await sdk().chat.completions.create({ model: 'GPT-4o', messages: user(`sdk ${tag}`) });
  checkCompletion(j, `mock: sdk ${tag}`);
});

test('stream (curl): role chunk first, content, finish chunk, [DONE]; one id/created; no Poe event leaks; no usage unless asked', async () => {
  const tag = `st-${rnd()}`;
  const r = await post({ model: 'gpt-4o', stream: true, messages: user(`stream ${tag}`) });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  // every event is exactly one `data:` line: Poe's `event:` lines, meta,
  // suggested_reply and done are not passed on
  assert.match(r.body, /^(data: [^\n]+\n\n)+$/, `not plain data events: ${JSON.stringify(r.body.slice(0, 400))}`);
  assert.doesNotMatch(r.body, /Tell me more|suggested|content_type|linkify/);
  const s = checkChatStream(parseSSE(r.body), { includeUsage: false });
  assert.equal(s.text, `mock: stream ${tag}`);
  assert.ok(s.pieces.length >= 2, `the answer came in ${s.pieces.length} piece(s), the mock sent 8`);
  const [e] = await upstream(tag);
  assert.equal(e.path, '/bot/GPT-4o');
});

test('stream (curl) with include_usage: a usage chunk with integer (estimated) counts before [DONE]', async () => {
  const tag = `stu-${rnd()}`;
  const r = await post({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: user(`usage ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const s = checkChatStream(parseSSE(r.body), { includeUsage: true });
  assert.equal(s.text, `mock: usage ${tag}`);
  checkUsage(s.usage);
});

test('stream (openai client): text, one id, finish stop; include_usage gives the usage last', async () => {
  for (const includeUsage of [false, true]) {
    const tag = `stsdk-${includeUsage}-${rnd()}`;
    const stream = await sdk().chat.completions.create({
      model: 'claude-3.5-sonnet', stream: true, messages: user(`sdk stream ${tag}`),
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'more than one id');
    assert.equal(new Set(chunks.map((c) => c.created)).size, 1, 'more than one created');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, `mock: sdk stream ${tag}`);
    const fin = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(fin.length, 1);
    assert.equal(fin[0].choices[0].finish_reason, 'stop');
    const withUsage = chunks.filter((c) => c.usage);
    if (includeUsage) {
      assert.equal(withUsage.length, 1);
      assert.equal(withUsage[0], chunks.at(-1));
      assert.deepEqual(chunks.at(-1).choices, []);
      checkUsage(chunks.at(-1).usage);
    } else {
      assert.equal(withUsage.length, 0, 'usage without include_usage');
    }
    const [e] = await upstream(tag);
    assert.equal(e.path, '/bot/Claude-3.5-Sonnet');
  }
});

// ---- the query ---------------------------------------------------------------

test('query body: version 1.2, type query, roles mapped (assistant→bot, developer→user, system kept), tool results folded into text', async () => {
  const tag = `q-${rnd()}`;
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'developer', content: 'Answer in French.' },
    { role: 'user', content: 'What is the weather?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '22C and sunny' },
    { role: 'assistant', content: 'It is 22C.' },
    { role: 'user', content: [{ type: 'text', text: 'Thanks.' }, { type: 'text', text: `Bye ${tag}` }] },
  ];
  const r = await post({ model: 'gpt-4o', messages, temperature: 0.2, stop: ['END'], max_tokens: 50 });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.choices[0].message.content, `mock: Thanks.\nBye ${tag}`);
  const [e] = await upstream(tag);
  const q = e.json;
  assert.equal(e.method, 'POST');
  assert.equal(e.path, '/bot/GPT-4o');
  assert.equal(q.version, '1.2');
  assert.equal(q.type, 'query');
  assert.deepEqual(q.query.map((m) => m.role), ['system', 'user', 'user', 'bot', 'user', 'bot', 'user']);
  assert.equal(q.query[0].content, 'You are terse.');
  assert.equal(q.query[1].content, 'Answer in French.');
  assert.equal(q.query[2].content, 'What is the weather?');
  assert.match(q.query[3].content, /get_weather/, 'the assistant\'s tool call is lost');
  assert.match(q.query[3].content, /"city":"Paris"/);
  assert.equal(q.query[4].content, '[tool result] 22C and sunny');
  assert.equal(q.query[5].content, 'It is 22C.');
  assert.equal(q.query[6].content, `Thanks.\nBye ${tag}`);
  for (const m of q.query) {
    assert.equal(typeof m.content, 'string');
    assert.equal(m.content_type, 'text/markdown');
    assert.ok(!('tool_calls' in m) && !('tool_call_id' in m), `OpenAI members left in ${JSON.stringify(m)}`);
  }
  assert.equal(q.temperature, 0.2);
  assert.deepEqual(q.stop_sequences, ['END']);
  assert.deepEqual(q.logit_bias, {});
  assert.ok(!('messages' in q) && !('model' in q) && !('max_tokens' in q), `OpenAI members in the query: ${e.body}`);
  assert.match(e.headers.authorization, /^Bearer sk-poe[12]-/);
});

test('query body: temperature defaults to 0.7, no stop gives []', async () => {
  const tag = `qd-${rnd()}`;
  const r = await post({ model: 'gpt-4o', messages: user(`defaults ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const [e] = await upstream(tag);
  assert.equal(e.json.temperature, 0.7);
  assert.deepEqual(e.json.stop_sequences, []);
});

test('bot names: routed case-insensitively, sent with list_models\' spelling (else as given)', async () => {
  const cases = [
    ['gpt-4o', '/bot/GPT-4o'],
    ['GPT-4O', '/bot/GPT-4o'],
    ['claude-3.5-SONNET', '/bot/Claude-3.5-Sonnet'],
    ['gpt-4o-mini', '/bot/gpt-4o-mini'], // not in list_models: as given (and still Poe's, not Puter's gpt-*)
    ['Claude-Opus-4', '/bot/Claude-Opus-4'],
  ];
  for (const [model, path] of cases) {
    const tag = `bot-${rnd()}`;
    const r = await post({ model, messages: user(`bot ${tag}`) });
    assert.equal(r.status, 200, `${model}: ${r.body}`);
    const reqs = await upstream(tag);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].path, path, `model ${model}`);
  }
});

test('a model that is no valid bot name (path characters, spaces): a 4xx error, nothing sent upstream', async () => {
  const before = (await mock.record()).length;
  for (const model of ['GPT-4o/../../_mock/reset', 'GPT-4o?x=1', 'GPT-4o#x', 'GPT-4o%2F..', 'GPT- 4o', 'GPT-4o~chunks=2']) {
    const r = await post({ model, messages: user('bad bot') });
    assert.ok(r.status >= 400 && r.status < 500, `${model}: ${r.status} ${r.body}`);
    assert.ok(isOpenAIError(r.json), `${model}: ${r.body}`);
  }
  const rec = await mock.record();
  assert.ok(rec.length >= before, 'the mock record was reset: a bot name reached another path');
  assert.deepEqual(rec.slice(before).filter((e) => e.event === 'request').map((e) => e.path), [], 'requests went upstream');
});

// ---- replace_response ----------------------------------------------------------

test('replace_response, stream: the text sent stays, then a blank line and the replacement in full; the final answer ends the text', async () => {
  const tag = `rep-${rnd()}`;
  const full = `mock: replace ${tag}`;
  const r = await post({ model: 'Replace-bot', stream: true, messages: user(`replace ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const s = checkChatStream(parseSSE(r.body));
  assert.ok(s.text.endsWith(full), `the client's text does not end with the final answer: ${JSON.stringify(s.text)}`);
  assert.equal(s.text, `Thinking...\n\n${full}`);
  const [e] = await upstream(tag);
  assert.equal(e.scenario.poe_replace, '1', 'the mock did not send replace_response');
});

test('replace_response, stream (openai client): the same text', async () => {
  const tag = `repsdk-${rnd()}`;
  const stream = await sdk().chat.completions.create({ model: 'replace-bot', stream: true, messages: user(`replace ${tag}`) });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, `Thinking...\n\nmock: replace ${tag}`);
});

test('replace_response, non-stream: exactly the replacement text (the placeholder is gone)', async () => {
  const tag = `repns-${rnd()}`;
  const r = await post({ model: 'Replace-bot', messages: user(`replace ${tag}`) });
  assert.equal(r.status, 200, r.body);
  checkCompletion(r.json, `mock: replace ${tag}`);
  const j = await sdk().chat.completions.create({ model: 'Replace-bot', messages: user(`again ${tag}`) });
  assert.equal(j.choices[0].message.content, `mock: again ${tag}`);
});

// ---- errors before the first text ---------------------------------------------------

test('insufficient_fund before any text (non-stream): the key goes disabled, the next key answers the same request', async () => {
  let tag, reqs;
  // round robin: within two requests the bad key is tried first once
  for (let i = 0; i < 4; i++) {
    tag = `fund-${i}-${rnd()}`;
    const r = await post({ model: 'Fund-bot', messages: user(`fund ${tag}`) });
    assert.equal(r.status, 200, r.body);
    checkCompletion(r.json, `mock: fund ${tag}`);
    reqs = await upstream(tag);
    if (reqs.length > 1) break;
  }
  assert.deepEqual(reqs.map((e) => e.key), K.fund, 'expected the bad key, then the good one, for one client request');
  const rows = await keyRows(gw, ADMIN, 'poefund');
  assert.equal(rows[0].state, 'disabled', `bad key: ${JSON.stringify(rows[0])}`);
  assert.ok(rows[0].payment >= 1, JSON.stringify(rows[0]));
  assert.equal(rows[1].state, 'usable', JSON.stringify(rows[1]));
  assert.ok(rows[1].success >= 1);
});

test('insufficient_fund before any text (stream, openai client): the client gets the second key\'s answer as a normal stream', async () => {
  let tag, reqs, text;
  for (let i = 0; i < 4; i++) {
    tag = `funds-${i}-${rnd()}`;
    const stream = await sdk().chat.completions.create({ model: 'Funds-bot', stream: true, messages: user(`funds ${tag}`) });
    text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, `mock: funds ${tag}`);
    reqs = await upstream(tag);
    if (reqs.length > 1) break;
  }
  assert.deepEqual(reqs.map((e) => e.key), K.funds);
  const rows = await keyRows(gw, ADMIN, 'poefunds');
  assert.equal(rows[0].state, 'disabled', JSON.stringify(rows[0]));
  assert.ok(rows[0].payment >= 1);
});

test('only failing keys (insufficient_fund, Poe 401): an OpenAI-shaped 4xx/5xx error, never a 401 about the client\'s auth', async () => {
  const bad = (r, what) => {
    assert.ok(r.status >= 400 && r.status < 600 && r.status !== 401, `${what}: status ${r.status}: ${r.body}`);
    assert.ok(isOpenAIError(r.json), `${what}: ${r.body}`);
    assert.notEqual(r.json.error.code, 'invalid_api_key', `${what}: ${r.body}`);
    assert.notEqual(r.json.error.type, 'authentication_error', `${what}: ${r.body}`);
  };
  const tag = `broke-${rnd()}`;
  const r1 = await post({ model: 'Broke-bot', messages: user(`broke ${tag}`) });
  bad(r1, 'non-stream');
  const reqs = await upstream(tag);
  assert.deepEqual(reqs.map((e) => e.key).sort(), [...K.broke].sort(), 'both keys should have been tried');
  const rows = await keyRows(gw, ADMIN, 'poebroke');
  assert.deepEqual(rows.map((k) => k.state), ['disabled', 'disabled'], JSON.stringify(rows));
  assert.equal(rows[0].payment, 1);
  assert.equal(rows[1].auth, 1);
  // a stream, now that both keys rest: still an HTTP error, not a 200 stream, not a 401
  const r2 = await post({ model: 'Broke-bot', stream: true, messages: user(`broke again ${tag}`) });
  bad(r2, 'stream');
  await assert.rejects(
    sdk().chat.completions.create({ model: 'Broke-bot', stream: true, messages: user(`broke sdk ${tag}`) }),
    (e) => e instanceof OpenAI.APIError && e.status >= 400 && e.status !== 401 && !(e instanceof OpenAI.AuthenticationError),
  );
});

test('a Poe error before any text with allow_retry false: an HTTP error with Poe\'s message, stream or not; no retry, the key not blamed', async () => {
  for (const stream of [false, true]) {
    const tag = `err-${stream}-${rnd()}`;
    const r = await post({ model: 'Err-bot', stream, messages: user(`err ${tag}`) });
    assertOpenAIError(r, 502, `stream=${stream}`);
    assert.equal(r.json.error.code, 'upstream_error');
    assert.match(r.json.error.message, /unexpected issue/, 'Poe\'s text is not the message');
    const reqs = await upstream(tag);
    assert.equal(reqs.length, 1, 'retried although Poe said allow_retry: false');
  }
  const rows = await keyRows(gw, ADMIN, 'poeerr');
  for (const k of rows) assert.equal(k.state, 'usable', JSON.stringify(k));
});

// ---- errors after the first text ------------------------------------------------------

test('a Poe error after text (stream, curl): the text so far, then an error event, then [DONE]', async () => {
  const tag = `after-${rnd()}`;
  const full = `mock: after ${tag}`;
  const r = await post({ model: 'After-bot', stream: true, messages: user(`after ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const ev = parseSSE(r.body);
  assert.equal(ev.at(-1), '[DONE]');
  assert.equal(ev.filter((d) => d === '[DONE]').length, 1);
  const err = JSON.parse(ev.at(-2));
  assert.ok(isOpenAIError(err), `not an error event: ${ev.at(-2)}`);
  assert.match(err.error.message, /unexpected issue/);
  const chunks = ev.slice(0, -2).map((d) => JSON.parse(d));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  const text = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
  assert.ok(text.length > 0 && full.startsWith(text) && text !== full, `text before the error: ${JSON.stringify(text)}`);
  assert.ok(!chunks.some((c) => c.choices[0].finish_reason === 'stop'), 'a stop finish before the error');
  const [e] = await upstream(tag);
  assert.equal(e.scenario.fault, 'poe_error_after');
});

test('a Poe error after text (stream, openai client): the iteration throws after the first text', async () => {
  const tag = `aftersdk-${rnd()}`;
  const stream = await sdk().chat.completions.create({ model: 'After-bot', stream: true, messages: user(`after ${tag}`) });
  let text = '';
  await assert.rejects(async () => {
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  }, (e) => /unexpected issue/.test(e.message));
  assert.ok(text.length > 0 && `mock: after ${tag}`.startsWith(text), JSON.stringify(text));
});

test('a Poe error after text (non-stream): an HTTP error, never a partial completion', async () => {
  const tag = `afterns-${rnd()}`;
  const r = await post({ model: 'After-bot', messages: user(`after ${tag}`) });
  assertOpenAIError(r, 502);
  assert.match(r.json.error.message, /unexpected issue/);
});

test('a Poe stream without `done`: stream → error event then [DONE]; non-stream → 502', async () => {
  const tag = `nodone-${rnd()}`;
  const r = await post({ model: 'Nodone-bot', stream: true, messages: user(`nodone ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const ev = parseSSE(r.body);
  assert.equal(ev.at(-1), '[DONE]');
  const err = JSON.parse(ev.at(-2));
  assert.ok(isOpenAIError(err), ev.at(-2));
  assert.equal(err.error.code, 'upstream_truncated');
  const text = ev.slice(0, -2).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
  assert.equal(text, `mock: nodone ${tag}`, 'the text before the end');
  assert.ok(!ev.slice(0, -2).some((d) => JSON.parse(d).choices[0].finish_reason), 'a finish chunk although the answer is incomplete');

  const r2 = await post({ model: 'Nodone-bot', messages: user(`nodone ns ${tag}`) });
  assertOpenAIError(r2, 502);
});

// ---- framing ----------------------------------------------------------------------------

test('CRLF line ends, events split across reads, ping events: the same answer, stream and not', async () => {
  const tag = `crlf-${rnd()}`;
  const r = await post({ model: 'Crlf-bot', stream: true, messages: user(`crlf ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const s = checkChatStream(parseSSE(r.body));
  assert.equal(s.text, `mock: crlf ${tag}`);
  assert.doesNotMatch(r.body, /\r/, 'CRLF leaked into the translated stream');
  const r2 = await post({ model: 'crlf-bot', messages: user(`crlf ns ${tag}`) });
  assert.equal(r2.status, 200, r2.body);
  checkCompletion(r2.json, `mock: crlf ns ${tag}`);
  const reqs = await upstream(tag);
  assert.equal(reqs.length, 2);
  for (const e of reqs) {
    assert.equal(e.scenario.crlf, '1');
    assert.equal(e.scenario.split, '1');
  }
  const rows = await keyRows(gw, ADMIN, 'poecrlf');
  assert.equal(rows[0].server, 0, `complete CRLF answers counted as failures: ${JSON.stringify(rows[0])}`);
});

// ---- model list -------------------------------------------------------------------------------

test('/v1/models lists the Poe bots (list_models) then Puter\'s models (from /puterai/chat/models)', async () => {
  const r = await request(gw.url('/v1/models'), { token: TOKEN, timeout: 30000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'list');
  assert.deepEqual(r.json.data.map((m) => m.id), [...BOTS, ...PUTER_MODELS]);
  for (const m of r.json.data) {
    assert.equal(m.object, 'model');
    assert.ok(Number.isInteger(m.created), JSON.stringify(m));
    assert.equal(typeof m.owned_by, 'string');
  }
  const rec = await mock.record();
  assert.ok(rec.some((e) => e.method === 'GET' && e.path === '/puterai/chat/models'), 'Puter\'s list was not fetched');
  const ids = [];
  for await (const m of sdk().models.list()) ids.push(m.id);
  assert.deepEqual(ids, [...BOTS, ...PUTER_MODELS]);
});

// ---- message modes ----------------------------------------------------------------------------------

const CONVERSATION = (tag) => [
  { role: 'system', content: 'Be brief.' },
  { role: 'assistant', content: 'I speak first' },
  { role: 'user', content: 'First question' },
  { role: 'developer', content: 'Use metric units.' },
  { role: 'user', content: 'A second user message in a row' },
  { role: 'assistant', content: 'Answer one' },
  { role: 'assistant', content: 'Answer two' },
  { role: 'tool', tool_call_id: 'call_1', content: '22C' },
  { role: 'tool', tool_call_id: 'call_2', content: 'sunny' },
  { role: 'assistant', content: 'It is 22C' },
  { role: 'user', content: [{ type: 'text', text: 'Part A' }, { type: 'text', text: `Part B ${tag}` }] },
  { role: 'assistant', content: 'trailing' },
];

test('message_mode standard on a Poe provider: system merged first, strict alternation from user, ending with user', async () => {
  const tag = `std-${rnd()}`;
  const r = await post({ model: 'Std-bot', messages: CONVERSATION(tag) });
  assert.equal(r.status, 200, r.body);
  const [e] = await upstream(tag);
  assert.deepEqual(e.json.query.map((m) => [m.role, m.content]), [
    ['system', 'Be brief.\n\nUse metric units.'],
    ['user', 'First question'],
    ['bot', 'Answer one'],
    ['user', '[tool result] 22C\n\n[tool result] sunny'],
    ['bot', 'It is 22C'],
    ['user', `Part A\nPart B ${tag}`],
  ]);
  assert.equal(r.json.choices[0].message.content, `mock: Part A\nPart B ${tag}`);
});

test('message_mode full on a Poe provider: one user message with every message as [role] content', async () => {
  const tag = `full-${rnd()}`;
  const r = await post({ model: 'Full-bot', stream: true, messages: CONVERSATION(tag) });
  assert.equal(r.status, 200, r.body);
  const [e] = await upstream(tag);
  const want = [
    '[system] Be brief.', '[assistant] I speak first', '[user] First question', '[developer] Use metric units.',
    '[user] A second user message in a row', '[assistant] Answer one', '[assistant] Answer two', '[tool] 22C',
    '[tool] sunny', '[assistant] It is 22C', `[user] Part A\nPart B ${tag}`, '[assistant] trailing',
  ].join('\n\n');
  assert.deepEqual(e.json.query.map((m) => [m.role, m.content]), [['user', want]]);
  assert.equal(checkChatStream(parseSSE(r.body)).text, `mock: ${want}`);
});

// ---- usage and metrics --------------------------------------------------------------------------------

test('token counters: llmgate_tokens_total{provider="poe"} grows by the (estimated) usage the client was given', async () => {
  const labels = (kind) => ({ provider: 'poe', kind });
  const before = await scrape(gw);
  const tag = `tok-${rnd()}`;
  const r1 = await post({ model: 'gpt-4o', messages: user(`count these words please ${tag}`) });
  assert.equal(r1.status, 200, r1.body);
  const r2 = await post({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: user(`and these too ${tag}`) });
  assert.equal(r2.status, 200, r2.body);
  const u1 = r1.json.usage, u2 = checkChatStream(parseSSE(r2.body), { includeUsage: true }).usage;
  checkUsage(u1);
  checkUsage(u2);
  const aft = await waitFor(async () => {
    const m = await scrape(gw);
    return metric(m, 'llmgate_tokens_total', labels('completion')) - metric(before, 'llmgate_tokens_total', labels('completion')) >=
      u1.completion_tokens + u2.completion_tokens ? m : null;
  }, { timeout: 30000, what: 'the completion token counter to grow' });
  assert.equal(metric(aft, 'llmgate_tokens_total', labels('prompt')) - metric(before, 'llmgate_tokens_total', labels('prompt')),
    u1.prompt_tokens + u2.prompt_tokens);
  assert.equal(metric(aft, 'llmgate_tokens_total', labels('completion')) - metric(before, 'llmgate_tokens_total', labels('completion')),
    u1.completion_tokens + u2.completion_tokens);
});

// ---- cancellation -----------------------------------------------------------------------------------------

test('a client that cancels a Poe stream: the mock sees the connection closed before the answer ends', async () => {
  const tag = `cancel-${rnd()}`;
  const ac = new AbortController();
  const res = await fetch(gw.url('/v1/chat/completions'), {
    method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ model: 'Slow-bot', stream: true, messages: user(`cancel ${tag}`) }),
  });
  assert.equal(res.status, 200);
  let content = 0;
  try {
    for await (const ev of sseEvents(res)) {
      const j = JSON.parse(ev.data);
      if (j.choices?.[0]?.delta?.content) content++;
      if (content >= 2) break;
    }
  } finally {
    ac.abort();
  }
  // the answer would take 10 s (100 chunks 100 ms apart): the upstream
  // connection must be closed before its end
  const closed = await waitFor(async () => {
    const rec = await mock.record();
    const req = rec.find((e) => e.event === 'request' && (e.body || '').includes(tag));
    return req && rec.find((e) => e.seq === req.seq && e.event !== 'request');
  }, { timeout: 30000, interval: 20, what: 'client_closed in the mock record' });
  assert.equal(closed.event, 'client_closed', `the upstream answer ran to its end: ${JSON.stringify(closed)}`);
  assert.ok(closed.chunks_sent < 100, `the whole answer was sent (${closed.chunks_sent} chunks)`);
  await waitFor(async () => (await keyRows(gw, ADMIN, 'poeslow'))[0].cancelled >= 1, { timeout: 30000, what: 'the cancelled outcome' });
});

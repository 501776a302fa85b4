// The `puter` provider (Puter's driver API) through the real binary against
// the mock upstream (SPEC section 7, docs/translation.md "Puter", docs/mock.md):
// passthrough of the client's token, the driver call body, NDJSON streams
// (text, reasoning, tool_use, noise, no final newline, CRLF) and whole answers
// (string and array content) in exact OpenAI form, curl and the openai npm
// client, `{"success":false}` with HTTP 200, Puter's 401, the model list, and
// message modes on puter and openai-type providers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startMock, curl, request, parseSSE, checkChatStream, isOpenAIError } from './lib/harness.mjs';
import { mkKey, rnd, gatewayYaml, settledRequests, assertOpenAIError } from './lib/upstream.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const TOKEN = `sk-gate-${rnd()}`;          // the gateway's access token (not a Puter token)
const PUTER = `puter-tok-${rnd()}`;         // a client's own Puter token: not an access token
const K = { oastd: mkKey('oastd'), oafull: mkKey('oafull') };
// the mock's default Puter model list (tests/mock/puter.c)
const PUTER_MODELS = ['openrouter:anthropic/claude-3.5-sonnet', 'openrouter:openai/gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4'];

let mock, gw;

before(async () => {
  mock = await startMock();
  const m = mock.base;
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2,
      top: `admin_token: ${ADMIN}\naccess_tokens: [${TOKEN}]\nkeys: {cooldown: 1s, probe_after: 2s}\ntimeouts: {ping: 0}`,
      providers: [
        {
          name: 'puter', type: 'puter', base: m,
          models: ['openrouter:*', 'gpt-*', 'claude-*', 'gemini-*', 'grok-*', 'mistral-*', 'deepseek-*', 'togetherai:*', 'o3*', 'other-*'],
          extra: { auth: 'passthrough' },
        },
        { name: 'puterstd', type: 'puter', base: m, models: ['std:*'], extra: { auth: 'passthrough', message_mode: 'standard', list_models: [] } },
        { name: 'puterfull', type: 'puter', base: m, models: ['full:*'], extra: { auth: 'passthrough', message_mode: 'full', list_models: [] } },
        { name: 'oastd', base: `${m}/v1`, keys: [K.oastd], models: ['oastd-*'], extra: { message_mode: 'standard', list_models: [] } },
        { name: 'oafull', base: `${m}/v1`, keys: [K.oafull], models: ['oafull-*'], extra: { message_mode: 'full', list_models: [] } },
      ],
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const sdk = (apiKey = PUTER) => new OpenAI({ baseURL: gw.url('/v1'), apiKey, maxRetries: 0, timeout: 60000 });
const user = (content) => [{ role: 'user', content }];

function post(body, { token = PUTER } = {}) {
  return curl(['-N', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${token}`,
    '--data-binary', JSON.stringify(body), gw.url('/v1/chat/completions')], { timeout: 60000 });
}

async function upstream(tag) {
  const reqs = await settledRequests(mock, tag);
  return reqs.map((e) => ({ ...e, json: JSON.parse(e.body) }));
}

const words = (msgs) => msgs.map((x) => (typeof x.content === 'string' ? x.content : x.content.map((p) => p.text).join('\n')))
  .join(' ').split(/\s+/).filter(Boolean).length;

function checkCompletion(j, text) {
  assert.equal(typeof j, 'object', 'no JSON body');
  assert.match(j.id, /^chatcmpl-/);
  assert.equal(j.object, 'chat.completion');
  assert.ok(Number.isInteger(j.created) && Math.abs(j.created - Date.now() / 1000) < 60, `created ${j.created}`);
  assert.equal(j.choices.length, 1);
  assert.equal(j.choices[0].index, 0);
  assert.equal(j.choices[0].message.role, 'assistant');
  assert.equal(j.choices[0].message.content, text);
  assert.equal(j.choices[0].finish_reason, 'stop');
  const u = j.usage;
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.ok(Number.isInteger(u[k]) && u[k] > 0, JSON.stringify(u));
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  return j;
}

// ---- passthrough and the call body -------------------------------------------------

test('passthrough: the client\'s bearer token goes upstream as Authorization; no access-token check on this provider', async () => {
  const tag = `pt-${rnd()}`;
  const r = await post({ model: 'openrouter:anthropic/claude-3.5-sonnet', messages: user(`pass ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const [e] = await upstream(tag);
  assert.equal(e.headers.authorization, `Bearer ${PUTER}`);
  assert.equal(e.key, PUTER);
  // the same token on a pool provider is not an access token: 401 there
  const r2 = await post({ model: 'oastd-x', messages: user(`pool ${tag}`) });
  assertOpenAIError(r2, 401, 'a non-access token on a pool provider');
  // a caller using the gateway's access token on Puter: that is its Puter token then
  const tag3 = `pt3-${rnd()}`;
  const r3 = await post({ model: 'gpt-4o-mini', messages: user(`gate ${tag3}`) }, { token: TOKEN });
  assert.equal(r3.status, 200, r3.body);
  const [e3] = await upstream(tag3);
  assert.equal(e3.headers.authorization, `Bearer ${TOKEN}`);
  // x-api-key works as well
  const tag4 = `pt4-${rnd()}`;
  const key4 = `puter-xk-${rnd()}`;
  const r4 = await curl(['-H', 'content-type: application/json', '-H', `x-api-key: ${key4}`,
    '--data-binary', JSON.stringify({ model: 'openrouter:x', messages: user(`xkey ${tag4}`) }), gw.url('/v1/chat/completions')]);
  assert.equal(r4.status, 200, r4.body);
  const [e4] = await upstream(tag4);
  assert.equal(e4.headers.authorization, `Bearer ${key4}`);
  // no token at all: the client's own 401, nothing sent upstream
  const tag5 = `pt5-${rnd()}`;
  const r5 = await curl(['-H', 'content-type: application/json',
    '--data-binary', JSON.stringify({ model: 'openrouter:x', messages: user(`none ${tag5}`) }), gw.url('/v1/chat/completions')]);
  assertOpenAIError(r5, 401, 'no token');
  assert.equal((await mock.record()).filter((e) => (e.body || '').includes(tag5)).length, 0);
});

test('the driver call: POST /drivers/call, interface puter-chat-completion, method complete, args.messages/model/stream and parameters', async () => {
  const tag = `call-${rnd()}`;
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `call ${tag}` }];
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  for (const stream of [false, true]) {
    const r = await post({ model: 'openrouter:openai/gpt-4o', stream, messages, max_tokens: 77, temperature: 0.3, tools });
    assert.equal(r.status, 200, r.body);
  }
  const reqs = await upstream(tag);
  assert.equal(reqs.length, 2);
  for (const [i, e] of reqs.entries()) {
    assert.equal(e.method, 'POST');
    assert.equal(e.path, '/drivers/call');
    const b = e.json;
    assert.equal(b.interface, 'puter-chat-completion');
    assert.equal(b.method, 'complete');
    assert.equal(b.driver, 'openrouter');
    assert.equal(b.args.model, 'openrouter:openai/gpt-4o');
    assert.equal(b.args.stream, i === 1);
    assert.deepEqual(b.args.messages, messages);
    assert.equal(b.args.max_tokens, 77);
    assert.equal(b.args.temperature, 0.3);
    assert.deepEqual(b.args.tools, tools);
  }
});

test('the driver follows the model id', async () => {
  const cases = {
    'openrouter:meta-llama/llama-3': 'openrouter', 'gpt-4o-mini': 'openai-completion', 'o3-mini': 'openai-completion',
    'claude-sonnet-4': 'claude', 'gemini-2.0-flash': 'gemini', 'grok-3': 'xai', 'mistral-large-latest': 'mistral',
    'deepseek-chat': 'deepseek', 'togetherai:meta/llama': 'together-ai', 'other-model': 'openrouter',
  };
  const tag = `drv-${rnd()}`;
  for (const model of Object.keys(cases)) {
    const r = await post({ model, messages: user(`driver ${model} ${tag}`) });
    assert.equal(r.status, 200, `${model}: ${r.body}`);
  }
  const reqs = await upstream(tag);
  const got = Object.fromEntries(reqs.map((e) => [e.json.args.model, e.json.driver]));
  assert.deepEqual(got, cases);
});

// ---- streams -----------------------------------------------------------------------------

test('stream (curl): NDJSON text lines become content chunks in exact OpenAI form, [DONE] last', async () => {
  const tag = `st-${rnd()}`;
  const r = await post({ model: 'openrouter:x', stream: true, messages: user(`stream ${tag}`) });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.match(r.body, /^(data: [^\n]+\n\n)+$/, JSON.stringify(r.body.slice(0, 300)));
  const s = checkChatStream(parseSSE(r.body));
  assert.equal(s.text, `mock: stream ${tag}`);
  assert.ok(s.pieces.length >= 2, 'one piece only');
});

test('stream (openai client) with include_usage: Puter\'s text, one id, stop, usage last', async () => {
  const tag = `stsdk-${rnd()}`;
  const stream = await sdk().chat.completions.create({
    model: 'openrouter:x', stream: true, stream_options: { include_usage: true }, messages: user(`sdk ${tag}`),
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), `mock: sdk ${tag}`);
  assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length, 1);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(Number.isInteger(last.usage.prompt_tokens) && Number.isInteger(last.usage.completion_tokens), JSON.stringify(last.usage));
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
});

test('stream: a reasoning line becomes delta.reasoning_content before the content', async () => {
  const tag = `reas-${rnd()}`;
  const r = await post({ model: 'openrouter:x~puter_reasoning=1', stream: true, messages: user(`reason ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const chunks = parseSSE(r.body).slice(0, -1).map((d) => JSON.parse(d));
  const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
  assert.equal(reasoning, 'Let me think about that.');
  const firstReasoning = chunks.findIndex((c) => c.choices[0]?.delta?.reasoning_content);
  const firstContent = chunks.findIndex((c) => c.choices[0]?.delta?.content);
  assert.ok(firstReasoning > 0 && firstReasoning < firstContent, 'reasoning after the content, or before the role chunk');
  assert.ok(!chunks.some((c) => (c.choices[0]?.delta?.content ?? '').includes('think')), 'reasoning leaked into content');
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), `mock: reason ${tag}`);
  assert.equal(parseSSE(r.body).at(-1), '[DONE]');

  const stream = await sdk().chat.completions.create({ model: 'openrouter:x~puter_reasoning=1', stream: true, messages: user(`reason sdk ${tag}`) });
  let rs = '';
  for await (const c of stream) rs += c.choices[0]?.delta?.reasoning_content ?? '';
  assert.equal(rs, 'Let me think about that.');
});

test('stream: a tool_use line becomes a tool-call delta and finish_reason tool_calls', async () => {
  const tag = `tool-${rnd()}`;
  const body = { model: 'openrouter:x~puter_tools=1', stream: true, messages: user(`tools ${tag}`) };
  const r = await post(body);
  assert.equal(r.status, 200, r.body);
  const ev = parseSSE(r.body);
  assert.equal(ev.at(-1), '[DONE]');
  const chunks = ev.slice(0, -1).map((d) => JSON.parse(d));
  const calls = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
  assert.ok(calls.length >= 1, 'no tool_calls delta');
  assert.equal(calls[0].index, 0);
  assert.equal(calls[0].id, 'toolu_mock1');
  assert.equal(calls[0].type, 'function');
  assert.equal(calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(calls.map((c) => c.function?.arguments ?? '').join('')), { city: 'Paris' });
  const fin = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(fin.length, 1);
  assert.equal(fin[0].choices[0].finish_reason, 'tool_calls');
  assert.equal(fin[0], chunks.at(-1));

  const stream = await sdk().chat.completions.create(body);
  const acc = { id: '', name: '', args: '' };
  let finish;
  for await (const c of stream) {
    for (const t of c.choices[0]?.delta?.tool_calls ?? []) {
      acc.id += t.id ?? '';
      acc.name += t.function?.name ?? '';
      acc.args += t.function?.arguments ?? '';
    }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.deepEqual({ ...acc, args: JSON.parse(acc.args) }, { id: 'toolu_mock1', name: 'get_weather', args: { city: 'Paris' } });
  assert.equal(finish, 'tool_calls');
});

for (const [name, opts] of [
  ['hex and blank lines', 'puter_noise=1'],
  ['a last line without newline', 'puter_nonl=1'],
  ['CRLF line ends', 'crlf=1'],
  ['all of these, split across reads', 'puter_noise=1,puter_nonl=1,crlf=1,split=1'],
]) {
  test(`stream with ${name}: the same answer, nothing extra`, async () => {
    const tag = `fr-${rnd()}`;
    const r = await post({ model: `openrouter:x~${opts}`, stream: true, messages: user(`framing ${tag}`) });
    assert.equal(r.status, 200, r.body);
    const s = checkChatStream(parseSSE(r.body));
    assert.equal(s.text, `mock: framing ${tag}`);
    const [e] = await upstream(tag);
    for (const kv of opts.split(',')) {
      const [k, v] = kv.split('=');
      assert.equal(e.scenario[k], v ?? '1', `the mock did not apply ${kv}`);
    }
  });
}

// ---- whole answers ------------------------------------------------------------------------------

test('non-stream, string content (curl and openai client): a chat.completion with Puter\'s usage', async () => {
  const tag = `ns-${rnd()}`;
  const messages = user(`whole answer please ${tag}`);
  const r = await post({ model: 'openrouter:x', messages });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  checkCompletion(r.json, `mock: whole answer please ${tag}`);
  // Puter's usage, not an estimate: the mock counts words, and one token per piece
  assert.equal(r.json.usage.prompt_tokens, words(messages));
  assert.equal(r.json.usage.completion_tokens, 8);
  const j = await sdk().chat.completions.create({ model: 'openrouter:x', messages: user(`sdk ${tag}`) });
  checkCompletion(j, `mock: sdk ${tag}`);
});

test('non-stream, array content: the text parts joined into one string', async () => {
  const tag = `arr-${rnd()}`;
  const messages = user(`parts ${tag}`);
  const r = await post({ model: 'claude-sonnet-4~puter_array=1', messages });
  assert.equal(r.status, 200, r.body);
  checkCompletion(r.json, `mock: parts ${tag}`);
  assert.equal(r.json.usage.prompt_tokens, words(messages));
  assert.equal(r.json.usage.completion_tokens, 8);
  const [e] = await upstream(tag);
  assert.equal(e.scenario.puter_array, '1');
  assert.equal(e.json.driver, 'claude');
});

// ---- errors -----------------------------------------------------------------------------------------------

const PUTER_200_MSG = 'Error 400 from delegate "openrouter": model not found';

test('{"success":false} with HTTP 200, non-stream: an HTTP error in OpenAI shape with Puter\'s message', async () => {
  const r = await post({ model: 'openrouter:x~fault=puter_200_error', messages: user(`e200 ${rnd()}`) });
  assertOpenAIError(r, 400);
  assert.equal(r.json.error.message, PUTER_200_MSG);
  assert.equal(r.json.error.code, 'error_400_from_delegate');
  await assert.rejects(
    sdk().chat.completions.create({ model: 'openrouter:x~fault=puter_200_error', messages: user('x') }),
    (e) => e instanceof OpenAI.BadRequestError && e.message.includes(PUTER_200_MSG),
  );
});

test('{"success":false} with HTTP 200, stream, before any text: an HTTP error, not a 200 stream', async () => {
  const r = await post({ model: 'openrouter:x~fault=puter_200_error', stream: true, messages: user(`e200s ${rnd()}`) });
  assertOpenAIError(r, 400);
  assert.equal(r.json.error.message, PUTER_200_MSG);
  await assert.rejects(
    sdk().chat.completions.create({ model: 'openrouter:x~fault=puter_200_error', stream: true, messages: user('x') }),
    (e) => e instanceof OpenAI.BadRequestError && e.message.includes(PUTER_200_MSG),
  );
});

test('{"success":false} in the middle of a stream: the text so far, an error event with Puter\'s message, [DONE]', async () => {
  const tag = `mid-${rnd()}`;
  const r = await post({ model: 'openrouter:x~fault=error_midstream,after=3', stream: true, messages: user(`mid ${tag}`) });
  assert.equal(r.status, 200, r.body);
  const ev = parseSSE(r.body);
  assert.equal(ev.at(-1), '[DONE]');
  const err = JSON.parse(ev.at(-2));
  assert.ok(isOpenAIError(err), ev.at(-2));
  assert.match(err.error.message, /stream interrupted/);
  const text = ev.slice(0, -2).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
  assert.ok(text.length > 0 && `mock: mid ${tag}`.startsWith(text) && text !== `mock: mid ${tag}`, JSON.stringify(text));
});

test('Puter\'s 401 token_auth_failed: the client gets 401 (its own token), stream or not', async () => {
  const bad = `puter-${rnd()}-fail401`;
  for (const stream of [false, true]) {
    const tag = `a401-${stream}-${rnd()}`;
    const r = await post({ model: 'openrouter:x', stream, messages: user(`auth ${tag}`) }, { token: bad });
    assertOpenAIError(r, 401, `stream=${stream}`);
    assert.equal(r.json.error.code, 'invalid_api_key');
    assert.match(r.json.error.message, /Authentication failed/);
    const reqs = await upstream(tag);
    assert.equal(reqs.length, 1, 'retried with the same (client) token');
    assert.equal(reqs[0].key, bad);
  }
  await assert.rejects(
    sdk(bad).chat.completions.create({ model: 'openrouter:x', stream: true, messages: user('x') }),
    (e) => e instanceof OpenAI.AuthenticationError,
  );
});

// ---- model list ---------------------------------------------------------------------------------------------

test('/v1/models: Puter\'s models from GET /puterai/chat/models, in OpenAI shape', async () => {
  const r = await request(gw.url('/v1/models'), { token: TOKEN, timeout: 30000 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data.map((m) => m.id), PUTER_MODELS);
  for (const m of r.json.data) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'puter');
    assert.ok(Number.isInteger(m.created));
  }
  const rec = await mock.record();
  assert.ok(rec.some((e) => e.method === 'GET' && e.path === '/puterai/chat/models'));
  const ids = [];
  for await (const m of sdk(TOKEN).models.list()) ids.push(m.id);
  assert.deepEqual(ids, PUTER_MODELS);
});

// ---- message modes ---------------------------------------------------------------------------------------------

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
const STANDARD = (tag) => [
  { role: 'system', content: 'Be brief.\n\nUse metric units.' },
  { role: 'user', content: 'First question' },
  { role: 'assistant', content: 'Answer one' },
  { role: 'user', content: '[tool result] 22C\n\n[tool result] sunny' },
  { role: 'assistant', content: 'It is 22C' },
  { role: 'user', content: [{ type: 'text', text: 'Part A' }, { type: 'text', text: `Part B ${tag}` }] },
];
const FULL = (tag) => [{
  role: 'user',
  content: [
    '[system] Be brief.', '[assistant] I speak first', '[user] First question', '[developer] Use metric units.',
    '[user] A second user message in a row', '[assistant] Answer one', '[assistant] Answer two', '[tool] 22C',
    '[tool] sunny', '[assistant] It is 22C', `[user] Part A\nPart B ${tag}`, '[assistant] trailing',
  ].join('\n\n'),
}];

test('message_mode standard on a puter provider: args.messages transformed', async () => {
  const tag = `pstd-${rnd()}`;
  const r = await post({ model: 'std:some-model', messages: CONVERSATION(tag) });
  assert.equal(r.status, 200, r.body);
  const [e] = await upstream(tag);
  assert.deepEqual(e.json.args.messages, STANDARD(tag));
  // the user message keeps its parts; the mock echoes them joined without a separator
  assert.equal(r.json.choices[0].message.content, `mock: Part APart B ${tag}`);
});

test('message_mode full on a puter provider: one user message of [role] content parts', async () => {
  const tag = `pfull-${rnd()}`;
  const r = await post({ model: 'full:some-model', stream: true, messages: CONVERSATION(tag) });
  assert.equal(r.status, 200, r.body);
  const [e] = await upstream(tag);
  assert.deepEqual(e.json.args.messages, FULL(tag));
  assert.equal(checkChatStream(parseSSE(r.body)).text, `mock: ${FULL(tag)[0].content}`);
});

for (const [mode, model, want] of [['standard', 'oastd-model', STANDARD], ['full', 'oafull-model', FULL]]) {
  test(`message_mode ${mode} on an openai-type provider: the mock gets the transformed messages, the rest of the body unchanged`, async () => {
    for (const stream of [false, true]) {
      const tag = `oa-${mode}-${stream}-${rnd()}`;
      const r = await post({ model, stream, temperature: 0.5, user: 'u1', messages: CONVERSATION(tag) }, { token: TOKEN });
      assert.equal(r.status, 200, r.body);
      const [e] = await upstream(tag);
      assert.deepEqual(e.json.messages, want(tag), `stream=${stream}`);
      assert.equal(e.json.model, model);
      assert.equal(e.json.temperature, 0.5);
      assert.equal(e.json.user, 'u1');
      assert.equal(e.json.stream, stream);
    }
  });
}

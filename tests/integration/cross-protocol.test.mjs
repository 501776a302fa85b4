// The cross-protocol matrix: each client protocol (OpenAI chat completions,
// Anthropic messages, Ollama's chat, OpenAI's Responses API) against each upstream protocol (openai, anthropic,
// poe, puter, echo), stream and not: text, tool calls (single, parallel,
// arguments streamed), reasoning, usage, stop reasons, and upstream errors
// before and after the first byte. Both protocols must tell the same answer;
// the Anthropic-to-anthropic relay passes the upstream's bytes untouched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, request, parseSSE } from './lib/harness.mjs';
import { mkKey, gatewayYaml, settledRequests, normalizeMock, keyRows, waitFor } from './lib/upstream.mjs';
import { checkMessageStream, userMessage } from './lib/anthropic.mjs';

const ADMIN = 'sk-admin-xp';
const K = { tok: [mkKey('xtok')], bad: [mkKey('xbad', 'fail401')], badrl: [mkKey('xbrl', 'fail429')], reset: [mkKey('xr', 'fail429-reset_requests=40')], after: [mkKey('xr2', 'fail429-retry_after=50')], oai: mkKey('xo'), anth: mkKey('xa'), poe: mkKey('xp'), oai2: [mkKey('xo2', 'fail500'), mkKey('xo2')], anth2: [mkKey('xa2', 'fail529'), mkKey('xa2')] };
let mock, gw;

before(async () => {
  mock = await startMock();
  const m = mock.base;
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: `timeouts: {ping: 0}\nadmin_token: ${ADMIN}\nkeys: {cooldown: 1s}`,
      providers: [
        { name: 'oai', base: `${m}/v1`, keys: [K.oai], models: ['gpt-*'], extra: { list_models: [] } },
        { name: 'anth', type: 'anthropic', base: m, keys: [K.anth], models: ['claude-*'], extra: { list_models: [] } },
        { name: 'poe', type: 'poe', base: m, keys: [K.poe], models: ['GPT*'], extra: { list_models: [] } },
        { name: 'puter', type: 'puter', base: m, models: ['openrouter:*'], extra: { auth: 'passthrough', list_models: [] } },
        { name: 'oai2', base: `${m}/v1`, keys: K.oai2, models: ['two-gpt-*'], extra: { list_models: [] } },
        { name: 'anth2', type: 'anthropic', base: `${m}/v1`, keys: K.anth2, models: ['two-claude-*'], extra: { list_models: [] } },
        { name: 'anthreset', type: 'anthropic', base: m, keys: K.reset, models: ['reset-*'], extra: { list_models: [] } },
        { name: 'anthafter', type: 'anthropic', base: m, keys: K.after, models: ['after-*'], extra: { list_models: [] } },
        { name: 'badkey', base: `${m}/v1`, keys: K.bad, models: ['bad-*'], extra: { list_models: [] } },
        { name: 'badrl', type: 'anthropic', base: m, keys: K.badrl, models: ['badrl-*'], extra: { list_models: [] } },
        { name: 'poeerr', type: 'poe', base: `${m}/s/fault=poe_error_before`, keys: [K.poe], models: ['PoeErr*'], extra: { list_models: [] } },
        { name: 'poeafter', type: 'poe', base: `${m}/s/fault=poe_error_after,after=2`, keys: [K.poe], models: ['PoeAfter*'], extra: { list_models: [] } },
        { name: 'anthtok', type: 'anthropic', base: m, keys: K.tok, models: ['tok-*'], extra: { list_models: [] } },
        { name: 'echo', type: 'echo', models: ['echo'] },
      ],
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const TOOLS_OAI = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
const TOOLS_ANT = [{ name: 'get_weather', input_schema: { type: 'object' } }];

// One request in the client's protocol; the answer normalised to
// {text, reasoning, tools: [{name, input}], stop, usage: {in, out}} or {status, error}.
async function ask(proto, model, { stream = false, content = 'Hi there', tools = false, headers = {} } = {}) {
  if (proto === 'openai') {
    const body = { model, stream, messages: [{ role: 'user', content }] };
    if (stream) body.stream_options = { include_usage: true };
    if (tools) body.tools = TOOLS_OAI;
    const r = await request(gw.url('/v1/chat/completions'), { method: 'POST', body, headers: { authorization: 'Bearer puter-token', ...headers } });
    if (r.status !== 200) return { status: r.status, json: r.json, text: r.text };
    if (!stream) {
      const msg = r.json.choices[0].message;
      return {
        status: 200, text: msg.content ?? '', reasoning: msg.reasoning_content ?? '',
        tools: (msg.tool_calls ?? []).map((c) => ({ name: c.function.name, input: JSON.parse(c.function.arguments || '{}') })),
        stop: r.json.choices[0].finish_reason, usage: { in: r.json.usage.prompt_tokens, out: r.json.usage.completion_tokens },
      };
    }
    const payloads = parseSSE(r.text);
    const errorEvent = payloads.map((p) => { try { return JSON.parse(p); } catch { return null; } }).find((j) => j?.error);
    if (errorEvent) return { status: 200, midstreamError: errorEvent.error, raw: r.text, done: payloads.at(-1) === '[DONE]' };
    assert.equal(payloads.at(-1), '[DONE]', r.text);
    const chunks = payloads.slice(0, -1).map((p) => JSON.parse(p));
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id per stream');
    assert.deepEqual(chunks.at(-1).choices, [], 'the usage chunk comes last');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    let text = '', reasoning = '', stop = null, usage = null;
    const calls = [];
    for (const c of chunks) {
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (!ch) continue;
      text += ch.delta.content ?? '';
      reasoning += ch.delta.reasoning_content ?? '';
      for (const tc of ch.delta.tool_calls ?? []) {
        calls[tc.index] ??= { name: '', args: '' };
        if (tc.function?.name) calls[tc.index].name = tc.function.name;
        calls[tc.index].args += tc.function?.arguments ?? '';
      }
      if (ch.finish_reason) stop = ch.finish_reason;
    }
    return { status: 200, text, reasoning, tools: calls.map((c) => ({ name: c.name, input: JSON.parse(c.args || '{}') })), stop, usage: { in: usage.prompt_tokens, out: usage.completion_tokens } };
  }
  if (proto === 'ollama') return askOllama(model, { stream, content, tools, headers });
  if (proto === 'responses') return askResponses(model, { stream, content, tools, headers });
  const body = { model, max_tokens: 256, stream, messages: userMessage(content) };
  if (tools) body.tools = TOOLS_ANT;
  const r = await request(gw.url('/v1/messages'), { method: 'POST', body, headers: { 'x-api-key': 'puter-token', 'anthropic-version': '2023-06-01', ...headers } });
  if (r.status !== 200) return { status: r.status, json: r.json, text: r.text, headers: r.headers };
  let msg;
  if (stream) {
    const { message, error } = checkMessageStream(r.text);
    if (error) return { status: 200, midstreamError: error, raw: r.text };
    msg = message;
  } else {
    msg = r.json;
  }
  const stops = { end_turn: 'stop', max_tokens: 'length', tool_use: 'tool_calls', stop_sequence: 'stop', refusal: 'content_filter' };
  return {
    status: 200, raw: r.text,
    text: msg.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
    reasoning: msg.content.filter((b) => b.type === 'thinking').map((b) => b.thinking).join(''),
    tools: msg.content.filter((b) => b.type === 'tool_use').map((b) => ({ name: b.name, input: b.input })),
    stop: stops[msg.stop_reason], usage: { in: msg.usage.input_tokens, out: msg.usage.output_tokens },
  };
}

// Ollama's /api/chat, normalised like the others (its done_reason says stop
// for tool calls; a tool call is then the stop reason the others give).
async function askOllama(model, { stream, content, tools, headers }) {
  const body = { model, stream, messages: [{ role: 'user', content }] };
  if (tools) body.tools = TOOLS_OAI;
  const r = await request(gw.url('/api/chat'), { method: 'POST', body, headers: { authorization: 'Bearer puter-token', ...headers } });
  if (r.status !== 200) return { status: r.status, json: r.json, text: r.text };
  const lines = stream ? r.text.trim().split('\n').map((l) => JSON.parse(l)) : [r.json];
  const err = lines.find((l) => l.error);
  if (err) return { status: 200, midstreamError: { message: err.error }, raw: r.text };
  const last = lines.at(-1);
  assert.equal(last.done, true, r.text);
  let text = '', reasoning = '';
  const calls = [];
  for (const l of lines) {
    text += l.message?.content ?? '';
    reasoning += l.message?.thinking ?? '';
    for (const c of l.message?.tool_calls ?? []) calls.push({ name: c.function.name, input: c.function.arguments });
  }
  const stop = last.done_reason === 'length' ? 'length' : calls.length ? 'tool_calls' : 'stop';
  return { status: 200, text, reasoning, tools: calls, stop, usage: { in: last.prompt_eval_count, out: last.eval_count } };
}

// OpenAI's Responses API, normalised like the others: every event named by
// its type, numbered from 0; the last one (response.completed or
// .incomplete) holds every item whole.
const TOOLS_RESP = [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }];
async function askResponses(model, { stream, content, tools, headers }) {
  const body = { model, stream, input: content };
  if (tools) body.tools = TOOLS_RESP;
  const r = await request(gw.url('/v1/responses'), { method: 'POST', body, headers: { authorization: 'Bearer puter-token', ...headers } });
  if (r.status !== 200) return { status: r.status, json: r.json, text: r.text };
  let resp = r.json;
  if (stream) {
    const events = r.text.split('\n\n').filter((b) => b.trim()).map((b) => {
      const data = JSON.parse(/^data: (.*)$/m.exec(b)[1]);
      assert.equal(/^event: (.*)$/m.exec(b)?.[1], data.type, b);
      return data;
    });
    const err = events.find((e) => e.type === 'error');
    if (err) return { status: 200, midstreamError: err, raw: r.text };
    events.forEach((e, i) => assert.equal(e.sequence_number, i, JSON.stringify(e)));
    resp = events.at(-1).response;
    assert.match(events.at(-1).type, /^response\.(completed|incomplete)$/);
  }
  const calls = resp.output.filter((o) => o.type === 'function_call').map((c) => ({ name: c.name, input: JSON.parse(c.arguments || '{}') }));
  return {
    status: 200,
    text: resp.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join(''),
    reasoning: resp.output.filter((o) => o.type === 'reasoning').flatMap((o) => o.summary).map((x) => x.text).join(''),
    tools: calls, stop: resp.status === 'incomplete' ? 'length' : calls.length ? 'tool_calls' : 'stop',
    usage: { in: resp.usage.input_tokens, out: resp.usage.output_tokens },
  };
}

const sameAnswer = (a, b, what) => {
  for (const k of ['text', 'reasoning', 'tools', 'stop']) assert.deepEqual(a[k], b[k], `${what}: ${k} differs\n${JSON.stringify(a)}\n${JSON.stringify(b)}`);
};

const EGRESS = [
  ['openai', (o) => `gpt-4o~${o}`],
  ['anthropic', (o) => `claude-x~${o}`],
];

for (const [egress, model] of EGRESS) {
  for (const stream of [false, true]) {
    const mode = stream ? 'stream' : 'non-stream';
    test(`${egress} upstream, ${mode}: text, usage and end_turn/stop agree across both client protocols`, async () => {
      const a = await ask('openai', model('chunks=4'), { stream });
      const b = await ask('anthropic', model('chunks=4'), { stream });
      const o = await ask('ollama', model('chunks=4'), { stream });
      sameAnswer(a, o, `${egress} ${mode} ollama`);
      assert.deepEqual(o.usage, a.usage);
      const r = await ask('responses', model('chunks=4'), { stream });
      sameAnswer(a, r, `${egress} ${mode} responses`);
      assert.deepEqual(r.usage, a.usage);
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.equal(b.status, 200, JSON.stringify(b));
      assert.ok(a.text.length > 0);
      sameAnswer(a, b, `${egress} ${mode}`);
      assert.equal(a.stop, 'stop');
      assert.ok(a.usage.out > 0 && b.usage.out > 0 && a.usage.in > 0 && b.usage.in > 0, JSON.stringify([a.usage, b.usage]));
      assert.deepEqual(a.usage, b.usage);
    });

    test(`${egress} upstream, ${mode}: parallel tool calls with streamed arguments, reasoning first`, async () => {
      const a = await ask('openai', model('chunks=2,tools=2,thinking=1'), { stream, tools: true });
      const b = await ask('anthropic', model('chunks=2,tools=2,thinking=1'), { stream, tools: true });
      sameAnswer(a, b, `${egress} ${mode} tools`);
      sameAnswer(a, await ask('ollama', model('chunks=2,tools=2,thinking=1'), { stream, tools: true }), `${egress} ${mode} ollama tools`);
      sameAnswer(a, await ask('responses', model('chunks=2,tools=2,thinking=1'), { stream, tools: true }), `${egress} ${mode} responses tools`);
      assert.equal(a.stop, 'tool_calls');
      assert.deepEqual(a.tools, [{ name: 'get_weather', input: { location: 'Paris', n: 0 } }, { name: 'get_weather', input: { location: 'Paris', n: 1 } }]);
      assert.equal(a.reasoning, 'Let me think about that.');
      if (stream) {
        // Anthropic's form: thinking, text, then one block per call, in order
        const { message } = checkMessageStream(b.raw);
        assert.deepEqual(message.content.map((x) => x.type), ['thinking', 'text', 'tool_use', 'tool_use']);
      }
    });

    test(`${egress} upstream, ${mode}: one tool call only, no text block`, async () => {
      const b = await ask('anthropic', model('chunks=0,tools=1'), { stream, tools: true });
      assert.equal(b.text, '');
      assert.deepEqual(b.tools, [{ name: 'get_weather', input: { location: 'Paris', n: 0 } }]);
      assert.equal(b.stop, 'tool_calls');
      const a = await ask('openai', model('chunks=0,tools=1'), { stream, tools: true });
      sameAnswer(a, b, `${egress} ${mode} one tool`);
    });

    test(`${egress} upstream, ${mode}: a length stop is max_tokens / length`, async () => {
      const a = await ask('openai', model('chunks=2,finish=length'), { stream });
      const b = await ask('anthropic', model('chunks=2,finish=length'), { stream });
      assert.equal((await ask('ollama', model('chunks=2,finish=length'), { stream })).stop, 'length');
      assert.equal((await ask('responses', model('chunks=2,finish=length'), { stream })).stop, 'length');
      assert.equal(a.stop, 'length');
      assert.equal(b.stop, 'length');
    });
  }

  test(`${egress} upstream: an error before the first byte takes the client's protocol's shape`, async () => {
    const a = await ask('openai', model('fault=400'), { stream: true });
    assert.equal(a.status, 400, a.text);
    assert.ok(a.json?.error?.message, a.text);
    const b = await ask('anthropic', model('fault=400'), { stream: true });
    assert.equal(b.status, 400, b.text);
    assert.equal(b.json.type, 'error', b.text);
    assert.equal(b.json.error.type, 'invalid_request_error', b.text);
    assert.ok(b.headers.get('request-id'));
    const o = await ask('ollama', model('fault=400'), { stream: true });
    assert.equal(o.status, 400, o.text);
    assert.equal(typeof o.json?.error, 'string', o.text);
    const r = await ask('responses', model('fault=400'), { stream: true });
    assert.equal(r.status, 400, r.text);
    assert.ok(r.json?.error?.message, r.text);
  });

  test(`${egress} upstream: an error after the first byte ends the stream with the client's protocol's error event`, async () => {
    const a = await ask('openai', model('chunks=4,fault=error_midstream,after=2'), { stream: true });
    assert.ok(a.midstreamError, JSON.stringify(a));
    assert.ok(a.midstreamError.message);
    assert.equal(a.done, true, 'the OpenAI stream ends with [DONE]');
    const b = await ask('anthropic', model('chunks=4,fault=error_midstream,after=2'), { stream: true });
    assert.ok(b.midstreamError, JSON.stringify(b));
    assert.ok(b.midstreamError.type && b.midstreamError.message, JSON.stringify(b.midstreamError));
    assert.doesNotMatch(b.raw, /\[DONE\]/);
    // (a success between: three failures in a row would rest the only key)
    assert.equal((await ask('openai', model('chunks=2'))).status, 200);
    const o = await ask('ollama', model('chunks=4,fault=error_midstream,after=2'), { stream: true });
    assert.ok(o.midstreamError?.message, JSON.stringify(o));
    assert.equal((await ask('openai', model('chunks=2'))).status, 200);
    const r = await ask('responses', model('chunks=4,fault=error_midstream,after=2'), { stream: true });
    assert.ok(r.midstreamError?.message, JSON.stringify(r));
  });
}

test('a failing key is retried on the next one, whatever the protocols (openai 500, anthropic 529)', async () => {
  for (const model of ['two-gpt-4o~chunks=2', 'two-claude-x~chunks=2']) {
    for (const proto of ['openai', 'anthropic']) {
      // two keys, the first always fails: each answer is still a success
      for (let i = 0; i < 3; i++) {
        const r = await ask(proto, model, { stream: i % 2 === 1 });
        assert.equal(r.status, 200, `${proto} → ${model}: ${JSON.stringify(r)}`);
        assert.ok(r.text.length > 0);
      }
    }
  }
});

test('poe and puter answer Anthropic clients too, stream and not', async () => {
  for (const model of ['GPT-4o', 'openrouter:some/model~chunks=3']) {
    for (const stream of [false, true]) {
      const a = await ask('openai', model, { stream });
      const b = await ask('anthropic', model, { stream });
      assert.equal(b.status, 200, JSON.stringify(b));
      assert.ok(b.text.length > 0);
      sameAnswer(a, b, `${model} ${stream}`);
      sameAnswer(a, await ask('ollama', model, { stream }), `${model} ${stream} ollama`);
      sameAnswer(a, await ask('responses', model, { stream }), `${model} ${stream} responses`);
    }
  }
});

test('echo: the same answer in both protocols, text and tool call', async () => {
  for (const stream of [false, true]) {
    sameAnswer(await ask('openai', 'echo', { stream, content: 'plain words' }), await ask('anthropic', 'echo', { stream, content: 'plain words' }), 'echo text');
    const a = await ask('openai', 'echo', { stream, tools: true, content: 'call get_weather {"location":"Rome"}' });
    const b = await ask('anthropic', 'echo', { stream, tools: true, content: 'call get_weather {"location":"Rome"}' });
    sameAnswer(a, b, 'echo tool');
    sameAnswer(a, await ask('ollama', 'echo', { stream, tools: true, content: 'call get_weather {"location":"Rome"}' }), 'echo tool ollama');
    sameAnswer(a, await ask('responses', 'echo', { stream, tools: true, content: 'call get_weather {"location":"Rome"}' }), 'echo tool responses');
    assert.deepEqual(b.tools, [{ name: 'get_weather', input: { location: 'Rome' } }]);
  }
});

test('Anthropic to anthropic is relayed as it is: the upstream\'s bytes, its headers forwarded', async () => {
  const tag = `relay-${Date.now()}`;
  for (const stream of [false, true]) {
    const body = { model: 'claude-x~chunks=3,thinking=1,tools=1', max_tokens: 64, stream, tools: TOOLS_ANT, messages: userMessage(`${tag} ${stream}`) };
    const r = await request(gw.url('/v1/messages'), {
      method: 'POST', body, headers: { 'x-api-key': 'whatever', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'beta-one,beta-two' },
    });
    assert.equal(r.status, 200, r.text);
    const [entry] = (await settledRequests(mock, `${tag} ${stream}`)).slice(-1);
    assert.equal(entry.path, '/v1/messages');
    assert.equal(entry.headers['x-api-key'], K.anth);
    assert.equal(entry.headers['anthropic-version'], '2023-06-01');
    assert.equal(entry.headers['anthropic-beta'], 'beta-one,beta-two');
    assert.equal(entry.body, JSON.stringify(body), 'the client\'s body goes upstream unchanged');
    const direct = await fetch(mock.url('/v1/messages'), {
      method: 'POST', body: entry.body, headers: { 'x-api-key': K.anth, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    });
    const mockIds = (t) => normalizeMock(t).replace(/(msg|toolu)_mock\d+/g, '$1_mockN');
    assert.equal(mockIds(r.text), mockIds(await direct.text()));
  }
});

test('count_tokens: relayed to an anthropic provider, estimated elsewhere', async () => {
  const body = { model: 'claude-x', messages: userMessage('one two three four five six') };
  const r = await request(gw.url('/v1/messages/count_tokens'), { method: 'POST', body, headers: { 'x-api-key': 'k' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.input_tokens, 6); // the mock counts words
  const rec = await mock.record();
  assert.ok(rec.some((e) => e.event === 'request' && e.path === '/v1/messages/count_tokens'));
  const e = await request(gw.url('/v1/messages/count_tokens'), { method: 'POST', body: { ...body, model: 'gpt-4o' } });
  assert.equal(e.status, 200, e.text);
  assert.ok(e.json.input_tokens >= 6, e.text);
});

test('/v1/chat/completions to an anthropic upstream sends Anthropic\'s request', async () => {
  const tag = `toanth-${Date.now()}`;
  const r = await request(gw.url('/v1/chat/completions'), {
    method: 'POST',
    body: {
      model: 'claude-x~chunks=2', max_tokens: 50, temperature: 0.5, stop: 'END', user: 'u-1', tools: TOOLS_OAI, tool_choice: 'required',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: tag },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'cold' },
      ],
    },
  });
  assert.equal(r.status, 200, r.text);
  const [entry] = await settledRequests(mock, tag);
  assert.equal(entry.path, '/v1/messages');
  assert.equal(entry.headers['x-api-key'], K.anth);
  assert.equal(entry.headers['anthropic-version'], '2023-06-01');
  const sent = JSON.parse(entry.body);
  assert.equal(sent.system, 'be brief');
  assert.equal(sent.max_tokens, 50);
  assert.deepEqual(sent.stop_sequences, ['END']);
  assert.deepEqual(sent.metadata, { user_id: 'u-1' });
  assert.deepEqual(sent.tool_choice, { type: 'any' });
  assert.deepEqual(sent.tools, [{ name: 'get_weather', input_schema: { type: 'object' } }]);
  assert.deepEqual(sent.messages, [
    { role: 'user', content: [{ type: 'text', text: tag }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Oslo' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'cold' }] },
  ]);
});

test('/v1/messages to an openai upstream sends the OpenAI request', async () => {
  const tag = `tooai-${Date.now()}`;
  const r = await request(gw.url('/v1/messages'), {
    method: 'POST',
    body: {
      model: 'gpt-4o~chunks=2', max_tokens: 77, stream: true, stop_sequences: ['X'], metadata: { user_id: 'u-2' },
      system: [{ type: 'text', text: 'sys one', cache_control: { type: 'ephemeral' } }],
      tools: TOOLS_ANT, tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
      thinking: { type: 'enabled', budget_tokens: 2048 },
      messages: [
        { role: 'user', content: [{ type: 'text', text: tag }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0K' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'checking' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Oslo' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'cold' }], is_error: true }, { type: 'text', text: 'and?' }] },
      ],
    },
  });
  assert.equal(r.status, 200, r.text);
  checkMessageStream(r.text);
  const [entry] = await settledRequests(mock, tag);
  assert.equal(entry.path, '/v1/chat/completions');
  assert.equal(entry.key, K.oai);
  const sent = JSON.parse(entry.body);
  assert.equal(sent.max_tokens, 77);
  assert.deepEqual(sent.stop, ['X']);
  assert.equal(sent.user, 'u-2');
  assert.equal(sent.reasoning_effort, 'low');
  assert.equal(sent.parallel_tool_calls, false);
  assert.deepEqual(sent.tool_choice, { type: 'function', function: { name: 'get_weather' } });
  assert.deepEqual(sent.stream_options, { include_usage: true });
  assert.deepEqual(sent.messages, [
    { role: 'system', content: 'sys one' },
    { role: 'user', content: [{ type: 'text', text: tag }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K' } }] },
    { role: 'assistant', content: 'checking', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'toolu_1', content: '[error] cold' },
    { role: 'user', content: [{ type: 'text', text: 'and?' }] },
  ]);
});

test('Anthropic\'s rate-limit signals rest the key: retry-after, else the anthropic-ratelimit-*-reset time', async () => {
  for (const [model, provider, least] of [['after-x', 'anthafter', 40000], ['reset-x', 'anthreset', 30000]]) {
    const r = await ask('anthropic', model);
    assert.equal(r.status, 429, JSON.stringify(r));
    assert.equal(r.json.error.type, 'rate_limit_error');
    assert.ok(Number(r.headers.get('retry-after')) >= least / 1000, r.headers.get('retry-after'));
    const [k] = await keyRows(gw, ADMIN, provider);
    assert.equal(k.state, 'cooling');
    // far more than the configured 1 s cooldown: the upstream's own hint
    assert.ok(k.cooldown_remaining_ms > least, JSON.stringify(k));
  }
});

test('an upstream error about the gateway\'s key never shows the key, translated or not', async () => {
  for (const proto of ['openai', 'anthropic']) {
    // (a refused key rests, so a second call finds every key resting: 429)
    for (const [model, key] of [['bad-gpt', K.bad[0]], ['badrl-x', K.badrl[0]]]) {
      const r = await ask(proto, model);
      assert.ok(r.status === 502 || r.status === 429, `${proto} ${model}: ${r.text}`);
      assert.ok(!r.text.includes(key) && !r.text.includes(key.slice(0, 12)), `${proto} ${model}: ${r.text}`);
    }
  }
});

test('puter: reasoning and a tool call reach both client protocols alike (the mock sends them in streams)', async () => {
  for (const stream of [true]) {
    const model = 'openrouter:some/model~chunks=2,puter_reasoning=1,puter_tools=1';
    const a = await ask('openai', model, { stream, tools: true });
    const b = await ask('anthropic', model, { stream, tools: true });
    assert.equal(b.status, 200, JSON.stringify(b));
    sameAnswer(a, b, `puter tools ${stream}`);
    assert.ok(b.reasoning.length > 0 && b.tools.length === 1 && b.stop === 'tool_calls', JSON.stringify(b));
  }
});

test('poe and puter errors before and after the first byte take the client\'s protocol\'s shape', async () => {
  for (const model of ['PoeErrBot', 'openrouter:x~fault=429']) {
    const b = await ask('anthropic', model, { stream: true });
    assert.ok(b.status >= 400, JSON.stringify(b));
    assert.equal(b.json?.type, 'error', b.text);
    const a = await ask('openai', model, { stream: true });
    assert.equal(a.status, b.status, a.text);
    assert.ok(a.json?.error?.message, a.text);
  }
  for (const model of ['PoeAfterBot', 'openrouter:x~chunks=4,fault=error_midstream,after=2']) {
    const b = await ask('anthropic', model, { stream: true });
    assert.ok(b.midstreamError?.message, JSON.stringify(b));
    const a = await ask('openai', model, { stream: true });
    assert.ok(a.midstreamError?.message, JSON.stringify(a));
    assert.equal(a.done, true);
  }
});

test('the Anthropic relay counts the upstream\'s tokens for the key, stream and not', async () => {
  let prompt = 0, completion = 0;
  for (const stream of [false, true]) {
    const b = await ask('anthropic', 'tok-x~chunks=3', { stream, content: 'count my five words' });
    assert.equal(b.status, 200, JSON.stringify(b));
    prompt += b.usage.in;
    completion += b.usage.out;
  }
  assert.ok(prompt > 0 && completion > 0);
  await waitFor(async () => {
    const [k] = await keyRows(gw, ADMIN, 'anthtok');
    return k.prompt_tokens === prompt && k.completion_tokens === completion ? k : null;
  }, { what: `key tokens ${prompt}/${completion}` });
});

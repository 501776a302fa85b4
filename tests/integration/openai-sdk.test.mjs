// The official `openai` npm client against llmgate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, echoConfig } from './lib/harness.mjs';

const TOKEN = 'sk-gate-sdk-9e1f';
let open, guarded;
before(async () => {
  open = await startGateway({ config: ({ port }) => echoConfig({ port, delay: '5ms' }) });
  guarded = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens: [${TOKEN}]\n` }) });
});
after(async () => {
  await open?.stop();
  await guarded?.stop();
});

// timeout: a ceiling that a slow (sanitizer, loaded) machine never reaches
const client = (gw, apiKey = 'x') => new OpenAI({ baseURL: gw.url('/v1'), apiKey, maxRetries: 0, timeout: 60000 });
const msgs = (content) => [{ role: 'system', content: 'ignored' }, { role: 'user', content }];

test('chat.completions.create (non-stream) returns the echoed text', async () => {
  const r = await client(open).chat.completions.create({ model: 'echo', messages: msgs('hello from the sdk') });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, 'hello from the sdk');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('withResponse exposes x-request-id', async () => {
  const { response } = await client(open).chat.completions.create({ model: 'echo', messages: msgs('rid') }).withResponse();
  assert.ok(response.headers.get('x-request-id'));
});

test('stream: true reconstructs the text and ends cleanly', async () => {
  const text = 'streamed through the official client, word by word';
  const stream = await client(open).chat.completions.create({ model: 'echo', messages: msgs(text), stream: true });
  let out = '', finish = null, n = 0, ids = new Set();
  for await (const chunk of stream) {
    n++;
    ids.add(chunk.id);
    const c = chunk.choices[0];
    if (c?.delta?.content) out += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
  }
  assert.equal(out, text);
  assert.equal(finish, 'stop');
  assert.ok(n >= text.split(' ').length + 2, `only ${n} chunks`);
  assert.equal(ids.size, 1);
});

test('stream_options.include_usage: the last chunk carries usage', async () => {
  const stream = await client(open).chat.completions.create({
    model: 'echo', messages: msgs('usage please'), stream: true, stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage && last.usage.completion_tokens > 0, JSON.stringify(last));
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
});

test('the SDK stream helper (chat.completions.stream) gets the final message', async () => {
  const runner = client(open).chat.completions.stream({ model: 'echo', messages: msgs('final content check') });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'final content check');
});

test('aborting a stream midway does not break the gateway', async () => {
  const c = client(open);
  const stream = await c.chat.completions.create({ model: 'echo', messages: msgs(Array(50).fill('w').join(' ')), stream: true });
  let n = 0;
  for await (const _ of stream) { if (++n === 3) break; } // break aborts the request
  const r = await c.chat.completions.create({ model: 'echo', messages: msgs('still fine') });
  assert.equal(r.choices[0].message.content, 'still fine');
});

test('a bad apiKey with tokens configured throws AuthenticationError (401)', async () => {
  await assert.rejects(
    client(guarded, 'sk-not-the-token').chat.completions.create({ model: 'echo', messages: msgs('x') }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    },
  );
  const ok = await client(guarded, TOKEN).chat.completions.create({ model: 'echo', messages: msgs('right key') });
  assert.equal(ok.choices[0].message.content, 'right key');
});

test('an unknown model throws NotFoundError (404, model_not_found)', async () => {
  await assert.rejects(
    client(open).chat.completions.create({ model: 'nope-model', messages: msgs('x') }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}`);
      assert.equal(err.code, 'model_not_found');
      return true;
    },
  );
});

test('a bad request throws BadRequestError (400)', async () => {
  await assert.rejects(
    client(open).chat.completions.create({ model: 'echo', messages: 'not an array' }),
    (err) => err instanceof OpenAI.BadRequestError && err.status === 400,
  );
});

// ---- echo understands tools (docs/providers/echo.md, "Tools") -------------------

const TOOLS = [{
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}];

test('echo answers `call NAME {json}` with that tool call, non-stream and stream (finalChatCompletion), and echoes the tool result after it', async () => {
  const ask = [{ role: 'user', content: 'call get_weather {"city": "Paris", "units": ["C"]}' }];
  const r = await client(open).chat.completions.create({ model: 'echo', messages: ask, tools: TOOLS });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(r.choices[0].message.content, null);
  const [call] = r.choices[0].message.tool_calls;
  assert.equal(r.choices[0].message.tool_calls.length, 1);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', units: ['C'] });
  assert.match(call.id, /^call_[0-9a-f]{24}$/);

  const final = await client(open).chat.completions.stream({ model: 'echo', messages: ask, tools: TOOLS }).finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.equal(final.choices[0].message.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(final.choices[0].message.tool_calls[0].function.arguments), { city: 'Paris', units: ['C'] });

  // the round trip: the tool's result goes back, echo answers with its text
  const turn2 = [...ask, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '22 C and sunny' }];
  const r2 = await client(open).chat.completions.create({ model: 'echo', messages: turn2, tools: TOOLS });
  assert.equal(r2.choices[0].finish_reason, 'stop');
  assert.equal(r2.choices[0].message.content, '22 C and sunny');
  let streamed = '';
  for await (const chunk of await client(open).chat.completions.create({ model: 'echo', messages: turn2, tools: TOOLS, stream: true }))
    streamed += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(streamed, '22 C and sunny');
});

test('echo: a `call` of a tool that is not offered, or with arguments that are not one JSON object, is echoed as text', async () => {
  for (const [content, tools] of [
    ['call get_weather {"city": "Paris"}', undefined],
    ['call get_time {"zone": "UTC"}', TOOLS],
    ['call get_weather {"city": "Paris"} and more', TOOLS],
    ['call get_weather [1, 2]', TOOLS],
    ['please call get_weather {"city": "Paris"}', TOOLS],
  ]) {
    const r = await client(open).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content }], ...(tools ? { tools } : {}) });
    assert.equal(r.choices[0].finish_reason, 'stop', content);
    assert.equal(r.choices[0].message.content, content);
  }
});

// The official `@anthropic-ai/sdk` client against llmgate's /v1/messages, on
// the echo model: create, stream (finalMessage equal to the whole answer),
// tool use and its round trip, count_tokens, errors in Anthropic's shape.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, echoConfig, request, rawExchange, parseHttpResponse } from './lib/harness.mjs';
import { checkMessageStream, userMessage } from './lib/anthropic.mjs';

const TOKEN = 'sk-gate-anth-5c2a';
let open, guarded;
before(async () => {
  open = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  guarded = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens: [${TOKEN}]\n` }) });
});
after(async () => {
  await open?.stop();
  await guarded?.stop();
});

// the SDK adds /v1 itself; timeout: a ceiling a loaded machine never reaches
const client = (gw, opts = {}) => new Anthropic({ baseURL: gw.url(''), apiKey: 'x', maxRetries: 0, timeout: 60000, ...opts });
const weather = [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }];

test('messages.create answers with a message in Anthropic\'s shape', async () => {
  const { data: m, response } = await client(open).messages.create({
    model: 'echo', max_tokens: 100, messages: userMessage('hello from the anthropic sdk'),
  }).withResponse();
  assert.match(m.id, /^msg_/);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, 'echo');
  assert.deepEqual(m.content, [{ type: 'text', text: 'hello from the anthropic sdk' }]);
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.stop_sequence, null);
  assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, JSON.stringify(m.usage));
  assert.ok(response.headers.get('request-id'));
  assert.equal(response.headers.get('request-id'), response.headers.get('x-request-id'));
});

test('messages.stream: finalMessage() equals the non-stream answer', async () => {
  const body = {
    model: 'echo', max_tokens: 100,
    system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
    messages: userMessage([{ type: 'text', text: 'streamed word by word through the sdk' }]),
  };
  const whole = await client(open).messages.create(body);
  const stream = client(open).messages.stream(body);
  const deltas = [];
  stream.on('text', (t) => deltas.push(t));
  const final = await stream.finalMessage();
  // the SDK adds fields of its own (parsed_output, ...) to a streamed message
  const fields = ({ type, role, model, content, stop_reason, stop_sequence, usage }) => ({ type, role, model, content, stop_reason, stop_sequence, usage });
  assert.deepEqual(fields(final), fields(whole));
  assert.ok(deltas.length >= 5, `only ${deltas.length} text deltas`);
  assert.equal(deltas.join(''), 'streamed word by word through the sdk');
});

test('the raw stream follows Anthropic\'s event grammar', async () => {
  const r = await request(open.url('/v1/messages'), {
    method: 'POST', body: { model: 'echo', max_tokens: 50, stream: true, messages: userMessage('one two three') },
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const { message, events } = checkMessageStream(r.text);
  assert.deepEqual(message.content, [{ type: 'text', text: 'one two three' }]);
  assert.equal(message.stop_reason, 'end_turn');
  assert.ok(events.some((e) => e.event === 'ping'));
  assert.ok(message.usage.output_tokens > 0);
});

test('tool use: `call NAME {json}` gives a tool_use block, streamed and not', async () => {
  const body = { model: 'echo', max_tokens: 100, tools: weather, messages: userMessage('call get_weather {"location":"Paris"}') };
  const m = await client(open).messages.create(body);
  assert.equal(m.stop_reason, 'tool_use');
  assert.equal(m.content.length, 1);
  assert.equal(m.content[0].type, 'tool_use');
  assert.equal(m.content[0].name, 'get_weather');
  assert.match(m.content[0].id, /^toolu_/);
  assert.deepEqual(m.content[0].input, { location: 'Paris' });
  const final = await client(open).messages.stream(body).finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  assert.deepEqual(final.content.map((b) => [b.type, b.name, b.input]), [['tool_use', 'get_weather', { location: 'Paris' }]]);
});

test('tool round trip: the tool_result reaches the model and comes back', async () => {
  const first = await client(open).messages.create({
    model: 'echo', max_tokens: 100, tools: weather, messages: userMessage('call get_weather {"location":"Oslo"}'),
  });
  const call = first.content[0];
  const second = await client(open).messages.create({
    model: 'echo', max_tokens: 100, tools: weather,
    messages: [
      ...userMessage('call get_weather {"location":"Oslo"}'),
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: [{ type: 'text', text: '-3C, snow' }] }] },
    ],
  });
  assert.equal(second.stop_reason, 'end_turn');
  assert.deepEqual(second.content, [{ type: 'text', text: '-3C, snow' }]);
});

test('count_tokens estimates for providers that cannot count', async () => {
  const r = await client(open).messages.countTokens({ model: 'echo', messages: userMessage('count these five words') });
  assert.ok(Number.isInteger(r.input_tokens) && r.input_tokens >= 4, JSON.stringify(r));
});

test('errors are Anthropic-shaped and map to the SDK\'s classes', async () => {
  const c = client(open);
  await assert.rejects(c.messages.create({ model: 'echo', messages: userMessage('x') }), (e) => {
    assert.ok(e instanceof Anthropic.BadRequestError, e.constructor.name);
    assert.equal(e.status, 400);
    assert.equal(e.error.type, 'error');
    assert.equal(e.error.error.type, 'invalid_request_error');
    assert.match(e.error.error.message, /max_tokens/);
    return true;
  });
  await assert.rejects(c.messages.create({ model: 'no-such-model', max_tokens: 5, messages: userMessage('x') }), (e) => {
    assert.ok(e instanceof Anthropic.NotFoundError, e.constructor.name);
    assert.equal(e.error.error.type, 'not_found_error');
    return true;
  });
  await assert.rejects(c.messages.create({ model: 'echo', max_tokens: 5, messages: [{ role: 'robot', content: 'x' }] }), (e) => {
    assert.equal(e.status, 400);
    assert.match(e.error.error.message, /messages\.0\.role/);
    return true;
  });
  // the server keeps serving
  const m = await c.messages.create({ model: 'echo', max_tokens: 5, messages: userMessage('still here') });
  assert.equal(m.content[0].text, 'still here');
});

test('access tokens: x-api-key and Authorization: Bearer both work; a bad key is a 401 authentication_error', async () => {
  const byKey = await client(guarded, { apiKey: TOKEN }).messages.create({ model: 'echo', max_tokens: 5, messages: userMessage('k') });
  assert.equal(byKey.content[0].text, 'k');
  const byBearer = await client(guarded, { apiKey: null, authToken: TOKEN }).messages.create({ model: 'echo', max_tokens: 5, messages: userMessage('b') });
  assert.equal(byBearer.content[0].text, 'b');
  await assert.rejects(client(guarded, { apiKey: 'sk-wrong' }).messages.create({ model: 'echo', max_tokens: 5, messages: userMessage('x') }), (e) => {
    assert.ok(e instanceof Anthropic.AuthenticationError, e.constructor.name);
    assert.equal(e.error.error.type, 'authentication_error');
    assert.doesNotMatch(JSON.stringify(e.error), /sk-wrong/);
    return true;
  });
});

test('a system message inside the conversation (as Claude Code sends) is accepted', async () => {
  const m = await client(open).messages.create({
    model: 'echo', max_tokens: 20,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hi there' }] }, { role: 'system', content: [{ type: 'text', text: '# Environment' }] }],
  });
  assert.equal(m.content[0].text, 'hi there');
});

test('refusals at the request head are Anthropic-shaped on /v1/messages, OpenAI-shaped elsewhere', async () => {
  // ambiguous framing (HTTP/1.1): refused before any handler runs
  const head = (path) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`;
  const a = parseHttpResponse((await rawExchange(open.port, head('/v1/messages?beta=true'))).text);
  assert.equal(a.status, 400);
  const ja = JSON.parse(a.body);
  assert.equal(ja.type, 'error');
  assert.equal(ja.error.type, 'invalid_request_error');
  assert.ok(a.headers['request-id']);
  const o = parseHttpResponse((await rawExchange(open.port, head('/v1/chat/completions'))).text);
  assert.equal(o.status, 400);
  assert.ok(JSON.parse(o.body).error.message);
  assert.equal(JSON.parse(o.body).type, undefined);
  // a large body without a valid token (access tokens set): 401 before the body is read
  const big = 'x'.repeat(200 * 1024);
  const r = await request(guarded.url('/v1/messages'), { method: 'POST', body: JSON.stringify({ model: 'echo', max_tokens: 5, pad: big, messages: [] }), headers: { 'content-type': 'application/json', 'x-api-key': 'sk-wrong' } });
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.type, 'error');
  assert.equal(r.json.error.type, 'authentication_error');
});

// OpenAI's Responses API (POST /v1/responses) with the official `openai`
// client, stateless, on echo and through an openai provider (the mock,
// translated to chat completions and back): text, streams and their event
// grammar, function calling and its round trip, reasoning, structured
// output, length stops, errors, and the stateful fields refused by name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startMock, request } from './lib/harness.mjs';
import { mkKey, gatewayYaml, settledRequests, scrape, metric } from './lib/upstream.mjs';
import { waitFor } from './lib/harness.mjs';

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: 'timeouts: {ping: 0}',
      providers: [
        { name: 'echo', type: 'echo', models: ['echo'] },
        // speaks the Responses API: /v1/responses is relayed as it is
        { name: 'oresp', base: `${mock.base}/v1`, keys: [mkKey('relay')], models: ['resp-*'],
          extra: { list_models: [], responses_api: true, model_map: { 'resp-alias': 'resp-real' } } },
        // its one key fails; the fallback speaks only chat completions
        { name: 'orbad', base: `${mock.base}/v1`, keys: [mkKey('bad', 'fail500')], models: ['rfb-*'],
          extra: { list_models: [], responses_api: true, fallback: ['oai'] } },
        { name: 'oai', base: `${mock.base}/v1`, keys: [mkKey('resp')], models: ['gpt-*'], extra: { list_models: [] } },
      ],
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

// the text of the message items (the SDK adds output_text to create()'s answer only)
const textOf = (r) => r.output.filter((o) => o.type === 'message').flatMap((o) => o.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');
const client = () => new OpenAI({ baseURL: gw.url('/v1'), apiKey: 'x', maxRetries: 0, timeout: 60000 });
const WEATHER = [{ type: 'function', name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } }];

// The raw stream: named events, type == event name, sequence numbers 0, 1, 2, ...
async function rawStream(body) {
  const r = await request(gw.url('/v1/responses'), { method: 'POST', body: { ...body, stream: true } });
  assert.equal(r.status, 200, r.text);
  const events = r.text.split(/\n\n/).filter((b) => b.trim()).map((b) => {
    const name = /^event: (.*)$/m.exec(b)?.[1];
    const data = JSON.parse(/^data: (.*)$/m.exec(b)[1]);
    assert.equal(data.type, name, b);
    return data;
  });
  events.forEach((e, i) => assert.equal(e.sequence_number, i, JSON.stringify(e)));
  return events;
}

test('responses.create on echo: a response object; output_text is the echoed text', async () => {
  const r = await client().responses.create({ model: 'echo', input: 'hello from the responses api' });
  assert.match(r.id, /^resp_/);
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, 'hello from the responses api');
  assert.equal(r.output[0].type, 'message');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
});

test('a stream: the SDK\'s finalResponse equals the whole answer; events in OpenAI\'s order', async () => {
  const input = [{ role: 'user', content: [{ type: 'input_text', text: 'streamed through the responses api' }] }];
  const whole = await client().responses.create({ model: 'echo', instructions: 'be brief', input });
  const stream = client().responses.stream({ model: 'echo', instructions: 'be brief', input });
  const deltas = [];
  stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
  const final = await stream.finalResponse();
  assert.equal(textOf(final), whole.output_text);
  assert.deepEqual(final.usage, whole.usage);
  assert.ok(deltas.length >= 4);
  const types = (await rawStream({ model: 'echo', input: 'a b' })).map((e) => e.type);
  assert.deepEqual(types, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed',
  ]);
});

test('function calling on echo, and the round trip with function_call_output', async () => {
  for (const stream of [false, true]) {
    const body = { model: 'echo', tools: WEATHER, input: 'call get_weather {"location":"Oslo"}' };
    const r = stream ? await client().responses.stream(body).finalResponse() : await client().responses.create(body);
    const call = r.output.find((o) => o.type === 'function_call');
    assert.ok(call, JSON.stringify(r.output));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { location: 'Oslo' });
    const second = await client().responses.create({
      model: 'echo', tools: WEATHER,
      input: [
        { role: 'user', content: 'call get_weather {"location":"Oslo"}' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '-3C, snow' },
      ],
    });
    assert.equal(second.output_text, '-3C, snow');
  }
});

test('the stateful fields are refused by name (400), never ignored', async () => {
  for (const [field, value] of [['previous_response_id', 'resp_1'], ['store', true], ['background', true], ['conversation', 'conv_1']]) {
    await assert.rejects(client().responses.create({ model: 'echo', input: 'x', [field]: value }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.param, field);
      return true;
    });
  }
  const ok = await client().responses.create({ model: 'echo', input: 'store false is fine', store: false });
  assert.equal(ok.output_text, 'store false is fine');
});

test('through an openai upstream: stream equals non-stream; the request went as chat completions', async () => {
  const tag = `resp-${Date.now()}`;
  const body = {
    model: 'gpt-4o~chunks=3', input: tag, instructions: 'sys', max_output_tokens: 50, temperature: 0.3, user: 'u-r',
    text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
  };
  const whole = await client().responses.create(body);
  const final = await client().responses.stream(body).finalResponse();
  assert.equal(textOf(final), whole.output_text);
  assert.match(whole.output_text, /^mock: /);
  const [entry] = await settledRequests(mock, tag);
  assert.equal(entry.path, '/v1/chat/completions');
  const sent = JSON.parse(entry.body);
  assert.deepEqual(sent.messages, [{ role: 'system', content: 'sys' }, { role: 'user', content: tag }]);
  assert.equal(sent.max_tokens, 50);
  assert.equal(sent.user, 'u-r');
  assert.deepEqual(sent.response_format, { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } });
});

test('through an openai upstream: parallel function calls with streamed arguments, reasoning as a reasoning item', async () => {
  const body = { model: 'gpt-4o~chunks=2,tools=2,thinking=1', tools: WEATHER, input: 'weather?' };
  for (const r of [await client().responses.create(body), await client().responses.stream(body).finalResponse()]) {
    assert.deepEqual(r.output.map((o) => o.type), ['reasoning', 'message', 'function_call', 'function_call']);
    assert.equal(r.output[0].summary[0].text, 'Let me think about that.');
    assert.deepEqual(r.output.filter((o) => o.type === 'function_call').map((o) => JSON.parse(o.arguments)),
      [{ location: 'Paris', n: 0 }, { location: 'Paris', n: 1 }]);
  }
  const events = await rawStream(body);
  assert.ok(events.filter((e) => e.type === 'response.function_call_arguments.delta').length >= 6);
});

test('through an openai upstream: a length stop is status incomplete (max_output_tokens)', async () => {
  const body = { model: 'gpt-4o~chunks=2,finish=length', input: 'long' };
  const r = await client().responses.create(body);
  assert.equal(r.status, 'incomplete');
  assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  const events = await rawStream(body);
  assert.equal(events.at(-1).type, 'response.incomplete');
});

test('errors: before the first byte an OpenAI error; after it an error event then response.failed, numbered on', async () => {
  await assert.rejects(client().responses.create({ model: 'gpt-4o~fault=400', input: 'x' }), (e) => e.status === 400);
  await assert.rejects(client().responses.create({ model: 'nope', input: 'x' }), (e) => e.status === 404);
  const events = await rawStream({ model: 'gpt-4o~chunks=4,fault=error_midstream,after=2', input: 'x' });
  const [err, failed] = events.slice(-2);
  assert.equal(err.type, 'error');
  assert.ok(err.message);
  assert.equal(failed.type, 'response.failed');
  assert.equal(failed.response.status, 'failed');
  assert.equal(failed.response.error.message, err.message);
  assert.ok(failed.response.output.some((o) => o.type === 'message'), 'the items so far');
  const seen = [];
  for await (const e of await client().responses.create({ model: 'gpt-4o~chunks=4,fault=error_midstream,after=2', input: 'x', stream: true })) seen.push(e.type);
  assert.deepEqual(seen.slice(-2), ['error', 'response.failed'], 'the SDK reads the failure');
});

// Tool types other than function, for upstreams that speak only chat
// completions: a custom tool is a function of one string (`input`), and
// local_shell a function `local_shell` of an argv; their calls come back as
// custom_tool_call and local_shell_call items, and those items (with their
// outputs) go upstream as the tool calls and tool messages they stand for.
const CUSTOM = [{ type: 'custom', name: 'run_sql', description: 'runs SQL', format: { type: 'grammar', syntax: 'lark', definition: 'start: "SELECT" /.+/' } }];

test('a custom tool through an openai upstream: a custom_tool_call, streamed and whole; its output goes back', async () => {
  const input = encodeURIComponent(JSON.stringify({ input: 'SELECT 1' }));
  const model = `gpt-4o~tools=1,tool_name=run_sql,tool_input=${input}`;
  const whole = await client().responses.create({ model, input: 'count', tools: CUSTOM });
  const call = whole.output.find((o) => o.type === 'custom_tool_call');
  assert.ok(call, JSON.stringify(whole.output));
  assert.equal(call.name, 'run_sql');
  assert.equal(call.input, 'SELECT 1');
  const events = await rawStream({ model, input: 'count', tools: CUSTOM });
  const types = events.map((e) => e.type);
  assert.ok(!types.includes('response.function_call_arguments.delta'), types.join());
  const done = events.find((e) => e.type === 'response.custom_tool_call_input.done');
  assert.equal(done.input, 'SELECT 1');
  assert.equal(events.find((e) => e.type === 'response.output_item.done' && e.item.type !== 'message').item.type, 'custom_tool_call');
  assert.deepEqual(events.at(-1).response.output.filter((o) => o.type !== 'message').map((o) => [o.type, o.input]), [['custom_tool_call', 'SELECT 1']]);

  const tag = `custom-${Date.now()}`;
  const back = await client().responses.create({
    model: 'gpt-4o~tools=1', tools: CUSTOM,
    input: [{ role: 'user', content: tag }, call, { type: 'custom_tool_call_output', call_id: call.call_id, output: '1 row' }],
  });
  assert.equal(back.output_text, 'tool said: 1 row');
  const [sent] = await settledRequests(mock, tag);
  const body = JSON.parse(sent.body);
  const fn = body.tools[0].function;
  assert.equal(fn.name, 'run_sql');
  assert.deepEqual(fn.parameters.required, ['input']);
  assert.match(fn.parameters.properties.input.description, /lark grammar:\nstart: "SELECT"/);
  assert.deepEqual(JSON.parse(body.messages[1].tool_calls[0].function.arguments), { input: 'SELECT 1' });
  assert.deepEqual(body.messages[2], { role: 'tool', tool_call_id: call.call_id, content: '1 row' });
});

test('local_shell on echo: a local_shell_call with an exec action; the call and its output go back', async () => {
  const r = await client().responses.create({
    model: 'echo', tools: [{ type: 'local_shell' }],
    input: 'call local_shell {"command":["ls","-l"],"workdir":"/tmp","timeout_ms":5000}',
  });
  const [call] = r.output;
  assert.equal(call.type, 'local_shell_call', JSON.stringify(r.output));
  assert.deepEqual(call.action, { type: 'exec', command: ['ls', '-l'], working_directory: '/tmp', timeout_ms: 5000, env: {}, user: null });
  const back = await client().responses.create({
    model: 'echo', tools: [{ type: 'local_shell' }],
    input: [{ role: 'user', content: 'list' }, call, { type: 'local_shell_call_output', id: call.call_id, output: 'total 0' }],
  });
  assert.equal(back.output_text, 'total 0', 'echo answers the tool output: it reached the model');
});

// ---- relayed to an upstream that speaks the Responses API (responses_api: true)

test('relayed: the client\'s bytes reach /v1/responses upstream; the answer comes back as it was sent', async () => {
  const tag = `relay-${Date.now()}`;
  const body = JSON.stringify({ model: 'resp-a~chunks=3', input: [{ role: 'user', content: tag }], tools: CUSTOM, metadata: { k: 'v' } });
  const r = await request(gw.url('/v1/responses'), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'response');
  assert.equal(textOf(r.json), `mock: ${tag}`);
  const [sent] = await settledRequests(mock, tag);
  assert.equal(sent.path, '/v1/responses');
  assert.equal(sent.body, body, 'relayed byte for byte (a custom tool and metadata included)');
  const direct = await request(`${mock.base}/v1/responses`, { method: 'POST', body: sent.body, headers: { authorization: `Bearer ${sent.headers?.authorization ?? 'x'}` } });
  assert.deepEqual(Object.keys(r.json).sort(), Object.keys(direct.json).sort(), 'the upstream\'s own response object');
});

test('relayed: a whole response\'s usage is counted for the key', async () => {
  const before = await scrape(gw);
  const r = await client().responses.create({ model: 'resp-usage~chunks=5', input: 'count my tokens' });
  const grown = (m, kind) => metric(m, 'llmgate_tokens_total', { provider: 'oresp', kind }) - metric(before, 'llmgate_tokens_total', { provider: 'oresp', kind });
  const want = { prompt: r.usage.input_tokens, completion: r.usage.output_tokens };
  assert.ok(want.prompt > 0 && want.completion > 0, JSON.stringify(r.usage));
  const m = await waitFor(async () => {
    const x = await scrape(gw);
    return grown(x, 'prompt') >= want.prompt && grown(x, 'completion') >= want.completion ? x : null;
  }, { timeout: 30000, what: 'the token counters to grow by the upstream\'s usage' });
  assert.equal(grown(m, 'prompt'), want.prompt);
  assert.equal(grown(m, 'completion'), want.completion);
});

test('relayed: model_map renames the model and nothing else', async () => {
  const tag = `relay-map-${Date.now()}`;
  const r = await client().responses.create({ model: 'resp-alias', input: tag });
  assert.equal(r.output_text, `mock: ${tag}`);
  const [sent] = await settledRequests(mock, tag);
  assert.deepEqual(JSON.parse(sent.body), { model: 'resp-real', input: tag });
});

test('relayed: a stream with a custom tool call and reasoning; the SDK reads it; usage is counted', async () => {
  const tag = `relay-stream-${Date.now()}`;
  const before = await scrape(gw);
  const model = `resp-b~chunks=4,thinking=1,tools=1,tool_name=run_sql,tool_text=${encodeURIComponent('SELECT 2')}`;
  const stream = client().responses.stream({ model, input: tag, tools: CUSTOM });
  const final = await stream.finalResponse();
  assert.deepEqual(final.output.map((o) => o.type), ['reasoning', 'message', 'custom_tool_call']);
  assert.equal(final.output[2].input, 'SELECT 2');
  const events = await rawStream({ model, input: tag, tools: CUSTOM });
  assert.ok(events.some((e) => e.type === 'response.custom_tool_call_input.delta'), 'the upstream\'s own events');
  assert.equal(events.at(-1).type, 'response.completed');
  const { input_tokens, output_tokens } = events.at(-1).response.usage;
  const grown = (m, kind) => metric(m, 'llmgate_tokens_total', { provider: 'oresp', kind }) - metric(before, 'llmgate_tokens_total', { provider: 'oresp', kind });
  // both requests: the same answer, so twice the upstream's usage
  await waitFor(async () => {
    const m = await scrape(gw);
    return grown(m, 'prompt') >= 2 * input_tokens && grown(m, 'completion') >= 2 * output_tokens ? m : null;
  }, { timeout: 30000, what: 'the token counters to grow by the upstream\'s usage' });
  const m = await scrape(gw);
  assert.equal(grown(m, 'prompt'), 2 * input_tokens);
  assert.equal(grown(m, 'completion'), 2 * output_tokens);
});

test('relayed: the upstream\'s own failure events end the stream as they are; a cut stream gets an error event', async () => {
  const failed = await rawStream({ model: 'resp-c~chunks=4,fault=error_midstream,after=2', input: 'x' });
  assert.deepEqual(failed.slice(-2).map((e) => e.type), ['error', 'response.failed'], 'nothing added after the upstream\'s own end');
  const cut = await request(gw.url('/v1/responses'), { method: 'POST', body: { model: 'resp-c~chunks=4,fault=truncate,after=2', input: 'x', stream: true } });
  assert.equal(cut.status, 200);
  const last = cut.text.trim().split(/\n\n/).at(-1);
  assert.match(last, /^event: error\ndata: /);
  assert.equal(JSON.parse(/^data: (.*)$/m.exec(last)[1]).code, 'upstream_truncated');
  // an upstream error before the answer reaches the client as OpenAI's error
  const bad = await request(gw.url('/v1/responses'), { method: 'POST', body: { model: 'resp-c~fault=http,status=400', input: 'x' } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(typeof bad.json.error.message, 'string');
});

test('relayed: when the Responses upstream fails, the fallback (chat completions only) gets the translated request', async () => {
  const tag = `relay-fb-${Date.now()}`;
  const r = await client().responses.create({ model: 'rfb-x', input: tag });
  assert.equal(r.output_text, `mock: ${tag}`);
  const reqs = await settledRequests(mock, tag);
  assert.deepEqual(reqs.map((e) => e.path), ['/v1/responses', '/v1/chat/completions']);
});

test('a message item in a role the Responses API has not (tool) is a 400 naming the item', async () => {
  const r = await request(gw.url('/v1/responses'), { method: 'POST', body: { model: 'echo', input: [{ role: 'tool', content: 'x' }] } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.param, 'input[0]');
});

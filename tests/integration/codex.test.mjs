// Codex CLI itself (`@openai/codex`, pinned) through llmgate's Responses API,
// offline: `codex exec` against the echo model, against an openai provider
// that speaks only chat completions (the mock: the Responses request is
// translated) and against one that speaks the Responses API (the mock again:
// relayed), each with one turn, a tool round trip in which Codex runs a shell
// command (its exec_command tool) and the output reaches the model, and one
// in which it applies a patch through its custom apply_patch tool.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, startMock, runProcess, tmpDir } from './lib/harness.mjs';
import { mkKey, gatewayYaml, settledRequests } from './lib/upstream.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CODEX = path.join(here, 'node_modules', '.bin', 'codex');
const TOKEN = 'sk-gate-codex-4b2e';
let mock, gw;

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: `access_tokens: [${TOKEN}]\ntimeouts: {ping: 0}`,
      providers: [
        { name: 'echo', type: 'echo', models: ['echo', 'gpt-5.5-echo'] },
        // speaks the Responses API: Codex's requests are relayed as they are
        { name: 'oresp', base: `${mock.base}/v1`, keys: [mkKey('codexr')], models: ['resp-*', 'gpt-5.5-resp*'],
          extra: { list_models: [], responses_api: true } },
        { name: 'oai', base: `${mock.base}/v1`, keys: [mkKey('codex')], models: ['gpt-*'], extra: { list_models: [] } },
      ],
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

// One `codex exec --json` run in scratch dirs, offline (no update check,
// analytics or plugins), no retries, no sandbox (nothing depends on user
// namespaces). Returns the JSONL events and the final agent message.
// `inspect(cwd)` runs before the scratch dirs go.
async function codex(prompt, model, inspect) {
  const scratch = tmpDir('llmgate-codex-');
  const home = path.join(scratch, 'codex-home');
  for (const d of [home, path.join(scratch, 'home'), path.join(scratch, 'cwd')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(home, 'config.toml'), [
    `model = ${JSON.stringify(model)}`,
    'model_provider = "llmgate"',
    'check_for_update_on_startup = false',
    '[analytics]', 'enabled = false',
    '[features]', 'plugins = false',
    '[model_providers.llmgate]', 'name = "llmgate"', `base_url = ${JSON.stringify(gw.url('/v1'))}`,
    'env_key = "LLMGATE_API_KEY"', 'wire_api = "responses"', 'request_max_retries = 0', 'stream_max_retries = 0', '',
  ].join('\n'));
  const env = { PATH: process.env.PATH, HOME: path.join(scratch, 'home'), CODEX_HOME: home, LLMGATE_API_KEY: TOKEN };
  const r = await runProcess(CODEX, ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '--ephemeral', '--json', prompt],
    { env, cwd: path.join(scratch, 'cwd'), timeout: 120000 });
  const seen = inspect?.(path.join(scratch, 'cwd'));
  fs.rmSync(scratch, { recursive: true, force: true });
  const events = r.stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l));
  const messages = events.filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message').map((e) => e.item.text);
  return { ...r, seen, events, message: messages.at(-1), failed: events.some((e) => e.type === 'turn.failed') };
}

const BASH = `tools=1,tool_name=exec_command,tool_input=${encodeURIComponent(JSON.stringify({ cmd: 'echo hi-from-tool' }))}`;

test('codex exec on echo: one turn, the prompt comes back', async () => {
  const r = await codex('hello from codex', 'echo');
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.equal(r.message, 'hello from codex');
  assert.equal(r.code, 0);
});

test('codex exec on echo: Codex runs a shell command and its output reaches the model', async () => {
  const r = await codex('call exec_command {"cmd":"echo hi-from-tool"}', 'echo');
  assert.equal(r.failed, false, r.stdout + r.stderr);
  const ran = r.events.find((e) => e.type === 'item.completed' && e.item?.type === 'command_execution');
  assert.ok(ran, r.stdout);
  assert.match(ran.item.aggregated_output, /hi-from-tool/);
  // echo answers the tool's output: it reached the model
  assert.match(r.message, /hi-from-tool/);
});

test('codex exec through an openai provider (the mock, chat completions): one turn', async () => {
  const tag = `codex-${Date.now()}`;
  const r = await codex(tag, 'gpt-4o~chunks=3');
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.match(r.message, /^mock: /);
  const [entry] = await settledRequests(mock, tag);
  assert.equal(entry.path, '/v1/chat/completions');
  const sent = JSON.parse(entry.body);
  assert.ok(sent.tools.some((t) => t.function?.name === 'exec_command'), 'Codex\'s tools reach the upstream as functions');
});

test('codex exec through an openai provider (the mock): a tool round trip', async () => {
  const tag = `codex-tool-${Date.now()}`;
  const r = await codex(tag, `gpt-4o~chunks=2,${BASH}`);
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.ok(r.events.some((e) => e.type === 'item.completed' && e.item?.type === 'command_execution'), r.stdout);
  // the mock answers a tool result with "tool said: <its text>"
  assert.match(r.message, /^tool said: [\s\S]*hi-from-tool/);
  const reqs = await settledRequests(mock, tag);
  assert.equal(reqs.length, 2, 'one request per model call');
  const last = JSON.parse(reqs[1].body).messages.at(-1);
  assert.equal(last.role, 'tool');
  assert.match(last.content, /hi-from-tool/);
});

// Codex's model catalog gives gpt-5.5 its apply_patch as a custom tool (free
// text in a Lark grammar). A chat upstream gets it as a function taking one
// string, `input`; its call comes back to Codex as a custom_tool_call.
const PATCH = '*** Begin Patch\n*** Add File: hello.txt\n+hello from llmgate\n*** End Patch\n';
const readHello = (cwd) => fs.existsSync(path.join(cwd, 'hello.txt')) ? fs.readFileSync(path.join(cwd, 'hello.txt'), 'utf8') : null;

test('codex exec on echo (gpt-5.5): Codex applies a patch through its custom apply_patch tool', async () => {
  const r = await codex(`call apply_patch ${JSON.stringify({ input: PATCH })}`, 'gpt-5.5-echo', readHello);
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.equal(r.seen, 'hello from llmgate\n', 'the patch was applied: ' + r.stdout);
  assert.ok(r.events.some((e) => e.type === 'item.completed' && e.item?.type === 'file_change'), r.stdout);
  // echo answers the tool's output: Codex's report of the patch reached the model
  assert.match(r.message, /hello\.txt/);
});

test('codex exec through an openai provider (the mock, chat completions): apply_patch as a function and back', async () => {
  const tag = `codex-patch-${Date.now()}`;
  const input = encodeURIComponent(JSON.stringify({ input: PATCH }));
  const r = await codex(tag, `gpt-5.5~chunks=2,tools=1,tool_name=apply_patch,tool_input=${input}`, readHello);
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.equal(r.seen, 'hello from llmgate\n', 'the patch was applied: ' + r.stdout);
  assert.match(r.message, /^tool said: [\s\S]*hello\.txt/);
  const reqs = await settledRequests(mock, tag);
  assert.equal(reqs.length, 2, 'one request per model call');
  const first = JSON.parse(reqs[0].body);
  const fn = first.tools.find((t) => t.function?.name === 'apply_patch');
  assert.ok(fn, 'apply_patch reaches the chat upstream as a function');
  assert.deepEqual(fn.function.parameters.required, ['input']);
  assert.match(fn.function.parameters.properties.input.description, /Begin Patch/, 'the grammar is in the description');
  const msgs = JSON.parse(reqs[1].body).messages;
  const call = msgs.findLast((m) => m.tool_calls)?.tool_calls[0];
  assert.equal(call.function.name, 'apply_patch');
  assert.equal(JSON.parse(call.function.arguments).input, PATCH, 'the custom call goes back as the function call it was');
  assert.equal(msgs.at(-1).role, 'tool');
  assert.match(msgs.at(-1).content, /hello\.txt/);
});

// ---- an upstream that speaks the Responses API: relayed as it is

test('codex exec through a Responses upstream (relayed): one turn', async () => {
  const tag = `codex-relay-${Date.now()}`;
  const r = await codex(tag, 'resp-codex~chunks=3');
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.match(r.message, /^mock: /);
  const [entry] = await settledRequests(mock, tag);
  assert.equal(entry.path, '/v1/responses');
  const sent = JSON.parse(entry.body);
  assert.ok(sent.tools.some((t) => t.type === 'namespace'), 'Codex\'s tools reach the upstream as Codex sent them');
});

test('codex exec through a Responses upstream (relayed): a shell tool round trip', async () => {
  const tag = `codex-relay-tool-${Date.now()}`;
  const r = await codex(tag, `resp-codex~chunks=2,${BASH}`);
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.ok(r.events.some((e) => e.type === 'item.completed' && e.item?.type === 'command_execution'), r.stdout);
  assert.match(r.message, /^tool said: [\s\S]*hi-from-tool/);
  const reqs = await settledRequests(mock, tag);
  assert.equal(reqs.length, 2, 'one request per model call');
  const last = JSON.parse(reqs[1].body).input.at(-1);
  assert.equal(last.type, 'function_call_output');
  assert.match(JSON.stringify(last.output), /hi-from-tool/);
});

test('codex exec through a Responses upstream (relayed): apply_patch stays a custom tool both ways', async () => {
  const tag = `codex-relay-patch-${Date.now()}`;
  const r = await codex(tag, `gpt-5.5-resp~chunks=2,tools=1,tool_name=apply_patch,tool_text=${encodeURIComponent(PATCH)}`, readHello);
  assert.equal(r.failed, false, r.stdout + r.stderr);
  assert.equal(r.seen, 'hello from llmgate\n', 'the patch was applied: ' + r.stdout);
  assert.match(r.message, /^tool said: [\s\S]*hello\.txt/);
  const reqs = await settledRequests(mock, tag);
  assert.equal(reqs.length, 2, 'one request per model call');
  assert.ok(JSON.parse(reqs[0].body).tools.some((t) => t.type === 'custom' && t.name === 'apply_patch'));
  const input = JSON.parse(reqs[1].body).input;
  assert.equal(input.at(-1).type, 'custom_tool_call_output');
  assert.equal(input.findLast((i) => i.type === 'custom_tool_call')?.input, PATCH);
});

// Claude Code itself (`@anthropic-ai/claude-code`, pinned in package-lock.json)
// through llmgate, offline: `claude -p` against the echo model, against an
// `openai` provider (translated) and an `anthropic` provider (relayed), both
// the mock; each with one turn, and a tool round trip in which the agent
// really runs a tool (Bash `echo`) and the result reaches the model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, startMock, runProcess, tmpDir } from './lib/harness.mjs';
import { mkKey, gatewayYaml, settledRequests } from './lib/upstream.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLAUDE = path.join(here, 'node_modules', '.bin', 'claude');
const TOKEN = 'sk-gate-claude-7d1e';
const K = { oai: mkKey('cco'), anth: mkKey('cca') };
let mock, gw;

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: `access_tokens: [${TOKEN}]\ntimeouts: {ping: 0}`,
      providers: [
        { name: 'echo', type: 'echo', models: ['echo'] },
        { name: 'oai', base: `${mock.base}/v1`, keys: [K.oai], models: ['gpt-*'], extra: { list_models: [] } },
        { name: 'anth', type: 'anthropic', base: mock.base, keys: [K.anth], models: ['claude-*'], extra: { list_models: [] } },
      ],
    }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

// One `claude -p` run with a scratch HOME, TMPDIR and working directory,
// offline (no telemetry, updates or other traffic), no retries (a 5xx would
// otherwise be retried for minutes). Returns the parsed --output-format json.
async function claude(prompt, model, extraArgs = []) {
  const scratch = tmpDir('llmgate-claude-');
  for (const d of ['home', 'tmp', 'cwd']) fs.mkdirSync(path.join(scratch, d));
  const env = {
    PATH: process.env.PATH, HOME: path.join(scratch, 'home'), TMPDIR: path.join(scratch, 'tmp'),
    ANTHROPIC_BASE_URL: gw.url(''), ANTHROPIC_API_KEY: TOKEN,
    DISABLE_TELEMETRY: '1', DISABLE_ERROR_REPORTING: '1', DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', CLAUDE_CODE_MAX_RETRIES: '0',
  };
  const r = await runProcess(CLAUDE, ['-p', prompt, '--model', model, '--output-format', 'json', '--no-session-persistence', ...extraArgs],
    { env, cwd: path.join(scratch, 'cwd'), timeout: 120000 });
  let out;
  try { out = JSON.parse(r.stdout); } catch { assert.fail(`claude printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`); }
  fs.rmSync(scratch, { recursive: true, force: true });
  return { ...r, out };
}

test('claude -p on echo: one turn, the prompt comes back', async () => {
  const r = await claude('hello from claude code', 'echo', ['--bare']);
  assert.equal(r.out.is_error, false, JSON.stringify(r.out));
  assert.equal(r.out.result, 'hello from claude code');
  assert.equal(r.code, 0);
});

test('claude -p on echo: the agent runs a tool and its result reaches the model', async () => {
  const r = await claude('call Bash {"command":"echo hi-from-tool"}', 'echo', ['--bare', '--allowedTools', 'Bash']);
  assert.equal(r.out.is_error, false, JSON.stringify(r.out));
  assert.equal(r.out.num_turns, 2);
  assert.equal(r.out.result, 'hi-from-tool');
});

// the mock's tool call: Bash `echo hi-from-tool` (options percent-encoded in the model name)
const BASH = `tools=1,tool_name=Bash,tool_input=${encodeURIComponent(JSON.stringify({ command: 'echo hi-from-tool', description: 'test' }))}`;

for (const [kind, model, upstreamPath] of [['openai', 'gpt-4o~chunks=3', '/v1/chat/completions'], ['anthropic', 'claude-x~chunks=3', '/v1/messages']]) {
  test(`claude -p through an ${kind} provider (the mock): one turn`, async () => {
    const tag = `cc-${kind}-${Date.now()}`;
    const r = await claude(tag, model, ['--bare']);
    assert.equal(r.out.is_error, false, JSON.stringify(r.out));
    assert.match(r.out.result, /^mock: /);
    const reqs = await settledRequests(mock, tag);
    assert.ok(reqs.length >= 1);
    assert.equal(reqs[0].path, upstreamPath);
    const body = JSON.parse(reqs[0].body);
    assert.ok(Array.isArray(body.tools) && body.tools.length > 0, 'the agent\'s tools reach the upstream');
  });

  test(`claude -p through an ${kind} provider (the mock): a tool round trip`, async () => {
    const tag = `cc-tool-${kind}-${Date.now()}`;
    const r = await claude(tag, `${model.split('~')[0]}~chunks=2,${BASH}`, ['--bare', '--allowedTools', 'Bash']);
    assert.equal(r.out.is_error, false, JSON.stringify(r.out));
    assert.equal(r.out.num_turns, 2);
    // the mock answers a tool result with "tool said: <its text>"
    assert.equal(r.out.result, 'tool said: hi-from-tool');
    const reqs = await settledRequests(mock, tag);
    assert.equal(reqs.length, 2, 'one request per turn');
    const second = JSON.parse(reqs[1].body).messages.at(-1);
    if (kind === 'openai') {
      assert.equal(second.role, 'tool');
      assert.equal(second.content, 'hi-from-tool');
    } else {
      assert.equal(second.role, 'user');
      assert.ok(second.content.some((b) => b.type === 'tool_result' && b.content === 'hi-from-tool'), JSON.stringify(second));
    }
  });
}

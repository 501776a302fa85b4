// Command line (SPEC section 2), config validation errors (section 3) and the
// embedded default config (section 4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, tmpDir, startGateway, chat, request } from './lib/harness.mjs';

function writeConf(text, name = 'conf.yaml') {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, text);
  return file;
}

// Every line of `out` that looks like FILE:LINE:COLUMN: message for `file`.
function errorLines(out, file) {
  const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${esc}:(\\d+):(\\d+): (.+)$`);
  return out.split('\n').map((l) => re.exec(l.trim())).filter(Boolean)
    .map((m) => ({ line: Number(m[1]), column: Number(m[2]), message: m[3] }));
}

const GOOD = `listen:
  - address: 127.0.0.1
    port: 18080
workers: 2
max_body_bytes: 1000
timeout: 5m
timeouts:
  connect: 10
  idle: 250ms
  drain: 30s
access_tokens:
  - sk-gate-plain
  - token: sk-gate-team
    name: team
    rpm: 600
    models: ["echo*"]
cors:
  allow_origins: ["https://a.example"]
defaults:
  model: echo
  params: {temperature: 0.7, max_tokens: 100}
providers:
  - name: echo
    type: echo
    models: [echo, "echo-*"]
    delay: 50ms
`;

test('--version prints a version and exits 0', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /\d+\.\d+\.\d+/);
});

test('--help prints usage naming -c and -t and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /-c\b/);
  assert.match(out, /-t\b/);
});

test('an unknown option exits non-zero', async () => {
  const r = await runCli(['--no-such-option']);
  assert.notEqual(r.code, 0);
  assert.equal(r.signal, null, 'must exit, not crash');
});

test('-t on a valid config prints "configuration OK" and exits 0', async () => {
  const file = writeConf(GOOD);
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /configuration OK/);
});

test('-t reports an unknown top-level key as FILE:LINE:COLUMN and exits 1', async () => {
  const file = writeConf('listen:\n  - address: 127.0.0.1\n    port: 18080\nworkerz: 2\n');
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const errs = errorLines(r.stderr, file);
  assert.equal(errs.length, 1, `one error expected on stderr, got:\n${r.stderr}`);
  assert.deepEqual([errs[0].line, errs[0].column], [4, 1]);
  assert.match(errs[0].message, /workerz/);
  assert.doesNotMatch(r.stdout + r.stderr, /configuration OK/);
});

test('-t reports a nested unknown key with its own line and column', async () => {
  const file = writeConf('workers: 1\ncors:\n  allow_origin: ["*"]\n');
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1);
  const errs = errorLines(r.stderr, file);
  assert.equal(errs.length, 1, r.stderr);
  assert.deepEqual([errs[0].line, errs[0].column], [3, 3]);
  assert.match(errs[0].message, /allow_origin/);
});

test('-t reports every error, each on its line', async () => {
  const file = writeConf([
    'workers: 0', // 1: must be >= 1
    'bogus_key: 1', // 2: unknown
    'providers:', // 3
    '  - name: echo', // 4
    '    type: nosuchtype', // 5: bad type
    '    modelz: [x]', // 6: unknown
    '',
  ].join('\n'));
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1);
  const lines = errorLines(r.stderr, file).map((e) => e.line);
  for (const l of [1, 2, 5, 6]) assert.ok(lines.includes(l), `no error reported for line ${l}:\n${r.stderr}`);
});

test('-t reports a YAML syntax error with its position', async () => {
  const file = writeConf('workers: 2\nlisten: [\n  {port: 1\n');
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1);
  const errs = errorLines(r.stderr, file);
  assert.ok(errs.length >= 1, r.stderr);
  assert.ok(errs[0].line >= 2, `line ${errs[0].line}`);
});

test('-t rejects a bad duration and a bad port', async () => {
  const file = writeConf('listen:\n  - port: 99999\ntimeouts:\n  drain: 5 parsecs\n');
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1);
  const lines = errorLines(r.stderr, file).map((e) => e.line);
  assert.ok(lines.includes(2), `port error not reported at line 2:\n${r.stderr}`);
  assert.ok(lines.includes(4), `duration error not reported at line 4:\n${r.stderr}`);
});

test('-t on a missing file exits 1 naming the file', async () => {
  const file = path.join(tmpDir(), 'does-not-exist.yaml');
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes('does-not-exist.yaml'), r.stderr);
});

test('--print-default-config prints YAML that passes -t', async () => {
  const r = await runCli(['--print-default-config']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /echo/);
  const file = writeConf(r.stdout, 'default.yaml');
  const t = await runCli(['-t', '-c', file]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout + t.stderr, /configuration OK/);
});

test('--print-default-config names env variables, never their keys', async () => {
  const env = { OPENAI_API_KEY: 'sk-secret-openai-123', OPENROUTER_API_KEY: 'sk-secret-or-456' };
  const r = await runCli(['--print-default-config'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OPENAI_API_KEY/);
  assert.match(r.stdout, /OPENROUTER_API_KEY/);
  assert.ok(!(r.stdout + r.stderr).includes('sk-secret-'), 'a key value was printed');
  const file = writeConf(r.stdout, 'default.yaml');
  const t = await runCli(['-t', '-c', file], { env });
  assert.equal(t.code, 0, t.stderr);
});

test('-t without -c and without a config file checks the embedded default', async () => {
  const r = await runCli(['-t']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /configuration OK/);
});

test('$LLMGATE_CONFIG is used when there is no -c', async () => {
  const bad = writeConf('workers: 1\nnot_a_key: 1\n', 'from-env.yaml');
  const r = await runCli(['-t'], { env: { LLMGATE_CONFIG: bad } });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(errorLines(r.stderr, bad).length, 1, r.stderr);
  // -c wins over $LLMGATE_CONFIG
  const good = writeConf(GOOD);
  const r2 = await runCli(['-t', '-c', good], { env: { LLMGATE_CONFIG: bad } });
  assert.equal(r2.code, 0, r2.stderr);
});

test('./llmgate.yaml is used when there is no -c and no $LLMGATE_CONFIG', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'llmgate.yaml'), 'workers: 1\nnot_a_key: 1\n');
  const r = await runCli(['-t'], { cwd: dir });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /llmgate\.yaml:2:1: /);
});

test('embedded default: no config file, PORT set, serves model echo', async (t) => {
  const gw = await startGateway({ config: null });
  t.after(() => gw.stop());
  assert.ok(gw.logs().includes(`${gw.port}`), `listening line should name port ${gw.port}:\n${gw.logs()}`);
  const r = await chat(gw, { model: 'echo', messages: [{ role: 'user', content: 'hello default config' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'hello default config');
  const h = await request(gw.url('/health'));
  assert.equal(h.status, 200);
  const stop = await gw.stop('SIGTERM', 60000);
  assert.equal(stop.code, 0, `exit ${JSON.stringify(stop)}`);
});

test('-t errors never print a token or key value', async () => {
  const file = writeConf([
    'access_tokens:',
    '  - token: sk-gate-very-secret-1',
    '    rpm: lots', // bad value next to a secret
    '  - token: sk-gate-very-secret-2',
    '    nmae: typo', // unknown key next to a secret
    '  - {sk-gate-very-secret-6: 1, token: y}', // a token written where a key name belongs
    'admin_token: [sk-admin-secret-3]', // wrong type: the value itself is a secret
    'providers:',
    '  - name: up',
    '    type: openai',
    '    base_url: http://127.0.0.1:9/v1',
    '    keys: [sk-upstream-secret-4, {bad: sk-upstream-secret-5}]',
    '',
  ].join('\n'));
  const r = await runCli(['-t', '-c', file]);
  assert.equal(r.code, 1);
  const lines = errorLines(r.stderr, file).map((e) => e.line);
  for (const l of [3, 5, 6, 7, 12]) assert.ok(lines.includes(l), `no error reported for line ${l}:\n${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /secret/, 'a secret value appears in the error output');
});

// Environment variables (SPEC section 3): PORT, LLMGATE_WORKERS; worker count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, echoConfig, chat, canConnect, freePort } from './lib/harness.mjs';

test('workers: 2 in the config gives 2 worker processes', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 2 }) });
  t.after(() => g.stop());
  assert.equal(g.workerPids().length, 2, `children: ${g.workerPids()}`);
});

test('LLMGATE_WORKERS=3 overrides the config: 3 worker processes', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1 }), env: { LLMGATE_WORKERS: '3' } });
  t.after(() => g.stop());
  assert.equal(g.workerPids().length, 3, `children: ${g.workerPids()}`);
  const r = await chat(g, { model: 'echo', messages: [{ role: 'user', content: 'three workers' }] });
  assert.equal(r.status, 200);
});

test('PORT overrides the first listener port only', async (t) => {
  const envPort = await freePort();
  const g = await startGateway({
    ports: 2,
    config: ({ ports }) => echoConfig({ listen: `  - address: 127.0.0.1\n    port: ${ports[0]}\n  - address: 127.0.0.1\n    port: ${ports[1]}`, workers: 1 }),
    env: { PORT: String(envPort) },
  });
  t.after(() => g.stop());
  assert.equal(await canConnect(g.ports[0]), false, 'the configured first port should not be listened on');
  const viaEnv = await chat({ url: (p) => `http://127.0.0.1:${envPort}${p}` }, { model: 'echo', messages: [{ role: 'user', content: 'via PORT' }] });
  assert.equal(viaEnv.status, 200);
  assert.equal(viaEnv.json.choices[0].message.content, 'via PORT');
  const second = await fetch(`http://127.0.0.1:${g.ports[1]}/health`, { signal: AbortSignal.timeout(60000) });
  assert.equal(second.status, 200, 'the second listener keeps its port');
  assert.ok(g.logs().includes(String(envPort)), 'the listening line should show the PORT value');
});

test('embedded default config honours LLMGATE_WORKERS and PORT', async (t) => {
  const g = await startGateway({ config: null, env: { LLMGATE_WORKERS: '2' } });
  t.after(() => g.stop());
  assert.equal(g.workerPids().length, 2);
  const r = await chat(g, { model: 'echo', messages: [{ role: 'user', content: 'default' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'default');
});

test('an invalid LLMGATE_WORKERS is an error at start', async () => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port }), env: { LLMGATE_WORKERS: 'many' }, wait: false });
  // a ceiling: the refusal itself is quick, a slow machine only delays it
  let timer;
  const exit = await Promise.race([g.exited, new Promise((r) => { timer = setTimeout(() => r('running'), 30000); })]);
  clearTimeout(timer);
  if (exit === 'running') await g.stop('SIGKILL');
  assert.notEqual(exit, 'running', 'llmgate started with LLMGATE_WORKERS=many');
  assert.notEqual(exit.code, 0);
  assert.match(g.logs(), /LLMGATE_WORKERS/);
});

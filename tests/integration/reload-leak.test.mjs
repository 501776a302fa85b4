// Reload cycles (SPEC section 8) as a leak check: the gateway serves, is sent
// SIGHUP with a changed valid config five times and an invalid one twice (each
// followed by requests, stream and non-stream), then SIGTERM, and must exit 0.
// Under the sanitizer pass of tests/run (ASAN_OPTIONS=log_path=...:
// detect_leaks=1) a LeakSanitizer report of the master or of any worker is a
// failure there; this test also looks for the report files of its own
// processes, so it fails on its own when run by hand with such ASAN_OPTIONS.
// Under the normal build it checks what a reload must do: a valid config
// applies (new model, new token, new worker count and listeners, new worker
// pids), an invalid one changes nothing (old model and token still served,
// same workers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startGateway, chat, sseEvents, checkChatStream, waitFor, canConnect,
} from './lib/harness.mjs';

const token = (gen) => `sk-reload-gen${gen}-0123`;

// A ceiling for "it eventually happened" (a reload, workers replaced, a
// listener closed): generous for an ASan build on a loaded machine; it only
// bounds a hang.
const CEILING = 60000;
const T = { timeout: 30000 }; // per-request timeout for chat()

// Generation `gen` of the config: its own model name, access token, worker
// count, upstream keys (the pool is resized) and, on odd generations, a
// second listener.
function configFor(gen, ports) {
  const keys = Array.from({ length: gen + 1 }, (_, i) => `sk-up-${gen}-${i}`);
  return [
    'listen:',
    `  - address: 127.0.0.1`,
    `    port: ${ports[0]}`,
    ...(gen % 2 === 1 ? [`  - address: 127.0.0.1`, `    port: ${ports[1]}`] : []),
    `workers: ${1 + (gen % 2)}`,
    'access_tokens:',
    `  - token: ${token(gen)}`,
    `    name: gen${gen}`,
    'defaults:',
    '  params:',
    `    temperature: 0.${gen}`,
    'providers:',
    '  - name: echo',
    '    type: echo',
    `    models: [gen${gen}]`,
    '  - name: up',
    '    type: openai',
    '    base_url: http://127.0.0.1:9/v1',
    `    keys: [${keys.join(', ')}]`,
    '    models: ["up-*"]',
  ].join('\n') + '\n';
}

const invalid = [
  // an unknown key: the checks fail
  (gen, ports) => configFor(gen + 100, ports) + 'bogus_reload_key: 1\n',
  // a YAML syntax error: the parser fails
  (gen, ports) => configFor(gen + 100, ports) + 'listen: [\n',
];

const msg = (model, content) => ({ model, messages: [{ role: 'user', content }] });

// One non-stream and one stream request that `gen` serves.
async function exercise(g, gen, what) {
  const r = await chat(g, msg(`gen${gen}`, `${what} plain`), { token: token(gen), ...T });
  assert.equal(r.status, 200, `${what}: ${r.text}`);
  assert.equal(r.json.choices[0].message.content, `${what} plain`);

  const res = await fetch(g.url('/v1/chat/completions'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token(gen)}` },
    body: JSON.stringify({ ...msg(`gen${gen}`, `${what} streamed words`), stream: true, stream_options: { include_usage: true } }),
    signal: AbortSignal.timeout(30000),
  });
  assert.equal(res.status, 200, what);
  const events = [];
  for await (const ev of sseEvents(res)) events.push(ev.data);
  assert.equal(checkChatStream(events, { model: `gen${gen}`, includeUsage: true }).text, `${what} streamed words`);
}

// The LeakSanitizer/ASan report files of `pids` under ASAN_OPTIONS log_path.
function sanitizerReports(pids) {
  const m = /(?:^|:)log_path=([^:]+)/.exec(process.env.ASAN_OPTIONS || '');
  if (!m) return [];
  const dir = path.dirname(m[1]), base = path.basename(m[1]);
  let files = [];
  try { files = fs.readdirSync(dir); } catch { return []; }
  return files.filter((f) => pids.some((p) => f === `${base}.${p}`)).map((f) => path.join(dir, f));
}

test('five valid and two invalid reloads with requests between, then SIGTERM: exit 0, no leak report', { timeout: 400000 }, async (t) => {
  let ports;
  const g = await startGateway({ ports: 2, config: (o) => { ports = o.ports; return configFor(0, ports); } });
  t.after(() => g.stop('SIGKILL'));
  const seen = new Set([g.pid]);
  const note = (pids) => { for (const p of pids) seen.add(p); return pids; };
  let workers = note(g.workerPids());
  assert.equal(workers.length, 1);
  await exercise(g, 0, 'gen0');

  const count = (needle) => g.logs().split(needle).length - 1;
  let gen = 0;
  // valid, valid, invalid, valid, valid, invalid, valid
  const plan = ['valid', 'valid', 'invalid', 'valid', 'valid', 'invalid', 'valid'];
  let bad = 0;
  for (const step of plan) {
    if (step === 'valid') {
      const next = gen + 1;
      const before = count('configuration reloaded');
      fs.writeFileSync(g.configFile, configFor(next, ports));
      g.signal('SIGHUP');
      await waitFor(() => count('configuration reloaded') > before, { timeout: CEILING, what: `reload to gen${next} logged` });
      // the new workers replace the old ones (which drain and exit)
      const want = 1 + (next % 2);
      const old = workers;
      workers = note(await waitFor(() => {
        const w = g.workerPids();
        return w.length === want && w.every((p) => !old.includes(p)) ? w : null;
      }, { timeout: CEILING, what: `gen${next}: ${want} new worker(s), old ${old} gone (now ${g.workerPids()})` }));
      await exercise(g, next, `gen${next}`);
      // the previous generation's model and token are gone
      const stale = await chat(g, msg(`gen${gen}`, 'x'), { token: token(next), ...T });
      assert.equal(stale.status, 404, `gen${next}: model gen${gen} still served: ${stale.text}`);
      assert.equal((await chat(g, msg(`gen${next}`, 'x'), { token: token(gen), ...T })).status, 401);
      // the second listener follows the config
      // (canConnect's own 1 s limit could pass while this process is starved)
      if (next % 2 === 1) assert.ok(await canConnect(ports[1], '127.0.0.1', 30000), `gen${next}: second listener not open`);
      else await waitFor(async () => !(await canConnect(ports[1], '127.0.0.1', 30000)), { timeout: CEILING, what: `gen${next}: second listener closed` });
      gen = next;
    } else {
      const before = count('configuration reload failed');
      fs.writeFileSync(g.configFile, invalid[bad++ % invalid.length](gen, ports));
      g.signal('SIGHUP');
      await waitFor(() => count('configuration reload failed') > before, { timeout: CEILING, what: 'failed reload logged' });
      assert.match(g.logs(), new RegExp(`${g.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
      // nothing changed: same workers, same model and token
      assert.deepEqual(note(g.workerPids()), workers, 'an invalid reload must not replace the workers');
      await exercise(g, gen, `still gen${gen}`);
      assert.equal((await chat(g, msg(`gen${gen + 100}`, 'x'), { token: token(gen), ...T })).status, 404);
    }
  }
  assert.equal(gen, 5);
  assert.ok(g.alive());
  assert.ok(!/LeakSanitizer|AddressSanitizer/.test(g.logs()), g.logs());

  const exit = await g.stop('SIGTERM', CEILING);
  // every process this test saw has exited: their reports, if any, are written
  // (a leak also makes LeakSanitizer exit 23: the report says more)
  await waitFor(() => [...seen].every((p) => p === g.pid || !fs.existsSync(`/proc/${p}`)), { timeout: CEILING, what: 'workers to exit' });
  const reports = sanitizerReports([...seen]);
  assert.deepEqual(reports, [], reports.map((f) => fs.readFileSync(f, 'utf8')).join('\n').slice(0, 20000));
  assert.ok(!/LeakSanitizer|AddressSanitizer/.test(g.logs()), g.logs());
  assert.deepEqual(exit, { code: 0, signal: null }, g.logs());
});

// Operations (SPEC section 8): SIGHUP reload (invalid and valid), SIGTERM
// drain, worker respawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import {
  startGateway, echoConfig, chat, http1, curl, checkChatStream, waitFor, procState, withCeiling,
} from './lib/harness.mjs';
import { heldUpstream, heldProvider, startHeldStream } from './lib/upstream.mjs';

// A ceiling for "it eventually happened": long enough for an ASan build on a
// loaded machine; it only bounds a hang.
const CEILING = 30000;

const OLD = 'sk-gate-old-aa11';
const NEW = 'sk-gate-new-bb22';
const tokensYaml = (toks) => `access_tokens:\n${toks.map((t) => `  - ${t}`).join('\n')}\n`;
const msg = (content) => ({ model: 'echo', messages: [{ role: 'user', content }] });
const failedReloads = (g) => g.logs().split('configuration reload failed').length - 1;

// Runs `n` loops of fresh-connection HTTP/1.1 chat requests until stop() is
// called; returns {stop: () => Promise<{ok, failures: [...]}>}.
function loadLoop(port, token, n = 4) {
  let running = true, ok = 0;
  const failures = [];
  const body = JSON.stringify(msg('reload load'));
  const one = async () => {
    while (running && ok + failures.length < 20000) {
      try {
        const r = await http1(port, {
          method: 'POST', path: '/v1/chat/completions', body,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, timeout: 30000,
        });
        if (r.status === 200 && JSON.parse(r.body).choices[0].message.content === 'reload load') ok++;
        else failures.push({ at: Date.now(), what: `status ${r.status}: ${r.body.slice(0, 200)}` });
      } catch (e) {
        failures.push({ at: Date.now(), what: String(e.message || e) });
      }
    }
  };
  const loops = Array.from({ length: n }, one);
  return { ok: () => ok, stop: async () => { running = false; await Promise.all(loops); return { ok, failures }; } };
}

test('SIGHUP with an invalid file: errors logged as FILE:LINE:COLUMN, old config keeps serving', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, extra: tokensYaml([OLD]) }) });
  t.after(() => g.stop());
  const good = fs.readFileSync(g.configFile, 'utf8');
  const workers = g.workerPids();

  // 1. an unknown key on a known line
  const lines = good.trimEnd().split('\n');
  lines.push('bogus_reload_key: 1');
  fs.writeFileSync(g.configFile, lines.join('\n') + '\n');
  const failedBefore = failedReloads(g);
  g.signal('SIGHUP');
  await g.waitLog(`${g.configFile}:${lines.length}:1:`, CEILING).catch(() => {
    assert.fail(`no "${g.configFile}:${lines.length}:1: ..." error in the logs:\n${g.logs()}`);
  });
  // the master is done with this reload (and kept the old config)
  await waitFor(() => failedReloads(g) > failedBefore, { timeout: CEILING, what: 'the reload failure logged' });
  assert.equal((await chat(g, msg('still old'), { token: OLD })).status, 200);
  assert.ok(g.alive());

  // 2. a YAML syntax error
  fs.writeFileSync(g.configFile, good + 'listen: [\n');
  const before = g.logs().length, failedBefore2 = failedReloads(g);
  g.signal('SIGHUP');
  await waitFor(() => g.logs().slice(before).includes(`${g.configFile}:`), { timeout: CEILING, what: 'syntax error logged' });
  // not a pause: the reload is over once its failure is logged
  await waitFor(() => failedReloads(g) > failedBefore2, { timeout: CEILING, what: 'the reload failure logged' });
  const r = await chat(g, msg('still old'), { token: OLD });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].message.content, 'still old');
  assert.deepEqual(g.workerPids(), workers, 'an invalid reload must not replace the workers');
  assert.equal((await chat(g, msg('x'), { token: NEW })).status, 401);
});

test('SIGHUP with a valid file: the new setting applies, no request fails meanwhile', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, extra: tokensYaml([OLD]) }) });
  t.after(() => g.stop());
  const oldWorkers = g.workerPids();
  assert.equal((await chat(g, msg('x'), { token: NEW })).status, 401);

  const load = loadLoop(g.port, OLD);
  // the load is really on before the reload (a count reached, not a pause)
  await waitFor(() => load.ok() >= 10, { timeout: CEILING, what: 'the load to get going' });
  fs.writeFileSync(g.configFile, echoConfig({ port: g.port, extra: tokensYaml([OLD, NEW]) }));
  const t0 = Date.now();
  g.signal('SIGHUP');
  await waitFor(async () => (await chat(g, msg('new token'), { token: NEW, timeout: 30000 })).status === 200,
    { timeout: CEILING, interval: 100, what: 'the new token to be accepted' });
  t.diagnostic(`new token accepted ${Date.now() - t0} ms after SIGHUP`);
  // keep the load on while the old workers drain: until new workers replaced
  // them, and then until more requests were served by the new ones
  await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !oldWorkers.includes(p)); },
    { timeout: CEILING, what: `old workers ${oldWorkers} to be replaced (now ${g.workerPids()})` });
  const okAtSwap = load.ok();
  await waitFor(() => load.ok() >= okAtSwap + 10, { timeout: CEILING, what: 'requests served by the new workers' });
  const { ok, failures } = await load.stop();
  assert.ok(ok >= 20, `only ${ok} requests completed`);
  assert.deepEqual(failures.slice(0, 5).map((f) => `${f.at - t0} ms after SIGHUP: ${f.what}`), [],
    `${failures.length} of ${ok + failures.length} requests failed during the reload`);
  assert.ok(g.alive());
});

test('SIGHUP with a valid file: a stream in flight completes on the old worker', async (t) => {
  // the upstream holds the rest of the stream until the reload is done: the
  // stream is in flight across the reload by construction, not by timing
  const up = await heldUpstream(['w0', ' w1', ' w2', ' w3']);
  t.after(() => up.close());
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, extra: heldProvider(up.port) }) });
  t.after(() => g.stop());
  const oldWorkers = g.workerPids();
  const s = await startHeldStream(g);
  const reloadsBefore = g.logs().split('configuration reloaded').length - 1;
  fs.writeFileSync(g.configFile, echoConfig({ port: g.port, extra: `${heldProvider(up.port)}\n${tokensYaml([NEW])}` }));
  g.signal('SIGHUP');
  await waitFor(() => g.logs().split('configuration reloaded').length - 1 > reloadsBefore, { timeout: CEILING, what: 'the reload logged' });
  // the new config applies (tokens) while the stream is still open
  await waitFor(async () => (await chat(g, msg('x'), { timeout: 30000 })).status === 401, { timeout: CEILING, what: 'the new config (tokens) to apply' });
  await waitFor(() => g.workerPids().some((p) => !oldWorkers.includes(p)), { timeout: CEILING, what: 'new workers' });
  up.release();
  await withCeiling(s.rest(), CEILING, `the stream did not end after the reload: ${s.events}`);
  assert.equal(checkChatStream(s.events).text, 'w0 w1 w2 w3');
  assert.equal(up.requests(), 1, 'the stream was sent upstream again');
  // and the old worker left once its stream was done
  await waitFor(() => g.workerPids().every((p) => !oldWorkers.includes(p)), { timeout: CEILING, what: `old workers ${oldWorkers} to exit` });
});

test('SIGTERM during a slow stream: the stream completes, new connections are refused, exit 0', async (t) => {
  // the upstream holds the rest of the stream until the test has seen new
  // connections refused: the stream is in flight all that time
  const up = await heldUpstream(['word0', ' word1', ' word2']);
  t.after(() => up.close());
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, extra: `${heldProvider(up.port)}\ntimeouts:\n  drain: 30\n` }) });
  t.after(() => g.stop('SIGKILL'));
  const s = await startHeldStream(g);
  g.signal('SIGTERM');
  // new connections: once the listeners are closed, refused (7) or closed
  // without a response (52 empty reply, 56 reset), not left hanging in a
  // backlog (curl's 20 s limit, exit 28, is far beyond "at once")
  let nc;
  await waitFor(async () => {
    nc = await curl(['--http1.1', '--max-time', '20', g.url('/health')], { timeout: 30000 });
    return nc.status !== 200;
  }, { timeout: CEILING, interval: 100, what: 'a new connection to be refused after SIGTERM' });
  assert.ok([7, 52, 56].includes(nc.exitCode), `new connection after SIGTERM: curl exit ${nc.exitCode} after ${nc.info.time_total}s: ${nc.stderr}`);
  assert.ok(g.alive(), 'the master exited with a stream in flight');
  up.release();
  await withCeiling(s.rest(), CEILING, `the stream did not end: ${s.events}`);
  assert.equal(checkChatStream(s.events).text, 'word0 word1 word2', 'the in-flight stream was cut by SIGTERM');
  const exit = await withCeiling(g.exited, CEILING, 'master did not exit after the stream ended');
  assert.deepEqual(exit, { code: 0, signal: null });
});

test('SIGTERM with idle keep-alive connections exits promptly (well under drain)', async (t) => {
  // drain: 1 h, so that an exit within the ceiling proves the idle
  // connections were not waited for
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, extra: 'timeouts:\n  drain: 1h\n' }) });
  t.after(() => g.stop('SIGKILL'));
  const sockets = await Promise.all(Array.from({ length: 4 }, () => idleKeepAlive(g.port)));
  for (const s of sockets) assert.ok(!s.destroyed);
  const t0 = Date.now();
  g.signal('SIGTERM');
  const exit = await withCeiling(g.exited, CEILING, 'master still running after SIGTERM with only idle connections (drain is 1 h)')
    .finally(() => { for (const s of sockets) s.destroy(); });
  const took = Date.now() - t0;
  assert.deepEqual(exit, { code: 0, signal: null });
  t.diagnostic(`exited ${took} ms after SIGTERM`);
});

test('SIGINT drains and exits 0 like SIGTERM', async () => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  assert.equal((await chat(g, msg('x'))).status, 200);
  const exit = await g.stop('SIGINT', CEILING);
  assert.deepEqual(exit, { code: 0, signal: null });
});

test('kill -9 of a worker: replaced, master alive, requests keep succeeding', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  t.after(() => g.stop());
  const before = g.workerPids();
  assert.equal(before.length, 2, `workers: ${before}`);
  const victim = before[0];
  const t0 = Date.now();
  process.kill(victim, 'SIGKILL');
  const after = await waitFor(() => {
    const w = g.workerPids();
    return w.length === 2 && !w.includes(victim) ? w : null;
  }, { timeout: CEILING, interval: 20, what: `a replacement for worker ${victim}` });
  const took = Date.now() - t0;
  assert.ok(after.includes(before[1]), 'the surviving worker should not be touched');
  assert.ok(g.alive(), 'master died');
  for (let i = 0; i < 20; i++) {
    const r = await http1(g.port, { method: 'POST', path: '/v1/chat/completions', body: JSON.stringify(msg(`after kill ${i}`)), headers: { 'content-type': 'application/json' }, timeout: 30000 });
    assert.equal(r.status, 200, `request ${i}: ${r.body}`);
  }
  t.diagnostic(`worker replaced in ${took} ms`);
  // and the dead worker was reaped (no zombie left behind)
  await waitFor(() => procState(victim) !== 'Z', { timeout: CEILING, what: `the killed worker ${victim} to be reaped (a zombie)` });
});

test('kill -9 of every worker at once: all replaced, still serving', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  t.after(() => g.stop());
  const before = g.workerPids();
  for (const p of before) process.kill(p, 'SIGKILL');
  await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !before.includes(p)); },
    { timeout: CEILING, what: 'both workers replaced' });
  const r = await chat(g, msg('phoenix'), { timeout: 30000 });
  assert.equal(r.status, 200, r.text);
  assert.ok(g.alive());
});

// An HTTP/1.1 connection that has completed one request and stays open idle.
function idleKeepAlive(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    s.setEncoding('latin1');
    s.on('error', reject);
    s.on('connect', () => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(buf.slice(0, i));
      const complete = m ? buf.length >= i + 4 + Number(m[1]) : /\r\n0\r\n\r\n$/.test(buf);
      if (complete) {
        s.removeAllListeners('data');
        s.on('error', () => {});
        if (!/^HTTP\/1\.1 200/.test(buf)) reject(new Error(`bad response ${buf.slice(0, 100)}`));
        else resolve(s);
      }
    });
  });
}

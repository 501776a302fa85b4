// Operations (SPEC section 8): SIGHUP reload (invalid and valid), SIGTERM
// drain, worker respawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import {
  startGateway, echoConfig, chat, http1, curl, sseEvents, checkChatStream, sleep, waitFor, procState,
} from './lib/harness.mjs';

const OLD = 'sk-gate-old-aa11';
const NEW = 'sk-gate-new-bb22';
const tokensYaml = (toks) => `access_tokens:\n${toks.map((t) => `  - ${t}`).join('\n')}\n`;
const msg = (content) => ({ model: 'echo', messages: [{ role: 'user', content }] });

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
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        });
        if (r.status === 200 && JSON.parse(r.body).choices[0].message.content === 'reload load') ok++;
        else failures.push({ at: Date.now(), what: `status ${r.status}: ${r.body.slice(0, 200)}` });
      } catch (e) {
        failures.push({ at: Date.now(), what: String(e.message || e) });
      }
    }
  };
  const loops = Array.from({ length: n }, one);
  return { stop: async () => { running = false; await Promise.all(loops); return { ok, failures }; } };
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
  g.signal('SIGHUP');
  await g.waitLog(`${g.configFile}:${lines.length}:1:`, 5000).catch(() => {
    assert.fail(`no "${g.configFile}:${lines.length}:1: ..." error in the logs:\n${g.logs()}`);
  });
  assert.equal((await chat(g, msg('still old'), { token: OLD })).status, 200);
  assert.ok(g.alive());

  // 2. a YAML syntax error
  fs.writeFileSync(g.configFile, good + 'listen: [\n');
  const before = g.logs().length;
  g.signal('SIGHUP');
  await waitFor(() => g.logs().slice(before).includes(`${g.configFile}:`), { timeout: 5000, what: 'syntax error logged' });
  await sleep(300);
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
  await sleep(300);
  fs.writeFileSync(g.configFile, echoConfig({ port: g.port, extra: tokensYaml([OLD, NEW]) }));
  const t0 = Date.now();
  g.signal('SIGHUP');
  await waitFor(async () => (await chat(g, msg('new token'), { token: NEW })).status === 200, { timeout: 5000, interval: 100, what: 'the new token to be accepted' });
  const applied = Date.now() - t0;
  await sleep(1000); // keep the load on while the old workers drain
  const { ok, failures } = await load.stop();
  assert.ok(ok >= 50, `only ${ok} requests completed during the reload`);
  assert.deepEqual(failures.slice(0, 5).map((f) => `${f.at - t0} ms after SIGHUP: ${f.what}`), [],
    `${failures.length} of ${ok + failures.length} requests failed during the reload`);
  assert.ok(applied < 5000);

  // new workers replaced the old ones
  await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !oldWorkers.includes(p)); },
    { timeout: 5000, what: `old workers ${oldWorkers} to be replaced (now ${g.workerPids()})` });
  assert.ok(g.alive());
});

test('SIGHUP with a valid file: a stream in flight completes on the old worker', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, delay: '100ms' }) });
  t.after(() => g.stop());
  const words = Array.from({ length: 15 }, (_, i) => `w${i}`).join(' ');
  const res = await fetch(g.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...msg(words), stream: true }),
  });
  const events = [];
  let reloaded = false;
  for await (const ev of sseEvents(res)) {
    events.push(ev);
    if (events.length === 3 && !reloaded) {
      reloaded = true;
      fs.writeFileSync(g.configFile, echoConfig({ port: g.port, delay: '100ms', extra: tokensYaml([NEW]) }));
      g.signal('SIGHUP');
    }
  }
  assert.ok(reloaded);
  assert.equal(checkChatStream(events.map((e) => e.data)).text, words);
  // and the reload did happen
  await waitFor(async () => (await chat(g, msg('x'))).status === 401, { timeout: 5000, what: 'the new config (tokens) to apply' });
});

test('SIGTERM during a slow stream: the stream completes, new connections are refused, exit 0', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, delay: '100ms', extra: 'timeouts:\n  drain: 30\n' }) });
  t.after(() => g.stop('SIGKILL'));
  const words = Array.from({ length: 20 }, (_, i) => `word${i}`).join(' ');
  const res = await fetch(g.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...msg(words), stream: true }),
  });
  assert.equal(res.status, 200);
  const events = [];
  let newConn;
  for await (const ev of sseEvents(res)) {
    events.push(ev);
    if (events.length === 3) {
      g.signal('SIGTERM');
      // after a moment, a new connection must not be served
      newConn = sleep(300).then(() => curl(['--http1.1', '--max-time', '3', g.url('/health')]));
    }
  }
  const s = checkChatStream(events.map((e) => e.data));
  assert.equal(s.text, words, 'the in-flight stream was cut by SIGTERM');
  const nc = await newConn;
  assert.notEqual(nc.status, 200, 'a new connection was served after SIGTERM');
  // refused (7), or closed without a response (52 empty reply, 56 reset), at once: not left hanging in a backlog
  assert.ok([7, 52, 56].includes(nc.exitCode), `new connection after SIGTERM: curl exit ${nc.exitCode} after ${nc.info.time_total}s: ${nc.stderr}`);
  assert.ok(nc.info.time_total < 1, `new connection after SIGTERM took ${nc.info.time_total}s to fail (accepted but never served?)`);
  const exit = await Promise.race([g.exited, sleep(10000).then(() => 'timeout')]);
  assert.notEqual(exit, 'timeout', 'master did not exit after the stream ended');
  assert.deepEqual(exit, { code: 0, signal: null });
});

test('SIGTERM with idle keep-alive connections exits promptly (well under drain)', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, extra: 'timeouts:\n  drain: 30\n' }) });
  t.after(() => g.stop('SIGKILL'));
  const sockets = await Promise.all(Array.from({ length: 4 }, () => idleKeepAlive(g.port)));
  for (const s of sockets) assert.ok(!s.destroyed);
  const t0 = Date.now();
  g.signal('SIGTERM');
  const exit = await Promise.race([g.exited, sleep(5000).then(() => 'timeout')]);
  const took = Date.now() - t0;
  for (const s of sockets) s.destroy();
  assert.notEqual(exit, 'timeout', 'master still running 5 s after SIGTERM with only idle connections');
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(took < 5000, `took ${took} ms`);
});

test('SIGINT drains and exits 0 like SIGTERM', async () => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  assert.equal((await chat(g, msg('x'))).status, 200);
  const exit = await g.stop('SIGINT', 8000);
  assert.deepEqual(exit, { code: 0, signal: null });
});

test('kill -9 of a worker: replaced within ~1.5 s, master alive, requests keep succeeding', async (t) => {
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
  }, { timeout: 1500, interval: 20, what: `a replacement for worker ${victim}` });
  const took = Date.now() - t0;
  assert.ok(after.includes(before[1]), 'the surviving worker should not be touched');
  assert.ok(g.alive(), 'master died');
  for (let i = 0; i < 20; i++) {
    const r = await http1(g.port, { method: 'POST', path: '/v1/chat/completions', body: JSON.stringify(msg(`after kill ${i}`)), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, `request ${i}: ${r.body}`);
  }
  t.diagnostic(`worker replaced in ${took} ms`);
  // and the dead worker was reaped (no zombie left behind)
  await sleep(200);
  assert.notEqual(procState(victim), 'Z', 'the killed worker is a zombie');
});

test('kill -9 of every worker at once: all replaced, still serving', async (t) => {
  const g = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  t.after(() => g.stop());
  const before = g.workerPids();
  for (const p of before) process.kill(p, 'SIGKILL');
  await waitFor(() => { const w = g.workerPids(); return w.length === 2 && w.every((p) => !before.includes(p)); },
    { timeout: 2000, what: 'both workers replaced' });
  const r = await chat(g, msg('phoenix'));
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

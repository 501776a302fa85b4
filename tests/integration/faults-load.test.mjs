// Faults under load (issue 7 item 3, SPEC section 8): SIGHUP repeatedly under
// load with zero failed requests (HTTP/1.1 with h2load, h2c with a client that
// reconnects after GOAWAY), SIGTERM under load drains, a worker killed under
// load, DNS failures, a 429 storm, stalling and slow-reading upstreams next to
// healthy traffic. The load generators are h2load (nghttp2-client) and small
// node clients; the upstream is the mock (docs/mock.md).
//
// h2load and GOAWAY: h2load 1.52 does not open a new connection after an
// HTTP/2 GOAWAY: the client counts its next request as failed ("Process
// Request Failure", never sent) and stops. So the h2c reload load comes from
// h2Load() below, which opens a new session after GOAWAY like browsers and
// curl do; streams refused (REFUSED_STREAM: by the server, which RFC 9113
// section 8.7 guarantees left them unprocessed, or by the client's own
// nghttp2 for a stream created after the GOAWAY came in) are sent again and
// counted apart. h2load still runs next to it, for its status codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import {
  startGateway, startMock, request, curl, parseSSE, isOpenAIError, sleep, waitFor, tmpDir, procState, withCeiling,
} from './lib/harness.mjs';
import { mkKey, gatewayYaml, keyRows, rnd, scrape, metric, heldUpstream, startHeldStream } from './lib/upstream.mjs';

const ADMIN = `sk-admin-${rnd()}`;
const CHAT = '/v1/chat/completions';

// A ceiling for "it eventually happened" (a reload, a replacement worker, a
// stream's end): generous for an ASan build on a loaded machine; it only
// bounds a hang. Nothing here judges how fast or how much: the load runs until
// the events it must overlap have happened.
const CEILING = 30000;

// ---- load generators ---------------------------------------------------------

// Parses h2load's summary.
function parseH2load(text) {
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const s = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!m || !s) return null;
  const [total, started, done, succeeded, failed, errored, timeout] = m.slice(1).map(Number);
  const [s2xx, s3xx, s4xx, s5xx] = s.slice(1).map(Number);
  const pf = [...text.matchAll(/^Process Request Failure:(\d+)/gm)].map((x) => Number(x[1]));
  return { total, started, done, succeeded, failed, errored, timeout, s2xx, s3xx, s4xx, s5xx, processFailures: pf, text };
}
const summary = (r) => `${r.total} total, ${r.succeeded} succeeded, ${r.failed} failed, ${r.errored} errored; ${r.s2xx} 2xx ${r.s4xx} 4xx ${r.s5xx} 5xx`;

// Runs h2load for `seconds` (timing-based), or for `n` requests when `n` is
// set, POSTing `body` to `url`. Returns a promise of the parsed summary plus
// {log: [{startUs, status, us}]} when `log` is set (h2load --log-file: one
// line per finished request).
function h2load(url, body, { h1 = true, conns = 4, seconds = 8, n, log = false, extra = [] } = {}) {
  const dir = tmpDir('llmgate-h2load-');
  const bodyFile = path.join(dir, 'body.json');
  fs.writeFileSync(bodyFile, JSON.stringify(body));
  const logFile = path.join(dir, 'log.tsv');
  const args = [...(h1 ? ['--h1'] : []), '-c', String(conns), '-t', '1', ...(n ? ['-n', String(n)] : ['-D', String(seconds)]), '-d', bodyFile,
    '-H', 'content-type: application/json', ...(log ? ['--log-file', logFile] : []), ...extra, url];
  return new Promise((resolve, reject) => {
    const p = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), n ? 120000 : (seconds + 60) * 1000);
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(t);
      const r = parseH2load(out);
      if (!r) return reject(new Error(`h2load printed no summary:\n${out}`));
      if (log) {
        r.log = fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean)
          .map((l) => l.split('\t').map(Number)).map(([startUs, status, us]) => ({ startUs, status, us }));
      }
      resolve(r);
    });
  });
}

// Runs h2load in batches of `n` requests until done() is true (checked
// between batches), so that the load lasts exactly as long as the events it
// must overlap, however fast the machine. Returns the summed summary, with
// the text of every batch that had a failure and the number of batches.
async function h2loadUntil(url, body, done, { n = 200, ...opts } = {}) {
  const sum = { total: 0, started: 0, done: 0, succeeded: 0, failed: 0, errored: 0, timeout: 0, s2xx: 0, s3xx: 0, s4xx: 0, s5xx: 0, processFailures: [], text: '', batches: 0 };
  do {
    const r = await h2load(url, body, { ...opts, n });
    for (const k of ['total', 'started', 'done', 'succeeded', 'failed', 'errored', 'timeout', 's2xx', 's3xx', 's4xx', 's5xx']) sum[k] += r[k];
    sum.processFailures.push(...r.processFailures);
    if (r.failed || r.errored || r.timeout || r.s4xx || r.s5xx || r.processFailures.length) sum.text += `--- batch ${sum.batches + 1}:\n${r.text}`;
    sum.batches++;
  } while (!done());
  return sum;
}

// HTTP/1.1 keep-alive clients that pause 20-500 ms between requests (an
// interactive client, unlike h2load which sends the next request at once):
// these are the connections a draining worker finds idle. Each loop has its
// own agent with one socket, reused whenever the server keeps it. Node does
// not retry a POST on a reused socket that the server closed: such a race is a
// failure here, as it would be for a real client.
// Each failure has `loop` (which client), `at`, `sentAt` (when the request
// was sent) and `socketBorn` (when its connection was first used).
function pacedH1(port, body, { loops = 6, pause = [20, 500] } = {}) {
  let running = true, ok = 0, reused = 0;
  const failures = [], okAt = [];
  const payload = JSON.stringify(body);
  const one = async (loop) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (running) {
      const sentAt = Date.now();
      const r = await new Promise((resolve) => {
        let socketBorn;
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: CHAT, agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => { text += d; });
          res.on('end', () => resolve({ status: res.statusCode, text, reused: req.reusedSocket }));
          res.on('error', (e) => resolve({ error: e, socketBorn }));
        });
        req.on('socket', (sock) => { sock.llgBorn ??= Date.now(); socketBorn = sock.llgBorn; });
        req.setTimeout(60000, () => req.destroy(new Error('timeout')));
        req.on('error', (e) => resolve({ error: e, reused: req.reusedSocket, socketBorn }));
        req.end(payload);
      });
      if (r.error) failures.push({ loop, at: Date.now(), sentAt, socketBorn: r.socketBorn, what: `${r.error.code || r.error.message}${r.reused ? ' (reused socket)' : ''}` });
      else if (r.status !== 200) failures.push({ loop, at: Date.now(), sentAt, what: `status ${r.status}: ${r.text.slice(0, 200)}` });
      else { ok++; okAt.push(Date.now()); if (r.reused) reused++; }
      await sleep(pause[0] + Math.random() * (pause[1] - pause[0]));
    }
    agent.destroy();
  };
  const all = Array.from({ length: loops }, (_, i) => one(i));
  return {
    ok: () => ok, reused: () => reused,
    stop: async () => { running = false; await Promise.all(all); return { ok, reused, failures, okAt }; },
  };
}

// HTTP/2 prior-knowledge (h2c) load: `conns` sessions, `streams` concurrent
// request loops on each. After a GOAWAY a loop opens a new session, as
// browsers and curl do; a stream the server refused (REFUSED_STREAM, or
// created on a session that had already received GOAWAY) was never processed
// and is sent again: counted in `retried`, not a failure. Anything else (a
// reset, a non-200, a truncated body, ECONNREFUSED while accepting) is a
// failure, with `at` (ms since start).
function h2Load(port, body, { conns = 2, streams = 4, check } = {}) {
  let running = true, ok = 0, retried = 0, sessions = 0, goaways = 0;
  const failures = [];
  const payload = JSON.stringify(body);
  const t0 = Date.now();
  const slots = Array.from({ length: conns }, () => ({ s: null }));
  const session = (slot) => {
    if (slot.s && !slot.s.closed && !slot.s.destroyed && !slot.gone) return slot.s;
    const s = http2.connect(`http://127.0.0.1:${port}`);
    sessions++;
    slot.s = s;
    slot.gone = false;
    s.on('goaway', () => { goaways++; if (slot.s === s) slot.gone = true; });
    s.on('error', () => { if (slot.s === s) slot.gone = true; });
    s.on('close', () => { if (slot.s === s) slot.gone = true; });
    return s;
  };
  const one = (slot) => new Promise((resolve) => {
    let s;
    try { s = session(slot); } catch (e) { resolve({ retry: true, why: e.code }); return; }
    let req;
    try {
      req = s.request({ ':method': 'POST', ':path': CHAT, 'content-type': 'application/json' });
    } catch (e) {
      slot.gone = true;
      resolve({ retry: true, why: e.code }); // ERR_HTTP2_GOAWAY_SESSION / INVALID_SESSION: never sent
      return;
    }
    let status = 0, text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { status = h[':status']; });
    req.on('data', (d) => { text += d; });
    req.on('end', () => resolve({ status, text }));
    req.on('error', (e) => {
      // REFUSED_STREAM: from the server (RFC 9113 8.7: not processed) or from
      // the client's nghttp2 itself (a stream not sent because GOAWAY came in)
      if (req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM || /REFUSED_STREAM/.test(e.message)) {
        slot.gone = true;
        resolve({ retry: true, why: 'REFUSED_STREAM' });
      } else resolve({ error: e });
    });
    req.on('close', () => {
      if (req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) resolve({ retry: true, why: 'REFUSED_STREAM' });
      else if (status === 0) resolve({ error: new Error(`closed without a response (rst ${req.rstCode})`) });
    });
    req.setTimeout(60000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    req.end(payload);
  });
  const loop = async (slot) => {
    while (running) {
      const r = await one(slot);
      if (r.retry) { retried++; await sleep(5); continue; }
      if (r.error) {
        const refusedConnect = r.error.code === 'ECONNREFUSED' || (r.error.cause && r.error.cause.code === 'ECONNREFUSED');
        failures.push({ at: Date.now() - t0, what: `${r.error.code || ''} ${r.error.message}`, refusedConnect });
        slot.gone = true;
        await sleep(20);
        continue;
      }
      const bad = r.status !== 200 ? `status ${r.status}: ${r.text.slice(0, 200)}` : check && check(r.text);
      if (bad) failures.push({ at: Date.now() - t0, what: bad });
      else ok++;
    }
  };
  const all = slots.flatMap((slot) => Array.from({ length: streams }, () => loop(slot)));
  return {
    t0, ok: () => ok, goaways: () => goaways, sessions: () => sessions,
    stop: async () => {
      running = false;
      await Promise.all(all);
      for (const slot of slots) if (slot.s) slot.s.destroy();
      return { ok, retried, sessions, goaways, failures };
    },
  };
}

const streamOk = (text) => {
  const d = parseSSE(text);
  return d[d.length - 1] === '[DONE]' ? null : `stream without [DONE]: ${text.slice(-200)}`;
};
const jsonOk = (text) => {
  try { return JSON.parse(text).choices[0].message.content ? null : `no content: ${text.slice(0, 200)}`; } catch { return `not JSON: ${text.slice(0, 200)}`; }
};

// ---- configs ---------------------------------------------------------------

// echo (streamed, a few ms per word) and an OpenAI-type provider on the mock
// (5 ms latency). `variant` changes the echo delay so that alternating reloads
// really change the config.
function loadConfig({ port, mock, variant = 0, drain = '10s', extraTop = '', extraProviders = [] }) {
  return gatewayYaml({
    port, workers: 2, top: `timeouts: {drain: ${drain}}\nadmin_token: ${ADMIN}\n${extraTop}`,
    providers: [
      { name: 'echo', type: 'echo', models: ['echo'], extra: { delay: variant ? '3ms' : '2ms' } },
      { name: 'mock', base: `${mock.base}/s/latency=5/v1`, keys: [mkKey('load'), mkKey('load')], models: ['gpt-*'] },
      { name: 'mockstream', base: `${mock.base}/s/interval=100,chunks=20/v1`, keys: [mkKey('slow')], models: ['slow-*'] },
      ...extraProviders,
    ],
  });
}
const echoStreamBody = { model: 'echo', messages: [{ role: 'user', content: 'under load' }], stream: true };
const gptBody = { model: 'gpt-4o', messages: [{ role: 'user', content: 'under load' }] };

// Sends SIGHUP 350-500 ms after the previous reload was logged, alternating
// two valid configs: `count` reloads, and more while more() is true (at most
// 100). Each reload is waited for (its "configuration reloaded" line), so no
// SIGHUP merges into a pending one on a slow machine, and the new workers,
// forked before that line, are seen. finished() is true once done; done
// resolves to {reloads, pids: Set of every worker pid seen}.
function reloadLoop(g, mock, { drain, count = 12, more = () => false } = {}) {
  let reloads = 0, variant = 0, finished = false;
  const pids = new Set(g.workerPids());
  const done = (async () => {
    try {
      while (reloads < count || (more() && reloads < 100)) {
        await sleep(350 + Math.random() * 150);
        variant ^= 1;
        fs.writeFileSync(g.configFile, loadConfig({ port: g.port, mock, variant, drain }));
        const before = reloadedCount(g);
        g.signal('SIGHUP');
        reloads++;
        await waitFor(() => reloadedCount(g) > before, { timeout: CEILING, interval: 10, what: `reload ${reloads} logged` });
        for (const p of g.workerPids()) pids.add(p);
      }
    } finally {
      finished = true;
    }
    return { reloads, pids };
  })();
  done.catch(() => {});
  return { done, finished: () => finished };
}

async function gatewayWithMock(t, opts = {}) {
  const mock = await startMock({ args: ['--no-record'] });
  const g = await startGateway({ config: ({ port }) => loadConfig({ port, mock, ...opts }) });
  t.after(async () => { await g.stop('SIGTERM', 15000); await mock.stop(); });
  return { g, mock };
}

const reloadedCount = (g) => (g.logs().match(/configuration reloaded/g) || []).length;

// ---- SIGHUP ------------------------------------------------------------------

test('SIGHUP every ~400 ms under HTTP/1.1 load (h2load --h1 and paced keep-alive clients): no request fails', async (t) => {
  const { g, mock } = await gatewayWithMock(t);
  const first = g.workerPids();
  const paced = pacedH1(g.port, gptBody);
  // the paced clients are served before the first reload
  await waitFor(() => paced.ok() >= 6, { timeout: CEILING, what: 'the paced clients to get going' });
  // 12 reloads, and on until the paced clients reused connections more than
  // 10 times; h2load runs (in batches) until the last reload is done
  const reloader = reloadLoop(g, mock, { count: 12, more: () => paced.reused() <= 10 });
  const [echo, gpt] = await Promise.all([
    h2loadUntil(g.url(CHAT), echoStreamBody, reloader.finished, { conns: 4 }),
    h2loadUntil(g.url(CHAT), gptBody, reloader.finished, { conns: 4 }),
  ]);
  const { reloads, pids } = await reloader.done;
  const pace = await paced.stop();
  t.diagnostic(`${reloads} reloads, ${pids.size} worker pids; h2load echo stream: ${summary(echo)} in ${echo.batches} batches; gpt: ${summary(gpt)} in ${gpt.batches} batches; paced: ${pace.ok} ok (${pace.reused} on a reused connection)`);
  for (const [name, r] of [['echo stream', echo], ['gpt', gpt]]) {
    assert.equal(r.failed, 0, `${name}: ${summary(r)}\n${r.text}`);
    assert.equal(r.errored, 0, `${name}: ${summary(r)}`);
    assert.equal(r.succeeded, r.total, `${name}: ${summary(r)}`);
    assert.ok(r.s2xx >= r.succeeded && r.s4xx + r.s5xx === 0, `${name}: ${summary(r)}`);
    assert.ok(r.total > 0, `${name}: no request`);
  }
  assert.deepEqual(pace.failures, [], `paced keep-alive clients: ${pace.failures.length} failed of ${pace.ok + pace.failures.length}`);
  assert.ok(pace.reused > 10, `the paced clients reused connections only ${pace.reused} times in ${reloads} reloads`);
  assert.ok(reloads >= 12, `only ${reloads} reloads`);
  assert.ok(reloadedCount(g) >= reloads, `${reloads} reloads, ${reloadedCount(g)} "configuration reloaded" lines`);
  await waitFor(() => g.workerPids().every((p) => !first.includes(p)),
    { timeout: CEILING, what: `the first workers ${first} to exit (now ${g.workerPids()})` });
  assert.ok(pids.size >= 2 + reloads, `only ${pids.size} distinct worker pids seen over ${reloads} reloads`);
  assert.ok(g.alive());
});

test('SIGHUP every ~400 ms under h2c load: GOAWAY, no request fails (refused streams retried)', async (t) => {
  const { g, mock } = await gatewayWithMock(t);
  const first = g.workerPids();
  const echo = h2Load(g.port, echoStreamBody, { conns: 2, streams: 3, check: streamOk });
  const gpt = h2Load(g.port, gptBody, { conns: 2, streams: 3, check: jsonOk });
  await waitFor(() => echo.ok() >= 10 && gpt.ok() >= 10, { timeout: CEILING, what: 'the h2c load to get going' });
  // 12 reloads, and on until each node client has 100 answers and 5 GOAWAYs
  const reloader = reloadLoop(g, mock, {
    count: 12, more: () => [echo, gpt].some((l) => l.ok() < 100 || l.goaways() < 5 || l.sessions() < 5),
  });
  const hr = await h2loadUntil(g.url(CHAT), gptBody, reloader.finished, { h1: false, conns: 2 });
  const { reloads, pids } = await reloader.done;
  const re = await echo.stop(), rg = await gpt.stop();
  t.diagnostic(`${reloads} reloads, ${pids.size} worker pids; echo stream: ${re.ok} ok, ${re.retried} refused+retried, ${re.sessions} sessions, ${re.goaways} GOAWAYs; gpt: ${rg.ok} ok, ${rg.retried} retried, ${rg.sessions} sessions; h2load h2c: ${summary(hr)} in ${hr.batches} batches, ${hr.processFailures.length} "Process Request Failure"`);
  // h2load stops a client at its first GOAWAY and counts what it had not
  // finished as failed, even a request it got a 2xx for (its counts do not
  // add up: "Process Request Failure:3", then ":5", then "3 failed"; the
  // gateway's access log shows every request answered 200). Only its status
  // codes are checked: no request it sent got anything but a 2xx.
  assert.equal(hr.s4xx + hr.s5xx, 0, summary(hr));
  assert.ok(hr.s2xx > 0, summary(hr));
  for (const [name, r] of [['echo stream', re], ['gpt', rg]]) {
    assert.deepEqual(r.failures.slice(0, 5), [], `${name}: ${r.failures.length} failed of ${r.ok + r.failures.length}`);
    assert.ok(r.ok >= 100, `${name}: only ${r.ok} requests in ${reloads} reloads`);
    assert.ok(r.goaways >= 5 && r.sessions >= 5, `${name}: ${r.goaways} GOAWAYs, ${r.sessions} sessions: the reloads did not reach the h2 connections`);
  }
  assert.ok(reloadedCount(g) >= reloads);
  await waitFor(() => g.workerPids().every((p) => !first.includes(p)),
    { timeout: CEILING, what: `the first workers ${first} to exit (now ${g.workerPids()})` });
  assert.ok(pids.size >= 2 + reloads);
});

// ---- SIGTERM -------------------------------------------------------------------

test('SIGTERM under load (h2load h1 + h2c + slow streams): everything accepted completes, exit 0 within the drain', async (t) => {
  // the slow streams come from an upstream that holds them until after
  // SIGTERM: in flight at SIGTERM by construction
  const up = await heldUpstream(['w0', ' w1', ' w2', ' w3']);
  t.after(() => up.close());
  const { g } = await gatewayWithMock(t, {
    drain: '60s', extraProviders: [{ name: 'gated', base: `http://127.0.0.1:${up.port}/v1`, keys: [mkKey('gated')], models: ['held-*'] }],
  });
  // (h2load goes on trying to reconnect after SIGTERM until its time is up;
  // 10 s leave plenty for the load to get going before SIGTERM)
  const h1 = h2load(g.url(CHAT), echoStreamBody, { conns: 4, seconds: 10, log: true });
  const h2 = h2Load(g.port, gptBody, { conns: 2, streams: 3, check: jsonOk });
  // the load is on: 20 echo requests (h2load's) and 20 h2c ones answered
  await waitFor(async () => metric(await scrape(g), 'llmgate_requests_total', { provider: 'echo', code: '200' }) >= 20 && h2.ok() >= 20,
    { timeout: CEILING, interval: 100, what: 'the load to get going' });
  const tLoaded = Date.now();
  const streams = await Promise.all(['held-a', 'held-b', 'held-c'].map((model) => startHeldStream(g, { model })));
  const rests = streams.map((x) => x.rest()); // read on as the events come
  const tTerm = Date.now();
  g.signal('SIGTERM');
  await g.waitLog('stopping: draining', CEILING);
  assert.ok(g.alive(), 'the master exited with streams in flight');
  up.release();
  const exit = await withCeiling(g.exited, 70000, 'the master did not exit within the drain (60 s)');
  const took = Date.now() - tTerm;
  const results = await withCeiling(Promise.all(rests), CEILING, 'the slow streams did not end');
  const r1 = await h1;
  const r2 = await h2.stop();
  t.diagnostic(`exit after ${took} ms; h2load h1: ${summary(r1)}; h2c: ${r2.ok} ok, ${r2.failures.length} failures after close (${r2.failures.filter((f) => f.refusedConnect).length} ECONNREFUSED)`);
  assert.deepEqual(exit, { code: 0, signal: null });
  // the slow streams (held until after SIGTERM) all ended with [DONE]
  for (const d of results) {
    assert.equal(d[d.length - 1], '[DONE]', `slow stream cut: ${JSON.stringify(d).slice(-300)}`);
    assert.equal(d.length, 7, `slow stream: ${JSON.stringify(d)}`); // role, 4 pieces, stop, [DONE]
  }
  // h2load (HTTP/1.1): every request it started before SIGTERM got a 2xx; after
  // the drain began the workers answered with Connection: close and the
  // listeners closed, so its reconnections are refused: in timing mode
  // (-D) h2load then stops that client without counting a failure, while a
  // request cut on an open connection would count as failed and errored
  const tTermUs = tTerm * 1000;
  // (20 echo requests were answered before tLoaded, so started before it)
  assert.ok(r1.log.filter((e) => e.startUs < tLoaded * 1000).length >= 20, `h2load's log lacks the requests answered before SIGTERM`);
  const before = r1.log.filter((e) => e.startUs < tTermUs - 5000);
  const bad = before.filter((e) => e.status < 200 || e.status > 299);
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} requests started before SIGTERM did not get 2xx`);
  assert.equal(r1.s4xx + r1.s5xx, 0, summary(r1));
  assert.equal(r1.failed, 0, `h2load: ${summary(r1)}\n${r1.text}`);
  assert.equal(r1.errored, 0, summary(r1));
  // h2c: nothing failed but refused connections after the listeners closed
  const h2bad = r2.failures.filter((f) => !f.refusedConnect || f.at < tTerm - h2.t0);
  assert.deepEqual(h2bad.slice(0, 5), [], `h2c failures other than refused connections after SIGTERM`);
  assert.ok(r2.ok >= 20);
});

// Established connections to 127.0.0.1:port, counted by the pid holding the
// server side (ss -tnp).
function connectionsByPid(port) {
  const r = spawnSync('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null; // no ss (iproute2)
  const m = new Map();
  for (const line of r.stdout.split('\n')) {
    for (const x of line.matchAll(/pid=(\d+)/g)) m.set(Number(x[1]), (m.get(Number(x[1])) || 0) + 1);
  }
  return m;
}

// ---- kill -9 ---------------------------------------------------------------------

test('kill -9 of a worker under h2load: replaced, failures limited to its in-flight requests', async (t) => {
  const { g } = await gatewayWithMock(t);
  const before = g.workerPids();
  const conns = 8;
  // h2load's run ends once every client stopped: those on the killed worker
  // at the kill, the others (and the replacement's) when its time is up
  const run = h2load(g.url(CHAT), echoStreamBody, { conns, seconds: 8, log: true });
  // h2load does not reconnect a client whose connection broke: node
  // keep-alive clients (which do) show that the load goes on
  const ka = pacedH1(g.port, echoStreamBody, { loops: 6, pause: [0, 5] });
  // the load is on and h2load's connections are all established
  await waitFor(() => {
    const held = connectionsByPid(g.port);
    return ka.ok() >= 12 && (held === null || [...held.values()].reduce((a, b) => a + b, 0) >= conns);
  }, { timeout: CEILING, what: 'the load to get going' });
  // the worker holding the most client connections (libuv's accept is
  // greedy: one worker may hold them all)
  const held = connectionsByPid(g.port);
  if (held === null) t.diagnostic('ss (iproute2) is missing: killing the first worker, whatever it holds');
  const victim = held === null ? before[0] : before.reduce((a, b) => ((held.get(b) || 0) > (held.get(a) || 0) ? b : a));
  const victimConns = held === null ? conns + 6 : held.get(victim) || 0;
  assert.ok(victimConns >= 1, `no worker holds a client connection: ${JSON.stringify([...held])}`);
  const tKill = Date.now();
  process.kill(victim, 'SIGKILL');
  const after = await waitFor(() => { const w = g.workerPids(); return w.length === 2 && !w.includes(victim) ? w : null; },
    { timeout: CEILING, interval: 10, what: `a replacement for worker ${victim}` });
  const took = Date.now() - tKill;
  // new connections reach the replacement too
  for (let i = 0; i < 10; i++) {
    const r = await request(g.url(CHAT), { method: 'POST', body: gptBody, headers: { connection: 'close' }, timeout: 30000 });
    assert.equal(r.status, 200, r.text);
  }
  // the keep-alive clients go on after the kill: 50 more answers
  const okAtKill = ka.ok();
  await waitFor(() => ka.ok() >= okAtKill + 50, { timeout: CEILING, what: 'the keep-alive clients to go on after the kill' });
  const r = await run;
  const k = await ka.stop();
  t.diagnostic(`killed worker ${victim} holding ${victimConns} client connections (h2load has ${conns}, the keep-alive clients 6); replaced in ${took} ms; h2load: ${summary(r)}; keep-alive clients: ${k.ok} ok, ${k.failures.length} failed`);
  assert.ok(after.includes(before.find((p) => p !== victim)), 'the other worker must not be touched');
  assert.ok(g.alive());
  assert.ok(r.failed <= Math.min(victimConns, conns), `${r.failed} failed: more than the ${victimConns} connections the killed worker held (one request in flight on each)\n${r.text}`);
  assert.equal(r.s4xx + r.s5xx, 0, summary(r));
  // h2load's clients on the other worker went on succeeding (the killed
  // worker's clients had stopped at the kill: they start nothing later)
  const late = r.log.filter((e) => e.startUs > (tKill + 1000) * 1000);
  const lateBad = late.filter((e) => e.status < 200 || e.status > 299);
  assert.deepEqual(lateBad.slice(0, 5), [], `${lateBad.length} h2load requests after the kill failed`);
  // the keep-alive clients: at most one failure per client, on a connection
  // opened before the kill (its request in flight on the killed worker, or
  // sent on that connection before its close was seen): an order, not a time
  assert.ok(k.failures.length <= 6, `keep-alive clients: ${JSON.stringify(k.failures.slice(0, 10))}`);
  for (let loop = 0; loop < 6; loop++) {
    const f = k.failures.filter((x) => x.loop === loop);
    assert.ok(f.length <= 1, `keep-alive client ${loop} failed ${f.length} times: ${JSON.stringify(f)}`);
  }
  for (const f of k.failures) {
    assert.ok(f.sentAt <= tKill || (f.socketBorn !== undefined && f.socketBorn <= tKill),
      `a failure on a connection opened after the kill (sent ${f.sentAt - tKill} ms after it): ${f.what}`);
  }
  await waitFor(() => procState(victim) !== 'Z', { timeout: CEILING, what: `the killed worker ${victim} to be reaped` });
});

// ---- DNS ---------------------------------------------------------------------

test('DNS failure: 502 OpenAI-shaped at once, the key follows the network-error rule, the fallback answers', async (t) => {
  const mock = await startMock();
  const dnsKey = mkKey('dns'), dnsfKey = mkKey('dnsf');
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({
      // connect and request timeouts of an hour: an answer within the client's
      // ceiling proves that no timeout was waited for; a cooldown of 10 min
      // cannot end between two steps of the test
      port, workers: 1, top: `admin_token: ${ADMIN}\ntimeouts: {connect: 1h, request: 1h}\nkeys: {cooldown: 10m, max_cooldown: 20m}\nretry: {attempts: 3}`,
      providers: [
        { name: 'dns', base: 'http://no-such-host.invalid/v1', keys: [dnsKey], models: ['dns-*'] },
        { name: 'dnsf', base: 'http://no-such-host.invalid/v1', keys: [dnsfKey], models: ['dnsf-*'], extra: { fallback: '[backup]' } },
        { name: 'backup', base: `${mock.base}/v1`, keys: [mkKey('backup')], models: ['backup-*'] },
      ],
    }),
  });
  t.after(async () => { await g.stop(); await mock.stop(); });
  const post = (model) => request(g.url(CHAT), { method: 'POST', body: { model, messages: [{ role: 'user', content: `dns ${model}` }] }, timeout: CEILING });

  // no fallback: 502, at once (not after a timeout), three times; the third
  // network failure in a row cools the key (docs/key-health.md: NETWORK as
  // SERVER)
  for (let i = 1; i <= 3; i++) {
    const t0 = Date.now();
    const r = await post('dns-x');
    t.diagnostic(`request ${i}: ${r.status} in ${Date.now() - t0} ms`);
    assert.equal(r.status, 502, `request ${i}: ${r.text}`);
    assert.ok(isOpenAIError(r.json), r.text);
    const [k] = await keyRows(g, ADMIN, 'dns');
    assert.equal(k.network, i, JSON.stringify(k));
    assert.equal(k.consecutive_failures, i, JSON.stringify(k));
    assert.equal(k.state, i < 3 ? 'usable' : 'cooling', JSON.stringify(k));
  }
  // cooling: the gateway answers 429 with Retry-After and does not try
  const r4 = await post('dns-x');
  assert.equal(r4.status, 429, r4.text);
  assert.ok(isOpenAIError(r4.json));
  assert.ok(Number(r4.headers.get('retry-after')) >= 1, `retry-after ${r4.headers.get('retry-after')}`);
  const [k4] = await keyRows(g, ADMIN, 'dns');
  assert.equal(k4.network, 3);

  // with a fallback: the fallback provider on the mock answers
  const tag = rnd();
  const r5 = await request(g.url(CHAT), { method: 'POST', body: { model: 'dnsf-y', messages: [{ role: 'user', content: `fb ${tag}` }] }, timeout: CEILING });
  assert.equal(r5.status, 200, r5.text);
  assert.equal(r5.json.choices[0].message.content, `mock: fb ${tag}`);
  const [kf] = await keyRows(g, ADMIN, 'dnsf');
  assert.equal(kf.network, 1, JSON.stringify(kf));
  assert.equal((await request(g.url('/health'))).status, 200);
  assert.equal(g.workerPids().length, 1);
  assert.ok(g.alive());
});

// ---- 429 storm -------------------------------------------------------------------

test('429 storm under h2load: clients get 429 + Retry-After, the upstream is not hammered, service resumes after the storm', async (t) => {
  const mock = await startMock();
  // the storm is in the requests (the mock option in the body, which the
  // gateway forwards): every upstream answer to them is a 429, however long
  // the storm takes on this machine; calm requests are answered normally.
  // One key with Retry-After, one with retry-after-ms, one without a hint
  // (the gateway's own cooldown)
  const keys = [mkKey('s1', 'retry_after=1'), mkKey('s2', 'retry_after_ms=800'), mkKey('s3')];
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: `admin_token: ${ADMIN}\nkeys: {cooldown: 1s, max_cooldown: 2s}\nretry: {attempts: 3}`,
      providers: [{ name: 'storm', base: `${mock.base}/v1`, keys, models: ['storm-*'] }],
    }),
  });
  t.after(async () => { await g.stop(); await mock.stop(); });
  const body = { model: 'storm-1', messages: [{ role: 'user', content: 'storm' }] };
  const stormBody = { ...body, mock: 'fault=429' };
  const tStart = Date.now();
  const run = h2load(g.url(CHAT), stormBody, { conns: 2, seconds: 2 });
  // every key has had its 429: all cooling, or about to be probed again
  await waitFor(async () => {
    const hit = new Set((await mock.record()).filter((e) => e.event === 'request').map((e) => e.key));
    return keys.every((k) => hit.has(k));
  }, { timeout: CEILING, interval: 20, what: 'a 429 for every key' });
  const during = await request(g.url(CHAT), { method: 'POST', body: stormBody, timeout: CEILING });
  const r = await run;
  const stormMs = Date.now() - tStart;
  const upstream = (await mock.record()).filter((e) => e.event === 'request');
  t.diagnostic(`storm: h2load ${summary(r)} in ${stormMs} ms; upstream requests ${upstream.length}`);
  assert.ok(upstream.every((e) => e.status === 429), 'an upstream answer other than 429 during the storm');
  assert.equal(during.status, 429, during.text);
  assert.ok(isOpenAIError(during.json));
  const ra = Number(during.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 3, `retry-after ${during.headers.get('retry-after')}`);
  // h2load counts a 4xx as "failed": here every request got a 429
  assert.equal(r.errored, 0, summary(r));
  assert.ok(r.total > 0, summary(r));
  assert.equal(r.failed, r.s4xx, summary(r));
  assert.equal(r.s4xx, r.total, summary(r));
  // bounded: a key is probed once per cooling period (0.8 s at least), by at
  // most every client request in flight at its end (h2load's 2 and
  // `during`), not once per client request. The bound follows the time the
  // storm really took, so a slow machine does not break it
  const bound = keys.length * (Math.floor(stormMs / 800) + 1) * 3;
  assert.ok(upstream.length <= bound, `${upstream.length} upstream requests (bound ${bound}) for ${r.total} client requests in ${stormMs} ms: the gateway hammers a rate-limited upstream`);
  // after the storm: success again once the keys' cooldowns are over
  const t0 = Date.now();
  await waitFor(async () => (await request(g.url(CHAT), { method: 'POST', body, timeout: CEILING })).status === 200,
    { timeout: CEILING, interval: 250, what: 'a 200 after the storm' });
  t.diagnostic(`first 200 ${Date.now() - t0} ms after the storm`);
  const ok = await h2load(g.url(CHAT), body, { conns: 4, n: 200 });
  assert.ok(ok.succeeded === 200 && ok.failed === 0, summary(ok));
  const statuses = await Promise.all(Array.from({ length: 10 }, () => request(g.url(CHAT), { method: 'POST', body, timeout: CEILING })));
  assert.deepEqual(statuses.map((x) => x.status), Array(10).fill(200));
});

// ---- stalls and slow reads ----------------------------------------------------------

test('stalling and slow-reading upstreams under load: echo traffic next to them is unaffected', async (t) => {
  const mock = await startMock({ args: ['--no-record'] });
  // idle 2 s and request 12 s must fire for the stalled and hanging upstreams;
  // the slow reader (a 3 s pause) must still be answered, well within 12 s
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: 'timeouts: {idle: 2s, request: 12s, ping: 0}',
      providers: [
        { name: 'echo', type: 'echo', models: ['echo'], extra: { delay: '2ms' } },
        { name: 'stall', base: `${mock.base}/s/fault=hang_midstream,after=2,interval=20/v1`, keys: [mkKey('stall')], models: ['stall-*'] },
        { name: 'hang', base: `${mock.base}/s/fault=hang/v1`, keys: [mkKey('hang')], models: ['hang-*'] },
        { name: 'slowread', base: `${mock.base}/s/fault=slow_read,pause=3000/v1`, keys: [mkKey('slowread')], models: ['slowread-*'] },
      ],
    }),
  });
  t.after(async () => { await g.stop(); await mock.stop(); });
  // a 200 kB body, so that the slow reader's stalled upload backs up
  const dir = tmpDir();
  const bad = (model, stream) => {
    const t0 = Date.now();
    const file = path.join(dir, `${model}.json`);
    fs.writeFileSync(file, JSON.stringify({ model, messages: [{ role: 'user', content: `x ${'y'.repeat(200000)}` }], stream }));
    return curl(['-N', '--max-time', '60', '-X', 'POST', g.url(CHAT), '-H', 'content-type: application/json',
      '--data-binary', `@${file}`], { timeout: 70000 })
      .then((r) => ({ ...r, model, took: Date.now() - t0 }));
  };
  const faulty = [bad('stall-1', true), bad('stall-2', true), bad('hang-1', false), bad('hang-2', true), bad('slowread-1', false), bad('slowread-2', true)];
  const run = await h2load(g.url(CHAT), echoStreamBody, { conns: 4, seconds: 4 });
  const res = await Promise.all(faulty);
  t.diagnostic(`h2load echo: ${summary(run)}; faulty: ${res.map((r) => `${r.model} ${r.status} in ${r.took} ms`).join(', ')}`);
  assert.equal(run.failed, 0, summary(run));
  assert.equal(run.errored, 0, summary(run));
  assert.equal(run.succeeded, run.total, summary(run));
  assert.ok(run.total > 0, summary(run));
  for (const r of res) {
    // each is ended by the gateway (its timeouts: idle 2 s, request 12 s), or
    // answered after the slow read; curl's own 60 s limit (exit 28) only
    // bounds a hang
    assert.notEqual(r.exitCode, 28, `${r.model}: still hanging after 60 s`);
    if (r.model.startsWith('slowread')) assert.equal(r.status, 200, `${r.model}: ${r.body.slice(0, 300)}`);
    if (r.model.startsWith('stall')) {
      const d = parseSSE(r.body);
      assert.equal(r.status, 200);
      assert.ok(d.some((x) => x.includes('"error"')), `${r.model}: no error event: ${r.body.slice(-300)}`);
    }
    if (r.model === 'hang-1') assert.ok([502, 504].includes(r.status), `${r.model}: ${r.status} ${r.body.slice(0, 200)}`);
  }
  assert.equal(g.workerPids().length, 2);
  assert.ok(g.alive());
});

// Soak test driver (run it through tests/soak/run.sh; docs/operations.md,
// "Soak test"). Starts the mock upstream and llmgate (2 workers), runs mixed
// load for DURATION seconds, samples the summed proportional set size (PSS)
// of the master and its workers, and checks at the end:
//
//   1. PSS at the end is within 10% of its value after the warm-up
//   2. no error but the injected ones (counted per route)
//   3. every injected fault did happen (the faults were really exercised)
//   4. h2load (HTTP/1.1, non-stream): 0 failed, 0 errored
//   5. h2load (h2c, non-stream): 0 failed, 0 errored
//   6. no worker restarted (same worker pids from start to end, no
//      "killed by signal" / "exited" line in the log)
//   7. SIGTERM at the end: exit 0 within timeouts.drain
//   8. no sanitizer report (ASan/UBSan builds write them to OUT/sanitizer/)
//   9. attacks ran beside the traffic, from other loopback addresses (unless
//      LLMGATE_SOAK_ATTACKS=0), each with its expected outcome every time:
//      rapid reset and "MadeYouReset" floods (GOAWAY ENHANCE_YOUR_CALM), two
//      Content-Length fields (400), a body declared over max_body_bytes (413),
//      stalled bodies held a second then dropped (admitted and held). Checks
//      2 to 6 are what shows that no legitimate request failed meanwhile.
//
// Each check prints `ok:` or `FAIL:`, then one line `N passed, N failed`.
// Writes OUT/pss.csv (t_s, pss_kb, pss_anon_shmem_kb, pss_file_kb, rss_kb, workers), OUT/routes.csv and
// OUT/summary.json.
//
//   node tests/soak/soak.mjs DURATION_S OUT_DIR   (LLMGATE_BIN, LLMGATE_MOCK_BIN)
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startGateway, startMock, childPids, parseSSE, sleep } from '../integration/lib/harness.mjs';
import { h1Stall, h2Stall, attackInPlace, rawFrom, resetFlood } from '../integration/lib/attack.mjs';
import { E } from '../integration/lib/h2frames.mjs';

const DURATION = Number(process.argv[2] || 1800);
const OUT = process.argv[3] || fs.mkdtempSync('/tmp/llmgate-soak-');
fs.mkdirSync(OUT, { recursive: true });
const WARMUP = Math.max(30, DURATION * 0.2); // seconds
const SAMPLE_MS = DURATION >= 600 ? 10000 : 3000;
const STREAM_LOOPS = Number(process.env.LLMGATE_SOAK_STREAMS || 8);
const H2LOAD_RPS = Number(process.env.LLMGATE_SOAK_RPS || 25); // per connection, 2 connections per h2load
const ATTACKS = process.env.LLMGATE_SOAK_ATTACKS !== '0';
const log = (...a) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- the routes ----------------------------------------------------------------
// Each route: a model (routed by the gateway to one provider), whether the
// client streams, and the outcomes that count as expected. A fault route's
// injected outcomes are listed in `injected`; anything else is unexpected.
// Outcomes: ok (200, complete answer / stream ending with [DONE] and no error
// event), error_event (200 stream with an error event, then [DONE]), or the
// HTTP status of an error answer ("429", "502", "504").
const ROUTES = [
  { name: 'echo-stream', model: 'echo', stream: true, weight: 3, injected: [] },
  { name: 'stream64', model: 'stream-64', stream: true, weight: 4, injected: [] },
  { name: 'nonstream', model: 'ok-1', stream: false, weight: 3, injected: [] },
  { name: 'fault-500', model: 'f500-1', stream: false, weight: 1, injected: ['502', '429'] },
  { name: 'fault-429', model: 'f429-1', stream: false, weight: 1, injected: ['429'] },
  { name: 'fault-reset', model: 'freset-1', stream: true, weight: 1, injected: ['error_event', '502', '429'] },
  { name: 'fault-stall', model: 'fstall-1', stream: true, weight: 1, injected: ['error_event', '504', '429'] },
];

function config({ port, mock }) {
  const p = (name, base, models, keys = [`sk-soak-${name}-1`, `sk-soak-${name}-2`]) => [
    `  - name: ${name}`, '    type: openai', `    base_url: "${mock.base}${base}"`,
    `    keys: [${keys.map((k) => JSON.stringify(k)).join(', ')}]`, `    models: [${models.map((m) => JSON.stringify(m)).join(', ')}]`,
  ].join('\n');
  return [
    'listen:', `  - {address: 127.0.0.1, port: ${port}}`,
    'workers: 2',
    'timeouts: {request: 20s, idle: 2s, ping: 0, drain: 20s}',
    'keys: {cooldown: 1s, max_cooldown: 2s}',
    'retry: {attempts: 2}',
    'providers:',
    '  - name: echo', '    type: echo', '    models: [echo]', '    delay: 5ms',
    p('ok', '/s/latency=5/v1', ['ok-*']),
    p('stream', '/s/chunks=64,chunk_size=8,interval=10/v1', ['stream-*']),
    p('f500', '/s/fault=500/v1', ['f500-*']),
    p('f429', '/s/fault=429,retry_after=1/v1', ['f429-*']),
    p('freset', '/s/fault=reset_midstream,after=3,chunks=64,chunk_size=8,interval=5/v1', ['freset-*']),
    p('fstall', '/s/fault=hang_midstream,after=2/v1', ['fstall-*']),
  ].join('\n') + '\n';
}

// ---- one request ---------------------------------------------------------------------
async function one(gw, route) {
  const body = { model: route.model, messages: [{ role: 'user', content: `soak ${route.name} ${Math.random().toString(36).slice(2, 8)}` }] };
  if (route.stream) body.stream = true;
  let res, text;
  try {
    res = await fetch(gw.url('/v1/chat/completions'), {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30000),
    });
    text = await res.text();
  } catch (e) {
    return { outcome: `transport:${(e.cause && e.cause.code) || e.name}`, detail: String(e.message) };
  }
  if (res.status !== 200) return { outcome: String(res.status), detail: text.slice(0, 200) };
  if (!route.stream) {
    try {
      const j = JSON.parse(text);
      return j.choices && j.choices[0].message && typeof j.choices[0].message.content === 'string'
        ? { outcome: 'ok' } : { outcome: 'bad_body', detail: text.slice(0, 200) };
    } catch { return { outcome: 'bad_body', detail: text.slice(0, 200) }; }
  }
  const d = parseSSE(text);
  if (d[d.length - 1] !== '[DONE]') return { outcome: 'no_done', detail: text.slice(-200) };
  if (d.some((x) => x.startsWith('{"error"'))) return { outcome: 'error_event', detail: d.find((x) => x.startsWith('{"error"')).slice(0, 200) };
  const chunks = d.length - 1;
  if (route.name === 'stream64' && chunks < 66) return { outcome: 'short_stream', detail: `${chunks} chunks` };
  return { outcome: 'ok' };
}

// ---- h2load ----------------------------------------------------------------------------
function h2load(gw, { h1, seconds }) {
  const file = path.join(OUT, `h2load-body-${h1 ? 'h1' : 'h2c'}.json`);
  fs.writeFileSync(file, JSON.stringify({ model: 'ok-h2load', messages: [{ role: 'user', content: 'soak h2load' }] }));
  // -n (at --rps, it lasts about `seconds`), not -D: at the end of a -D run
  // h2load cuts its streams in flight and counts them as failed
  const args = [...(h1 ? ['--h1'] : []), '-c', '2', '-t', '1', '--rps', String(H2LOAD_RPS), '-n', String(2 * H2LOAD_RPS * seconds), '-d', file,
    '-H', 'content-type: application/json', gw.url('/v1/chat/completions')];
  return new Promise((resolve) => {
    const p = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('error', (e) => resolve({ error: e.message, out }));
    p.on('close', () => {
      fs.writeFileSync(path.join(OUT, `h2load-${h1 ? 'h1' : 'h2c'}.txt`), out);
      const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
      const s = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
      if (!m || !s) return resolve({ error: 'no summary', out });
      const [total, , , succeeded, failed, errored] = m.slice(1).map(Number);
      resolve({ total, succeeded, failed, errored, s2xx: Number(s[1]), s4xx: Number(s[3]), s5xx: Number(s[4]) });
    });
  });
}

// ---- memory ------------------------------------------------------------------------------
function rollup(pid) {
  try {
    const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t) || [])[1] || 0);
    return { pss: kb('Pss'), anon: kb('Pss_Anon') + kb('Pss_Shmem'), file: kb('Pss_File'), rss: kb('Rss') };
  } catch { return null; }
}
function sample(gw) {
  const pids = [gw.pid, ...childPids(gw.pid)];
  let pss = 0, anon = 0, file = 0, rss = 0;
  for (const p of pids) { const r = rollup(p); if (r) { pss += r.pss; anon += r.anon; file += r.file; rss += r.rss; } }
  return { pss, anon, file, rss, workers: pids.length - 1 };
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

// ---- main ---------------------------------------------------------------------------------
const results = [];
const check = (ok, what) => { results.push({ ok, what }); console.log(`${ok ? 'ok' : 'FAIL'}: ${what}`); };

const mock = await startMock({ args: ['--no-record'] });
const gw = await startGateway({ config: ({ port }) => config({ port, mock }) });
const workersAtStart = gw.workerPids();
log(`gateway pid ${gw.pid}, workers ${workersAtStart.join(' ')}, port ${gw.port}; mock ${mock.base}; ${DURATION} s, warm-up ${WARMUP} s, out ${OUT}`);

const t0 = Date.now();
const end = t0 + DURATION * 1000;
const counts = new Map(); // route -> Map(outcome -> n)
const examples = new Map();
const total = ROUTES.reduce((s, r) => s + r.weight, 0);
const pick = () => { let x = Math.random() * total; for (const r of ROUTES) { x -= r.weight; if (x < 0) return r; } return ROUTES[0]; };
const loops = Array.from({ length: STREAM_LOOPS }, async () => {
  while (Date.now() < end) {
    const route = pick();
    const r = await one(gw, route);
    if (!counts.has(route.name)) counts.set(route.name, new Map());
    const m = counts.get(route.name);
    m.set(r.outcome, (m.get(r.outcome) || 0) + 1);
    const key = `${route.name} ${r.outcome}`;
    if (r.detail && !examples.has(key)) examples.set(key, r.detail);
  }
});
const h1 = h2load(gw, { h1: true, seconds: DURATION });
const h2c = h2load(gw, { h1: false, seconds: DURATION });

// ---- attacks beside the traffic (docs/security.md) -----------------------------------------
// Each attack repeats until the end (so that the last memory samples, like
// the first ones after the warm-up, are taken under attack); its outcomes
// are counted.
// Legitimate clients are on 127.0.0.1, the attackers on other addresses (the
// per-address budgets are part of what is exercised).
const attackCounts = new Map(); // attack -> Map(outcome -> n)
const attack = async (name, expected, every, fn) => {
  attackCounts.set(name, new Map());
  while (Date.now() < end) {
    let outcome;
    try { outcome = await fn(); } catch (e) { outcome = `error: ${e.message}`; }
    const m = attackCounts.get(name);
    m.set(outcome, (m.get(outcome) || 0) + 1);
    await sleep(every);
  }
  return { name, expected };
};
const CHAT_HEAD = 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n';
const status = (buf) => { const m = /^HTTP\/1\.1 (\d{3}) /.exec(buf.toString('latin1')); return m ? m[1] : `no answer (${buf.length} bytes)`; };
const attacks = !ATTACKS ? [] : [
  attack('rapid reset', 'GOAWAY ENHANCE_YOUR_CALM', 2000, async () => {
    const code = await resetFlood(gw.port, '127.0.0.4', { kind: 'rst' });
    return code === E.ENHANCE_YOUR_CALM ? 'GOAWAY ENHANCE_YOUR_CALM' : `GOAWAY ${code}`;
  }),
  attack('MadeYouReset', 'GOAWAY ENHANCE_YOUR_CALM', 2000, async () => {
    const code = await resetFlood(gw.port, '127.0.0.4', { kind: 'window' });
    return code === E.ENHANCE_YOUR_CALM ? 'GOAWAY ENHANCE_YOUR_CALM' : `GOAWAY ${code}`;
  }),
  attack('two Content-Length fields', '400', 1000, async () =>
    status(await rawFrom(gw.port, '127.0.0.3', `${CHAT_HEAD}content-length: 5\r\ncontent-length: 61\r\n\r\n{"a":1}`, { end: true }))),
  attack('a body declared over max_body_bytes', '413', 1000, async () =>
    status(await rawFrom(gw.port, '127.0.0.3', `${CHAT_HEAD}content-length: 100000000\r\n\r\n{"model":`, { end: true }))),
  attack('stalled bodies', 'held', 1000, async () => {
    const cl = 32 * 1024; // small: the memory check judges a few MiB
    const held = [h1Stall(gw.port, '127.0.0.2', { cl, send: cl - 1 }), h1Stall(gw.port, '127.0.0.2', { cl, send: cl - 1 }),
      h2Stall(gw.port, '127.0.0.2', { cl, send: cl - 1 }), h2Stall(gw.port, '127.0.0.2', { cl, send: cl - 1 })];
    try {
      const state = await attackInPlace(held, gw.port, 'stalled bodies in place', 60000);
      await sleep(1000);
      const answered = state.filter((x) => x.answer).map((x) => x.answer.status);
      return answered.length ? `answered ${answered.join(',')}` : 'held';
    } finally {
      for (const a of held) a.sock.destroy();
    }
  }),
];

const csv = ['t_s,pss_kb,pss_anon_shmem_kb,pss_file_kb,rss_kb,workers'];
const row = (t, s) => `${t.toFixed(1)},${s.pss},${s.anon},${s.file},${s.rss},${s.workers}`;
const series = [];
let lastReport = 0;
while (Date.now() < end) {
  const s = sample(gw);
  const t = (Date.now() - t0) / 1000;
  series.push({ t, ...s });
  csv.push(row(t, s));
  fs.writeFileSync(path.join(OUT, 'pss.csv'), csv.join('\n') + '\n');
  if (t - lastReport >= Math.max(30, DURATION / 20)) {
    lastReport = t;
    const n = [...counts.values()].reduce((a, m) => a + [...m.values()].reduce((x, y) => x + y, 0), 0);
    log(`t=${t.toFixed(0)} s: PSS ${(s.pss / 1024).toFixed(1)} MiB (anon+shmem ${(s.anon / 1024).toFixed(1)} MiB, RSS ${(s.rss / 1024).toFixed(1)} MiB), ${s.workers} workers, ${n} client requests`);
  }
  await sleep(Math.min(SAMPLE_MS, Math.max(0, end - Date.now())));
}
await Promise.all(loops);
const attackResults = await Promise.all(attacks);
const [r1, r2] = await Promise.all([h1, h2c]);
const workersAtEnd = gw.workerPids();

// 1. PSS flat: the median of the first five samples after the warm-up vs the
// median of the last five (all taken under load). The check is on the PSS of
// anonymous and shared memory (Pss_Anon + Pss_Shmem: heap, stacks, the pool
// region), which only llmgate's own processes share. The file-backed part
// (libc, libh2o, libcurl, ... pages) is divided among every process on the
// machine that maps the same libraries, so it moves whenever other programs
// start or stop; it is recorded (pss_file_kb) but not judged.
const win = (a) => a.slice(0, 5);
const afterWarm = win(series.filter((s) => s.t >= WARMUP));
const atEnd = series.slice(-5);
const warmPss = median(afterWarm.map((s) => s.anon)), endPss = median(atEnd.map((s) => s.anon));
const drift = (endPss - warmPss) / warmPss;
const warmTotal = median(afterWarm.map((s) => s.pss)), endTotal = median(atEnd.map((s) => s.pss));
check(Number.isFinite(drift) && Math.abs(drift) <= 0.10,
  `summed PSS (anon+shmem) ${(endPss / 1024).toFixed(2)} MiB at the end vs ${(warmPss / 1024).toFixed(2)} MiB after the ${WARMUP} s warm-up: ${(drift * 100).toFixed(1)}% (limit 10%); total PSS ${(warmTotal / 1024).toFixed(1)} -> ${(endTotal / 1024).toFixed(1)} MiB`);

// 2. and 3. outcomes per route
const routeRows = ['route,outcome,count,expected'];
const unexpected = [];
const missingFaults = [];
for (const route of ROUTES) {
  const m = counts.get(route.name) || new Map();
  for (const [outcome, n] of m) {
    const expected = outcome === 'ok' || route.injected.includes(outcome);
    routeRows.push(`${route.name},${outcome},${n},${expected ? 'yes' : 'NO'}`);
    if (!expected) unexpected.push(`${route.name}: ${n} x ${outcome} (e.g. ${examples.get(`${route.name} ${outcome}`) || '-'})`);
  }
  if ((m.get('ok') || 0) + [...m.values()].reduce((a, b) => a + b, 0) === 0) missingFaults.push(`${route.name}: no request`);
  if (route.injected.length && !route.injected.some((o) => (m.get(o) || 0) > 0)) missingFaults.push(`${route.name}: no injected error seen`);
  if (!route.injected.length && !(m.get('ok') > 0)) missingFaults.push(`${route.name}: no success`);
}
fs.writeFileSync(path.join(OUT, 'routes.csv'), routeRows.join('\n') + '\n');
const clientTotal = [...counts.values()].reduce((a, m) => a + [...m.values()].reduce((x, y) => x + y, 0), 0);
const injectedTotal = ROUTES.reduce((a, r) => a + r.injected.reduce((x, o) => x + ((counts.get(r.name) || new Map()).get(o) || 0), 0), 0);
check(unexpected.length === 0, `no error beyond the injected ones: ${clientTotal} client requests, ${injectedTotal} injected errors, ${unexpected.length ? `unexpected: ${unexpected.join('; ')}` : '0 unexpected'}`);
check(missingFaults.length === 0, `every route was exercised and every fault injected${missingFaults.length ? `: ${missingFaults.join('; ')}` : ''}`);

// 4. and 5. h2load
for (const [name, r] of [['HTTP/1.1', r1], ['h2c', r2]]) {
  check(!r.error && r.failed === 0 && r.errored === 0 && r.total > 0 && r.succeeded === r.total,
    `h2load ${name} non-stream: ${r.error ? r.error : `${r.total} total, ${r.succeeded} succeeded, ${r.failed} failed, ${r.errored} errored`}`);
}

// 6. no worker restarted
const restartLines = gw.logs().split('\n').filter((l) => /killed by signal|exited with|starting a new one/.test(l));
check(JSON.stringify(workersAtStart) === JSON.stringify(workersAtEnd) && restartLines.length === 0,
  `no worker restarted (workers ${workersAtStart.join(' ')} at start, ${workersAtEnd.join(' ')} at the end${restartLines.length ? `; ${restartLines[0]}` : ''})`);

// 9. the attacks (before SIGTERM: they ran against the same workers)
if (ATTACKS) {
  const rows = [];
  let bad = [];
  for (const { name, expected } of attackResults) {
    const m = attackCounts.get(name);
    rows.push(`${name}: ${[...m].map(([o, n]) => `${n} x ${o}`).join(', ') || 'never ran'}`);
    if (!m.get(expected)) bad.push(`${name}: never "${expected}"`);
    for (const [o, n] of m) if (o !== expected) bad.push(`${name}: ${n} x ${o}`);
  }
  check(bad.length === 0, `attacks beside the traffic (${rows.join('; ')})${bad.length ? `; unexpected: ${bad.join('; ')}` : ''}`);
}

// 7. SIGTERM
const tStop = Date.now();
const exit = await gw.stop('SIGTERM', 25000);
check(exit.code === 0 && exit.signal === null, `SIGTERM: exit ${JSON.stringify(exit)} after ${Date.now() - tStop} ms`);
await mock.stop();
fs.writeFileSync(path.join(OUT, 'gateway.log'), gw.logs());

// 8. sanitizer reports
const sanDir = process.env.LLMGATE_SOAK_SANITIZER_DIR;
if (sanDir) {
  const reports = fs.existsSync(sanDir) ? fs.readdirSync(sanDir) : [];
  check(reports.length === 0, `no sanitizer report${reports.length ? `: ${reports.join(', ')} in ${sanDir}` : ''}`);
}

const summary = {
  duration_s: DURATION, warmup_s: WARMUP, pss_anon_after_warmup_kb: warmPss, pss_anon_end_kb: endPss, pss_anon_drift: drift,
  pss_total_after_warmup_kb: warmTotal, pss_total_end_kb: endTotal,
  pss_anon_min_kb: Math.min(...series.map((s) => s.anon)), pss_anon_max_kb: Math.max(...series.map((s) => s.anon)),
  client_requests: clientTotal, injected_errors: injectedTotal, unexpected,
  routes: Object.fromEntries([...counts].map(([k, m]) => [k, Object.fromEntries(m)])),
  h2load_h1: r1, h2load_h2c: r2, checks: results,
  attacks: Object.fromEntries([...attackCounts].map(([k, m]) => [k, Object.fromEntries(m)])),
};
fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
log(`report: ${OUT} (pss.csv, routes.csv, summary.json, gateway.log)`);
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(results.length === passed ? 0 : 1);

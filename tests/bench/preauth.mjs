// Measures issue 13's memory bound and what it costs legitimate clients
// (docs/security.md "Memory before authentication"): llmgate on its embedded
// default config with one worker; a legitimate client in its own process
// (echo chats and /health from 127.0.0.1, one at a time); then 200 attacking
// connections (100 HTTP/1.1 from 127.0.0.2, 100 h2c from 127.0.0.3), each
// declaring the largest body (max_body_bytes, 4 MiB), sending all but its
// last byte and holding the connection. Prints the worker's RSS before and
// with the attack in place, and the legitimate client's latency percentiles
// before the attack, while it is being sent, and while it is held.
//
//   node tests/bench/preauth.mjs [HELD_SECONDS]      (LLMGATE_BIN: the binary)
//   ATTACK_TOKEN=1: the gateway has an access token and the attackers none
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, echoConfig, sleep } from '../integration/lib/harness.mjs';
import { h1Stall, h2Stall, attackInPlace, rssKiB, CHAT_PATH } from '../integration/lib/attack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const TOKEN = 'sk-bench-legit';

// ---- the legitimate client (a child process) ----------------------------------
if (process.argv[2] === 'client') {
  const url = process.argv[3], token = process.argv[4];
  const rows = [];
  let stop = false;
  process.on('SIGUSR2', () => { stop = true; }); // (the harness, imported, exits on SIGTERM)
  const t0 = Date.now();
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  for (let i = 0; !stop; i++) {
    const start = process.hrtime.bigint();
    let ok = false;
    try {
      const r = i % 2 === 0
        ? await fetch(`${url}${CHAT_PATH}`, { method: 'POST', headers, body: JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: `hi ${i}` }] }) })
        : await fetch(`${url}/health`, { headers });
      await r.text();
      ok = r.status === 200;
    } catch { /* counted as a failure */ }
    rows.push([Date.now() - t0, Number(process.hrtime.bigint() - start) / 1e6, ok ? 1 : 0]);
  }
  fs.writeSync(1, JSON.stringify({ t0, rows }));
  process.exit(0);
}

const HELD_S = Number(process.argv[2] || 5);
const withToken = process.env.ATTACK_TOKEN === '1';
const g = await startGateway(withToken
  ? { config: ({ port }) => echoConfig({ port, workers: 1, extra: `access_tokens:\n  - {name: legit, token: ${TOKEN}}\n` }) }
  : { env: { LLMGATE_WORKERS: '1' } });
const [worker] = g.workerPids();
const child = spawn(process.execPath, [path.join(here, 'preauth.mjs'), 'client', `http://127.0.0.1:${g.port}`, withToken ? TOKEN : ''], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d) => { out += d; });
const childDone = new Promise((r) => child.on('close', r)); // after its stdout has ended
const tStart = Date.now();
await sleep(3000); // a baseline of the legitimate client alone
const rssBefore = rssKiB(worker);
const tAttack = Date.now();
const attackers = [];
for (let i = 0; i < 100; i++) attackers.push(h1Stall(g.port, '127.0.0.2', { cl: 4 * MiB, send: 4 * MiB - 1 }));
for (let i = 0; i < 100; i++) attackers.push(h2Stall(g.port, '127.0.0.3', { cl: 4 * MiB, send: 4 * MiB - 1 }));
const state = await attackInPlace(attackers, g.port, 'the attack in place');
const tHeld = Date.now();
const rssHeld = rssKiB(worker);
await sleep(HELD_S * 1000);
const rssEnd = rssKiB(worker);
child.kill('SIGUSR2');
await childDone;
for (const a of attackers) a.sock.destroy();
await g.stop();

const { t0, rows } = JSON.parse(out);
const phase = (from, to) => rows.filter(([t]) => t0 + t >= from && t0 + t < to);
const pct = (xs, p) => { const s = xs.map((r) => r[1]).sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const statuses = {};
for (const s of state) { const k = s.answer ? String(s.answer.status) : 'held'; statuses[k] = (statuses[k] || 0) + 1; }
console.log(`llmgate ${withToken ? 'with an access token, attackers without' : 'embedded default config'}, 1 worker`);
console.log(`attackers: ${JSON.stringify(statuses)}; in place after ${((tHeld - tAttack) / 1000).toFixed(1)} s`);
console.log(`worker RSS: ${(rssBefore / 1024).toFixed(1)} MiB before, ${(rssHeld / 1024).toFixed(1)} MiB with the attack in place (+${((rssHeld - rssBefore) / 1024).toFixed(1)} MiB), ${(rssEnd / 1024).toFixed(1)} MiB after ${HELD_S} s held`);
console.log('| phase | requests | failed | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|---|');
for (const [name, from, to] of [['before', tStart, tAttack], ['attack being sent', tAttack, tHeld], ['attack held', tHeld, tHeld + HELD_S * 1000]]) {
  const xs = phase(from, to);
  console.log(`| ${name} | ${xs.length} | ${xs.filter((r) => !r[2]).length} | ${pct(xs, 0.5).toFixed(2)} | ${pct(xs, 0.99).toFixed(2)} | ${Math.max(...xs.map((r) => r[1])).toFixed(2)} |`);
}
fs.writeFileSync(path.join(g.dir, 'preauth-latency.json'), out);
process.exit(0);

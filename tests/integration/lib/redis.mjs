// A throwaway redis-server for the cluster tests (docs/cluster.md): started in
// the foreground on a free loopback port (no persistence), stopped at the end
// of the test process, and killable and restartable on the same port.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { freePort, waitFor } from './harness.mjs';

export const REDIS_BIN = process.env.LLMGATE_REDIS_BIN || 'redis-server';

const live = new Set();
process.on('exit', () => { for (const p of live) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } } });

// Sends RESP commands (arrays of strings) on one connection and resolves with
// the raw reply text once `expect` replies (lines starting with + - : $ *) have
// come, or rejects on an error or after `timeout` ms.
export function redisCommand(port, commands, { timeout = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('redis: no reply')); }, timeout);
    s.on('connect', () => {
      for (const c of commands) s.write(`*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
      s.write('*1\r\n$4\r\nQUIT\r\n');
    });
    s.on('data', (d) => { buf += d; });
    s.on('error', (e) => { clearTimeout(t); reject(e); });
    s.on('close', () => { clearTimeout(t); resolve(buf); });
  });
}

// The major version of REDIS_BIN (`redis-server --version`: "... v=7.0.15 ..."),
// 0 when it cannot be read.
export function redisMajorVersion() {
  const r = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' });
  const m = /v=(\d+)\./.exec(r.stdout || '');
  return m ? Number(m[1]) : 0;
}

// Starts redis-server on a free loopback port, no persistence; opts.password
// sets --requirepass. Returns {port, pid, log, cmd(...commands),
// cmdWithin(timeoutMs, ...commands) (for a command that takes long: DEBUG
// SLEEP), start(), kill() (SIGKILL: connections drop at once, as when a host
// dies), restart() (same port), stop()}. Options for the fault tests
// (tests/integration/cluster-faults.test.mjs):
//   args:    extra redis-server arguments
//   debug:   allow DEBUG (SLEEP) from loopback clients (Redis 7 refuses it by
//            default; `--enable-debug-command local` is added on Redis >= 7)
//   started: false picks the port but does not start the server (Redis absent
//            at start); start() starts it on that port later
export async function startRedisServer({ password, args: extra = [], debug = false, started = true } = {}) {
  const port = await freePort();
  const r = { port, password, proc: null, log: '' };
  const auth = password ? [['AUTH', password]] : [];
  r.cmd = (...commands) => redisCommand(port, [...auth, ...commands]);
  r.cmdWithin = (timeout, ...commands) => redisCommand(port, [...auth, ...commands], { timeout });
  const argv = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  if (password) argv.push('--requirepass', password);
  if (debug && redisMajorVersion() >= 7) argv.push('--enable-debug-command', 'local');
  argv.push(...extra);
  r.start = async () => {
    const p = spawn(REDIS_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    r.proc = p;
    r.pid = p.pid;
    live.add(p);
    p.stdout.on('data', (d) => { r.log += d; });
    p.stderr.on('data', (d) => { r.log += d; });
    p.exited = new Promise((res) => p.on('exit', () => { live.delete(p); res(); }));
    await waitFor(async () => /\+PONG/.test(await r.cmd(['PING'])), { timeout: 20000, interval: 20, what: `redis-server PING on port ${port}` });
  };
  // SIGKILL: connections drop at once, as when a host dies
  r.kill = async () => {
    const p = r.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGKILL');
    await p.exited;
  };
  r.restart = async () => { await r.kill(); await r.start(); };
  r.stop = r.kill;
  if (started) await r.start();
  return r;
}

export const startRedis = (opts) => startRedisServer(opts);

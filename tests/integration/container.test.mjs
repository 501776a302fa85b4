// The container deliverables (docs/containers.md):
//   - scripts/build.sh, the Dockerfile's build step, builds a binary that runs,
//     and the runtime stage's packages provide every library it links;
//   - the binary as PID 1 of a fresh PID namespace (what it is in a container):
//     serves, reaps its dead workers and orphans reparented to it, reloads on a
//     SIGHUP sent from inside, drains and exits 0 on SIGTERM, and the
//     namespace ends empty;
//   - the Dockerfile, docker-compose.yml and deploy/kubernetes/ hold together
//     (there is no Docker engine in CI: the image itself is not built here),
//     including the shared set-up (several replicas, one Redis): a real
//     redis-server started with the command and environment the files give
//     Redis requires the password, and llmgate started with the environment
//     the files give the replicas joins it ("cluster": "up").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  BIN, cleanEnv, echoConfig, freePort, procState, request, runCli, runProcess, sseEvents, checkChatStream,
  startGateway, tmpDir, waitFor,
} from './lib/harness.mjs';
import { REDIS_BIN, redisCommand } from './lib/redis.mjs';

// ceilings that a slow (sanitizer, loaded) machine never reaches
const T = 60000;

// Debian's python3 (with python3-yaml from scripts/install-deps.sh), not another one first in PATH
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const VERSION = /version:\s*'([^']+)'/.exec(fs.readFileSync(path.join(ROOT, 'meson.build'), 'utf8'))[1];

function depsList(mode) {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/install-deps.sh'), '--list', mode], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

// ---- (a) scripts/build.sh ----------------------------------------------------

test('scripts/build.sh builds a release binary into a temp dir; it answers --version; the runtime packages cover its libraries', async (t) => {
  if (!has('meson') || !has('ninja')) {
    t.skip('meson or ninja is not installed');
    return;
  }
  if (process.env.ASAN_OPTIONS) {
    // it builds its own release binary, not the one under test: the normal pass runs it
    t.skip('the sanitizer pass (tests/run): the script builds its own binary');
    return;
  }
  // the script's own variables must not leak in from the caller
  const env = cleanEnv();
  for (const k of ['LLMGATE_BUILD_DIR', 'LLMGATE_DESTDIR', 'LLMGATE_PREFIX', 'LLMGATE_BUILDTYPE']) delete env[k];
  const dir = tmpDir('llmgate-buildsh-');
  const buildDir = path.join(dir, 'build'), stage = path.join(dir, 'stage');
  const r = await runProcess('bash', [path.join(ROOT, 'scripts/build.sh'), buildDir, stage],
    { env, cwd: dir, timeout: 600000 });
  assert.equal(r.code, 0, `scripts/build.sh failed:\n${r.stdout}\n${r.stderr}`);
  const bin = path.join(stage, 'usr/local/bin/llmgate');
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[lines.length - 1], `llmgate binary: ${bin}`, 'the last line names the installed binary');
  assert.ok(fs.statSync(bin).mode & 0o111, 'the installed binary is executable');
  assert.match(r.stdout, /--buildtype=release/);
  assert.match(r.stdout, /--prefix=\/usr\/local/);
  // only the llmgate target: the image's build stage has no test tools
  assert.ok(!fs.existsSync(path.join(buildDir, 'tests/test_conf')), 'the unit tests were built too');

  const v = await runProcess(bin, ['--version'], { env: cleanEnv() });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), `llmgate ${VERSION}`);

  // a second run reconfigures the same directory and rebuilds nothing
  const again = await runProcess('bash', [path.join(ROOT, 'scripts/build.sh'), buildDir],
    { env, cwd: dir, timeout: 600000 });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /no work to do/);
  assert.match(again.stdout, new RegExp(`llmgate binary: ${buildDir}/llmgate\\n$`));

  await t.test('every library the binary links comes from a package of `install-deps.sh runtime`', async (st) => {
    if (!has('readelf') || !has('dpkg-query')) {
      st.skip('needs readelf and dpkg (Debian)');
      return;
    }
    const runtime = depsList('runtime');
    const needed = [...spawnSync('readelf', ['-d', bin], { encoding: 'utf8' }).stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)]
      .map((m) => m[1]);
    assert.ok(needed.includes('libh2o.so.0.13'), `NEEDED: ${needed}`);
    const base = new Set(['libc6']); // in every Debian image
    for (const so of needed) {
      const q = spawnSync('dpkg-query', ['-S', `*/${so}`], { encoding: 'utf8' });
      assert.equal(q.status, 0, `no package owns ${so}: ${q.stderr}`);
      const owners = new Set();
      for (const line of q.stdout.split('\n').filter(Boolean)) {
        for (const p of line.slice(0, line.lastIndexOf(': ')).split(', ')) owners.add(p.split(':')[0]);
      }
      assert.ok([...owners].some((p) => runtime.includes(p) || base.has(p)),
        `${so} comes from ${[...owners]}, not in \`install-deps.sh runtime\` (${runtime})`);
    }
    // the image is debian:12: on Debian 12 the names must be real, installed packages
    const osr = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
    if (/^ID=debian$/m.test(osr) && /^VERSION_ID="12"$/m.test(osr)) {
      for (const p of runtime) {
        const s = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
        assert.equal(s.stdout, 'install ok installed', `runtime package ${p} is not installed here (install-deps.sh installs it)`);
      }
    }
  });
});

// ---- (b) PID 1 in a fresh PID namespace -----------------------------------------

function status(pid) {
  try { return fs.readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
}
function nspid(pid) { // [outer, ..., inner]
  const m = /^NSpid:\s+(.*)$/m.exec(status(pid) || '');
  return m ? m[1].trim().split(/\s+/).map(Number) : null;
}
function ppid(pid) {
  const m = /^PPid:\s+(\d+)$/m.exec(status(pid) || '');
  return m ? Number(m[1]) : null;
}
function pidNs(pid) {
  try { return fs.readlinkSync(`/proc/${pid}/ns/pid`); } catch { return null; }
}
// every process of PID namespace `ns`: [{pid (outer), inner, state}]
function nsProcs(ns) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || pidNs(e) !== ns) continue;
    const ids = nspid(e);
    out.push({ pid: Number(e), inner: ids ? ids[ids.length - 1] : null, state: procState(e) });
  }
  return out;
}
function children(pid) {
  const kids = new Set();
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const k of fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (k) kids.add(Number(k));
      } catch { /* thread gone */ }
    }
  } catch { /* gone */ }
  return [...kids].sort((a, b) => a - b);
}
const live = (pids) => pids.filter((p) => { const s = procState(p); return s !== null && s !== 'Z'; });

test('as PID 1 of its own PID namespace: serves, reaps workers and orphans, reloads on SIGHUP from inside, SIGTERM drains and exits 0', async (t) => {
  if (!has('unshare')) {
    t.skip('unshare (util-linux) is not installed');
    return;
  }
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip(`cannot create a PID namespace here (needs root): ${probe.stderr.trim()}`);
    return;
  }
  const dir = tmpDir();
  const port = await freePort();
  const config = path.join(dir, 'llmgate.yaml');
  // drain: far more than the in-flight stream needs (about 1 s), however slow the machine
  fs.writeFileSync(config, echoConfig({ port, workers: 2, delay: '100ms', extra: 'timeouts: {drain: 20s}' }));

  // --kill-child: if unshare dies, the namespace's init (llmgate) gets SIGKILL
  const u = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', BIN, '-c', config],
    { cwd: dir, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  u.stdout.setEncoding('utf8');
  u.stderr.setEncoding('utf8');
  u.stdout.on('data', (d) => { logs += d; });
  u.stderr.on('data', (d) => { logs += d; });
  const exited = new Promise((resolve) => u.on('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => { done = true; });
  const killGroup = () => { try { process.kill(-u.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.on('exit', killGroup);
  t.after(() => { if (!done) killGroup(); });

  try {
    await waitFor(() => logs.includes('listening on') || done, { timeout: T, what: '"listening on"' });
    assert.ok(!done, `llmgate exited before it was ready:\n${logs}`);

    // the master: unshare's only child, PID 1 inside
    const [master] = children(u.pid);
    assert.ok(master, 'unshare has a child');
    assert.deepEqual(nspid(master), [master, 1], `NSpid of the master: ${nspid(master)}`);
    const ns = pidNs(master);
    assert.notEqual(ns, pidNs(process.pid), 'the master runs in a PID namespace of its own');
    assert.match(logs, /\[1\] llmgate .*listening on/, 'the master logs with its own pid, 1');

    const health = await request(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.status, 'ok');

    const workers = await waitFor(() => { const w = live(children(master)); return w.length === 2 && w; }, { what: '2 workers' });
    for (const w of workers) {
      const ids = nspid(w);
      assert.equal(ids.length, 2);
      assert.ok(ids[1] > 1, `worker ${w} has inner pid ${ids[1]}`);
    }

    // 1. a worker killed with SIGKILL is reaped (no zombie) and replaced
    process.kill(workers[0], 'SIGKILL');
    await waitFor(() => procState(workers[0]) === null, { what: `the killed worker ${workers[0]} to be reaped` });
    const replaced = await waitFor(() => { const w = live(children(master)); return w.length === 2 && !w.includes(workers[0]) && w; },
      { what: 'a replacement worker' });
    assert.ok(replaced.includes(workers[1]));
    assert.deepEqual(nsProcs(ns).filter((p) => p.state === 'Z'), [], 'no zombie in the namespace');
    assert.equal((await request(`http://127.0.0.1:${port}/health`)).status, 200);

    // 2. an orphan: nsenter starts a shell inside the namespace (its parent,
    // nsenter, is outside), the shell starts `sleep` in the background and
    // exits, so the kernel reparents `sleep` to the namespace's init. Killed
    // from outside, it must be reaped by llmgate, not stay a zombie.
    if (has('nsenter')) {
      const o = await runProcess('nsenter', ['--target', String(master), '--pid', '--',
        'sh', '-c', 'sleep 300 </dev/null >/dev/null 2>&1 & echo $!'], { env: cleanEnv(), timeout: T });
      assert.equal(o.code, 0, o.stderr);
      const inner = Number(o.stdout.trim());
      const orphan = await waitFor(() => {
        const p = nsProcs(ns).find((x) => x.inner === inner);
        return p && ppid(p.pid) === master && p.pid;
      }, { what: `the orphan (inner pid ${inner}) reparented to the master` });
      process.kill(orphan, 'SIGKILL');
      await waitFor(() => procState(orphan) === null, { what: `the orphan ${orphan} to be reaped by the master` });
      assert.deepEqual(live(children(master)), replaced, 'the orphan was not taken for a worker');
      assert.doesNotMatch(logs, new RegExp(`\\(pid ${inner}\\)`), 'the orphan was not reported as a worker');
    } else {
      t.diagnostic('nsenter is not installed: the orphan check and the SIGHUP-from-inside check are skipped');
    }

    // 3. SIGHUP from inside the namespace, as `kubectl exec ... sh -c 'kill -HUP 1'`
    // does (the kernel delivers it to PID 1 because llmgate handles SIGHUP)
    if (has('nsenter')) {
      const h = await runProcess('nsenter', ['--target', String(master), '--pid', '--', 'sh', '-c', 'kill -HUP 1'],
        { env: cleanEnv(), timeout: T });
      assert.equal(h.code, 0, h.stderr);
      await waitFor(() => logs.includes('configuration reloaded'), { what: '"configuration reloaded"' });
      await waitFor(() => { const w = live(children(master)); return w.length === 2 && w.every((p) => !replaced.includes(p)); },
        { timeout: T, what: 'the new generation of workers alone' });
    }

    // 4. SIGTERM from outside (docker stop, the kubelet) while a stream is in
    // flight: the stream ends normally, the master exits 0 (the ceiling only
    // bounds a hang: it is past the drain bound), the namespace is left empty
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'echo', stream: true, messages: [{ role: 'user', content: 'one two three four five six seven eight' }] }),
      signal: AbortSignal.timeout(T),
    });
    assert.equal(res.status, 200);
    const events = [];
    const it = sseEvents(res);
    events.push((await it.next()).value.data); // the stream has started
    const before = nsProcs(ns).map((p) => p.pid);
    const t0 = Date.now();
    process.kill(master, 'SIGTERM');
    for await (const e of it) events.push(e.data);
    const { text } = checkChatStream(events, { model: 'echo' });
    assert.equal(text, 'one two three four five six seven eight');
    let timer;
    const r = await Promise.race([exited, new Promise((res) => { timer = setTimeout(() => res('timeout'), 20000 + T); })]);
    clearTimeout(timer);
    assert.notEqual(r, 'timeout', `still running ${Date.now() - t0} ms after SIGTERM (drain is 20s):\n${logs}`);
    assert.deepEqual(r, { code: 0, signal: null }, `unshare (with the master's status):\n${logs}`);
    assert.match(logs, /\[1\] stopped/);
    assert.deepEqual(nsProcs(ns), [], 'processes left in the namespace');
    assert.deepEqual(before.filter((p) => procState(p) !== null), [], 'processes of the namespace still exist');
  } catch (e) {
    e.message += `\n--- llmgate (PID 1) logs ---\n${logs}`;
    throw e;
  }
});

// ---- (c) the Dockerfile, compose, Kubernetes --------------------------------------

// Parses a Dockerfile: continuation lines joined, comment lines dropped.
// Returns the stages: [{from, name, instrs: [{op, args}]}].
function parseDockerfile(text) {
  const instrs = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue; // comments (also inside a continuation)
    if (!cur && !raw.trim()) continue;
    cur += (cur ? ' ' : '') + raw.trim().replace(/\\$/, '').trim();
    if (/\\\s*$/.test(raw)) continue;
    const m = /^(\S+)\s*(.*)$/.exec(cur);
    instrs.push({ op: m[1].toUpperCase(), args: m[2] });
    cur = '';
  }
  assert.equal(cur, '', 'the Dockerfile ends inside a continuation');
  const stages = [];
  for (const i of instrs) {
    if (i.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      stages.push({ from: m[1], name: m[2], instrs: [] });
    } else {
      assert.ok(stages.length, `${i.op} before the first FROM`);
      stages[stages.length - 1].instrs.push(i);
    }
  }
  return stages;
}

const dockerfile = () => parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const one = (stage, op) => {
  const all = stage.instrs.filter((i) => i.op === op);
  assert.equal(all.length, 1, `the final stage has ${all.length} ${op}`);
  return all[0].args;
};

test('Dockerfile: two debian:12 stages; the build runs scripts/build.sh; non-root USER, HEALTHCHECK, STOPSIGNAL SIGTERM, ENTRYPOINT', () => {
  const stages = dockerfile();
  assert.equal(stages.length, 2, 'two FROM stages');
  const [build, run] = stages;
  for (const s of stages) assert.match(s.from, /^debian:(12|bookworm)(-slim)?$/, `base image ${s.from}`);
  assert.ok(build.name, 'the build stage is named');

  // every RUN is one of the project's scripts, which CI runs too
  const runs = (s) => s.instrs.filter((i) => i.op === 'RUN').map((i) => i.args);
  for (const s of stages) {
    for (const r of runs(s)) {
      assert.doesNotMatch(r, /\b(apt-get|aptitude)\b|\bapt\s+(install|update)\b/, `RUN installs packages without scripts/install-deps.sh: ${r}`);
      if (/\b(meson|ninja|make|cmake|gcc|cc|clang)\b/.test(r)) assert.fail(`RUN builds without scripts/build.sh: ${r}`);
    }
  }
  const buildRuns = runs(build).filter((r) => /scripts\/build\.sh/.test(r));
  assert.equal(buildRuns.length, 1, 'the build stage runs scripts/build.sh once');
  for (const r of runs(build)) {
    assert.ok(/^bash (\S*\/)?scripts\/(build|install-deps)\.sh\b/.test(r), `a build-stage RUN that is not a project script: ${r}`);
  }
  assert.ok(runs(build).some((r) => /install-deps\.sh build$/.test(r)), 'the build stage installs `install-deps.sh build`');
  assert.ok(runs(run).some((r) => /install-deps\.sh runtime\b/.test(r)), 'the final stage installs `install-deps.sh runtime`');

  // what build.sh installs is what the final stage copies and runs
  const m = /scripts\/build\.sh\s+(\S+)\s+(\S+)$/.exec(buildRuns[0]);
  assert.ok(m, `scripts/build.sh BUILD_DIR DESTDIR: ${buildRuns[0]}`);
  const destdir = m[2];
  assert.ok(path.isAbsolute(destdir), 'an absolute DESTDIR');
  const copy = run.instrs.find((i) => i.op === 'COPY' && new RegExp(`--from=${build.name}\\b`).test(i.args));
  assert.ok(copy, 'COPY --from=<build stage>');
  const [src, dst] = copy.args.split(/\s+/).filter((a) => !a.startsWith('--'));
  assert.equal(path.posix.normalize(src), path.posix.join(destdir, 'usr/local/bin/llmgate'), 'COPY takes what build.sh installs');
  assert.equal(dst, '/usr/local/bin/llmgate');
  assert.deepEqual(JSON.parse(one(run, 'ENTRYPOINT')), ['/usr/local/bin/llmgate']);

  // a numeric, non-root user (runAsNonRoot can only check a number)
  const user = one(run, 'USER');
  assert.match(user, /^\d+(:\d+)?$/, `USER ${user}: want a numeric uid[:gid] (Kubernetes' runAsNonRoot can only check a number)`);
  assert.notEqual(Number(user.split(':')[0]), 0, 'USER is not root');
  assert.ok(runs(run).some((r) => new RegExp(`useradd\\b.*--uid ${user.split(':')[0]}\\b.*\\bllmgate$`).test(r)),
    'the user exists in /etc/passwd, as llmgate');

  assert.equal(one(run, 'STOPSIGNAL'), 'SIGTERM');
  assert.match(one(run, 'EXPOSE'), /^8080(\/tcp)?$/);
  const hc = one(run, 'HEALTHCHECK');
  assert.match(hc, /\bCMD\b.*\/health\b/, `HEALTHCHECK ${hc}`);
  if (/\bcurl\b/.test(hc)) assert.ok(depsList('runtime').includes('curl'), 'the HEALTHCHECK uses curl: the runtime stage installs it');
  assert.equal(one(run, 'WORKDIR'), '/etc/llmgate', 'a mounted /etc/llmgate/llmgate.yaml is found as ./llmgate.yaml');

  // CI (install-deps.sh all) installs every package the image installs
  const all = depsList('all');
  for (const mode of ['build', 'runtime']) {
    for (const p of depsList(mode)) assert.ok(all.includes(p), `${p} (${mode}) is not in install-deps.sh all`);
  }
  // the build context leaves out local builds, node modules and secrets
  const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const p of ['.git', 'build', 'build-*', 'tests/integration/node_modules', '.env']) assert.ok(ignore.includes(p), `.dockerignore lacks ${p}`);
});

function loadYaml(files) {
  const script = 'import sys, json, yaml\nprint(json.dumps([list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]))';
  const r = spawnSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}
const yamlAvailable = () => spawnSync(PYTHON, ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0;

// Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR?error}, $VAR and $$ (a literal $). A required variable
// that is missing throws, as `docker compose` stops.
function interpolate(value, vars) {
  if (typeof value !== 'string') return value;
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, name, colon, op, arg, bare) => {
      if (m === '$$') return '$';
      if (bare) return vars[bare] ?? '';
      const v = vars[name];
      const unset = colon ? v === undefined || v === '' : v === undefined;
      if (op === '-') return unset ? arg : v;
      if (op === '?') {
        if (unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
        return v;
      }
      return v ?? '';
    });
}
// a service's environment (a map or a list of KEY=VALUE), interpolated
function composeEnv(svc, vars) {
  const e = svc.environment || {};
  const pairs = Array.isArray(e) ? e.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) : Object.entries(e);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(String(v ?? ''), vars)]));
}
const asList = (cmd) => (Array.isArray(cmd) ? cmd : ['sh', '-c', cmd]);
// redis://[user:password@]host[:port][/db] -> {user, password, host, port, db}
function redisUrl(url) {
  const m = /^redis:\/\/(?:([^:@/]*):([^@/]*)@)?([^:/@]+)(?::(\d+))?(?:\/(\d+))?$/.exec(url);
  assert.ok(m, `not a redis:// URL: ${url}`);
  return { user: m[1] || '', password: m[2] ? decodeURIComponent(m[2]) : '', host: m[3], port: Number(m[4] || 6379), db: Number(m[5] || 0) };
}
// the same URL with host and port replaced
function redisUrlAt(url, port) {
  const m = /^(redis:\/\/(?:[^@/]*@)?)[^:/@]+(?::\d+)?(\/.*)?$/.exec(url);
  assert.ok(m, `not a redis:// URL: ${url}`);
  return `${m[1]}127.0.0.1:${port}${m[2] || ''}`;
}

// Compose: the llmgate replicas (services of the llmgate image) and the Redis they share
function composeServices(compose) {
  const entries = Object.entries(compose.services);
  const replicas = entries.filter(([, s]) => s.build !== undefined || /^llmgate(:|$)/.test(s.image || ''));
  const redis = entries.filter(([, s]) => /^(redis|valkey\/valkey)(:|$)/.test(s.image || ''));
  return { replicas, redis };
}

// Kubernetes: the Redis Deployment and Service of redis.yaml
function k8sRedis(docs) {
  const rdep = docs.find((d) => d && d.kind === 'Deployment');
  const rsvc = docs.find((d) => d && d.kind === 'Service');
  assert.ok(rdep, 'redis.yaml has a Deployment');
  assert.ok(rsvc, 'redis.yaml has a Service');
  return { rdep, rsvc };
}
// a container's environment as the kubelet builds it: envFrom (Secrets), then
// env (values and secretKeyRefs), Secrets taken from secret.example.yaml
function k8sEnv(ctr, secrets) {
  const secret = (name) => {
    const s = secrets.find((x) => x.metadata.name === name);
    assert.ok(s, `Secret ${name} is not in secret.example.yaml`);
    return s.stringData;
  };
  const env = {};
  for (const e of ctr.envFrom || []) if (e.secretRef) Object.assign(env, secret(e.secretRef.name));
  for (const e of ctr.env || []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const data = secret(ref.name);
      assert.ok(Object.hasOwn(data, ref.key), `${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      env[e.name] = data[ref.key];
    }
  }
  return env;
}

// Starts the Redis server of a compose service or a Kubernetes container
// (`command`, run as given with `env`) on a free loopback port; the local
// redis-server stands in for the image's. Waits for it to answer.
async function startRedisAsGiven(t, command, env) {
  const port = await freePort();
  const local = ['--port', String(port), '--bind', '127.0.0.1'];
  const [cmd, ...args] = command;
  // `sh -c '... exec redis-server ARGS'`: the local options go after ARGS
  const argv = cmd === 'sh' && args[0] === '-c' ? ['-c', `${args[1]} ${local.join(' ')}`] : [...args, ...local];
  const p = spawn(cmd, argv, { env: { PATH: process.env.PATH, ...env }, cwd: tmpDir('llmgate-redis-'), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stdout.on('data', (d) => { log += d; });
  p.stderr.on('data', (d) => { log += d; });
  let gone = false;
  p.on('exit', () => { gone = true; });
  const kill = () => { if (!gone) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } } };
  process.on('exit', kill);
  t.after(kill);
  await waitFor(async () => {
    if (gone) throw new Error(`exited:\n${log}`);
    return /^[-+]/.test(await redisCommand(port, [['PING']]));
  }, { timeout: T, interval: 20, what: `${command.join(' ')} answering on port ${port}` });
  return { port, log: () => log };
}
// Runs a healthcheck or probe command (`sh -c` with redis-cli) against the
// local server: redis-cli gets `-p port`, nothing else changes. True on exit 0.
async function redisCliCheck(command, env, port) {
  const [cmd, ...args] = command;
  assert.ok(cmd === 'sh' && args[0] === '-c' && /\b(redis|valkey)-cli\b.*\bping\b/.test(args[1]), `a redis-cli ping check: ${command}`);
  const r = await runProcess('sh', ['-c', args[1].replace(/\b((?:redis|valkey)-cli)\b/g, `$1 -p ${port}`)],
    { env: { PATH: process.env.PATH, ...env }, timeout: T });
  return r.code === 0;
}
// the Redis password a `redis-server --requirepass "$VAR"` command takes from its environment
function requirepassVar(command) {
  const m = /--requirepass\s+["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(command.join(' '));
  return m && m[1];
}
// The replies to `commands` after AUTH with `password`.
const redisAs = (port, password, ...commands) => redisCommand(port, [['AUTH', password], ...commands]);

function loadDeploy() {
  const k8s = path.join(ROOT, 'deploy/kubernetes');
  const [[compose], [cm], [dep], secrets, [svc], [kust], redisDocs] = loadYaml([
    path.join(ROOT, 'docker-compose.yml'),
    ...['configmap.yaml', 'deployment.yaml', 'secret.example.yaml', 'service.yaml', 'kustomization.yaml', 'redis.yaml'].map((f) => path.join(k8s, f)),
  ]);
  return { compose, cm, dep, secrets, secret: secrets[0], svc, kust, redisDocs };
}

test('docker-compose.yml and deploy/kubernetes/ agree with the image and with the config schema', async (t) => {
  if (!yamlAvailable()) {
    t.skip('python3 with the yaml module (python3-yaml) is not installed');
    return;
  }
  const { compose, cm, dep, secrets, secret, svc, kust, redisDocs } = loadDeploy();
  const uid = Number(one(dockerfile()[1], 'USER').split(':')[0]);

  // compose: two or more llmgate replicas, one Redis
  const { replicas, redis } = composeServices(compose);
  assert.ok(replicas.length >= 2, `${replicas.length} llmgate services: the shared set-up has at least 2`);
  assert.equal(redis.length, 1, 'one redis (or valkey) service');
  const [redisName, rs] = redis[0];
  const PW = 'compose-test-password';
  const vars = { LLMGATE_REDIS_PASSWORD: PW };
  const hostPorts = [];
  for (const [name, c] of replicas) {
    assert.equal(c.image, 'llmgate:latest', `${name}: the image`);
    assert.ok(c.ports.some((p) => String(p).endsWith(':8080')), `${name}: publishes 8080`);
    hostPorts.push(...c.ports.map((p) => interpolate(String(p), vars).split(':').slice(-2, -1)[0]));
    for (const k of ['OPENAI_API_KEY', 'OPENROUTER_API_KEY', 'DEEPINFRA_API_KEY', 'POE_APIKEYS', 'API_ACCESS_TOKENS']) {
      assert.equal(c.environment[k], `\${${k}:-}`, `${name}: ${k} comes from .env`);
    }
    assert.ok(c.healthcheck.test.some((a) => /\/health$/.test(a)), `${name}: healthcheck`);
    assert.ok(c.restart, `${name}: restart`);
    assert.ok(parseInt(c.stop_grace_period, 10) > 30, `${name}: docker stop waits longer than the default drain (30s)`);
    assert.equal(c.read_only, true, `${name}: read_only`);
    assert.deepEqual(c.cap_drop, ['ALL'], `${name}: cap_drop`);
    assert.ok(c.security_opt.includes('no-new-privileges:true'), `${name}: no-new-privileges`);
    // every replica points at the redis service, with the password of .env
    const env = composeEnv(c, vars);
    const u = redisUrl(env.LLMGATE_REDIS_URL);
    assert.equal(u.host, redisName, `${name}: LLMGATE_REDIS_URL names the ${redisName} service`);
    assert.equal(u.port, 6379, `${name}: the redis port`);
    assert.equal(u.password, PW, `${name}: the password comes from LLMGATE_REDIS_PASSWORD`);
    assert.throws(() => composeEnv(c, {}), /required variable LLMGATE_REDIS_PASSWORD/, `${name}: runs only with LLMGATE_REDIS_PASSWORD set`);
    const dep0 = Array.isArray(c.depends_on) ? c.depends_on : Object.keys(c.depends_on || {});
    assert.ok(dep0.includes(redisName), `${name}: depends_on ${redisName}`);
  }
  assert.equal(new Set(hostPorts).size, hostPorts.length, `each replica has a host port of its own: ${hostPorts}`);
  // redis: private, password required (from the same variable), checked, hardened
  assert.equal(rs.ports, undefined, 'Redis publishes no port');
  const rcmd = asList(rs.command).map((a) => interpolate(a, vars));
  const pwVar = requirepassVar(rcmd);
  assert.ok(pwVar, `redis-server --requirepass "$VAR": ${rcmd}`);
  assert.equal(composeEnv(rs, vars)[pwVar], PW, `the redis service's ${pwVar} is LLMGATE_REDIS_PASSWORD`);
  assert.throws(() => composeEnv(rs, {}), /required variable LLMGATE_REDIS_PASSWORD/, 'redis runs only with LLMGATE_REDIS_PASSWORD set');
  // usage totals and quotas live there: an append-only file on a named volume
  assert.match(rcmd.join(' '), /--appendonly\s+yes\b/, 'the usage totals persist (append-only file)');
  assert.ok((rs.volumes || []).some((v) => String(v.source || v).split(':')[1] === '/data' && (compose.volumes || {})[String(v.source || v).split(':')[0]] !== undefined),
    `redis keeps /data on a named volume: ${JSON.stringify(rs.volumes)}`);
  assert.match(asList(rs.healthcheck.test.slice(1)).join(' '), /\b(redis|valkey)-cli\b.*\bping\b/, 'a redis-cli ping healthcheck');
  assert.equal(rs.read_only, true);
  assert.deepEqual(rs.cap_drop, ['ALL']);
  assert.ok(rs.user && rs.user !== 'root' && !/^0(:|$)/.test(String(rs.user)), `redis runs as a non-root user: ${rs.user}`);

  // the ConfigMap's file is a valid config with the Deployment's environment
  assert.equal(cm.kind, 'ConfigMap');
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'llmgate.yaml'), cm.data['llmgate.yaml']);
  const [ctr] = dep.spec.template.spec.containers;
  const podEnv = k8sEnv(ctr, secrets);
  delete podEnv.LLMGATE_CONFIG; // -c names the file here
  const check = await runCli(['-t', '-c', path.join(dir, 'llmgate.yaml')], { env: podEnv });
  assert.equal(check.code, 0, check.stderr);
  const drainS = parseInt(/^\s+drain:\s*(\d+)/m.exec(cm.data['llmgate.yaml'])?.[1] ?? '30', 10);
  const [[cmConf]] = loadYaml([path.join(dir, 'llmgate.yaml')]);

  // the Deployment
  assert.equal(dep.kind, 'Deployment');
  assert.equal(dep.spec.replicas, 3, 'three replicas sharing one Redis');
  const pod = dep.spec.template.spec;
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert.equal(dep.spec.template.metadata.labels[k], v, 'the selector matches the pods');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, uid, 'runAsUser is the image USER');
  const http = ctr.ports.find((p) => p.name === 'http');
  assert.equal(http.containerPort, 8080);
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    assert.equal(ctr[probe].httpGet.path, '/health', probe);
    assert.ok([8080, 'http'].includes(ctr[probe].httpGet.port), probe);
  }
  assert.ok(ctr.resources.requests && ctr.resources.limits, 'resources');
  assert.equal(ctr.securityContext.allowPrivilegeEscalation, false);
  const env = Object.fromEntries((ctr.env || []).map((e) => [e.name, e.value]));
  const cfgPath = env.LLMGATE_CONFIG;
  assert.equal(cfgPath, '/etc/llmgate/llmgate.yaml');
  const mount = ctr.volumeMounts.find((v) => v.mountPath === path.posix.dirname(cfgPath));
  assert.ok(mount, 'the config directory is mounted');
  assert.equal(mount.subPath, undefined, 'a subPath mount would never see ConfigMap updates');
  const vol = pod.volumes.find((v) => v.name === mount.name);
  assert.equal(vol.configMap.name, cm.metadata.name);
  assert.ok(ctr.envFrom.some((e) => e.secretRef && e.secretRef.name === secret.metadata.name), 'keys come from the Secret');
  assert.ok(Number(env.LLMGATE_WORKERS) >= 1, 'LLMGATE_WORKERS is set (auto would count the node\'s CPUs)');
  const preStop = ctr.lifecycle?.preStop?.exec?.command;
  const pause = preStop && preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
  assert.ok(pod.terminationGracePeriodSeconds > pause + drainS,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} must exceed preStop ${pause}s + drain ${drainS}s`);

  // the Secret holds only placeholders, named as the variables llmgate reads
  assert.equal(secret.kind, 'Secret');
  for (const [k, v] of Object.entries(secret.stringData)) {
    assert.match(k, /^[A-Z_][A-Z0-9_]*$/);
    assert.match(v, /REPLACE-ME/, `${k} is a placeholder`);
  }
  // the Service reaches the pods
  assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
  assert.ok(svc.spec.ports.every((p) => p.targetPort === 'http' || p.targetPort === 8080));

  // the shared Redis: one pod, its Service, and llmgate pointed at both
  const { rdep, rsvc } = k8sRedis(redisDocs);
  assert.equal(rdep.spec.replicas, 1, 'one Redis');
  const rlabels = rdep.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(rdep.spec.selector.matchLabels)) assert.equal(rlabels[k], v, 'the Redis selector matches its pods');
  assert.deepEqual(rsvc.spec.selector, rdep.spec.selector.matchLabels, 'the Redis Service selects the Redis pods');
  const selects = (sel, labels) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  assert.ok(!selects(svc.spec.selector, rlabels), 'the llmgate Service does not select the Redis pods');
  assert.ok(!selects(rsvc.spec.selector, dep.spec.template.metadata.labels), 'the Redis Service does not select the llmgate pods');
  const rpod = rdep.spec.template.spec;
  const [rctr] = rpod.containers;
  const rport = rsvc.spec.ports[0];
  const target = typeof rport.targetPort === 'string' ? rctr.ports.find((p) => p.name === rport.targetPort)?.containerPort : rport.targetPort;
  assert.equal(target, 6379, 'the Redis Service reaches redis-server');
  const url = redisUrl(podEnv.LLMGATE_REDIS_URL);
  assert.equal(url.host, rsvc.metadata.name, 'LLMGATE_REDIS_URL names the Redis Service');
  assert.equal(url.port, rport.port, 'LLMGATE_REDIS_URL has the Redis Service\'s port');
  // the password: the Secret's key, for llmgate (password_env) and for Redis (--requirepass)
  assert.equal(cmConf.cluster?.redis?.url, undefined, 'the url comes from LLMGATE_REDIS_URL, not the ConfigMap');
  const pwEnv = cmConf.cluster?.redis?.password_env;
  assert.ok(pwEnv, 'the ConfigMap\'s cluster.redis.password_env names the password variable');
  const ref = ctr.env.find((e) => e.name === pwEnv)?.valueFrom?.secretKeyRef;
  assert.ok(ref, `${pwEnv} comes from a Secret (secretKeyRef)`);
  assert.ok(secrets.some((s) => s.metadata.name === ref.name && Object.hasOwn(s.stringData, ref.key)), `secret.example.yaml defines ${ref.name}.${ref.key}`);
  const rvar = requirepassVar(asList(rctr.command || []).concat(rctr.args || []));
  assert.ok(rvar, 'redis-server --requirepass "$VAR"');
  for (const v of new Set([rvar, 'REDISCLI_AUTH'])) {
    assert.deepEqual(rctr.env.find((e) => e.name === v)?.valueFrom?.secretKeyRef, ref, `Redis's ${v} is the same Secret key as llmgate's ${pwEnv}`);
  }
  for (const probe of ['readinessProbe', 'livenessProbe']) assert.match(rctr[probe].exec.command.join(' '), /\b(redis|valkey)-cli\b.*\bping\b/, `Redis ${probe}`);
  assert.ok(rctr.resources.requests && rctr.resources.limits, 'Redis resources');
  assert.equal(rpod.securityContext.runAsNonRoot, true);
  assert.ok(rpod.securityContext.runAsUser > 0, 'Redis runs as a non-root uid');
  assert.equal(rctr.securityContext.allowPrivilegeEscalation, false);
  assert.equal(rctr.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(rctr.securityContext.capabilities.drop, ['ALL']);
  assert.ok(!(rpod.volumes || []).some((v) => v.persistentVolumeClaim), 'no persistence by default');
  assert.ok(rctr.volumeMounts.every((m) => rpod.volumes.find((v) => v.name === m.name)?.emptyDir), 'Redis mounts only emptyDirs');
  for (const d of [rdep, rsvc]) assert.equal(d.metadata.namespace, dep.metadata.namespace, `${d.kind} ${d.metadata.name}: the namespace of llmgate`);

  assert.deepEqual(kust.resources.sort(), ['configmap.yaml', 'deployment.yaml', 'redis.yaml', 'service.yaml']);
});

test('compose, run as written: Redis requires the password and its healthcheck passes; both replicas\' environments join it ("cluster": "up")', async (t) => {
  if (!yamlAvailable() || !has(REDIS_BIN) || !has('redis-cli')) {
    t.skip('needs python3-yaml, redis-server and redis-cli');
    return;
  }
  const { compose } = loadDeploy();
  const { replicas, redis: [[redisName, rs]] } = composeServices(compose);
  const PW = crypto.randomBytes(16).toString('hex');
  const vars = { LLMGATE_REDIS_PASSWORD: PW };
  const renv = composeEnv(rs, vars);
  const r = await startRedisAsGiven(t, asList(rs.command).map((a) => interpolate(a, vars)), renv);
  assert.match(await redisCommand(r.port, [['PING']]), /^-NOAUTH/, `without AUTH Redis refuses:\n${r.log()}`);
  assert.match(await redisAs(r.port, 'wrong', ['PING']), /^-WRONGPASS/);
  assert.match(await redisAs(r.port, PW, ['PING']), /^\+OK\r\n\+PONG\r\n/);
  // the healthcheck with the service's environment, and with a wrong password
  const hc = ['sh', '-c', interpolate(rs.healthcheck.test[1], vars)];
  assert.equal(rs.healthcheck.test[0], 'CMD-SHELL');
  assert.equal(await redisCliCheck(hc, renv, r.port), true, 'the healthcheck passes');
  assert.equal(await redisCliCheck(hc, { ...renv, REDISCLI_AUTH: 'wrong' }, r.port), false, 'the healthcheck fails with a wrong password');

  // every replica with exactly its environment, the URL's host:port moved to the local Redis
  const gws = [];
  t.after(() => Promise.all(gws.map((g) => g.stop('SIGKILL', 5000))));
  for (const [name, c] of replicas) {
    const env = composeEnv(c, vars);
    assert.equal(redisUrl(env.LLMGATE_REDIS_URL).host, redisName);
    env.LLMGATE_REDIS_URL = redisUrlAt(env.LLMGATE_REDIS_URL, r.port);
    const g = await startGateway({ env });
    g.name = name;
    gws.push(g);
  }
  for (const g of gws) {
    const h = await waitFor(async () => { const x = await request(g.url('/health')); return x.json?.cluster === 'up' && x; },
      { timeout: T, what: `${g.name}: "cluster": "up" in /health` });
    assert.equal(h.status, 200);
    await g.waitLog(`cluster: connected to redis at redis://:***@127.0.0.1:${r.port}/0`);
    assert.ok(!g.logs().includes(PW), `${g.name} logged the Redis password`);
  }
  // all on the same channel of the same Redis
  await waitFor(async () => new RegExp(`llmgate:keys\\r\\n:${gws.length}\\r\\n`).test(await redisAs(r.port, PW, ['PUBSUB', 'NUMSUB', 'llmgate:keys'])),
    { timeout: T, what: `${gws.length} subscribers of llmgate:keys` });
});

test('Kubernetes, run as written: redis.yaml\'s Redis requires the Secret\'s password, its probes pass; the ConfigMap with the Deployment\'s environment joins it', async (t) => {
  if (!yamlAvailable() || !has(REDIS_BIN) || !has('redis-cli')) {
    t.skip('needs python3-yaml, redis-server and redis-cli');
    return;
  }
  const { cm, dep, secrets, redisDocs } = loadDeploy();
  const { rdep, rsvc } = k8sRedis(redisDocs);
  const [rctr] = rdep.spec.template.spec.containers;
  const PW = crypto.randomBytes(16).toString('hex');
  const secretsPw = secrets.map((s) => ({ ...s, stringData: Object.fromEntries(Object.entries(s.stringData).map(([k, v]) => [k, /PASSWORD/.test(k) ? PW : v])) }));
  const renv = k8sEnv(rctr, secretsPw);
  const r = await startRedisAsGiven(t, asList(rctr.command).concat(rctr.args || []), renv);
  assert.match(await redisCommand(r.port, [['PING']]), /^-NOAUTH/, `without AUTH Redis refuses:\n${r.log()}`);
  assert.match(await redisAs(r.port, PW, ['PING']), /^\+OK\r\n\+PONG\r\n/);
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    assert.equal(await redisCliCheck(rctr[probe].exec.command, renv, r.port), true, `${probe} passes`);
    assert.equal(await redisCliCheck(rctr[probe].exec.command, { ...renv, REDISCLI_AUTH: 'wrong' }, r.port), false, `${probe} fails with a wrong password`);
  }

  const [ctr] = dep.spec.template.spec.containers;
  const env = k8sEnv(ctr, secretsPw);
  delete env.LLMGATE_CONFIG; // the file is given with -c
  assert.equal(redisUrl(env.LLMGATE_REDIS_URL).host, rsvc.metadata.name);
  env.LLMGATE_REDIS_URL = redisUrlAt(env.LLMGATE_REDIS_URL, r.port);
  const text = cm.data['llmgate.yaml'];
  const LISTEN = '{address: 0.0.0.0, port: 8080}';
  assert.ok(text.includes(LISTEN), `the ConfigMap listens on ${LISTEN}`);
  const gws = [];
  t.after(() => Promise.all(gws.map((g) => g.stop('SIGKILL', 5000))));
  for (let i = 0; i < 2; i++) gws.push(await startGateway({ config: ({ port }) => text.replace(LISTEN, `{address: 127.0.0.1, port: ${port}}`), env }));
  for (const g of gws) {
    await waitFor(async () => (await request(g.url('/health'))).json?.cluster === 'up', { timeout: T, what: `"cluster": "up" on ${g.port}` });
    assert.ok(!g.logs().includes(PW), 'the Redis password was logged');
  }
  await waitFor(async () => /llmgate:keys\r\n:2\r\n/.test(await redisAs(r.port, PW, ['PUBSUB', 'NUMSUB', 'llmgate:keys'])),
    { timeout: T, what: '2 subscribers of llmgate:keys' });
});

// ---- (d) the systemd unit ------------------------------------------------------

test('deploy/systemd/llmgate.service: systemd-analyze verify passes; it validates before start and reload, reloads by SIGHUP, drains on stop', (t) => {
  const unitText = fs.readFileSync(path.join(ROOT, 'deploy/systemd/llmgate.service'), 'utf8');
  const dir = tmpDir('unit');
  const conf = path.join(dir, 'llmgate.yaml');
  fs.writeFileSync(conf, echoConfig({ port: 18080 }));
  // the unit as installed, pointed at this build and a config that exists
  const unit = path.join(dir, 'llmgate.service');
  fs.writeFileSync(unit, unitText.replaceAll('/usr/local/bin/llmgate', BIN).replaceAll('/etc/llmgate/llmgate.yaml', conf));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(r.status, 0, `systemd-analyze verify:\n${r.stdout}${r.stderr}`);
  assert.equal((r.stdout + r.stderr).trim(), '', `warnings:\n${r.stdout}${r.stderr}`);
  const lines = unitText.split('\n').filter((l) => /^[A-Za-z]+=/.test(l));
  const values = (k) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
  assert.deepEqual(values('ExecReload'), ['/usr/local/bin/llmgate -t -c /etc/llmgate/llmgate.yaml', '/bin/kill -HUP $MAINPID']);
  assert.deepEqual(values('ExecStartPre'), ['/usr/local/bin/llmgate -t -c /etc/llmgate/llmgate.yaml']);
  assert.deepEqual(values('KillMode'), ['mixed'], 'SIGTERM must reach the master alone, which drains its workers');
  assert.deepEqual(values('KillSignal'), ['SIGTERM']);
  // longer than the default timeouts.drain (30 s), so a drain is never cut short by systemd
  assert.ok(Number(values('TimeoutStopSec')[0]) > 30);
  assert.deepEqual(values('Type'), ['simple'], 'llmgate stays in the foreground');
  // the same -t the unit runs accepts the config and refuses a broken one
  assert.equal(spawnSync(BIN, ['-t', '-c', conf]).status, 0);
  fs.writeFileSync(conf, 'listen: [\n');
  assert.notEqual(spawnSync(BIN, ['-t', '-c', conf]).status, 0);
});

// llmgate's own HTTP/1.1 client for http:// upstreams (server/h1_client.c,
// docs/upstream-client.md): the request it writes, keep-alive
// reuse, a reused connection that the upstream closed, name resolution, and
// the response shapes a real server may send (chunked with extensions and
// trailers, 100 Continue, HTTP/1.0 until close, bytes past Content-Length)
// and the malformed ones it must refuse with a 502 while serving on. The
// byte-exact upstream here is a node `net` server; the mock covers the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { startGateway, startMock, request, curl, freePort, waitFor } from './lib/harness.mjs';
import { gatewayYaml, chatBody, assertOpenAIError, mkKey, rawEvents, onRequests, RAW_ANSWER, RAW_EVENTS } from './lib/upstream.mjs';

const ANSWER = RAW_ANSWER;
const SSE = RAW_EVENTS.join('') + 'data: [DONE]\n\n';

function chunk(s, ext = '') {
  return `${Buffer.byteLength(s).toString(16)}${ext}\r\n${s}\r\n`;
}

// what each case's upstream writes for a request (sock: its connection, c:
// {id, n} the connection's number and the request's number on it)
const CASES = {
  plain: (req, sock) => sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`),
  chunked: (req, sock) => sock.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n' +
    chunk(ANSWER.slice(0, 7), ';name="v"') + chunk(ANSWER.slice(7, 8)) + chunk(ANSWER.slice(8), ' ; x') + '0\r\nX-Trailer: t\r\n\r\n'),
  continue: (req, sock) => sock.write(`HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`),
  // the head in pieces, cut inside its final CRLF CRLF, then the body
  split: (req, sock) => {
    const all = `HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`;
    const end = all.indexOf('\r\n\r\n');
    const cuts = [5, end + 1, end + 3, end + 4, all.length];
    let from = 0;
    const next = () => {
      const to = cuts.shift();
      sock.write(all.slice(from, to));
      from = to;
      if (cuts.length) setTimeout(next, 15);
    };
    next();
  },
  http10: (req, sock) => { sock.write(`HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${ANSWER}`); sock.end(); },
  extra: (req, sock) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}GARBAGE`),
  stream: (req, sock) => { sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n${SSE}`); sock.end(); },
  streamchunked: (req, sock) => {
    // every event a chunk, written one by one
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    const events = SSE.split(/(?<=\n\n)/);
    let i = 0;
    const next = () => {
      if (i < events.length) { sock.write(chunk(events[i++])); setTimeout(next, 5); } else sock.write('0\r\n\r\n');
    };
    next();
  },
  badhead: (req, sock) => sock.write('HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}'),
  badfield: (req, sock) => sock.write('HTTP/1.1 200 OK\r\nBad Field: 1\r\nContent-Length: 2\r\n\r\n{}'),
  twolengths: (req, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'),
  hugehead: (req, sock) => sock.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`),
  badchunk: (req, sock) => sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'),
  empty: (req, sock) => sock.end(),
  short: (req, sock) => { sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length + 10}\r\n\r\n${ANSWER}`); sock.end(); },
  // BIG_EVENTS events of ~2 KB, each written as soon as node's buffer has
  // room (drain-aware), so that bigUp.written tells how far the gateway let
  // the upstream get, for the backpressure test
  big: (req, sock) => {
    const state = { written: 0, done: false };
    bigUp = state;
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    const pad = 'x'.repeat(2000);
    let i = 0;
    const pump = () => {
      while (i < BIG_EVENTS) {
        const d = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'raw',
          choices: [{ index: 0, delta: { content: `${i}:${pad}` }, finish_reason: null }] });
        const c = chunk(`data: ${d}\n\n`);
        i++;
        state.written += c.length;
        if (!sock.write(c)) { sock.once('drain', pump); return; }
      }
      sock.write(chunk('data: [DONE]\n\n') + '0\r\n\r\n');
      state.done = true;
    };
    pump();
  },
  // keep-alive, then the upstream closes the idle connection after 30 ms
  idleclose: (req, sock) => { sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`); setTimeout(() => sock.destroy(), 30); },
  // the second request on a connection is dropped unanswered, as when an
  // upstream closes a keep-alive connection just as it is reused
  dropsecond: (req, sock, c) => {
    if (c.n === 2) { sock.destroy(); return; }
    sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${ANSWER.length}\r\n\r\n${ANSWER}`);
  },
};

let raw, rawPort, mock, gw, deadPort, hole, holePort, bigUp;
// The backpressure stream is longer than everything the kernel can hold on
// its way (a receive buffer autotunes up to tcp_rmem's maximum, a send buffer
// up to tcp_wmem's: two of each between the upstream and the client) plus
// 16 MB, so that an upstream that could write all of it proves the gateway
// kept reading, whatever the buffers did (24 MB fitted on this machine once:
// tcp_rmem's maximum here is 32 MB).
const sysMax = (f) => { try { return Number(fs.readFileSync(f, 'utf8').trim().split(/\s+/)[2]) || 0; } catch { return 0; } };
const KERNEL_MAX = 2 * Math.max(sysMax('/proc/sys/net/ipv4/tcp_rmem'), 6 << 20) + 2 * Math.max(sysMax('/proc/sys/net/ipv4/tcp_wmem'), 4 << 20);
const BIG_EVENTS = Math.ceil((KERNEL_MAX + (16 << 20)) / 2000);
const reqs = [];
const closedConns = new Set(); // ids of the upstream connections closed (either side)
let nconn = 0;

function startRaw() {
  return new Promise((resolve) => {
    const server = net.createServer((sock) => {
      const c = { id: ++nconn, n: 0 };
      sock.on('error', () => {});
      sock.on('close', () => closedConns.add(c.id));
      onRequests(sock, ({ head, body, name }) => {
        c.n++;
        reqs.push({ head, body, conn: c.id, nth: c.n, name });
        (CASES[name] || CASES.badhead)({ head, body }, sock, c);
      });
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const reqsOf = (name) => reqs.filter((r) => r.name === name);

// A listener whose accept queue is full (listen(0), two connections it never
// accepts): the kernel drops further SYNs, so a connect to it hangs. node
// accepts by itself, hence a few lines of Python (python3 is in the test
// packages).
function startBlackhole() {
  const code = [
    'import socket, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'port = s.getsockname()[1]; fill = []',
    'for _ in range(2):',
    '    c = socket.socket(); c.setblocking(False)',
    '    try: c.connect(("127.0.0.1", port))',
    '    except BlockingIOError: pass',
    '    fill.append(c)',
    'time.sleep(0.3); print(port, flush=True); time.sleep(600)',
  ].join('\n');
  const p = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    p.stdout.once('data', (d) => resolve({ proc: p, port: Number(String(d).trim()) }));
    p.once('error', reject);
  });
}

before(async () => {
  hole = await startBlackhole();
  holePort = hole.port;
  raw = await startRaw();
  rawPort = raw.address().port;
  mock = await startMock();
  deadPort = await freePort();
  const providers = Object.keys(CASES).map((name) => ({
    name, base: `http://127.0.0.1:${rawPort}/${name}/v1`, keys: [`sk-raw-${name}`], models: [name],
  }));
  providers.push({ name: 'byname', base: `http://localhost:${mock.port}/v1`, keys: [mkKey('byname')], models: ['byname'] });
  providers.push({ name: 'closechunks', base: `${mock.base}/s/chunked=0/v1`, keys: [mkKey('cc')], models: ['closechunks'] });
  providers.push({ name: 'dead', base: `http://127.0.0.1:${deadPort}/v1`, keys: [mkKey('dead')], models: ['dead'] });
  gw = await startGateway({
    // timeouts.connect stays at its default (10 s) here: the success paths must
    // not race a short timer on a loaded machine; the 400 ms one that should
    // fire has its own gateway (the connect-timeout test)
    config: ({ port }) => gatewayYaml({ port, workers: 1, top: 'retry: {attempts: 1}\ntimeouts: {ping: 0}', providers }),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
  raw?.close();
  hole?.proc.kill();
});

const ask = (model, extra = {}) => request(gw.url('/v1/chat/completions'), { method: 'POST', body: chatBody(model, 'Hi', extra) });

test('the request: POST with Host and Content-Length first, the key and request id, no Expect', async () => {
  const r = await ask('plain');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), JSON.parse(ANSWER));
  // the whole body in one send: with its length, not chunked
  assert.equal(r.headers.get('content-length'), String(Buffer.byteLength(r.text)));
  assert.equal(r.headers.get('transfer-encoding'), null);
  const q = reqsOf('plain').at(-1);
  const lines = q.head.split('\r\n');
  assert.equal(lines[0], 'POST /plain/v1/chat/completions HTTP/1.1');
  assert.equal(lines[1], `Host: 127.0.0.1:${rawPort}`);
  assert.equal(lines[2], `Content-Length: ${Buffer.byteLength(q.body)}`);
  assert.ok(lines.includes('Authorization: Bearer sk-raw-plain'), q.head);
  assert.ok(lines.some((l) => /^X-Request-Id: req_/.test(l)), q.head);
  assert.ok(!/^expect:/im.test(q.head), q.head);
  assert.equal(JSON.parse(q.body).model, 'plain');
});

test('keep-alive: sequential requests share one upstream connection', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await ask('plain')).status, 200);
  const last = reqsOf('plain').slice(-5);
  assert.equal(new Set(last.map((q) => q.conn)).size, 1, JSON.stringify(last.map((q) => [q.conn, q.nth])));
  assert.ok(last.at(-1).nth >= 5);
});

test('response shapes: chunked with extensions and trailers, 100 Continue, a head in pieces, HTTP/1.0 until close, bytes past the length', async () => {
  for (const name of ['chunked', 'continue', 'split', 'http10', 'extra']) {
    for (let i = 0; i < 2; i++) {
      const r = await ask(name);
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.deepEqual(JSON.parse(r.text), JSON.parse(ANSWER), name);
    }
  }
  // the connection that carried bytes past Content-Length is not reused
  const extra = reqsOf('extra');
  assert.notEqual(extra[0].conn, extra[1].conn);
  // a chunked answer leaves the connection reusable; an HTTP/1.0 one does not
  const ch = reqsOf('chunked');
  assert.equal(ch[0].conn, ch[1].conn);
  const h10 = reqsOf('http10');
  assert.notEqual(h10[0].conn, h10[1].conn);
});

test('streams: delimited by the close, or one chunk per event', async () => {
  for (const name of ['stream', 'streamchunked']) {
    const r = await curl(['-sN', gw.url('/v1/chat/completions'), '-H', 'content-type: application/json',
      '--data-binary', JSON.stringify(chatBody(name, 'Hi', { stream: true }))]);
    assert.equal(r.exitCode, 0, r.stderr);
    const ev = rawEvents(r.body);
    assert.equal(ev.at(-1).trim(), 'data: [DONE]', `${name}: ${r.body}`);
    assert.ok(r.body.includes('"content":"a"') && r.body.includes('"content":"b"'), r.body);
  }
  // the mock streaming without chunked coding (chunked=0: Connection: close)
  const r = await curl(['-sN', gw.url('/v1/chat/completions'), '-H', 'content-type: application/json',
    '--data-binary', JSON.stringify(chatBody('closechunks', 'Hello', { stream: true }))]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(rawEvents(r.body).at(-1).trim(), 'data: [DONE]', r.body);
  assert.ok(!r.body.includes('upstream_truncated'), r.body);
});

test('malformed answers get a 502 in the OpenAI shape, and the gateway serves on', async () => {
  for (const name of ['badhead', 'badfield', 'twolengths', 'hugehead', 'badchunk', 'empty', 'short']) {
    const r = await ask(name);
    assertOpenAIError(r, 502, name);
    assert.ok(!r.text.includes('sk-raw'), r.text);
    assert.equal((await ask('plain')).status, 200, `after ${name}`);
  }
});

test('an idle connection the upstream closed is not reused', async () => {
  assert.equal((await ask('idleclose')).status, 200);
  // the event itself: the upstream's side of that connection is closed (30 ms
  // after the answer, or later on a busy machine)
  const first = reqsOf('idleclose')[0];
  await waitFor(() => closedConns.has(first.conn), { what: 'the upstream to close the idle connection' });
  const r = await ask('idleclose');
  assert.equal(r.status, 200, r.text);
  const q = reqsOf('idleclose');
  assert.equal(q.length, 2, 'no request was lost or sent twice');
  assert.notEqual(q[0].conn, q[1].conn);
});

test('a reused connection dropped without an answer: the request goes once more on a new connection', async () => {
  assert.equal((await ask('dropsecond')).status, 200);
  const r = await ask('dropsecond');
  assert.equal(r.status, 200, r.text);
  // the pool is per host and port, so the first request may already have
  // reused a connection of another case: each request on a connection's
  // second turn was dropped, and sent once more as the first of a new one
  const q = reqsOf('dropsecond');
  const trace = JSON.stringify(q.map((x) => [x.conn, x.nth]));
  const dropped = q.filter((x) => x.nth === 2);
  assert.ok(dropped.length >= 1, trace);
  assert.equal(q.length, 2 + dropped.length, trace);
  for (const d of dropped) {
    const next = q[q.indexOf(d) + 1];
    assert.ok(next && next.nth === 1 && next.conn > d.conn, trace);
  }
  // a new connection that drops the request is not tried again
  const before = reqsOf('empty').length;
  assertOpenAIError(await ask('empty'), 502);
  const fresh = reqsOf('empty').slice(before);
  const t2 = JSON.stringify(fresh.map((x) => [x.conn, x.nth]));
  assert.ok(fresh.length === 1 || (fresh.length === 2 && fresh[0].nth > 1), t2);
  assert.equal(fresh.at(-1).nth, 1, t2);
});

test('a host name is resolved (localhost: each address tried in turn)', async () => {
  const r = await ask('byname');
  assert.equal(r.status, 200, r.text);
  assert.match(JSON.parse(r.text).choices[0].message.content, /Hi/);
});

test('connection refused: 502 (not a connect timeout), with the reason', async () => {
  const r = await ask('dead');
  // a refusal, not the connect timer (that would be a 504 "Timeout was reached")
  assertOpenAIError(r, 502);
  assert.match(r.json.error.message, /\(dead\)/, r.text);
  // the log line may reach this process after the answer: wait for it
  await gw.waitLog(/upstream dead: Couldn't connect to server/);
  assert.doesNotMatch(gw.logs(), /upstream dead: Timeout was reached/);
});

test('a connect that hangs ends at timeouts.connect (400 ms) with a 504', async (t) => {
  // its own gateway: the only one here with a short connect timeout, which this test wants to fire
  const g = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 1, top: 'retry: {attempts: 1}\ntimeouts: {ping: 0, connect: 400ms}',
      providers: [
        { name: 'hole', base: `http://127.0.0.1:${holePort}/v1`, keys: [mkKey('hole')], models: ['hole'] },
        { name: 'echo', type: 'echo', models: ['echo'] },
      ],
    }),
  });
  t.after(() => g.stop());
  const askG = (model) => request(g.url('/v1/chat/completions'), { method: 'POST', body: chatBody(model, 'Hi') });
  const t0 = Date.now();
  const r = await askG('hole');
  const took = Date.now() - t0;
  assertOpenAIError(r, 504);
  // the timer cannot fire early; how late it fires on a busy machine is no concern
  assert.ok(took >= 350, `answered after ${took} ms, before timeouts.connect`);
  await g.waitLog(/upstream hole: Timeout was reached/);
  assert.equal((await askG('echo')).status, 200, 'the gateway serves on');
});

test('backpressure: a client that stops reading stops the upstream reads; then every event arrives, in order', async () => {
  const http = await import('node:http');
  const body = JSON.stringify(chatBody('big', 'Hi', { stream: true }));
  const res = await new Promise((resolve, reject) => {
    const rq = http.request(gw.url('/v1/chat/completions'), {
      method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, resolve);
    rq.on('error', reject);
    rq.end(body);
  });
  assert.equal(res.statusCode, 200);
  res.pause();
  // the gateway holds at most two 64 KiB buffers per stream: the rest waits in
  // the kernel's socket buffers, then in the upstream. Wait for the steady
  // state (the upstream's progress stops for 1 s) instead of a fixed time: a
  // gateway that kept reading would let it write everything, however slowly
  assert.ok(bigUp, 'the upstream got the request');
  let prev = -1, sameSince = performance.now();
  await waitFor(() => {
    if (bigUp.written !== prev) { prev = bigUp.written; sameSince = performance.now(); }
    return bigUp.done || performance.now() - sameSince >= 1000;
  }, { timeout: 60000, interval: 100, what: 'the upstream writes to stall or finish' });
  const total = BIG_EVENTS * 2000;
  assert.ok(!bigUp.done, `the upstream wrote all ${BIG_EVENTS} events: the gateway kept reading`);
  console.log(`backpressure: the upstream stalled after ${(bigUp.written / 1048576).toFixed(1)} of ~${(total / 1048576).toFixed(0)} MB`);
  // then every event arrives, in order (checked as they come: no 100 MB string)
  let buf = '', n = 0, inOrder = true, done = false;
  res.setEncoding('utf8');
  res.on('data', (d) => {
    buf += d;
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (ev === 'data: [DONE]') { done = true; continue; }
      if (Number(JSON.parse(ev.slice(6)).choices[0].delta.content.split(':')[0]) !== n) inOrder = false;
      n++;
    }
  });
  res.resume();
  await new Promise((resolve) => res.on('end', resolve));
  assert.ok(done, 'the stream ends with [DONE]');
  assert.equal(n, BIG_EVENTS);
  assert.ok(inOrder, 'events lost, merged or out of order');
});

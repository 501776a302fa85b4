// Upstream failures around streams, timeouts, pings and cancellation, against
// the mock upstream (SPEC section 5 "Streams", docs/routing.md "Streams" and
// "Cancellation"): mid-stream error events, resets, truncation and hangs end the
// client's stream with an error event then [DONE]; timeouts.request gives 504
// before the first byte; `: ping` while waiting; retries after a ping; a client
// that leaves cancels the upstream request at once without blaming the key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startMock, curl, request, parseSSE, sseEvents, sleep, waitFor } from './lib/harness.mjs';
import {
  mkKey, rnd, gatewayYaml, chatBody, settledRequests, mockRequests, keyRows, rawEvents, eventData, replayDirect, assertOpenAIError,
} from './lib/upstream.mjs';

const ADMIN = `sk-admin-${rnd()}`;
// one provider (and key) per scenario, so that failures of one test never
// make another test's key cool down
const NAMES = ['em', 'emor', 'rm', 'rmns', 'tr', 'trns', 'hm', 'hang', 'hangs', 'ping', 'pfail', 'pfb', 'p400', 'pall', 'cs', 'cn', 'cn2', 'cq', 'ch2', 'cpre'];
const K = Object.fromEntries(NAMES.map((n) => [n, mkKey(n)]));
K.pfail = mkKey('pfail', 'fail500'); // the primary of the retry-after-pings test always fails
const BASE = { emor: '/api/v1' };

let mock, fast, slow, quiet;
const seen = [];

before(async () => {
  mock = await startMock();
  const providers = (names, extraFor = {}) => names.map((n) => ({
    name: n, base: `${mock.base}${BASE[n] || '/v1'}`, keys: [K[n]], models: [`${n}`, `${n}~*`], extra: extraFor[n] || {},
  }));
  // request timeout 1.5 s, idle 500 ms, no pings: only for the tests that
  // want these timeouts to fire
  fast = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: `admin_token: ${ADMIN}\ntimeouts: {request: 1500ms, idle: 500ms, ping: 0}`,
      providers: providers(['hm', 'hang', 'hangs']),
    }),
  });
  // pings every 300 ms, long timeouts
  slow = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 2, top: `admin_token: ${ADMIN}\ntimeouts: {request: 10s, idle: 5s, ping: 300ms}`,
      providers: [
        ...providers(['ping', 'pfail', 'p400', 'pall', 'cs', 'ch2', 'cpre'], { pfail: { fallback: '[pfb]' } }),
        { name: 'pfb', base: `${mock.base}/v1`, keys: [K.pfb], models: ['pfb-only'] },
      ],
    }),
  });
  // no pings, long timeouts: nothing is written to a waiting client, and no
  // timeout fires on a loaded machine where a test expects none
  quiet = await startGateway({
    config: ({ port }) => gatewayYaml({
      port, workers: 1, top: `admin_token: ${ADMIN}\ntimeouts: {request: 30s, idle: 30s, ping: 0}`,
      providers: providers(['cn', 'cn2', 'cq', 'em', 'emor', 'rm', 'rmns', 'tr', 'trns']),
    }),
  });
});
after(async () => {
  await fast?.stop();
  await slow?.stop();
  await quiet?.stop();
  await mock?.stop();
});

async function post(g, body, { h2 = false, maxTime } = {}) {
  const args = ['-N', '-H', 'content-type: application/json'];
  if (h2) args.push('--http2-prior-knowledge');
  if (maxTime) args.push('--max-time', String(maxTime));
  args.push('--data-binary', JSON.stringify(body), g.url('/v1/chat/completions'));
  const r = await curl(args, { timeout: 60000 });
  seen.push(`${r.status}\n${JSON.stringify(r.headers)}\n${r.body}`);
  return r;
}
const stream = (model, content, extra = {}) => chatBody(model, content, { stream: true, ...extra });
const isError = (d) => { try { return !!JSON.parse(d).error && !JSON.parse(d).choices; } catch { return false; } };
const contentOf = (d) => { try { return JSON.parse(d).choices?.[0]?.delta?.content ?? ''; } catch { return ''; } };

// A stream that failed mid-way: status 200, a clean end of the HTTP response,
// `content` pieces, then an error event and [DONE] (exactly one).
function assertErrorEnd(r, what) {
  assert.equal(r.status, 200, `${what}: ${r.body}`);
  assert.equal(r.exitCode, 0, `${what}: the client's stream did not end cleanly (curl ${r.exitCode}: ${r.stderr})`);
  const ev = parseSSE(r.body);
  assert.equal(ev.at(-1), '[DONE]', `${what}: the stream does not end with [DONE]: ${r.body.slice(-400)}`);
  assert.equal(ev.filter((d) => d === '[DONE]').length, 1, `${what}: more than one [DONE]`);
  assert.ok(isError(ev.at(-2)), `${what}: no error event before [DONE]: ${ev.at(-2)}`);
  assert.ok(JSON.parse(ev.at(-2)).error.message, `${what}: error event without message`);
  return ev;
}

// The content events before the failure: `n` of them, a prefix of `text`.
// (`min`: a RST may make the kernel drop the chunks right before it.)
function assertPrefix(ev, n, text, min = n) {
  const pieces = ev.map(contentOf).filter(Boolean);
  assert.ok(pieces.length >= min && pieces.length <= n, `content chunks before the failure: ${JSON.stringify(pieces)}, want ${min}..${n}`);
  assert.ok(text.startsWith(pieces.join('')) && pieces.join('').length < text.length, `${JSON.stringify(pieces.join(''))} is not a strict prefix of ${JSON.stringify(text)}`);
}

// ---- mid-stream failures -------------------------------------------------------------

test('mid-stream error event (OpenAI): the upstream\'s own error event is relayed, then [DONE]', async () => {
  const tag = `em-${rnd()}`;
  const model = 'em~fault=error_midstream,after=3';
  const r = await post(quiet, stream(model, `em ${tag}`));
  const ev = assertErrorEnd(r, 'error_midstream');
  assertPrefix(ev, 3, `mock: em ${tag}`);
  // the upstream's error event, as the mock sends it
  const [entry] = await settledRequests(mock, tag);
  const ref = await replayDirect(mock, entry);
  const upstreamErr = parseSSE(ref.body).find(isError);
  assert.ok(upstreamErr, ref.body);
  assert.ok(ev.includes(upstreamErr), `the upstream's error event was not relayed: ${r.body.slice(-600)}`);
});

test('mid-stream error event (OpenAI): nothing but [DONE] after the upstream\'s error event (no second error)', async () => {
  const tag = `em2-${rnd()}`;
  const r = await post(quiet, stream('em~fault=error_midstream,after=2', `em2 ${tag}`));
  const ev = assertErrorEnd(r, 'error_midstream');
  assert.equal(ev.filter(isError).length, 1, `error events: ${ev.filter(isError).join(' | ')}`);
});

test('mid-stream error (OpenRouter: chunk with error and finish_reason "error", no [DONE]): relayed, then error event + [DONE]', async () => {
  const tag = `emor-${rnd()}`;
  const r = await post(quiet, stream('emor~fault=error_midstream,after=2', `emor ${tag}`));
  const ev = assertErrorEnd(r, 'openrouter error_midstream');
  const orErr = ev.map((d) => { try { return JSON.parse(d); } catch { return null; } }).find((j) => j?.error && j?.choices);
  assert.ok(orErr, `the OpenRouter error chunk was not relayed: ${r.body.slice(-800)}`);
  assert.equal(orErr.choices[0].finish_reason, 'error');
});

test('mid-stream reset (TCP RST after 3 chunks 50 ms apart): error event + [DONE]', async () => {
  const tag = `rm-${rnd()}`;
  const r = await post(quiet, stream('rm~fault=reset_midstream,after=3,interval=50', `rm ${tag}`));
  const ev = assertErrorEnd(r, 'reset_midstream');
  assertPrefix(ev, 3, `mock: rm ${tag}`, 1);
  const [k] = await keyRows(quiet, ADMIN, 'rm');
  assert.equal(k.success, 0, 'a reset stream counted as a success');
});

test('mid-stream truncation (clean end without finish or [DONE]): error event + [DONE]', async () => {
  const tag = `tr-${rnd()}`;
  const r = await post(quiet, stream('tr~fault=truncate,after=2', `tr ${tag}`));
  const ev = assertErrorEnd(r, 'truncate');
  assertPrefix(ev, 2, `mock: tr ${tag}`);
});

// Non-stream answers that break after the head: once a byte reached the client,
// the response must end abruptly (curl: an error exit); if nothing reached it
// (the kernel drops data received before a RST), an error status is fine.
// Never a 200 with a complete-looking body.
for (const [fault, provider] of [['reset_midstream', 'rmns'], ['truncate', 'trns']]) {
  test(`non-stream ${fault}: the client never gets a complete-looking 200 body (HTTP/1.1 and h2)`, async () => {
    const tag = `${provider}-${rnd()}`;
    for (const h2 of [false, true]) {
      const r = await post(quiet, chatBody(`${provider}~fault=${fault}`, `${h2} ${tag}`), { h2 });
      const what = h2 ? 'h2' : 'HTTP/1.1';
      if (r.status === 200 || r.status === 0) { // 0: h2 stream reset before its HEADERS frame left
        assert.notEqual(r.exitCode, 0, `${what}: ${r.status} and a clean end, body ${JSON.stringify(r.body)}`);
        assert.ok(!r.json, `${what}: a complete JSON body arrived: ${r.body}`);
      } else {
        assertOpenAIError(r, 502, what);
      }
    }
  });
}

test('a stream that hangs mid-way: after timeouts.idle (500 ms) an error event + [DONE]; the upstream connection is closed', async () => {
  const tag = `hm-${rnd()}`;
  const res = await fetch(fast.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(stream('hm~fault=hang_midstream,after=2', `hm ${tag}`)),
  });
  assert.equal(res.status, 200);
  const events = [];
  for await (const e of sseEvents(res)) events.push(e);
  const data = events.map((e) => e.data);
  assert.equal(data.at(-1), '[DONE]', JSON.stringify(data));
  assert.ok(isError(data.at(-2)), JSON.stringify(data.slice(-3)));
  assert.equal(events.filter((e) => contentOf(e.data)).length, 2, JSON.stringify(data));
  const closed = await waitFor(async () => (await mockRequests(mock, { tag, event: 'client_closed' }))[0], { timeout: 30000, what: 'the gateway to close the hung upstream connection' });
  // the idle timeout cannot fire early: the mock's own clock, from the request
  // (its chunks leave right after it) to the gateway closing the connection
  const [req] = await mockRequests(mock, { tag });
  assert.equal(closed.chunks_sent, 2);
  assert.ok(closed.t_ms - req.t_ms >= 450, `the upstream connection was closed ${(closed.t_ms - req.t_ms).toFixed(0)} ms after the request (idle 500 ms)`);
});

test('upstream silent before the first byte: 504 after timeouts.request (1.5 s), stream and non-stream', async () => {
  for (const [what, body, provider] of [['non-stream', chatBody('hang~fault=hang', `x ${rnd()}`), 'hang'], ['stream', stream('hangs~fault=hang', `y ${rnd()}`), 'hangs']]) {
    const t0 = Date.now();
    const r = await post(fast, body);
    const took = Date.now() - t0;
    assertOpenAIError(r, 504, what);
    // (a timeout cannot fire early; how late it fires is up to the machine)
    assert.ok(took >= 1400, `${what}: 504 after ${took} ms`);
    const k = await waitFor(async () => { const [row] = await keyRows(fast, ADMIN, provider); return row.network >= 1 && row.in_flight === 0 ? row : null; },
      { timeout: 30000, what: `${what}: the timeout counted as a network failure` }).catch(async () => (await keyRows(fast, ADMIN, provider))[0]);
    assert.equal(k.network, 1, `${what}: the timeout is not counted as a network failure: ${JSON.stringify(k)}`);
  }
});

// ---- pings ---------------------------------------------------------------------------

test('": ping" comments while waiting for the first byte (ping 300 ms), then the stream unchanged', async () => {
  // an upstream that never answers: pings keep coming while it is silent
  {
    const tag = `ping-hang-${rnd()}`;
    const ac = new AbortController();
    const res = await fetch(slow.url('/v1/chat/completions'), {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      body: JSON.stringify(stream('ping~fault=hang', `ping ${tag}`)),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    const ceiling = setTimeout(() => { reader.cancel().catch(() => {}); }, 30000);
    try {
      while (text.split(': ping\n\n').length - 1 < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
      }
    } finally {
      clearTimeout(ceiling);
      ac.abort();
    }
    assert.match(text, /^(: ping\n\n){3,}/, `3 pings expected while the upstream is silent: ${JSON.stringify(text)}`);
    assert.doesNotMatch(text, /data:/, JSON.stringify(text));
  }
  // an upstream that answers after 2 s: pings, then its stream unchanged
  const tag = `ping-${rnd()}`;
  const t0 = performance.now();
  const res = await fetch(slow.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(stream('ping~latency=2000', `ping ${tag}`, { stream_options: { include_usage: true } })),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '', firstData = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    if (firstData === null && text.includes('data:')) firstData = performance.now() - t0;
  }
  const before = text.slice(0, text.indexOf('data:'));
  const pings = before.split('\n\n').filter((b) => b === ': ping');
  assert.ok(pings.length >= 1, `no ping before the first data event: ${JSON.stringify(before)}`);
  assert.equal(before, ': ping\n\n'.repeat(pings.length), `before the data: ${JSON.stringify(before)}`);
  // (the upstream's latency: the data cannot come sooner)
  assert.ok(firstData >= 1900, `first data at ${firstData.toFixed(0)} ms`);
  const [entry] = await settledRequests(mock, tag);
  const ref = await replayDirect(mock, { ...entry, path: '/v1/chat/completions', body: entry.body.replace('latency=2000', 'latency=0') });
  const norm = (s) => s.replace(/"(chatcmpl)-mock\d+"/g, '"$1-mockN"').replace(/"created":\d+/g, '"created":0').replace(/ping~latency=\d+/g, 'M');
  assert.deepEqual(rawEvents(norm(text.slice(before.length))), rawEvents(norm(ref.body)));
});

test('a retry stays possible after pings: the only key fails with 500 after 2.5 s, the fallback answers in the same stream', async () => {
  const tag = `pfail-${rnd()}`;
  // (2.5 s of latency against pings every 300 ms: pings are sent first)
  const r = await post(slow, stream('pfail', `pfail ${tag}`, { mock: { latency: 2500 } }));
  assert.equal(r.status, 200, r.body);
  assert.equal(r.exitCode, 0);
  assert.ok(r.body.startsWith(': ping\n\n'), JSON.stringify(r.body.slice(0, 100)));
  const ev = parseSSE(r.body);
  assert.equal(ev.at(-1), '[DONE]');
  assert.ok(!ev.some(isError), `error event in a stream the fallback answered: ${r.body.slice(-500)}`);
  assert.equal(ev.map(contentOf).join(''), `mock: pfail ${tag}`);
  const entries = await settledRequests(mock, tag);
  assert.deepEqual(entries.map((e) => e.key), [K.pfail, K.pfb]);
});

test('an upstream 400 after pings were sent: the stream ends with the upstream\'s message as an error event + [DONE]; no worker crash', async () => {
  const tag = `p400-${rnd()}`;
  const r = await post(slow, stream('p400~fault=400,latency=2500', `p400 ${tag}`));
  assert.equal(r.status, 200);
  const ev = assertErrorEnd(r, 'upstream 400 after pings');
  const [entry] = await settledRequests(mock, tag);
  const ref = await replayDirect(mock, entry);
  assert.equal(JSON.parse(ev.at(-2)).error.message, ref.json.error.message);
  assert.doesNotMatch(slow.logs(), /killed by signal|Assertion/, 'a worker crashed');
});

test('every attempt fails after pings were sent: error event + [DONE]', async () => {
  const tag = `pall-${rnd()}`;
  const r = await post(slow, stream('pall~fault=503,latency=2500', `pall ${tag}`));
  assertErrorEnd(r, 'all attempts failed after pings');
  assert.ok(r.body.startsWith(': ping\n\n'));
});

// ---- cancellation ----------------------------------------------------------------------

// The upstream request of `tag` was closed by the gateway (the mock logged
// client_closed) before it ended on its own (no `done`: the mock's answer was
// still seconds away), and after the client left at `tLeft` (epoch ms).
// Whether the close came from the cancel and not from a timeout is the key's
// outcome (assertCancelledKey).
async function closedEarly(tag, tLeft, what) {
  const e = await waitFor(async () => (await mockRequests(mock, { tag, event: 'client_closed' }))[0],
    { timeout: 30000, what: `${what}: the mock's client_closed entry` });
  const [req] = await mockRequests(mock, { tag });
  assert.ok(req, `${what}: the request never reached the upstream`);
  assert.ok(req.t_ms <= tLeft, `${what}: the client left before its request reached the upstream`);
  const rec = await mock.record();
  assert.ok(!rec.some((x) => x.seq === e.seq && x.event === 'done'), `${what}: the upstream answer ran to its end`);
  return e;
}

async function assertCancelledKey(g, provider, before) {
  const k = await waitFor(async () => {
    const [row] = await keyRows(g, ADMIN, provider);
    return row.in_flight === 0 && row.cancelled > before.cancelled ? row : null;
  }, { timeout: 30000, what: `${provider}: outcome cancelled` }).catch(async () => (await keyRows(g, ADMIN, provider))[0]);
  assert.equal(k.cancelled, before.cancelled + 1);
  assert.equal(k.state, 'usable');
  assert.equal(k.consecutive_failures, 0);
  for (const f of ['server', 'network', 'rate_limited', 'auth', 'payment']) assert.equal(k[f], 0, `${provider}: counted as ${f}`);
}

test('client cancel mid-stream (fetch abort): the upstream request is closed before its end; key outcome cancelled, still usable', async () => {
  const tag = `cs-${rnd()}`;
  const [before] = await keyRows(slow, ADMIN, 'cs');
  const ac = new AbortController();
  const res = await fetch(slow.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify(stream('cs~chunks=100,interval=100', `cs ${tag}`)),
  });
  let n = 0, tAbort;
  try {
    for await (const e of sseEvents(res)) {
      if (contentOf(e.data) && ++n === 3) { tAbort = Date.now(); ac.abort(); }
    }
  } catch { /* aborted */ }
  assert.ok(tAbort, 'the stream ended before 3 content chunks');
  const e = await closedEarly(tag, tAbort, 'stream');
  assert.ok(e.chunks_sent < 100, `the whole answer was sent (${e.chunks_sent} chunks)`);
  await assertCancelledKey(slow, 'cs', before);
});

test('client cancel of an HTTP/1.1 non-stream request while the upstream is slow (fetch abort): closed before the answer; cancelled', async () => {
  const tag = `cn-${rnd()}`;
  const [before] = await keyRows(quiet, ADMIN, 'cn');
  const ac = new AbortController();
  const p = fetch(quiet.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
    body: JSON.stringify(chatBody('cn~latency=8000', `cn ${tag}`)),
  }).catch((e) => e);
  await waitFor(async () => (await mockRequests(mock, { tag })).length === 1, { timeout: 30000, what: 'the upstream request' });
  await sleep(100);
  const tAbort = Date.now();
  ac.abort();
  await p;
  await closedEarly(tag, tAbort, 'HTTP/1.1 non-stream');
  await assertCancelledKey(quiet, 'cn', before);
});

// (curl --max-time 3: time enough for the request to reach the upstream on a
// loaded machine; the upstream's latency of 8 s: the answer is far off)
test('client cancel of an h2 non-stream request (curl --max-time) while the upstream is slow: closed before the answer; cancelled', async () => {
  const tag = `cn2-${rnd()}`;
  const [before] = await keyRows(quiet, ADMIN, 'cn2');
  const r = await post(quiet, chatBody('cn2~latency=8000', `cn2 ${tag}`), { h2: true, maxTime: 3 });
  const tEnd = Date.now();
  assert.equal(r.exitCode, 28, `curl should time out (exit 28), got ${r.exitCode}: ${r.stderr}`);
  await closedEarly(tag, tEnd, 'h2 non-stream');
  await assertCancelledKey(quiet, 'cn2', before);
});

test('client cancel of an HTTP/1.1 stream before its first byte, no pings (curl --max-time): closed before the answer; cancelled', async () => {
  const tag = `cq-${rnd()}`;
  const [before] = await keyRows(quiet, ADMIN, 'cq');
  const r = await post(quiet, stream('cq~latency=8000', `cq ${tag}`), { maxTime: 3 });
  const tEnd = Date.now();
  assert.equal(r.exitCode, 28, `curl exit ${r.exitCode}: ${r.stderr}`);
  await closedEarly(tag, tEnd, 'HTTP/1.1 stream before the first byte');
  await assertCancelledKey(quiet, 'cq', before);
});

test('client cancel over h2 (curl --max-time resets the stream) before the first byte: closed before the answer; cancelled', async () => {
  const tag = `ch2-${rnd()}`;
  const [before] = await keyRows(slow, ADMIN, 'ch2');
  const r = await post(slow, stream('ch2~latency=8000', `ch2 ${tag}`), { h2: true, maxTime: 3 });
  const tEnd = Date.now();
  assert.equal(r.exitCode, 28, `curl should time out (exit 28), got ${r.exitCode}: ${r.stderr}`);
  await closedEarly(tag, tEnd, 'h2 stream');
  await assertCancelledKey(slow, 'ch2', before);
});

test('client cancel of an HTTP/1.1 stream that only got pings so far (curl --max-time): closed before the answer; cancelled', async () => {
  const tag = `cpre-${rnd()}`;
  const [before] = await keyRows(slow, ADMIN, 'cpre');
  const r = await post(slow, stream('cpre~latency=8000', `cpre ${tag}`), { maxTime: 3 });
  const tEnd = Date.now();
  assert.equal(r.exitCode, 28, `curl exit ${r.exitCode}: ${r.stderr}`);
  assert.match(r.body, /^(: ping\n\n)+$/, JSON.stringify(r.body));
  await closedEarly(tag, tEnd, 'h1 stream with pings');
  await assertCancelledKey(slow, 'cpre', before);
});

test('no upstream key in any response, /metrics, /admin/keys or the gateway logs', async () => {
  for (const g of [fast, slow, quiet]) {
    seen.push(g.logs(), (await request(g.url('/metrics'))).text, (await request(g.url('/admin/keys'), { token: ADMIN })).text);
  }
  const leaks = [];
  for (const k of Object.values(K)) {
    const secret = k.split('-')[2];
    seen.forEach((t, i) => { if (t.includes(secret)) leaks.push(`text ${i} has ${k}`); });
  }
  assert.deepEqual(leaks, []);
});

test('no worker died in the gateways that saw no upstream 4xx after a ping', async () => {
  for (const [name, g] of [['fast', fast], ['quiet', quiet]]) {
    assert.doesNotMatch(g.logs(), /killed by signal|Assertion|AddressSanitizer/, `${name}: a worker crashed:\n${g.logs()}`);
  }
});

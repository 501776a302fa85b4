// Streaming chat completions (SPEC sections 5 and 7: SSE format, the echo
// provider's word-by-word stream, no coalescing).
//
// "Relayed as produced" is proven by the order of events, never by timing: an
// upstream that writes chunk i+1 only once the client holds chunk i, and an
// echo provider whose next word is due in an hour.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, echoConfig, request, sseEvents, parseSSE, checkChatStream, withCeiling } from './lib/harness.mjs';
import { heldUpstream, heldProvider } from './lib/upstream.mjs';

// A ceiling for "it eventually happened": long enough for an ASan build on a
// loaded machine, it only bounds a hang.
const CEILING = 30000;
const T = { timeout: 60000 }; // per-request timeout for request()

let fast, slow;
before(async () => {
  fast = await startGateway({ config: ({ port }) => echoConfig({ port }) });
  slow = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, delay: '50ms' }) });
});
after(async () => {
  await fast?.stop();
  await slow?.stop();
});

const streamReq = (content, extra = {}) => ({ model: 'echo', stream: true, messages: [{ role: 'user', content }], ...extra });

test('stream headers: text/event-stream, no-cache, X-Accel-Buffering: no', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('hi there'), ...T });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  assert.match(r.headers.get('cache-control') || '', /no-cache/);
  assert.equal(r.headers.get('x-accel-buffering'), 'no');
  assert.ok(r.headers.get('x-request-id'));
});

test('stream: role chunk, one word per chunk with its leading space, stop chunk, [DONE]', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('hello big world'), ...T });
  assert.equal(r.status, 200, r.text);
  for (const block of r.text.split('\n\n').filter((b) => b.trim())) {
    assert.match(block, /^data: /, `event not in "data: ..." form: ${JSON.stringify(block)}`);
  }
  const s = checkChatStream(parseSSE(r.text), { model: 'echo' });
  assert.deepEqual(s.pieces, ['hello', ' big', ' world']);
  assert.equal(s.text, 'hello big world');
  assert.equal(s.chunks.length, 5); // role, 3 words, stop
});

test('stream: deltas concatenate to the exact text (spaces, newlines, unicode)', async () => {
  const text = '  leading  double  spaces\nnew line\ttab ünïcødé 😀 end ';
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq(text), ...T });
  assert.equal(r.status, 200, r.text);
  const s = checkChatStream(parseSSE(r.text), { model: 'echo' });
  assert.equal(s.text, text);
  assert.ok(s.pieces.length >= 8, `expected word-sized pieces, got ${JSON.stringify(s.pieces)}`);
});

test('stream without include_usage has no usage chunk', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('a b c'), ...T });
  const s = checkChatStream(parseSSE(r.text), { includeUsage: false });
  assert.equal(s.usage, undefined);
  assert.ok(s.chunks.every((c) => c.choices.length === 1));
});

test('stream_options.include_usage: a final choices:[] chunk with usage before [DONE]', async () => {
  const r = await request(fast.url('/v1/chat/completions'), {
    method: 'POST', body: streamReq('count these four words', { stream_options: { include_usage: true } }), ...T,
  });
  assert.equal(r.status, 200, r.text);
  const s = checkChatStream(parseSSE(r.text), { model: 'echo', includeUsage: true });
  assert.equal(s.text, 'count these four words');
  const u = s.usage;
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.ok(Number.isInteger(u[k]), `${k}=${u[k]}`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.ok(u.completion_tokens > 0);
});

test('stream_options.include_usage: false is the same as absent', async () => {
  const r = await request(fast.url('/v1/chat/completions'), {
    method: 'POST', body: streamReq('x y', { stream_options: { include_usage: false } }), ...T,
  });
  checkChatStream(parseSSE(r.text), { includeUsage: false });
});

test('stream: false gives a normal JSON completion', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('plain', { stream: false }), ...T });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.json.choices[0].message.content, 'plain');
});

test('with delay: 50ms, one word per event, and the pauses are really taken', async () => {
  const words = 'alpha beta gamma delta epsilon zeta';
  const t0 = performance.now();
  const res = await fetch(slow.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(streamReq(words)),
    signal: AbortSignal.timeout(60000),
  });
  assert.equal(res.status, 200);
  const events = [];
  for await (const ev of sseEvents(res)) events.push(ev);
  const s = checkChatStream(events.map((e) => e.data), { model: 'echo' });
  // not coalesced: each word is its own chunk
  assert.deepEqual(s.pieces, ['alpha', ' beta', ' gamma', ' delta', ' epsilon', ' zeta']);
  // a lower bound only (a pause cannot end early): the last word leaves at
  // least 5 pauses after the request was sent (a little slack for the two
  // processes' clocks); how the arrivals spread is up to the scheduler
  const last = events[6].t - t0;
  assert.ok(last >= 5 * 45, `the last word arrived ${last.toFixed(0)} ms after the request: the 50 ms pauses were not taken`);
});

test('with delay, the first word arrives while the next one is not even produced', async (t) => {
  // an hour between words: if the client has the first word, the gateway sent
  // it before the second existed (no waiting for the whole answer, no holding
  // an event back until the next one). drain: 1 s, because an HTTP/1.1 client
  // that leaves during the pause is only noticed at the next write
  const g = await startGateway({ config: ({ port }) => echoConfig({ port, workers: 1, delay: '1h', extra: 'timeouts:\n  drain: 1\n' }) });
  t.after(() => g.stop());
  const ac = new AbortController();
  const res = await fetch(g.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(streamReq('first second third')), signal: ac.signal,
  });
  assert.equal(res.status, 200);
  const events = [];
  const firstWord = (async () => {
    for await (const ev of sseEvents(res)) {
      events.push(ev.data);
      if (events.length === 2) return;
    }
    throw new Error(`the stream ended early: ${JSON.stringify(events)}`);
  })();
  try {
    await withCeiling(firstWord, CEILING, `the first word never reached the client (held back?): got ${JSON.stringify(events)}`);
  } finally {
    ac.abort();
  }
  const [role, word] = events.map((d) => JSON.parse(d));
  assert.equal(role.choices[0].delta.role, 'assistant');
  assert.equal(word.choices[0].delta.content, 'first');
  assert.equal(word.choices[0].finish_reason, null);
  // the gateway goes on serving (one word: no pause at all)
  const r = await request(g.url('/v1/chat/completions'), { method: 'POST', body: streamReq('solo'), ...T });
  assert.equal(r.status, 200, r.text);
  assert.equal(checkChatStream(parseSSE(r.text)).text, 'solo');
});

test('an upstream stream is relayed chunk by chunk: each reaches the client before the next is produced', async (t) => {
  const pieces = ['one', ' two', ' three', ' four', ' five'];
  const up = await heldUpstream(pieces);
  t.after(() => up.close());
  const g = await startGateway({
    config: ({ port }) => ['listen:', `  - address: 127.0.0.1\n    port: ${port}`, 'workers: 1', 'providers:', heldProvider(up.port)].join('\n') + '\n',
  });
  t.after(() => g.stop());
  const ac = new AbortController();
  const res = await fetch(g.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'held-1', stream: true, messages: [{ role: 'user', content: 'hold' }] }), signal: ac.signal,
  });
  assert.equal(res.status, 200);
  const payloads = [];
  const read = (async () => {
    let content = 0;
    for await (const ev of sseEvents(res)) {
      payloads.push(ev.data);
      const c = ev.data && ev.data !== '[DONE]' ? JSON.parse(ev.data) : null;
      const piece = c?.choices?.[0]?.delta?.content;
      if (typeof piece === 'string' && piece !== '') {
        // the client holds piece `content`; the next one does not exist yet
        assert.equal(piece, pieces[content]);
        if (content + 1 < pieces.length) {
          assert.equal(up.sent[content + 1], false, 'the upstream ran ahead of its gate');
          up.release(content + 1);
        }
        content++;
      }
    }
    return content;
  })();
  let got;
  try {
    got = await withCeiling(read, CEILING, `the stream stalled after ${JSON.stringify(payloads)}: the gateway held a chunk back until the next one came`);
  } finally {
    ac.abort();
  }
  assert.equal(got, pieces.length);
  assert.equal(checkChatStream(payloads).text, pieces.join(''));
  assert.equal(up.requests(), 1);
});

test('several concurrent slow streams all complete', async () => {
  const runs = Array.from({ length: 8 }, (_, i) => request(slow.url('/v1/chat/completions'), {
    method: 'POST', body: streamReq(`stream ${i} has five words`), ...T,
  }));
  const results = await Promise.all(runs);
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.equal(checkChatStream(parseSSE(r.text)).text, `stream ${i} has five words`);
  });
});

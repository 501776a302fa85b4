// Streaming chat completions (SPEC sections 5 and 7: SSE format, the echo
// provider's word-by-word stream, no coalescing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, echoConfig, request, sseEvents, parseSSE, checkChatStream } from './lib/harness.mjs';

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
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('hi there') });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  assert.match(r.headers.get('cache-control') || '', /no-cache/);
  assert.equal(r.headers.get('x-accel-buffering'), 'no');
  assert.ok(r.headers.get('x-request-id'));
});

test('stream: role chunk, one word per chunk with its leading space, stop chunk, [DONE]', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('hello big world') });
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
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq(text) });
  assert.equal(r.status, 200, r.text);
  const s = checkChatStream(parseSSE(r.text), { model: 'echo' });
  assert.equal(s.text, text);
  assert.ok(s.pieces.length >= 8, `expected word-sized pieces, got ${JSON.stringify(s.pieces)}`);
});

test('stream without include_usage has no usage chunk', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('a b c') });
  const s = checkChatStream(parseSSE(r.text), { includeUsage: false });
  assert.equal(s.usage, undefined);
  assert.ok(s.chunks.every((c) => c.choices.length === 1));
});

test('stream_options.include_usage: a final choices:[] chunk with usage before [DONE]', async () => {
  const r = await request(fast.url('/v1/chat/completions'), {
    method: 'POST', body: streamReq('count these four words', { stream_options: { include_usage: true } }),
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
    method: 'POST', body: streamReq('x y', { stream_options: { include_usage: false } }),
  });
  checkChatStream(parseSSE(r.text), { includeUsage: false });
});

test('stream: false gives a normal JSON completion', async () => {
  const r = await request(fast.url('/v1/chat/completions'), { method: 'POST', body: streamReq('plain', { stream: false }) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.json.choices[0].message.content, 'plain');
});

test('with delay: 50ms, content chunks arrive one by one, ~50 ms apart (median >= 40 ms)', async () => {
  const words = 'alpha beta gamma delta epsilon zeta';
  const res = await fetch(slow.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(streamReq(words)),
  });
  assert.equal(res.status, 200);
  const events = [];
  for await (const ev of sseEvents(res)) events.push(ev);
  const s = checkChatStream(events.map((e) => e.data), { model: 'echo' });
  assert.equal(s.text, words);
  // events[1..6] are the content chunks
  const times = events.slice(1, 1 + 6).map((e) => e.t);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  // sent 50 ms apart; a busy test machine may hand the client two of them in
  // one read now and then, so the median gap is judged, and the total span
  const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
  assert.ok(median >= 40, `content chunks ${gaps.map((x) => x.toFixed(1)).join(', ')} ms apart: coalesced or no delay`);
  assert.ok(times[times.length - 1] - times[0] >= 5 * 40);
});

test('with delay, the first chunk arrives before the whole answer is ready', async () => {
  const words = Array.from({ length: 10 }, (_, i) => `w${i}`).join(' ');
  const t0 = performance.now();
  const res = await fetch(slow.url('/v1/chat/completions'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(streamReq(words)),
  });
  const events = [];
  for await (const ev of sseEvents(res)) events.push(ev);
  const first = events[0].t - t0, last = events[events.length - 1].t - t0;
  assert.ok(last - first >= 9 * 40, `first event at ${first.toFixed(0)} ms, last at ${last.toFixed(0)} ms`);
  assert.equal(checkChatStream(events.map((e) => e.data)).text, words);
});

test('several concurrent slow streams all complete', async () => {
  const runs = Array.from({ length: 8 }, (_, i) => request(slow.url('/v1/chat/completions'), {
    method: 'POST', body: streamReq(`stream ${i} has five words`),
  }));
  const results = await Promise.all(runs);
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.equal(checkChatStream(parseSSE(r.text)).text, `stream ${i} has five words`);
  });
});

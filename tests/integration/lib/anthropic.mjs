// Helpers for Anthropic's Messages API in tests: a strict checker of a
// Messages stream (the event grammar Anthropic's clients rely on), and small
// request helpers.
import assert from 'node:assert/strict';

// Splits an SSE body into [{event, data}] (data parsed as JSON).
export function namedEvents(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/);
    const ev = lines.find((l) => l.startsWith('event:'));
    const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (!ev && !data) continue;
    out.push({ event: ev ? ev.slice(6).trim() : '', data: data ? JSON.parse(data) : null });
  }
  return out;
}

// Checks `text` is a well-formed Messages stream and rebuilds the message:
// message_start first, message_stop last, one message_delta before it; blocks
// started in index order, deltas of the block's own kind, every block stopped;
// no empty text block; `event:` names equal to data.type. An `error` event may
// end a stream (then `error` is returned).
export function checkMessageStream(text) {
  const evs = namedEvents(text);
  const fail = (m) => assert.fail(`${m}\nstream: ${text.slice(0, 3000)}`);
  if (!evs.length || evs[0].event !== 'message_start') fail('the stream does not start with message_start');
  for (const e of evs) if (e.data?.type !== e.event) fail(`event ${e.event} carries type ${e.data?.type}`);
  const msg = { ...evs[0].data.message, content: [] };
  if (!/^msg_/.test(msg.id)) fail(`message id ${msg.id}`);
  if (typeof msg.usage?.input_tokens !== 'number') fail('message_start without usage.input_tokens');
  const open = new Map();
  let sawDelta = false, stopped = false, error = null, partial = new Map();
  for (const e of evs.slice(1)) {
    const d = e.data;
    if (stopped) fail(`${e.event} after message_stop`);
    if (error) fail(`${e.event} after error`);
    switch (e.event) {
      case 'ping': break;
      case 'content_block_start':
        if (d.index !== msg.content.length) fail(`block ${d.index} started, expected ${msg.content.length}`);
        if (sawDelta) fail('a block after message_delta');
        msg.content.push(structuredClone(d.content_block));
        open.set(d.index, d.content_block.type);
        if (d.content_block.type === 'tool_use') partial.set(d.index, '');
        break;
      case 'content_block_delta': {
        const b = msg.content[d.index];
        if (!b) fail(`delta for block ${d.index} never started`);
        const t = d.delta.type;
        if (t === 'text_delta' && b.type === 'text') b.text += d.delta.text;
        else if (t === 'thinking_delta' && b.type === 'thinking') b.thinking += d.delta.thinking;
        else if (t === 'signature_delta' && b.type === 'thinking') b.signature = d.delta.signature;
        else if (t === 'input_json_delta' && b.type === 'tool_use') partial.set(d.index, partial.get(d.index) + d.delta.partial_json);
        else fail(`${t} in a ${b.type} block`);
        break;
      }
      case 'content_block_stop':
        if (!open.has(d.index)) fail(`stop of block ${d.index} not open`);
        open.delete(d.index);
        break;
      case 'message_delta':
        if (sawDelta) fail('two message_delta events');
        sawDelta = true;
        msg.stop_reason = d.delta.stop_reason;
        msg.stop_sequence = d.delta.stop_sequence;
        msg.usage = { ...msg.usage, ...d.usage };
        break;
      case 'message_stop':
        if (!sawDelta) fail('message_stop without message_delta');
        if (open.size) fail(`blocks left open: ${[...open.keys()]}`);
        stopped = true;
        break;
      case 'error':
        error = d.error;
        break;
      default: fail(`unknown event ${e.event}`);
    }
  }
  if (!stopped && !error) fail('the stream ends without message_stop or error');
  for (const [i, s] of partial) msg.content[i].input = s === '' ? {} : JSON.parse(s);
  for (const b of msg.content) if (b.type === 'text' && b.text === '') fail('an empty text block');
  return { message: msg, error, events: evs };
}

export const userMessage = (content) => [{ role: 'user', content }];

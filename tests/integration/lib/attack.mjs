// Clients that attack the gateway's memory before authentication
// (tests/integration/preauth.test.mjs, tests/bench/preauth.mjs, the soak
// test): requests that declare a body, send part of it and hold the
// connection, over HTTP/1.1 and h2c, from a chosen loopback address; the
// event "the attack is in place" read from /proc/net/tcp; and HTTP/2 floods
// of resets.
import net from 'node:net';
import http2 from 'node:http2';
import fs from 'node:fs';
import { waitFor } from './harness.mjs';
import { T, frame, u32, START, chatRequest, resetTriple } from './h2frames.mjs';

export const CHAT_PATH = '/v1/chat/completions';

// one buffer of body bytes shared by every attacker (slices of it are sent)
const FILL = Buffer.alloc(8 * 1024 * 1024, 0x78);
const fill = (n) => (n <= FILL.length ? FILL.subarray(0, n) : Buffer.alloc(n, 0x78));

// An HTTP/1.1 POST from `src` declaring `cl` bytes of body and sending `send`
// of them, then holding the connection. Returns {sock, answered (a promise of
// the parsed answer or null when closed without one), sent (resolves once the
// bytes are handed to the kernel), localPort}.
export function h1Stall(port, src, { cl, send, headers = {} }) {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress: src });
  let text = '';
  const head = `POST ${CHAT_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${cl}\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  const a = { sock, kind: 'h1', src };
  a.sent = new Promise((resolve) => {
    sock.on('connect', () => {
      a.localPort = sock.localPort;
      sock.write(head);
      sock.write(fill(send), () => resolve());
    });
  });
  a.answered = new Promise((resolve) => {
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      text += d;
      const end = text.indexOf('\r\n\r\n');
      const m = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && m && text.length >= end + 4 + Number(m[1])) {
        const status = Number(text.slice(9, 12));
        let json;
        try { json = JSON.parse(text.slice(end + 4, end + 4 + Number(m[1]))); } catch { /* not JSON */ }
        resolve({ status, head: text.slice(0, end).toLowerCase(), json });
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => resolve(null));
  });
  return a;
}

// The same over h2c: one stream on its own connection from `src` (a.req is
// the stream, to end it later).
export function h2Stall(port, src, { cl, send, headers = {} }) {
  const a = { kind: 'h2', src };
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: src });
      s.on('connect', () => { a.localPort = s.localPort; });
      return s;
    },
  });
  a.session = session;
  session.on('error', () => {});
  // cl null: no content-length (a body of unknown length, as node's http2 client sends by default)
  const req = session.request({ ':method': 'POST', ':path': CHAT_PATH, 'content-type': 'application/json', ...(cl === null ? {} : { 'content-length': String(cl) }), ...headers });
  req.on('error', () => {});
  a.req = req;
  a.sent = new Promise((resolve) => req.write(fill(send), () => resolve()));
  a.answered = new Promise((resolve) => {
    let status, body = '', hdrs;
    req.on('response', (h) => { status = h[':status']; hdrs = h; });
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let json;
      try { json = JSON.parse(body); } catch { /* not JSON */ }
      resolve(status ? { status, headers: hdrs, json } : null);
    });
    req.on('close', () => resolve(status ? { status, headers: hdrs, json: undefined } : null));
  });
  a.sock = { destroy: () => session.destroy() };
  return a;
}

// /proc/net/tcp: {`ip:port>ip:port`: {tx, rx}} for IPv4 loopback connections.
export function tcpQueues() {
  const out = new Map();
  const ip = (hex) => hex.match(/../g).reverse().map((b) => parseInt(b, 16)).join('.');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const [la, lp] = f[1].split(':'), [ra, rp] = f[2].split(':');
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    out.set(`${ip(la)}:${parseInt(lp, 16)}>${ip(ra)}:${parseInt(rp, 16)}`, { tx, rx });
  }
  return out;
}

// Resolves once every attacker is answered, or has sent its bytes and nothing
// of them is left queued on either side of its connection.
export async function attackInPlace(attackers, port, what, timeout = 240000) {
  const state = attackers.map(() => ({ answer: undefined, sent: false }));
  attackers.forEach((a, i) => {
    a.answered.then((r) => { state[i].answer = r; });
    a.sent.then(() => { state[i].sent = true; });
  });
  await waitFor(() => {
    const q = tcpQueues();
    return attackers.every((a, i) => {
      if (state[i].answer !== undefined) return true;
      if (!state[i].sent || a.localPort === undefined) return false;
      const client = q.get(`${a.src}:${a.localPort}>127.0.0.1:${port}`);
      const server = q.get(`127.0.0.1:${port}>${a.src}:${a.localPort}`);
      return client && server && client.tx === 0 && server.rx === 0;
    });
  }, { timeout, interval: 100, what });
  return state;
}

export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}


// Writes `data` on a new connection from `src` (and ends the client's side
// when `end`), and resolves with everything the gateway sent once it closes
// (or after `timeout` ms).
export function rawFrom(port, src, data, { end = false, timeout = 30000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: src });
    const chunks = [];
    const timer = setTimeout(() => s.destroy(), timeout);
    s.on('connect', () => (end ? s.end(data) : s.write(data)));
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
  });
}

// The GOAWAY error code in raw HTTP/2 bytes from the server, or null.
export function goawayCode(buf) {
  for (let off = 0; off + 9 <= buf.length;) {
    const len = buf.readUIntBE(off, 3);
    if (buf[off + 3] === T.GOAWAY && off + 17 <= buf.length) return buf.readUInt32BE(off + 13);
    off += 9 + len;
  }
  return null;
}

// `n` chat requests on one h2c connection from `src`, each followed by its
// RST_STREAM (kind 'rst': rapid reset) or by a WINDOW_UPDATE of 0 that makes
// the server reset it (kind 'window': "MadeYouReset"). Resolves with the
// GOAWAY code the gateway sent before closing (null: none).
export async function resetFlood(port, src, { kind = 'rst', n = 150 } = {}) {
  const body = Buffer.from(JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: `flood ${kind}` }] }));
  const parts = [START];
  for (let i = 0; i < n; i++) {
    const id = 1 + 2 * i;
    parts.push(kind === 'rst' ? resetTriple(id, body) : Buffer.concat([chatRequest(id, body), frame(T.WINDOW_UPDATE, 0, id, u32(0))]));
  }
  return goawayCode(await rawFrom(port, src, Buffer.concat(parts)));
}

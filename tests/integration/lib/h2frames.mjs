// Raw HTTP/2 frames for tests that speak below what an HTTP/2 client library
// allows (hostile.test.mjs, the soak test's attacks): frame types, flags,
// error codes, and a few requests built by hand (HPACK literals without
// Huffman coding, names and values under 127 bytes).
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 };
export const E = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };
export const ERRNAME = Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k]));

export function frame(type, flags, stream, payload = Buffer.alloc(0), length = payload.length) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}
export const u32 = (n) => { const x = Buffer.alloc(4); x.writeUInt32BE(n >>> 0); return x; };
export const settings = (pairs = []) => frame(T.SETTINGS, 0, 0, Buffer.concat(pairs.map(([id, v]) => { const x = Buffer.alloc(6); x.writeUInt16BE(id); x.writeUInt32BE(v, 2); return x; })));
export const str = (s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]); // HPACK literal, no Huffman, < 127 bytes
// HPACK: :method (0x82 GET, 0x83 POST), :scheme http (0x86), :path (literal, name index 4), :authority (literal, name index 1)
export const hpack = (method, path) => Buffer.concat([Buffer.from([method === 'POST' ? 0x83 : 0x82, 0x86, 0x04]), str(path), Buffer.from([0x01]), str('127.0.0.1')]);
export const headers = (stream, method = 'GET', path = '/health', flags = F.END_HEADERS | F.END_STREAM) => frame(T.HEADERS, flags, stream, hpack(method, path));
export const START = Buffer.concat([PREFACE, settings()]);

export const lit = (name, value) => Buffer.concat([Buffer.from([0x00]), str(name), str(value)]); // literal without indexing, new name
// A complete chat request on `stream`: HEADERS, and DATA with END_STREAM.
export function chatRequest(stream, body) {
  const block = Buffer.concat([Buffer.from([0x83, 0x86, 0x04]), str('/v1/chat/completions'), Buffer.from([0x01]), str('127.0.0.1'), lit('content-type', 'application/json')]);
  return Buffer.concat([frame(T.HEADERS, F.END_HEADERS, stream, block), frame(T.DATA, F.END_STREAM, stream, body)]);
}
// ... then its RST_STREAM(CANCEL).
export const resetTriple = (stream, body) => Buffer.concat([chatRequest(stream, body), frame(T.RST_STREAM, 0, stream, u32(E.CANCEL))]);

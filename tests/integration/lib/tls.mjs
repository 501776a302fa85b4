// TLS for the upstream tests (issue 17, docs/upstream-client.md): a private
// PKI made with the openssl CLI (a CA, an unknown CA, server certificates for
// names and IPs, an expired one, a client certificate for mutual TLS), and a
// TLS front that terminates TLS on a free loopback port and pipes each
// connection to a cleartext target (the project's mock), counting the TLS
// connections and handshakes it accepted and whether a session was resumed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { tmpDir } from './harness.mjs';
import { onRequests } from './upstream.mjs';

function openssl(args, cwd) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// A CA (key + self-signed certificate) named `name` in dir.
function makeCa(dir, name) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', `/CN=llmgate test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { key: path.join(dir, `${name}.key`), cert: path.join(dir, `${name}.pem`) };
}

// A leaf certificate `name` signed by `ca`: serverAuth for the DNS names and
// IPs in `sans`, or clientAuth when `client`; `expired` makes one whose
// validity ended yesterday.
function makeLeaf(dir, ca, name, { sans = [], client = false, expired = false } = {}) {
  const key = path.join(dir, `${name}.key`), csr = path.join(dir, `${name}.csr`), cert = path.join(dir, `${name}.pem`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${sans[0] || name}`,
    '-keyout', key, '-out', csr], dir);
  const ext = path.join(dir, `${name}.ext`);
  const alt = sans.map((s) => (/^[\d.]+$/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
  fs.writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    `extendedKeyUsage=${client ? 'clientAuth' : 'serverAuth'}`,
    alt ? `subjectAltName=${alt}` : '',
  ].filter(Boolean).join('\n') + '\n');
  // a validity that ended yesterday: `openssl ca` takes explicit dates
  if (expired) return { key, cert: backdate(dir, ca, csr, ext, name) };
  const args = ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-extfile', ext];
  args.push('-days', '30');
  openssl(args, dir);
  return { key, cert };
}

// A certificate valid from 10 days ago to yesterday, through `openssl ca`
// (which takes explicit dates).
function backdate(dir, ca, csr, ext, name) {
  const db = path.join(dir, `${name}.db`);
  fs.writeFileSync(db, '');
  fs.writeFileSync(path.join(dir, `${name}.serial`), '1000\n');
  const conf = path.join(dir, `${name}.cnf`);
  fs.writeFileSync(conf, [
    '[ca]', 'default_ca = c', '[c]', `database = ${db}`, `new_certs_dir = ${dir}`, `serial = ${path.join(dir, `${name}.serial`)}`,
    'default_md = sha256', 'policy = p', 'copy_extensions = none', '[p]', 'commonName = supplied',
  ].join('\n') + '\n');
  const day = (d) => { const t = new Date(Date.now() + d * 86400000); return t.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'; };
  const out = path.join(dir, `${name}-expired.pem`);
  openssl(['ca', '-batch', '-config', conf, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', out, '-extfile', ext,
    '-startdate', day(-10), '-enddate', day(-1), '-notext'], dir);
  return out;
}

// The whole PKI in a fresh temp dir: {dir, ca, otherCa, server (localhost,
// 127.0.0.1), wrongName (other.invalid only), expired (localhost, 127.0.0.1,
// ended yesterday), client (clientAuth, signed by ca)}. Each entry {key, cert}.
export function makePki() {
  const dir = tmpDir('llmgate-pki-');
  const ca = makeCa(dir, 'ca'), otherCa = makeCa(dir, 'other-ca');
  return {
    dir, ca, otherCa,
    server: makeLeaf(dir, ca, 'server', { sans: ['localhost', '127.0.0.1'] }),
    wrongName: makeLeaf(dir, ca, 'wrong', { sans: ['other.invalid'] }),
    expired: makeLeaf(dir, ca, 'expired', { sans: ['localhost', '127.0.0.1'], expired: true }),
    client: makeLeaf(dir, ca, 'client', { client: true }),
    unknown: makeLeaf(dir, otherCa, 'unknown', { sans: ['localhost', '127.0.0.1'] }),
  };
}

// A TLS front on 127.0.0.1:<free port> for `target` (a cleartext port):
// opts.cert/key (the server certificate), opts.requestCert + opts.ca (mutual
// TLS: a client without a certificate signed by ca is refused in the
// handshake), opts.alpn (default ['http/1.1']). Returns {port, base (https
// URL), connections (TLS connections established), resumed (of them, resumed
// sessions), handshakeErrors, clientCerts (subjects presented), close()}.
export async function startTlsFront(target, { cert, key, requestCert = false, ca, alpn = ['http/1.1'] } = {}) {
  const f = { connections: 0, resumed: 0, handshakeErrors: [], clientCerts: [], sockets: new Set() };
  const server = tls.createServer({
    cert: fs.readFileSync(cert), key: fs.readFileSync(key), ALPNProtocols: alpn,
    requestCert, rejectUnauthorized: requestCert, ca: ca ? fs.readFileSync(ca) : undefined,
  }, (sock) => {
    f.connections++;
    if (sock.isSessionReused()) f.resumed++;
    if (requestCert) f.clientCerts.push(sock.getPeerCertificate()?.subject?.CN);
    const up = net.connect(target, '127.0.0.1');
    f.sockets.add(sock);
    f.sockets.add(up);
    sock.pipe(up).pipe(sock);
    const end = () => { sock.destroy(); up.destroy(); f.sockets.delete(sock); f.sockets.delete(up); };
    sock.on('error', end);
    up.on('error', end);
    sock.on('close', end);
    up.on('close', end);
  });
  server.on('tlsClientError', (e) => { f.handshakeErrors.push(e.code || e.message); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  f.port = server.address().port;
  f.base = `https://127.0.0.1:${f.port}`;
  f.close = () => new Promise((resolve) => {
    for (const s of f.sockets) s.destroy();
    server.close(() => resolve());
  });
  return f;
}

// A raw TLS upstream on 127.0.0.1:<free port> that answers byte by byte as
// the test says: each connection is a TCP socket (conn.raw) under a server
// TLSSocket (conn.tls), so that a case can also close the TCP connection
// without a close_notify (closeRaw) or reset it (conn.raw.resetAndDestroy()).
// Each whole request (head, and body by its Content-Length) calls
// handle(sock, req, conn): req {head, body, name (the path's first segment),
// nth (the request's number on the connection)}, conn {id, n, raw, closed}.
// opts.tls: more tls.TLSSocket options (e.g. maxVersion). Returns {port,
// conns (every conn), close()}.
export async function startRawTls({ cert, key }, handle, { tls: more = {} } = {}) {
  const secureContext = tls.createSecureContext({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), ...more });
  const up = { conns: [] };
  const server = net.createServer((raw) => {
    const conn = { id: up.conns.length + 1, n: 0, raw, closed: false };
    up.conns.push(conn);
    raw.on('error', () => {});
    raw.on('close', () => { conn.closed = true; });
    const sock = new tls.TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'], ...more });
    conn.tls = sock;
    sock.on('error', () => {});
    onRequests(sock, (req) => {
      conn.n++;
      handle(sock, { ...req, nth: conn.n }, conn);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = server.address().port;
  up.close = () => new Promise((resolve) => {
    for (const c of up.conns) c.raw.destroy();
    server.close(() => resolve());
  });
  return up;
}

// Writes data over conn's TLS, then closes the TCP connection under it
// without a close_notify (a truncation as an attacker or a crashed server
// makes it).
export function closeRaw(conn, data = '') {
  conn.tls.write(data, () => conn.raw.destroy());
}

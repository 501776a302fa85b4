// tests/bench/tls-front.mjs: a TLS front for tests/bench/profile.sh's
// UPSTREAM_TLS=1 (the suite's lib/tls.mjs: a private CA and a server
// certificate made with openssl, node:tls piping to the cleartext mock).
//   node tls-front.mjs MOCK_PORT   prints "PORT CA_FILE" and serves until killed
import { makePki, startTlsFront } from '../integration/lib/tls.mjs';

const pki = makePki();
const front = await startTlsFront(Number(process.argv[2]), pki.server);
process.stdout.write(`${front.port} ${pki.ca.cert}\n`);
process.on('SIGTERM', () => process.exit(0));

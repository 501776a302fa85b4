// tests/bench/portkey/serve.mjs: starts the pinned Portkey gateway (installed
// by tests/bench/run.sh into $PORTKEY_DIR/node_modules from package-lock.json
// beside this file) listening on 127.0.0.1 only: its CLI passes no host to
// net.Server.listen, which would mean every interface.
//   PORTKEY_DIR=build-bench/portkey node serve.mjs --port=N --headless
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number') {
    if (args[1] === undefined) args[1] = '127.0.0.1';
    else if (typeof args[1] === 'function') args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
console.clear = () => {};

const dir = process.env.PORTKEY_DIR;
if (!dir) {
  console.error('serve.mjs: set PORTKEY_DIR to the directory holding node_modules/@portkey-ai/gateway');
  process.exit(2);
}
await import(pathToFileURL(path.resolve(dir, 'node_modules/@portkey-ai/gateway/build/start-server.js')).href);

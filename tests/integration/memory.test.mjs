// A worker gives memory back after a burst (server/memtrim.h): the heap grown
// by a thousand concurrent streams through an upstream is returned to the
// kernel once they end, instead of staying at its peak (docs/benchmarks.md,
// "memory after the load"). Proportional set size (Pss) of the worker is read
// from /proc/PID/smaps_rollup.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';

import { startGateway, startMock, sleep, waitFor } from './lib/harness.mjs';

const STREAMS = 1000;
let mock, gw;

const pssKb = (pid) => Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    config: ({ port }) => [
      `listen: [{address: 127.0.0.1, port: ${port}}]`,
      'workers: 1',
      `providers: [{name: up, type: openai, base_url: "${mock.base}/v1", keys: [sk-mem-test], models: ["*"]}]`,
      '',
    ].join('\n'),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

function stream(agent, i) {
  const body = JSON.stringify({
    model: 'm~chunks=20,interval=100ms,chunk_size=200', stream: true, messages: [{ role: 'user', content: `mem ${i}` }],
  });
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: gw.port, path: '/v1/chat/completions', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, done: text.includes('data: [DONE]') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

test(`after ${STREAMS} concurrent upstream streams end, the worker's memory falls back near idle`, async (t) => {
  if (process.env.ASAN_OPTIONS !== undefined) {
    t.skip('the sanitizer allocator keeps freed memory in quarantine (glibc malloc_trim does not apply)');
    return;
  }
  const [worker] = gw.workerPids();
  const idle = pssKb(worker);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  let peak = idle;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, pssKb(worker));
      await sleep(100);
    }
  })();
  const results = await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(agent, i)));
  sampling = false;
  await sampler;
  assert.equal(results.filter((r) => r.status === 200 && r.done).length, STREAMS, 'every stream completes');
  const grown = peak - idle;
  assert.ok(grown > 8 * 1024, `the load must grow the worker (idle ${idle} KB, peak ${peak} KB) for this test to mean anything`);
  // once the trim (every 1 s) has run, at most a third of the growth remains;
  // the ceiling only bounds a worker that never gives the memory back
  let now = peak;
  await waitFor(() => { now = pssKb(worker); return now - idle < grown / 3; }, {
    timeout: 30000, interval: 200, what: `Pss back near idle (idle ${idle} KB, peak ${peak} KB, now ${now} KB)`,
  }).catch((e) => assert.fail(`${e.message}; now ${now} KB`));
  assert.deepEqual(gw.workerPids(), [worker], 'the same worker');
});

/**
 * `npm run bench`: bare Fastify vs findguard single lookups vs 1,000-number syncs, each measured
 * with autocannon from this process against a server in a child process, in one run, and
 * reported as ratios to bare Fastify (absolute figures depend on the machine; ratios much less).
 */
import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Population } from '../src/population/index.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);

interface Ready {
  address: string;
  token?: string;
}

async function startServer(kind: string): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = fork(fileURLToPath(new URL('./server.ts', import.meta.url)), [kind, String(ACCOUNTS)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Ready));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { child, ready };
}

async function load(opts: autocannon.Options): Promise<autocannon.Result> {
  // Warm-up so JIT and caches settle before the measured run.
  await autocannon({ ...opts, duration: 2 });
  return autocannon({ ...opts, duration: DURATION });
}

function check(result: autocannon.Result, what: string): void {
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${what}: ${bad} failed requests of ${result.requests.total}`);
}

const population = new Population({ seed: 1, accounts: ACCOUNTS, now: Date.now() });
const phones = Array.from({ length: 20_000 }, (_, i) => population.phoneOf((i * 7919) % ACCOUNTS));
// Half the numbers asked are not in the population at all, as in a real address book.
const unknown = phones.map((p) => p.slice(0, -4) + String((Number(p.slice(-4)) + 5003) % 10000).padStart(4, '0'));

const hello = await startServer('hello');
const helloResult = await load({ url: `${hello.ready.address}/`, connections: 100, pipelining: 10 });
check(helloResult, 'hello');
hello.child.kill();

const fg = await startServer('findguard');
const headers = { authorization: `Bearer ${fg.ready.token}`, 'content-type': 'application/json' };
const lookupBodies = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ phone: i % 2 ? phones[i] : unknown[i] }));
let li = 0;
const lookupResult = await load({
  url: fg.ready.address,
  connections: 100,
  pipelining: 10,
  requests: [{ method: 'POST', path: '/v1/discovery/lookup', headers, setupRequest: (r) => ({ ...r, body: lookupBodies[li++ % lookupBodies.length] }) }],
});
check(lookupResult, 'lookup');

const syncBodies = Array.from({ length: 20 }, (_, b) =>
  JSON.stringify({ contacts: Array.from({ length: 1000 }, (_, i) => (i % 2 ? phones : unknown)[(b * 1000 + i) % phones.length]) }),
);
let si = 0;
const syncResult = await load({
  url: fg.ready.address,
  connections: 8,
  pipelining: 1,
  requests: [{ method: 'POST', path: '/v1/discovery/sync', headers, setupRequest: (r) => ({ ...r, body: syncBodies[si++ % syncBodies.length] }) }],
});
check(syncResult, 'sync');
fg.child.kill();

const helloRps = helloResult.requests.average;
const lookupRps = lookupResult.requests.average;
const syncNumbers = syncResult.requests.average * 1000;
const rows = [
  ['bare Fastify hello-world', `${Math.round(helloRps).toLocaleString('en-US')} req/s`, '1.00'],
  ['single lookups', `${Math.round(lookupRps).toLocaleString('en-US')} lookups/s`, (lookupRps / helloRps).toFixed(2)],
  ['sync, 1,000-number batches', `${Math.round(syncNumbers).toLocaleString('en-US')} numbers/s`, (syncNumbers / helloRps).toFixed(2)],
];
console.log(`\nfindguard benchmark: ${DURATION} s per figure, ${ACCOUNTS.toLocaleString('en-US')} accounts on SQLite, Node ${process.version}`);
console.log('| what | throughput | ratio to bare Fastify |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\ntargets: lookups >= 0.40 of bare Fastify (${(lookupRps / helloRps >= 0.4 ? 'met' : 'NOT met')}), sync >= 150,000 numbers/s (${syncNumbers >= 150_000 ? 'met' : 'NOT met'})`);

/**
 * `npm run bench`: bare Fastify vs findguard single lookups vs 1,000-number syncs, each measured
 * with autocannon from this process against a server in a child process, in one run, and
 * reported as ratios to bare Fastify (absolute figures depend on the machine; ratios much less).
 * Then the same with the limits on (the default policy's layers at budgets no call reaches, so
 * every layer is evaluated and charged and nothing refused), in memory and in Redis: their cost.
 * Calls rotate over 64 accounts and 256 client addresses (X-Forwarded-For from a trusted proxy).
 * Before findguard, the floor: the same lookups to bare Fastify answered by findguard's directory
 * read alone (bench/server.ts `floor`), the ceiling for any lookup served through Fastify here.
 * Last, the cost of making each answered call's lookup event durable before the answer leaves:
 * the limits-in-memory and limits-in-Redis servers again, with the events fire-and-forget as they
 * were before (`--events-fire-and-forget`), each pair back to back; throughput, latency, and the
 * latency of one lookup at a time (BENCH_EVENTS_AB=0 skips it).
 */
import autocannon from 'autocannon';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadIpIntel } from '../src/net/index.js';
import { Population } from '../src/population/index.js';
import { SeededRandom } from '../src/util/random.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS_AB = process.env.BENCH_EVENTS_AB !== '0';
/** BENCH_CPU_PROF=DIR: each measured run's server writes a V8 CPU profile of that run alone into DIR. */
const CPU_PROF = process.env.BENCH_CPU_PROF;
/** BENCH_ONLY=floor,none,memory,redis: only those servers (hello-world always runs: the ratios need it). */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const wanted = (what: string): boolean => !ONLY || ONLY.has(what);

interface Ready {
  address: string;
  tokens?: string[];
}

/**
 * The servers run compiled JavaScript, as `npm start` does, not through tsx: tsx compiles with
 * esbuild's keepNames, which wraps every closure made per request in a defineProperty call, a
 * cost production does not pay (a few per cent of a lookup). BENCH_FROM_SRC=1 runs them through tsx.
 */
const FROM_SRC = process.env.BENCH_FROM_SRC === '1';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * BENCH_BUILD=DIR (under the repository, e.g. `.bench/before-build`): run the servers of an earlier
 * build kept there, without compiling the tree: the "before" of a before/after in alternating rounds.
 */
const PREBUILT = process.env.BENCH_BUILD;
const BUILD = PREBUILT ? join(ROOT, PREBUILT) : join(ROOT, '.bench', 'build');
if (!FROM_SRC && !PREBUILT) {
  // Type errors elsewhere in a tree being edited must not stop the bench: emit regardless.
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const options = ['--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--lib', 'ES2023', '--types', 'node'];
  options.push('--esModuleInterop', '--skipLibCheck', '--resolveJsonModule', '--noCheck', '--rootDir', ROOT, '--outDir', BUILD);
  execFileSync(process.execPath, [tsc, ...options, join(ROOT, 'bench', 'server.ts')], { stdio: 'inherit' });
}

async function startServer(kind: string, policy = 'none', redis?: string, flags: string[] = []): Promise<{ child: ChildProcess; ready: Ready }> {
  const script = FROM_SRC ? fileURLToPath(new URL('./server.ts', import.meta.url)) : join(BUILD, 'bench', 'server.js');
  const child = fork(script, [kind, String(ACCOUNTS), policy, ...(redis ? [redis] : []), ...flags], {
    execArgv: FROM_SRC ? ['--import', 'tsx'] : [],
    ...(CPU_PROF ? { env: { ...process.env, BENCH_CPU_PROF: CPU_PROF } } : {}),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Ready));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { child, ready };
}

// Children inherit stdout: never leave one behind when this process ends early.
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill();
});

/** Clock ticks per second of /proc's CPU times. */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * A process's user + system CPU time so far in µs, all its threads (Linux /proc; undefined
 * elsewhere). Per request, it is the server's own cost, which throughput on this shared VM mixes
 * with the load generator's and the machine's moods.
 */
function cpuOf(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS;
  } catch {
    return undefined;
  }
}

interface Measured {
  /** Requests per second. */
  rate: number;
  /** The server's CPU time per request over the measured run, in µs. */
  cpu: number | undefined;
  /** Response time as autocannon saw it, in ms (its percentiles are whole milliseconds). */
  mean: number;
  p50: number;
  p99: number;
}

async function load(opts: autocannon.Options, server: { child: ChildProcess }, what: string): Promise<Measured> {
  // Warm-up so JIT and caches settle before the measured run. 1,000 requests in flight on a
  // slow VM can wait longer than autocannon's default 10 s: a slow answer is not a failed one.
  await autocannon({ timeout: 60, ...opts, duration: 2 });
  if (CPU_PROF) await ask(server.child, { profile: 'start' });
  const before = cpuOf(server.child.pid);
  const result = await autocannon({ timeout: 60, ...opts, duration: DURATION });
  const after = cpuOf(server.child.pid);
  if (CPU_PROF) await ask(server.child, { profile: 'stop', name: what });
  check(result, what);
  return {
    rate: result.requests.average,
    cpu: before !== undefined && after !== undefined ? (after - before) / result.requests.total : undefined,
    mean: result.latency.mean,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

/** Sends a message to a server child and waits for its answer (the bench's profiling switch). */
function ask(child: ChildProcess, message: object): Promise<void> {
  return new Promise((resolve) => {
    child.once('message', () => resolve());
    child.send(message);
  });
}

function check(result: autocannon.Result, what: string): void {
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) {
    const codes = JSON.stringify((result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {});
    throw new Error(`${what}: ${bad} failed requests of ${result.requests.total} (${result.errors} errors, ${result.timeouts} timeouts; status codes ${codes})`);
  }
}

const population = new Population({ seed: 1, accounts: ACCOUNTS, now: Date.now() });
const phones = Array.from({ length: 20_000 }, (_, i) => population.phoneOf((i * 7919) % ACCOUNTS));
// Half the numbers asked are not in the population at all, as in a real address book.
const unknown = phones.map((p) => p.slice(0, -4) + String((Number(p.slice(-4)) + 5003) % 10000).padStart(4, '0'));

// Consumer addresses of many networks and countries, so the IP, subnet, ASN and country layers see variety.
const intel = await loadIpIntel();
const rng = new SeededRandom(3);
const ips: string[] = [];
while (ips.length < 256) {
  const ip = `${1 + rng.int(222)}.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`;
  const info = intel.tryLookup(ip);
  if (info?.country && info.asn && !info.hosting) ips.push(ip);
}

/** Deletes a killed server's keys (its event stream holds every lookup the bench made). */
async function forget(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL);
  try {
    for await (const keys of r.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) if (keys.length > 0) await r.del(...keys);
  } finally {
    r.disconnect();
  }
}

async function redisUp(): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const hello = await startServer('hello');
const helloResult = await load({ url: `${hello.ready.address}/`, connections: 100, pipelining: 10 }, hello, 'hello');
hello.child.kill();

const lookupBodies = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ phone: i % 2 ? phones[i] : unknown[i] }));
const syncBodies = Array.from({ length: 20 }, (_, b) =>
  JSON.stringify({ contacts: Array.from({ length: 1000 }, (_, i) => (i % 2 ? phones : unknown)[(b * 1000 + i) % phones.length]) }),
);

/** A client's headers, rotating over the server's callers, addresses and devices. */
function headerSource(tokens: readonly string[]): () => Record<string, string> {
  let n = 0;
  return () => {
    n++;
    return { authorization: `Bearer ${tokens[n % tokens.length]}`, 'content-type': 'application/json', 'x-forwarded-for': ips[(n * 31) % ips.length]!, 'x-device-id': `bench-${n % 97}` };
  };
}

/** Lookups under load (100 connections, 10 pipelined each), or `one` at a time: the latency of a call on an idle server. */
async function lookups(server: { child: ChildProcess; ready: Ready }, what: string, one = false): Promise<Measured> {
  const headers = headerSource(server.ready.tokens!);
  let li = 0;
  return load(
    {
      url: server.ready.address,
      connections: one ? 1 : 100,
      pipelining: one ? 1 : 10,
      requests: [{ method: 'POST', path: '/v1/discovery/lookup', setupRequest: (r) => ({ ...r, headers: headers(), body: lookupBodies[li++ % lookupBodies.length] }) }],
    },
    server,
    what,
  );
}

/** Lookups/s and sync numbers/s from one server; with `oneAtATime`, also lookups one at a time. */
async function measure(
  policy: string,
  redis?: string,
  opts: { fireAndForget?: boolean; oneAtATime?: boolean } = {},
): Promise<{ lookups: Measured; syncs: Measured; one?: Measured }> {
  const fg = await startServer('findguard', policy, redis, opts.fireAndForget ? ['--events-fire-and-forget'] : []);
  const label = `${policy}${redis ? ', redis' : ''}${opts.fireAndForget ? ', events fire-and-forget' : ''}`;
  const one = opts.oneAtATime ? await lookups(fg, `one lookup at a time (${label})`, true) : undefined;
  const lookupResult = await lookups(fg, `lookup (${label})`);
  const headers = headerSource(fg.ready.tokens!);
  let si = 0;
  const syncResult = await load(
    {
      url: fg.ready.address,
      connections: 8,
      pipelining: 1,
      requests: [{ method: 'POST', path: '/v1/discovery/sync', setupRequest: (r) => ({ ...r, headers: headers(), body: syncBodies[si++ % syncBodies.length] }) }],
    },
    fg,
    `sync (${label})`,
  );
  fg.child.kill();
  if (redis) await forget(`fg:bench:${fg.child.pid}:`);
  return { lookups: lookupResult, syncs: syncResult, ...(one ? { one } : {}) };
}

// The most any lookup served through Fastify can do here: bare Fastify with findguard's directory read and nothing else.
let floor: Measured | undefined;
if (wanted('floor')) {
  const floorServer = await startServer('floor');
  floor = await lookups(floorServer, 'lookup floor');
  floorServer.child.kill();
}

type Figures = Awaited<ReturnType<typeof measure>>;
const bare = wanted('none') ? await measure('none') : undefined;
// Each "before" right before its "after", so the VM's drift between them is as small as it gets.
const memoryBefore = EVENTS_AB && wanted('memory') ? await measure('limits', undefined, { fireAndForget: true, oneAtATime: true }) : undefined;
const memory = wanted('memory') ? await measure('limits', undefined, { oneAtATime: EVENTS_AB }) : undefined;
const haveRedis = wanted('redis') && (await redisUp());
const redisBefore = EVENTS_AB && haveRedis ? await measure('limits', REDIS_URL, { fireAndForget: true, oneAtATime: true }) : undefined;
const redis = haveRedis ? await measure('limits', REDIS_URL, { oneAtATime: EVENTS_AB }) : undefined;
if (wanted('redis') && !redis) console.warn(`\n*** Redis not reachable at ${REDIS_URL}: the Redis figures are missing ***`);

const helloRps = helloResult.rate;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const cost = (with_: number, without: number) => `${(100 * (1 - with_ / without)).toFixed(1)}%`;
const cpu = (m: Measured) => (m.cpu === undefined ? 'n/a' : `${fmt(m.cpu)} µs`);
const numbers = (m: Measured) => m.rate * 1000;
const lookupRow = (what: string, m: Measured, base?: Measured) => [what, `${fmt(m.rate)} lookups/s`, (m.rate / helloRps).toFixed(2), base ? cost(m.rate, base.rate) : '', cpu(m), floorRatio(m)];
const syncRow = (what: string, m: Measured, base?: Measured) => [what, `${fmt(numbers(m))} numbers/s`, (numbers(m) / helloRps).toFixed(2), base ? cost(m.rate, base.rate) : '', cpu(m), ''];
const floorRatio = (m: Measured) => (floor?.cpu && m.cpu ? `${(m.cpu / floor.cpu).toFixed(2)}x` : '');
const rows = [
  ['bare Fastify hello-world', `${fmt(helloRps)} req/s`, '1.00', '', cpu(helloResult), ''],
  ...(floor ? [lookupRow('floor: bare Fastify + the directory read only', floor)] : []),
  ...(bare ? [lookupRow('single lookups, no limits', bare.lookups), syncRow('sync, 1,000-number batches, no limits', bare.syncs)] : []),
  ...(memory ? [lookupRow('single lookups, limits in memory', memory.lookups, bare?.lookups), syncRow('sync, limits in memory', memory.syncs, bare?.syncs)] : []),
  ...(redis ? [lookupRow('single lookups, limits in Redis', redis.lookups, bare?.lookups), syncRow('sync, limits in Redis', redis.syncs, bare?.syncs)] : []),
];
console.log(`\nfindguard benchmark: ${DURATION} s per figure, ${ACCOUNTS.toLocaleString('en-US')} accounts on SQLite, Node ${process.version}`);
console.log('| what | throughput | ratio to bare Fastify | cost of the limits | server CPU per call | CPU per lookup / floor\'s |\n|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(
  `\nfloor: a POST of the same lookups to bare Fastify, answered by findguard's normalisation, HMAC and indexed SQLite read ` +
    `with no authentication, limits, lookup event or request log: no lookup served through Fastify runs faster on this machine.`,
);
console.log(
  `server CPU per call: user and system time of the server process (all its threads) over the measured run, per request; ` +
    `a sync call is 1,000 numbers.`,
);

if (memoryBefore && memory) {
  const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;
  const change = (after: number, before: number) => `${after >= before ? '+' : ''}${((100 * (after - before)) / before).toFixed(1)}%`;
  const pairs: Array<[string, Figures, Figures]> = [['limits in memory, events stored in-process (SQLite)', memoryBefore, memory]];
  if (redisBefore && redis) pairs.push(['limits in Redis, events to the Redis stream', redisBefore, redis]);
  console.log('\nThe cost of durable lookup events: before = answered before the event is written (fire-and-forget), after = answered once it is durable');
  console.log('| server | what | before | after | change |\n|---|---|---:|---:|---:|');
  for (const [name, before, after] of pairs) {
    const row = (what: string, b: string, a: string, c: string) => console.log(`| ${name} | ${what} | ${b} | ${a} | ${c} |`);
    row('lookups/s (100 connections x 10)', fmt(before.lookups.rate), fmt(after.lookups.rate), change(after.lookups.rate, before.lookups.rate));
    row('lookup latency p50 / p99', `${ms(before.lookups.p50)} / ${ms(before.lookups.p99)}`, `${ms(after.lookups.p50)} / ${ms(after.lookups.p99)}`, change(after.lookups.p50, before.lookups.p50));
    row('sync numbers/s (8 connections)', fmt(numbers(before.syncs)), fmt(numbers(after.syncs)), change(after.syncs.rate, before.syncs.rate));
    row('sync latency p50 / p99', `${ms(before.syncs.p50)} / ${ms(before.syncs.p99)}`, `${ms(after.syncs.p50)} / ${ms(after.syncs.p99)}`, change(after.syncs.p50, before.syncs.p50));
    row('one lookup at a time: mean / p99', `${ms(before.one!.mean)} / ${ms(before.one!.p99)}`, `${ms(after.one!.mean)} / ${ms(after.one!.p99)}`, change(after.one!.mean, before.one!.mean));
    row('one lookup at a time: lookups/s', fmt(before.one!.rate), fmt(after.one!.rate), change(after.one!.rate, before.one!.rate));
    row('server CPU per lookup / per sync', `${cpu(before.lookups)} / ${cpu(before.syncs)}`, `${cpu(after.lookups)} / ${cpu(after.syncs)}`, '');
  }
}

// Issue 18's targets for the request path, all from server CPU per call in this run.
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const targets: string[] = [];
if (floor?.cpu && memory?.lookups.cpu) {
  const r = memory.lookups.cpu / floor.cpu;
  targets.push(`lookups with limits in memory <= 1.5x the floor's CPU: ${r.toFixed(2)}x (${verdict(r <= 1.5)})`);
}
if (memory?.lookups.cpu && redis?.lookups.cpu) {
  const d = redis.lookups.cpu - memory.lookups.cpu;
  targets.push(`limits in Redis add <= 40 µs of CPU per lookup over limits in memory: ${fmt(d)} µs (${verdict(d <= 40)})`);
}
if (bare) {
  for (const [name, m] of [['in memory', memory], ['in Redis', redis]] as const) {
    if (!m) continue;
    const rate = m.syncs.rate / bare.syncs.rate;
    const cpuRatio = m.syncs.cpu && bare.syncs.cpu ? bare.syncs.cpu / m.syncs.cpu : undefined;
    targets.push(
      `sync with limits ${name} >= 0.9 of sync without: ${rate.toFixed(2)} by throughput` +
        (cpuRatio !== undefined ? `, ${cpuRatio.toFixed(2)} by CPU per call` : '') +
        ` (${verdict((cpuRatio ?? rate) >= 0.9)})`,
    );
  }
}
if (targets.length > 0) console.log(`\ntargets:\n- ${targets.join('\n- ')}`);

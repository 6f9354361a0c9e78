/**
 * `tsx bench/request-path.ts`: the request path's own CPU per single lookup, through Fastify's
 * `inject` (no sockets, no load generator): the floor (bare Fastify and findguard's directory
 * read, as bench/server.ts `floor`), findguard with limits in memory (events stored in the
 * process) and with limits in Redis (events to the stream), each in this process, in rounds
 * (BENCH_ROUNDS, default 3) of BENCH_LOOKUPS lookups 100 at a time, alternating so the machine's
 * drift falls on all three alike. Process CPU time (all threads) per lookup.
 *
 * On a machine shared with other work, `npm run bench`'s CPU per call swings with how often the
 * server waits for the load generator (each wait is a wake-up and a system call per answer);
 * this leaves out the sockets and measures the code a lookup runs. `inject` allocates a request
 * and response of its own, so its figures run higher than a socket's for the same code.
 *
 * BENCH_ONLY=memory (or redis; comma-separated) leaves the other findguard out, e.g. for a
 * `node --cpu-prof` profile of one path: the floor always runs, as every ratio needs it.
 * Run a compiled copy (`node <build>/bench/request-path.js`) for before/after rounds: tsx's
 * keepNames costs the request path a few per cent (see bench/run.ts).
 */
import Fastify from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedDirectory } from '../src/cli/seeding.js';
import { buildSettings } from '../src/config/config.js';
import { LookupBody, LookupResponse } from '../src/discovery/schemas.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { loadIpIntel } from '../src/net/index.js';
import { compilePolicy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
import { unreachable } from './policy.js';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 20_000);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ONLY = new Set((process.env.BENCH_ONLY ?? 'memory,redis').split(',').map((s) => s.trim()));

interface Target {
  name: string;
  inject: (opts: { method: 'POST'; url: string; headers: Record<string, string>; payload: string }) => Promise<{ statusCode: number }>;
  tokens: string[];
  close(): Promise<void>;
}

const dirs: string[] = [];
async function findguard(name: string, redisUrl?: string): Promise<{ service: Service; tokens: string[]; firstActive: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'findguard-bench-path-'));
  dirs.push(dataDir);
  const { config, secrets } = buildSettings({ dataDir, logLevel: 'warn', trustedProxies: '127.0.0.1', ...(redisUrl ? { redisUrl } : {}) }, dataDir);
  const service = await createService(config, secrets, { logger: createLogger('warn'), policy: compilePolicy(unreachable(), 'bench'), redisPrefix: `fg:bench:path:${process.pid}:${name}:` });
  const { population } = await seedDirectory(service.ctx, { accounts: ACCOUNTS, seed: 1, now: Date.now() });
  const tokens: string[] = [];
  let firstActive: string | undefined;
  for (let i = 0; tokens.length < 64; i++) {
    const a = population.account(i);
    if (a.status !== 'active') continue;
    firstActive ??= a.id;
    tokens.push(await signDevToken(secrets.jwt, a.id, Date.now(), 3600));
  }
  return { service, tokens, firstActive: firstActive! };
}

const mem = await findguard('memory');
const targets: Target[] = [];
{
  // The floor on the memory server's own directory: the same read, none of the rest.
  const app = Fastify();
  const { discovery } = mem.service.ctx;
  // The floor answers as a real account, so the match reads the caller as findguard's own does.
  const floorCaller = { accountId: mem.firstActive, mirroredAt: (await discovery.authorizeCaller(mem.firstActive)).mirroredAt };
  app.post<{ Body: LookupBody }>('/v1/discovery/lookup', { schema: { body: LookupBody, response: { 200: LookupResponse } } }, async (request) =>
    discovery.completeLookup(discovery.prepareLookup(request.body), floorCaller),
  );
  await app.ready();
  targets.push({ name: 'floor', inject: (o) => app.inject(o), tokens: mem.tokens, close: () => app.close() });
}
if (ONLY.has('memory')) targets.push({ name: 'limits in memory', inject: (o) => mem.service.app.inject(o), tokens: mem.tokens, close: () => mem.service.close() });
if (ONLY.has('redis')) {
  const red = await findguard('redis', REDIS_URL);
  targets.push({ name: 'limits in Redis', inject: (o) => red.service.app.inject(o), tokens: red.tokens, close: () => red.service.close() });
}

const population = (await import('../src/population/index.js')).Population;
const pop = new population({ seed: 1, accounts: ACCOUNTS, now: Date.now() });
const phones = Array.from({ length: 2000 }, (_, i) => pop.phoneOf((i * 7919) % ACCOUNTS));
const intel = await loadIpIntel();
const rng = new SeededRandom(3);
const ips: string[] = [];
while (ips.length < 256) {
  const ip = `${1 + rng.int(222)}.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`;
  const info = intel.tryLookup(ip);
  if (info?.country && info.asn && !info.hosting) ips.push(ip);
}

async function run(t: Target, count: number): Promise<number> {
  const cpu0 = process.cpuUsage();
  for (let done = 0; done < count; done += 100) {
    const batch: Array<Promise<{ statusCode: number }>> = [];
    for (let k = 0; k < 100; k++) {
      const n = done + k;
      const phone = n % 2 ? phones[n % phones.length]! : phones[n % phones.length]!.slice(0, -3) + '000';
      batch.push(
        t.inject({
          method: 'POST',
          url: '/v1/discovery/lookup',
          headers: { authorization: `Bearer ${t.tokens[n % t.tokens.length]}`, 'content-type': 'application/json', 'x-forwarded-for': ips[(n * 31) % ips.length]!, 'x-device-id': `bench-${n % 97}` },
          payload: JSON.stringify({ phone }),
        }),
      );
    }
    for (const r of await Promise.all(batch)) if (r.statusCode !== 200) throw new Error(`${t.name}: status ${r.statusCode}`);
  }
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / count;
}

for (const t of targets) await run(t, 2000); // warm-up
const results = new Map<string, number[]>(targets.map((t) => [t.name, []]));
for (let r = 0; r < ROUNDS; r++) for (const t of targets) results.get(t.name)!.push(await run(t, LOOKUPS));
const floor = Math.min(...results.get('floor')!);
console.log(`request path through inject, ${LOOKUPS.toLocaleString('en-US')} lookups x ${ROUNDS} rounds, load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('| what | CPU per lookup, each round | best | best / floor\'s best |\n|---|---|---:|---:|');
for (const [name, v] of results) console.log(`| ${name} | ${v.map((x) => `${x.toFixed(0)} µs`).join(', ')} | ${Math.min(...v).toFixed(0)} µs | ${(Math.min(...v) / floor).toFixed(2)}x |`);
for (const t of targets) await t.close();
// Its directory is the floor's: closed here when its target did not run.
if (!ONLY.has('memory')) await mem.service.close();
const { Redis } = await import('ioredis');
const r = new Redis(REDIS_URL);
for await (const keys of r.scanStream({ match: `fg:bench:path:${process.pid}:*`, count: 1000 }) as AsyncIterable<string[]>) if (keys.length > 0) await r.del(...keys);
r.disconnect();
for (const d of dirs) rmSync(d, { recursive: true, force: true });
process.exit(0);

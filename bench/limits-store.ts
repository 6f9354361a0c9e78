/**
 * `tsx bench/limits-store.ts [BUILD]`: the embedded limits store's own CPU per charged call, saved
 * to SQLite as a node does (MemoryLimitStore + LimitStatePersistence on the raw handle), in turns of
 * 70 calls that share a save (what `npm run bench` gives a turn), each call charging three keys (an
 * account, an address, a device). Two callers' patterns: `hot`, the bench's 64 callers and 256
 * addresses again and again; `cold`, callers spread over 100,000 accounts and 50,000 addresses, as a
 * platform's are, where every save writes keys all over a growing table. BUILD: a compiled copy
 * (`.bench/<dir>`, as bench/run.ts BENCH_BUILD) to measure an earlier version the same way; BENCH_ROUNDS
 * rounds per pattern (default 3). Process CPU (all threads, the garbage collector's included).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';

const [build] = process.argv.slice(2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TURNS = 1500;
const root = build ? pathToFileURL(resolve(build, 'src')).href : new URL('../src', import.meta.url).href;
const { openDb } = (await import(`${root}/db/dialect.js`)) as typeof import('../src/db/dialect.js');
const { migrateToLatest } = (await import(`${root}/db/migrate.js`)) as typeof import('../src/db/migrate.js');
const { LimitStatePersistence } = (await import(`${root}/limits/memory-persistence.js`)) as typeof import('../src/limits/memory-persistence.js');
const { MemoryLimitStore } = (await import(`${root}/limits/memory-store.js`)) as typeof import('../src/limits/memory-store.js');
type ApplyInput = import('../src/limits/store.js').ApplyInput;

const HOUR = 3_600_000;
const logger = pino({ level: 'silent' });
// Budgets no call reaches: every call charges and changes state, as the bench's `limits` policy.
const charge = (layer: string, key: string) => ({ layer, scope: 'account' as const, key, cost: 1, burst: 1e9, rate: 1e9 / HOUR, perMs: HOUR, shadow: false });

async function run(pattern: 'hot' | 'cold'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-limits-store-'));
  const db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
  await migrateToLatest(db.kysely);
  const store = new MemoryLimitStore({ persistence: new LimitStatePersistence(db.kysely, logger, db.sqlite) });
  await store.restore(0);
  let n = 0;
  let now = Date.UTC(2026, 11, 5);
  let seed = 7;
  const random = (below: number) => {
    // A fixed sequence (Park-Miller), so both versions see the same keys.
    seed = (seed * 48271) % 2147483647;
    return seed % below;
  };
  const call = () => {
    n++;
    const account = pattern === 'hot' ? n % 64 : random(100_000);
    const ip = pattern === 'hot' ? n % 256 : random(50_000);
    const input: ApplyInput = {
      charges: [charge('account', `acct:${account}`), charge('ip', `ip:${ip}`), charge('device', `dev:${account}:${n % 3}`)],
      proof: false,
      strikeKey: `strike:${account}`,
      strikeWindowMs: HOUR,
      now: (now += 0.1),
    };
    return store.apply(input);
  };
  const turn = () => Promise.all(Array.from({ length: 70 }, call));
  for (let i = 0; i < 300; i++) await turn();
  const before = process.cpuUsage();
  for (let i = 0; i < TURNS; i++) await turn();
  const used = process.cpuUsage(before);
  await store.close();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  return (used.user + used.system) / (TURNS * 70);
}

console.log(`limits store on SQLite, ${build ?? 'this tree'}: CPU per charged call (70 calls a save, 3 keys a call)`);
for (const pattern of ['hot', 'cold'] as const) {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await run(pattern));
  console.log(`| ${pattern} | ${rounds.map((x) => `${x.toFixed(1)} µs`).join(', ')} | best ${Math.min(...rounds).toFixed(1)} µs |`);
}

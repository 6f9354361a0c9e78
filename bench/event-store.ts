/**
 * `tsx bench/event-store.ts`: what storing a lookup event costs on the embedded default, and how
 * much of it is the events' account index (`lookup_events_account_at`, which incident response
 * reads: a campaign's accounts -> what each was answered). The real pipeline (EventPipeline on the
 * raw SQLite handle, migrated schema, one transaction per batch of 60: what a turn of `npm run
 * bench` stores), single-lookup events from callers spread over BENCH_CALLERS accounts (default 100,000; `npm run bench` has 64), into a table
 * already holding BENCH_PREFILL events (default 300,000: a few days of a small platform). Two
 * schemas, rounds alternating: as shipped, and the same without the account index, the floor a
 * durable event with no per-account read path would have. Process CPU per event (all threads).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { LookupEvent } from '../src/abuse/events.js';
import { EventPipeline } from '../src/abuse/pipeline.js';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PREFILL = Number(process.env.BENCH_PREFILL ?? 300_000);
const MEASURED = 60_000;
const BATCH = 60;
const ACCOUNTS = Number(process.env.BENCH_CALLERS ?? 100_000);

let seq = 0;
let seed = 11;
const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
function event(at: number): LookupEvent {
  const account = `acct-${String(Math.floor(rand() * ACCOUNTS)).padStart(6, '0')}`;
  return {
    v: 1,
    id: `ev${at.toString(36)}${(seq++).toString(36).padStart(10, '0')}`,
    at,
    accountId: account,
    deviceId: `dev-${account}`,
    ip: '100.64.12.34',
    subnet: '100.64.12.0/24',
    asn: 64_500,
    country: 'DE',
    network: 'other',
    tier: 'standard',
    operation: 'lookup',
    outcome: 'allowed',
    kind: 'phone',
    numbers: 1,
    newNumbers: 1,
    matched: 1,
    revealed: [`acct-${String(Math.floor(rand() * ACCOUNTS)).padStart(6, '0')}`],
    blocks: { '+4915123456': 1 },
    accountCreatedAt: Date.UTC(2025, 0, 1),
    phoneRegion: 'DE',
  };
}

async function store(pipeline: EventPipeline, events: LookupEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += BATCH) await pipeline.process(events.slice(i, i + BATCH));
}

async function open(withAccountIndex: boolean): Promise<{ db: Db; dir: string; pipeline: EventPipeline; at: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-event-store-'));
  const db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
  await migrateToLatest(db.kysely);
  if (!withAccountIndex) await sql`DROP INDEX events.lookup_events_account_at`.execute(db.kysely);
  const pipeline = new EventPipeline(db);
  let at = Date.UTC(2026, 11, 1);
  for (let n = 0; n < PREFILL; n += 1000) await store(pipeline, Array.from({ length: 1000 }, () => event(at++)));
  return { db, dir, pipeline, at };
}

const shapes = [
  { name: 'as shipped (account index)', withAccountIndex: true },
  { name: 'without the account index', withAccountIndex: false },
];
const opened = [];
for (const s of shapes) opened.push(await open(s.withAccountIndex));
const results: number[][] = shapes.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, o] of opened.entries()) {
    const events = Array.from({ length: MEASURED }, () => event(o.at++));
    const before = process.cpuUsage();
    await store(o.pipeline, events);
    const used = process.cpuUsage(before);
    results[i]!.push((used.user + used.system) / MEASURED);
  }
}
for (const o of opened) {
  await o.db.close();
  rmSync(o.dir, { recursive: true, force: true });
}
console.log(`lookup events stored on SQLite, ${BATCH} a transaction, callers over ${ACCOUNTS.toLocaleString('en')} accounts, ${PREFILL.toLocaleString('en')} events before, ${ROUNDS} rounds of ${MEASURED.toLocaleString('en')}`);
console.log('| schema | CPU per event, each round | best |');
console.log('|---|---|---:|');
for (const [i, s] of shapes.entries()) console.log(`| ${s.name} | ${results[i]!.map((r) => `${r.toFixed(1)} µs`).join(', ')} | ${Math.min(...results[i]!).toFixed(1)} µs |`);

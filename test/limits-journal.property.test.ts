import fc from 'fast-check';
import { sql } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import { createLogger } from '../src/logger.js';
import { LimitStatePersistence, type SavedEntry } from '../src/limits/memory-persistence.js';
import { MemoryLimitStore } from '../src/limits/memory-store.js';
import type { ApplyInput } from '../src/limits/store.js';
import { createTestDatabase, postgresAvailable } from './helpers/postgres.js';

/**
 * The embedded limits' journal (limits/memory-persistence.ts): on SQLite a save is a journal row,
 * folded into the entries' rows when the store says so (with its values in memory then, which may
 * be newer than their last save) and at every load. Over random sequences of saves (on the raw
 * handle, or through Kysely while a directory write holds the connection), changes not saved yet,
 * folds, restarts (a new process, with or without the raw handle) and time passing, what a restart
 * reads back is, for every key, what was last saved or folded and has not expired: a fold never
 * loses a save, never puts an older value over a newer one, and never brings a removed key back.
 * The journal stays bounded by the fold's threshold.
 */
const KEYS = ['b:acct:a', 'b:acct:b', 'b:ip:1', 'r:global', 's:strike:a', 'o:proof:1'];

type Change = { entries: Array<{ key: string; tokens: number; ttl: number }>; removed: string[] };
type Op =
  | ({ kind: 'save'; inTransaction: boolean } & Change)
  | ({ kind: 'unsaved' } & Change)
  | { kind: 'restart'; raw: boolean }
  | { kind: 'time'; ms: number };

const change = {
  entries: fc.uniqueArray(fc.record({ key: fc.constantFrom(...KEYS), tokens: fc.integer({ min: 0, max: 99 }), ttl: fc.integer({ min: 1, max: 50 }) }), { selector: (e) => e.key, maxLength: 4 }),
  removed: fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 2 }),
};
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('save' as const), inTransaction: fc.boolean(), ...change }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unsaved' as const), ...change }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), raw: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 30 }) }) },
);

describe('the limits journal on SQLite', () => {
  let dir: string;
  let db: Db;
  const logger = createLogger('silent');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-limits-journal-'));
    db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
    await migrateToLatest(db.kysely);
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A save made while a directory write holds the connection in a Kysely transaction across awaits. */
  async function saveInTransaction(p: LimitStatePersistence, entries: SavedEntry[], removed: string[]): Promise<void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const trx = db.kysely.transaction().execute(async (t) => {
      await t.selectFrom('accounts').select('id').limit(1).execute();
      entered();
      await held;
    });
    await inside;
    expect(db.sqlite!.inTransaction).toBe(true);
    const saved = p.save(entries, removed);
    release();
    await trx;
    await saved;
  }

  it('a restart reads back, for every key, what was last saved or folded and has not expired', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5 }), async (ops, foldRows) => {
        await db.kysely.deleteFrom('limit_state').execute();
        let now = 1_000;
        // `memory` is the store's maps; `durable` what a restart must read back.
        const memory = new Map<string, SavedEntry>();
        const durable = new Map<string, SavedEntry>();
        const unfolded = new Set<string>();
        let p = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: foldRows });
        expect(await p.load(now)).toEqual([]);
        const byKey = (a: SavedEntry, b: SavedEntry) => (a.key < b.key ? -1 : 1);
        const expected = () => [...durable.values()].filter((e) => e.expiresAt > now).sort(byKey);
        const applyTo = (m: Map<string, SavedEntry>, entries: readonly SavedEntry[], removed: readonly string[]) => {
          for (const e of entries) m.set(e.key, e);
          for (const k of removed) m.delete(k);
        };
        const changed = (o: Change) => ({
          entries: o.entries.map((e) => ({ key: e.key, state: JSON.stringify({ tokens: e.tokens, ts: now }), expiresAt: now + e.ttl })),
          removed: o.removed.filter((k) => !o.entries.some((e) => e.key === k)),
        });
        for (const o of ops) {
          if (o.kind === 'time') now += o.ms;
          else if (o.kind === 'unsaved') {
            const { entries, removed } = changed(o);
            applyTo(memory, entries, removed);
          } else if (o.kind === 'restart') {
            p = new LimitStatePersistence(db.kysely, logger, o.raw ? db.sqlite : undefined, { rows: foldRows });
            const loaded = (await p.load(now)).sort(byKey);
            expect(loaded).toEqual(expected());
            // A load folds the whole journal: the rows are the entries' own. The process starts from them.
            const keys = (await db.kysely.selectFrom('limit_state').select('key').execute()).map((r) => r.key);
            expect(keys.filter((k) => k.startsWith('~'))).toEqual([]);
            memory.clear();
            applyTo(memory, loaded, []);
            unfolded.clear();
          } else {
            const { entries, removed } = changed(o);
            applyTo(memory, entries, removed);
            if (o.inTransaction) await saveInTransaction(p, entries, removed);
            else await p.save(entries, removed);
            applyTo(durable, entries, removed);
            for (const k of [...entries.map((e) => e.key), ...removed]) unfolded.add(k);
            // What the store does after a save (memory-store.ts foldIfDue): its present values.
            if (p.foldDue(unfolded.size)) {
              const values = [...unfolded].filter((k) => memory.has(k)).map((k) => memory.get(k)!);
              const gone = [...unfolded].filter((k) => !memory.has(k));
              if (p.fold(values, gone)) {
                applyTo(durable, values, gone);
                unfolded.clear();
              }
            }
            const journal = await db.kysely.selectFrom('limit_state').select('key').where('key', '>=', '~').execute();
            // A fold waits while Kysely holds the connection; the next save's does it.
            expect(journal.length).toBeLessThanOrEqual(foldRows + ops.filter((x) => x.kind === 'save' && x.inTransaction).length);
          }
        }
        const last = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: foldRows });
        expect((await last.load(now)).sort(byKey)).toEqual(expected());
      }),
      { numRuns: 300 },
    );
  }, 300_000);

  it('folds: the journal rows go and the entries hold the values given, each written once', async () => {
    await db.kysely.deleteFrom('limit_state').execute();
    const p = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: 3 });
    await p.load(0);
    const e = (key: string, tokens: number) => ({ key, state: JSON.stringify({ tokens }), expiresAt: 99 });
    await p.save([e('b:x', 1), e('b:y', 1)], []);
    await p.save([e('b:x', 2)], ['b:y']);
    const rows = () => db.kysely.selectFrom('limit_state').select(['key', 'state']).orderBy('key').execute();
    expect((await rows()).map((r) => r.key)).toEqual(['~j:0000000000000000', '~j:0000000000000001']);
    expect(p.foldDue(2)).toBe(false);
    await p.save([e('b:z', 5)], []);
    expect(p.foldDue(3)).toBe(true);
    expect(p.fold([e('b:x', 2), e('b:z', 6)], ['b:y'])).toBe(true);
    expect(await rows()).toEqual([
      { key: 'b:x', state: '{"tokens":2}' },
      { key: 'b:z', state: '{"tokens":6}' },
    ]);
    expect(p.foldDue(0)).toBe(false);
  });

  it('the store folds as it saves, and a restart reads its buckets back', async () => {
    await db.kysely.deleteFrom('limit_state').execute();
    const persistence = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: 2 });
    const store = new MemoryLimitStore({ persistence });
    await store.restore(0);
    const HOUR = 3_600_000;
    const input = (key: string, cost: number): ApplyInput => ({
      charges: [{ layer: 'account-new', scope: 'account', key, cost, burst: 10, rate: 10 / HOUR, perMs: HOUR, shadow: false }],
      proof: false,
      strikeKey: `strike:${key}`,
      strikeWindowMs: HOUR,
      now: 0,
    });
    for (let i = 0; i < 7; i++) expect((await store.apply(input(`k${i % 3}`, 1))).outcome).toBe('allowed');
    // Seven saves, folded every two: one journal row left, the rest in the entries' rows.
    const keys = (await db.kysely.selectFrom('limit_state').select('key').orderBy('key').execute()).map((r) => r.key);
    expect(keys.filter((k) => k.startsWith('~'))).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith('b:'))).toEqual(['b:k0', 'b:k1', 'b:k2']);
    // Stopped cleanly, it leaves no journal (an earlier release started next reads entries alone).
    await store.close();
    expect((await db.kysely.selectFrom('limit_state').select('key').where('key', '>=', '~').execute()).length).toBe(0);
    const restarted = new MemoryLimitStore({ persistence: new LimitStatePersistence(db.kysely, logger, db.sqlite) });
    await restarted.restore(0);
    // k0 was charged 3 of its 10: 7 more pass, the eighth does not.
    for (let i = 0; i < 7; i++) expect((await restarted.apply(input('k0', 1))).outcome).toBe('allowed');
    expect((await restarted.apply(input('k0', 1))).outcome).toBe('refused');
  });
});

const pgUp = await postgresAvailable();
if (!pgUp && process.env.FINDGUARD_REQUIRE_SERVICES === '1') throw new Error('FINDGUARD_REQUIRE_SERVICES=1 but PostgreSQL is not reachable');
(pgUp ? describe : describe.skip)('limit_state without its index on expires_at [postgres]', () => {
  it('the migration drops it, and undone makes it again', async () => {
    const pg = await createTestDatabase();
    const pdb = openDb({ dialect: 'postgres', url: pg.url });
    try {
      await migrateToLatest(pdb.kysely);
      const indexes = async () => (await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE tablename = 'limit_state' ORDER BY indexname`.execute(pdb.kysely)).rows.map((r) => r.indexname);
      expect(await indexes()).toEqual(['limit_state_pkey']);
      const loose = pdb.kysely as never;
      await migrations['20270106000000-limit-state-expiry-index']!.down!(loose);
      expect(await indexes()).toEqual(['limit_state_expires', 'limit_state_pkey']);
      await migrations['20270106000000-limit-state-expiry-index']!.up(loose);
      expect(await indexes()).toEqual(['limit_state_pkey']);
      // Saves on PostgreSQL upsert each entry; a load still drops the expired ones.
      const p = new LimitStatePersistence(pdb.kysely, createLogger('silent'));
      await p.save([{ key: 'b:old', state: '{}', expiresAt: 5 }, { key: 'b:new', state: '{}', expiresAt: 50 }], []);
      expect(await p.load(10)).toEqual([{ key: 'b:new', state: '{}', expiresAt: 50 }]);
      expect((await pdb.kysely.selectFrom('limit_state').select('key').execute()).map((r) => r.key)).toEqual(['b:new']);
    } finally {
      await pdb.close();
      await pg.drop();
    }
  });
});

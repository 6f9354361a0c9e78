import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { LimitStatePersistence, type SavedEntry } from '../src/limits/memory-persistence.js';

/**
 * The embedded limits' journal (limits/memory-persistence.ts): on SQLite a save is a journal row,
 * folded into the entries' rows every few rows and at every load. Over random sequences of saves
 * (on the raw handle, or through Kysely while a directory write holds the connection), restarts
 * (a new process, with or without the raw handle) and time passing, what a restart reads back is
 * always what was saved last for each key and has not expired: a fold never loses a save, never
 * puts an older value over a newer one, and never brings a removed key back. The journal stays
 * bounded: never more rows than the fold's threshold.
 */
const KEYS = ['b:acct:a', 'b:acct:b', 'b:ip:1', 'r:global', 's:strike:a', 'o:proof:1'];

type Op =
  | { kind: 'save'; entries: Array<{ key: string; tokens: number; ttl: number }>; removed: string[]; inTransaction: boolean }
  | { kind: 'restart'; raw: boolean }
  | { kind: 'time'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('save' as const),
      entries: fc.uniqueArray(fc.record({ key: fc.constantFrom(...KEYS), tokens: fc.integer({ min: 0, max: 99 }), ttl: fc.integer({ min: 1, max: 50 }) }), { selector: (e) => e.key, maxLength: 4 }),
      removed: fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 2 }),
      inTransaction: fc.boolean(),
    }),
  },
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

  it('a restart reads back the last save of every key not expired, whatever the folds did', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5 }), async (ops, foldRows) => {
        await db.kysely.deleteFrom('limit_state').execute();
        let now = 1_000;
        const model = new Map<string, SavedEntry>();
        let p = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: foldRows });
        expect(await p.load(now)).toEqual([]);
        const expected = () => [...model.values()].filter((e) => e.expiresAt > now).sort((a, b) => (a.key < b.key ? -1 : 1));
        for (const o of ops) {
          if (o.kind === 'time') now += o.ms;
          else if (o.kind === 'restart') {
            p = new LimitStatePersistence(db.kysely, logger, o.raw ? db.sqlite : undefined, { rows: foldRows });
            const loaded = (await p.load(now)).sort((a, b) => (a.key < b.key ? -1 : 1));
            expect(loaded).toEqual(expected());
            // A load folds the whole journal: the rows are the entries' own.
            const keys = (await db.kysely.selectFrom('limit_state').select('key').execute()).map((r) => r.key);
            expect(keys.filter((k) => k.startsWith('~'))).toEqual([]);
          } else {
            const removed = o.removed.filter((k) => !o.entries.some((e) => e.key === k));
            const entries = o.entries.map((e) => ({ key: e.key, state: JSON.stringify({ tokens: e.tokens, ts: now }), expiresAt: now + e.ttl }));
            if (o.inTransaction) await saveInTransaction(p, entries, removed);
            else await p.save(entries, removed);
            for (const e of entries) model.set(e.key, e);
            for (const k of removed) model.delete(k);
            const journal = await db.kysely.selectFrom('limit_state').select('key').where('key', '>=', '~').execute();
            // Rows saved through Kysely are folded with the next raw save that reaches the threshold.
            expect(journal.length).toBeLessThanOrEqual(foldRows + ops.filter((x) => x.kind === 'save' && x.inTransaction).length);
          }
        }
        const last = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: foldRows });
        expect((await last.load(now)).sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual(expected());
      }),
      { numRuns: 300 },
    );
  }, 300_000);

  it('folds: the journal rows go and the entries hold the latest values, each written once', async () => {
    await db.kysely.deleteFrom('limit_state').execute();
    const p = new LimitStatePersistence(db.kysely, logger, db.sqlite, { rows: 3 });
    await p.load(0);
    const e = (key: string, tokens: number) => ({ key, state: JSON.stringify({ tokens }), expiresAt: 99 });
    await p.save([e('b:x', 1), e('b:y', 1)], []);
    await p.save([e('b:x', 2)], ['b:y']);
    const rows = () => db.kysely.selectFrom('limit_state').select(['key', 'state']).orderBy('key').execute();
    expect((await rows()).map((r) => r.key)).toEqual(['~j:0000000000000000', '~j:0000000000000001']);
    await p.save([e('b:z', 5)], []);
    expect(await rows()).toEqual([
      { key: 'b:x', state: '{"tokens":2}' },
      { key: 'b:z', state: '{"tokens":5}' },
    ]);
  });
});

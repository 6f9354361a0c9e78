import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { LimitStatePersistence } from '../../src/limits/memory-persistence.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import type { ApplyInput } from '../../src/limits/store.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';

/**
 * Review of 962e5b6 (memory-store.ts `unfolded`). Every successful save adds its keys to the
 * store's `unfolded` set, which only a fold that returns true (or reload's dropUnsaved) emptied.
 * LimitStatePersistence folds only on SQLite's raw handle: on PostgreSQL (an embedded-limits node
 * on FINDGUARD_DATABASE_URL without Redis, context.ts) `fold` always returns false, so the set
 * held every key ever saved (each account, device, address, subnet, strike key and used
 * proof-of-work id) for the life of the process, after the entries themselves expired and were
 * swept: an unbounded leak, proportional to all callers ever seen, on a store whose doc says
 * "memory follows active callers, not all callers ever seen". Now only a journaling saver's keys are kept.
 */
const pgUp = await postgresAvailable();
const HOUR = 3_600_000;
const input = (key: string, now: number): ApplyInput => ({
  charges: [{ layer: 'account-new', scope: 'account', key, cost: 1, burst: 10, rate: 10 / HOUR, perMs: HOUR, shadow: false }],
  proof: false,
  strikeKey: `strike:${key}`,
  strikeWindowMs: HOUR,
  now,
});
const held = (s: MemoryLimitStore) => {
  const u = (s as unknown as { unfolded: Record<'b' | 'r' | 's' | 'o', Set<string>> }).unfolded;
  return u.b.size + u.r.size + u.s.size + u.o.size;
};

if (!pgUp && process.env.FINDGUARD_REQUIRE_SERVICES === '1') throw new Error('FINDGUARD_REQUIRE_SERVICES=1 but PostgreSQL is not reachable');
(pgUp ? describe : describe.skip)('review: the store\'s unfolded keys on PostgreSQL [postgres]', () => {
  let drop: () => Promise<void>;
  let db: Db;
  beforeAll(async () => {
    const pg = await createTestDatabase('fg_lj_unfolded');
    drop = () => pg.drop();
    db = openDb({ dialect: 'postgres', url: pg.url });
    await migrateToLatest(db.kysely);
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('memory follows active callers: keys whose entries expired are not held forever', async () => {
    const store = new MemoryLimitStore({ persistence: new LimitStatePersistence(db.kysely, createLogger('silent')) });
    await store.restore(0);
    // 3,000 callers, one charge each, an hour apart in three waves.
    for (let wave = 0; wave < 3; wave++) {
      const now = wave * 10 * HOUR;
      await Promise.all(Array.from({ length: 1000 }, (_, i) => store.apply(input(`acct-${wave}-${i}`, now))));
    }
    // Every bucket has long refilled and expired: the store sweeps them.
    store.sweep(100 * HOUR);
    expect(store.size).toBe(0);
    // Before the fix: 3,000 key strings still held in `unfolded` (and growing with every new caller).
    expect(held(store)).toBe(0);
    await store.close();
  }, 60_000);
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/dialect.js';
import { DecisionCache, databaseSource } from '../src/incidents/decision-cache.js';
import { Enforcer } from '../src/incidents/enforcer.js';
import { createLogger } from '../src/logger.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';
import { insertAccounts, openTestDb } from './helpers/console.js';
import { describeEachDialect, T0 } from './helpers/service.js';

/**
 * A node's incremental read follows what the database committed (decisions.change_seq and a
 * mark taken before each read), not the writer's wall-clock stamp: a decision or a lift stamped
 * an hour behind the reader's clock (a writer that read its clock, then waited on locks; or a
 * clock behind) still reaches it on its next read. With changed_at as the cursor (before
 * migration 20261224000000) neither did, on either database.
 */

const HOUR = 3_600_000;

describeEachDialect('decisions read by commit, not by stamp', (dialect) => {
  let handle: { db: Db; close(): Promise<void> };
  let cache: DecisionCache;
  let enforcer: Enforcer;
  beforeAll(async () => {
    handle = await openTestDb(dialect);
    await insertAccounts(handle.db.kysely, ['late-1', 'late-2'], T0 - 100 * 24 * HOUR);
    // The reader: no timer reads (refreshed by hand), no full reads during the test.
    cache = new DecisionCache({ source: databaseSource(handle.db.kysely), clock: new ManualClock(T0), logger: createLogger('silent'), pollMs: 3_600_000, fullReadMs: 3_600_000 });
    await cache.start();
    // The writer, in another process as far as the cache knows (it is not told), stamping an hour behind.
    enforcer = new Enforcer({ db: handle.db.kysely, directory: { setFindguardStatusIn: async () => true, changed: () => undefined }, clock: new ManualClock(T0 - HOUR), random: new SeededRandom(3) });
  });
  afterAll(async () => {
    await cache?.close();
    await handle?.close();
  });

  it('a decision stamped an hour behind the reader reaches it on its next read, and so does its lift', async () => {
    await cache.refresh();
    await enforcer.throttle(['late-1'], T0 + HOUR, { actor: 'engine', evidence: {}, reason: 'enumeration' });
    await enforcer.suspend(['late-2'], { actor: 'engine', evidence: {}, reason: 'farm' });
    await cache.refresh();
    expect(cache.standing('late-1', { createdAt: 0 }, T0)?.action).toBe('throttle');
    expect(cache.standing('late-2', { createdAt: 0 }, T0)?.action).toBe('suspend');
    await enforcer.reinstate('late-2', { actor: 'alice', reason: 'appeal upheld' });
    await cache.refresh();
    expect(cache.standing('late-2', { createdAt: 0 }, T0)).toBeUndefined();
    // Nothing new: a read brings nothing back.
    await cache.refresh();
    expect(cache.standing('late-2', { createdAt: 0 }, T0)).toBeUndefined();
    expect(cache.standing('late-1', { createdAt: 0 }, T0)?.action).toBe('throttle');
  });
});

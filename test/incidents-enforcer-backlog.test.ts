import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/dialect.js';
import { decisionsFor } from '../src/incidents/decisions.js';
import { Enforcer } from '../src/incidents/enforcer.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';
import { insertAccounts, openTestDb } from './helpers/console.js';
import { describeEachDialect, T0 } from './helpers/service.js';

/**
 * A throttle or challenge decided on a backlog (the caller's decidedAt, event time, hours behind
 * the enforcer's clock) runs its full length from the enforcer's clock: before, it was cut short
 * by the lag, and one whose length had passed in event time was recorded as unchanged.
 */

const HOUR = 3_600_000;

describeEachDialect('restrictions decided on a backlog', (dialect) => {
  let handle: { db: Db; close(): Promise<void> };
  let enforcer: Enforcer;
  beforeAll(async () => {
    handle = await openTestDb(dialect);
    await insertAccounts(handle.db.kysely, ['lagged-1', 'lagged-2', 'current', 'plain'], T0 - 100 * 24 * HOUR);
    enforcer = new Enforcer({ db: handle.db.kysely, directory: { setFindguardStatusIn: async () => true, changed: () => undefined }, clock: new ManualClock(T0), random: new SeededRandom(5) });
  });
  afterAll(async () => handle?.close());

  const expiry = async (id: string) => (await decisionsFor(handle.db.kysely, 'account', id)).map((d) => [d.action, d.expiresAt]);
  const engine = (decidedAt?: number) => ({ actor: 'engine', evidence: {}, reason: 'enumeration', ...(decidedAt !== undefined ? { decidedAt } : {}) });

  it('a 6 h throttle decided 7 h ago in event time stands 6 h from now; a 24 h challenge decided 2 h ago, 24 h from now', async () => {
    expect((await enforcer.throttle(['lagged-1'], T0 - HOUR, engine(T0 - 7 * HOUR))).recorded).toEqual(['lagged-1']);
    expect(await expiry('lagged-1')).toEqual([['throttle', T0 + 6 * HOUR]]);
    expect((await enforcer.challenge(['lagged-2'], T0 + 22 * HOUR, engine(T0 - 2 * HOUR))).recorded).toEqual(['lagged-2']);
    expect(await expiry('lagged-2')).toEqual([['challenge', T0 + 24 * HOUR]]);
    const [action] = await enforcer.actionsFor('lagged-2');
    expect(action?.expiresAt).toBe(T0 + 24 * HOUR);
  });

  it('a caller on time, or ahead, keeps what it asked; without decidedAt an until already past changes nothing', async () => {
    await enforcer.throttle(['current'], T0 + 6 * HOUR + 5000, engine(T0 + 5000));
    expect(await expiry('current')).toEqual([['throttle', T0 + 6 * HOUR + 5000]]);
    expect((await enforcer.throttle(['plain'], T0 - HOUR, engine())).unchanged).toEqual(['plain']);
    expect(await expiry('plain')).toEqual([]);
  });
});

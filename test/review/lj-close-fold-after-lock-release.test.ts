import { rmSync } from 'node:fs';
import { expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { startTestService, T0 } from '../helpers/service.js';

/**
 * Review of the limits journal (8b86817, 962e5b6, 660b6b3) on SQLite. A stopping node released its
 * single-node lock first (context.ts close: nodeLock.release(), then ownedStore.close()), and only
 * then did its store's close() save and fold the journal. A second process on the same data folder
 * (a deploy's overlap, a unit restarted) could take the lock in that gap: its load folded the
 * journal, its numbers started again at 0, and it answered callers whose charges lived in its rows
 * ~j:0, ~j:1, ... The first node's fold then deleted every journal row up to ITS last number: the
 * second node's with them. If the second node then crashed before its own next fold, a third start
 * handed the budget out again. Now the store closes before the lock goes.
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'lj-close-fold',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 0, per: '1d' } } }],
  });
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+49151${String(40_000_000 + from + i).padStart(8, '0')}`);

it('a charge answered by the node that took the lock during the other node\'s close survives that close and a crash', async () => {
  const a = await startTestService('sqlite', {}, { policy: policy() });
  let b: Service | undefined;
  let c: Service | undefined;
  try {
    await mirrorAccount(a, 'dave', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    await mirrorAccount(a, 'erin', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    const call = async (svc: Service, who: string, contacts: string[]) =>
      svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${await a.tokenFor(who)}` }, payload: { contacts } });
    // Node A answers erin a few times: journal rows ~j:0 .. ~j:3 (or more), not folded yet.
    for (let i = 0; i < 4; i++) expect((await call(a, 'erin', numbers(i, 1))).statusCode).toBe(200);

    const storeA = a.ctx.limitStore as MemoryLimitStore;
    const saveA = storeA.save.bind(storeA);
    let triedDuringSave = false;
    const journal = async () =>
      (await b!.ctx.db.kysely.selectFrom('limit_state').select('key').where('key', '>=', '~j:').orderBy('key').execute()).map((r) => r.key);
    storeA.save = async () => {
      // A's close is about to save and fold: the lock must still be A's, so B cannot start here.
      triedDuringSave = true;
      await expect(createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(44), logger: createLogger('silent'), policy: policy() })).rejects.toThrow(/lock|another/i);
      return saveA();
    };
    await a.close();
    expect(triedDuringSave).toBe(true);
    // A stopped cleanly: no journal left. B starts and answers dave's whole day (10 numbers); the next is refused.
    b = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(45), logger: createLogger('silent'), policy: policy() });
    expect(await journal()).toEqual([]);
    expect((await call(b, 'dave', numbers(100, 10))).statusCode).toBe(200);
    expect((await call(b, 'dave', numbers(200, 1))).statusCode).toBe(429);
    // Answered: saved in B's journal, not folded yet.
    expect((await journal()).length).toBeGreaterThan(0);

    // B crashes (its lock ends with it; its store saves and folds nothing more).
    const storeB = b!.ctx.limitStore as MemoryLimitStore;
    storeB.save = async () => undefined;
    await b!.ctx.dropNodeLockAsCrash();

    // A third start on the same folder: dave spent his day on B, every call of it answered.
    c = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(46), logger: createLogger('silent'), policy: policy() });
    const after = await call(c, 'dave', numbers(300, 10));
    // 200 when A's close had released the lock before its save and fold: B started in that gap, and
    // A's fold deleted B's journal rows (`~j:` up to A's own last number) with its own.
    expect(after.statusCode).toBe(429);
  } finally {
    await c?.close();
    await b?.close().catch(() => undefined);
    rmSync(a.dataDir, { recursive: true, force: true });
  }
}, 60_000);

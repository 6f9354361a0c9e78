import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found when a property test ran PostgreSQL out of connections: it kept every "crashed" node open to
 * the end, as closing one while its successor served was unsafe. A node whose single-node lock was
 * released still said it held it (node-lock.ts answered `held` after release), so closing it later
 * saved and folded its memory into the limits state: its older view of a bucket over the one the
 * node after it had charged and saved. The next node read that view back and answered the caller's
 * spent budget again. A released lock now says so, and a node that does not hold the lock writes
 * no limits state (memory-store.ts, sole).
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'closed-late',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 10, per: '1d' } } }],
  });
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+49151${String(41_000_000 + from + i).padStart(8, '0')}`);

describeEachDialect('a crashed node closed after the next one served', (dialect) => {
  let first: TestService | undefined;
  const others: Service[] = [];
  afterEach(async () => {
    for (const s of others.splice(0)) await s.close();
    await first?.stop();
    first = undefined;
  });

  it('writes nothing over the charges its successor saved', async () => {
    const a = (first = await startTestService(dialect, {}, { policy: policy() }));
    await mirrorAccount(a, 'fay', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    const next = async (seed: number) => {
      const s = await createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(seed), logger: createLogger('silent'), policy: policy() });
      others.push(s);
      return s;
    };
    const call = async (svc: Service, contacts: string[]) =>
      svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${await a.tokenFor('fay')}` }, payload: { contacts } });
    // Half the day's budget on the first node, which then crashes (its lock goes, nothing closes).
    expect((await call(a, numbers(0, 5))).statusCode).toBe(200);
    expect(a.ctx.singleNodeLock()).toBe('held');
    await a.ctx.dropNodeLockAsCrash();
    expect(a.ctx.singleNodeLock()).toBe('released');
    // The next node spends the other half and stops cleanly.
    const b = await next(46);
    expect((await call(b, numbers(5, 5))).statusCode).toBe(200);
    await b.close();
    // Now the crashed one is closed: before the fix its fold wrote "5 left" over b's "0 left".
    await a.ctx.close();
    const c = await next(47);
    const after = await call(c, numbers(10, 5));
    expect(after.statusCode, after.body).toBe(429);
  });
});

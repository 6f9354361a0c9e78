import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../src/main.js';
import { DAY, HOME_IP, member, range, stranger } from './helpers/answers-rule.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { postgresAvailable } from './helpers/postgres.js';
import { redisAvailable } from './helpers/redis.js';
import { startAnswersRuleNodes } from './helpers/answers-rule-nodes.js';
import type { TestService } from './helpers/service.js';

/**
 * Scaled out: the answer pool (src/abuse/answer-pool.ts) is one per account, in the database, not
 * one per serving node. A list's book answered through one node and its next batch sent through
 * the other is refused; batches sent through both at once are judged one after the other, so at
 * most one is answered when the two together are over the bars. Two nodes in this process on one PostgreSQL database and one Redis.
 */
const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);
const skip = (!pgUp || !redisUp) && !requireServices;
if (skip) console.warn(`\n*** answer-pool-multinode needs PostgreSQL and Redis: SKIPPED (CI runs it) ***\n`);

(skip ? describe.skip : describe)('one answer pool per account across two nodes', () => {
  let a: TestService;
  let b: Service;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, close } = await startAnswersRuleNodes('answer-pool-multinode', 44));
  });
  afterAll(async () => close?.());

  const syncAs = async (svc: Service, account: string, contacts: string[]) => {
    a.clock.advance(1000);
    return svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/sync',
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${await a.tokenFor(account)}`, 'x-forwarded-for': HOME_IP },
      payload: { contacts },
    });
  };
  const agedAccount = (id: string) => mirrorAccount(a, id, [], { createdAt: new Date(a.clock.now() - 3 * 365 * DAY).toISOString(), phoneRegion: 'GB' });
  /** A batch of 20 numbers, 12 of them registered, the k-th of a list. */
  const batch = (k: number) => [...range(12, member, 12 * k), ...range(8, stranger, 8 * k)];

  it("a book answered through one node: the next batch is refused through the other", async () => {
    await agedAccount('dripper');
    expect((await syncAs(a, 'dripper', batch(0))).statusCode).toBe(200);
    const other = await syncAs(b, 'dripper', batch(1));
    expect(other.statusCode).toBe(429);
    expect(other.json().matches).toBeUndefined();
  });

  it('two batches after the book sent through both nodes at once, either one alone within the bars: one answered, one refused', async () => {
    await agedAccount('racer');
    // 40 numbers, 10 on the app; then 20 with 9 on it: the book and one such batch pool at z 3.2, with both at 4.5.
    expect((await syncAs(a, 'racer', [...range(10, member, 40), ...range(30, stranger, 40)])).statusCode).toBe(200);
    const both = await Promise.all([syncAs(a, 'racer', [...range(9, member, 50), ...range(11, stranger, 70)]), syncAs(b, 'racer', [...range(9, member, 59), ...range(11, stranger, 81)])]);
    expect(both.map((r) => r.statusCode).sort()).toEqual([200, 429]);
    expect(both.map((r) => r.json().matches?.length ?? 0).sort((x, y) => x - y)).toEqual([0, 9]);
  });
});

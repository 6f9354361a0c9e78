import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { postgresAvailable } from '../helpers/postgres.js';
import { REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/redis.js';
import { startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Regression (review: "limits bypassed by splitting across nodes", "time jumps"): every node runs
 * the Redis check-and-charge with its own clock as `now`, and an allowed charge used to write
 * `ts = now` whatever the bucket's stored ts. A node whose clock is behind moved a bucket's ts back,
 * and the next call on a node whose clock is ahead refilled the same gap again: each alternation of
 * calls between the two nodes minted skew x rate tokens without any time passing (49 numbers here
 * before the fix). With nodes 10 minutes apart (an NTP step, a VM resumed from a pause) an account
 * whose bucket refills 2 numbers per 10 minutes got a number from each node on every round, for
 * ever. A bucket's ts now never moves back (apply.ts, redis-script.ts); the same rules cover one
 * process whose clock steps back (MemoryLimitStore; src/limits/clock-skew.test.ts).
 */
const SKEW_MS = 10 * 60_000;
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'skew',
    tiers: [{ name: 'standard' }],
    // 10 numbers, then 2 per 10 minutes: the skew is worth 2 numbers once, in honest time.
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 288, per: '1d' } } }],
  });

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);

((pgUp && redisUp) || requireServices ? describe : describe.skip)('two nodes whose clocks differ share one budget [postgres+redis]', () => {
  let a: TestService;
  let b: TestService;
  const shared = { redisPrefix: uniquePrefix('review-skew'), policy: policy() };
  beforeAll(async () => {
    a = await startTestService('postgres', { redisUrl: REDIS_URL }, shared);
    b = await startTestService('postgres', { databaseUrl: a.databaseUrl!, redisUrl: REDIS_URL }, shared);
    await mirrorAccount(a, 'mallory', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    // Node b's clock runs SKEW_MS ahead of node a's; neither moves during the test.
    b.clock.set(a.clock.now() + SKEW_MS);
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  let n = 0;
  const fresh = () => `+4915123${String(400_000 + n++).padStart(6, '0')}`;
  async function syncOn(svc: TestService, count: number): Promise<number> {
    const res = await svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/sync',
      headers: { authorization: `Bearer ${await a.tokenFor('mallory', 7200)}` },
      payload: { contacts: Array.from({ length: count }, fresh) },
    });
    return res.statusCode;
  }

  it('alternating calls between the nodes get no more than the burst plus what the skew is worth once', async () => {
    let answered = 0;
    if ((await syncOn(a, 9)) === 200) answered += 9;
    for (let round = 0; round < 20; round++) {
      if ((await syncOn(b, 1)) === 200) answered += 1;
      if ((await syncOn(a, 1)) === 200) answered += 1;
    }
    // Honest time elapsed is at most SKEW_MS: burst 10 plus 2 refilled.
    expect(answered).toBeLessThanOrEqual(12);
  });
});

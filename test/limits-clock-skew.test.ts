import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';
import { MemoryLimitStore } from '../src/limits/memory-store.js';
import { createRedisLimitStore, type RedisLimitStore } from '../src/limits/redis-store.js';
import type { ApplyInput, BreakerCharge, Charge } from '../src/limits/store.js';

/**
 * The Redis script against the rules in apply.ts when callers' clocks disagree (nodes with skewed
 * clocks, a clock stepping back): src/limits/clock-skew.test.ts proves the rules grant nothing for
 * a clock behind the bucket; this proves the Lua port does the same, and keeps such a bucket long
 * enough. test/redis-store.test.ts covers parity with time only moving forward.
 */
const T0 = Date.parse('2026-11-01T12:00:00Z');
const MINUTE = 60_000;
const DAY = 86_400_000;

const prefix = uniquePrefix('limits-clock-skew');
let client: Redis;
let redis: RedisLimitStore;

describeRedis('RedisLimitStore with clocks that disagree', () => {
  beforeAll(() => {
    client = redisClient();
    redis = createRedisLimitStore(REDIS_URL, { prefix });
  });
  afterAll(async () => {
    await redis?.close();
    if (client) {
      await deleteByPrefix(client, prefix);
      await client.quit();
    }
  });

  it('a charge from a clock behind keeps the ts ahead and the key until full by that ts', async () => {
    const skew = 10 * MINUTE;
    const c: Charge = { layer: 'l', scope: 'account', key: 'behind', cost: 9, burst: 10, rate: 2 / (10 * MINUTE), perMs: DAY, shadow: false };
    const at = (cost: number, now: number): ApplyInput => ({ charges: [{ ...c, cost }], proof: false, strikeWindowMs: DAY, now });
    expect((await redis.apply(at(9, T0 + skew))).outcome).toBe('allowed');
    expect((await redis.apply(at(1, T0))).outcome).toBe('allowed');
    expect(Number(await client.hget(`${prefix}behind`, 'ts'))).toBe(T0 + skew);
    // Full 50 minutes after T0 + skew: an hour by the clock that wrote last, plus a second.
    const ttl = await client.pttl(`${prefix}behind`);
    expect(ttl).toBeGreaterThan(skew + 50 * MINUTE);
    expect(ttl).toBeLessThanOrEqual(skew + 50 * MINUTE + 1000);
    expect((await redis.apply(at(1, T0 + skew))).outcome).toBe('refused');
  });

  it('returns exactly what the memory store returns when `now` jumps back and forth', async () => {
    const layer = fc.record({
      burst: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0.5, max: 30, noNaN: true })),
      refillMs: fc.oneof(fc.constant(0), fc.integer({ min: 1000, max: 3_600_000 })),
    });
    const step = fc.record({
      layers: fc.array(fc.nat(2), { minLength: 1, maxLength: 3 }),
      cost: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 8 }), fc.double({ min: 0.1, max: 6, noNaN: true })),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 120_000 })),
      // How far this caller's clock is off: a node behind or ahead, or none.
      jitterMs: fc.oneof(fc.constant(0), fc.integer({ min: -1_800_000, max: 1_800_000 })),
      breaker: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
      proof: fc.boolean(),
    });
    const scenario = fc.record({ layers: fc.array(layer, { minLength: 3, maxLength: 3 }), steps: fc.array(step, { minLength: 1, maxLength: 40 }) });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const runPrefix = `r${run++}:`;
        const memory = new MemoryLimitStore();
        let real = T0;
        for (const [i, st] of sc.steps.entries()) {
          real += st.advanceMs;
          const now = real + st.jitterMs;
          const charges = st.layers.map((j): Charge => {
            const d = sc.layers[j]!;
            const rate = d.refillMs === 0 ? 0 : Math.max(d.burst, 1) / d.refillMs;
            return { layer: `l${j}`, scope: 'account', key: `k${j}`, cost: st.cost, burst: d.burst, rate, perMs: DAY, shadow: false, challengeBelow: 0.3 };
          });
          const breaker: BreakerCharge | undefined =
            st.breaker === undefined
              ? undefined
              : { key: 'g', demand: st.breaker, windowMs: 60_000, alpha: 0.3, initialBaseline: 4, ratio: 2, minimum: 6, holdMs: 90_000, share: 0.5, shadow: false };
          const input: ApplyInput = { charges, breaker, proof: st.proof, strikeKey: 's', strikeWindowMs: 2 * DAY, now };
          const expected = await memory.apply(input);
          const actual = await redis.apply({
            ...input,
            charges: charges.map((c) => ({ ...c, key: runPrefix + c.key })),
            breaker: breaker && { ...breaker, key: runPrefix + breaker.key },
            strikeKey: runPrefix + 's',
          });
          expect(actual, `step ${i}`).toStrictEqual(expected);
        }
      }),
      { numRuns: 100 },
    );
  });
});

import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from '../../test/helpers/redis.js';
import { compilePolicy, type CompiledLayer, type CompiledLimit } from '../policy/index.js';
import type { Limit } from '../policy/schema.js';
import { applyCharges, type BucketState } from './apply.js';
import { chargeOf } from './limiter.js';
import { MemoryLimitStore } from './memory-store.js';
import { createRedisLimitStore, type RedisLimitStore } from './redis-store.js';
import type { ApplyInput, ApplyResult } from './store.js';

/**
 * One layer's key is charged at whichever of its tiers the caller falls into (the tier follows the
 * caller's network), and a bucket the store no longer holds reads as full at the tier that reads
 * it. Property: for random tiers (bursts, refills, a tier that never refills, one the layer does
 * not limit), random calls at random tiers and random clock advances, the store never reads more
 * tokens than a bucket that is never forgotten would hold (the oracle: the same rules, applyCharges,
 * over state that never expires). Each step first probes with a cost just above what the oracle
 * holds, which must be refused (a refusal charges nothing), then makes the call, which must be
 * answered as the oracle answers it.
 */

const T0 = Date.parse('2026-11-01T12:00:00Z');
const DAY = 86_400_000;
/** A cost this far above what the oracle holds is refused unless the store read more (the rules' epsilon is 1e-9). */
const PROBE = 1e-6;
/** The stores keep a bucket whose layer never refills for a year (apply.ts): runs stay inside that. */
const HORIZON = 300 * DAY;

const limitDef: fc.Arbitrary<Limit | null> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ burst: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 10_000 })), refill: fc.integer({ min: 1, max: 5000 }), per: fc.constantFrom('1s', '1m', '1h', '1d', '7d') }) },
  { weight: 1, arbitrary: fc.record({ burst: fc.integer({ min: 0, max: 50 }), refill: fc.constant(0), per: fc.constant('1d') }) },
  { weight: 1, arbitrary: fc.constant(null) },
);
const step = fc.record({
  tier: fc.nat(3),
  /** A share of the tier's burst (above 1: more than it can ever hold), whole or not. */
  share: fc.oneof(fc.double({ min: 0.001, max: 0.1, noNaN: true }), fc.double({ min: 0.001, max: 1.2, noNaN: true })),
  whole: fc.boolean(),
  advanceMs: fc.oneof(
    fc.constant(0),
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 5000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 3_600_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: DAY }) },
    fc.integer({ min: 0, max: 20 * DAY }),
  ),
});
const scenario = fc.record({ limits: fc.array(limitDef, { minLength: 2, maxLength: 4 }), steps: fc.array(step, { minLength: 1, maxLength: 30 }) });
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function layerOf(limits: ReadonlyArray<Limit | null>): { layer: CompiledLayer; tiers: string[] } {
  const tiers = limits.map((_, i) => `t${i}`);
  const policy = compilePolicy({
    name: 'keep',
    // Conditions only so the policy compiles: the test picks each call's tier itself.
    tiers: tiers.map((name, i) => (i < tiers.length - 1 ? { name, when: { network: ['tor' as const] } } : { name })),
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: Object.fromEntries(limits.map((l, i) => [`t${i}`, l])) }],
  });
  return { layer: policy.layers[0]!, tiers };
}

/** The bucket as it would be if no store ever forgot it. */
class Oracle {
  private state: BucketState | undefined;

  tokens(limit: CompiledLimit, now: number): number {
    const s = this.state;
    return s ? Math.min(limit.burst, s.tokens + Math.max(0, now - s.ts) * limit.rate) : limit.burst;
  }

  apply(input: ApplyInput): ApplyResult {
    return applyCharges(
      input,
      { bucket: () => this.state, breaker: () => undefined, strikes: () => 0 },
      {
        bucket: (_key, tokens, ts) => {
          this.state = { tokens, ts };
        },
        breaker: () => undefined,
        strike: () => undefined,
      },
    );
  }
}

/** A store under test, with the clock the test moves: `advance` runs before each step's calls. */
interface Subject {
  apply(input: ApplyInput): Promise<ApplyResult>;
  /** Lets the store forget what expired by `now`; true if the bucket is gone. */
  advance(now: number): Promise<boolean>;
}

interface Seen {
  forgotten: number;
  allowed: number;
  refused: number;
  probes: number;
}

async function play(sc: Scenario, subject: Subject, seen: Seen): Promise<void> {
  const { layer, tiers } = layerOf(sc.limits);
  const oracle = new Oracle();
  let now = T0;
  let held = false;
  for (const [i, st] of sc.steps.entries()) {
    now = Math.min(now + st.advanceMs, T0 + HORIZON);
    if ((await subject.advance(now)) && held) {
      seen.forgotten++;
      held = false;
    }
    const limit = layer.limitFor(tiers[st.tier % tiers.length]!);
    if (!limit) continue;
    const input = (cost: number): ApplyInput => ({ charges: [chargeOf(layer, limit, 'acct', cost)], proof: false, strikeWindowMs: DAY, now });
    const holds = oracle.tokens(limit, now);
    if (holds + PROBE <= limit.burst) {
      seen.probes++;
      const probe = await subject.apply(input(holds + PROBE));
      expect(probe.outcome, `step ${i}: the store read more than the ${holds} tokens a kept bucket holds at tier ${st.tier}`).toBe('refused');
    }
    const cost = st.whole ? Math.max(1, Math.round(st.share * limit.burst)) : st.share * Math.max(limit.burst, 1);
    const expected = oracle.apply(input(cost));
    const actual = await subject.apply(input(cost));
    expect(actual.outcome, `step ${i}: cost ${cost} at tier ${st.tier}`).toBe(expected.outcome);
    if (actual.outcome === 'allowed') {
      seen.allowed++;
      held = true;
    } else seen.refused++;
  }
}

/** The generators must reach the case under test: buckets forgotten between calls. */
function reached(seen: Seen): void {
  expect(seen.forgotten).toBeGreaterThan(20);
  expect(seen.allowed).toBeGreaterThan(100);
  expect(seen.refused).toBeGreaterThan(30);
  expect(seen.probes).toBeGreaterThan(100);
}

describe('a bucket charged at several tiers is never read as fuller than a bucket never forgotten', () => {
  it('memory store', async () => {
    const seen: Seen = { forgotten: 0, allowed: 0, refused: 0, probes: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const store = new MemoryLimitStore();
        await play(sc, {
          apply: (input) => store.apply(input),
          advance: async (now) => {
            store.sweep(now);
            return store.size === 0;
          },
        }, seen);
      }),
      { numRuns: 400 },
    );
    reached(seen);
  });
});

describeRedis('a bucket charged at several tiers is never read as fuller than a bucket never forgotten [Redis]', () => {
  const prefix = uniquePrefix('bucket-keep');
  let client: Redis;
  let store: RedisLimitStore;
  beforeAll(() => {
    client = redisClient();
    store = createRedisLimitStore(REDIS_URL, { prefix });
  });
  afterAll(async () => {
    await store?.close();
    if (client) {
      await deleteByPrefix(client, prefix);
      await client.quit();
    }
  });

  it('Redis store (its PEXPIRE followed on the test clock)', async () => {
    const seen: Seen = { forgotten: 0, allowed: 0, refused: 0, probes: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        // A key space per run; Redis expires keys by its own clock, so the expiry the script set
        // (PTTL, read after every call) is carried over to the test's clock and applied by DEL.
        const runPrefix = `r${run++}:`;
        const key = `${prefix}${runPrefix}account-new:acct`;
        let expiresAt = Infinity;
        await play(sc, {
          apply: async (input) => {
            const result = await store.apply({ ...input, charges: input.charges.map((c) => ({ ...c, key: runPrefix + c.key })) });
            // Only a charge writes; read later, PTTL would count from the test's clock again.
            if (result.outcome === 'allowed') {
              const ttl = await client.pttl(key);
              expect(ttl, 'a charged bucket with a time to live').toBeGreaterThan(0);
              expiresAt = input.now + ttl;
            }
            return result;
          },
          advance: async (now) => {
            if (expiresAt > now) return false;
            await client.del(key);
            expiresAt = Infinity;
            return true;
          },
        }, seen);
      }),
      { numRuns: 200 },
    );
    reached(seen);
  });
});
